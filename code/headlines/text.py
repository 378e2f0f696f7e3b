"""Turning a headline into model input: tokenizer, vocabulary and the encoder that both images share.

Training builds these from the data and saves them as JSON in the model folder; serving loads the same JSON,
so a headline becomes the same ids in both images.
"""

import functools
import itertools
import re

import gluonnlp as nlp
import numpy as np

UNKNOWN_TOKEN = "<unk>"
PADDING_TOKEN = "<pad>"
# Words (with inner apostrophes and hyphens), numbers, or single punctuation marks.
TOKEN_PATTERN = r"\w+(?:['’\-]\w+)*|[^\w\s]"

_FNV_OFFSET, _FNV_PRIME, _UINT32 = 2166136261, 16777619, 0xFFFFFFFF
# fastText's multiplier for combining word hashes into word n-gram hashes (Dictionary::addWordNgrams).
_NGRAM_MULTIPLIER, _UINT64 = 116049371, 0xFFFFFFFFFFFFFFFF


class Tokenizer:
    def __init__(self, lowercase=True, pattern=TOKEN_PATTERN):
        self.lowercase = lowercase
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def __call__(self, text):
        return self._regex.findall(text.lower() if self.lowercase else text)

    def to_config(self):
        return {"lowercase": self.lowercase, "pattern": self.pattern}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_vocabulary(token_lists, min_count):
    counter = nlp.data.count_tokens(token for tokens in token_lists for token in tokens)
    return nlp.Vocab(
        counter,
        min_freq=min_count,
        unknown_token=UNKNOWN_TOKEN,
        padding_token=PADDING_TOKEN,
        bos_token=None,
        eos_token=None,
    )


def _fnv1a_extend(h, data):
    """FNV-1a over bytes, continuing from hash h. fastText adds each byte as a signed char."""
    for byte in data:
        h ^= byte if byte < 128 else (byte - 256) & _UINT32
        h = (h * _FNV_PRIME) & _UINT32
    return h


@functools.lru_cache(maxsize=1 << 18)
def fnv1a_32(word):
    """fastText's word hash (FNV-1a, 32 bit, over UTF-8 bytes)."""
    return _fnv1a_extend(_FNV_OFFSET, word.encode("utf-8"))


def char_ngram_buckets(word, ngrams, buckets):
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


def word_ngram_buckets(tokens, max_n, buckets):
    """Bucket ids (0..buckets-1) of the word n-grams of length 2..max_n, hashed the way fastText does."""
    # fastText keeps word hashes as int32 and widens them to uint64, which sign-extends the high half.
    hashes = [(h | 0xFFFFFFFF00000000) if h >= 0x80000000 else h for h in map(fnv1a_32, tokens)]
    found = []
    for start in range(len(hashes)):
        h = hashes[start]
        for end in range(start + 1, min(start + max_n, len(hashes))):
            h = (h * _NGRAM_MULTIPLIER + hashes[end]) & _UINT64
            found.append(h % buckets)
    return found


class TextEncoder:
    """Headlines -> (ids, valid_length) arrays: token ids, then (fasttext) the hashed word n-grams and the
    character n-grams of every token, which share one table of buckets after the vocabulary, as in fastText."""

    def __init__(self, tokenizer, vocabulary, max_length, word_ngrams=1, ngram_buckets=0, min_length=1, char_ngrams=()):
        self.tokenizer = tokenizer
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.word_ngrams = word_ngrams if ngram_buckets else 1
        self.char_ngrams = tuple(char_ngrams) if ngram_buckets else ()
        self.ngram_buckets = ngram_buckets
        self.min_length = min_length
        self.padding_id = vocabulary[PADDING_TOKEN]
        # Token -> its character n-gram ids (bucket + vocabulary size): hashing is the costly part of encoding.
        # Bounded, so a stream of odd inputs cannot grow it.
        self._char_ngram_ids = functools.lru_cache(maxsize=1 << 16)(
            lambda token: tuple(
                len(vocabulary) + b for b in char_ngram_buckets(token, self.char_ngrams, self.ngram_buckets)
            )
        )

    @property
    def uses_buckets(self):
        return self.word_ngrams > 1 or bool(self.char_ngrams)

    @property
    def input_size(self):
        """Rows the embedding matrix needs: the vocabulary, then the n-gram buckets."""
        return len(self.vocabulary) + (self.ngram_buckets if self.uses_buckets else 0)

    def ids(self, text):
        tokens = self.tokenizer(text)[: self.max_length]
        ids = list(self.vocabulary[tokens]) if tokens else []
        offset = len(self.vocabulary)
        if self.word_ngrams > 1:
            ids = ids + [offset + b for b in word_ngram_buckets(tokens, self.word_ngrams, self.ngram_buckets)]
        for token in tokens if self.char_ngrams else ():
            ids.extend(self._char_ngram_ids(token))
        return ids

    def encode(self, texts):
        rows = [self.ids(text) for text in texts]
        return self.pad(rows)

    def pad(self, rows):
        sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        width = max(self.min_length, int(sizes.max(initial=0)))
        ids = np.full((len(rows), width), self.padding_id, dtype=np.float32)
        # Row-major order of the mask is the order of the concatenated rows.
        ids[np.arange(width) < sizes[:, None]] = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.float32, count=int(sizes.sum())
        )
        lengths = np.maximum(sizes, 1).astype(np.float32)  # an empty headline averages over one padding slot
        return ids, lengths

    def to_config(self):
        return {
            "tokenizer": self.tokenizer.to_config(),
            "max_length": self.max_length,
            "word_ngrams": self.word_ngrams,
            "ngram_buckets": self.ngram_buckets,
            "min_length": self.min_length,
            "char_ngrams": list(self.char_ngrams),
        }

    @classmethod
    def from_config(cls, config, vocabulary):
        config = dict(config)
        return cls(Tokenizer.from_config(config.pop("tokenizer")), vocabulary, **config)
