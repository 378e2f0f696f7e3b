"""float16 in the compiled kernels: numba has no float16 type on CPU, so a kernel reads and writes float16 arrays as
their uint16 bits (`array.view(np.uint16)`) and converts each value with half_bits and from_half_bits. Where the CPU
converts float16 itself (F16C on x86-64, every arm64), they are LLVM's own conversions, one instruction for a whole
vector: numpy converts a value at a time, 0.13 s for the 21 M values of the UCI classifier's embedding against
0.006 s here (docs/performance.md). Elsewhere LLVM would call a library function that numba does not link, and the
process would abort, so they are integer arithmetic instead (numpy's own algorithm). Both round to the nearest
even, as IEEE 754 says, and give numpy's bits."""

import platform
from typing import Any

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .kernel_options import JIT_OPTIONS


def cpu_converts_half() -> bool:
    """Whether the CPU numba compiles for converts float16 itself: every arm64, an x86-64 with F16C (a CPU named
    by NUMBA_CPU_NAME has only NUMBA_CPU_FEATURES)."""
    if platform.machine() in ("aarch64", "arm64"):
        return True
    if numba.config.CPU_NAME:
        return "+f16c" in (numba.config.CPU_FEATURES or "").split(",")
    return bool(llvmlite.binding.get_host_cpu_features().get("f16c", False))


@intrinsic
def _llvm_half_bits(typing_context: Any, value: Any) -> tuple[Any, Any]:
    """LLVM's fptrunc of a float32 to float16, as bits."""
    signature = types.uint16(types.float32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return signature, codegen


@intrinsic
def _llvm_from_half_bits(typing_context: Any, bits: Any) -> tuple[Any, Any]:
    """LLVM's fpext of float16 bits to float32."""
    signature = types.float32(types.uint16)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return signature, codegen


@intrinsic
def _float_bits(typing_context: Any, value: Any) -> tuple[Any, Any]:
    """A float32's bits as a uint32."""
    signature = types.uint32(types.float32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(32))

    return signature, codegen


@intrinsic
def _bits_float(typing_context: Any, bits: Any) -> tuple[Any, Any]:
    """The float32 whose bits a uint32 holds."""
    signature = types.float32(types.uint32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.FloatType())

    return signature, codegen


@numba.njit(**JIT_OPTIONS)
def _soft_half_bits(value: Any) -> Any:
    """numpy's npy_floatbits_to_halfbits: round to the nearest even, overflow to infinity, NaN kept a NaN."""
    f = np.uint32(_float_bits(value))
    sign, exponent, significand = (f & 0x80000000) >> 16, f & 0x7F800000, f & 0x007FFFFF
    if exponent >= 0x47800000:  # too large for float16, infinite, or NaN
        if exponent == 0x7F800000 and significand != 0:
            payload = significand >> 13  # a NaN whose payload lies below float16's keeps a bit set
            return np.uint16(sign + 0x7C00 + (payload if payload else 1))
        return np.uint16(sign + 0x7C00)
    if exponent <= 0x38000000:  # a subnormal float16, or 0
        if exponent < 0x33000000:
            return np.uint16(sign)
        shifted = (0x00800000 + significand) >> (113 - (exponent >> 23))
        if (shifted & 0x3FFF) != 0x1000 or (f & 0x7FF) != 0:
            shifted += 0x1000
        return np.uint16(sign + (shifted >> 13))
    if (significand & 0x3FFF) != 0x1000:
        significand += 0x1000
    return np.uint16(sign + ((exponent - 0x38000000) >> 13) + (significand >> 13))


@numba.njit(**JIT_OPTIONS)
def _soft_from_half_bits(bits: Any) -> Any:
    """numpy's npy_halfbits_to_floatbits: exact."""
    h = np.uint32(bits)
    sign, exponent, significand = (h & 0x8000) << 16, h & 0x7C00, h & 0x03FF
    if exponent == 0x7C00:  # infinite or NaN
        return _bits_float(np.uint32(sign + 0x7F800000 + (significand << 13)))
    if exponent != 0:
        return _bits_float(np.uint32(sign + (((h & 0x7FFF) + 0x1C000) << 13)))
    if significand == 0:
        return _bits_float(np.uint32(sign))
    shift = 0
    significand <<= 1
    while (significand & 0x0400) == 0:
        significand <<= 1
        shift += 1
    return _bits_float(np.uint32(sign + ((127 - 15 - shift) << 23) + ((significand & 0x03FF) << 13)))


# Chosen once, when the kernels that call them compile (numba's cache is kept per CPU model and features).
HARDWARE_CONVERSION = cpu_converts_half()
half_bits = _llvm_half_bits if HARDWARE_CONVERSION else _soft_half_bits
from_half_bits = _llvm_from_half_bits if HARDWARE_CONVERSION else _soft_from_half_bits
