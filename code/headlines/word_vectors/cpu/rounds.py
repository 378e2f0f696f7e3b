"""How an epoch of the CPU engine is cut into rounds: pure functions of the encoded corpus, so every host of a
job, and a job resumed from a checkpoint, cuts it the same way.

An epoch is `rounds` rounds on every host, the same number everywhere (the hosts synchronise after each round).
Each host trains its own contiguous share of the lines; each thread of a host its own contiguous part of that
share, one chunk per round. Chunks hold whole lines (a context window never crosses a line).
"""

from typing import Any

import numpy as np

from ...runtime.schedule import linear_decay

# Tokens per host and round: about half a second of training on two cores, short enough for SIGTERM and
# progress lines to wait for, long enough that starting the threads costs nothing.
ROUND_TOKENS = 1 << 19
# With several hosts a round ends with the hosts adding up their changes, and each host's change must stay small:
# on WikiText-2, two hosts synchronising every 2^19 tokens ended with rho 0.13 against one host's 0.24, every 2^15
# at 0.21, every 2^14 at 0.226 (three runs each; docs/performance.md).
HOST_ROUND_TOKENS = 1 << 14


def rounds_per_epoch(total_tokens: int, hosts: int, round_tokens: int | None = None) -> int:
    """The same on every host of a job: each host trains about round_tokens of its share a round."""
    round_tokens = round_tokens or (ROUND_TOKENS if hosts == 1 else HOST_ROUND_TOKENS)
    return max(1, -(-total_tokens // (hosts * round_tokens)))


def chunk_lines(line_starts: np.ndarray, host: int, hosts: int, threads: int, rounds: int) -> np.ndarray:
    """(threads, rounds + 1) line numbers: thread t trains lines [b[t, r], b[t, r + 1]) in round r. Shares and
    chunks split tokens, not lines, evenly (up to a line)."""
    total = line_starts[-1]

    def line_at(token: Any) -> Any:  # one token offset or an array of them
        return np.searchsorted(line_starts, token, side="left")

    host_first, host_last = line_at(total * host // hosts), line_at(total * (host + 1) // hosts)
    first_token, last_token = line_starts[host_first], line_starts[host_last]
    cuts = first_token + (last_token - first_token) * np.arange(threads * rounds + 1) // (threads * rounds)
    lines = np.minimum(line_at(cuts), host_last)
    lines[0], lines[-1] = host_first, host_last
    bounds = np.empty((threads, rounds + 1), np.int64)
    for t in range(threads):
        bounds[t] = lines[t * rounds : (t + 1) * rounds + 1]
    return bounds


def learning_rates(
    initial_rate: float, epoch: int, epochs: int, done_tokens: int, chunk_tokens: int, thread_tokens: int
) -> tuple[float, float]:
    """fastText's schedule, falling linearly from initial_rate to 0 over all epochs: the rates at the start and
    end of a chunk, from how far its thread has come (done_tokens of thread_tokens in this epoch)."""
    whole = max(1, thread_tokens) * epochs
    before = epoch * thread_tokens + done_tokens
    return linear_decay(initial_rate, before, whole), linear_decay(initial_rate, before + chunk_tokens, whole)
