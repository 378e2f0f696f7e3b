"""The GPU training image on a machine without a GPU: the GPU code inside it against code/headlines/gpu_support.py,
its start-up check against a fake NVIDIA driver (tests/fake_driver/libcuda.c, mounted as the NVIDIA runtime mounts
the real one), CPU training when no driver is there, one sentence in the failure file when a library does not load,
and the CUDA libraries' versions against each other. What needs a real GPU is listed in docs/images.md."""

import json
import os
import sysconfig

import pytest

from headlines import gpu_support
from tests.support.containers import docker
from tests.support.data import MADE_UP_HEADLINE_ROWS, data_set
from tests.support.repo import REPO

SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages"
LIBMXNET = f"{SITE_PACKAGES}/mxnet/libmxnet.so"
MODEL_FILES = {"labels.json", "model-0000.params", "model-config.json", "model-symbol.json", "vocabulary.json"}
DATA = data_set()
H100 = "NVIDIA H100 80GB HBM3=9.0"
L40S = "NVIDIA L40S=8.9"


def test_every_library_resolves_but_the_driver_the_nvidia_runtime_mounts(gpu_image):
    result = docker("run", "--rm", "--entrypoint", "ldd", gpu_image, LIBMXNET)
    missing = sorted(line.split()[0] for line in result.stdout.splitlines() if "not found" in line)
    assert missing == ["libcuda.so.1"], result.stdout
    for library in ("libcudart.so.11.0", "libcublas.so.11", "libcudnn.so.8", "libnccl.so.2", "libnvrtc.so.11.2"):
        assert library in result.stdout
    # The one libcuda.so.1 in the image is the no-driver stand-in, off the loader's path: the host's driver wins.
    shipped = _in_image(
        gpu_image, "find / -xdev -name 'libcuda.so*' 2>/dev/null; ldconfig -p | grep -c 'libcuda[.]so' || true"
    ).stdout.split()
    assert shipped == ["/opt/headlines/no-driver/libcuda.so.1", "0"]


def _in_image(gpu_image, script, *mounts):
    """Run a shell script in the GPU image, tests/ mounted at /tests."""
    volumes = [option for mount in (f"{REPO / 'tests'}:/tests:ro", *mounts) for option in ("-v", mount)]
    return docker("run", "--rm", *volumes, "--entrypoint", "bash", gpu_image, "-c", script)


@pytest.fixture(scope="module")
def gpu_code(gpu_image):
    """{library path: {"sass": [(major, minor)], "ptx": [...]}} for libmxnet.so and every CUDA library beside it."""
    script = f"python3 /tests/support/cuda_fatbin.py {LIBMXNET} {SITE_PACKAGES}/nvidia/*/lib/lib*.so*"
    found = json.loads(_in_image(gpu_image, script).stdout)
    return {
        path: {kind: [tuple(arch) for arch in archs] for kind, archs in code.items()} for path, code in found.items()
    }


def test_libmxnet_carries_exactly_the_tables_architectures(gpu_code):
    print(json.dumps({os.path.basename(path): code for path, code in gpu_code.items()}, indent=1))
    assert gpu_code[LIBMXNET] == {
        "sass": list(gpu_support.SASS_ARCHITECTURES),
        "ptx": list(gpu_support.PTX_ARCHITECTURES),
    }


def test_nvidias_cuobjdump_reads_the_same_from_libmxnet(gpu_image):
    cuobjdump = os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu13", "bin", "cuobjdump")
    listed = _in_image(
        gpu_image,
        f"cuobjdump --list-elf {LIBMXNET}; cuobjdump --list-ptx {LIBMXNET} 2>&1",
        f"{cuobjdump}:/usr/local/bin/cuobjdump:ro",
    ).stdout
    elf = {line.rsplit(".", 2)[-2] for line in listed.splitlines() if line.startswith("ELF file")}
    assert elf == {"sm_%d%d" % arch for arch in gpu_support.SASS_ARCHITECTURES}
    assert "No PTX file found" in listed


