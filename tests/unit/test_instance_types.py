"""code/headlines/instance_types.py: the instance-type table against SageMaker's API model (botocore's sagemaker
service-2.json), EC2's naming of accelerators and architectures, and what SageMaker does not offer."""

import re

import botocore.session
import pytest

from headlines import instance_types
from headlines.instance_types import CPU, GPU, HOSTING, OTHER, TRAINING, TRANSFORM

API_ENUMS = {
    TRAINING: "TrainingInstanceType",
    HOSTING: "ProductionVariantInstanceType",
    TRANSFORM: "TransformInstanceType",
}


def _api_families():
    """family -> (uses, sizes) from the instance-type enums of SageMaker's API model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    families = {}
    for use, shape in API_ENUMS.items():
        for instance_type in model.shape_for(shape).enum:
            _, family, size = instance_type.split(".")
            uses, sizes = families.setdefault(family, (set(), set()))
            uses.add(use)
            sizes.add(size)
    return families


def test_instance_families_match_sagemakers_api_model():
    """botocore is pinned (tests/requirements-dev.lock); a newer one that knows more families fails here until the
    table has them."""
    api = _api_families()
    table = {name: (set(family.uses), set(family.sizes.split())) for name, family in instance_types.FAMILIES.items()}
    assert table == api


def test_instance_families_accelerators_and_architectures():
    """EC2's naming: g and p families carry NVIDIA GPUs, inf/trn/dl other accelerators; a g after the generation
    (c7g, r6gd) is Graviton, and GB200 pairs its GPUs with Grace: both arm64."""
    for name, family in instance_types.FAMILIES.items():
        expected = OTHER if name.startswith(("inf", "trn", "dl")) else GPU if name[0] in "gp" else CPU
        assert family.accelerator == expected, name
        arm = re.fullmatch(r"[cmr]\d+g[a-z]*", name) or name.endswith("gb200")
        assert family.architecture == (instance_types.ARM64 if arm else instance_types.X86_64), name


@pytest.mark.parametrize(
    "instance_type,use,message",
    [
        ("ml.m5", TRAINING, "'ml.m5' is not a SageMaker instance type"),
        ("m5.xlarge", TRAINING, "is not a SageMaker instance type"),
        ("ml.x9.xlarge", TRAINING, "SageMaker has no instance family 'x9'"),
        (
            "ml.t2.medium",
            TRAINING,
            "SageMaker does not offer ml.t2.medium for training jobs, only for real-time endpoints",
        ),
        ("ml.p4d.24xlarge", TRANSFORM, "only for training jobs and real-time endpoints"),
        ("ml.g5.large", TRAINING, "SageMaker has no ml.g5.large: the g5 family comes in sizes xlarge, 2xlarge"),
    ],
)
def test_instance_types_sagemaker_does_not_offer(instance_type, use, message):
    with pytest.raises(instance_types.InstanceTypeError, match=message):
        instance_types.family(instance_type, use)


def test_instance_types_sagemaker_offers():
    assert instance_types.family("ml.g5.xlarge", TRAINING).accelerator == GPU
    assert instance_types.family("ml.m5.large", HOSTING).accelerator == CPU
    assert instance_types.family("ml.c6g.xlarge", HOSTING).architecture == instance_types.ARM64
