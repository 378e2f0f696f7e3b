"""The NVIDIA driver as a job finds it: the CUDA version it supports and its GPUs, read with ctypes through the CUDA
driver API in libcuda.so.1 — the library the NVIDIA container runtime mounts into the container and libmxnet.so
links — so that nothing of MXNet has to load first. nvidia-smi would need the runtime's `utility` capability and
prints no compute capability on older drivers; the driver API answers the same questions everywhere."""

import ctypes
import dataclasses
from typing import Any

DRIVER_LIBRARY = "libcuda.so.1"
CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
# CUdevice_attribute values (cuda.h).
COMPUTE_CAPABILITY_MAJOR = 75
COMPUTE_CAPABILITY_MINOR = 76
NAME_BYTES = 256


@dataclasses.dataclass(frozen=True)
class Device:
    index: int
    name: str
    compute_capability: tuple[int, int]  # (major, minor)
    memory_bytes: int


@dataclasses.dataclass(frozen=True)
class Driver:
    cuda_version: tuple[int, int]  # the newest CUDA version the driver supports, (major, minor)
    devices: tuple[Device, ...]  # empty when the driver sees no GPU


class NoDriver(Exception):
    """libcuda.so.1 cannot be loaded: no NVIDIA driver was mounted into the container."""


class DriverError(Exception):
    """The driver answered a call with an error; the message names the call and the error."""


class _Api:
    def __init__(self, library: str) -> None:
        try:
            self.cuda = ctypes.CDLL(library)
        except OSError as e:
            raise NoDriver(str(e)) from None

    def call(self, function: str, *args: Any) -> None:
        self.check(function, getattr(self.cuda, function)(*args))

    def check(self, function: str, result: int) -> None:
        if result != CUDA_SUCCESS:
            raise DriverError(f"the NVIDIA driver's {function} failed with {self.error_name(result)}")

    def error_name(self, result: int) -> str:
        name = ctypes.c_char_p()
        if self.cuda.cuGetErrorName(result, ctypes.byref(name)) == CUDA_SUCCESS and name.value:
            return f"{name.value.decode()} ({result})"
        return f"error {result}"

    def int_value(self, function: str, *args: Any) -> int:
        value = ctypes.c_int()
        self.call(function, ctypes.byref(value), *args)
        return value.value

    def device(self, index: int) -> Device:
        handle = self.int_value("cuDeviceGet", index)
        name = ctypes.create_string_buffer(NAME_BYTES)
        self.call("cuDeviceGetName", name, NAME_BYTES, handle)
        capability = (
            self.int_value("cuDeviceGetAttribute", COMPUTE_CAPABILITY_MAJOR, handle),
            self.int_value("cuDeviceGetAttribute", COMPUTE_CAPABILITY_MINOR, handle),
        )
        memory = ctypes.c_size_t()
        self.call("cuDeviceTotalMem_v2", ctypes.byref(memory), handle)
        return Device(index, name.value.decode(errors="replace"), capability, memory.value)


def read_driver(library: str = DRIVER_LIBRARY) -> Driver:
    """The driver's CUDA version and its GPUs. Raises NoDriver when `library` does not load, DriverError when the
    driver fails a call (a broken installation, a GPU in an error state)."""
    api = _Api(library)
    encoded = api.int_value("cuDriverGetVersion")  # 1000 * major + 10 * minor; needs no cuInit
    cuda_version = (encoded // 1000, encoded % 1000 // 10)
    result = api.cuda.cuInit(0)
    if result == CUDA_ERROR_NO_DEVICE:
        return Driver(cuda_version, ())
    api.check("cuInit", result)
    count = api.int_value("cuDeviceGetCount")
    return Driver(cuda_version, tuple(api.device(index) for index in range(count)))