def test_every_cuda_library_runs_on_the_gpus_the_table_supports(gpu_code):
    """A GPU is supported when every library with GPU code has code for it; libmxnet.so is the one that limits."""
    with_code = {path: code for path, code in gpu_code.items() if code["sass"] or code["ptx"]}
    assert len(with_code) >= 10  # libmxnet, cuBLAS (2), cuDNN (6), cuFFT, cuRAND, cuSOLVER, NCCL
    for _, gpu in gpu_support.gpu_families():
        runs = {
            path: gpu_support.runnable_code(gpu.compute_capability, code["sass"], code["ptx"])
            for path, code in with_code.items()
        }
        supported = gpu_support.code_for(gpu.compute_capability) is not None
        assert all(runs.values()) == supported, (gpu.name, runs)


def _tiny_job(make_job, gpu_image, devices=None, cuda_version=None, fake_libcuda=None):
    job = make_job(gpu_image)
    job.fake.add_channel("train", {"train.tsv": DATA.train_rows(600) + MADE_UP_HEADLINE_ROWS})
    job.fake.write_config({"epochs": 1})
    if fake_libcuda is not None:  # where the NVIDIA runtime would mount the driver; found before ld.so.cache
        job.docker_options += [
            "-v",
            f"{fake_libcuda}:/opt/nvidia-driver/libcuda.so.1:ro",
            "-e",
            "LD_LIBRARY_PATH=/opt/nvidia-driver",
            "-e",
            f"FAKE_CUDA_DEVICES={devices}",
            "-e",
            f"FAKE_CUDA_VERSION={cuda_version or 12040}",
        ]
    return job, job.run("train")


def _failed_before_reading_data(job, result, reason):
    assert result.returncode == 1, result.stdout[-3000:]
    assert job.fake.failure_file.read_text() == reason
    assert "Traceback" not in result.stdout + result.stderr
    assert "hyperparameters:" not in result.stdout  # the job never got as far as its configuration
    assert not job.fake.model_dir.exists() or not set(os.listdir(job.fake.model_dir)) & MODEL_FILES


def test_a_9_0_gpu_fails_the_job_in_one_sentence(gpu_image, make_job, fake_libcuda):
    job, result = _tiny_job(make_job, gpu_image, H100, fake_libcuda=fake_libcuda)
    reason = gpu_support.unsupported_gpu("GPU 0 (NVIDIA H100 80GB HBM3)", (9, 0))
    print(reason)
    _failed_before_reading_data(job, result, reason)
    assert "GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0, 80.0 GiB: NO CODE FOR IT" in result.stdout


def test_a_driver_too_old_for_the_cuda_11_runtime_fails_the_job(gpu_image, make_job, fake_libcuda):
    job, result = _tiny_job(make_job, gpu_image, L40S, cuda_version=10020, fake_libcuda=fake_libcuda)
    _failed_before_reading_data(job, result, gpu_support.driver_too_old((10, 2)))


def test_an_8_9_gpu_passes_the_check(gpu_image, make_job, fake_libcuda):
    """The job gets past the check with the GPU logged. The fake driver serves only the driver calls the check makes,
    so MXNet's CUDA runtime stops at it next, when it counts the GPUs; training on an L4/L40S needs the real one."""
    job, result = _tiny_job(make_job, gpu_image, L40S, fake_libcuda=fake_libcuda)
    assert "GPU 0: NVIDIA L40S, compute capability 8.9, 80.0 GiB: runs the image's sm_86 code." in result.stdout
    reason = job.fake.failure_file.read_text()
    assert "compute capability" not in reason and "NVIDIA driver" not in reason
    assert "API call is not supported in the installed CUDA driver" in reason  # the fake's limit, inside MXNet


def test_without_a_gpu_the_gpu_image_trains_on_the_cpu_after_one_warning(gpu_image, make_job):
    job, result = _tiny_job(make_job, gpu_image)
    assert result.returncode == 0, result.stdout[-3000:]
    warnings = [line for line in result.stdout.splitlines() if " WARNING " in line and "GPU" in line]
    assert len(warnings) == 1 and "No NVIDIA GPU is visible" in warnings[0] and "training on the CPU" in warnings[0]
    assert set(os.listdir(job.fake.model_dir)) == MODEL_FILES


