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
    assert list(BUILDSPEC["reports"]) == ["unit-tests"] and "report group `unit-tests`" in DOC
    assert BUILDSPEC["artifacts"]["files"] == ["images.json"] and "artifact: `images.json`" in DOC
