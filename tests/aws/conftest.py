"""Fixtures of the `aws` tier: moto in server mode and a local registry standing in for ECR (tests/aws/standins.py).
Nothing here reaches AWS: every endpoint is on 127.0.0.1."""

import io
import json
import os
import subprocess
import tarfile
import time
import types

import docker as docker_sdk
import pytest

from tests.aws.script_runs import ClosedInternet
from tests.aws.standins import LocalRegistry, MotoServer
from tests.support.containers import docker
from tests.support.repo import REPO

CHECKOUT_VERSION = "v9.9.9"  # the git tag of `checkout`
# A client that builds with BuildKit without the buildx plugin (Debian's), as scripts/build-images.sh picks it.
BUILDKIT_DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


@pytest.fixture(scope="session")
def _moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("aws-config"))
    yield server
    server.stop()


@pytest.fixture
def moto(_moto_server):
    """The session's moto server, with every resource of earlier tests forgotten."""
    _moto_server.reset()
    return _moto_server


@pytest.fixture
def registry(moto, tmp_path, docker_engine):
    """A fresh, empty registry for one test, mirrored into `moto`'s ECR."""
    registry = LocalRegistry(tmp_path / "registry", moto)
    yield registry
    registry.close()


@pytest.fixture
def tiny_images(docker_engine, tmp_path):
    """make(name, content, architecture="amd64"): a one-file image made on the spot (nothing to pull or build),
    tagged name. Another architecture's is built FROM scratch for that platform: no program of it runs."""
    client, made = docker_sdk.from_env(), []

    def make(name, content, architecture="amd64"):
        if architecture != "amd64":
            context = tmp_path / f"tiny-{len(made)}"
            context.mkdir()
            (context / "content.txt").write_bytes(content)
            (context / "Dockerfile").write_text("FROM scratch\nCOPY content.txt /\n")
            built = subprocess.run(
                [BUILDKIT_DOCKER, "build", "-q", "--platform", f"linux/{architecture}", "-t", name, str(context)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "DOCKER_BUILDKIT": "1"},
            )
            made.append(built.stdout.strip())
            return made[-1]
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo("content.txt")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        image_id = json.loads(client.api.import_image_from_data(archive.getvalue()))["status"]
        repository, tag = name.rsplit(":", 1)
        client.api.tag(image_id, repository, tag, force=True)
        made.append(image_id)
        return image_id

    yield make
    for image_id in made:
        docker("rmi", "-f", image_id, check=False)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A clean clone of this repository's HEAD, tagged CHECKOUT_VERSION (`.version`); `.env` points git (and so
    push.py) at it."""
    clone = tmp_path_factory.mktemp("checkout") / "repo"
    subprocess.run(["git", "clone", "-q", "--shared", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "tag", CHECKOUT_VERSION], check=True)
    commit = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return types.SimpleNamespace(
        path=clone,
        commit=commit,
        tag=commit[:12],
        version=CHECKOUT_VERSION,
        env={"GIT_DIR": str(clone / ".git"), "GIT_WORK_TREE": str(clone)},
    )


@pytest.fixture
def prefix():
    """An IMAGE_PREFIX of this test's own, for local images made for it."""
    return f"pushtest{os.getpid()}x{time.monotonic_ns() % 10**6}"


@pytest.fixture
def internet():
    """The scripts' only way out (tests/aws/script_runs.py); the test fails if anything tried it."""
    proxy = ClosedInternet()
    yield proxy
    proxy.close()
    assert not proxy.attempts, f"the script tried to reach the internet: {proxy.attempts}"
