"""The compiled step of the fasttext architecture on CPU (numba): one batch's forward pass, softmax cross-entropy,
backward pass and optimizer update, computing what MXNet computes for the same batch (models.FastTextClassifier,
gluon's SoftmaxCrossEntropyLoss, a Trainer step with the batch's size, and MXNet 1.9's adam_update / sgd_update:
lazy on the embedding's row-sparse gradient, dense on the output layer). MXNet spends most of such a step outside
the arithmetic: the batch padded, a sparse gradient built and sorted, a dozen operators launched.

Only the rows the batch touches are read and written: each headline's ids, then, once per distinct row, its
summed gradient and its optimizer state, each loop asking for its rows a few ahead (prefetch.py). All arithmetic
is float32, as in MXNet's kernels.
"""

from typing import Any, TypeAlias

import numba
import numpy as np
import numpy.typing as npt

from ...kernel_options import JIT_OPTIONS
from ...prefetch import prefetch_row

Floats: TypeAlias = npt.NDArray[np.float32]
Ids: TypeAlias = npt.NDArray[np.int32]  # embedding rows, end to end for all headlines
Offsets: TypeAlias = npt.NDArray[np.int64]  # where each headline's ids start; a batch's headlines
Real: TypeAlias = float | np.floating[Any]

# The optimizers the kernel computes: adam keeps a mean and a variance per weight, sgd (no momentum) nothing.
ADAM, SGD = 0, 1
# How many rows ahead the loops prefetch the rows they will read: a step's rows lie at random in arrays far larger
# than the caches, and a row's work is too long for the CPU to reach the next row's loads by itself. 2 to 16 rows
# ahead ran equally fast (docs/performance.md).
ROWS_AHEAD = 4


@numba.njit(**JIT_OPTIONS)
def _adam(
    weight: Floats, mean: Floats, variance: Floats, grad: Floats, rate: Real, rescale: Real, wd: Real, beta1: Real,
    beta2: Real, epsilon: Real,
) -> None:  # fmt: skip
    """adam_update of one row (or a dense parameter) from its summed gradient. Every array is contiguous: numba
    vectorises the loop only then."""
    one = np.float32(1.0)
    for d in range(len(weight)):
        g = grad[d] * rescale + weight[d] * wd
        mean[d] = beta1 * mean[d] + (one - beta1) * g
        variance[d] = beta2 * variance[d] + (one - beta2) * g * g
        weight[d] = weight[d] - rate * mean[d] / (np.sqrt(variance[d]) + epsilon)


@numba.njit(**JIT_OPTIONS)
def _sgd(weight: Floats, grad: Floats, rate: Real, rescale: Real, wd: Real) -> None:
    """sgd_update (no momentum) of one row (or a dense parameter) from its summed gradient."""
    for d in range(len(weight)):
        weight[d] = (np.float32(1.0) - rate * wd) * weight[d] - rate * rescale * grad[d]


@numba.njit(**JIT_OPTIONS)
def update_weights(
    weight: Floats, mean: Floats, variance: Floats, grad: Floats, optimizer: int, rate: Real, rescale: Real,
    wd: Real, beta1: Real, beta2: Real, epsilon: Real,
) -> None:  # fmt: skip
    """The optimizer's update of one row (or a contiguous parameter, flattened) from its summed gradient (sgd reads
    no mean or variance)."""
    if optimizer == ADAM:
        _adam(weight, mean, variance, grad, rate, rescale, wd, beta1, beta2, epsilon)
    else:
        _sgd(weight, grad, rate, rescale, wd)


