"""Turning a headline into model input: tokenizer, vocabulary and the encoder that both images share.

Training builds these from the data and saves them as JSON in the model folder; serving loads the same JSON,
so a headline becomes the same ids in both images. GluonNLP (and with it MXNet) is imported only to build a
vocabulary: the serving image has neither.
"""

import functools
import itertools
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import gluonnlp

UNKNOWN_TOKEN = "<unk>"
PADDING_TOKEN = "<pad>"
# Words (with inner apostrophes and hyphens), numbers, or single punctuation marks.
TOKEN_PATTERN = r"\w+(?:['’\-]\w+)*|[^\w\s]"

_FNV_OFFSET, _FNV_PRIME, _UINT32 = 2166136261, 16777619, 0xFFFFFFFF
# fastText's multiplier for combining word hashes into word n-gram hashes (Dictionary::addWordNgrams).
_NGRAM_MULTIPLIER, _UINT64 = 116049371, 0xFFFFFFFFFFFFFFFF
# The hashes and character n-gram ids of tokens up to this long are kept (LRU caches of a fixed count); longer
# tokens, rare in headlines, are hashed each time, so the caches hold at most their count x a short token's entry
# however long the tokens a request sends.
CACHED_TOKEN_CHARS = 24
_Result = TypeVar("_Result")


def cache_short_tokens(function: Callable[[str], _Result], maxsize: int) -> Callable[[str], _Result]:
    """`function` with an LRU cache of maxsize results, kept for tokens of up to CACHED_TOKEN_CHARS characters only:
    a long token, which a client chooses, would make its entry outweigh what caching it saves."""
    cached = functools.lru_cache(maxsize=maxsize)(function)

    def call(token: str) -> _Result:
        return cached(token) if len(token) <= CACHED_TOKEN_CHARS else function(token)

    return call


class Tokenizer:
    def __init__(self, lowercase: bool = True, pattern: str = TOKEN_PATTERN) -> None:
        self.lowercase = lowercase
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def __call__(self, text: str) -> list[str]:
        return self._regex.findall(text.lower() if self.lowercase else text)

    def to_config(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase, "pattern": self.pattern}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(**config)


def build_vocabulary(
    token_lists: Iterable[Iterable[str]], min_count: int, extra_words: Iterable[str] = ()
) -> "gluonnlp.Vocab":
    """The words seen at least min_count times, and every one of `extra_words` (pretrained vectors' words, which
    carry what they mean whether or not the training text has them)."""
    import gluonnlp as nlp

    counter = nlp.data.count_tokens(token for tokens in token_lists for token in tokens)
    for word in extra_words:
        counter[word] = max(counter[word], min_count)
    return nlp.Vocab(
        counter,
        min_freq=min_count,
        unknown_token=UNKNOWN_TOKEN,
        padding_token=PADDING_TOKEN,
        bos_token=None,
        eos_token=None,
    )


class Vocabulary(Protocol):
    """What TextEncoder needs of a vocabulary: a VocabularyTable, or GluonNLP's Vocab when training builds one."""

    @property
    def token_to_idx(self) -> Mapping[str, int]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, token: str, /) -> int: ...


# The vocabulary type of a TextEncoder: VocabularyTable when serving, GluonNLP's Vocab (Any to the type checker)
# in training, which saves it with its to_json().
V = TypeVar("V", bound=Vocabulary)


class VocabularyTable:
    """The token -> id lookup of a vocabulary.json (GluonNLP's Vocab.to_json), read without GluonNLP. TextEncoder
    needs only this much of a vocabulary; GluonNLP's Vocab has the same `token_to_idx`, `len` and `[token]`."""

    def __init__(self, token_to_idx: dict[str, int], unknown_token: str) -> None:
        self.token_to_idx = token_to_idx
        self._unknown_id = token_to_idx[unknown_token]

    @classmethod
    def from_json(cls, text: str) -> Self:
        config = json.loads(text)
        return cls(config["token_to_idx"], config["unknown_token"])

    def __len__(self) -> int:
        return len(self.token_to_idx)

    def __getitem__(self, token: str) -> int:
        return self.token_to_idx.get(token, self._unknown_id)


def _fnv1a_extend(h: int, data: bytes) -> int:
    """FNV-1a over bytes, continuing from hash h. fastText adds each byte as a signed char."""
    for byte in data:
        h ^= byte if byte < 128 else (byte - 256) & _UINT32
        h = (h * _FNV_PRIME) & _UINT32
    return h


