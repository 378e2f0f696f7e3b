"""Shared fixtures. Tiers (pytest markers, one per folder): unit (default, no Docker), container (builds and runs
images), localmode (the real SageMaker SDK), aws (delivery against AWS stand-ins: moto and a local registry). The
Docker engine and image fixtures serve every Docker tier."""

import shutil
import subprocess

import pytest

from tests.support.containers import docker
from tests.support.data import DATA_DIR_SETTING, data_set
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.repo import REPO, load_script

FOLDER_TIERS = ("container", "localmode", "aws")


def pytest_report_header(config):
    data = data_set()
    return f"headline data: {data.source} ({data.train.parent}; {DATA_DIR_SETTING} points to real data)"


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in FOLDER_TIERS:
            if f"tests/{tier}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, tier))
        if not any(item.get_closest_marker(tier) for tier in FOLDER_TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def sagemaker(tmp_path, monkeypatch):
    fake = FakeSageMaker(tmp_path / "opt_ml")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    return fake


@pytest.fixture(scope="session")
def fake_libcuda(tmp_path_factory):
    """tests/fake_driver/libcuda.c built as libcuda.so.1: an NVIDIA driver that reports the GPUs and CUDA version
    named by FAKE_CUDA_* environment variables (glibc only, so it also loads inside the images)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("the fake NVIDIA driver needs a C compiler: apt-get install gcc")
    library = tmp_path_factory.mktemp("fake-driver") / "libcuda.so.1"
    subprocess.run(
        [
            compiler,
            "-Wall",
            "-Werror",
            "-shared",
            "-fPIC",
            "-Wl,-soname,libcuda.so.1",
            "-o",
            str(library),
            str(REPO / "tests" / "fake_driver" / "libcuda.c"),
        ],
        check=True,
    )
    return library


# The local images as scripts/build-images.sh names them (IMAGE_PREFIX, as CodeBuild's build sets it).
IMAGES = load_script("images").IMAGES
CPU_IMAGE, GPU_IMAGE, SERVE_IMAGE, SERVE_ARM64_IMAGE = (
    IMAGES[key].local() for key in ("train-cpu", "train-gpu", "serve", "serve-arm64")
)


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


@pytest.fixture(scope="session")
def serve_arm64_image(docker_engine):
    return ensure_image(SERVE_ARM64_IMAGE, "serve-arm64")


def sdk_python(generation):
    """The SDK virtualenv's python, made by scripts/sdk-venv.sh (the same one `make demo` uses)."""
    result = subprocess.run([str(REPO / "scripts" / "sdk-venv.sh"), generation], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"creating the SDK {generation} virtualenv failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


@pytest.fixture(scope="session")
def sdk_v2_python():
    return sdk_python("v2")


@pytest.fixture(scope="session")
def sdk_v3_python():
    return sdk_python("v3")
