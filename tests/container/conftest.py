"""Fixtures of the container tier: a Docker engine, the images (built when missing), and jobs that run them."""

import json
import os
import shutil
import subprocess
import time

import pytest

from helpers import REPO, FakeSageMaker, docker

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


class Job:
    """One training job's /opt/ml on the host, mounted into the container."""

    def __init__(self, fake, image):
        self.fake = fake
        self.image = image
        self.name = f"headlines-test-{os.getpid()}-{time.monotonic_ns()}"

    def command(self, *command, detach=False):
        # Run as the caller's uid so pytest can clean the files up; SageMaker itself runs the job as root.
        return ["docker", "run", "--rm", "--name", self.name, *(["-d"] if detach else []),
                "--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/tmp",
                "-v", f"{self.fake.base}:/opt/ml", self.image, *command]

    def run(self, *command, timeout=900):
        return subprocess.run(self.command(*command), capture_output=True, text=True, timeout=timeout)

    def metrics(self):
        return json.loads((self.fake.output_data_dir / "metrics.json").read_text())


@pytest.fixture
def make_job(tmp_path):
    created = []

    def factory(image, name="job"):
        job = Job(FakeSageMaker(tmp_path / name), image)
        created.append(job)
        return job

    yield factory
    for job in created:
        docker("rm", "-f", job.name, check=False)
