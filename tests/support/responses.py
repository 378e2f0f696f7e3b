"""The serving app's answers: assertions on Flask test responses, and a request answered while a test does something
else (signals the server that is working on it)."""

import threading
import time

import requests


def assert_json_error(response, status, *fragments):
    """A Flask test response is the serving app's JSON error, {"error", "message"}, whose message holds fragments."""
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error", "message"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


class BackgroundInvocation:
    """A text/plain POST to /invocations sent on its own thread: its response (or the error it ended with) and the
    moment it arrived, so a test can stop the server while the request is in flight and tell whether it was answered
    after the stop."""

    def __init__(self, url, body, timeout=60):
        self.response, self.error, self.answered_at, self.timeout = None, None, None, timeout
        self._thread = threading.Thread(target=self._send, args=(url, body))
        self._thread.start()

    def _send(self, url, body):
        try:
            self.response = requests.post(
                url,
                data=body,
                headers={"Content-Type": "text/plain", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as e:
            self.error = e
        self.answered_at = time.monotonic()

    def outcome(self):
        """The response's status code, or the error the request ended with (None while it runs)."""
        return self.response.status_code if self.response is not None else self.error

    def join(self):
        self._thread.join()
        return self


def pings_beside_invocations(url, body, invocations=4, most=30):
    """Latencies (s) of GET /ping sent every 0.1 s, from 0.5 s after `invocations` POSTs of body to /invocations
    start until the first of them is answered (all workers busy until then, given more invocations than workers)
    or `most` pings; and the BackgroundInvocations, some maybe still running."""
    running = [BackgroundInvocation(url + "/invocations", body, timeout=120) for _ in range(invocations)]
    time.sleep(0.5)
    latencies = []
    while len(latencies) < most and not any(invocation.answered_at for invocation in running):
        started = time.monotonic()
        status = requests.get(url + "/ping", timeout=30).status_code
        assert status == 200, f"/ping answered {status}"
        latencies.append(time.monotonic() - started)
        time.sleep(0.1)
    return latencies, running
