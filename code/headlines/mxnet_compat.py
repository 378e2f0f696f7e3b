"""Every private MXNet 1.9.1 and GluonNLP 0.10.0 name this package uses, and why; nothing else touches them.

These are the versions the images pin (containers/*.lock); tests/unit/test_mxnet_compat.py checks that each name
still exists and behaves as relied on here, so an upgrade fails there first. MXNet and GluonNLP are imported
inside the functions, as the callers did before: importing this module loads neither.
"""

import functools

MXNET_VERSION = "1.9.1"
GLUONNLP_VERSION = "0.10.0"


def to_ndarray(array, context):
    """A numpy array as an NDArray on `context`, through NDArray._sync_copyfrom.

    mx.nd.array goes through NDArray.__setitem__'s generic indexing: ~180 us against ~20 us for this copy, which
    is most of a one-headline request's time in MXNet. The public API has no faster path."""
    import mxnet as mx

    result = mx.nd.empty(array.shape, ctx=context, dtype=array.dtype)
    result._sync_copyfrom(array)
    return result


def kvstore_barrier(kvstore):
    """Wait until every worker of a distributed kvstore reaches this call (KVStore._barrier).

    MXNet 1.9 has no public barrier: the workers use it to wait, after training, until hosts[0] has written the
    model (training/distributed.py)."""
    kvstore._barrier()


def abandon_kvstore(kvstore):
    """Make the kvstore's destructor a no-op, by changing the object's class to a subclass without
    KVStore.__del__.

    KVStore.__del__ frees the handle (MXKVStoreFree), which for a distributed kvstore is the workers' final
    handshake: after a failure on this host it would wait forever for hosts that never come to it, and the
    failure would never be reported. MXNet offers no way to release a kvstore without that handshake."""
    kvstore.__class__ = _without_destructor(type(kvstore))


@functools.cache
def _without_destructor(cls):
    return type(f"Abandoned{cls.__name__}", (cls,), {"__del__": lambda self: None})


def read_fasttext_args(file):
    """(dim, buckets, max_char_ngram) of a fastText binary model open at its start; the file is left after
    fastText's Args block (FasttextEmbeddingModel._read_model_params).

    GluonNLP reads these only inside load_fasttext_format, which loads the whole model; the sizes are needed
    before that, to refuse a truncated file that GluonNLP would loop on forever."""
    from gluonnlp.model.train import FasttextEmbeddingModel

    _, dim, buckets, _, max_char_ngram = FasttextEmbeddingModel._read_model_params(file)
    return dim, buckets, max_char_ngram


def fasttext_vocabulary(model):
    """The word -> row dict of a loaded FasttextEmbeddingModel (its _token_to_idx).

    The model's own __getitem__ averages a word's rows through scipy, which the images do not need otherwise;
    embeddings/pretrained.py averages them with numpy and so needs the rows' indices."""
    return model._token_to_idx


def fasttext_subword_function(model):
    """The subword function of a loaded FasttextEmbeddingModel (its _subword_function): words -> lists of
    character n-gram rows, counted from the end of the vocabulary. Needed for the same reason as
    fasttext_vocabulary."""
    return model._subword_function
