"""The CPU engine's compiled inner loops (numba, compiled for the CPU the job runs on): fastText's unsupervised
training (Word2Vec::skipgram, cbow, Model::update, binaryLogistic) and Ji et al.'s batched skip-gram, over a
chunk of token ids that the corpus was encoded into once; and, for several hosts, the scan for the rows a round
changed.

Each call trains one chunk on one thread without the GIL; several threads share the weights without locks
(Hogwild, as fastText's threads do). Everything random comes from the thread's own `state`
(xorshift64* generator, position in the negatives table), so a chunk's result depends only on its inputs, and a
checkpoint that stores `state` resumes the same stream.

Sigmoid and log are fastText's lookup tables (512 steps over [-8, 8] and (0, 1]).
"""

from typing import Any, TypeAlias

import numba
import numpy as np
import numpy.typing as npt

from ...kernel_options import JIT_OPTIONS

SKIPGRAM_KERNEL, CBOW_KERNEL, BATCH_SKIPGRAM_KERNEL = 0, 1, 2
MAX_SIGMOID = 8.0
SIGMOID_TABLE_SIZE = 512
LOG_TABLE_SIZE = 512
# state: [generator, position in the negatives table]
STATE_GENERATOR, STATE_NEGATIVE_POSITION = 0, 1
# A thread's state row is 128 bytes though it uses 16: threads that wrote to one cache line with every random draw
# would take turns owning it (2 threads ran at 1.07x one thread; padded, see docs/performance.md).
STATE_ROW = 16
MAX_NEGATIVE_TRIES = 64

# The kernels' annotations are for the type checker: numba ignores them and compiles each function for the types it
# is called with. A real number there is a Python float or a numpy float scalar (np.float32 is not a float subtype).
Real: TypeAlias = float | np.floating[Any]
Floats: TypeAlias = npt.NDArray[np.float32]  # weights, and the scratch vectors and matrices of a chunk
Ints: TypeAlias = npt.NDArray[np.int64]  # row offsets and ids, lines, thread state

_sigmoid_steps = np.arange(SIGMOID_TABLE_SIZE + 1, dtype=np.float64) * 2 * MAX_SIGMOID / SIGMOID_TABLE_SIZE
SIGMOID_TABLE = (1.0 / (1.0 + np.exp(MAX_SIGMOID - _sigmoid_steps))).astype(np.float32)
LOG_TABLE = np.log((np.arange(LOG_TABLE_SIZE + 1, dtype=np.float64) + 1e-5) / LOG_TABLE_SIZE).astype(np.float32)


@numba.njit(**JIT_OPTIONS)
def _next(state: Ints) -> np.uint64:
    """xorshift64*: the next 64-bit number of the thread's stream."""
    x = np.uint64(state[STATE_GENERATOR])
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[STATE_GENERATOR] = np.int64(x)
    return x * np.uint64(2685821657736338717)


