"""The word-vector job's streaming corpus: tokens, blocks, bytes that are not UTF-8, counting, sentences, and the
corpus encoded for the CPU engine."""

import gzip

import numpy as np
import pytest

from headlines.embeddings.fasttext_format import EOS
from headlines.errors import JobError
from headlines.word_vectors import corpus as corpus_module
from headlines.word_vectors.corpus import MAX_SENTENCE_TOKENS, Corpus
from headlines.word_vectors.dictionary import Dictionary
from tests.support.word_vectors import TEXT, corpus_and_dictionary, encode_corpus


def test_tokens_are_whitespace_runs_and_each_newline_is_eos(tmp_path):
    (tmp_path / "a.txt").write_text("the cat\tsat\n\n  on  the mat")
    assert [t for block in Corpus([str(tmp_path / "a.txt")]).token_blocks() for t in block] == [
        "the",
        "cat",
        "sat",
        EOS,
        EOS,
        "on",
        "the",
        "mat",
    ]


def test_blocks_never_cut_a_token_and_gzip_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 7)
    words = [f"w{i}é" for i in range(200)]  # multi-byte characters straddle block edges
    with gzip.open(tmp_path / "part.txt.gz", "wt", encoding="utf-8") as f:
        f.write(" ".join(words[:100]) + "\n" + " ".join(words[100:]))
    tokens = [t for block in Corpus([str(tmp_path / "part.txt.gz")]).token_blocks() for t in block]
    assert tokens == words[:100] + [EOS] + words[100:]


def test_bytes_that_are_not_utf8_survive(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"caf\xe9 ok\n")
    tokens = next(Corpus([str(tmp_path / "a.txt")]).token_blocks())
    assert tokens[0].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_a_file_without_whitespace_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "MAX_TOKEN_BYTES", 100)
    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 64)
    (tmp_path / "blob.bin").write_bytes(b"x" * 1000)
    with pytest.raises(JobError, match="without whitespace"):
        list(Corpus([str(tmp_path / "blob.bin")]).token_blocks())


def test_empty_channel_and_empty_corpus_fail_clearly(tmp_path):
    with pytest.raises(JobError, match="has no files"):
        Corpus.from_channel("train", str(tmp_path))
    (tmp_path / "empty.txt").write_text("  \t ")
    with pytest.raises(JobError, match="holds no tokens"):
        Corpus([str(tmp_path / "empty.txt")]).count_words(10)


def test_counting_prunes_rare_words_when_the_vocabulary_outgrows_its_cap(tmp_path):
    (tmp_path / "a.txt").write_text("a a a b b c d e f g")
    counts = Corpus([str(tmp_path / "a.txt")]).count_words(max_types=3)
    assert not {"c", "d", "e", "f"} & set(counts.counts) and counts.min_count_applied == 2 and counts.tokens == 10
    # Words counted after the pruning must still reach the raised threshold.
    assert Dictionary.from_counts(counts, 1, (), 0).words == ["a", "b"]


def test_sentences_end_at_eos_and_after_max_tokens(tmp_path):
    words = " ".join(["x"] * (MAX_SENTENCE_TOKENS + 10))
    corpus, dictionary = corpus_and_dictionary(f"a b\n{words}\nc", tmp_path)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    tokens = [dictionary.words[i] for i in ids]
    assert tokens[:3] == ["a", "b", EOS] and len(set(sentence[:3])) == 1
    long = sentence[3 : 3 + MAX_SENTENCE_TOKENS + 11]
    assert len(set(long[:MAX_SENTENCE_TOKENS])) == 1 and long[MAX_SENTENCE_TOKENS] != long[0]
    assert tokens[-1] == EOS and long[-1] == sentence[-1]  # the 10 x's after the cut and their EOS


def test_the_encoded_corpus_holds_the_in_vocabulary_ids_line_by_line(tmp_path):
    corpus, dictionary = corpus_and_dictionary(TEXT + "rare\n", tmp_path)
    dictionary = Dictionary.from_counts(corpus.count_words(1000), 2, (), 0)  # "rare" and singletons left out
    encoded = encode_corpus(tmp_path, corpus, dictionary)
    expected = [np.array([dictionary.token_to_id[w] for w in line.split() + ["</s>"] if w in dictionary.token_to_id])
                for line in (TEXT + "rare\n").splitlines()]  # fmt: skip
    expected = [line for line in expected if len(line)]
    assert encoded.lines == len(expected) and encoded.tokens == sum(map(len, expected))
    ids, starts = encoded.read(2, 5)
    np.testing.assert_array_equal(ids, np.concatenate(expected[2:5]))
    np.testing.assert_array_equal(np.diff(starts), [len(line) for line in expected[2:5]])
    blocks = list(encoded.blocks(block_tokens=20))
    np.testing.assert_array_equal(np.concatenate([b for b, _ in blocks]), np.concatenate(expected))
    for block_ids, sentence in blocks:
        assert len(block_ids) == len(sentence) and (np.diff(sentence) >= 0).all()
