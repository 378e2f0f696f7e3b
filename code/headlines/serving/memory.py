"""The memory this container can still use, and giving freed memory back to the operating system. Standard library
only (a container test runs it inside the image).

The container's memory cgroup bounds it (`docker run --memory`, or the instance on SageMaker): its limit less what it
uses, the page cache left out (cgroup v2: memory.max, memory.current, memory.stat; v1: memory.limit_in_bytes,
memory.usage_in_bytes, memory.stat). The machine's MemAvailable (/proc/meminfo) bounds it too, and is all there is
without a cgroup limit. Both count the page cache as free, for two reasons: the kernel drops cache that nothing maps
before it kills a process, and the cache a process maps (a classifier's weights) is charged to whichever cgroup read
it first, the container's or not (the files SageMaker or a test just wrote are cached already), so a caller counts
what it maps itself (multi_model.py counts each loaded model's weights). The cgroup's files are read as
environment.py reads the CPU cgroup's quota (read_system_file).
"""

import ctypes
import errno
import logging
import os

from ..environment import CGROUP_ROOT, read_system_file

logger = logging.getLogger(__name__)

MEMINFO = "/proc/meminfo"
# (limit, usage, statistics) per cgroup version, below CGROUP_ROOT.
CGROUP_FILES = (
    ("memory.max", "memory.current", "memory.stat"),  # v2
    ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat"),  # v1
)
# The page cache in memory.stat: v2's names, and v1's totals over the cgroup and its children.
CACHE_KEYS = {"v2": ("active_file", "inactive_file"), "v1": ("total_active_file", "total_inactive_file")}


def available_bytes(cgroup_root: str = CGROUP_ROOT, meminfo: str = MEMINFO) -> int:
    """Bytes the container can still allocate: the least of its cgroup's headroom and the machine's MemAvailable."""
    machine = _meminfo_bytes(meminfo)
    headroom = _cgroup_headroom(cgroup_root, machine["MemTotal"])
    return machine["MemAvailable"] if headroom is None else min(machine["MemAvailable"], headroom)


def _cgroup_headroom(cgroup_root: str, mem_total: int) -> int | None:
    """The memory cgroup's limit less its usage without page cache, or None without a limit below the machine's."""
    for limit_file, usage_file, stat_file in CGROUP_FILES:
        limit = read_system_file(os.path.join(cgroup_root, limit_file))
        if limit is None:
            continue
        if limit == "max" or int(limit) >= mem_total:  # v1 writes "no limit" as a huge number
            return None
        usage = int(_read_required(os.path.join(cgroup_root, usage_file)))
        return int(limit) - (usage - _page_cache(os.path.join(cgroup_root, stat_file)))
    return None


def _page_cache(stat_file: str) -> int:
    values = dict(line.split() for line in (read_system_file(stat_file) or "").splitlines())
    return sum(int(values.get(key, 0)) for key in CACHE_KEYS["v1" if "total_active_file" in values else "v2"])


def _meminfo_bytes(meminfo: str) -> dict[str, int]:
    """MemTotal and MemAvailable, in bytes."""
    values: dict[str, int] = {}
    for line in _read_required(meminfo).splitlines():
        key, value = line.split(":", 1)
        if key in ("MemTotal", "MemAvailable"):
            values[key] = int(value.split()[0]) * 1024
    return values


def _read_required(path: str) -> str:
    """read_system_file() of a file the kernel always provides (/proc/meminfo, a limited cgroup's usage)."""
    text = read_system_file(path)
    if text is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    return text


def return_freed_memory() -> None:
    """Ask glibc to hand the heap's free pages back to the kernel. Without it, the memory of an unloaded model stays
    with the process: MXNet's arrays come from the heap once glibc has raised its mmap threshold (measured: a
    31 MB model's 200 MB of three copies stayed in use after they were dropped, until malloc_trim)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        logger.debug("malloc_trim is not available")
