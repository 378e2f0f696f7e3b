"""Runs the launch scripts (launch.py, smoke_aws.py) as their users do, in the SDK's virtualenv against moto, while
recording every AWS API call they make and, on request, making one of them go wrong.

The runner wraps botocore's one entry point for API calls, so the record holds service, operation and parameters
of each call, also when the script exits early. A fault (API_FAULT, JSON) changes what happens at the nth call of
an operation and every one after it, as AWS or the user would:
- "refuse": AWS answers with an error (a ClientError: ValidationException);
- "failed": a Describe* call reports the job or endpoint Failed, with a FailureReason;
- "sigint" / "sigterm": the user presses Ctrl-C, or the process is told to stop, just before the call (once);
- "die": the process is killed there, with no chance to clean up (once).
moto finishes every job at once, so the waits between the SDK's polls are cut to 0.1 s.
Anything that tries to leave 127.0.0.1 (the SDK's telemetry, say) lands on ClosedInternet, which refuses and
notes it."""

import json
import os
import socketserver
import subprocess
import threading

from tests.support.repo import REPO

KILLED = 137
RUNNER = """
import json, os, runpy, signal, sys, time
import botocore.client, botocore.exceptions
sleep = time.sleep
time.sleep = lambda seconds: sleep(min(seconds, 0.1))
calls, make_api_call = [], botocore.client.BaseClient._make_api_call
fault = json.loads(os.environ.get("API_FAULT") or "null")
seen = {}
def record():
    with open(RECORD, "w") as f:
        json.dump(calls, f, default=str)
def faulty(operation):
    seen[operation] = seen.get(operation, 0) + 1
    if not fault or fault["operation"] != operation or seen[operation] < fault.get("nth", 1):
        return None
    once = fault["kind"] in ("sigint", "sigterm", "die")
    if once and seen[operation] > fault.get("nth", 1):
        return None
    return fault["kind"]
def recorded(client, operation, params):
    calls.append({"service": client.meta.service_model.service_name, "operation": operation, "params": params})
    kind = faulty(operation)
    if kind == "die":
        record()
        os._exit(137)
    if kind in ("sigint", "sigterm"):
        os.kill(os.getpid(), signal.SIGINT if kind == "sigint" else signal.SIGTERM)
    if kind == "refuse":
        error = {"Error": {"Code": "ValidationException", "Message": f"injected refusal of {operation}"}}
        raise botocore.exceptions.ClientError(error, operation)
    response = make_api_call(client, operation, params)
    if kind == "failed":
        status = next(key for key in response if key.endswith("Status") and isinstance(response[key], str))
        response[status], response["FailureReason"] = "Failed", f"injected failure at {operation}"
    return response
botocore.client.BaseClient._make_api_call = recorded
# Ctrl-C as in a terminal, also where the tests run as a background job, which starts with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
RECORD, sys.argv = sys.argv[1], sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    record()
"""


class ClosedInternet:
    """The scripts' HTTP(S) proxy: every request for somewhere other than 127.0.0.1 comes here, is refused and
    noted."""

    def __init__(self):
        attempts = self.attempts = []

        class Refuse(socketserver.StreamRequestHandler):
            def handle(self):
                attempts.append(self.rfile.readline().decode("latin-1").strip())
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuse)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def env(self):
        """The proxy settings that send every request but 127.0.0.1's here."""
        return {
            "HTTP_PROXY": self.url,
            "HTTPS_PROXY": self.url,
            "http_proxy": self.url,
            "https_proxy": self.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }


class ScriptRun:
    """One run of scripts/<script>: exit status, output and the API calls it made."""

    def __init__(self, python, env, workdir, script, *args, fault=None, timeout=300):
        record = workdir / "calls.json"
        record.unlink(missing_ok=True)
        self.process = subprocess.run(
            [python, "-c", RUNNER, str(record), str(REPO / "scripts" / script), *args],
            capture_output=True,
            text=True,
            # Its temporary files in the test's folder: a run the test kills cannot remove them.
            env={**env, "API_FAULT": json.dumps(fault) if fault else "", "TMPDIR": str(workdir)},
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        self.output = self.process.stdout + self.process.stderr
        self.calls = json.loads(record.read_text())

    def check(self):
        assert self.process.returncode == 0, self.output[-4000:]
        return self

    def operations(self):
        return [call["operation"] for call in self.calls]

    def request(self, operation):
        (params,) = [call["params"] for call in self.calls if call["operation"] == operation]
        return params


def sdk_env(moto, internet, **extra):
    """This environment less AWS_*, plus moto's endpoint and credentials, the closed internet, and extra."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {**env, **moto.env, **internet.env(), **extra}