@numba.njit(**JIT_OPTIONS)
def _uniform(state: Ints) -> Real:
    return np.float64(_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(**JIT_OPTIONS)
def _below(state: Ints, n: int) -> np.int64:
    return np.int64(_next(state) % np.uint64(n))


@numba.njit(**JIT_OPTIONS)
def _negative(state: Ints, table: npt.NDArray[np.int32], positive: int) -> int:
    """fastText's getNegative: the next table entry that is not the positive (after MAX_NEGATIVE_TRIES clashes
    the next one anyway: a one-word vocabulary has no other, and fastText would loop forever)."""
    for _ in range(MAX_NEGATIVE_TRIES):
        position = state[STATE_NEGATIVE_POSITION]
        state[STATE_NEGATIVE_POSITION] = (position + 1) % len(table)
        negative = table[position]
        if negative != positive:
            return negative
    return negative


@numba.njit(**JIT_OPTIONS)
def _sigmoid(x: Real) -> Real:
    if x < -MAX_SIGMOID:
        return 0.0
    if x > MAX_SIGMOID:
        return 1.0
    if x != x:  # NaN, from diverged weights: passed on (an index from it would read anywhere)
        return x
    return SIGMOID_TABLE[int((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE / MAX_SIGMOID / 2)]


@numba.njit(**JIT_OPTIONS)
def _log(x: Real) -> Real:
    if x > 1.0:
        return 0.0
    if x != x:
        return x
    return LOG_TABLE[int(x * LOG_TABLE_SIZE)]


@numba.njit(**JIT_OPTIONS)
def _logistic(output: Floats, target: int, label: float, hidden: Floats, grad: Floats, learning_rate: Real) -> Real:
    """fastText's binaryLogistic: one target's update of its output row, its share of the input gradient, and
    its loss."""
    dim = len(hidden)
    score = np.float32(0.0)
    for k in range(dim):
        score += output[target, k] * hidden[k]
    probability = _sigmoid(score)
    alpha = learning_rate * (label - probability)
    for k in range(dim):
        grad[k] += alpha * output[target, k]
        output[target, k] += alpha * hidden[k]
    return -_log(probability) if label > 0 else -_log(1.0 - probability)


@numba.njit(**JIT_OPTIONS)
def _update(
    inputs: Floats,
    output: Floats,
    bag: Ints,
    bag_size: int,
    target: int,
    table: npt.NDArray[np.int32],
    negatives: int,
    state: Ints,
    hidden: Floats,
    grad: Floats,
    learning_rate: Real,
) -> Real:
    """fastText's Model::update with negative sampling: hidden = mean of the bag's input rows; the positive and
    `negatives` negatives; then every bag row gets the summed gradient (not divided by the bag size)."""
    dim = inputs.shape[1]
    for k in range(dim):
        hidden[k] = 0.0
        grad[k] = 0.0
    for i in range(bag_size):
        row = bag[i]
        for k in range(dim):
            hidden[k] += inputs[row, k]
    scale = np.float32(1.0 / bag_size)
    for k in range(dim):
        hidden[k] *= scale
    loss = _logistic(output, target, 1.0, hidden, grad, learning_rate)
    for _ in range(negatives):
        loss += _logistic(output, _negative(state, table, target), 0.0, hidden, grad, learning_rate)
    for i in range(bag_size):
        row = bag[i]
        for k in range(dim):
            inputs[row, k] += grad[k]
    return loss


@numba.njit(**JIT_OPTIONS)
def _batch(
    inputs: Floats,
    output: Floats,
    row_offsets: Ints,
    row_ids: Ints,
    contexts: Ints,
    count: int,
    centre: int,
    table: npt.NDArray[np.int32],
    negatives: int,
    state: Ints,
    targets: Ints,
    hidden: Floats,
    scores: Floats,
    out_delta: Floats,
    in_delta: Floats,
    learning_rate: Real,
) -> tuple[Real, int]:
    """Ji et al.'s batched skip-gram step for one centre word: `count` context words (each the mean of its input
    rows, as fastText's skip-gram input) against the centre's output row and `negatives` negatives they share,
    as two small matrix products."""
    dim = inputs.shape[1]
    width = negatives + 1
    targets[0] = centre
    for j in range(1, width):
        targets[j] = _negative(state, table, centre)
    loss: Real = 0.0
    for i in range(count):
        first, last = row_offsets[contexts[i]], row_offsets[contexts[i] + 1]
        for k in range(dim):
            hidden[i, k] = 0.0
        for r in range(first, last):
            for k in range(dim):
                hidden[i, k] += inputs[row_ids[r], k]
        scale = np.float32(1.0 / (last - first))
        for k in range(dim):
            hidden[i, k] *= scale
        for j in range(width):
            score = np.float32(0.0)
            for k in range(dim):
                score += hidden[i, k] * output[targets[j], k]
            probability = _sigmoid(score)
            label = 1.0 if j == 0 else 0.0
            scores[i, j] = learning_rate * (label - probability)
            loss += -_log(probability) if j == 0 else -_log(1.0 - probability)
    for j in range(width):
        for k in range(dim):
            out_delta[j, k] = 0.0
    for i in range(count):
        for k in range(dim):
            in_delta[k] = 0.0
        for j in range(width):
            g = scores[i, j]
            for k in range(dim):
                in_delta[k] += g * output[targets[j], k]
                out_delta[j, k] += g * hidden[i, k]
        for r in range(row_offsets[contexts[i]], row_offsets[contexts[i] + 1]):
            row = row_ids[r]
            for k in range(dim):
                inputs[row, k] += in_delta[k]
    for j in range(width):
        target = targets[j]
        for k in range(dim):
            output[target, k] += out_delta[j, k]
    return loss, count


@numba.njit(**JIT_OPTIONS)
def train_chunk(
    kernel: int,
    tokens: npt.NDArray[np.int32],
    line_starts: Ints,
    inputs: Floats,
    output: Floats,
    row_offsets: Ints,
    row_ids: Ints,
    keep: Floats,
    table: npt.NDArray[np.int32],
    state: Ints,
    window: int,
    negatives: int,
    batch_size: int,
    first_rate: float,
    last_rate: float,
) -> tuple[Real, int]:
    """Trains one chunk: the lines tokens[line_starts[i]:line_starts[i + 1]] of in-vocabulary ids. The learning
    rate falls linearly from first_rate to last_rate over the chunk's tokens. Returns (loss sum, positives)."""
    dim = inputs.shape[1]
    longest = 0
    for i in range(len(line_starts) - 1):
        longest = max(longest, line_starts[i + 1] - line_starts[i])
    line = np.empty(longest, np.int64)
    bag = np.empty(max(1, 2 * window) * max(1, int(np.max(np.diff(row_offsets)))), np.int64)
    hidden = np.empty(dim, np.float32)
    grad = np.empty(dim, np.float32)
    targets = np.empty(negatives + 1, np.int64)
    scores = np.empty((batch_size, negatives + 1), np.float32)
    batch_hidden = np.empty((batch_size, dim), np.float32)
    out_delta = np.empty((negatives + 1, dim), np.float32)
    total = max(1, line_starts[-1] - line_starts[0])
    loss: Real = 0.0
    positives = 0
    for i in range(len(line_starts) - 1):
        start, stop = line_starts[i], line_starts[i + 1]
        rate = np.float32(first_rate + (last_rate - first_rate) * (start - line_starts[0]) / total)
        n = 0
        for p in range(start, stop):  # sub-sampling, as fastText's getLine discards
            word = tokens[p]
            if _uniform(state) < keep[word]:
                line[n] = word
                n += 1
        for w in range(n):
            reach = 1 + _below(state, window)
            if kernel == SKIPGRAM_KERNEL:
                first, last = row_offsets[line[w]], row_offsets[line[w] + 1]
                for c in range(max(0, w - reach), min(n, w + reach + 1)):
                    if c != w:
                        loss += _update(
                            inputs,
                            output,
                            row_ids[first:last],
                            last - first,
                            line[c],
                            table,
                            negatives,
                            state,
                            hidden,
                            grad,
                            rate,
                        )
                        positives += 1
            elif kernel == CBOW_KERNEL:
                size = 0
                for c in range(max(0, w - reach), min(n, w + reach + 1)):
                    if c != w:
                        for r in range(row_offsets[line[c]], row_offsets[line[c] + 1]):
                            bag[size] = row_ids[r]
                            size += 1
                if size:
                    loss += _update(inputs, output, bag, size, line[w], table, negatives, state, hidden, grad, rate)
                    positives += 1
            else:
                count = 0
                for c in range(max(0, w - reach), min(n, w + reach + 1)):
                    if c != w:
                        bag[count] = line[c]
                        count += 1
                for first in range(0, count, batch_size):  # the window's context words, batch_size at a time
                    size = min(batch_size, count - first)
                    batch_loss, batch_positives = _batch(
                        inputs,
                        output,
                        row_offsets,
                        row_ids,
                        bag[first:],
                        size,
                        line[w],
                        table,
                        negatives,
                        state,
                        targets,
                        batch_hidden,
                        scores,
                        out_delta,
                        grad,
                        rate,
                    )
                    loss += batch_loss
                    positives += batch_positives
    return loss, positives


@numba.njit(**JIT_OPTIONS)
def take_changed_rows(weights: Floats, last: Floats, candidates: Ints, rows: Ints, change: Floats) -> int:
    """Writes the rows among `candidates` whose weights differ from `last` to the front of `rows`, their change to
    `change`, and their weights to `last`; returns how many (host_sync.py, after every round of several hosts).
    Compiled: numpy's pass over a 73,002-word output matrix (subtract, compare, gather) took ~11 ms a round."""
    found = 0
    for row in candidates:
        moved = False
        for j in range(weights.shape[1]):
            if weights[row, j] != last[row, j]:
                moved = True
                break
        if moved:
            rows[found] = row
            for j in range(weights.shape[1]):
                change[found, j] = weights[row, j] - last[row, j]
                last[row, j] = weights[row, j]
            found += 1
    return found


def compile_for_this_cpu() -> None:
    """Compiles train_chunk and take_changed_rows for the argument types they get (or loads them from numba's
    cache, which the image fills at build time: loading takes a fraction of a second on the same CPU model,
    compiling ~5 s)."""
    ids, line_starts = np.arange(2, dtype=np.int32), np.array([0, 2], np.int64)
    weights, rows = np.zeros((2, 1), np.float32), np.arange(3, dtype=np.int64)
    state = np.ones((1, STATE_ROW), np.int64)[0]
    for kernel in (SKIPGRAM_KERNEL, CBOW_KERNEL, BATCH_SKIPGRAM_KERNEL):
        train_chunk(kernel, ids, line_starts, weights, weights.copy(), rows, rows[:2], np.ones(2, np.float32),
                    ids, state, 1, 1, 1, 0.0, 0.0)  # fmt: skip
    take_changed_rows(weights, weights.copy(), rows[:2], rows.copy(), weights.copy())
