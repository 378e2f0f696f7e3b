"""Fixtures of the local-mode tier: the SageMaker Python SDK in its own virtualenv per generation (v2 and v3
cannot share one), created here on first use, and the project's launch scripts."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from tests.support.containers import docker
from tests.support.repo import REPO

SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))  # launch.py and make_demo_data.py import without the SDK
import launch_commands  # noqa: E402
from make_demo_data import write_demo_data  # noqa: E402

# Any attempt of the SDK to reach AWS (or anything else over HTTP(S)) goes to a closed local port and fails the
# test; local endpoints are reached directly. Dummy credentials: without any, botocore would go looking for an
# instance role.
NO_NETWORK = {
    "AWS_ACCESS_KEY_ID": "local-mode-test",
    "AWS_SECRET_ACCESS_KEY": "local-mode-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "localhost,127.0.0.1",
    "no_proxy": "localhost,127.0.0.1",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
}


def local_mode_folders():
    """launch.py's folders of local jobs and endpoints (the SDK's files) in the temporary folder."""
    return set(pathlib.Path(tempfile.gettempdir()).glob(f"{launch_commands.LOCAL_MODE_FOLDER_PREFIX}*"))


def local_mode_containers():
    """Containers, running or stopped, that SageMaker local mode started (it names them <project>-algo-<n>-<suffix>)."""
    return {name for name in docker("ps", "-a", "--format", "{{.Names}}").stdout.split() if "algo-" in name}


def local_mode_state():
    """The local-mode containers and launch.py's local-mode folders there are now."""
    return local_mode_containers(), local_mode_folders()


def left_since(state):
    """The containers and folders local mode added since local_mode_state() gave `state`."""
    containers, folders = state
    return local_mode_containers() - containers, local_mode_folders() - folders


class SdkRun:
    """One SDK script run as a subprocess: its output (the SDK streams the containers' logs into it), exit code
    and seconds."""

    def __init__(self, python, *args, env=None, timeout=900):
        started = time.monotonic()
        self.process = subprocess.run(
            [python, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, **NO_NETWORK, **(env or {})),
        )
        self.seconds = time.monotonic() - started
        self.output = self.process.stdout + self.process.stderr

    def check(self):
        assert self.process.returncode == 0, self.output[-6000:]
        return self


def check_local_gpu_compose(compose, compose_file, image, hosts):
    """What an SDK's `instance_type="local_gpu"` makes of the GPU image, short of running it (no GPU here): every host
    asks compose for every GPU, which the NVIDIA runtime exposes through the image's NVIDIA_VISIBLE_DEVICES=all, and
    Docker Compose accepts the file."""
    assert len(compose["services"]) == hosts
    for service in compose["services"].values():
        assert service["image"] == image
        assert service["deploy"]["resources"]["reservations"]["devices"] == [{"count": "all", "capabilities": ["gpu"]}]
    validated = subprocess.run(["docker-compose", "-f", str(compose_file), "config"], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count("- gpu") == hosts, validated.stdout


def job_metrics(output_tar):
    """metrics.json from a local-mode job's output.tar.gz (the job's /opt/ml/output/data)."""
    with tarfile.open(output_tar) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("metrics.json"))
        return json.load(archive.extractfile(member))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """The demo's generated headlines (train and test, split by story) and corpus."""
    folder = tmp_path_factory.mktemp("data")
    write_demo_data(folder)
    return folder


@pytest.fixture
def no_containers_left():
    """Asserts that the test leaves no local-mode container, running or stopped, that was not there before it (the
    SDK leaves a training job's stopped; launch.py removes them)."""
    before = local_mode_state()
    yield
    left, folders_left = left_since(before)
    if left:
        docker("rm", "-f", *left, check=False)
    assert not left, f"containers left: {left}"
    assert not folders_left, f"folders left: {folders_left}"