def _fnv1a_32(word: str) -> int:
    """fastText's word hash (FNV-1a, 32 bit, over UTF-8 bytes)."""
    return _fnv1a_extend(_FNV_OFFSET, word.encode("utf-8"))


fnv1a_32 = cache_short_tokens(_fnv1a_32, maxsize=1 << 16)


def char_ngram_buckets(word: str, ngrams: Collection[int], buckets: int) -> tuple[int, ...]:
    """Bucket ids of the character n-grams (n in ngrams) of "<word>", as fastText's computeSubwords makes them:
    n counts UTF-8 characters, and a lone "<" or ">" is not an n-gram. GluonNLP's NGramHashes gives the same
    ids (a unit test holds them equal), but without numba (which GluonNLP 0.10 cannot import from any numba that
    runs on Python 3.11) it hashes byte by byte in numpy scalars, about 0.6 ms a word: too slow to serve."""
    data = ("<" + word + ">").encode("utf-8")
    starts = [i for i, byte in enumerate(data) if byte & 0xC0 != 0x80] + [len(data)]
    max_n = max(ngrams)
    found = []
    for first in range(len(starts) - 1):
        h = _FNV_OFFSET
        for n in range(1, min(max_n, len(starts) - 1 - first) + 1):
            begin, end = starts[first + n - 1], starts[first + n]
            h = _fnv1a_extend(h, data[begin:end])  # the hash of n characters extends that of n-1
            if n in ngrams and not (n == 1 and (first == 0 or end == len(data))):
                found.append(h % buckets)
    return tuple(found)


