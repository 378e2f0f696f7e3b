"""The gunicorn worker: a sync worker with a lookout that answers /ping while a long request runs.

SageMaker replaces an instance whose /ping takes more than 2 s. A sync worker takes a /ping only after the request
it is running, and after every connection queued before the /ping in the kernel's accept queue: with both workers
busy on 6 MB requests a /ping waited 5 s. gunicorn's threaded worker answers /ping on a thread of its own, but its
threads fight over the GIL: one-headline loads lost 18-40% of their requests a second (docs/performance.md).

So each worker stays a sync worker, one request at a time on its main thread, with a lookout thread beside it. Once
a request has run LOOKOUT_AFTER_SECONDS, the lookout takes the connections waiting in the accept queue (letting idle
workers take theirs first) and reads each one's request line with MSG_PEEK, leaving it for whichever thread answers
the request: it answers GET /ping itself and keeps the others, in order, for the main thread's next requests. A
connection that has sent too little to tell stays with the lookout until it has (a busy client may connect well before
it sends), and is closed if it has not within the server's timeout. Short requests never wake the lookout; a
request that runs past the timeout still gets its worker killed, as any sync worker's.
"""

import collections
import dataclasses
import errno
import math
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
# How long the lookout lets an idle worker take a new connection first: above an idle worker's usual wake-up time (a
# slower one's connection waits behind this worker's request).
IDLE_WORKERS_FIRST_SECONDS = 0.002
# How long the lookout pauses when a request has come in part only: what such a /ping waits longer at most.
PART_OF_A_REQUEST_PAUSE_SECONDS = 0.005
# At exit, how long the lookout's connections may still wait for their requests before they are closed unanswered.
SILENT_AT_EXIT_SECONDS = 1.0
# The socket timeout of each send or receive of a /ping the lookout answers, its whole head having come: only a
# client that does not read its answer meets it.
PING_ANSWER_SECONDS = 1.0
# Connections a worker keeps for its main thread: past workers x this many, new ones (a /ping too) wait in the
# kernel's accept queue. Multi Model Server's front end queues up to 100 jobs a model (job_queue_size).
CONNECTIONS_PER_WORKER = 64
# Connections the lookout waits on that have sent too little to tell: past this many it closes the oldest to take a
# new one, so that silent connections cannot keep a /ping in the accept queue; but only one silent this long, so
# that a burst of late requests is not lost.
UNREAD_PER_WORKER = 64
SILENT_BEFORE_CLOSED_FOR_ROOM_SECONDS = 1.0
# A /ping whose request line and headers do not come within this many bytes is left to the main thread.
PING_HEAD_BYTES = 8192
PING_REQUEST_LINES = tuple(
    f"{method} {contract.PING_PATH}{end}".encode() for method in ("GET", "HEAD") for end in (" ", "?")
)
_END_OF_HEAD = b"\r\n\r\n"
_NOTHING_WAITING = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED)
_PEER_CLOSED = select.POLLRDHUP | select.POLLHUP | select.POLLERR


def ping_or_not(head: bytes, more_to_come: bool = True) -> bool | None:
    """True for GET (or HEAD) /ping whose request line and headers have all come, False for any other request (or
    none: b""), None while more bytes could decide."""
    if head.startswith(PING_REQUEST_LINES):
        if _END_OF_HEAD in head:
            return True
    elif not head or not any(line.startswith(head) for line in PING_REQUEST_LINES):
        return False
    return None if more_to_come and len(head) < PING_HEAD_BYTES else False


