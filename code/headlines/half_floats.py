"""float16 in the compiled kernels: numba has no float16 type on CPU, so a kernel reads and writes float16 arrays as
their uint16 bits (`array.view(np.uint16)`) and converts each value with LLVM's own conversion, which the CPU does
in one instruction for a whole vector (F16C's vcvtps2ph on x86-64, fcvt on arm64). numpy converts float16 a value at
a time: 0.13 s for the 21 M values of the UCI classifier's embedding, against 0.006 s here (docs/performance.md).
Both round to the nearest even, as IEEE 754 says, so they give the same bits."""

from typing import Any

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def half_bits(typing_context: Any, value: Any) -> tuple[Any, Any]:
    """The bits of a float32 value rounded to float16 (LLVM's fptrunc: to the nearest even; inf and NaN kept)."""
    signature = types.uint16(types.float32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return signature, codegen


@intrinsic
def from_half_bits(typing_context: Any, bits: Any) -> tuple[Any, Any]:
    """The float32 value of float16 bits (exact: every float16 is a float32)."""
    signature = types.float32(types.uint16)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return signature, codegen