@numba.njit(**JIT_OPTIONS)
def _headline(
    embedding: Floats, weight: Floats, bias: Floats, ids: Ids, label: int, padding_id: int, hidden: Floats,
    delta: Floats, input_grad: Floats,
) -> tuple[float, bool]:  # fmt: skip
    """One headline's loss and whether it is predicted right; leaves the mean of its rows in hidden, the
    gradient of its logits in delta and the gradient of each of its rows in input_grad. An empty headline is its
    padding row, as MXNet's padded batch makes it."""
    dim, classes = len(hidden), len(bias)
    hidden[:] = 0.0
    count = max(len(ids), 1)
    if len(ids) == 0:
        hidden += embedding[padding_id]
    for j in range(len(ids)):
        row = ids[j]
        if j + ROWS_AHEAD < len(ids):
            prefetch_row(embedding, ids[j + ROWS_AHEAD])
        for d in range(dim):
            hidden[d] += embedding[row, d]
    hidden /= np.float32(count)
    best, top = 0, -np.inf
    for c in range(classes):
        z = bias[c]
        for d in range(dim):
            z += weight[c, d] * hidden[d]
        delta[c] = z
        if z > top:
            best, top = c, z
    total = np.float32(0.0)
    for c in range(classes):
        delta[c] = np.exp(delta[c] - top)
        total += delta[c]
    loss = -np.log(delta[label] / total)
    input_grad[:] = 0.0
    for c in range(classes):
        delta[c] = delta[c] / total - (np.float32(1.0) if c == label else np.float32(0.0))
        for d in range(dim):
            input_grad[d] += delta[c] * weight[c, d]
    input_grad /= np.float32(count)
    return loss, best == label


@numba.njit(**JIT_OPTIONS)
def _prefetch_update(embedding: Floats, embedding_state: Floats, row: int, optimizer: int) -> None:
    """Prefetches what the optimizer's update of an embedding row reads: the row, and adam's mean and variance."""
    prefetch_row(embedding, row)
    if optimizer == ADAM:
        prefetch_row(embedding_state[0], row)
        prefetch_row(embedding_state[1], row)


@numba.njit(**JIT_OPTIONS)
def slot_of(row: int, slot: Ids, touched: Offsets, distinct: int) -> tuple[int, int]:
    """The row's slot among the batch's distinct rows (a new one the first time), and the slots used."""
    if slot[row] < 0:
        slot[row] = distinct
        touched[distinct] = row
        return distinct, distinct + 1
    return slot[row], distinct


@numba.njit(**JIT_OPTIONS)
def _row_slots(
    ids: Ids, starts: Offsets, batch: Offsets, padding_id: int, slot: Ids, touched: Offsets, positions: Offsets,
    owners: Offsets,
) -> tuple[int, int]:  # fmt: skip
    """Each id of the batch (an empty headline's padding row included) in order: its row's slot in positions,
    its headline in owners. Returns (ids, distinct rows). The padding row of a padded batch is among the rows with
    nothing added, as in MXNet's gradient, where adam still moves it."""
    count, distinct, width = 0, 0, 1
    for k in range(len(batch)):
        r = batch[k]
        width = max(width, starts[r + 1] - starts[r])
        if starts[r] == starts[r + 1]:
            positions[count], distinct = slot_of(padding_id, slot, touched, distinct)
            owners[count] = k
            count += 1
        for j in range(starts[r], starts[r + 1]):
            positions[count], distinct = slot_of(ids[j], slot, touched, distinct)
            owners[count] = k
            count += 1
    for k in range(len(batch)):
        if starts[batch[k] + 1] - starts[batch[k]] < width:
            _, distinct = slot_of(padding_id, slot, touched, distinct)
            break
    return count, distinct


@numba.njit(**JIT_OPTIONS)
def _headlines_by_row(positions: Offsets, owners: Offsets, count: int, distinct: int) -> tuple[Offsets, Offsets]:
    """(first, headlines): the headlines of each of the batch's ids, grouped by row slot in the batch's order, so
    that slot p's ids come from headlines[first[p] : first[p + 1]] (a counting sort of the ids by slot)."""
    first = np.zeros(distinct + 1, np.int64)
    for o in range(count):
        first[positions[o] + 1] += 1
    for p in range(distinct):
        first[p + 1] += first[p]
    cursor = first[:-1].copy()
    headlines = np.empty(count, np.int64)
    for o in range(count):
        headlines[cursor[positions[o]]] = owners[o]
        cursor[positions[o]] += 1
    return first, headlines