def peek_ping(client: socket.socket, peer_closed: bool = False) -> bool | None:
    """ping_or_not for the bytes waiting on the connection, read without waiting or taking them off the socket."""
    try:
        head = client.recv(PING_HEAD_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False if peer_closed else None
    except OSError:  # reset: left to the main thread, which fails it as a sync worker would
        return False
    return ping_or_not(head, more_to_come=not peer_closed)


@dataclasses.dataclass(frozen=True)
class Connection:
    """A connection off the accept queue, and when it was taken."""

    listener: socket.socket
    client: socket.socket
    address: Any
    accepted_at: float


class InferenceWorker(SyncWorker):
    """gunicorn's sync worker and a /ping lookout (this module's docstring says why)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy_since: float | None = None  # time.monotonic() when the running request began; None when idle
        self.waiting: collections.deque[Connection] = collections.deque()  # for the main thread, in order
        self.unread: list[Connection] = []  # the lookout's own until their requests come
        self.lookout = threading.Thread(target=self._look_out, name="ping-lookout", daemon=True)

    def run(self) -> None:
        self.lookout.start()
        try:
            super().run()
        except Exception:  # noqa: BLE001 - a failed accept (EMFILE): the connections kept go first, then the error
            self._finish()
            raise
        self._finish()

    def _finish(self) -> None:
        self.alive = False  # run also returns with alive set, once the master has gone: the lookout stops either way
        self.lookout.join()
        self._finish_kept()

    def _finish_kept(self) -> None:
        """Answers what the lookout took off the accept queue for this worker before it exits, waiting a little for
        requests still to come (gunicorn drops the connections left in the accept queue)."""
        silent_until = time.monotonic() + SILENT_AT_EXIT_SECONDS
        while self.waiting or self.unread:
            while self.waiting:
                self.notify()  # the arbiter still kills a worker silent past the timeout while it reloads
                self._handle(self.waiting.popleft())
            if self.unread:
                time.sleep(PART_OF_A_REQUEST_PAUSE_SECONDS)
                self._sort_unread(self._poll([], 0)[1], silent_until)

    def accept(self, listener: socket.socket) -> None:
        """The next connection the lookout kept, else the accept queue's next (OSError EAGAIN when none)."""
        self._handle(self.waiting.popleft() if self.waiting else self._accepted(listener))

    @staticmethod
    def _accepted(listener: socket.socket) -> Connection:
        """The accept queue's next connection, blocking as gunicorn's sync worker keeps them (OSError EAGAIN when
        none)."""
        client, address = listener.accept()
        client.setblocking(True)
        util.close_on_exec(client)
        return Connection(listener, client, address, time.monotonic())

    def _handle(self, connection: Connection) -> None:
        self.busy_since = time.monotonic()
        try:
            self.handle(connection.listener, connection.client, connection.address)
        finally:
            self.busy_since = None

    def _look_out(self) -> None:
        while self.alive:
            try:
                self._look()
            except Exception:  # noqa: BLE001 - a lookout that died would leave every /ping behind long requests
                self.log.exception("the /ping lookout failed a look; it goes on")
                time.sleep(LOOKOUT_AFTER_SECONDS)

    def _look(self) -> None:
        """Takes new connections off the accept queue while a long request runs, then sorts the unread ones."""
        started = self.busy_since
        long_request = started is not None and time.monotonic() - started >= LOOKOUT_AFTER_SECONDS
        listeners = self.sockets if long_request and self._room() else []
        if not listeners and not self.unread:
            time.sleep(LOOKOUT_AFTER_SECONDS / 4)
            return
        ready, events = self._poll(listeners, LOOKOUT_AFTER_SECONDS / 4)
        for listener in ready:
            time.sleep(IDLE_WORKERS_FIRST_SECONDS)
            self._take(listener)
        self._sort_unread(events)
        if any(events.get(connection, 0) & select.POLLIN for connection in self.unread):
            time.sleep(PART_OF_A_REQUEST_PAUSE_SECONDS)  # poll would answer again at once until the rest comes

    def _room(self) -> bool:
        """Whether the lookout may take another connection: room among the kept ones, and among the unread ones or
        an old silent one to close for it."""
        if len(self.waiting) >= CONNECTIONS_PER_WORKER:
            return False
        silent_since = time.monotonic() - SILENT_BEFORE_CLOSED_FOR_ROOM_SECONDS
        return len(self.unread) < UNREAD_PER_WORKER or self.unread[0].accepted_at < silent_since

    def _poll(
        self, listeners: list[socket.socket], seconds: float
    ) -> tuple[list[socket.socket], dict[Connection, int]]:
        """The listeners with a connection waiting and the unread connections' poll events, within seconds (events by
        connection, not by descriptor: a closed one's number is soon another's)."""
        poller = select.poll()
        for listener in listeners:
            poller.register(listener, select.POLLIN)
        for connection in self.unread:
            poller.register(connection.client, select.POLLIN | select.POLLRDHUP)
        events = dict(poller.poll(seconds * 1000))
        ready = [listener for listener in listeners if listener.fileno() in events]
        return ready, {connection: events.get(connection.client.fileno(), 0) for connection in self.unread}

    def _take(self, listener: socket.socket) -> None:
        """Takes a waiting connection off the accept queue, for _sort_unread to answer or keep."""
        try:
            connection = self._accepted(listener)
        except OSError as e:
            if e.errno in _NOTHING_WAITING:
                return  # an idle worker took it
            raise
        if len(self.unread) >= UNREAD_PER_WORKER:
            util.close(self.unread.pop(0).client)
        self.unread.append(connection)

    def _sort_unread(self, events: dict[Connection, int], silent_until: float = math.inf) -> None:
        """Answers each /ping whose head has come, keeps other requests for the main thread, closes those whose request
        has not come within the timeout (which would have cost a sync worker its life) or by silent_until, and waits
        for the rest: a busy client may connect well before it sends (giving up on a request line after 0.1 s left a
        CI run's /ping behind a batch transform's minutes-long requests)."""
        for connection in list(self.unread):
            peer_closed = bool(events.get(connection, 0) & _PEER_CLOSED)
            ping = peek_ping(connection.client, peer_closed)
            silent = time.monotonic() > min(connection.accepted_at + self.cfg.timeout, silent_until)
            if ping is None and not silent:
                continue
            self.unread.remove(connection)  # before anything that could fail: never sorted twice
            if ping:
                connection.client.settimeout(PING_ANSWER_SECONDS)
                self.handle(connection.listener, connection.client, connection.address)
            elif ping is False:
                self._keep(connection)
            else:
                util.close(connection.client)

    def _keep(self, connection: Connection) -> None:
        """Queues a connection for the main thread, and wakes it if it may be waiting for a new connection (a busy one
        looks at the queue before it waits: a byte a connection would fill gunicorn's pipe under constant load)."""
        self.waiting.append(connection)
        if self.busy_since is None:
            try:
                os.write(self.PIPE[1], b".")
            except BlockingIOError:
                pass  # the pipe is full of wake-ups already
