"""Shared fixtures. Tiers (pytest markers): unit (default, no Docker), container (builds and runs images),
localmode (the real SageMaker SDK). The Docker engine and image fixtures serve both Docker tiers."""

import os
import shutil
import subprocess

import pytest

from helpers import REPO, FakeSageMaker, docker


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/container/" in str(item.fspath):
            item.add_marker(pytest.mark.container)
        if "tests/localmode/" in str(item.fspath):
            item.add_marker(pytest.mark.localmode)
        if not any(item.get_closest_marker(name) for name in ("container", "localmode")):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def sagemaker(tmp_path, monkeypatch):
    fake = FakeSageMaker(tmp_path / "opt_ml")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    return fake


CPU_IMAGE = os.environ.get("HEADLINES_TRAIN_IMAGE", "headlines-train:cpu")
GPU_IMAGE = os.environ.get("HEADLINES_TRAIN_GPU_IMAGE", "headlines-train:gpu")
SERVE_IMAGE = os.environ.get("HEADLINES_SERVE_IMAGE", "headlines-serve:cpu")


def ensure_image(name, target):
    if docker("image", "inspect", name, check=False).returncode != 0:
        subprocess.run([str(REPO / "scripts" / "build-images.sh"), target], check=True)
    return name


@pytest.fixture(scope="session")
def docker_engine():
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.fail("no Docker engine answers: run scripts/ensure-docker.sh (as root) or start Docker")


@pytest.fixture(scope="session")
def cpu_image(docker_engine):
    return ensure_image(CPU_IMAGE, "train-cpu")


@pytest.fixture(scope="session")
def gpu_image(docker_engine):
    return ensure_image(GPU_IMAGE, "train-gpu")


@pytest.fixture(scope="session")
def serve_image(docker_engine):
    return ensure_image(SERVE_IMAGE, "serve")
