"""docs/delivery.md's CodeBuild tables are held equal to buildspec.yml, the file CodeBuild reads."""

import re

import yaml

from tests.support.repo import REPO

BUILDSPEC = yaml.safe_load((REPO / "buildspec.yml").read_text())
DOC = (REPO / "docs" / "delivery.md").read_text()


def documented_variables():
    """{name: default} from the table whose header is `| variable | default | what |`."""
    table = DOC.split("| variable | default | what |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.*?) \|", table, re.M)
    return {name: default.strip("`") for name, default in rows}


def test_the_variables_table_is_the_buildspecs():
    variables = BUILDSPEC["env"]["variables"]
    documented = documented_variables()
    assert set(documented) == set(variables)
    for name, value in variables.items():
        # An empty default is described in words (e.g. "the account's ECR registry", "empty").
        assert documented[name] == value or (value == "" and not documented[name].startswith("-")), name


def test_the_exported_variables_are_the_buildspecs():
    line = next(line for line in DOC.splitlines() if line.startswith("Exported variables:"))
    paragraph = DOC[DOC.index(line) :].split("\n\n", 1)[0]
    assert set(re.findall(r"`([A-Z_]+)`", paragraph)) == set(BUILDSPEC["env"]["exported-variables"])


def test_the_report_group_and_artifact_are_the_buildspecs():
    assert list(BUILDSPEC["reports"]) == ["unit-tests", "container-tests"]
    assert all(f"report group `{group}`" in DOC for group in BUILDSPEC["reports"])
    assert BUILDSPEC["artifacts"]["files"] == ["images.json"] and "artifact: `images.json`" in DOC


# --- buildspec.yml's commands, run by the CodeBuild stand-in with the scripts they call replaced by recorders ----

RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$0 CACHE_REGISTRY=${CACHE_REGISTRY:-} $*" >> "$CODEBUILD_SRC_DIR/calls"
"""
PYTHON_RECORDER = (
    RECORDER
    + """mkdir -p build && echo '{"images": {}}' > build/images.json
"""
)


def recorded_calls(tmp_path, overrides=None):
    """The calls of scripts/build-images.sh and of the virtualenv's python, in order: "<program> CACHE_REGISTRY=...
    <arguments>"."""
    import shutil

    from tests.aws.codebuild import start_build

    source = tmp_path / "src"
    (source / "scripts").mkdir(parents=True)
    (source / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(REPO / "buildspec.yml", source)
    (source / "Makefile").write_text("venv:\n\ttrue\ntest-unit:\n\tmkdir -p build/reports\n")
    for path, text in (("scripts/build-images.sh", RECORDER), (".venv/bin/python", PYTHON_RECORDER)):
        (source / path).write_text(text)
        (source / path).chmod(0o755)
    build = start_build(source, tmp_path / "work", overrides=overrides)
    assert build.status in ("SUCCEEDED", "FAILED"), build.log  # FAILED: the stand-in's empty test report
    return [
        line.split(maxsplit=1)[0].rsplit("/", 1)[-1] + " " + line.split(maxsplit=1)[1]
        for line in (source / "calls").read_text().splitlines()
    ]


def run_buildspec_commands(tmp_path, overrides=None):
    """The lines scripts/build-images.sh and scripts/push.py were called with, each with the CACHE_REGISTRY it saw."""
    calls = [call for call in recorded_calls(tmp_path, overrides) if " -m pytest " not in call]
    return {call.split()[0]: " ".join(call.split()[1:]) for call in calls}


def test_the_container_tests_run_the_built_images_before_any_push(tmp_path):
    calls = recorded_calls(tmp_path, overrides={"CONTAINER_TEST_ARGS": "tests/container/test_serve_image.py"})
    assert [call.split()[0] for call in calls] == ["build-images.sh", "python", "python"]
    assert calls[1].endswith(
        " -m pytest -m container --junitxml=build/reports/container-tests.xml tests/container/test_serve_image.py"
    )
    assert " scripts/push.py " in calls[2]


def test_by_default_the_build_trusts_no_mutable_cache_tag(tmp_path):
    """CodeBuild builds without --cache-from of the moving cache-* tags (whoever could push them would decide what
    the hash-locked pip layers hold) and so pushes none."""
    calls = run_buildspec_commands(tmp_path)
    assert calls["build-images.sh"] == "CACHE_REGISTRY= train-gpu train-cpu serve"
    assert calls["python"].startswith("CACHE_REGISTRY= scripts/push.py ")
    assert "--cache" not in calls["python"].split()
    assert "--pull-policy" not in calls["python"] and "--pull-account" not in calls["python"]


def test_a_cache_registry_turns_layer_reuse_on(tmp_path):
    calls = run_buildspec_commands(tmp_path, overrides={"CACHE_REGISTRY": "registry.example:5000"})
    assert calls["build-images.sh"] == "CACHE_REGISTRY=registry.example:5000 train-gpu train-cpu serve"
    assert "--cache" in calls["python"].split()