@numba.njit(parallel=True, **JIT_OPTIONS)
def train_batch(
    embedding: Floats, weight: Floats, bias: Floats, embedding_state: Floats, weight_state: Floats,
    bias_state: Floats, ids: Ids, starts: Offsets, labels: Offsets, batch: Offsets, padding_id: int,
    optimizer: int, embedding_rate: Real, dense_rate: Real, wd: Real, beta1: Real, beta2: Real, epsilon: Real,
    threads: int, headline_grads: Floats, slot: Ids, touched: Offsets, positions: Offsets, owners: Offsets,
) -> tuple[float, int]:  # fmt: skip
    """One step over the headlines `batch` (rows of starts/labels) on `threads` threads (numba's); returns their
    summed loss and how many were predicted right. Rates are the optimizer's for this step (adam's with its bias
    correction); adam's states are (2, rows, dim) for the embedding, (2, classes, dim) and (2, classes) for the
    output layer (sgd reads none of the embedding's). `slot` is -1 for every embedding row, and is left so;
    headline_grads has a row per headline, touched, positions and owners one per id of the batch.

    The headlines run in parallel; then each thread takes a block of the distinct rows and, row by row, sums the
    row's gradient in the batch's order into its own buffer and updates the row at once (the sum stays in the
    cache; no scratch array of every row's sum is written and read back). Every sum runs in the same order on any
    number of threads, so the result is the same on all of them, and a resumed run computes what the uninterrupted
    one did.
    """
    size, dim, classes = len(batch), embedding.shape[1], len(bias)
    hidden, delta = np.empty((size, dim), np.float32), np.empty((size, classes), np.float32)
    losses, right = np.empty(size, np.float64), np.empty(size, np.int64)
    for k in numba.prange(size):
        r = batch[k]
        losses[k], right[k] = _headline(
            embedding, weight, bias, ids[starts[r] : starts[r + 1]], labels[r], padding_id, hidden[k], delta[k],
            headline_grads[k],
        )  # fmt: skip
    count, distinct = _row_slots(ids, starts, batch, padding_id, slot, touched, positions, owners)
    first, headlines = _headlines_by_row(positions, owners, count, distinct)
    rescale = np.float32(1.0) / np.float32(size)
    for thread in numba.prange(threads):
        grad = np.empty(dim, np.float32)
        end = (thread + 1) * distinct // threads
        for position in range(thread * distinct // threads, end):
            row = touched[position]
            slot[row] = -1
            if position + ROWS_AHEAD < end:
                _prefetch_update(embedding, embedding_state, touched[position + ROWS_AHEAD], optimizer)
            grad[:] = 0.0
            for h in headlines[first[position] : first[position + 1]]:
                grad += headline_grads[h]
            if optimizer == ADAM:
                _adam(embedding[row], embedding_state[0, row], embedding_state[1, row], grad, embedding_rate,
                      rescale, wd, beta1, beta2, epsilon)  # fmt: skip
            else:
                _sgd(embedding[row], grad, embedding_rate, rescale, wd)
    weight_grad, bias_grad = np.zeros((classes, dim), np.float32), np.zeros(classes, np.float32)
    loss, correct = 0.0, 0
    for k in range(size):  # in order (np.sum would be a parallel reduction here)
        loss += losses[k]
        correct += right[k]
        for c in range(classes):
            bias_grad[c] += delta[k, c]
            for d in range(dim):
                weight_grad[c, d] += delta[k, c] * hidden[k, d]
    for c in range(classes):
        update_weights(weight[c], weight_state[0, c], weight_state[1, c], weight_grad[c], optimizer, dense_rate,
                       rescale, wd, beta1, beta2, epsilon)  # fmt: skip
    update_weights(bias, bias_state[0], bias_state[1], bias_grad, optimizer, dense_rate, rescale, wd, beta1, beta2,
                   epsilon)  # fmt: skip
    return loss, correct


def smallest_arguments() -> tuple[Any, ...]:
    """Arguments of the types the steps pass to train_batch, for a batch of one headline of one id (adam)."""
    f32 = np.float32
    weights = [np.zeros(shape, f32) for shape in ((3, 2), (2, 2), (2,), (2, 3, 2), (2, 2, 2), (2, 2))]
    ids, starts, labels = np.array([1], np.int32), np.array([0, 1], np.int64), np.array([0], np.int64)
    scratch = [np.zeros((2, 2), f32), np.full(3, -1, np.int32), *(np.zeros(2, np.int64) for _ in range(3))]
    rates = (f32(0.1), f32(0.1), f32(0.0), f32(0.9), f32(0.999), f32(1e-8))
    return (*weights, ids, starts, labels, labels, 0, ADAM, *rates, 1, *scratch)


def compile_for_this_cpu() -> None:
    """Compiles train_batch for the argument types the steps pass (or loads it from numba's cache, which the image
    fills at build time, as it does the word-vector kernels')."""
    train_batch(*smallest_arguments())
