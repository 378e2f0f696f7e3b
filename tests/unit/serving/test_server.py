"""gunicorn settings, and the `serve` command run as a local process (no Docker): ready, 503 without a model,
graceful SIGTERM, bad settings, a multi-model endpoint's two workers."""

import concurrent.futures
import contextlib
import glob
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest
import requests

from headlines.environment import ServingEnvironment
from headlines.serving import server
from headlines.serving.multi_model import Registry
from tests.support.data import data_set
from tests.support.fake_sagemaker import train_small_model, train_small_word_vectors
from tests.support.responses import BackgroundInvocation


def test_gunicorn_options_follow_the_settings():
    settings = ServingEnvironment.from_environ(
        {
            "SAGEMAKER_BIND_TO_PORT": "9001",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "90",
        },
        cpu_count=2,
    )
    options = server.gunicorn_options(settings, euid=1000)
    assert options["bind"] == "0.0.0.0:9001" and options["workers"] == 3 and options["timeout"] == 90
    assert not options["preload_app"]  # every worker loads its own model
    assert options["graceful_timeout"] < 30  # drained before SageMaker's SIGKILL
    assert "user" not in options  # not root: nothing to drop


def test_root_drops_workers_to_the_model_server_user(monkeypatch):
    account = type("Account", (), {"pw_uid": 999, "pw_gid": 998})
    monkeypatch.setattr(server.pwd, "getpwnam", lambda name: account if name == server.WORKER_USER else None)
    options = server.gunicorn_options(ServingEnvironment.from_environ({}, cpu_count=1), euid=0)
    assert (options["user"], options["group"]) == (999, 998)

    dropped = []
    monkeypatch.setattr(server.os, "setgroups", dropped.append)
    options["post_fork"](None, None)  # gunicorn calls it in the forked worker, before its own setgid and setuid
    assert dropped == [[]]


WORKER_GROUPS = r"""
import os, pwd, sys

from gunicorn.app.base import BaseApplication

from headlines.environment import ServingEnvironment
from headlines.serving import server

os.setgroups([0, 6])  # as a container's root holds (root, disk, ...)
server.WORKER_USER = "nobody"


def app(environ, start_response):
    status = open("/proc/self/status").read()
    lines = [line for line in status.splitlines() if line.startswith(("Uid:", "Gid:", "Groups:"))]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\n".join(lines).encode()]


class Application(BaseApplication):
    def load_config(self):
        settings = ServingEnvironment.from_environ({"SAGEMAKER_BIND_TO_PORT": sys.argv[1]}, cpu_count=1)
        for key, value in server.gunicorn_options(settings).items():
            self.cfg.set(key, value)
        self.cfg.set("workers", 1)

    def load(self):
        return app


Application().run()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_workers_keep_none_of_the_masters_supplementary_groups(tmp_path):
    """A real gunicorn master as root with supplementary groups: its worker, dropped to the worker user, has none."""
    import pwd

    script = tmp_path / "worker_groups.py"
    script.write_text(WORKER_GROUPS)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline, answer = time.monotonic() + 30, None
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/", timeout=2).text
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None, process.communicate(timeout=10)[0] if process.poll() is not None else "no answer"
        status = dict(line.split(":", 1) for line in answer.splitlines())
        nobody = pwd.getpwnam("nobody")
        assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
        assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
        assert status["Groups"].split() == []
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    def __init__(self, base_dir, **environ):
        self.port = _free_port()
        # The server's private weight copies go to its temporary folder, which it removes when it exits; stop()
        # kills it, so this temporary folder is the test's, removed by stop().
        self.temporary = tempfile.mkdtemp(prefix="local-server-")
        env = dict(
            os.environ,
            SAGEMAKER_BASE_DIR=str(base_dir),
            SAGEMAKER_BIND_TO_PORT=str(self.port),
            SAGEMAKER_MODEL_SERVER_WORKERS="2",
            TMPDIR=self.temporary,
            **environ,
        )
        serve = pathlib.Path(sys.executable).parent / "serve"
        self.process = subprocess.Popen(
            [str(serve), "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stop() can end whatever is left of it
        )

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, status, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(self.url("/ping"), timeout=2).status_code == status:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"no {status} from /ping:\n{self._kill()[-3000:]}")

    def _kill(self):
        """Kills the master alone, as a crash would, and returns the server's output: its workers must then exit by
        themselves, or this fails (whatever is left of its process group is killed either way)."""
        try:
            if self.process.poll() is None:
                self.process.kill()
            try:
                return self.process.communicate(timeout=60)[0]
            except subprocess.TimeoutExpired:  # a worker left behind holds the pipe
                raise AssertionError("a worker outlived its killed master by a minute") from None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self):
        try:
            self._kill()
        finally:
            shutil.rmtree(self.temporary, ignore_errors=True)


@pytest.fixture(scope="module")
def model_base(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("server") / "opt_ml").parent


def test_sigterm_drains_the_request_in_flight_then_exits(model_base):
    local = LocalServer(model_base)
    try:
        local.wait_for(200)
        body = "\n".join(data_set().headlines(60000)).encode()  # over a second of work
        request = BackgroundInvocation(local.url("/invocations"), body)
        time.sleep(0.3)
        signalled = time.monotonic()
        local.process.send_signal(signal.SIGTERM)
        code = local.process.wait(timeout=30)
        request.join()
        assert code == 0 and time.monotonic() - signalled < 30
        assert request.response is not None, "the request in flight got no answer: the drain dropped it"
        assert request.response.status_code == 200
        assert len(request.response.json()["predictions"]) == 60000
        # Sent before the signal and answered after it: the request was in flight when SIGTERM came (had it been
        # answered first, the test would prove nothing, so it fails).
        assert request.answered_at > signalled, "the request was answered before SIGTERM: make it longer"
        assert os.listdir(local.temporary) == [], "the server left its private weight copies behind"
    finally:
        local.stop()


def _answers(url, body, count=4):
    """count POSTs of body: each one's status code and JSON answer, or the error it ended with (a dead worker)."""
    outcomes = []
    for _ in range(count):
        try:
            response = requests.post(url, json=body, timeout=30)
            outcomes.append((response.status_code, response.json()))
        except requests.RequestException as e:
            outcomes.append(type(e).__name__)
    return outcomes


