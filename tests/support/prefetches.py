"""How many prefetch instructions a compiled function holds, read from its assembly (x86-64 and arm64)."""

import platform
import re

import pytest

# What llvm.prefetch (read, every cache level) becomes on the CPUs the images run on.
PREFETCH_INSTRUCTION = {"x86_64": r"\bprefetcht0\b", "aarch64": r"\bprfm\s+pldl1keep\b"}


def skip_without_known_instruction() -> None:
    """Skips a test on a CPU whose prefetch instruction this module does not know."""
    if platform.machine() not in PREFETCH_INSTRUCTION:
        pytest.skip(f"no known prefetch instruction on {platform.machine()}")


def prefetches_in(dispatcher) -> int:
    """The prefetch instructions of a function compiled here, its callees included (not one loaded from numba's
    cache, which keeps no assembly: compile with cache=False)."""
    assembly = "\n".join(dispatcher.inspect_asm().values())
    return len(re.findall(PREFETCH_INSTRUCTION[platform.machine()], assembly))
