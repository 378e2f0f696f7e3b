"""Which NVIDIA GPUs the GPU training image runs on, and why: the one table the job's start-up check, the launcher and
the README use.

A CUDA binary runs on a GPU only if it carries machine code (SASS) for the GPU's major compute capability with a
minor version no higher than the GPU's, or PTX of a capability no higher than the GPU's, which the driver compiles
on the spot. The GPU image's `libmxnet.so` (mxnet-cu112 1.9.1; mxnet-cu117 1.9.1 is the same, and MXNet has no
newer release) carries SASS for five architectures and no PTX, so Hopper (9.0) and Blackwell (10.x, 12.x) GPUs
cannot run a single MXNet kernel. The architectures below are what tests/container/test_gpu_image.py reads from the
image's own libraries; it also checks that every CUDA library beside libmxnet.so runs on each GPU listed here as
supported.

Standard library only: scripts/launch.py imports this module from the SageMaker SDK's virtualenv.
"""

import dataclasses
from collections.abc import Iterable

from . import instance_types

# A compute capability, or a CUDA version: (major, minor).
Version = tuple[int, int]

MXNET_BUILD = "mxnet-cu112 1.9.1"
SASS_ARCHITECTURES: tuple[Version, ...] = ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6))  # machine code in libmxnet.so
PTX_ARCHITECTURES: tuple[Version, ...] = ()
CUDA_RUNTIME = (11, 8)  # nvidia-cuda-runtime-cu11 11.8.89
# CUDA's minor version compatibility: an 11.x runtime runs on any driver for CUDA 11.0 or newer (R450+), as long as
# nothing needs PTX compiled, which this build has none of.
MIN_DRIVER_CUDA = (11, 0)
MIN_DRIVER_RELEASE = "450.80.02"


@dataclasses.dataclass(frozen=True)
class GpuModel:
    name: str
    compute_capability: Version


# The GPUs of SageMaker's GPU instance families (instance_types.Family.gpu), from the EC2 accelerated computing
# instance pages and NVIDIA's CUDA GPU compute capability list.
GPU_MODELS = {
    "K80": GpuModel("NVIDIA K80", (3, 7)),
    "V100": GpuModel("NVIDIA V100", (7, 0)),
    "T4": GpuModel("NVIDIA T4", (7, 5)),
    "A100": GpuModel("NVIDIA A100", (8, 0)),
    "A10G": GpuModel("NVIDIA A10G", (8, 6)),
    "L4": GpuModel("NVIDIA L4", (8, 9)),
    "L40S": GpuModel("NVIDIA L40S", (8, 9)),
    "H100": GpuModel("NVIDIA H100", (9, 0)),
    "H200": GpuModel("NVIDIA H200", (9, 0)),
    "B200": GpuModel("NVIDIA B200", (10, 0)),
    "GB200": GpuModel("NVIDIA GB200", (10, 0)),
    "B300": GpuModel("NVIDIA B300", (10, 3)),
    "RTX PRO 4500": GpuModel("NVIDIA RTX PRO 4500 Blackwell", (12, 0)),
    "RTX PRO 6000": GpuModel("NVIDIA RTX PRO 6000 Blackwell", (12, 0)),
}


def version(pair: Version) -> str:
    return f"{pair[0]}.{pair[1]}"


def runnable_code(capability: Version, sass: Iterable[Version], ptx: Iterable[Version]) -> str | None:
    """The architecture among `sass` and `ptx` that a GPU of `capability` runs (the newest that fits), or None."""
    same_major = [arch for arch in sass if arch[0] == capability[0] and arch[1] <= capability[1]]
    if same_major:
        return "sm_%d%d" % max(same_major)
    compilable = [arch for arch in ptx if arch <= capability]
    if compilable:
        return "compute_%d%d PTX" % max(compilable)
    return None


def code_for(capability: Version) -> str | None:
    """This image's code that runs on a GPU of `capability`, or None when it has none."""
    return runnable_code(capability, SASS_ARCHITECTURES, PTX_ARCHITECTURES)


def family_gpu(name: str) -> GpuModel:
    """The GPU of a GPU family; KeyError for a family without one, as for a family that is none."""
    gpu = instance_types.FAMILIES[name].gpu
    if gpu is None:
        raise KeyError(f"the {name} family has no NVIDIA GPU")
    return GPU_MODELS[gpu]


def gpu_families() -> list[tuple[str, GpuModel]]:
    """(family name, GpuModel) of every NVIDIA GPU family, oldest GPU first."""
    families = [
        (name, family_gpu(name))
        for name, family in instance_types.FAMILIES.items()
        if family.accelerator == instance_types.GPU
    ]
    return sorted(families, key=lambda item: (item[1].compute_capability, item[0]))


def supported_families() -> list[str]:
    """The GPU families SageMaker trains on whose GPUs this image has code for (and whose hosts are x86_64)."""
    return [
        name
        for name, gpu in gpu_families()
        if code_for(gpu.compute_capability)
        and instance_types.TRAINING in instance_types.FAMILIES[name].uses
        and instance_types.FAMILIES[name].architecture == instance_types.X86_64
    ]


def _build_description() -> str:
    sass = ", ".join(version(arch) for arch in SASS_ARCHITECTURES)
    ptx = ", ".join(version(arch) for arch in PTX_ARCHITECTURES)
    return f"its kernels are compiled for compute capability {sass} only, " + (f"PTX {ptx}" if ptx else "no PTX")


def unsupported_gpu(subject: str, capability: Version) -> str:
    """The one sentence for a GPU this image cannot run on; subject names it, e.g. "GPU 0 (NVIDIA H100 80GB HBM3)"."""
    families = ", ".join(f"ml.{name}" for name in supported_families())
    return (
        f"{subject} has compute capability {version(capability)}, and this image's MXNet ({MXNET_BUILD}) has "
        f"no code for it ({_build_description()}): use an instance family whose GPUs it runs on: {families}."
    )


def driver_too_old(driver_cuda: Version) -> str:
    return (
        f"The NVIDIA driver on this host supports CUDA {version(driver_cuda)}, and this image's CUDA "
        f"{version(CUDA_RUNTIME)} runtime needs a driver for CUDA {version(MIN_DRIVER_CUDA)} or newer (Linux "
        f"driver {MIN_DRIVER_RELEASE} or later): update the host's NVIDIA driver."
    )


def check_instance_type(instance_type: str) -> None:
    """Raise InstanceTypeError, with the same sentence as the job's start-up check, for a GPU instance type whose
    GPUs this image has no code for. Call after instance_types.family() has accepted the type."""
    name = instance_type.split(".")[1]
    gpu = family_gpu(name)
    if code_for(gpu.compute_capability) is None:
        raise instance_types.InstanceTypeError(unsupported_gpu(f"{instance_type} ({gpu.name})", gpu.compute_capability))


def support_table() -> str:
    """The README's table, as Markdown."""
    rows = ["| instance families | GPU | compute capability | runs the GPU image | why |", "|---|---|---|---|---|"]
    by_gpu: dict[GpuModel, list[str]] = {}
    for name, gpu in gpu_families():
        by_gpu.setdefault(gpu, []).append(f"`ml.{name}`")
    for gpu, families in by_gpu.items():
        code = code_for(gpu.compute_capability)
        why = f"runs the `{code}` code" if code else f"no code for {gpu.compute_capability[0]}.x and no PTX"
        rows.append(
            f"| {', '.join(families)} | {gpu.name} | {version(gpu.compute_capability)} | "
            f"{'yes' if code else '**no**'} | {why} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(support_table())
