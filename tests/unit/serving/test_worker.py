"""The serving workers: /ping answered at once while every worker runs a long request, also when it comes late or
beside connections that say nothing, every request kept by the lookout answered (also after SIGTERM), silent
connections closed instead of holding anything, a request past the timeout still gets its worker replaced. The server
is gunicorn with the serving image's options around a WSGI app whose requests take as long as they ask
(tests/support/slow_server.py), so the timings do not hang on this machine's speed."""

import collections
import concurrent.futures
import math
import os
import pathlib
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from headlines.serving.worker import (
    LOOKOUT_AFTER_SECONDS,
    PING_HEAD_BYTES,
    SILENT_BEFORE_CLOSED_FOR_ROOM_SECONDS,
    UNREAD_PER_WORKER,
    InferenceWorker,
    peek_ping,
    ping_or_not,
)

PING_LIMIT_SECONDS = 1  # the goal; SageMaker's own limit is 2 s
LATE_SECONDS = 0.5  # a request this long after its connection: 5 times what the lookout once waited for it


@pytest.mark.parametrize(
    "head, ping",
    [
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"HEAD /ping HTTP/1.1\r\n\r\n", True),
        (b"GET /ping?probe=1 HTTP/1.1\r\n\r\n", True),
        (b"GET /pings HTTP/1.1\r\n\r\n", False),
        (b"POST /ping HTTP/1.1\r\n\r\n", False),
        (b"POST /invocations HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", False),
        (b"", False),  # closed before it sent anything
        (b"GE", None),  # the rest decides
        (b"GET /ping", None),  # "GET /ping " or "GET /ping?" yet
        (b"GET /pin\r", False),
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n", None),  # answered once its headers have all come
        (b"GET /ping HTTP/1.1\r\nX: " + b"x" * PING_HEAD_BYTES, False),  # headers too long for the lookout
    ],
)
def test_ping_or_not_decides_from_as_few_bytes_as_it_can(head, ping):
    assert ping_or_not(head) is ping


@pytest.mark.parametrize("head", [b"GE", b"GET /ping HTTP/1.1\r\n"])
def test_a_part_of_a_ping_whose_client_has_closed_is_not_a_ping(head):
    assert ping_or_not(head, more_to_come=False) is False


def test_peek_ping_waits_for_nothing_and_leaves_the_bytes_on_the_socket():
    ping = b"GET /ping HTTP/1.1\r\n\r\n"
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        assert peek_ping(ours) is None  # nothing sent yet
        theirs.sendall(ping[:5])
        assert peek_ping(ours) is None
        theirs.sendall(ping[5:])
        assert peek_ping(ours) is True
        assert time.monotonic() - started < 0.1
        ours.settimeout(1)
        assert ours.recv(len(ping) + 10) == ping  # still there for whoever answers the request
        theirs.close()
        assert peek_ping(ours) is False


def _keeping_worker(busy_since):
    """A worker with only what _keep uses (a whole one needs a live master), its wake-up pipe's read end and write
    end."""
    worker = InferenceWorker.__new__(InferenceWorker)
    worker.waiting = collections.deque()
    worker.busy_since = busy_since
    worker.PIPE = list(os.pipe())
    for end in worker.PIPE:
        os.set_blocking(end, False)
    return worker


def test_a_connection_kept_for_a_busy_main_thread_writes_no_wake_up():
    """A busy main thread looks at the queue before it waits: a byte a kept connection, which it would read one a
    wait, filled gunicorn's pipe (64 KiB) under constant load."""
    worker = _keeping_worker(busy_since=time.monotonic())
    try:
        worker._keep("connection")
        assert list(worker.waiting) == ["connection"]
        with pytest.raises(BlockingIOError):
            os.read(worker.PIPE[0], 1)
    finally:
        for end in worker.PIPE:
            os.close(end)


def test_a_full_wake_up_pipe_does_not_stop_the_lookout_keeping_a_connection():
    worker = _keeping_worker(busy_since=None)
    try:
        with pytest.raises(BlockingIOError):
            while True:
                os.write(worker.PIPE[1], b"." * 4096)
        worker._keep("connection")
        assert list(worker.waiting) == ["connection"]
    finally:
        for end in worker.PIPE:
            os.close(end)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def slow_server():
    started = []

    def start(timeout=60):
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slow_server", str(port), str(timeout)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/ping", timeout=2).status_code == 200:
                    return process, url
            except requests.ConnectionError:
                time.sleep(0.1)
        process.kill()
        raise AssertionError(process.communicate()[0][-3000:])

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()  # the master stops its workers; killed, it would leave them holding the pipe
        process.communicate(timeout=60)


def _slow_requests(pool, url, count, seconds):
    return [
        pool.submit(requests.post, f"{url}/slow?seconds={seconds}", data=b"x" * 1000, timeout=60) for _ in range(count)
    ]