def word_ngram_buckets(
    tokens: Sequence[str], counts: np.ndarray, max_n: int, buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ids (0..buckets-1) of the word n-grams of length 2..max_n, hashed the way fastText does, for
    headlines whose tokens lie end to end in `tokens` (counts: tokens per headline). Returns the buckets, by
    headline, first word and length as fastText adds them, and how many each headline has. Vectorised over the
    whole batch: hashing in Python cost more than the forward pass."""
    # fastText keeps word hashes as int32 and widens them to uint64, which sign-extends the high half.
    hashes = np.fromiter(map(fnv1a_32, tokens), dtype=np.uint64, count=len(tokens))
    hashes[hashes >= np.uint64(0x80000000)] |= np.uint64(0xFFFFFFFF00000000)
    # Tokens from each one to its headline's end, itself included: an n-gram starting here fits when n <= left.
    left = np.repeat(np.cumsum(counts), counts) - np.arange(len(tokens))
    lengths = np.arange(2, max_n + 1)
    grid = np.empty((len(tokens), len(lengths)), dtype=np.uint64)
    h = hashes.copy()
    for column, n in enumerate(lengths):
        following = np.zeros_like(hashes)
        following[: len(tokens) - (n - 1)] = hashes[n - 1 :]
        h = h * np.uint64(_NGRAM_MULTIPLIER) + following  # uint64 arithmetic wraps, as fastText's does
        grid[:, column] = h
    fits = left[:, None] >= lengths[None, :]
    found = (grid[fits] % np.uint64(buckets)).astype(np.int64)
    return found, per_headline(fits.sum(axis=1), counts)


def per_headline(per_token: npt.ArrayLike, tokens_per_headline: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each headline's total of a count per token, for headlines whose tokens lie end to end
    (tokens_per_headline[i] of them for headline i)."""
    headline = np.repeat(np.arange(len(tokens_per_headline)), tokens_per_headline)
    return np.bincount(headline, weights=per_token, minlength=len(tokens_per_headline)).astype(np.int64)


def _interleave(pieces: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate pieces of ids headline by headline: each piece is (ids end to end, how many per headline);
    the result holds headline 0's ids of every piece in turn, then headline 1's, and so on."""
    totals = cast(np.ndarray, sum(counts for _, counts in pieces))  # an array, not sum()'s 0: never no pieces
    if len(totals) == 1:  # one headline, the common request: its pieces in turn
        return np.concatenate([values for values, _ in pieces]), totals
    result = np.empty(int(totals.sum()), dtype=np.int64)
    before = np.cumsum(totals) - totals  # where each headline starts
    for values, counts in pieces:
        own_start = np.cumsum(counts) - counts
        result[np.repeat(before - own_start, counts) + np.arange(len(values))] = values
        before = before + counts
    return result, totals


class TextEncoder(Generic[V]):
    """Headlines -> (ids, valid_length) arrays: token ids, then (fasttext) the hashed word n-grams and the
    character n-grams of every token, which share one table of buckets after the vocabulary, as in fastText."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocabulary: V,
        max_length: int,
        word_ngrams: int = 1,
        ngram_buckets: int = 0,
        min_length: int = 1,
        char_ngrams: Iterable[int] = (),
    ) -> None:
        self.tokenizer = tokenizer
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.word_ngrams = word_ngrams if ngram_buckets else 1
        self.char_ngrams = tuple(char_ngrams) if ngram_buckets else ()
        self.ngram_buckets = ngram_buckets
        self.min_length = min_length
        self.padding_id = vocabulary[PADDING_TOKEN]
        # Token -> its character n-gram ids (bucket + vocabulary size): hashing them is the costly part of
        # encoding. Bounded in count and, by CACHED_TOKEN_CHARS, in entry size, so odd inputs cannot grow it.
        self._char_ngram_ids = cache_short_tokens(self._uncached_char_ngram_ids, maxsize=1 << 15)

    def _uncached_char_ngram_ids(self, token: str) -> np.ndarray:
        buckets = char_ngram_buckets(token, self.char_ngrams, self.ngram_buckets)
        return np.fromiter(buckets, dtype=np.int64, count=len(buckets)) + len(self.vocabulary)  # 8 bytes an id

    @property
    def uses_buckets(self) -> bool:
        return self.word_ngrams > 1 or bool(self.char_ngrams)

    @property
    def input_size(self) -> int:
        """Rows the embedding matrix needs: the vocabulary, then the n-gram buckets."""
        return len(self.vocabulary) + (self.ngram_buckets if self.uses_buckets else 0)

    def tokens(self, texts: Iterable[str]) -> list[list[str]]:
        """Each headline's tokens, cut at max_length."""
        return [self.tokenizer(text)[: self.max_length] for text in texts]

    def word_ids(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids end to end, how many each headline has): each headline's token ids, then (fasttext) the bucket
        rows of its word n-grams, after the vocabulary."""
        counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        tokens = list(itertools.chain.from_iterable(token_lists))
        lookup, unknown = self.vocabulary.token_to_idx.get, self.vocabulary[UNKNOWN_TOKEN]
        pieces = [(np.fromiter((lookup(t, unknown) for t in tokens), dtype=np.int64, count=len(tokens)), counts)]
        if self.word_ngrams > 1:
            found, per_headline = word_ngram_buckets(tokens, counts, self.word_ngrams, self.ngram_buckets)
            pieces.append((found + len(self.vocabulary), per_headline))
        return _interleave(pieces)

    def char_ngram_ids(self, token: str) -> np.ndarray:
        """The bucket rows (after the vocabulary) of a token's character n-grams; none without char_ngrams."""
        return self._char_ngram_ids(token) if self.char_ngrams else np.zeros(0, dtype=np.int64)

    def flat_ids(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """All headlines' ids end to end (int64) and how many each has: a headline's word_ids, then its tokens'
        character n-gram rows, in the order fastText adds them."""
        token_lists = self.tokens(texts)
        pieces = [self.word_ids(token_lists)]
        if self.char_ngrams:
            per_token = [self._char_ngram_ids(token) for token in itertools.chain.from_iterable(token_lists)]
            sizes = np.fromiter(map(len, per_token), dtype=np.int64, count=len(per_token))
            values = np.concatenate(per_token) if per_token else np.zeros(0, dtype=np.int64)
            pieces.append((values, per_headline(sizes, [len(tokens) for tokens in token_lists])))
        return _interleave(pieces)

    def ids(self, text: str) -> list[int]:
        return self.flat_ids([text])[0].tolist()

    def encode(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.pad_flat(*self.flat_ids(texts))

    def pad(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(sizes.sum()))
        return self.pad_flat(flat, sizes)

    def pad_flat(self, ids: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, valid_length) float32 arrays, the networks' input: ids padded to the longest headline (at least
        min_length), and each headline's number of ids."""
        width = max(self.min_length, int(sizes.max(initial=0)))
        padded = np.full((len(sizes), width), self.padding_id, dtype=np.float32)
        padded[np.arange(width) < sizes[:, None]] = ids  # row-major order of the mask is the ids' order
        lengths = np.maximum(sizes, 1).astype(np.float32)  # an empty headline averages over one padding slot
        return padded, lengths

    def to_config(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer.to_config(),
            "max_length": self.max_length,
            "word_ngrams": self.word_ngrams,
            "ngram_buckets": self.ngram_buckets,
            "min_length": self.min_length,
            "char_ngrams": list(self.char_ngrams),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], vocabulary: V) -> Self:
        config = dict(config)
        return cls(Tokenizer.from_config(config.pop("tokenizer")), vocabulary, **config)
