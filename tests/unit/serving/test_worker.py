"""The serving workers: /ping answered at once while every worker runs a long request, every request kept by the
lookout answered (also after SIGTERM), a request past the timeout still gets its worker replaced. The server is
gunicorn with the serving image's options around a WSGI app whose requests take as long as they ask
(tests/support/slow_server.py), so the timings do not hang on this machine's speed."""

import concurrent.futures
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from headlines.serving.worker import LOOKOUT_AFTER_SECONDS, REQUEST_LINE_SECONDS, is_ping

PING_LIMIT_SECONDS = 1  # the goal; SageMaker's own limit is 2 s


@pytest.mark.parametrize(
    "request_line, ping",
    [
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"HEAD /ping HTTP/1.1\r\n\r\n", True),
        (b"GET /ping?probe=1 HTTP/1.1\r\n\r\n", True),
        (b"GET /pings HTTP/1.1\r\n\r\n", False),
        (b"POST /ping HTTP/1.1\r\n\r\n", False),
        (b"POST /invocations HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", False),
        (b"GE", False),  # a request line that never comes whole
    ],
)
def test_is_ping_reads_the_request_line_and_leaves_it_on_the_socket(request_line, ping):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(request_line)
        started = time.monotonic()
        assert is_ping(ours) is ping
        assert time.monotonic() - started < REQUEST_LINE_SECONDS + 0.5
        ours.settimeout(1)
        assert ours.recv(len(request_line) + 10) == request_line  # still there for whoever answers the request


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


def _outcome(request):
    """A request's status code, or the name of the error it ended with."""
    try:
        return request.result().status_code
    except requests.RequestException as e:
        return type(e).__name__


def test_pings_are_answered_at_once_while_every_worker_runs_a_long_request(slow_server):
    """Two workers, six 2-second requests: both workers busy for 6 s, four requests queued. A sync worker answered
    these pings after 2 s at best."""
    _, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        slow = _slow_requests(pool, url, 6, 2)
        time.sleep(0.1)
        latencies = []
        for _ in range(8):
            started = time.monotonic()
            assert requests.get(url + "/ping", timeout=10).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.2)
        print(f"/ping while both workers ran 2 s requests: max {max(latencies) * 1000:.0f} ms")
        assert max(latencies) <= PING_LIMIT_SECONDS
        assert not any(request.done() for request in slow), "a slow request ended while pinging: make it longer"
        assert [_outcome(request) for request in slow] == [200] * 6  # the queued ones too


def test_sigterm_answers_every_request_the_lookout_kept(slow_server):
    process, url = slow_server()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        slow = _slow_requests(pool, url, 6, 1)
        time.sleep(LOOKOUT_AFTER_SECONDS + 0.4)  # the lookouts have taken the four waiting connections
        process.send_signal(signal.SIGTERM)
        outcomes = [_outcome(request) for request in slow]
    assert process.wait(timeout=30) == 0
    assert outcomes == [200] * 6


def test_a_request_past_the_timeout_gets_its_worker_replaced(slow_server):
    """gunicorn's arbiter aborts the worker (a 500 from gunicorn, as for a sync worker) and starts another."""
    process, url = slow_server(timeout=2)
    started = time.monotonic()
    assert requests.post(f"{url}/slow?seconds=30", timeout=30).status_code == 500
    assert time.monotonic() - started < 10
    assert requests.get(url + "/ping", timeout=2).status_code == 200
    process.terminate()
    assert "WORKER TIMEOUT" in process.communicate(timeout=30)[0]
