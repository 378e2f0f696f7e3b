"""The word-vector job's dictionary: words by count, EOS without n-grams, min_count, fastText's keep
probabilities."""

import numpy as np
import pytest

from headlines.embeddings.fasttext_format import EOS
from headlines.errors import JobError
from headlines.text import char_ngram_buckets
from tests.support.word_vectors import corpus_and_dictionary


def test_dictionary_orders_by_count_and_gives_eos_no_ngrams(tmp_path):
    _, dictionary = corpus_and_dictionary("b a a c a b\nz\n", tmp_path, min_count=1, char_ngrams=(3, 4), buckets=97)
    assert dictionary.words[:3] == ["a", EOS, "b"]
    assert list(dictionary.rows_of(EOS)) == [dictionary.token_to_id[EOS]]
    v = len(dictionary)
    assert list(dictionary.rows_of("a")) == [dictionary.token_to_id["a"]] + [
        v + b for b in char_ngram_buckets("a", (3, 4), 97)
    ]
    assert list(dictionary.rows_of("unseen")) == [v + b for b in char_ngram_buckets("unseen", (3, 4), 97)]
    assert dictionary.input_rows == v + 97


def test_min_count_too_high_fails_clearly(tmp_path):
    with pytest.raises(JobError, match="No word occurs at least min_count=5"):
        corpus_and_dictionary("a b c", tmp_path, min_count=5)


def test_keep_probability_follows_fasttext(tmp_path):
    _, dictionary = corpus_and_dictionary(" ".join(["a"] * 900 + ["b"] * 90 + ["c"] * 10), tmp_path)
    f = dictionary.counts / dictionary.total_tokens
    np.testing.assert_allclose(dictionary.keep_probabilities(1e-2), np.minimum(1, np.sqrt(1e-2 / f) + 1e-2 / f))
