"""The GPU image's start-up check (code/headlines/gpu_check.py) against a fake NVIDIA driver library
(tests/fake_driver/libcuda.c) that reports the GPUs and CUDA version it is told to, and the training command's
imports: nothing before the check may load MXNet, whose CUDA build does not load without a driver."""

import logging
import re
import subprocess
import sys

import pytest

from headlines import cuda_driver, gpu_check, gpu_support
from headlines.cli import train as train_cli
from headlines.errors import JobError
from tests.support.repo import REPO

H100 = "NVIDIA H100 80GB HBM3=9.0"
L40S = "NVIDIA L40S=8.9"
LOG = logging.getLogger("test-gpu-check")


@pytest.fixture
def driver(fake_libcuda, monkeypatch):
    """Sets what the fake driver reports; returns check_gpus bound to it, as on the CUDA build of MXNet."""
    for name in ("FAKE_CUDA_VERSION", "FAKE_CUDA_DEVICES", "FAKE_CUDA_INIT_ERROR"):
        monkeypatch.delenv(name, raising=False)

    def check(devices="", cuda_version=12040, environ=None, library=str(fake_libcuda), **other):
        monkeypatch.setenv("FAKE_CUDA_DEVICES", devices)
        monkeypatch.setenv("FAKE_CUDA_VERSION", str(cuda_version))
        for name, value in other.items():
            monkeypatch.setenv(name, value)
        gpu_check.check_gpus(
            LOG, environ or {}, read_driver=lambda: cuda_driver.read_driver(library), cuda_build=lambda: "mxnet-cu112"
        )

    return check


def test_a_9_0_gpu_fails_the_job_with_one_sentence(driver, caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(JobError) as failed:
        driver(f"{L40S},{H100}")
    assert str(failed.value) == (
        "GPU 1 (NVIDIA H100 80GB HBM3) has compute capability 9.0, and this image's MXNet (mxnet-cu112 1.9.1) has no "
        "code for it (its kernels are compiled for compute capability 5.0, 6.0, 7.0, 8.0, 8.6 only, no PTX): use an "
        "instance family whose GPUs it runs on: ml.p3, ml.p3dn, ml.g4dn, ml.p4d, ml.p4de, ml.g5, ml.g6, ml.g6e."
    )
    assert "GPU 0: NVIDIA L40S, compute capability 8.9, 80.0 GiB: runs the image's sm_86 code." in caplog.text
    assert "GPU 1: NVIDIA H100 80GB HBM3, compute capability 9.0, 80.0 GiB: NO CODE FOR IT" in caplog.text


def test_8_9_gpus_pass_and_are_logged(driver, caplog):
    caplog.set_level(logging.INFO)
    driver(f"{L40S},{L40S}")
    assert "NVIDIA driver for CUDA 12.4; this image: mxnet-cu112, CUDA 11.8 runtime." in caplog.text
    assert "GPU 1: NVIDIA L40S, compute capability 8.9, 80.0 GiB: runs the image's sm_86 code." in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_driver_too_old_for_the_cuda_11_runtime_fails_the_job(driver):
    with pytest.raises(JobError) as failed:
        driver(L40S, cuda_version=10020)
    assert str(failed.value) == gpu_support.driver_too_old((10, 2))
    assert "supports CUDA 10.2" in str(failed.value) and "450.80.02 or later" in str(failed.value)


def test_a_driver_that_fails_its_calls_fails_the_job(driver):
    with pytest.raises(
        JobError,
        match=r"The GPUs cannot be used: the NVIDIA driver's cuInit failed with "
        r"CUDA_ERROR_UNKNOWN \(999\)\.",
    ):
        driver(L40S, FAKE_CUDA_INIT_ERROR="999")


def test_a_driver_without_gpus_warns_and_trains_on_the_cpu(driver, caplog):
    driver("")
    assert "No NVIDIA GPU is visible (the NVIDIA driver reports no GPU): training on the CPU" in caplog.text


def test_no_driver_loads_the_images_stand_in_and_warns(driver, fake_libcuda, tmp_path, caplog):
    driver(library=str(tmp_path / "missing.so"), environ={gpu_check.NO_DRIVER_LIBRARY_ENV: str(fake_libcuda)})
    assert "No NVIDIA GPU is visible (no NVIDIA driver was mounted into the container)" in caplog.text


def test_no_driver_and_no_stand_in_fails_the_job(driver, tmp_path):
    with pytest.raises(
        JobError,
        match=r"MXNet's CUDA build cannot load without the NVIDIA driver \(libcuda.so.1 "
        r"does not load: .*\): run it on a machine with an NVIDIA GPU",
    ):
        driver(library=str(tmp_path / "missing.so"), environ={gpu_check.NO_DRIVER_LIBRARY_ENV: str(tmp_path / "x")})


def test_a_cpu_build_of_mxnet_checks_nothing():
    def read_driver():
        raise AssertionError("the CPU build has no driver to read")

    gpu_check.check_gpus(LOG, {}, read_driver=read_driver, cuda_build=lambda: None)
    assert gpu_check.mxnet_cuda_build() is None  # this virtualenv has the CPU build


def test_the_train_command_loads_no_mxnet_before_the_check():
    code = (
        "import sys, headlines.cli.train; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mxnet', 'gluonnlp', 'numpy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "code")}
    )
    assert result.stdout.strip() == "[]"


def test_mxnet_that_does_not_load_is_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "mxnet", None)  # import mxnet now raises ModuleNotFoundError
    with pytest.raises(JobError) as failed:
        train_cli.load_mxnet()
    assert re.fullmatch(
        r"The training image is broken: MXNet does not load \(ModuleNotFoundError: .*\); rebuild "
        r"the image with scripts/build-images.sh\.",
        str(failed.value),
    )
