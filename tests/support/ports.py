"""Ports for parameter-server clusters that tests and benchmarks start on this machine."""

import socket


def free_scheduler_port() -> int:
    """A free port whose next one is free too: the scheduler's port and the liveness port after it
    (runtime/distributed.py)."""
    while True:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("", port + 1))
                return port
            except OSError:
                continue
