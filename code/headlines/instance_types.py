"""SageMaker's instance families: the accelerator each carries, its CPU architecture, the sizes it comes in, and
what SageMaker offers it for (training jobs, real-time endpoints, batch transform).

The launcher (scripts/launch.py) checks an instance type here before any API call, so that a job never waits in a
queue only to be refused, or a GPU image never starts on a machine without a GPU. Standard library only: the
launcher imports this module from the SageMaker SDK's virtualenv, which has neither MXNet nor this package.

Source: the TrainingInstanceType, ProductionVariantInstanceType and TransformInstanceType enums of SageMaker's API
model (botocore's sagemaker service-2.json); tests/unit/test_instance_types.py keeps the table equal to them. Sizes are
per family: SageMaker offers a few sizes of a family for some uses only (ml.c5.large hosts but does not train),
and those few are left for SageMaker to refuse.
"""

import dataclasses
import re

CPU, GPU, OTHER = "cpu", "gpu", "other"  # OTHER: AWS Inferentia or Trainium, Habana Gaudi
X86_64, ARM64 = "x86_64", "arm64"
TRAINING, HOSTING, TRANSFORM = "training", "hosting", "transform"
ALL_USES = (TRAINING, HOSTING, TRANSFORM)
USE_NAMES = {TRAINING: "training jobs", HOSTING: "real-time endpoints", TRANSFORM: "batch transform jobs"}

# Serverless endpoints take no instance type: memory and concurrency instead, on CPU only.
SERVERLESS_ACCELERATOR = CPU
SERVERLESS_MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200

_INSTANCE_TYPE = re.compile(r"ml\.([a-z0-9-]+)\.([a-z0-9]+)")


@dataclasses.dataclass(frozen=True)
class Family:
    accelerator: str
    uses: tuple[str, ...]
    sizes: str  # space-separated
    architecture: str = X86_64
    gpu: str | None = None  # the NVIDIA GPU model of a GPU family, a key of gpu_support.GPU_MODELS


