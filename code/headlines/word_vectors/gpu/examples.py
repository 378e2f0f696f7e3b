"""Training examples of the three word2vec modes, built with numpy from a block of token ids, in steps of about
`update_tokens` corpus tokens. This is fastText's per-word loop (sub-sampling, a window drawn from
1..window_size, negatives per positive), vectorised over a block.

Every mode becomes the same shape of step, which is all the MXNet side knows about:
- an example has a *bag* of words whose input vectors are averaged over all their rows (fastText's hidden
  vector), and *targets* (output rows) with labels 1 (the positive) or 0 (negatives) and a mask;
- skipgram: one example per (centre, context) pair: bag = the centre word, targets = the context word and
  `negative_samples` negatives of its own;
- cbow: one example per centre word: bag = the words of its window, targets = the centre word and negatives;
- batch_skipgram: one example per centre word and up to `batch_size` of its context words: bag = the centre
  word, targets = those context words and `negative_samples` negatives they share.

This is the host side of the MXNet (GPU) path, so it is built to keep a device fed: a block's pairs and examples
are made at once (no sort: the pairs come out centre-major), negatives are gathers from fastText's table, and each
step's unique words and rows are found in O(n) with scratch arrays instead of np.unique's sort.
"""

import dataclasses
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Self, TypeAlias

import numpy as np
import numpy.typing as npt

from ...hyperparameters import WORD_VECTOR_MODES, WordVectorHyperparameters
from ..dictionary import Dictionary, negatives_table

SKIPGRAM, CBOW, BATCH_SKIPGRAM = WORD_VECTOR_MODES
# A sparse matrix's structure in CSR form: (indptr, indices), each int64.
Csr: TypeAlias = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


@dataclasses.dataclass
class Step:
    """One parameter update's worth of examples, as sparse matrices over the rows it touches."""

    tokens: int  # in-vocabulary corpus tokens this step covers (before sub-sampling): progress and words/s
    positives: int  # positive targets, the unit the loss is averaged over (fastText's examples)
    input_rows: npt.NDArray[np.int64]  # unique input-matrix rows, sorted
    word_rows: Csr  # (indptr, indices into input_rows) of each unique bag word's rows
    word_row_weights: npt.NDArray[np.float32]  # 1 / the word's row count: its vector is the mean of its rows
    bags: Csr  # (indptr, indices into the unique bag words) of each example's bag
    bag_weights: npt.NDArray[np.float32]  # the share of the bag's rows that each word contributes
    targets: npt.NDArray[np.int64]  # (examples, width) output rows
    labels: npt.NDArray[np.float32]  # (examples, width) 1 for a positive, 0 for a negative
    mask: npt.NDArray[np.float32]  # (examples, width) 0 where a batch_skipgram example is padded

    @property
    def examples(self) -> int:
        return len(self.targets)

    @classmethod
    def idle(cls, tokens: int) -> Self:
        """Tokens that yielded no example (all sub-sampled away, or no neighbour): progress only."""
        empty = np.zeros(0, np.int64)
        return cls(
            tokens,
            0,
            empty,
            (np.zeros(1, np.int64), empty),
            np.zeros(0, np.float32),
            (np.zeros(1, np.int64), empty),
            np.zeros(0, np.float32),
            np.zeros((0, 1), np.int64),
            np.zeros((0, 1), np.float32),
            np.zeros((0, 1), np.float32),
        )


