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
"""

import dataclasses

import numpy as np

from ..hyperparameters import EMBEDDING_MODES

SKIPGRAM, CBOW, BATCH_SKIPGRAM = EMBEDDING_MODES


@dataclasses.dataclass
class Step:
    """One parameter update's worth of examples, as sparse matrices over the rows it touches."""

    tokens: int  # in-vocabulary corpus tokens this step covers (before sub-sampling): progress and words/s
    positives: int  # positive targets, the unit the loss is averaged over (fastText's examples)
    input_rows: np.ndarray  # unique input-matrix rows, sorted
    word_rows: tuple  # CSR (indptr, indices into input_rows) of each unique bag word's rows
    word_row_weights: np.ndarray  # 1 / the word's row count: its vector is the mean of its rows
    bags: tuple  # CSR (indptr, indices into the unique bag words) of each example's bag
    bag_weights: np.ndarray  # the share of the bag's rows that each word contributes
    targets: np.ndarray  # (examples, width) output rows
    labels: np.ndarray  # (examples, width) 1 for a positive, 0 for a negative
    mask: np.ndarray  # (examples, width) 0 where a batch_skipgram example is padded

    @property
    def examples(self):
        return len(self.targets)

    @classmethod
    def idle(cls, tokens):
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


class ExampleBuilder:
    def __init__(self, dictionary, hyperparameters, rng):
        self.dictionary = dictionary
        self.hp = hyperparameters
        self.rng = rng
        self._keep = dictionary.keep_probabilities(hyperparameters.sampling_threshold)

    def steps(self, ids, sentence):
        """Steps for one block of ids (in-vocabulary tokens, in corpus order) and their sentence numbers."""
        rng, window = self.rng, self.hp.window_size
        kept = np.flatnonzero(rng.random(len(ids)) < self._keep[ids])
        kept_sentence = sentence[kept]
        reach = rng.integers(1, window + 1, size=len(kept))
        centres, contexts = [], []
        for offset in range(1, min(window, len(kept) - 1) + 1):
            same = kept_sentence[:-offset] == kept_sentence[offset:]
            left = np.flatnonzero(same & (reach[:-offset] >= offset))  # centre i, context i + offset
            right = np.flatnonzero(same & (reach[offset:] >= offset))  # centre i + offset, context i
            centres += [left, right + offset]
            contexts += [left + offset, right]
        if not centres:
            yield Step.idle(len(ids))
            return
        centre = np.concatenate(centres)
        order = np.argsort(centre, kind="stable")
        centre, context = centre[order], np.concatenate(contexts)[order]
        # Each step covers update_tokens corpus positions; its examples are those whose centre lies inside.
        step_of_pair = kept[centre] // self.hp.update_tokens
        bounds = np.searchsorted(step_of_pair, np.arange(len(ids) // self.hp.update_tokens + 2))
        for step in range(len(bounds) - 1):
            first, last = bounds[step], bounds[step + 1]
            tokens = min(len(ids), (step + 1) * self.hp.update_tokens) - step * self.hp.update_tokens
            if tokens <= 0:
                break
            if first == last:
                yield Step.idle(tokens)
                continue
            yield self._step(ids[kept[centre[first:last]]], ids[kept[context[first:last]]], centre[first:last], tokens)

    def _step(self, centre_words, context_words, centre_positions, tokens):
        k = self.hp.negative_samples
        if self.hp.mode == SKIPGRAM:
            bag_offsets = np.arange(len(centre_words) + 1)
            bag_words = centre_words
            positives = context_words[:, None]
            negatives = self.dictionary.negatives(self.rng, context_words, k)
            targets = np.concatenate([positives, negatives], axis=1)
            labels = np.zeros(targets.shape, np.float32)
            labels[:, 0] = 1
            mask = np.ones(targets.shape, np.float32)
        elif self.hp.mode == CBOW:
            starts = np.flatnonzero(np.diff(centre_positions, prepend=-1))
            bag_offsets = np.append(starts, len(centre_positions))
            bag_words = context_words
            target_words = centre_words[starts]
            targets = np.concatenate(
                [target_words[:, None], self.dictionary.negatives(self.rng, target_words, k)], axis=1
            )
            labels = np.zeros(targets.shape, np.float32)
            labels[:, 0] = 1
            mask = np.ones(targets.shape, np.float32)
        else:
            targets, labels, mask, bag_words = self._shared_negatives(centre_words, context_words, centre_positions)
            bag_offsets = np.arange(len(bag_words) + 1)
        return _sparse_step(self.dictionary, tokens, bag_offsets, bag_words, targets, labels, mask)

    def _shared_negatives(self, centre_words, context_words, centre_positions):
        """batch_skipgram: the pairs of one centre, up to batch_size at a time, share one set of negatives."""
        width, k = min(2 * self.hp.window_size, self.hp.batch_size), self.hp.negative_samples
        first_of_centre = np.flatnonzero(np.diff(centre_positions, prepend=-1))
        rank = np.arange(len(centre_positions)) - np.repeat(
            first_of_centre, np.diff(np.append(first_of_centre, len(centre_positions)))
        )
        new_example = (rank % width) == 0
        example = np.cumsum(new_example) - 1
        column = rank % width
        count = int(example[-1]) + 1
        targets = np.zeros((count, width + k), np.int64)
        labels = np.zeros((count, width + k), np.float32)
        mask = np.zeros((count, width + k), np.float32)
        targets[example, column] = context_words
        labels[example, column] = 1
        mask[example, column] = 1
        bag_words = centre_words[new_example]
        # Negatives drawn against the example's first context word; clashes with the others are rare and harmless.
        targets[:, width:] = self.dictionary.negatives(self.rng, targets[:, 0], k)
        mask[:, width:] = 1
        return targets, labels, mask, bag_words


def _sparse_step(dictionary, tokens, bag_offsets, bag_words, targets, labels, mask):
    unique_words, bag_columns = np.unique(bag_words, return_inverse=True)
    row_counts = dictionary.row_counts[unique_words]
    word_offsets = np.concatenate(([0], np.cumsum(row_counts)))
    within = np.arange(word_offsets[-1]) - np.repeat(word_offsets[:-1], row_counts)
    rows = dictionary.row_ids[np.repeat(dictionary.row_offsets[unique_words], row_counts) + within]
    input_rows, row_columns = np.unique(rows, return_inverse=True)
    # A bag's vector is the mean over all rows of all its words: each word weighs in with its row count.
    bag_row_counts = row_counts[bag_columns].astype(np.float32)
    bag_sizes = np.diff(bag_offsets)
    bag_totals = np.add.reduceat(bag_row_counts, bag_offsets[:-1]) if len(bag_row_counts) else bag_row_counts
    return Step(
        tokens=int(tokens),
        positives=int(labels.sum()),
        input_rows=input_rows,
        word_rows=(word_offsets, row_columns),
        word_row_weights=np.repeat(1.0 / row_counts, row_counts).astype(np.float32),
        bags=(np.asarray(bag_offsets, dtype=np.int64), bag_columns),
        bag_weights=bag_row_counts / np.repeat(bag_totals, bag_sizes),
        targets=targets,
        labels=labels,
        mask=mask,
    )
