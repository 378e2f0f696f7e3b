"""The GPU table (code/headlines/gpu_support.py): CUDA's rule for which code runs on which GPU, the families it
marks as supported, the launcher's sentence, and the README's copy of it. tests/container/test_gpu_image.py holds
the table's architectures to the image's own libraries."""

import pytest

from headlines import gpu_support, instance_types
from tests.support.repo import REPO

SUPPORTED_FAMILIES = ["p3", "p3dn", "g4dn", "p4d", "p4de", "g5", "g6", "g6e"]


def test_every_gpu_family_names_a_gpu_of_the_table():
    gpu_families = {
        name for name, family in instance_types.FAMILIES.items() if family.accelerator == instance_types.GPU
    }
    assert {name for name, _ in gpu_support.gpu_families()} == gpu_families
    named = {family.gpu for family in instance_types.FAMILIES.values() if family.gpu}
    assert named == set(gpu_support.GPU_MODELS)
    assert all(
        family.gpu is None for family in instance_types.FAMILIES.values() if family.accelerator != instance_types.GPU
    )


@pytest.mark.parametrize(
    "capability,sass,ptx,expected",
    [
        ((7, 5), ((7, 0), (8, 0)), (), "sm_70"),  # same major, lower minor: runs
        ((8, 9), ((8, 0), (8, 6)), (), "sm_86"),  # the newest that fits
        ((7, 0), ((7, 5),), (), None),  # a higher minor never runs
        ((9, 0), ((8, 6),), (), None),  # another major never runs
        ((9, 0), ((8, 6),), ((8, 0),), "compute_80 PTX"),  # PTX is compiled for any newer GPU
        ((7, 5), (), ((8, 0),), None),  # but not for an older one
    ],
)
def test_cudas_rule_for_which_code_runs(capability, sass, ptx, expected):
    assert gpu_support.runnable_code(capability, sass, ptx) == expected


def test_supported_families_are_volta_to_ada():
    assert gpu_support.supported_families() == SUPPORTED_FAMILIES
    for name, gpu in gpu_support.gpu_families():
        assert (gpu_support.code_for(gpu.compute_capability) is not None) == (name in SUPPORTED_FAMILIES), name


@pytest.mark.parametrize(
    "instance_type", ["ml.p5.48xlarge", "ml.p5en.48xlarge", "ml.p6-b200.48xlarge", "ml.g7e.2xlarge", "ml.p2.xlarge"]
)
def test_an_instance_type_without_code_is_refused_with_the_job_sentence(instance_type):
    gpu = gpu_support.family_gpu(instance_type.split(".")[1])
    with pytest.raises(instance_types.InstanceTypeError) as refused:
        gpu_support.check_instance_type(instance_type)
    assert str(refused.value) == gpu_support.unsupported_gpu(f"{instance_type} ({gpu.name})", gpu.compute_capability)
    assert "ml.g6e" in str(refused.value) and "no PTX" in str(refused.value)


@pytest.mark.parametrize(
    "instance_type",
    ["ml.p3.2xlarge", "ml.g4dn.xlarge", "ml.p4d.24xlarge", "ml.g5.xlarge", "ml.g6.xlarge", "ml.g6e.xlarge"],
)
def test_an_instance_type_with_code_passes(instance_type):
    gpu_support.check_instance_type(instance_type)


def test_the_readme_shows_the_table_as_the_code_makes_it():
    assert gpu_support.support_table() in (REPO / "README.md").read_text(), (
        "README.md's GPU table differs from the code: paste `PYTHONPATH=code python -m headlines.gpu_support`"
    )
