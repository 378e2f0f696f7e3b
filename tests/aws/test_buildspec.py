"""buildspec.yml end to end, run by the CodeBuild stand-in (codebuild.py) on a clean checkout of this working tree,
against moto and the local registry: a green build pushes and exports the images' URIs; a build whose unit tests
or container tests fail pushes nothing and still publishes the test reports."""

import json
import re
import subprocess
import sys
import sysconfig
import uuid

import pytest

from tests.aws.codebuild import NO_ARTIFACTS, download_source, start_build
from tests.support.containers import docker
from tests.support.repo import REPO

# A subset keeps the build short: these and the test files a test writes into the checkout.
UNIT_TESTS = "tests/unit/data/test_splits.py"
UNIT_TEST_COUNT = 7  # with CREDENTIALS_TEST
CREDENTIALS_TEST = {
    "tests/unit/test_no_aws_credentials.py": """\
import boto3


def test_the_unit_tests_get_no_aws_credentials():
    assert boto3.Session().get_credentials() is None
"""
}
FAILING_TEST = {"tests/unit/test_fails_on_purpose.py": "def test_fails_on_purpose():\n    assert 1 == 2\n"}
# The container tests of the build: a subset that runs the images it built (their names follow IMAGE_PREFIX).
# (CodeBuild expands the variable unquoted, so node IDs rather than a -k expression with spaces.)
CONTAINER_TESTS = " ".join(
    f"tests/container/test_train_image.py::{test}"
    for test in (
        "test_cpu_image_libraries_all_resolve",
        "test_image_size_budget[train-cpu]",
        "test_image_size_budget[serve]",
    )
)
CONTAINER_TEST_COUNT = 3
FAILING_CONTAINER_TEST = {
    "tests/container/test_fails_on_purpose.py": "def test_fails_on_purpose(serve_image):\n    assert not serve_image\n"
}
# The base the images here are built on (ECR Public cannot be reached from this machine): all layers are cached.
LOCAL_BASE_IMAGE = "headlines-base:bookworm"
BUILT_TAGS = ("train:cpu", "train:cpu-build-env", "serve:cpu", "serve:cpu-build-env")


def checkout(tmp_path, extra_files):
    """The build's source: a clean checkout of the working tree, with the virtualenv that `make venv` finds up to
    date, as a build cache would restore it. It is a fresh one that sees this machine's .venv packages and the
    checkout's own code (this machine has no internet for a real `make venv`)."""
    source = tmp_path / "src"
    head = download_source(REPO, source, extra_files)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(source / ".venv")], check=True)
    site_packages = next((source / ".venv" / "lib").glob("python3*/site-packages"))
    (site_packages / "project.pth").write_text(f"{source / 'code'}\n{sysconfig.get_paths()['purelib']}\n")
    return source, head


@pytest.fixture
def image_prefix(docker_engine):
    """A throwaway local image prefix, so the build never retags the shared headlines-* images."""
    prefix = f"codebuild-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    docker("image", "rm", *(f"{prefix}-{tag}" for tag in BUILT_TAGS), check=False)


def run_buildspec(tmp_path, moto, registry, image_prefix, extra_files):
    source, head = checkout(tmp_path, extra_files)
    overrides = {  # as a start-build call's environmentVariablesOverride
        "IMAGES": "train-cpu serve",
        "PUSH_ARGS": f"--images train,serve --train-variant cpu --registry-host {registry.host}",
        "UNIT_TEST_ARGS": " ".join([UNIT_TESTS, *(name for name in extra_files if name.startswith("tests/unit/"))]),
        "CONTAINER_TEST_ARGS": " ".join(
            [CONTAINER_TESTS, *(name for name in extra_files if name.startswith("tests/container/"))]
        ),
        "BASE_IMAGE": LOCAL_BASE_IMAGE,
        "CACHE_REGISTRY": registry.host,  # layer reuse is opt-in (off by default): this build exercises it
        "IMAGE_PREFIX": image_prefix,
    }
    build = start_build(
        source,
        tmp_path / "work",
        overrides=overrides,
        image_environment=moto.env,
        account=moto.account,
        region=moto.region,
    )
    print(build.summary())
    return build, head


