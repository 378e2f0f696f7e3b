"""The classifier's networks (models.py) evaluated with numpy from the weights export wrote, for the serving
image, which has no MXNet: a one-headline forward pass costs tens of microseconds instead of MXNet's ~0.3 ms of
per-call overhead. tests/unit/test_numpy_networks.py holds both architectures equal to the MXNet networks.

Parameter names are those Gluon gives the blocks of models.py: "<architecture>_embedding_weight", the cnn's
"<architecture>_conv<i>_weight/bias" in kernel order, and the output layer "<architecture>_dense0_weight/bias".
"""

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import architectures
from .architectures import OUTSIDE_WINDOW_PENALTY
from .errors import JobError
from .text import TextEncoder, cache_short_tokens, per_headline

# Headlines per convolution pass: bounds the temporary copy of their windows.
HEADLINES_PER_PASS = 128
# Tokens whose character n-gram rows' sum a fasttext worker keeps: a headline's ~10 tokens bring ~180 such rows,
# and adding them up again for every request took most of a batch's time. 2^15 x dim floats: 13 MB at dim 100.
TOKEN_SUMS_CACHED = 1 << 15


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Each row's log-probabilities, shifted by its largest logit first so that exp cannot overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _parameter(params: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    try:
        return params[name]
    except KeyError:
        raise JobError(f"The model's parameters have no {name}; it holds {', '.join(sorted(params))}.") from None


def _segment_sums(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The sums of consecutive runs of rows, counts[i] rows for run i (zeros for an empty run)."""
    sums = np.zeros((len(counts), rows.shape[1]), dtype=np.float32)
    filled = counts > 0
    if filled.any():
        # Between two consecutive non-empty runs' starts lie exactly the first one's rows.
        sums[filled] = np.add.reduceat(rows, (np.cumsum(counts) - counts)[filled], axis=0)
    return sums


class FastTextNetwork:
    """The mean of a headline's embedding rows (words, word n-grams, character n-grams), then a linear layer.
    The character n-gram rows are added up once per token and kept (TOKEN_SUMS_CACHED)."""

    def __init__(self, params: Mapping[str, np.ndarray], prefix: str, encoder: TextEncoder) -> None:
        self.embedding = _parameter(params, f"{prefix}embedding_weight")
        self.output_weight = _parameter(params, f"{prefix}dense0_weight")
        self.output_bias = _parameter(params, f"{prefix}dense0_bias")
        self.encoder = encoder
        self._char_ngram_sum = cache_short_tokens(self._sum_char_ngram_rows, maxsize=TOKEN_SUMS_CACHED)

    def _sum_char_ngram_rows(self, token: str) -> tuple[np.ndarray, int]:
        rows = self.encoder.char_ngram_ids(token)
        return self.embedding[rows].sum(axis=0), len(rows)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        token_lists = self.encoder.tokens(texts)
        ids, counts = self.encoder.word_ids(token_lists)
        sums = _segment_sums(self.embedding[ids], counts)
        if self.encoder.char_ngrams:
            per_token = [self._char_ngram_sum(token) for tokens in token_lists for token in tokens]
            tokens_per_headline = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
            if per_token:
                sums += _segment_sums(np.stack([total for total, _ in per_token]), tokens_per_headline)
            counts = counts + per_headline([size for _, size in per_token], tokens_per_headline)
        # An empty headline is one padding id, as the padded MXNet input makes it.
        sums[counts == 0] = self.embedding[self.encoder.padding_id]
        means = sums / np.maximum(counts, 1)[:, None].astype(np.float32)
        return means @ self.output_weight.T + self.output_bias


class ConvolutionalNetwork:
    """Convolutions of several widths over the word embeddings, ReLU, max over the windows inside the headline,
    then a linear layer (dropout is the identity at inference)."""

    def __init__(self, params: Mapping[str, np.ndarray], prefix: str, encoder: TextEncoder) -> None:
        self.embedding = _parameter(params, f"{prefix}embedding_weight")
        self.encoder = encoder
        self.convolutions: list[tuple[np.ndarray, np.ndarray, int]] = []  # (weight as a matrix, bias, width)
        index = 0
        while index == 0 or f"{prefix}conv{index}_weight" in params:  # a cnn has at least one
            weight = _parameter(params, f"{prefix}conv{index}_weight")  # (filters, channels, width)
            bias = _parameter(params, f"{prefix}conv{index}_bias")
            self.convolutions.append((weight.reshape(weight.shape[0], -1).T, bias, weight.shape[2]))
            index += 1
        self.output_weight = _parameter(params, f"{prefix}dense0_weight")
        self.output_bias = _parameter(params, f"{prefix}dense0_bias")

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Headlines go through in passes of similar length, shortest first, each cut to its longest headline:
        padding to the batch's longest would spend most of the convolutions on padding."""
        ids, lengths = self.encoder.encode(texts)
        order = np.argsort(lengths, kind="stable")
        features = np.empty((len(texts), sum(weight.shape[1] for weight, _, _ in self.convolutions)), np.float32)
        for first in range(0, len(texts), HEADLINES_PER_PASS):
            rows = order[first : first + HEADLINES_PER_PASS]
            width = max(int(lengths[rows].max()), self.encoder.min_length)
            embedded = self.embedding[ids[rows, :width].astype(np.int64)]  # (N, T, C)
            pooled = [self._pooled(embedded, lengths[rows], *convolution) for convolution in self.convolutions]
            features[rows] = np.concatenate(pooled, axis=1)
        return features @ self.output_weight.T + self.output_bias

    @staticmethod
    def _pooled(
        embedded: np.ndarray, lengths: np.ndarray, weight: np.ndarray, bias: np.ndarray, width: int
    ) -> np.ndarray:
        """(N, filters): the best window of each filter among those inside the headline."""
        windows = sliding_window_view(embedded, width, axis=1)  # (N, windows, C, width): [n, t, c, k] = x[n, t+k, c]
        count, positions = windows.shape[:2]
        features = np.maximum(windows.reshape(count * positions, -1) @ weight + bias, 0).reshape(count, positions, -1)
        inside = np.arange(positions)[None, :] < np.maximum(lengths - (width - 1), 1)[:, None]
        features -= (~inside)[:, :, None] * np.float32(OUTSIDE_WINDOW_PENALTY)
        return features.max(axis=1)


Network: TypeAlias = FastTextNetwork | ConvolutionalNetwork
_NETWORKS: dict[str, type[Network]] = {
    architectures.FASTTEXT.name: FastTextNetwork,
    architectures.CNN.name: ConvolutionalNetwork,
}


def build_network(architecture: str, params: Mapping[str, np.ndarray], encoder: TextEncoder) -> Network:
    """The numpy network of a model folder's architecture, on the parameters read from its weights file, taking
    headlines through the model's encoder."""
    try:
        declaration = architectures.get(architecture)
    except ValueError as e:
        raise JobError(f"The model's {e}.") from None
    return _NETWORKS[declaration.name](params, f"{declaration.name}_", encoder)
