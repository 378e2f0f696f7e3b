"""The GPU code a CUDA library carries: the architectures of the machine code (ELF/SASS) and PTX in its `.nv_fatbin`
section, read from the fat binary's headers.

NVIDIA's `cuobjdump --list-elf/--list-ptx` says the same for libmxnet.so (tests/container/test_gpu_image.py checks
that), but the only cuobjdump on PyPI (CUDA 13) stops with "Support for 'sm_35' has been removed" at the first
Kepler entry, and cuBLAS, cuFFT, cuRAND, cuSOLVER and NCCL 11.x all carry some. The header layout is the one
cuobjdump reads: a fat binary header (magic 0xBA55ED50, version, header size, size of its entries), then entries
(kind 1 PTX or 2 ELF, header size, payload size, ..., the sm architecture at offset 28).

Standard library only: the test runs it with the image's own Python (`python3 cuda_fatbin.py FILE...` prints JSON:
{file: {"sass": [[major, minor], ...], "ptx": [...]}}).
"""

import json
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
FATBIN_SECTION = b".nv_fatbin"
KINDS = {1: "ptx", 2: "sass"}
ENTRY_ARCH_OFFSET = 28


def _section(data, name):
    """(offset, size) of the ELF64 section `name`, or None."""
    (section_headers,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)

    def header(index):  # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", data, section_headers + index * entry_size)

    names = header(names_index)[4]
    for index in range(count):
        name_offset, _, _, _, offset, size = header(index)
        start = names + name_offset
        if data[start : data.index(b"\0", start)] == name:
            return offset, size
    return None


def architectures(path):
    """{"sass": sorted [(major, minor)], "ptx": ...} of the CUDA code in the shared library at `path`."""
    with open(path, "rb") as f:
        data = f.read()
    found = {"sass": set(), "ptx": set()}
    section = _section(data, FATBIN_SECTION)
    if section is not None:
        position, end = section[0], section[0] + section[1]
        while position + 16 <= end:
            magic, _, header_size, entries_size = struct.unpack_from("<IHHQ", data, position)
            if magic != FATBIN_MAGIC:  # padding between fat binaries
                position += 8
                continue
            entry, entries_end = position + header_size, position + header_size + entries_size
            while entry < entries_end:
                kind, _, entry_header_size, payload_size = struct.unpack_from("<HHIQ", data, entry)
                (arch,) = struct.unpack_from("<I", data, entry + ENTRY_ARCH_OFFSET)
                if kind in KINDS:
                    found[KINDS[kind]].add((arch // 10, arch % 10))
                entry += entry_header_size + payload_size
            position = entries_end
    return {kind: sorted(archs) for kind, archs in found.items()}


if __name__ == "__main__":
    print(json.dumps({path: architectures(path) for path in sys.argv[1:]}))
