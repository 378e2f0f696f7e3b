"""Software prefetch for the compiled kernels: ask the CPU for a row that a loop reads a few iterations later, so
that the rows' memory latencies overlap instead of following one another. Nothing else in numba (or numpy) issues
a prefetch instruction; a plain load of the row ahead does not help, since a load that misses the cache holds the
loop until it returns, where a prefetch does not."""

from typing import Any

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .kernel_options import JIT_OPTIONS

_LINE_BYTES = 64  # a cache line on the x86-64 and arm64 CPUs the images run on
_FLOAT32_PER_LINE = _LINE_BYTES // 4


@intrinsic
def prefetch(typing_context: Any, array: Any, row: Any, column: Any) -> tuple[Any, Any]:
    """Prefetches the cache line of array[row, column] (a 2-D array) for reading, into every cache level
    (llvm.prefetch: it never faults, and changes nothing but timing)."""
    signature = types.void(array, row, column)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0])
        row_stride, column_stride = cgutils.unpack_tuple(builder, data.strides)
        row_index = context.cast(builder, args[1], sig.args[1], types.int64)
        column_index = context.cast(builder, args[2], sig.args[2], types.int64)
        offset = builder.add(builder.mul(row_index, row_stride), builder.mul(column_index, column_stride))
        byte_pointer = ir.IntType(8).as_pointer()
        address = builder.gep(builder.bitcast(data.data, byte_pointer), [offset])
        int32 = ir.IntType(32)
        # The name LLVM 14 (llvmlite 0.42, numba 0.59) gives the intrinsic for an i8* address.
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]), "llvm.prefetch.p0i8"
        )
        read, keep_in_every_cache, data_cache = (ir.Constant(int32, value) for value in (0, 3, 1))
        builder.call(function, [address, read, keep_in_every_cache, data_cache])
        return context.get_dummy_value()

    return signature, codegen


@numba.njit(**JIT_OPTIONS)
def prefetch_row(array: Any, row: int) -> None:
    """Prefetches every cache line of a row of a 2-D float32 array (C order)."""
    for column in range(0, array.shape[1], _FLOAT32_PER_LINE):
        prefetch(array, row, column)
    prefetch(array, row, array.shape[1] - 1)  # a row that does not start on a line ends on one more