class NegativeTable:
    """Negatives drawn from fastText's table (dictionary.negatives_table): a uniformly drawn slot, redrawn while it
    equals its positive (getNegative). One gather per draw, whatever the vocabulary size."""

    def __init__(self, counts: Sequence[int] | np.ndarray) -> None:
        self.table = negatives_table(counts)
        self.words = len(counts)

    def _slots(self, rng: np.random.Generator, shape: int | tuple[int, int]) -> npt.NDArray[np.uint32]:
        return rng.integers(0, len(self.table), shape, dtype=np.uint32)  # uint32: faster to draw than int64

    def draw(self, rng: np.random.Generator, positives: npt.NDArray[np.int64], count: int) -> npt.NDArray[np.int32]:
        """(len(positives), count) negatives, none equal to its row's positive (unless there is a single word)."""
        negatives = self.table[self._slots(rng, (len(positives), count))]
        if self.words > 1:
            flat = negatives.reshape(-1)
            clash = np.flatnonzero(negatives == positives[:, None])
            while len(clash):
                flat[clash] = self.table[self._slots(rng, len(clash))]
                clash = clash[flat[clash] == positives[clash // count]]
        return negatives


class _Block(typing.NamedTuple):
    """One block's examples (centre-major), made at once; each step then takes a range of them."""

    example_step: np.ndarray  # the step of each example (non-decreasing)
    bag_words: np.ndarray  # every example's bag, concatenated
    bag_starts: np.ndarray  # CSR offsets into bag_words: each example's and the end
    positive_words: np.ndarray  # every example's positive targets, concatenated
    positive_starts: np.ndarray  # CSR offsets into positive_words: each example's and the end
    positive_columns: np.ndarray | None  # batch_skipgram: each positive's column in its example's row


class ExampleBuilder:
    def __init__(
        self, dictionary: Dictionary, hyperparameters: WordVectorHyperparameters, rng: np.random.Generator
    ) -> None:
        self.dictionary = dictionary
        self.hp = hyperparameters
        self.rng = rng
        self._keep = dictionary.keep_probabilities(hyperparameters.sampling_threshold)
        self._negatives = NegativeTable(dictionary.counts)
        window = hyperparameters.window_size
        # Context offsets in the order fastText visits them around a centre, nearest first: +1, -1, +2, -2, ...
        self._offsets = np.stack([np.arange(1, window + 1), -np.arange(1, window + 1)], axis=1).reshape(-1)
        self._row_counts = np.asarray(dictionary.row_counts, dtype=np.int64)
        self._subwords = bool(len(self._row_counts)) and int(self._row_counts.max()) > 1
        self._word_row_weights = (1.0 / self._row_counts).astype(np.float32)
        # Scratch arrays of unique_inverse over words and over input rows. Rows are numbered compactly, in the same
        # order, over those that some word has: n-gram buckets that no word hashes to take no scratch space.
        self._word_slots = np.zeros(len(dictionary), np.int64)
        if self._subwords:
            used = np.zeros(dictionary.input_rows, bool)
            used[dictionary.row_ids] = True
            self._used_rows = np.flatnonzero(used)
            self._compact_row_ids = (np.cumsum(used) - 1)[dictionary.row_ids]
            self._row_slots = np.zeros(len(self._used_rows), np.int64)

    def steps(self, ids: npt.ArrayLike, sentence: npt.ArrayLike) -> Iterator[Step]:
        """Steps for one block of ids (in-vocabulary tokens, in corpus order) and their sentence numbers."""
        ids = np.asarray(ids, dtype=np.int64)
        update_tokens = self.hp.update_tokens
        block = self._block(ids, np.asarray(sentence))
        if block is None:
            yield Step.idle(len(ids))
            return
        # Each step covers update_tokens corpus positions; its examples are those whose centre lies inside.
        steps = -(-len(ids) // update_tokens)
        bounds = np.searchsorted(block.example_step, np.arange(steps + 1))
        for step in range(steps):
            tokens = min(len(ids), (step + 1) * update_tokens) - step * update_tokens
            first, last = bounds[step], bounds[step + 1]
            yield self._step(block, first, last, tokens) if first < last else Step.idle(tokens)

    def _block(self, ids: npt.NDArray[np.int64], sentence: np.ndarray) -> _Block | None:
        """Sub-sampling, windows, pairs and examples for a whole block (None when it has no pair)."""
        rng, hp, window = self.rng, self.hp, self.hp.window_size
        kept = np.flatnonzero(rng.random(len(ids)) < self._keep[ids])
        reach = rng.integers(1, window + 1, size=len(kept))  # each centre's window, drawn from 1..window
        if len(kept) < 2:
            return None
        # Kept positions i, i + offset pair up when |offset| <= reach[i] and both are in one sentence: a
        # (kept, 2 * window) mask, whose row-major order is centre-major with the offsets in fastText's order.
        kept_sentence = sentence[kept]
        padded = np.full(len(kept) + 2 * window, kept_sentence.min() - 1, dtype=kept_sentence.dtype)
        padded[window : window + len(kept)] = kept_sentence
        same = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1) == kept_sentence[:, None]
        is_pair = same[:, window + self._offsets] & (reach[:, None] >= np.abs(self._offsets))
        cells = np.flatnonzero(is_pair)
        if not len(cells):
            return None
        pairs = len(cells)
        centre = cells // (2 * window)
        context = centre + self._offsets[cells % (2 * window)]
        kept_words = ids[kept]
        centre_words, context_words = kept_words[centre], kept_words[context]
        pair_step = kept[centre] // hp.update_tokens
        every_pair = np.arange(pairs + 1)
        if hp.mode == SKIPGRAM:
            return _Block(pair_step, centre_words, every_pair, context_words, every_pair, None)
        # The first pair of each centre: cbow's examples, and where batch_skipgram's start.
        centre_starts = np.flatnonzero(np.diff(centre, prepend=-1))
        if hp.mode == CBOW:
            bag_starts = np.append(centre_starts, pairs)
            every_centre = np.arange(len(centre_starts) + 1)
            return _Block(
                pair_step[centre_starts], context_words, bag_starts, centre_words[centre_starts], every_centre, None
            )
        # batch_skipgram: the pairs of one centre, up to batch_size at a time, make an example.
        rank = np.arange(pairs) - np.repeat(centre_starts, np.diff(np.append(centre_starts, pairs)))
        column = rank % min(2 * window, hp.batch_size)
        example_starts = np.flatnonzero(column == 0)
        return _Block(
            pair_step[example_starts],
            centre_words[example_starts],
            np.arange(len(example_starts) + 1),
            context_words,
            np.append(example_starts, pairs),
            column,
        )

    def _targets(
        self, block: _Block, first: int, last: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The targets, labels and mask of examples first..last: the positives, then the negatives."""
        k, rng = self.hp.negative_samples, self.rng
        start, stop = block.positive_starts[first], block.positive_starts[last]
        positives = block.positive_words[start:stop]
        if block.positive_columns is None:  # skipgram, cbow: one positive, and its own negatives
            targets = np.empty((len(positives), 1 + k), np.int64)
            targets[:, 0] = positives
            targets[:, 1:] = self._negatives.draw(rng, positives, k)
            labels = np.zeros(targets.shape, np.float32)
            labels[:, 0] = 1
            return targets, labels, np.ones(targets.shape, np.float32)
        # batch_skipgram: up to `width` positives (then padding), and negatives they share.
        width = min(2 * self.hp.window_size, self.hp.batch_size)
        example = np.repeat(np.arange(last - first), np.diff(block.positive_starts[first : last + 1]))
        filled = example * (width + k) + block.positive_columns[start:stop]  # each positive's cell, row-major
        targets = np.zeros((last - first, width + k), np.int64)
        labels = np.zeros(targets.shape, np.float32)
        mask = np.zeros(targets.shape, np.float32)
        targets.reshape(-1)[filled] = positives
        labels.reshape(-1)[filled] = 1
        mask.reshape(-1)[filled] = 1
        # Negatives drawn against the example's first context word; clashes with the others are rare and harmless.
        targets[:, width:] = self._negatives.draw(rng, targets[:, 0], k)
        mask[:, width:] = 1
        return targets, labels, mask

    def _step(self, block: _Block, first: int, last: int, tokens: int) -> Step:
        """The step of examples first..last of the block, as sparse matrices over the rows it touches."""
        bag_start, bag_end = block.bag_starts[first], block.bag_starts[last]
        bag_offsets = block.bag_starts[first : last + 1] - bag_start
        unique_words, bag_columns = unique_inverse(block.bag_words[bag_start:bag_end], self._word_slots)
        row_counts = self._row_counts[unique_words]
        if self._subwords:
            word_offsets = np.zeros(len(unique_words) + 1, np.int64)
            np.cumsum(row_counts, out=word_offsets[1:])
            shift = np.repeat(self.dictionary.row_offsets[unique_words] - word_offsets[:-1], row_counts)
            rows = self._compact_row_ids[shift + np.arange(word_offsets[-1])]
            compact_rows, row_columns = unique_inverse(rows, self._row_slots)
            input_rows = self._used_rows[compact_rows]
            word_row_weights = np.repeat(self._word_row_weights[unique_words], row_counts)
        else:  # a word's only row is its id
            word_offsets = np.arange(len(unique_words) + 1)
            input_rows, row_columns = unique_words, np.arange(len(unique_words))
            word_row_weights = np.ones(len(unique_words), np.float32)
        bag_sizes = np.diff(bag_offsets)
        if len(bag_columns) == last - first:  # one word per bag (skipgram, batch_skipgram): weight 1
            bag_weights = np.ones(len(bag_columns), np.float32)
        else:
            # A bag's vector is the mean over all rows of all its words: each word weighs in with its row count.
            bag_row_counts = row_counts[bag_columns].astype(np.float32)
            bag_weights = bag_row_counts / np.repeat(np.add.reduceat(bag_row_counts, bag_offsets[:-1]), bag_sizes)
        targets, labels, mask = self._targets(block, first, last)
        return Step(
            tokens=int(tokens),
            positives=int(block.positive_starts[last] - block.positive_starts[first]),
            input_rows=input_rows,
            word_rows=(word_offsets, row_columns),
            word_row_weights=word_row_weights,
            bags=(bag_offsets, bag_columns),
            bag_weights=bag_weights,
            targets=targets,
            labels=labels,
            mask=mask,
        )


def unique_inverse(
    values: npt.NDArray[np.integer[Any]], slots: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """np.unique(values, return_inverse=True) for ints in 0..len(slots)-1, without sorting `values`: every
    value's slot is written by one of its occurrences (whichever wins, exactly one reads itself back), the
    distinct values are sorted, and their ranks written to their slots. O(n + distinct * log distinct).
    With more values than slots, counting each id is cheaper: O(n + len(slots))."""
    if len(slots) <= len(values):
        present = np.bincount(values, minlength=len(slots)) > 0
        return np.flatnonzero(present), (np.cumsum(present) - 1)[values]
    positions = np.arange(len(values))
    slots[values] = positions
    distinct = values[slots[values] == positions]
    # numpy sorts int32 several times faster than int64; every id here is far below 2**31.
    distinct = np.sort(distinct.astype(np.int32)).astype(np.int64) if len(slots) < 2**31 else np.sort(distinct)
    slots[distinct] = np.arange(len(distinct))
    return distinct, slots[values]
