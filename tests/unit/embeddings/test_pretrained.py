"""Pretrained word vectors from an embeddings channel (code/headlines/embeddings/pretrained.py): fastText binaries,
.vec and word2vec files, gzipped or in archives, read as Facebook's fasttext and GluonNLP read them, and the
classifier's embedding matrix and coverage built from them."""

import gzip
import io
import re
import struct
import tarfile
import warnings

import numpy as np
import pytest

from headlines.embeddings.fasttext_format import EOS
from headlines.embeddings.pretrained import (
    FROM_SUBWORDS,
    IN_VOCABULARY,
    MISSING,
    FastTextBinaryVectors,
    TextVectors,
    build_embedding_matrix,
    load_pretrained,
)
from headlines.errors import JobError
from headlines.text import PADDING_TOKEN, UNKNOWN_TOKEN, build_vocabulary, char_ngram_buckets
from tests.support.data import data_set
from tests.support.fasttext_reference import SMALL_REFERENCE_VECTORS, train_reference_vectors, write_vec

OOV_WORDS = ["lobsterish", "unheardofword", "xylophonist", "gammarusian", "zz"]
# Unknown words for the n-gram rules: one and two characters, multi-byte characters, a word ending in "<".
TRICKY_WORDS = ["a", "zq", "naïveté", "日本語テキスト", "Ärger", "x<", "</s>", "<", "MixedCase"]


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
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert status[:200] == [IN_VOCABULARY] * 200
    assert status[200:] == [FROM_SUBWORDS] * len(OOV_WORDS)


@pytest.mark.parametrize(
    "settings",
    [
        dict(model="skipgram", minn=3, maxn=6),  # fastText's defaults
        dict(model="cbow", minn=2, maxn=4),
        dict(model="skipgram", minn=1, maxn=3),  # single characters, but never a lone "<" or ">"
        dict(model="skipgram", minn=5, maxn=5),
        dict(model="skipgram", minn=4, maxn=3),  # minn > maxn: no n-grams at all
        dict(model="skipgram", minn=0, maxn=0),  # no subwords: only the listed words have vectors
    ],
    ids=lambda settings: f"{settings['model']}-{settings['minn']}-{settings['maxn']}",
)
def test_every_word_gets_fasttexts_get_word_vector(tmp_path, settings):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(data_set().corpus_text()[:60_000] + "\nnaïve Ärger 日本語\n" * 3, encoding="utf-8")
    model = train_reference_vectors(
        corpus,
        tmp_path / "model.bin",
        dim=10,
        epoch=1,
        lr=0.025,
        minCount=2,
        bucket=3000,
        verbose=0,
        **settings,
    )
    vectors = FastTextBinaryVectors(str(tmp_path / "model.bin"), "model.bin")
    listed = model.get_words()
    assert vectors.words == listed and vectors.dim == 10
    unknown = OOV_WORDS + TRICKY_WORDS + [w.upper() for w in listed[:20]]
    unknown = [w for w in unknown if w not in listed]
    ours, status = vectors.lookup(listed + unknown)
    expected = np.stack([model.get_word_vector(w) for w in listed + unknown])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert status[: len(listed)] == [IN_VOCABULARY] * len(listed)
    # An unknown word is missing where fastText finds no row for it (no subwords, or the word is too short).
    unknown_status = dict(zip(unknown, status[len(listed) :]))
    for word in unknown:
        assert unknown_status[word] == (FROM_SUBWORDS if len(model.get_subwords(word)[1]) else MISSING), word
    subwords = settings["maxn"] >= max(settings["minn"], 1)
    assert unknown_status["lobsterish"] == (FROM_SUBWORDS if subwords else MISSING)


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
    assert vectors.format == "word2vec-text" and vectors.dim == 20
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


