"""Every private MXNet 1.9.1 name this package uses, and why; nothing else touches them.

This is the version the training images pin (containers/train/*.lock); tests/unit/test_mxnet_compat.py checks that
each name still exists and behaves as relied on here, so an upgrade fails there first. MXNet is imported inside
the functions, as the callers did before: importing this module does not load it.
"""

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mxnet as mx
    import numpy as np

MXNET_VERSION = "1.9.1"


def to_ndarray(array: "np.ndarray", context: "mx.Context") -> "mx.nd.NDArray":
    """A numpy array as an NDArray on `context`, through NDArray._sync_copyfrom.

    mx.nd.array goes through NDArray.__setitem__'s generic indexing: ~180 us against ~20 us for this copy, which
    is most of a one-headline request's time in MXNet. The public API has no faster path."""
    import mxnet as mx

    result = mx.nd.empty(array.shape, ctx=context, dtype=array.dtype)
    result._sync_copyfrom(array)
    return result


# The kvstore arguments below are created MXNet kvstores (mx.kv.KVStore): Any, since MXNet has no type information
# and the private names used here are not part of runtime/distributed.py's KVStore protocol.


def kvstore_barrier(kvstore: Any) -> None:
    """Wait until every worker of a distributed kvstore reaches this call (KVStore._barrier).

    MXNet 1.9 has no public barrier: the workers use it to wait, after training, until hosts[0] has written the
    model (runtime/distributed.py)."""
    kvstore._barrier()


def abandon_kvstore(kvstore: object) -> None:
    """Make the kvstore's destructor a no-op, by changing the object's class to a subclass without
    KVStore.__del__.

    KVStore.__del__ frees the handle (MXKVStoreFree), which for a distributed kvstore is the workers' final
    handshake: after a failure on this host it would wait forever for hosts that never come to it, and the
    failure would never be reported. MXNet offers no way to release a kvstore without that handshake."""
    cls: type = type(kvstore)  # as a plain `type`: mypy takes type[X] for an unhashable class object
    kvstore.__class__ = _without_destructor(cls)


@functools.cache
def _without_destructor(cls: type) -> type:
    return type(f"Abandoned{cls.__name__}", (cls,), {"__del__": lambda self: None})
