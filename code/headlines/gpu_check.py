"""The GPU image's first step, before MXNet loads and before any data is read: log the driver and every GPU, and end
the job with one sentence when a GPU or the driver cannot run this build — on SageMaker that sentence becomes the
job's FailureReason within seconds, instead of "no kernel image is available" after the data is loaded.

Without a GPU (SageMaker `local` mode, or a CPU instance by mistake) the job trains on the CPU after a one-line
warning: the CUDA build of MXNet computes on the CPU as well, and a local run on a laptop is what a user wants to
work. Only, libmxnet.so links libcuda.so.1, which the NVIDIA runtime mounts, so without it MXNet cannot even load;
the image carries a stand-in built from the driver functions libmxnet.so links, each answering "no CUDA device"
(HEADLINES_NO_DRIVER_LIBCUDA, see containers/train/Dockerfile). Loaded first, it is the libcuda.so.1 MXNet gets.
"""

import ctypes
import importlib.metadata
import logging
import os
import re
from collections.abc import Callable, Mapping

from . import cuda_driver
from .errors import JobError
from .gpu_support import CUDA_RUNTIME, MIN_DRIVER_CUDA, code_for, driver_too_old, unsupported_gpu, version

NO_DRIVER_LIBRARY_ENV = "HEADLINES_NO_DRIVER_LIBCUDA"
_CUDA_BUILD = re.compile(r"mxnet-cu\d+")
GiB = 1024**3


def mxnet_cuda_build() -> str | None:
    """The installed MXNet distribution when it is a CUDA build (e.g. mxnet-cu112), else None. Read from the package
    metadata: importing the CUDA build is exactly what fails without a driver."""
    for distribution in importlib.metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower()
        if _CUDA_BUILD.fullmatch(name):
            return name
    return None


def check_gpus(
    log: logging.Logger,
    environ: Mapping[str, str] = os.environ,
    read_driver: Callable[[], cuda_driver.Driver] = cuda_driver.read_driver,
    cuda_build: Callable[[], str | None] = mxnet_cuda_build,
) -> None:
    """Log the driver and GPUs; raise JobError for a GPU or driver this build cannot use; without a GPU, warn and
    make MXNet loadable for CPU training. Does nothing for a CPU build of MXNet."""
    build = cuda_build()
    if build is None:
        return
    try:
        driver = read_driver()
    except cuda_driver.NoDriver as e:
        _load_no_driver_library(environ, f"{cuda_driver.DRIVER_LIBRARY} does not load: {e}")
        _warn_cpu(log, "no NVIDIA driver was mounted into the container")
        return
    except cuda_driver.DriverError as e:
        raise JobError(f"The GPUs cannot be used: {e}.") from None
    if driver.cuda_version < MIN_DRIVER_CUDA:
        raise JobError(driver_too_old(driver.cuda_version))
    log.info(
        "NVIDIA driver for CUDA %s; this image: %s, CUDA %s runtime.",
        version(driver.cuda_version),
        build,
        version(CUDA_RUNTIME),
    )
    if not driver.devices:
        _warn_cpu(log, "the NVIDIA driver reports no GPU")
        return
    for device in driver.devices:
        code = code_for(device.compute_capability)
        log.info(
            "GPU %d: %s, compute capability %s, %.1f GiB: %s.",
            device.index,
            device.name,
            version(device.compute_capability),
            device.memory_bytes / GiB,
            f"runs the image's {code} code" if code else "NO CODE FOR IT in this image",
        )
    for device in driver.devices:
        if code_for(device.compute_capability) is None:
            raise JobError(unsupported_gpu(f"GPU {device.index} ({device.name})", device.compute_capability))


def _load_no_driver_library(environ: Mapping[str, str], reason: str) -> None:
    path = environ.get(NO_DRIVER_LIBRARY_ENV, "")
    if not path or not os.path.isfile(path):
        raise JobError(
            f"MXNet's CUDA build cannot load without the NVIDIA driver ({reason}): run it on a machine "
            f"with an NVIDIA GPU and the NVIDIA container runtime, or use the CPU image."
        )
    ctypes.CDLL(path)  # its soname is libcuda.so.1: libmxnet.so's dependency is now satisfied by it


def _warn_cpu(log: logging.Logger, reason: str) -> None:
    log.warning(
        "No NVIDIA GPU is visible (%s): training on the CPU, far slower; for a GPU use a GPU instance type or "
        "instance_type='local_gpu' on a machine with one, and for CPUs the smaller CPU image.",
        reason,
    )
