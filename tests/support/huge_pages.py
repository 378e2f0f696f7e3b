"""Whether an array's memory is on transparent huge pages, read from /proc/self/smaps (Linux)."""

import pathlib

import numpy as np
import pytest

SETTING = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")


def skip_without_huge_pages() -> None:
    """Skips a test where Linux gives no process transparent huge pages (or is not Linux)."""
    if not SETTING.exists() or "[never]" in SETTING.read_text():
        pytest.skip("transparent huge pages are off on this machine (or it is not Linux)")


def huge_page_kb(array: np.ndarray) -> int:
    """AnonHugePages of the mappings that hold the array's memory (which must have been written): madvise splits
    an allocation's mapping where its huge pages' 2 MB alignment starts."""
    first_byte, kb, inside = array.ctypes.data, 0, False
    for line in pathlib.Path("/proc/self/smaps").read_text().splitlines():
        first = line.split()[0]
        if "-" in first and ":" not in first:  # a mapping's header: start-end perms ...
            start, end = (int(part, 16) for part in first.split("-"))
            inside = start < first_byte + array.nbytes and first_byte < end
        elif inside and first == "AnonHugePages:":
            kb += int(line.split()[1])
    return kb
