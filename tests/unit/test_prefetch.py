"""The kernels' software prefetch is the CPU's prefetch instruction, asked for every cache line of a row, and
changes nothing but timing."""

import numba
import numpy as np
import pytest

from headlines import prefetch as prefetch_module
from tests.support.prefetches import prefetches_in, skip_without_known_instruction

LINE_BYTES = 64


def address(array, row, column):
    return array.ctypes.data + row * array.strides[0] + column * array.strides[1]


@numba.njit(cache=False)
def _one_line(array, row, column):
    prefetch_module.prefetch(array, row, column)
    return array[row, column]


def test_a_prefetch_is_the_cpus_prefetch_instruction():
    skip_without_known_instruction()
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert _one_line(array, 2, 1) == 9.0
    assert prefetches_in(_one_line) == 1


@pytest.mark.parametrize("dim", [1, 16, 100, 300])
@pytest.mark.parametrize("row", [0, 1, 3, 6])
def test_every_cache_line_of_a_row_is_prefetched(monkeypatch, dim, row):
    """Rows of 400 bytes start anywhere in a line of 64 and span 7 or 8 lines: all of them, and none of another
    row's."""
    array = np.zeros((8, dim), dtype=np.float32)
    lines = []
    monkeypatch.setattr(prefetch_module, "prefetch", lambda a, r, c: lines.append(address(a, r, c) // LINE_BYTES))
    prefetch_module.prefetch_row.py_func(array, row)
    first, last = address(array, row, 0) // LINE_BYTES, address(array, row, dim - 1) // LINE_BYTES
    assert sorted(set(lines)) == list(range(first, last + 1))
