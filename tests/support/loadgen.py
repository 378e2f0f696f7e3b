"""A small HTTP/1.1 load generator (asyncio, keep-alive connections) for the serving container: the
benchmark's numbers and the container tests' load runs. Light on CPU, because it shares the machine with the
server it measures.
"""

import asyncio
import dataclasses
import statistics
import threading
import time

# How long a client waits for the server to close a connection it announced it would close.
SERVER_CLOSE_SECONDS = 1


@dataclasses.dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies: list
    failures: dict  # reason -> count

    @property
    def completed(self):
        return len(self.latencies)

    @property
    def failed(self):
        return sum(self.failures.values())

    def percentile(self, q):
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self):
        return {
            "concurrency": self.concurrency,
            "requests": self.completed,
            "failed": self.failed,
            "failures": dict(self.failures),
            "requests_per_second": round(self.completed / self.seconds, 1),
            "p50_ms": _ms(self.percentile(50)),
            "p99_ms": _ms(self.percentile(99)),
            "mean_ms": _ms(statistics.fmean(self.latencies) if self.latencies else None),
        }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


def http_request(host, path, body=b"", content_type="application/json", accept="application/json", method="POST"):
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nAccept: {accept}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _read_response(reader):
    """(status, body, keep_alive) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return status, body, headers.get("connection", "").lower() != "close"


async def _connection(address, request, deadline, result, stop):
    reader = writer = None
    while time.perf_counter() < deadline and not stop.is_set():
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(*address)
            writer.write(request)
            await writer.drain()
            status, _, keep_alive = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            reason = type(e).__name__
            result.failures[reason] = result.failures.get(reason, 0) + 1
            writer = _close(writer)
            await asyncio.sleep(0.01)
            continue
        if status == 200:
            result.latencies.append(time.perf_counter() - started)
        else:
            result.failures[f"HTTP {status}"] = result.failures.get(f"HTTP {status}", 0) + 1
        if not keep_alive:
            await _let_the_server_close(reader)
            writer = _close(writer)
    _close(writer)


async def _let_the_server_close(reader):
    """After a `Connection: close` answer, wait for the server's end of the connection before closing ours, as an
    HTTP/1.0 client does: the side that closes first keeps the connection in TIME_WAIT for a minute, and a client
    that closed first at thousands of connections a second ran out of ephemeral ports within seconds (28,000 here),
    after which every connect crawled."""
    try:
        await asyncio.wait_for(reader.read(), SERVER_CLOSE_SECONDS)
    except (asyncio.TimeoutError, OSError):
        pass


def _close(writer):
    if writer is not None:
        writer.close()
    return None


def run_load(address, request, concurrency, seconds, stop=None):
    """Sends request (raw bytes) over `concurrency` keep-alive connections for `seconds`."""
    result = LoadResult(concurrency, seconds, [], {})
    stop = stop or threading.Event()

    async def main():
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(address, request, deadline, result, stop) for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    result.seconds = time.perf_counter() - started
    return result