def test_text_vectors_read_as_gluonnlps_token_embedding_read_them(tmp_path):
    from gluonnlp.embedding import TokenEmbedding  # the reader before; training still has GluonNLP, serving not

    path = tmp_path / "vectors.txt"
    path.write_bytes(
        b"5 3\n"  # the header
        b"fed 1 2 3 \n"  # fastText's trailing space
        b"rates 0.5 -1e-3 7.000001\n"
        b"fed 9 9 9\n"  # repeated: the first is kept
        b"caf\xe9 1 1 1\n"  # not UTF-8: skipped
        b"na\xc3\xafve 1.25 nan -inf\r\n"
        b"x 4 5 6"  # no final newline
    )
    ours = TextVectors(str(path), "vectors.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = TokenEmbedding.from_file(str(path), elem_delim=" ", unknown_token=None)
    assert ours.token_to_idx == theirs.token_to_idx == {"fed": 0, "rates": 1, "naïve": 2, "x": 3}
    np.testing.assert_array_equal(ours.matrix, theirs.idx_to_vec.asnumpy())
    assert ours.matrix.dtype == np.float32 and ours.dim == 3


@pytest.mark.parametrize(
    "content,problem",
    [
        ("2 3\nfed 1 2 3\nrates 1 2\n", 'line 3: found vector of inconsistent dimension for token "rates". expected'),
        ("fed 1 2 3\n\nrates 1 2 3\n", "line 2: unexpected data format (no numbers after '')"),
        ("fed 1 2 x\n", "line 1: could not convert string to float: 'x'"),
        ("fed 1  2\n", "line 1: could not convert string to float: ''"),
    ],
)
def test_bad_text_vectors_say_which_line_is_wrong(tmp_path, content, problem):
    (tmp_path / "bad.vec").write_text(content)
    with pytest.raises(JobError, match=re.escape(f"bad.vec is not valid word-vector text: {problem}")):
        load_pretrained(str(tmp_path), str(tmp_path))


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
    initial = build_embedding_matrix(vocabulary, counts, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    matrix, coverage = initial.word_rows, initial.coverage
    assert matrix.shape == (len(vocabulary), 20) and len(initial.bucket_ids) == 0
    np.testing.assert_allclose(matrix[vocabulary[known]], model.get_word_vector(known), atol=1e-5)
    assert not matrix[vocabulary[PADDING_TOKEN]].any() and not matrix[vocabulary[UNKNOWN_TOKEN]].any()
    assert coverage["vocabulary_types"] == 2 and coverage["types_in_pretrained_vocabulary"] == 1
    assert coverage["type_coverage"] == 0.5 and coverage["token_coverage"] == 0.75
    assert abs(matrix[vocabulary["Qqqzzz"]].std() - coverage["fallback_std"]) < coverage["fallback_std"]
    # The .bin builds a vector for the unknown word from its character n-grams.
    binary = load_pretrained(str(_channel(tmp_path / "b", folder / "model.bin")), str(tmp_path))
    initial = build_embedding_matrix(vocabulary, counts, binary, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    assert initial.coverage["types_from_subwords"] == 1 and initial.coverage["token_coverage"] == 1.0
    np.testing.assert_allclose(initial.word_rows[vocabulary["Qqqzzz"]], model.get_word_vector("Qqqzzz"), atol=1e-4)


@pytest.mark.parametrize("buckets", [200000, 10_000_019])
def test_shared_ngrams_split_each_vector_into_its_own_row_and_its_ngram_rows(tmp_path, fasttext_model, buckets):
    """A classifier hashing the .bin's character n-grams averages a word's row with its n-gram rows: started from
    the .bin's own rows, that mean is fastText's vector for every word, listed or only built from n-grams, whatever
    the classifier's bucket count (here the .bin's, and one that is not a divisor nor a multiple of it)."""
    model, folder = fasttext_model
    binary = load_pretrained(str(_channel(tmp_path, folder / "model.bin")), str(tmp_path))
    # Not fastText's end of line (no n-grams) nor the corpus's "<unk>" (the classifier's own unknown-word row).
    words = [w for w in model.get_words()[:50] if w not in (EOS, UNKNOWN_TOKEN)] + OOV_WORDS
    vocabulary = build_vocabulary([words], 1)
    ngrams = tuple(range(model.f.getArgs().minn, model.f.getArgs().maxn + 1))
    initial = build_embedding_matrix(vocabulary, {}, binary, 0, UNKNOWN_TOKEN, PADDING_TOKEN, ngrams, buckets)
    rows = dict(zip(initial.bucket_ids.tolist(), initial.bucket_rows))
    for word in words:
        own = [initial.word_rows[vocabulary[word]]] if word in model.get_words() else []
        mean = np.mean(own + [rows[b] for b in char_ngram_buckets(word, ngrams, buckets)], axis=0)
        np.testing.assert_allclose(mean, model.get_word_vector(word), atol=1e-5, err_msg=word)
    assert initial.coverage["subword_buckets_initialised"] == len(initial.bucket_ids) > 0


def test_ngrams_that_share_a_classifier_bucket_start_from_the_mean_of_their_rows(tmp_path, fasttext_model):
    model, folder = fasttext_model
    binary = load_pretrained(str(_channel(tmp_path, folder / "model.bin")), str(tmp_path))
    ngrams = tuple(range(model.f.getArgs().minn, model.f.getArgs().maxn + 1))
    words = OOV_WORDS[:2]
    initial = build_embedding_matrix(
        build_vocabulary([words], 1), {}, binary, 0, UNKNOWN_TOKEN, PADDING_TOKEN, ngrams, 1
    )
    # get_subwords' ids are input-matrix rows: the word's own (when listed), then its n-grams' after the words'.
    rows = {i for word in words for i in model.get_subwords(word)[1] if i >= len(model.get_words())}
    expected = np.mean([model.get_input_matrix()[i] for i in rows], axis=0)
    assert initial.bucket_ids.tolist() == [0]
    np.testing.assert_allclose(initial.bucket_rows[0], expected, atol=1e-6)


def _mean_over_ids(initial, vocabulary, word, ngrams, buckets):
    """The classifier's starting mean over a word's ids: its own row and its character n-grams' buckets."""
    rows = dict(zip(initial.bucket_ids.tolist(), initial.bucket_rows))
    ids = char_ngram_buckets(word, ngrams, buckets)
    return np.mean([initial.word_rows[vocabulary[word]]] + [rows[b] for b in ids], axis=0)


def test_ngram_rows_need_the_same_ngram_lengths(tmp_path, fasttext_model):
    """With other n-gram lengths than the .bin's, each word's ids average to its whole vector: the word row holds
    it times the number of ids, the n-grams' buckets start at zero."""
    model, folder = fasttext_model
    binary = load_pretrained(str(_channel(tmp_path, folder / "model.bin")), str(tmp_path))
    vocabulary = build_vocabulary([model.get_words()[:20]], 1)
    initial = build_embedding_matrix(vocabulary, {}, binary, 0, UNKNOWN_TOKEN, PADDING_TOKEN, (2, 3), 1000)
    assert initial.coverage["subword_buckets_initialised"] == 0 and not initial.bucket_rows.any()
    word = model.get_words()[3]
    mean = _mean_over_ids(initial, vocabulary, word, (2, 3), 1000)
    np.testing.assert_allclose(mean, model.get_word_vector(word), atol=1e-5)


def test_whole_vectors_under_character_ngrams_start_as_the_mean_over_a_words_ids(tmp_path, fasttext_model):
    """Text vectors have no n-gram rows: a word's own row carries its vector times its number of ids and its
    n-grams' buckets start at zero, so the classifier's mean starts at the vector, for listed words and for the
    random rows of words the vectors lack, and no bucket outside the vocabulary's words is touched."""
    model, folder = fasttext_model
    vec = load_pretrained(str(_channel(tmp_path, folder / "model.vec")), str(tmp_path))
    words = [w for w in model.get_words()[:30] if w not in (EOS, UNKNOWN_TOKEN)] + ["Qqqzzz"]
    vocabulary = build_vocabulary([words], 1)
    ngrams, buckets = (3, 4, 5, 6), 5000
    plain = build_embedding_matrix(vocabulary, {}, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    initial = build_embedding_matrix(vocabulary, {}, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN, ngrams, buckets)
    for word in words:
        mean = _mean_over_ids(initial, vocabulary, word, ngrams, buckets)
        np.testing.assert_allclose(mean, plain.word_rows[vocabulary[word]], atol=1e-6, err_msg=word)
    touched = {b for word in words for b in char_ngram_buckets(word, ngrams, buckets)}
    assert initial.bucket_ids.tolist() == sorted(touched) and not initial.bucket_rows.any()
    assert not initial.word_rows[vocabulary[PADDING_TOKEN]].any()


def test_uppercase_word_falls_back_to_its_lowercase_vector(tmp_path, fasttext_model):
    model, folder = fasttext_model
    vec = load_pretrained(str(_channel(tmp_path, folder / "model.vec")), str(tmp_path))
    known = model.get_words()[5]
    vocabulary = build_vocabulary([[known.upper()]], 1)
    initial = build_embedding_matrix(vocabulary, {known.upper(): 1}, vec, 0, UNKNOWN_TOKEN, PADDING_TOKEN)
    matrix, coverage = initial.word_rows, initial.coverage
    np.testing.assert_allclose(matrix[vocabulary[known.upper()]], model.get_word_vector(known), atol=1e-5)
    assert coverage["type_coverage"] == 1.0
