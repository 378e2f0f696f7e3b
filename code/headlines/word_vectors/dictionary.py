"""The word side of an embedding model, as fastText's Dictionary defines it for unsupervised training: the
words (descending count), each word's input rows (its own row, then its character n-gram buckets after all the
words), how often each word is down-sampled, and the table negative samples are drawn from."""

from collections.abc import Iterable
from typing import Self

import gluonnlp as nlp
import numpy as np
import numpy.typing as npt

from ..embeddings.fasttext_format import EOS
from ..errors import JobError
from ..text import char_ngram_buckets
from .corpus import WordCounts

# fastText draws negatives from unigram counts raised to this power (Model::initTableNegatives).
NEGATIVE_POWER = 0.5
NEGATIVE_TABLE_SIZE = 10_000_000  # fastText's


class Dictionary:
    def __init__(
        self, words: Iterable[str], counts: npt.ArrayLike, total_tokens: int, char_ngrams: Iterable[int], buckets: int
    ) -> None:
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.total_tokens = total_tokens  # every token of the corpus, kept or not: fastText's ntokens
        self.char_ngrams = tuple(char_ngrams)
        self.buckets = buckets if self.char_ngrams else 0
        self.token_to_id = {word: i for i, word in enumerate(self.words)}
        rows = [self._rows(i, word) for i, word in enumerate(self.words)]
        self.row_offsets = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
        self.row_ids = np.fromiter(
            (row for word_rows in rows for row in word_rows), dtype=np.int64, count=int(self.row_offsets[-1])
        )
        self.row_counts = np.diff(self.row_offsets)

    @classmethod
    def from_counts(cls, word_counts: WordCounts, min_count: int, char_ngrams: Iterable[int], buckets: int) -> Self:
        vocab = nlp.Vocab(
            word_counts.counts,
            min_freq=max(min_count, word_counts.min_count_applied),
            unknown_token=None,
            padding_token=None,
            bos_token=None,
            eos_token=None,
        )
        if len(vocab) == 0:
            raise JobError(
                f"No word occurs at least min_count={min_count} times in the corpus "
                f"({word_counts.tokens} tokens); lower min_count or add text."
            )
        words = vocab.idx_to_token
        return cls(words, [word_counts.counts[w] for w in words], word_counts.tokens, char_ngrams, buckets)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def input_rows(self) -> int:
        """Rows of the input matrix: one per word, then one per n-gram bucket."""
        return len(self.words) + self.buckets

    @property
    def kept_tokens(self) -> int:
        """Tokens of the corpus that are in the vocabulary: an epoch's words."""
        return int(self.counts.sum())

    def _rows(self, index: int, word: str) -> list[int]:
        if not self.char_ngrams or word == EOS:  # fastText gives EOS no n-grams
            return [index]
        return [index] + [len(self.words) + b for b in char_ngram_buckets(word, self.char_ngrams, self.buckets)]

    def rows_of(self, word: str) -> npt.NDArray[np.int64]:
        """Input rows whose mean is the vector of `word` (fastText's getSubwords): its own row when it is in the
        vocabulary, and its n-gram buckets."""
        index = self.token_to_id.get(word)
        if index is not None:
            return self.row_ids[self.row_offsets[index] : self.row_offsets[index + 1]]
        if not self.char_ngrams:
            return np.zeros(0, dtype=np.int64)
        return np.array(
            [len(self.words) + b for b in char_ngram_buckets(word, self.char_ngrams, self.buckets)], dtype=np.int64
        )

    def keep_probabilities(self, threshold: float) -> npt.NDArray[np.float64]:
        """fastText's pdiscard: a token of a word with frequency f survives sub-sampling with sqrt(t/f) + t/f."""
        frequency = self.counts / self.total_tokens
        return np.minimum(1.0, np.sqrt(threshold / frequency) + threshold / frequency)


def negatives_table(counts: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """fastText's table of negatives (Model::initTableNegatives), in word order: each word fills
    ceil(count^0.5 / sum * NEGATIVE_TABLE_SIZE) slots, so a uniformly drawn slot is a negative sample."""
    weights = np.asarray(counts, dtype=np.float64) ** NEGATIVE_POWER
    repeats = np.ceil(weights / weights.sum() * NEGATIVE_TABLE_SIZE).astype(np.int64)
    return np.repeat(np.arange(len(weights), dtype=np.int32), repeats)
