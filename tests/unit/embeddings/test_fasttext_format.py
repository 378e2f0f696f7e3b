"""fastText's files as the word-vector job writes them and the reader reads them: vectors.txt and vectors.bin
(read back by Facebook's fasttext), truncated and inconsistent binaries refused."""

import struct

import fasttext  # installed by `make venv` (FASTTEXT_WHEEL): missing, the module fails rather than skips
import mxnet as mx
import numpy as np
import pytest

from headlines.embeddings.fasttext_format import read_fasttext_binary, write_fasttext_binary, write_text_vectors
from headlines.embeddings.pretrained import (
    FROM_SUBWORDS,
    IN_VOCABULARY,
    MISSING,
    FastTextBinaryVectors,
    load_pretrained,
)
from headlines.errors import JobError
from headlines.hyperparameters import WordVectorHyperparameters
from headlines.word_vectors.dictionary import Dictionary
from headlines.word_vectors.gpu.word2vec import WordVectorModel
from tests.support.fasttext_reference import train_reference_vectors
from tests.support.word_vectors import corpus_and_dictionary, word_vector_hp


@pytest.mark.parametrize("subwords", [True, False])
def test_fasttext_reads_our_binary_with_the_same_vectors(tmp_path, subwords):
    corpus, dictionary = corpus_and_dictionary(
        "naïve cats chase dogs\ncats sleep\ndogs bark at cats\n" * 5,
        tmp_path,
        char_ngrams=(3, 4, 5) if subwords else (),
        buckets=101,
    )
    hp = word_vector_hp(mode="cbow", vector_dim=12, subwords=subwords, min_char=3, max_char=5, buckets=101, min_count=1)
    model = WordVectorModel(dictionary.input_rows, len(dictionary), 12, [mx.cpu()], seed=0)
    model.output_weights[:] = mx.nd.random.uniform(-1, 1, model.output_weights.shape)
    write_text_vectors(tmp_path / "vectors.txt", dictionary.words, model.word_vectors(dictionary, dictionary.words))
    write_fasttext_binary(
        tmp_path / "vectors.bin",
        dictionary,
        hp,
        model.input_weights.asnumpy(),
        lambda start, stop: model.output_weights[start:stop].asnumpy(),
    )
    loaded = fasttext.load_model(str(tmp_path / "vectors.bin"))
    lines = (tmp_path / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{len(dictionary)} 12" and loaded.words == dictionary.words
    for line in lines[1:]:
        word, *values = line.split(" ")
        np.testing.assert_allclose(loaded.get_word_vector(word), np.array(values, np.float32), atol=1e-4)
    unseen = model.word_vectors(dictionary, ["catsup"])[0]
    np.testing.assert_allclose(loaded.get_word_vector("catsup"), unseen, atol=1e-6)
    assert np.abs(unseen).sum() > 0 if subwords else not unseen.any()
    np.testing.assert_allclose(loaded.get_output_matrix(), model.output_weights.asnumpy())
    assert loaded.get_dimension() == 12 and loaded.f.getArgs().minn == (3 if subwords else 0)


def test_labels_are_not_words_and_quantised_models_are_refused(tmp_path):
    text = "".join(
        f"__label__{label} {' '.join(words)}\n"
        for label, words in [("sport", ["goal", "match", "team"]), ("money", ["bank", "rates", "market"])] * 20
    )
    (tmp_path / "train.txt").write_text(text, encoding="utf-8")
    model = train_reference_vectors(
        tmp_path / "train.txt", tmp_path / "model.bin", supervised=True, dim=10, minn=2, maxn=3, bucket=1000, verbose=0
    )
    vectors = FastTextBinaryVectors(str(tmp_path / "model.bin"), "model.bin")
    assert vectors.words == model.get_words() and len(model.get_labels()) == 2
    assert not {"__label__sport", "__label__money"} & set(vectors.token_to_idx)
    words = model.get_words() + ["goals", "banking"]
    ours, _ = vectors.lookup(words)
    np.testing.assert_allclose(ours, np.stack([model.get_word_vector(w) for w in words]), rtol=0, atol=1e-6)
    model.quantize(cutoff=0)
    model.save_model(str(tmp_path / "model.ftz"))
    with pytest.raises(JobError, match=r"model.ftz is a quantised fastText model \(.ftz"):
        read_fasttext_binary(str(tmp_path / "model.ftz"), "model.ftz")


def _our_binary(tmp_path, subwords=True):
    """A vectors.bin from our writer: three words, dimension 4, 101 buckets, rows 0, 1, 2, ... in order."""
    dictionary = Dictionary(["cats", "dogs", "sleep"], [5, 4, 3], 12, (3, 4, 5) if subwords else (), 101)
    hp = WordVectorHyperparameters.from_strings(
        {"vector_dim": "4", "subwords": str(subwords).lower(), "min_char": "3", "max_char": "5", "buckets": "101"}
    )
    inputs = np.arange(dictionary.input_rows * 4, dtype=np.float32).reshape(-1, 4)
    path = tmp_path / "model.bin"
    write_fasttext_binary(path, dictionary, hp, inputs, np.zeros((len(dictionary), 4), np.float32))
    return path, dictionary, inputs


@pytest.mark.parametrize("subwords", [True, False])
def test_our_binary_reads_back_as_the_dictionarys_rows(tmp_path, subwords):
    path, dictionary, inputs = _our_binary(tmp_path, subwords)
    model = read_fasttext_binary(str(path), "model.bin")
    assert model.words == dictionary.words and model.buckets == dictionary.buckets
    assert model.char_ngrams == dictionary.char_ngrams and isinstance(model.matrix, np.memmap)
    np.testing.assert_array_equal(model.matrix, inputs)
    assert not model.matrix.flags.writeable
    words = ["cats", "catsup", "sleep", "zzz"]
    found, status = FastTextBinaryVectors(str(path), "model.bin").lookup(words)
    reference = fasttext.load_model(str(path))
    for word, vector in zip(words, found):
        np.testing.assert_array_equal(vector, reference.get_word_vector(word), word)
        rows = dictionary.rows_of(word)
        np.testing.assert_allclose(vector, inputs[rows].mean(axis=0) if len(rows) else np.zeros(4), rtol=1e-6)
    assert status == ([IN_VOCABULARY, FROM_SUBWORDS] if subwords else [IN_VOCABULARY, MISSING]) * 2


def _patched(path, offset, data):
    content = bytearray(path.read_bytes())
    content[offset : offset + len(data)] = data
    path.write_bytes(bytes(content))


# Offsets in _our_binary's file: the signature is 8 bytes, Args 56, then the dictionary header (its size at 64, its
# pruneidx_size at 84), three entries (word, NUL, count, type), and the input matrix's quantised flag.
_ENTRIES_END = 92 + sum(len(word) + 10 for word in ("cats", "dogs", "sleep"))


@pytest.mark.parametrize(
    "keep,problem",
    [
        (40, "is truncated: it ends inside its header"),
        (125, "is truncated: it ends inside its dictionary, after 2 of the 3 entries"),
        (150, "is truncated: it ends after its dictionary"),
        # Inside the input matrix (1664 bytes from byte 152).
        (
            1000,
            r"is truncated: its header announces 3 words and 101 n-gram buckets of dimension 4 \(1664 bytes of "
            r"vectors from byte 152\), but the file has 1000 bytes",
        ),
    ],
)
def test_a_truncated_binary_is_refused(tmp_path, keep, problem):
    path, _, _ = _our_binary(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(JobError, match="model.bin " + problem):
        read_fasttext_binary(str(path), "model.bin")


@pytest.mark.parametrize(
    "offset,data,problem",
    [
        (4, struct.pack("<i", 13), r"not a fastText binary model of version 12 or older \(magic number 793712314, "),
        (8, struct.pack("<i", -4), "not a valid fastText binary model: its header announces dim=-4"),
        (64, struct.pack("<iii", 3, 3, 1), "a dictionary of 3 entries: 3 words and 1 labels"),
        (_ENTRIES_END - 1, b"\1", "its dictionary does not list its 3 words, then its 0 labels"),
        (_ENTRIES_END, b"\1", "is a quantised fastText model"),
        (84, struct.pack("<q", 0), "has a pruned dictionary but is not quantised"),
        (_ENTRIES_END + 1, struct.pack("<q", 105), "has an input matrix of 105 x 4; its header announces 3 words"),
    ],
)
def test_an_inconsistent_binary_is_refused(tmp_path, offset, data, problem):
    path, _, _ = _our_binary(tmp_path)
    _patched(path, offset, data)
    with pytest.raises(JobError, match=problem) as error:
        read_fasttext_binary(str(path), "model.bin")
    assert str(error.value).startswith("Embeddings file model.bin ")


@pytest.mark.parametrize("seed", range(20))
def test_garbage_after_the_magic_number_is_refused_as_such(tmp_path, seed):
    path, _, _ = _our_binary(tmp_path)
    head = path.read_bytes()[:8]
    path.write_bytes(head + np.random.default_rng(seed).bytes(5000))
    with pytest.raises(JobError, match="model.bin (is truncated|is not a valid fastText binary model)"):
        load_pretrained(str(tmp_path), str(tmp_path))