def test_a_green_build_pushes_the_images_and_exports_their_uris(tmp_path, moto, registry, image_prefix):
    build, head = run_buildspec(tmp_path, moto, registry, image_prefix, CREDENTIALS_TEST)

    assert build.status == "SUCCEEDED", build.summary() + "\n" + build.log[-6000:]
    assert [phase.status for phase in build.phases.values()] == ["SUCCEEDED"] * 5
    report = build.reports["unit-tests"]
    assert (report.tests, report.failures, report.errors, report.status) == (UNIT_TEST_COUNT, 0, 0, "SUCCEEDED")
    report = build.reports["container-tests"]
    assert (report.tests, report.failures, report.errors, report.status) == (CONTAINER_TEST_COUNT, 0, 0, "SUCCEEDED")
    assert build.artifacts == ["images.json"]
    pushed = json.loads((build.artifacts_dir / "images.json").read_text())
    assert pushed["commit"] == head and set(pushed["images"]) == {"train-cpu", "serve"}
    registry_host = f"{moto.account}.dkr.ecr.{moto.region}.amazonaws.com"
    for key, repository in (("train-cpu", "headlines-train"), ("serve", "headlines-serve")):
        assert re.fullmatch(
            rf"{re.escape(registry_host)}/{repository}@sha256:[0-9a-f]{{64}}", pushed["images"][key]["uri"]
        )
    assert build.exported_variables == {
        "TRAIN_GPU_IMAGE_URI": "",
        "TRAIN_CPU_IMAGE_URI": pushed["images"]["train-cpu"]["uri"],
        "SERVE_IMAGE_URI": pushed["images"]["serve"]["uri"],
        "IMAGES_JSON": json.dumps(pushed, separators=(",", ":")),
    }
    ecr = moto.client("ecr")
    for key, repository in (("train-cpu", "headlines-train"), ("serve", "headlines-serve")):
        tags = (f"{head[:12]}-cpu", f"cache-{key}", f"cache-{key}-build-env")
        for tag in tags:
            registry.wait_mirrored(repository, tag)
        listed = {
            tag: image["imageDigest"]
            for image in ecr.describe_images(repositoryName=repository)["imageDetails"]
            for tag in image.get("imageTags", [])
        }
        assert set(tags) <= set(listed)
        assert listed[f"{head[:12]}-cpu"] == pushed["images"][key]["digest"]


def test_a_failing_unit_test_fails_the_build_and_nothing_is_built_or_pushed(tmp_path, moto, registry, image_prefix):
    build, _ = run_buildspec(tmp_path, moto, registry, image_prefix, {**CREDENTIALS_TEST, **FAILING_TEST})

    assert build.status == "FAILED"
    assert {name: phase.status for name, phase in build.phases.items()} == {
        "INSTALL": "SUCCEEDED",
        "PRE_BUILD": "FAILED",
        "BUILD": "SUCCEEDED",
        "POST_BUILD": "SUCCEEDED",
        "UPLOAD_ARTIFACTS": "FAILED",
    }
    assert "Not building the images: the unit tests failed." in build.log
    assert "Not pushing: the build failed." in build.log
    report = build.reports["unit-tests"]
    assert (report.tests, report.failures, report.status) == (UNIT_TEST_COUNT + 1, 1, "FAILED")
    assert report.failed_cases == ["tests.unit.test_fails_on_purpose.test_fails_on_purpose"]
    assert build.phases["UPLOAD_ARTIFACTS"].context == NO_ARTIFACTS and build.artifacts == []
    assert build.exported_variables == {}
    assert moto.client("ecr").describe_repositories()["repositories"] == []
    assert registry.repositories() == []
    assert docker("image", "ls", "-q", "--filter", f"reference={image_prefix}-*").stdout == ""


def test_a_failing_container_test_fails_the_build_and_nothing_is_pushed(tmp_path, moto, registry, image_prefix):
    build, _ = run_buildspec(tmp_path, moto, registry, image_prefix, {**CREDENTIALS_TEST, **FAILING_CONTAINER_TEST})

    assert build.status == "FAILED"
    assert {name: phase.status for name, phase in build.phases.items()} == {
        "INSTALL": "SUCCEEDED",
        "PRE_BUILD": "SUCCEEDED",
        "BUILD": "FAILED",
        "POST_BUILD": "SUCCEEDED",
        "UPLOAD_ARTIFACTS": "FAILED",
    }
    assert "Not pushing: the build failed." in build.log
    report = build.reports["container-tests"]
    assert (report.tests, report.failures, report.status) == (CONTAINER_TEST_COUNT + 1, 1, "FAILED")
    assert report.failed_cases == ["tests.container.test_fails_on_purpose.test_fails_on_purpose"]
    assert build.artifacts == [] and build.exported_variables == {}
    assert moto.client("ecr").describe_repositories()["repositories"] == []
    assert registry.repositories() == []
