"""The compiled parts of the cnn architecture's CPU step (convolutional.py), those numpy does slowly: the max over
each headline's windows, and the embedding gradient summed per row and applied lazily. The matrix products stay
numpy's (BLAS). Each kernel runs on one thread, in a fixed order: the same batch gives the same bits."""

import numba
import numpy as np

from ...kernel_options import JIT_OPTIONS
from .kernels import ADAM, Floats, Ids, Offsets, Real, slot_of, update_weights

Rows = np.ndarray  # int64 embedding rows or slots


@numba.njit(**JIT_OPTIONS)
def max_over_windows(features: Floats, first: Offsets, best: Floats, where: Rows) -> None:
    """best[i, f]: the largest features[r, f] over headline i's windows r = first[i] .. first[i + 1] - 1, and
    where[i, f] the first r that holds it (where max-pooling sends the gradient)."""
    for i in range(len(first) - 1):
        best[i] = features[first[i]]
        where[i] = first[i]
        for r in range(first[i] + 1, first[i + 1]):
            for f in range(features.shape[1]):
                if features[r, f] > best[i, f]:
                    best[i, f] = features[r, f]
                    where[i, f] = r


@numba.njit(**JIT_OPTIONS)
def add_window_grads(slot_grads: Floats, slots: Rows, window_grads: Floats) -> None:
    """Adds each window's gradient, (windows, width * C) with slot k's C values at k * C, to the slots it covers."""
    dim = slot_grads.shape[1]
    for w in range(slots.shape[0]):
        for k in range(slots.shape[1]):
            slot = slots[w, k]
            for d in range(dim):
                slot_grads[slot, d] += window_grads[w, k * dim + d]


@numba.njit(**JIT_OPTIONS)
def update_rows(
    embedding: Floats, state: Floats, rows: Rows, slot_grads: Floats, also: int, optimizer: int, rate: Real,
    rescale: Real, wd: Real, beta1: Real, beta2: Real, epsilon: Real, slot: Ids, touched: Offsets, row_grads: Floats,
) -> None:  # fmt: skip
    """The lazy update of every row the slots hold (rows[s] is slot s's row, slot_grads its gradient) and of row
    `also` (none when -1) with nothing added: each distinct row's gradient summed in slot order, then the
    optimizer's step on it alone. `slot` is -1 for every embedding row and is left so; touched and row_grads (zeros)
    hold one entry per slot and one more."""
    distinct = 0
    for s in range(len(rows)):
        position, distinct = slot_of(rows[s], slot, touched, distinct)
        row_grads[position] += slot_grads[s]
    if also >= 0:
        _, distinct = slot_of(also, slot, touched, distinct)
    for position in range(distinct):
        row = touched[position]
        slot[row] = -1
        if optimizer == ADAM:
            update_weights(embedding[row], state[0, row], state[1, row], row_grads[position], optimizer, rate,
                           rescale, wd, beta1, beta2, epsilon)  # fmt: skip
        else:
            update_weights(embedding[row], embedding[row], embedding[row], row_grads[position], optimizer, rate,
                           rescale, wd, beta1, beta2, epsilon)  # fmt: skip


def compile_for_this_cpu() -> None:
    """Compiles the kernels for the argument types the steps pass (or loads them from numba's cache, which the image
    fills at build time)."""
    f32 = np.float32
    features, first = np.zeros((2, 3), f32), np.array([0, 2], np.int64)
    max_over_windows(features, first, np.zeros((1, 3), f32), np.zeros((1, 3), np.int64))
    slots = np.zeros((2, 2), np.int64)
    add_window_grads(np.zeros((2, 3), f32), slots, np.zeros((2, 6), f32))
    embedding = np.zeros((4, 3), f32)
    update_rows(embedding, np.zeros((2, 4, 3), f32), np.array([1, 2], np.int64), np.zeros((2, 3), f32), 0, ADAM,
                f32(0.1), f32(0.5), f32(0.0), f32(0.9), f32(0.999), f32(1e-8), np.full(4, -1, np.int32),
                np.zeros(3, np.int64), np.zeros((3, 3), f32))  # fmt: skip
    update_weights(embedding.reshape(-1), embedding.reshape(-1), embedding.reshape(-1), embedding.reshape(-1), ADAM,
                   f32(0.1), f32(0.5), f32(0.0), f32(0.9), f32(0.999), f32(1e-8))  # fmt: skip