def _ping_seconds(url):
    """How long GET /ping took to answer 200 (infinity if it did not within 5 s)."""
    started = time.monotonic()
    try:
        status = requests.get(url + "/ping", timeout=5).status_code
    except requests.RequestException:
        return math.inf
    return time.monotonic() - started if status == 200 else math.inf


def _closed_within(connections, seconds):
    """The connections the server closed without sending a byte within seconds."""
    deadline = time.monotonic() + seconds
    pending, closed = list(connections), []
    while pending:
        readable, _, _ = select.select(pending, [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break  # past the deadline
        for connection in readable:
            pending.remove(connection)
            try:
                if connection.recv(100) == b"":
                    closed.append(connection)
            except OSError:
                pass  # reset: not a close
    return closed


def _answer(connection):
    """The first 12 bytes of the answer on a connection, or the name of the error reading them ended with."""
    try:
        return connection.recv(12)
    except OSError as e:
        return type(e).__name__


def _busy_workers(pool, url, seconds):
    """Two requests of `seconds`, one a worker, running long enough for both lookouts to take new connections."""
    slow = _slow_requests(pool, url, 2, seconds)
    time.sleep(LOOKOUT_AFTER_SECONDS + 0.3)
    return slow


def _outcome(request):
    """A request's status code, or the name of the error it ended with."""
    try:
        return request.result().status_code
    except requests.RequestException as e:
        return type(e).__name__


def test_pings_are_answered_at_once_while_every_worker_runs_a_long_request(slow_server):
    """Two workers, six 3-second requests: both workers busy for 9 s, four requests queued. A sync worker answered
    these pings after 3 s at best; the eight pings take nearly 2 s."""
    _, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        slow = _slow_requests(pool, url, 6, 3)
        time.sleep(0.1)
        latencies = []
        for _ in range(8):
            started = time.monotonic()
            assert requests.get(url + "/ping", timeout=10).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.2)
        print(f"/ping while both workers ran 3 s requests: max {max(latencies) * 1000:.0f} ms")
        assert max(latencies) <= PING_LIMIT_SECONDS
        assert not any(request.done() for request in slow), "a slow request ended while pinging: make it longer"
        assert [_outcome(request) for request in slow] == [200] * 6  # the queued ones too


def _connect(url, timeout=30):
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def _send_late(url, pieces, pause):
    """Opens a connection, then sends the pieces of a request pause seconds apart (the first after pause too): the
    response, and the seconds from the last piece sent until it came."""
    with _connect(url) as client:
        for piece in pieces:
            time.sleep(pause)
            client.sendall(piece)
        sent = time.monotonic()
        response = client.recv(100)
        return response, time.monotonic() - sent


@pytest.mark.parametrize("split", [0, 2, 9, 20], ids=["nothing-first", "GE", "GET-/ping", "headers-late"])
def test_a_ping_that_comes_late_is_answered_at_once_when_it_comes(slow_server, split):
    """A client may connect well before its request arrives (a busy client: CI saw a /ping wait 30 s behind a batch
    transform's 100 MB requests once the lookout had given up on its request line). Split after 9 bytes, the line
    could still be either ping line (`GET /ping ` or `GET /ping?`); after 20, the headers are still to come."""
    _, url = slow_server()
    ping = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 5)
        response, latency = _send_late(url, [ping[:split], ping[split:]], LATE_SECONDS)
        print(f"/ping sent {LATE_SECONDS:.1f} s after its connection: answered in {latency * 1000:.0f} ms")
        assert response.startswith(b"HTTP/1.1 200")
        assert latency <= PING_LIMIT_SECONDS
        assert not any(request.done() for request in slow), "a slow request ended while pinging: make it longer"


def test_pings_beside_a_ping_whose_headers_never_come_are_answered(slow_server):
    """Six pings that stop after their request line, then a whole one: a lookout that answered pings as soon as their
    request lines came blocked reading the headers, up to a second each."""
    _, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 6)
        stalled = [_connect(url) for _ in range(6)]
        for connection in stalled:
            connection.sendall(b"GET /ping HTTP/1.1\r\n")
        time.sleep(0.2)
        assert _ping_seconds(url) <= PING_LIMIT_SECONDS
        assert not any(request.done() for request in slow), "a slow request ended while pinging: make it longer"
    for connection in stalled:
        connection.close()


def test_a_part_of_a_request_whose_client_closed_goes_to_a_worker_at_once(slow_server):
    """A request cut short at "GE" by its client: no ping can come of it, so it is a worker's as soon as one is free
    (gunicorn closes it without an answer), not the lookout's until the timeout."""
    _, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 1)
        with _connect(url, timeout=10) as cut_short:
            cut_short.sendall(b"GE")
            cut_short.shutdown(socket.SHUT_WR)
            assert _closed_within([cut_short], 5) == [cut_short]  # the slow requests' 1 s and a margin, not 60 s
        assert [_outcome(request) for request in slow] == [200] * 2


