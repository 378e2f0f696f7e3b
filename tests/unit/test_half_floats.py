"""float16 in the compiled kernels: every float16 converts to float32 and back to the same bits, float32 values
round as numpy rounds them, both by the CPU's own conversion and by the integer arithmetic used where the CPU has
none, and the CPU's is its vector instruction."""

import platform
import re

import numba
import numpy as np
import pytest

from headlines import half_floats

# The vector conversion from float32 to float16 on the CPUs the images run on (x86-64 with F16C, arm64).
VECTOR_CONVERSION = {"x86_64": r"\bvcvtps2ph\b", "aarch64": r"\bfcvtn\b"}


def _converters(to_half_bits, from_half_bits):
    @numba.njit(cache=False)
    def to_half(values, bits):
        for i in range(len(values)):
            bits[i] = to_half_bits(values[i])

    @numba.njit(cache=False)
    def from_half(bits, values):
        for i in range(len(bits)):
            values[i] = from_half_bits(bits[i])

    return to_half, from_half


CONVERTERS = {
    "cpu": _converters(half_floats._llvm_half_bits, half_floats._llvm_from_half_bits),
    "integer": _converters(half_floats._soft_half_bits, half_floats._soft_from_half_bits),
}


@pytest.fixture(params=sorted(CONVERTERS))
def converters(request):
    if request.param == "cpu" and not half_floats.cpu_converts_half():
        pytest.skip("this CPU does not convert float16 itself")
    return CONVERTERS[request.param]


def test_every_float16_converts_to_its_float32_value_and_back_to_its_bits(converters):
    to_half, from_half = converters
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    values = np.empty(len(bits), np.float32)
    from_half(bits, values)
    expected = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(values), nan) and nan.sum() == 2046
    np.testing.assert_array_equal(values[~nan].view(np.uint32), expected[~nan].view(np.uint32))
    back = np.empty(len(bits), np.uint16)
    to_half(values, back)
    np.testing.assert_array_equal(back[~nan], bits[~nan])
    assert np.isnan(back[nan].view(np.float16)).all()


def test_float32_values_round_to_float16_as_numpy_rounds_them(converters):
    """Random bit patterns cover every exponent: subnormal results, ties, overflow to infinity; NaN stays NaN."""
    to_half, _ = converters
    rng = np.random.default_rng(0)
    values = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    ties = np.array([1.0 + 2**-11, 1.0 + 3 * 2**-11, 65519.0, 65520.0, 2**-25, 3 * 2**-25, 2**-26], np.float32)
    values = np.concatenate([ties, -ties, values])
    bits = np.empty(len(values), np.uint16)
    to_half(values, bits)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = values.astype(np.float16).view(np.uint16)
    nan = np.isnan(values)
    np.testing.assert_array_equal(bits[~nan], expected[~nan])
    assert np.isnan(bits[nan].view(np.float16)).all()


def test_the_cpu_converts_a_vector_at_a_time():
    """The conversion the kernels use where the CPU has one is its vector instruction, not a value at a time."""
    machine = platform.machine()
    if machine not in VECTOR_CONVERSION or not half_floats.cpu_converts_half():
        pytest.skip(f"no known float16 conversion instruction on this {machine}")
    to_half, _ = CONVERTERS["cpu"]
    to_half(np.zeros(64, np.float32), np.zeros(64, np.uint16))
    assembly = "\n".join(to_half.inspect_asm().values())
    assert re.search(VECTOR_CONVERSION[machine], assembly)


@pytest.mark.parametrize(
    "machine, cpu_name, features, host_has_f16c, expected",
    [
        ("x86_64", None, None, True, True),
        ("x86_64", None, None, False, False),
        ("x86_64", "generic", None, True, False),  # NUMBA_CPU_NAME: what numba compiles for, not the host
        ("x86_64", "generic", "+sse2,+f16c", False, True),
        ("aarch64", None, None, False, True),
    ],
)
def test_the_cpus_conversion_is_used_only_where_numba_compiles_for_one(
    monkeypatch, machine, cpu_name, features, host_has_f16c, expected
):
    """Without one, LLVM's conversion calls a library function numba does not link: the process aborts."""
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(numba.config, "CPU_NAME", cpu_name)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", features)
    monkeypatch.setattr(half_floats.llvmlite.binding, "get_host_cpu_features", lambda: {"f16c": host_has_f16c})
    assert half_floats.cpu_converts_half() is expected
