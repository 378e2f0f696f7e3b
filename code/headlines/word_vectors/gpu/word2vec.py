"""fastText's unsupervised model in MXNet: an input matrix (a row per word, then a row per character n-gram
bucket) and an output matrix (a row per word), trained with negative sampling, one mini-batch Step at a time.

The update is fastText's, summed over the step's examples instead of applied one example at a time:
    h = mean of the bag's input rows;  s = h . o_t for each target t;  g_t = lr * (label_t - sigmoid(s_t))
    o_t += g_t h                      (every target's output row)
    r += sum_t g_t o_t                (every input row of the bag, not divided by the bag size, as fastText)
The gradients are written out by hand with sparse products over the rows a step touches, so a step costs what
its examples cost, not what the 2-million-row input matrix would.

Devices: the weights live on the first device. Each device takes one step of a group: it receives the rows its
step reads, computes the step's row deltas from the same weights as the others, and the first device adds all
the deltas in. One device or eight, CPU or GPU, it is the same code; a group of n steps on n devices computes
exactly what one device computes for that group.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import mxnet as mx
import numpy as np
import numpy.typing as npt

from ..dictionary import Dictionary
from ..epochs import Arrays, checked_array
from .examples import Csr, Step, unique_inverse

# A step's deltas, on the first device: (input rows, their delta, output rows, their delta, summed loss).
StepDeltas: TypeAlias = tuple[mx.nd.NDArray, mx.nd.NDArray, mx.nd.NDArray, mx.nd.NDArray, mx.nd.NDArray]


class WordVectorModel:
    def __init__(self, input_rows: int, output_rows: int, dim: int, contexts: Iterable[mx.Context], seed: int) -> None:
        self.contexts = list(contexts)
        self.home = self.contexts[0]
        self.dim = dim
        # fastText's initialisation: input rows uniform in +-1/dim, output rows zero. Drawn on the device, in
        # place: no host copy of a 2-million-row matrix.
        mx.random.seed(seed, ctx=self.home)
        self.input_weights = mx.nd.random.uniform(-1.0 / dim, 1.0 / dim, shape=(input_rows, dim), ctx=self.home)
        self.output_weights = mx.nd.zeros((output_rows, dim), ctx=self.home)
        self._output_slots = np.zeros(output_rows, np.int64)  # unique_inverse's scratch

    @property
    def group_size(self) -> int:
        """Steps computed from the same weights, one per device."""
        return len(self.contexts)

    def train_group(self, steps: Sequence[Step], learning_rate: float) -> mx.nd.NDArray:
        """Every step's deltas from the current weights (step i on device i mod n), then all the deltas added.
        Returns the summed loss as an NDArray on the first device (not waited for: reading it synchronises)."""
        results = [
            self._step_deltas(step, self.contexts[i % len(self.contexts)], learning_rate)
            for i, step in enumerate(steps)
            if step.examples
        ]
        loss = mx.nd.zeros((1,), ctx=self.home)
        for input_rows, input_delta, output_rows, output_delta, step_loss in results:
            self._add_rows(self.input_weights, input_rows, input_delta)
            self._add_rows(self.output_weights, output_rows, output_delta)
            loss += step_loss.as_in_context(self.home)
        return loss

    def _step_deltas(self, step: Step, context: mx.Context, learning_rate: float) -> StepDeltas:
        """The step's deltas for the input and output rows it touches, computed on `context` in the step's own
        row numbering (the rows it reads, gathered once)."""
        home = self.home
        input_rows = mx.nd.array(step.input_rows, ctx=home, dtype=np.int64)
        # np.unique would sort every target (1.4 us a corpus word, more than building the step): O(n) instead.
        output_ids, local_targets = unique_inverse(step.targets.reshape(-1), self._output_slots)
        output_rows = mx.nd.array(output_ids, ctx=home, dtype=np.int64)
        step_inputs = mx.nd.take(self.input_weights, input_rows).as_in_context(context)
        step_outputs = mx.nd.take(self.output_weights, output_rows).as_in_context(context)

        def csr(data: np.ndarray, indptr_indices: Csr, columns: int) -> mx.nd.sparse.CSRNDArray:
            indptr, indices = indptr_indices
            return mx.nd.sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, columns), ctx=context)

        words_mean = csr(step.word_row_weights, step.word_rows, len(step.input_rows))
        words_sum = csr(np.ones_like(step.word_row_weights), step.word_rows, len(step.input_rows))
        unique_words = len(step.word_rows[0]) - 1
        bags_mean = csr(step.bag_weights, step.bags, unique_words)
        bags_sum = csr(np.ones_like(step.bag_weights), step.bags, unique_words)

        word_vectors = mx.nd.sparse.dot(words_mean, step_inputs)  # (words, dim)
        hidden = mx.nd.sparse.dot(bags_mean, word_vectors)  # (examples, dim)
        width = step.targets.shape[1]
        # float32 indices: MXNet's CPU take is 2x faster with them than with int64, and a step's rows (fewer
        # than its examples x width) are far below float32's exact-integer limit.
        targets = mx.nd.array(local_targets.reshape(step.targets.shape), ctx=context, dtype=np.float32)
        step_outputs.attach_grad()
        with mx.autograd.record():
            target_vectors = mx.nd.take(step_outputs, targets)  # (examples, width, dim)
        # Shapes by reshape, not expand_dims: on NDArrays reshape is a view, expand_dims a copy.
        examples = step.examples
        hidden_column, hidden_row = hidden.reshape((examples, self.dim, 1)), hidden.reshape((examples, 1, self.dim))
        scores = mx.nd.batch_dot(target_vectors, hidden_column).reshape((-1, width))
        labels = mx.nd.array(step.labels, ctx=context)
        mask = mx.nd.array(step.mask, ctx=context)
        gains = learning_rate * mask * (labels - mx.nd.sigmoid(scores))
        # -log sigmoid(+-s), written stably: softplus(-s) for positives, softplus(s) for negatives.
        signed = (1 - 2 * labels) * scores
        loss = (mask * (mx.nd.relu(signed) + mx.nd.log1p(mx.nd.exp(-mx.nd.abs(signed))))).sum()

        hidden_delta = mx.nd.batch_dot(gains.reshape((examples, 1, width)), target_vectors).reshape((-1, self.dim))
        # The output rows' delta sum_e g_et h_e is take's gradient: a scatter-add into the step's rows.
        target_vectors.backward(mx.nd.batch_dot(gains.reshape((examples, width, 1)), hidden_row))
        output_delta = step_outputs.grad
        word_delta = mx.nd.sparse.dot(bags_sum, hidden_delta, transpose_a=True, forward_stype="default")
        input_delta = mx.nd.sparse.dot(words_sum, word_delta, transpose_a=True, forward_stype="default")
        return (input_rows, input_delta.as_in_context(home), output_rows, output_delta.as_in_context(home), loss)

    @staticmethod
    def _add_rows(weights: mx.nd.NDArray, rows: mx.nd.NDArray, delta: mx.nd.NDArray) -> None:
        """weights[rows] += delta for unique rows, in place and touching only those rows (index_copy: 8x faster on
        CPU than an indexed assignment or a row-sparse sgd_update)."""
        mx.nd.contrib.index_copy(weights, rows, mx.nd.take(weights, rows) + delta, out=weights)

    def snapshot(self) -> Arrays:
        return {"input_weights": self.input_weights.asnumpy(), "output_weights": self.output_weights.asnumpy()}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        for name in ("input_weights", "output_weights"):
            target = getattr(self, name)
            target[:] = mx.nd.array(checked_array(arrays, name, target.shape), ctx=self.home)

    def all_finite(self) -> bool:
        return bool(np.isfinite(self.input_weights.sum().asscalar() + self.output_weights.sum().asscalar()))

    def input_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return self.input_weights[start:stop].asnumpy()

    def output_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return self.output_weights[start:stop].asnumpy()

    def word_vectors(self, dictionary: Dictionary, words: Sequence[str]) -> npt.NDArray[np.float32]:
        """fastText's get_word_vector for each word: the mean of its input rows (zeros when it has none)."""
        matrix = self.input_weights
        vectors = np.zeros((len(words), self.dim), np.float32)
        for start in range(0, len(words), 4096):
            batch = words[start : start + 4096]
            rows = [dictionary.rows_of(word) for word in batch]
            found = [i for i, word_rows in enumerate(rows) if len(word_rows)]
            if not found:
                continue
            lengths = np.array([len(rows[i]) for i in found])
            flat = mx.nd.array(np.concatenate([rows[i] for i in found]), ctx=self.home, dtype=np.int64)
            sums = np.add.reduceat(
                mx.nd.take(matrix, flat).asnumpy(), np.concatenate(([0], np.cumsum(lengths)[:-1])), axis=0
            )
            vectors[start + np.array(found)] = sums / lengths[:, None]
        return vectors
