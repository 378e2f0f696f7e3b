import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from headlines.embeddings.pretrained import (
    FROM_SUBWORDS,
    IN_VOCABULARY,
    MISSING,
    build_embedding_matrix,
    load_pretrained,
)
from headlines.errors import JobError
from headlines.text import PADDING_TOKEN, UNKNOWN_TOKEN, build_vocabulary
from helpers import SMALL_REFERENCE_VECTORS, data_set, train_reference_vectors, write_vec

fasttext = pytest.importorskip("fasttext")

OOV_WORDS = ["lobsterish", "unheardofword", "xylophonist", "gammarusian", "zz"]


@pytest.fixture(scope="module")
def fasttext_model(tmp_path_factory):
    """A small subword model trained by Facebook's fasttext package, saved as .bin and .vec."""
    folder = tmp_path_factory.mktemp("ft")
    corpus = folder / "corpus.txt"
    corpus.write_text(data_set().corpus_text()[:400_000], encoding="utf-8")
    model = train_reference_vectors(corpus, folder / "model.bin", **SMALL_REFERENCE_VECTORS, bucket=200000)
    write_vec(model, folder / "model.vec")
    return model, folder


def _channel(tmp_path, source, name=None, compress=False):
    channel = tmp_path / "embeddings"
    channel.mkdir(parents=True, exist_ok=True)
    target = channel / ((name or source.name) + (".gz" if compress else ""))
    data = source.read_bytes()
    target.write_bytes(gzip.compress(data) if compress else data)
    return channel


