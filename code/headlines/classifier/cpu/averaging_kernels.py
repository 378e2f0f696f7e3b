"""The averaging's passes over the parameters (averaging.py), compiled: numpy writes and reads float16 a value at a
time (0.06-0.13 s a pass over the UCI embedding's 21 M values), these whole vectors at a time through the CPU's own
conversion (half_floats.py). They import no MXNet, so the image compiles them at build time, the GPU image too."""

from typing import Any

import numba
import numpy as np

from ...half_floats import from_half_bits, half_bits
from ...kernel_options import JIT_OPTIONS

# The averaging's passes are IEEE arithmetic, as numpy's would be: no fused multiply-add (which JIT_OPTIONS's
# fastmath allows), so the mean is the same bits on every host whatever its CPU.
EXACT_JIT_OPTIONS = {**JIT_OPTIONS, "fastmath": False}


@numba.njit(parallel=True, **EXACT_JIT_OPTIONS)
def _write_change(parameters: Any, last: Any, change_bits: Any) -> None:
    """change_bits = the float16 bits of parameters - last (flat arrays), in one pass over them."""
    for i in numba.prange(len(parameters)):
        change_bits[i] = half_bits(parameters[i] - last[i])


@numba.njit(parallel=True, **EXACT_JIT_OPTIONS)
def _add_mean(last: Any, parameters: Any, total_bits: Any, share: Any) -> None:
    """last += float32(total) * share, and parameters = last (flat arrays), in one pass over them."""
    for i in numba.prange(len(last)):
        last[i] += from_half_bits(total_bits[i]) * share
        parameters[i] = last[i]


@numba.njit(parallel=True, **EXACT_JIT_OPTIONS)
def _mark_changed_rows(parameters: Any, last: Any, changed_bits: Any) -> None:
    """changed_bits[r] = float16 1's bits where row r of parameters differs from last, else 0's."""
    one = half_bits(np.float32(1.0))
    for row in numba.prange(parameters.shape[0]):
        changed_bits[row] = 0
        for d in range(parameters.shape[1]):
            if parameters[row, d] != last[row, d]:
                changed_bits[row] = one
                break


@numba.njit(parallel=True, **EXACT_JIT_OPTIONS)
def _gather_change(parameters: Any, last: Any, rows: Any, change_bits: Any) -> None:
    """change_bits[i] = the float16 bits of parameters[rows[i]] - last[rows[i]]."""
    for i in numba.prange(len(rows)):
        for d in range(parameters.shape[1]):
            change_bits[i, d] = half_bits(parameters[rows[i], d] - last[rows[i], d])


@numba.njit(parallel=True, **EXACT_JIT_OPTIONS)
def _scatter_mean(last: Any, parameters: Any, rows: Any, total_bits: Any, share: Any) -> None:
    """last[rows[i]] += float32(total[i]) * share, and parameters[rows[i]] = last[rows[i]]."""
    for i in numba.prange(len(rows)):
        for d in range(last.shape[1]):
            last[rows[i], d] += from_half_bits(total_bits[i, d]) * share
            parameters[rows[i], d] = last[rows[i], d]


def write_change(parameters: np.ndarray, last: np.ndarray, change: np.ndarray) -> None:
    """change = parameters - last, rounded to float16 (C-contiguous arrays of one shape): compiled, since numpy
    writes float16 a value at a time (0.07-0.13 s an epoch for the UCI embedding's 21 M values)."""
    _write_change(flat_view(parameters), flat_view(last), flat_view(change).view(np.uint16))


def add_mean(last: np.ndarray, parameters: np.ndarray, total: np.ndarray, hosts: int) -> None:
    """last += total * (1 / hosts) in float32, and parameters = last (C-contiguous arrays of one shape; total the
    hosts' float16 sum): compiled, since numpy computes float16 arithmetic and casts a value at a time."""
    _add_mean(flat_view(last), flat_view(parameters), flat_view(total).view(np.uint16), np.float32(1 / hosts))


def changed_rows(parameters: np.ndarray, last: np.ndarray, changed: np.ndarray) -> None:
    """changed (float16, a value a row) = 1 where the row of parameters differs from last's, else 0."""
    _mark_changed_rows(parameters, last, changed.view(np.uint16))


def gather_change(parameters: np.ndarray, last: np.ndarray, rows: np.ndarray, change: np.ndarray) -> None:
    """change's leading rows = the change of `rows` (sorted int64) as float16, in their order (the rows after them
    travel to the end of their block, and nobody reads their sum)."""
    _gather_change(parameters, last, rows, change.view(np.uint16))


def scatter_mean(last: np.ndarray, parameters: np.ndarray, rows: np.ndarray, total: np.ndarray, hosts: int) -> None:
    """add_mean for `rows` alone, whose hosts' sum is total's leading rows in their order."""
    _scatter_mean(last, parameters, rows, total.view(np.uint16), np.float32(1 / hosts))


def compile_for_this_cpu() -> None:
    """Compiles the passes for the types publish passes (or loads them from numba's cache, which the image fills at
    build time)."""
    values, bits, rows = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float16), np.zeros(1, np.int64)
    write_change(values, values, bits)
    add_mean(values, values.copy(), bits, 2)
    changed_rows(values, values, np.zeros(1, np.float16))
    gather_change(values, values, rows, bits)
    scatter_mean(values, values.copy(), rows, bits, 2)


def flat_view(values: np.ndarray) -> np.ndarray:
    """The array as one dimension, sharing its memory (an array that is not contiguous raises: reshape would copy
    it, and writes to the copy would be lost)."""
    flat = values.view()
    flat.shape = (values.size,)
    return flat