def test_a_library_that_does_not_load_is_one_sentence_in_the_failure_file(gpu_image, make_job):
    job = make_job(gpu_image)
    job.fake.add_channel("train", {"train.tsv": MADE_UP_HEADLINE_ROWS})
    job.fake.write_config({"epochs": 1})
    job.docker_options += ["--tmpfs", f"{SITE_PACKAGES}/nvidia/cudnn/lib"]  # cuDNN gone
    result = job.run("train")
    assert result.returncode == 1
    assert job.fake.failure_file.read_text() == (
        "The training image is broken: MXNet does not load (OSError: libcudnn.so.8: cannot open shared object "
        "file: No such file or directory); rebuild the image with scripts/build-images.sh."
    )
    assert "Traceback" not in result.stdout + result.stderr


VERSIONS = """
import ctypes, importlib.metadata, json, os, re
ctypes.CDLL(os.environ["HEADLINES_NO_DRIVER_LIBCUDA"])
cudnn = ctypes.CDLL("libcudnn.so.8")
cudnn.cudnnGetVersion.restype = cudnn.cudnnGetCudartVersion.restype = ctypes.c_size_t
nccl = ctypes.c_int()
ctypes.CDLL("libnccl.so.2").ncclGetVersion(ctypes.byref(nccl))
nccl_path = "/opt/venv/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2"
nccl_cuda = re.search(rb"NCCL version [0-9.]+[+]cuda([0-9]+)[.]([0-9]+)", open(nccl_path, "rb").read()).groups()
print(json.dumps({"cudart": importlib.metadata.version("nvidia-cuda-runtime-cu11"), "cudnn": cudnn.cudnnGetVersion(),
                  "cudnn_cudart": cudnn.cudnnGetCudartVersion(), "nccl": nccl.value,
                  "nccl_cuda": [int(part) for part in nccl_cuda]}))
"""


def test_cudnn_and_nccl_match_the_cuda_runtime_and_mxnet(gpu_image, tmp_path):
    """cudaRuntimeGetVersion needs a driver, so the runtime's version is its wheel's."""
    script = tmp_path / "versions.py"
    script.write_text(VERSIONS)
    versions = json.loads(_in_image(gpu_image, "python3 /check/versions.py", f"{tmp_path}:/check:ro").stdout)
    print(versions)
    runtime = tuple(int(part) for part in versions["cudart"].split(".")[:2])
    assert runtime == gpu_support.CUDA_RUNTIME
    # cuDNN 8 and NCCL 2 built for CUDA 11, no newer than the runtime (minor version compatibility covers older)
    assert versions["cudnn"] // 1000 == 8 and versions["cudnn_cudart"] // 1000 == 11
    assert (versions["cudnn_cudart"] // 1000, versions["cudnn_cudart"] % 1000 // 10) <= runtime
    assert versions["nccl_cuda"][0] == 11 and tuple(versions["nccl_cuda"]) <= runtime
    assert versions["nccl"] // 10000 == 2
    # MXNet compares the cuDNN and CUDA runtime it loads with those it was compiled against, and warns on a mismatch
    loaded = _in_image(
        gpu_image,
        "python3 -c 'import ctypes, os; "
        'ctypes.CDLL(os.environ["HEADLINES_NO_DRIVER_LIBCUDA"]); '
        "import mxnet; print(mxnet.context.num_gpus())'",
    )
    assert loaded.stdout.strip() == "0" and "mismatch" not in loaded.stderr.lower(), loaded.stderr


def test_the_nvidia_runtime_settings_are_the_documented_ones(gpu_image):
    environment = json.loads(docker("image", "inspect", "-f", "{{json .Config.Env}}", gpu_image).stdout)
    nvidia = dict(item.split("=", 1) for item in environment if item.startswith("NVIDIA_"))
    # No NVIDIA_REQUIRE_CUDA: the runtime would refuse to start the container on an old driver, and SageMaker would
    # show no reason; the start-up check writes one (test_a_driver_too_old_for_the_cuda_11_runtime_fails_the_job).
    assert nvidia == {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}
