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
    """A text/plain POST to /invocations sent on its own thread: its response and the moment it arrived, so a test
    can stop the server while the request is in flight and tell whether it was answered after the stop."""

    def __init__(self, url, body):
        self.response, self.answered_at = None, None
        self._thread = threading.Thread(target=self._send, args=(url, body))
        self._thread.start()

    def _send(self, url, body):
        self.response = requests.post(
            url, data=body, headers={"Content-Type": "text/plain", "Accept": "application/json"}, timeout=60
        )
        self.answered_at = time.monotonic()

    def join(self):
        self._thread.join()
        return self
