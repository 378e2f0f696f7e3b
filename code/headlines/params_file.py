"""Reading the weights file MXNet writes (`model-0000.params`: NDArray::Save's list format) with numpy alone, so
that the serving image needs no MXNet (its import alone took 2 s of a worker's start).

The arrays are memory-mapped read-only: a worker's start does not read the file, and every worker's copy of the
weights is the same page cache, counted once however many workers there are. Only dense arrays are read: export
(HybridBlock.export) writes every parameter dense. The layout, as MXNet 1.9 writes it (src/ndarray/ndarray.cc):

    uint64 0x112, uint64 0, uint64 count, count x array, uint64 count, count x (uint64 length, name bytes)
    array: uint32 magic, int32 storage type, uint32 ndim, ndim x int64 dims, int32 device type, int32 device id,
           int32 type flag, the data (C order, little-endian)
"""

import struct
from typing import Any

import numpy as np

from .errors import JobError

LIST_MAGIC = 0x112
# V2: what MXNet 1.x writes; V3: the same layout, written in numpy-shape mode.
ARRAY_MAGICS = (0xF993FAC9, 0xF993FACA)
DENSE = 0
# MXNet's type flags (mshadow) of the types a network's weights can have.
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64}
# Export names parameters "arg:<name>" (weights) and "aux:<name>" (running statistics).
NAME_PREFIXES = ("arg:", "aux:")


class _Reader:
    def __init__(self, path: str, data: np.memmap) -> None:
        self.path, self.data, self.offset = path, data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise JobError(f"{self.path} ends at byte {len(self.data)}, inside its header: the file is truncated.")
        # An ndarray is a buffer; numpy 1.23's type stubs predate the Buffer protocol (PEP 688) that says so.
        values = struct.unpack_from(fmt, self.data, self.offset)  # type: ignore[arg-type]
        self.offset += size
        return values

    def array(self) -> np.ndarray:
        magic, storage = self.take("<Ii")
        if magic not in ARRAY_MAGICS:
            raise JobError(f"{self.path} is not an MXNet parameters file (array magic {magic:#x}).")
        if storage != DENSE:
            raise JobError(f"{self.path} holds a sparse array (storage type {storage}); export writes dense ones.")
        (ndim,) = self.take("<I")
        shape = self.take(f"<{ndim}q")
        _, _, type_flag = self.take("<iii")
        if type_flag not in DTYPES:
            raise JobError(f"{self.path} holds an array of MXNet type {type_flag}, which this reader does not know.")
        dtype = np.dtype(DTYPES[type_flag]).newbyteorder("<")
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.offset + size > len(self.data):
            raise JobError(f"{self.path} is truncated: an array of shape {shape} runs past its end.")
        array: np.ndarray = np.ndarray(shape, dtype=dtype, buffer=self.data, offset=self.offset)
        self.offset += size
        return array

    def name(self) -> str:
        (length,) = self.take("<Q")
        if self.offset + length > len(self.data):
            raise JobError(f"{self.path} is truncated inside its parameter names.")
        name = bytes(self.data[self.offset : self.offset + length]).decode("utf-8")
        self.offset += length
        return name


def read_params(path: str, name: str | None = None) -> dict[str, np.ndarray]:
    """{parameter name: read-only array} of an MXNet parameters file, names without export's "arg:"/"aux:". Errors
    call the file `name` (a copy's original), else path."""
    name = name or path
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        raise JobError(f"Cannot read the parameters file {name}: {e}") from e
    reader = _Reader(name, data)
    magic, _, count = reader.take("<QQQ")
    if magic != LIST_MAGIC:
        raise JobError(f"{name} is not an MXNet parameters file (magic {magic:#x}, expected {LIST_MAGIC:#x}).")
    arrays = [reader.array() for _ in range(count)]
    (names,) = reader.take("<Q")
    if names != count:
        raise JobError(f"{name} names {names} parameters but holds {count} arrays.")
    return {_without_prefix(reader.name()): array for array in arrays}


def _without_prefix(name: str) -> str:
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
