"""float16 in the compiled kernels: every float16 converts to float32 and back to the same bits, float32 values
round as numpy rounds them, and the CPU converts them with its own vector instruction."""

import platform
import re

import numba
import numpy as np
import pytest

from headlines.half_floats import from_half_bits, half_bits

# The vector conversion from float32 to float16 on the CPUs the images run on (x86-64 with F16C, arm64).
VECTOR_CONVERSION = {"x86_64": (r"\bvcvtps2ph\b", "f16c"), "aarch64": (r"\bfcvtn\b", "fp")}


@numba.njit(cache=False)
def _to_half(values, bits):
    for i in range(len(values)):
        bits[i] = half_bits(values[i])


@numba.njit(cache=False)
def _from_half(bits, values):
    for i in range(len(bits)):
        values[i] = from_half_bits(bits[i])


def test_every_float16_converts_to_its_float32_value_and_back_to_its_bits():
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    values = np.empty(len(bits), np.float32)
    _from_half(bits, values)
    expected = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(values), nan) and nan.sum() == 2046
    np.testing.assert_array_equal(values[~nan].view(np.uint32), expected[~nan].view(np.uint32))
    back = np.empty(len(bits), np.uint16)
    _to_half(values, back)
    np.testing.assert_array_equal(back[~nan], bits[~nan])
    assert np.isnan(back[nan].view(np.float16)).all()


def test_float32_values_round_to_float16_as_numpy_rounds_them():
    """Random bit patterns cover every exponent: subnormal results, ties, overflow to infinity."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = values[~np.isnan(values)]
    bits = np.empty(len(values), np.uint16)
    _to_half(values, bits)
    with np.errstate(over="ignore"):
        expected = values.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(bits, expected)


def test_the_cpu_converts_a_vector_at_a_time():
    """Without the CPU's instruction LLVM would call a library function a value at a time: right, but as slow as
    numpy."""
    machine = platform.machine()
    if machine not in VECTOR_CONVERSION:
        pytest.skip(f"no known float16 conversion instruction on {machine}")
    instruction, flag = VECTOR_CONVERSION[machine]
    with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as cpuinfo:
        if flag not in cpuinfo.read().split():
            pytest.skip(f"this CPU lacks {flag}")
    values, bits = np.zeros(64, np.float32), np.zeros(64, np.uint16)
    _to_half(values, bits)
    assembly = "\n".join(_to_half.inspect_asm().values())
    assert re.search(instruction, assembly)
