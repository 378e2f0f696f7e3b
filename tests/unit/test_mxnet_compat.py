"""code/headlines/mxnet_compat.py: the private MXNet names it uses exist in the version the images pin, and behave as
the package relies on; no other module uses them."""

import gc
import re
import sys

import mxnet as mx
import numpy as np
import pytest

from headlines import mxnet_compat
from tests.support.repo import REPO

PACKAGE = REPO / "code" / "headlines"
# What the package may do with MXNet's private names only in mxnet_compat.py.
PRIVATE_USES = [
    r"\._sync_copyfrom\b",
    r"\._barrier\b",
    r"\.__class__\s*=[^=]",
]


def test_the_version_is_the_one_the_training_image_pins():
    assert mx.__version__ == mxnet_compat.MXNET_VERSION == "1.9.1"
    assert f"\nmxnet=={mx.__version__} " in (REPO / "containers/train/requirements-cpu.lock").read_text()


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_to_ndarray_copies_values_dtype_and_shape(dtype):
    assert callable(mx.nd.NDArray._sync_copyfrom)
    array = np.arange(12, dtype=dtype).reshape(3, 4)
    result = mxnet_compat.to_ndarray(array, mx.cpu())
    assert result.context == mx.cpu() and result.dtype == dtype and result.shape == (3, 4)
    np.testing.assert_array_equal(result.asnumpy(), array)
    array[0, 0] = 99  # a copy, not a view
    assert result.asnumpy()[0, 0] == 0


def test_the_kvstore_barrier_returns_for_a_single_process():
    assert callable(mx.kv.KVStore._barrier)
    mxnet_compat.kvstore_barrier(mx.kv.create("local"))


def test_an_abandoned_kvstore_skips_mxkvstorefree(monkeypatch):
    assert "__del__" in vars(mx.kv.KVStore)  # the handshake that abandoning skips
    library = sys.modules[mx.kv.KVStore.__module__]._LIB
    freed = []
    monkeypatch.setattr(library, "MXKVStoreFree", lambda handle: freed.append(handle.value) or 0)
    kept, abandoned = mx.kv.create("local"), mx.kv.create("local")
    kept_handle, abandoned_handle = kept.handle.value, abandoned.handle.value
    mxnet_compat.abandon_kvstore(abandoned)
    assert isinstance(abandoned, mx.kv.KVStore) and abandoned.type == "local"
    del kept, abandoned
    gc.collect()  # other tests' kvstores may go now too: only these two handles count
    assert kept_handle in freed and abandoned_handle not in freed


@pytest.mark.parametrize("pattern", PRIVATE_USES)
def test_no_other_module_uses_a_private_mxnet_name(pattern):
    compat = (PACKAGE / "mxnet_compat.py").read_text(encoding="utf-8")
    assert re.search(pattern, compat)  # the pattern finds the use it guards
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "mxnet_compat.py" and re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    assert found == []
