"""code/headlines/mxnet_compat.py: the private MXNet and GluonNLP names it uses exist in the versions the images pin,
and behave as the package relies on; no other module uses them."""

import gc
import re
import struct
import sys

import gluonnlp
import mxnet as mx
import numpy as np
import pytest

from headlines import mxnet_compat
from headlines.embeddings.fasttext_format import FASTTEXT_MAGIC, FASTTEXT_VERSION, write_fasttext_binary
from headlines.hyperparameters import EmbeddingHyperparameters
from headlines.word_vectors.dictionary import Dictionary
from helpers import REPO

PACKAGE = REPO / "code" / "headlines"
# What the package may do with MXNet's and GluonNLP's private names only in mxnet_compat.py.
PRIVATE_USES = [
    r"\._sync_copyfrom\b",
    r"\._barrier\b",
    r"\.__class__\s*=[^=]",
    r"\._read_model_params\b",
    r"\._token_to_idx\b",
    r"\._subword_function\b",
]


def test_the_versions_are_the_ones_the_images_pin():
    assert mx.__version__ == mxnet_compat.MXNET_VERSION == "1.9.1"
    assert gluonnlp.__version__ == mxnet_compat.GLUONNLP_VERSION == "0.10.0"
    for lock in ("containers/serve/requirements.lock", "containers/train/requirements-cpu.lock"):
        pins = (REPO / lock).read_text()
        assert f"\nmxnet=={mx.__version__} " in pins and f"\ngluonnlp=={gluonnlp.__version__} " in pins, lock


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


def _fasttext_binary(tmp_path):
    dictionary = Dictionary(["cats", "dogs", "sleep"], [5, 4, 3], 12, (3, 4, 5), 101)
    hp = EmbeddingHyperparameters.from_strings(
        {"vector_dim": "4", "subwords": "true", "min_char": "3", "max_char": "5", "buckets": "101"}
    )
    inputs = np.arange(dictionary.input_rows * 4, dtype=np.float32).reshape(-1, 4)
    path = tmp_path / "vectors.bin"
    write_fasttext_binary(path, dictionary, hp, inputs, np.zeros((len(dictionary), 4), np.float32))
    return path, dictionary


def test_read_fasttext_args_reads_the_sizes_and_stops_after_args(tmp_path):
    path, dictionary = _fasttext_binary(tmp_path)
    with open(path, "rb") as f:
        assert mxnet_compat.read_fasttext_args(f) == (4, 101, 5)
        assert struct.unpack("<3i", f.read(12)) == (3, 3, 0)  # Dictionary::save: size, nwords, nlabels
    assert struct.unpack("<ii", path.read_bytes()[:8]) == (FASTTEXT_MAGIC, FASTTEXT_VERSION)


def test_a_loaded_fasttext_models_vocabulary_and_subwords_are_fasttexts_rows(tmp_path):
    from gluonnlp.model.train import FasttextEmbeddingModel

    path, dictionary = _fasttext_binary(tmp_path)
    model = FasttextEmbeddingModel.load_fasttext_format(str(path))
    vocabulary, subwords = mxnet_compat.fasttext_vocabulary(model), mxnet_compat.fasttext_subword_function(model)
    assert dict(vocabulary) == dictionary.token_to_id
    for word in ("cats", "catsup"):  # in the vocabulary, and not
        rows = ([vocabulary[word]] if word in vocabulary else []) + [len(vocabulary) + s for s in subwords([word])[0]]
        assert sorted(rows) == sorted(dictionary.rows_of(word).tolist()), word


@pytest.mark.parametrize("pattern", PRIVATE_USES)
def test_no_other_module_uses_a_private_mxnet_or_gluonnlp_name(pattern):
    compat = (PACKAGE / "mxnet_compat.py").read_text(encoding="utf-8")
    assert re.search(pattern, compat)  # the pattern finds the use it guards
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "mxnet_compat.py" and re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    assert found == []