FAMILIES = {
    # General purpose, compute and memory optimised: CPU only.
    "c4": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge"),
    "c5": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 9xlarge 18xlarge"),
    "c5d": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 9xlarge 18xlarge"),
    "c5n": Family(CPU, (TRAINING,), "xlarge 2xlarge 4xlarge 9xlarge 18xlarge"),
    "c6g": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "c6gd": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "c6gn": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "c6i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge"),
    "c6in": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge"),
    "c7g": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "c7i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge"),
    "c7i-flex": Family(CPU, (TRAINING,), "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge"),
    "c8g": Family(
        CPU, (HOSTING,), "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", ARM64
    ),
    "c8i": Family(
        CPU, (TRAINING,), "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge 48xlarge 96xlarge"
    ),
    "c8i-flex": Family(CPU, (TRAINING,), "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge"),
    "m4": Family(CPU, ALL_USES, "xlarge 2xlarge 4xlarge 10xlarge 16xlarge"),
    "m5": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge"),
    "m5d": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge"),
    "m6g": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "m6gd": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "m6i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge"),
    "m7i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge"),
    "m7i-flex": Family(CPU, (TRAINING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge"),
    "m8g": Family(
        CPU, (HOSTING,), "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", ARM64
    ),
    "m8i": Family(
        CPU, (TRAINING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge 48xlarge 96xlarge"
    ),
    "m8i-flex": Family(CPU, (TRAINING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge"),
    "r5": Family(CPU, (TRAINING, HOSTING), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge"),
    "r5d": Family(CPU, (TRAINING, HOSTING), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge"),
    "r6g": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "r6gd": Family(CPU, (HOSTING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "r6i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge"),
    "r7gd": Family(CPU, (HOSTING,), "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", ARM64),
    "r7i": Family(CPU, ALL_USES, "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge"),
    "r8g": Family(
        CPU, (HOSTING,), "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", ARM64
    ),
    "r8i": Family(
        CPU, (TRAINING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge 48xlarge 96xlarge"
    ),
    "r8i-flex": Family(CPU, (TRAINING,), "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge"),
    "t2": Family(CPU, (HOSTING,), "medium large xlarge 2xlarge"),
    "t3": Family(CPU, (TRAINING,), "medium large xlarge 2xlarge"),
    # NVIDIA GPUs.
    "g4dn": Family(GPU, ALL_USES, "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge", gpu="T4"),
    "g5": Family(GPU, ALL_USES, "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", gpu="A10G"),
    "g6": Family(GPU, ALL_USES, "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", gpu="L4"),
    "g6e": Family(GPU, ALL_USES, "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge", gpu="L40S"),
    "g7": Family(GPU, (TRAINING, HOSTING), "2xlarge 4xlarge 8xlarge 12xlarge 24xlarge 48xlarge", gpu="RTX PRO 4500"),
    "g7e": Family(GPU, (TRAINING, HOSTING), "2xlarge 4xlarge 8xlarge 12xlarge 24xlarge 48xlarge", gpu="RTX PRO 6000"),
    "p2": Family(GPU, ALL_USES, "xlarge 8xlarge 16xlarge", gpu="K80"),
    "p3": Family(GPU, ALL_USES, "2xlarge 8xlarge 16xlarge", gpu="V100"),
    "p3dn": Family(GPU, (TRAINING,), "24xlarge", gpu="V100"),
    "p4d": Family(GPU, (TRAINING, HOSTING), "24xlarge", gpu="A100"),
    "p4de": Family(GPU, (TRAINING, HOSTING), "24xlarge", gpu="A100"),
    "p5": Family(GPU, (TRAINING, HOSTING), "4xlarge 48xlarge", gpu="H100"),
    "p5e": Family(GPU, (TRAINING, HOSTING), "48xlarge", gpu="H200"),
    "p5en": Family(GPU, (TRAINING, HOSTING), "48xlarge", gpu="H200"),
    "p6-b200": Family(GPU, (TRAINING, HOSTING), "48xlarge", gpu="B200"),
    "p6-b300": Family(GPU, (TRAINING, HOSTING), "48xlarge", gpu="B300"),
    "p6e-gb200": Family(GPU, (TRAINING, HOSTING), "36xlarge", ARM64, gpu="GB200"),
    # Other accelerators: Habana Gaudi, AWS Inferentia, AWS Trainium.
    "dl1": Family(OTHER, (HOSTING,), "24xlarge"),
    "inf1": Family(OTHER, (HOSTING,), "xlarge 2xlarge 6xlarge 24xlarge"),
    "inf2": Family(OTHER, (HOSTING, TRANSFORM), "xlarge 8xlarge 24xlarge 48xlarge"),
    "trn1": Family(OTHER, ALL_USES, "2xlarge 32xlarge"),
    "trn1n": Family(OTHER, (TRAINING, HOSTING), "32xlarge"),
    "trn2": Family(OTHER, (TRAINING, HOSTING), "48xlarge"),
}


class InstanceTypeError(ValueError):
    """An instance type SageMaker would refuse for that use; the message says why in one sentence."""


def family(instance_type: str, use: str) -> Family:
    """The Family of `ml.<family>.<size>` when SageMaker offers that family, in that size, for `use`."""
    match = _INSTANCE_TYPE.fullmatch(instance_type)
    if not match:
        raise InstanceTypeError(
            f"'{instance_type}' is not a SageMaker instance type (ml.<family>.<size>, such as ml.m5.xlarge)."
        )
    name, size = match.groups()
    offered = [family_name for family_name, candidate in FAMILIES.items() if use in candidate.uses]
    if name not in FAMILIES:
        raise InstanceTypeError(
            f"SageMaker has no instance family '{name}' ({instance_type}); its families for "
            f"{USE_NAMES[use]} are {', '.join(offered)}."
        )
    found = FAMILIES[name]
    if use not in found.uses:
        raise InstanceTypeError(
            f"SageMaker does not offer {instance_type} for {USE_NAMES[use]}, only for "
            f"{' and '.join(USE_NAMES[u] for u in found.uses)}."
        )
    if size not in found.sizes.split():
        raise InstanceTypeError(
            f"SageMaker has no {instance_type}: the {name} family comes in sizes {', '.join(found.sizes.split())}."
        )
    return found
