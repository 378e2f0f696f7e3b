"""Fixtures of the container tier: jobs that run the images (the engine and image fixtures are in tests/conftest.py)."""

import json
import os
import subprocess
import time

import pytest

from tests.support.containers import docker
from tests.support.data import data_set
from tests.support.fake_sagemaker import SMALL_MODEL, FakeSageMaker


class Job:
    """One training job's /opt/ml on the host, mounted into the container."""

    def __init__(self, fake, image):
        self.fake = fake
        self.image = image
        self.names = []  # of its containers, in the order they ran
        self.docker_options = []  # more `docker run` options: environment variables, mounts

    @property
    def name(self):
        """The name of the job's latest container."""
        return self.names[-1]

    def command(self, *command, detach=False):
        # A new name for each container, as SageMaker starts a new one to resume: `docker wait` returns before --rm
        # has removed the stopped one, whose name a resumed run would otherwise find still taken.
        self.names.append(f"headlines-test-{os.getpid()}-{time.monotonic_ns()}")
        # Run as the caller's uid so pytest can clean the files up; SageMaker itself runs the job as root.
        return [
            "docker",
            "run",
            "--rm",
            "--name",
            self.name,
            *(["-d"] if detach else []),
            "--user",
            f"{os.getuid()}:{os.getgid()}",
            "-e",
            "HOME=/tmp",
            *self.docker_options,
            "-v",
            f"{self.fake.base}:/opt/ml",
            self.image,
            *command,
        ]

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
        if job.names:
            docker("rm", "-f", *job.names, check=False)


@pytest.fixture(scope="session")
def models(cpu_image, tmp_path_factory):
    """architecture -> model folder, each trained by the CPU training image on 1,200 rows (shared by the serving
    images' tests)."""
    folders = {}
    for architecture in ("fasttext", "cnn"):
        fake = FakeSageMaker(tmp_path_factory.mktemp(architecture))
        fake.add_channel("train", {"train.tsv": data_set().train_rows(1200)})
        fake.write_config(dict(SMALL_MODEL, architecture=architecture))
        result = docker("run", "--rm", "-v", f"{fake.base}:/opt/ml", cpu_image, "train", check=False)
        assert result.returncode == 0, result.stdout[-3000:]
        folders[architecture] = fake.model_dir
    return folders