def test_silent_connections_leave_the_lookout_free_and_are_closed_after_the_timeout(slow_server):
    """More connections that never send anything than the lookouts wait on neither delay the lookout's pings nor
    hold a worker: the oldest are closed to make room once silent for a second, the others once the server's timeout
    has passed, and no worker was killed for them."""
    process, url = slow_server(timeout=8)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 4)
        silent = [_connect(url, timeout=15) for _ in range(2 * UNREAD_PER_WORKER + 20)]
        time.sleep(SILENT_BEFORE_CLOSED_FOR_ROOM_SECONDS + 0.5)
        started = time.monotonic()
        assert _ping_seconds(url) <= PING_LIMIT_SECONDS
        assert len(_closed_within(silent, 0)) >= 20  # the oldest, before the timeout
        assert [_outcome(request) for request in slow] == [200] * 2
    try:
        assert len(_closed_within(silent, started + 8 + 2 - time.monotonic())) == len(silent)  # the others by then
    finally:
        for connection in silent:
            connection.close()
    process.terminate()
    assert "WORKER TIMEOUT" not in process.communicate(timeout=30)[0]


def test_a_burst_of_late_requests_larger_than_the_lookouts_wait_on_loses_none(slow_server):
    """More connections than the lookouts wait on, each sending its request 0.5 s after connecting: none is closed to
    make room while it may still be a late request."""
    _, url = slow_server()
    request = b"POST /slow?seconds=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 2)
        late = [_connect(url, timeout=30) for _ in range(2 * UNREAD_PER_WORKER + 10)]
        time.sleep(0.5)
        try:
            for connection in late:
                connection.sendall(request)
            answers = [_answer(connection) for connection in late]
        finally:
            for connection in late:
                connection.close()
        assert answers == [b"HTTP/1.1 200"] * len(late)
        assert [_outcome(request) for request in slow] == [200] * 2


def _workers_cpu_seconds(master_pid):
    """The CPU time (user and system) the server's workers have used."""
    ticks = 0
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while we looked
        if int(fields[1]) == master_pid:  # fields after the name: state, ppid, ... utime (12th), stime (13th)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def test_a_request_line_that_stops_part_way_costs_the_lookout_no_cpu(slow_server):
    """A request line that stops at "GE": the lookout waits for the rest (it could yet be a /ping) without spinning on a
    connection poll keeps answering is readable."""
    process, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = _busy_workers(pool, url, 3)
        with _connect(url, timeout=10) as part_of_a_ping:
            part_of_a_ping.sendall(b"GE")
            time.sleep(0.2)
            before = _workers_cpu_seconds(process.pid)
            time.sleep(1)
            used = _workers_cpu_seconds(process.pid) - before
        print(f"workers' CPU over 1 s beside a part of a request line: {used:.2f} s")
        assert used < 0.2
        assert [_outcome(request) for request in slow] == [200] * 2


def test_sigterm_answers_every_request_the_lookout_kept(slow_server):
    process, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        slow = _slow_requests(pool, url, 6, 1)
        time.sleep(LOOKOUT_AFTER_SECONDS + 0.4)  # the lookouts have taken the four waiting connections
        process.send_signal(signal.SIGTERM)
        outcomes = [_outcome(request) for request in slow]
    assert process.wait(timeout=30) == 0
    assert outcomes == [200] * 6


def test_sigterm_answers_a_request_whose_line_comes_late_and_closes_a_silent_connection(slow_server):
    process, url = slow_server()
    post = b"POST /slow?seconds=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        slow = _busy_workers(pool, url, 2)
        with _connect(url, timeout=10) as silent:
            late = pool.submit(_send_late, url, [post], 1)
            time.sleep(0.4)  # both connections taken by the lookouts, neither request here
            process.send_signal(signal.SIGTERM)
            assert late.result()[0].startswith(b"HTTP/1.1 200")
            assert _closed_within([silent], 5) == [silent]  # closed unanswered: it sent nothing to answer
        assert [_outcome(request) for request in slow] == [200] * 2
    assert process.wait(timeout=10) == 0


def test_a_request_past_the_timeout_gets_its_worker_replaced(slow_server):
    """gunicorn's arbiter aborts the worker (a 500 from gunicorn, as for a sync worker) and starts another."""
    process, url = slow_server(timeout=2)
    started = time.monotonic()
    assert requests.post(f"{url}/slow?seconds=30", timeout=30).status_code == 500
    assert time.monotonic() - started < 10
    assert requests.get(url + "/ping", timeout=2).status_code == 200
    process.terminate()
    assert "WORKER TIMEOUT" in process.communicate(timeout=30)[0]
