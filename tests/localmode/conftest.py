"""Fixtures of the local-mode tier: the SageMaker Python SDK in its own virtualenv per generation (v2 and v3
cannot share one), created here on first use, and the project's launch scripts."""

import json
import subprocess
import sys
import time

import pytest

from helpers import REPO, docker

SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))  # launch.py and make_demo_data.py import without the SDK


def sdk_python(generation):
    """The SDK virtualenv's python, made by scripts/sdk-venv.sh (the same one `make demo` uses)."""
    result = subprocess.run([str(SCRIPTS / "sdk-venv.sh"), generation], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"creating the SDK {generation} virtualenv failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


@pytest.fixture(scope="session")
def sdk_v2_python():
    return sdk_python("v2")


@pytest.fixture(scope="session")
def sdk_v3_python():
    return sdk_python("v3")


def running_containers():
    """Running containers that SageMaker local mode started (it names them <project>-algo-<n>-<suffix>)."""
    return {name for name in docker("ps", "--format", "{{.Names}}").stdout.split() if "algo-" in name}


class SdkRun:
    """One SDK script run as a subprocess: its output (the SDK streams the containers' logs into it), exit code
    and seconds."""

    def __init__(self, python, *args, cwd=None, timeout=900):
        started = time.monotonic()
        self.process = subprocess.run([python, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                                      cwd=cwd)
        self.seconds = time.monotonic() - started
        self.output = self.process.stdout + self.process.stderr

    def check(self):
        assert self.process.returncode == 0, self.output[-6000:]
        return self

    def result(self, path):
        return json.loads(path.read_text())


@pytest.fixture
def no_containers_left():
    """Asserts that the test leaves no container running that was not running before it."""
    before = running_containers()
    yield
    left = running_containers() - before
    if left:
        docker("rm", "-f", *left, check=False)
    assert not left, f"containers left running: {left}"