@pytest.mark.parametrize("kind", ["classifier", "word-vectors"])
def test_weights_rewritten_in_place_under_the_server_change_no_answer(model_base, tmp_path, kind):
    """`cp` over a served weights file truncates it first: a worker reading the memory-mapped file then died of
    SIGBUS. The server maps its own copies, made at load, and removes them when it stops."""
    if kind == "classifier":
        shutil.copytree(model_base / "model", tmp_path / "model")
        mapped, body = "model-0000.params", {"instances": ["Fed raises interest rates", "Ebola outbreak spreads"]}
    else:
        shutil.copytree(train_small_word_vectors(tmp_path / "trained"), tmp_path / "model")
        mapped, body = "vectors.bin", {"instances": ["market", "film"], "configuration": {"neighbours": 3}}
    path = tmp_path / "model" / mapped
    local = LocalServer(tmp_path)
    try:
        local.wait_for(200)
        before = _answers(local.url("/invocations"), body)
        content = path.read_bytes()
        with open(path, "r+b") as f:
            f.truncate(0)
        truncated = _answers(local.url("/invocations"), body)
        path.write_bytes(content[: len(content) // 2])
        shorter = _answers(local.url("/invocations"), body)
        assert truncated == before and shorter == before
        local.process.terminate()
        output = local.process.communicate(timeout=30)[0]
    finally:
        local.stop()
    copies = re.search(r"workers map copies of the weights in (\S+)", output).group(1)
    assert not os.path.exists(copies)


def test_without_a_model_the_server_runs_and_ping_says_why(tmp_path):
    local = LocalServer(tmp_path)
    try:
        local.wait_for(503)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(local.url("/ping"), timeout=2)
        assert b"is incomplete" in error.value.read()
    finally:
        local.stop()


def _registry_listing(name):
    """The registry folder of the server that has loaded the model name (the master makes it in /dev/shm)."""
    for folder in glob.glob("/dev/shm/headlines-models-*"):
        if Registry(folder).get(name):
            return Registry(folder)
    raise AssertionError(f"no registry lists {name}")


def test_multi_model_endpoint_two_workers_share_the_loaded_models(model_base):
    local = LocalServer(model_base, SAGEMAKER_MULTI_MODEL="true")
    name = f"m-{uuid.uuid4().hex}"
    try:
        local.wait_for(200)  # healthy with no model loaded
        # SageMaker places each model in a folder of its own under /opt/ml/models: the only folders it may load.
        folder = shutil.copytree(model_base / "model", model_base / "models" / name)
        body = {"model_name": name, "url": str(folder)}
        assert requests.post(local.url("/models"), json=body, timeout=30).status_code == 200
        registry = _registry_listing(name)
        entry = registry.get(name)
        invoke = lambda _: requests.post(local.url(f"/models/{name}/invoke"), json=["Fed raises rates"], timeout=30)  # noqa: E731
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for _ in range(50):  # requests at once, each on its own connection, keep both workers busy
                assert {response.status_code for response in pool.map(invoke, range(8))} == {200}
                if len(registry.holders(entry)) == 2:
                    break
        assert len(registry.holders(entry)) == 2
        killed = min(registry.holders(entry))
        os.kill(killed, signal.SIGKILL)  # the master forgets its copy, and a new worker loads its own when asked
        deadline = time.monotonic() + 30
        while killed in registry.holders(entry) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert killed not in registry.holders(entry)
        assert requests.delete(local.url(f"/models/{name}"), timeout=30).status_code == 200
        assert registry.holders(entry) == set()  # the unload answered once both workers had dropped their copies
        assert requests.post(local.url(f"/models/{name}/invoke"), json=["x"], timeout=30).status_code == 404
        local.process.send_signal(signal.SIGTERM)
        output = local.process.communicate(timeout=30)[0]
        assert not os.path.exists(registry.folder)  # the master removes it at exit
        assert output.count(f"dropped its copy of model {name}") == 1, output[-3000:]  # the worker not killed
    finally:
        local.stop()


def test_bad_settings_stop_the_server_with_a_message(tmp_path):
    local = LocalServer(tmp_path, SAGEMAKER_MAX_PAYLOAD_IN_MB="500")
    try:
        output = local.process.communicate(timeout=30)[0]
    finally:
        local.stop()
    assert local.process.returncode == 1
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB=500 is out of range" in output
