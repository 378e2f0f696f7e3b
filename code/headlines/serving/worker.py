"""The gunicorn worker: a sync worker with a lookout that answers /ping while a long request runs.

SageMaker replaces an instance whose /ping takes more than 2 s. A sync worker takes a /ping only after the request
it is running, and after every connection queued before the /ping in the kernel's accept queue: with both workers
busy on 6 MB requests a /ping waited 5 s. gunicorn's threaded worker answers /ping on a thread of its own, but its
threads fight over the GIL: one-headline loads lost 18-40% of their requests a second (docs/performance.md).

So each worker stays a sync worker, one request at a time on its main thread, with a lookout thread beside it. Once
a request has run LOOKOUT_AFTER_SECONDS, the lookout takes the connections waiting in the accept queue (letting idle
workers take theirs first), answers each GET /ping itself and keeps the others, in order, for the main thread's next
requests. It reads a request line with MSG_PEEK, leaving it for whichever thread answers the request. Short requests
never wake it; a request that runs past the timeout still gets its worker killed, as any sync worker's.
"""

import collections
import errno
import os
import select
import socket
import threading
import time
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from .. import contract

# How long a request runs before the lookout starts: far below /ping's 2 s, far above a one-headline request.
LOOKOUT_AFTER_SECONDS = 0.2
# How long the lookout lets an idle worker take a new connection first: above an idle worker's wake-up time.
IDLE_WORKERS_FIRST_SECONDS = 0.002
# How long the lookout waits for a connection's request line before leaving it to the main thread.
REQUEST_LINE_SECONDS = 0.1
# Connections a worker keeps for its main thread: past workers x this many, new ones (a /ping too) wait in the
# kernel's accept queue. Multi Model Server's front end queues up to 100 jobs a model (job_queue_size).
CONNECTIONS_PER_WORKER = 64
PING_REQUEST_LINES = tuple(
    f"{method} {contract.PING_PATH}{end}".encode() for method in ("GET", "HEAD") for end in (" ", "?")
)
_PEEK_BYTES = max(map(len, PING_REQUEST_LINES))
_NOTHING_WAITING = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED)


def is_ping(client: socket.socket, seconds: float = REQUEST_LINE_SECONDS) -> bool:
    """Whether the connection's request is GET (or HEAD) /ping, read without taking its bytes off the socket."""
    deadline = time.monotonic() + seconds
    head = b""
    client.settimeout(seconds)
    try:
        while len(head) < _PEEK_BYTES and time.monotonic() < deadline:
            head = client.recv(_PEEK_BYTES, socket.MSG_PEEK)
            if not head or not any(line.startswith(head[: len(line)]) for line in PING_REQUEST_LINES):
                break  # closed, or not a ping whatever follows
            if len(head) < _PEEK_BYTES:
                time.sleep(0.001)
    except OSError:  # socket.timeout included: left to the main thread, which answers as a sync worker would
        return False
    finally:
        client.setblocking(True)
    return head.startswith(PING_REQUEST_LINES)


class InferenceWorker(SyncWorker):
    """gunicorn's sync worker and a /ping lookout (this module's docstring says why)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy_since: float | None = None  # time.monotonic() when the running request began; None when idle
        self.waiting: collections.deque[tuple[socket.socket, socket.socket, Any]] = collections.deque()

    def run(self) -> None:
        threading.Thread(target=self._look_out, name="ping-lookout", daemon=True).start()
        super().run()
        while self.waiting:  # taken off the accept queue for this worker: answered before it exits
            self._handle(*self.waiting.popleft())

    def accept(self, listener: socket.socket) -> None:
        """The next connection the lookout kept, else the accept queue's next (OSError EAGAIN when none)."""
        if self.waiting:
            self._handle(*self.waiting.popleft())
            return
        client, address = listener.accept()
        client.setblocking(True)
        util.close_on_exec(client)
        self._handle(listener, client, address)

    def _handle(self, listener: socket.socket, client: socket.socket, address: Any) -> None:
        self.busy_since = time.monotonic()
        try:
            self.handle(listener, client, address)
        finally:
            self.busy_since = None

    def _look_out(self) -> None:
        while self.alive:
            started = self.busy_since
            short = started is None or time.monotonic() - started < LOOKOUT_AFTER_SECONDS
            if short or len(self.waiting) >= CONNECTIONS_PER_WORKER:
                time.sleep(LOOKOUT_AFTER_SECONDS / 4)
            else:
                ready, _, _ = select.select(self.sockets, [], [], LOOKOUT_AFTER_SECONDS / 4)
                for listener in ready:
                    time.sleep(IDLE_WORKERS_FIRST_SECONDS)
                    self._take(listener)

    def _take(self, listener: socket.socket) -> None:
        """Answers a waiting /ping, or keeps any other connection for the main thread and wakes it."""
        try:
            client, address = listener.accept()
        except OSError as e:
            if e.errno in _NOTHING_WAITING:
                return  # an idle worker took it
            raise
        util.close_on_exec(client)
        if is_ping(client):
            self.handle(listener, client, address)
        else:
            self.waiting.append((listener, client, address))
            os.write(self.PIPE[1], b".")  # the main thread may be waiting in select for a new connection