def test_bin_vectors_match_fasttext_for_known_and_unknown_words(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vectors = load_pretrained(str(_channel(tmp_path, folder / "model.bin")), str(tmp_path))
    words = model.get_words()[:200] + OOV_WORDS
    ours, status = vectors.lookup(words)
    expected = np.stack([model.get_word_vector(w) for w in words])
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert status[:200] == [IN_VOCABULARY] * 200
    assert status[200:] == [FROM_SUBWORDS] * len(OOV_WORDS)


def test_gzipped_bin_and_blazingtext_archive(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vectors = load_pretrained(str(_channel(tmp_path / "a", folder / "model.bin", compress=True)), str(tmp_path))
    np.testing.assert_allclose(vectors.lookup(["lobsterish"])[0][0], model.get_word_vector("lobsterish"), atol=1e-4)
    # BlazingText's model.tar.gz holds vectors.bin and vectors.txt (and eval.json): the binary wins.
    archive_dir = tmp_path / "b" / "embeddings"
    archive_dir.mkdir(parents=True)
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as archive:
        archive.add(folder / "model.bin", arcname="vectors.bin")
        archive.add(folder / "model.vec", arcname="vectors.txt")
    vectors = load_pretrained(str(archive_dir), str(tmp_path / "b"))
    assert vectors.format == "fasttext-bin"


@pytest.mark.parametrize("member", ["../outside.txt", "/abs/vectors.txt", "link"])
def test_an_archive_member_outside_its_folder_or_a_link_is_refused(tmp_path, member):
    archive_dir = tmp_path / "embeddings"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            info.size = 4
        archive.addfile(info, None if member == "link" else io.BytesIO(b"1 2\n"))
    with pytest.raises(JobError, match="not a plain file inside"):
        load_pretrained(str(archive_dir), str(tmp_path / "work"))
    assert not (tmp_path / "outside.txt").exists()


def test_vec_header_is_not_a_word_and_covers_only_what_it_lists(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vectors = load_pretrained(str(_channel(tmp_path, folder / "model.vec", compress=True)), str(tmp_path))
    words = model.get_words()
    assert vectors.format == "word2vec-text" and vectors.dim == 16
    assert str(len(words)) not in vectors.token_to_idx  # the "N dim" header line
    ours, status = vectors.lookup(words[:50] + ["lobsterish"])
    np.testing.assert_allclose(ours[:50], np.stack([model.get_word_vector(w) for w in words[:50]]), atol=1e-5)
    assert status[-1] == MISSING


def test_word2vec_binary(tmp_path):
    path = tmp_path / "embeddings" / "vectors.bin"
    path.parent.mkdir()
    rows = {"fed": [1.0, 2.0, 3.0], "rates": [0.5, -1.0, 0.0]}
    with open(path, "wb") as f:
        f.write(b"2 3\n")
        for word, vector in rows.items():
            f.write(word.encode() + b" " + struct.pack("<3f", *vector) + b"\n")
    vectors = load_pretrained(str(path.parent), str(tmp_path))
    found, status = vectors.lookup(["rates", "fed", "other"])
    np.testing.assert_array_equal(found[:2], [rows["rates"], rows["fed"]])
    assert status == [IN_VOCABULARY, IN_VOCABULARY, MISSING]


def test_inconsistent_dimension_fails_naming_the_file(tmp_path):
    channel = tmp_path / "embeddings"
    channel.mkdir()
    (channel / "bad.vec").write_text("2 3\nfed 1 2 3\nrates 1 2\n")
    with pytest.raises(JobError, match="bad.vec"):
        load_pretrained(str(channel), str(tmp_path))


def test_unreadable_files_fail_clearly(tmp_path, fasttext_model):
    _, folder = fasttext_model
    truncated = tmp_path / "t" / "embeddings"
    truncated.mkdir(parents=True)
    (truncated / "model.bin").write_bytes((folder / "model.bin").read_bytes()[:5000])
    with pytest.raises(JobError, match="model.bin"):
        load_pretrained(str(truncated), str(tmp_path))
    broken_gzip = tmp_path / "g" / "embeddings"
    broken_gzip.mkdir(parents=True)
    (broken_gzip / "vectors.txt.gz").write_bytes(gzip.compress(b"a 1 2\n")[:15])
    with pytest.raises(JobError, match="vectors.txt.gz"):
        load_pretrained(str(broken_gzip), str(tmp_path))
    nothing = tmp_path / "n" / "embeddings"
    nothing.mkdir(parents=True)
    (nothing / "eval.json").write_text("{}")
    with pytest.raises(JobError, match="holds no word vectors"):
        load_pretrained(str(nothing), str(tmp_path))


def test_embedding_matrix_and_coverage(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vec = load_pretrained(str(_channel(tmp_path / "v", folder / "model.vec")), str(tmp_path))
    known = model.get_words()[10]
    tokens = [[known, known, known, "Qqqzzz"]]  # 3 running tokens covered, 1 not (even lower-cased)
    vocabulary = build_vocabulary(tokens, 1)
    counts = {known: 3, "Qqqzzz": 1}
    matrix, coverage = build_embedding_matrix(vocabulary, counts, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    assert matrix.shape == (len(vocabulary), 16)
    np.testing.assert_allclose(matrix[vocabulary[known]], model.get_word_vector(known), atol=1e-5)
    assert not matrix[vocabulary[PADDING_TOKEN]].any()
    assert coverage["vocabulary_types"] == 2 and coverage["types_in_pretrained_vocabulary"] == 1
    assert coverage["type_coverage"] == 0.5 and coverage["token_coverage"] == 0.75
    assert abs(matrix[vocabulary["Qqqzzz"]].std() - coverage["fallback_std"]) < coverage["fallback_std"]
    # The .bin builds a vector for the unknown word from its character n-grams.
    binary = load_pretrained(str(_channel(tmp_path / "b", folder / "model.bin")), str(tmp_path))
    matrix, coverage = build_embedding_matrix(vocabulary, counts, binary, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    assert coverage["types_from_subwords"] == 1 and coverage["token_coverage"] == 1.0
    np.testing.assert_allclose(matrix[vocabulary["Qqqzzz"]], model.get_word_vector("Qqqzzz"), atol=1e-4)


def test_uppercase_word_falls_back_to_its_lowercase_vector(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vec = load_pretrained(str(_channel(tmp_path, folder / "model.vec")), str(tmp_path))
    known = model.get_words()[5]
    vocabulary = build_vocabulary([[known.upper()]], 1)
    matrix, coverage = build_embedding_matrix(vocabulary, {known.upper(): 1}, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    np.testing.assert_allclose(matrix[vocabulary[known.upper()]], model.get_word_vector(known), atol=1e-5)
    assert coverage["type_coverage"] == 1.0
