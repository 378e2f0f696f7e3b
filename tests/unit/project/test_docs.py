"""The README and docs/: short README with a map of every page, links that resolve, and the reference tables held
equal to the code that defines them (hyperparameters, the serving settings, the metric definitions; the GPU table
is tests/unit/test_gpu_support.py's, the CodeBuild tables tests/unit/project/test_delivery_docs.py's)."""

import re

import pytest

from headlines import contract
from headlines.hyperparameters import Hyperparameters, WordVectorHyperparameters
from tests.support.repo import REPO, load_script

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
README_MAX_BYTES = 10_000  # what a newcomer reads in five minutes
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def text(name):
    return (REPO / name).read_text(encoding="utf-8")


def test_the_readme_is_short_and_maps_every_page_of_the_docs():
    assert README.stat().st_size <= README_MAX_BYTES
    linked = set(LINK.findall(README.read_text(encoding="utf-8")))
    assert {f"docs/{page.name}" for page in DOCS} <= linked


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+:", target):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


@pytest.mark.parametrize(
    "schema,page", [(Hyperparameters, "docs/training.md"), (WordVectorHyperparameters, "docs/word-vectors.md")]
)
def test_hyperparameter_tables_are_the_schemas(schema, page):
    assert schema.markdown_table() in text(page), (
        f"{page}'s table differs from the code: paste `PYTHONPATH=code python -m headlines.hyperparameters`"
    )


def test_the_serving_settings_table_is_the_contracts():
    table = text("docs/serving.md").split("| env var | default | effect |", 1)[1].split("\n\n", 1)[0]
    documented = dict(re.findall(r"^\| `([A-Z_]+)`(?:, `[A-Z_]+`)? \| ([^|]+) \|", table, flags=re.M))
    names = set(re.findall(r"`([A-Z_]+)`", table))
    assert names == {
        contract.SERVING_PORT_ENV,
        contract.MODEL_SERVER_WORKERS_ENV,
        contract.MODEL_SERVER_TIMEOUT_ENV,
        contract.MAX_PAYLOAD_ENV,
        contract.BATCH_ENV,
        contract.BATCH_STRATEGY_ENV,
        contract.MAX_CONCURRENT_TRANSFORMS_ENV,
        contract.MULTI_MODEL_ENV,
        contract.DEFAULT_ACCEPT_ENV,
    }
    assert documented[contract.SERVING_PORT_ENV].strip() == str(contract.DEFAULT_SERVING_PORT)
    assert documented[contract.MODEL_SERVER_TIMEOUT_ENV].strip() == str(contract.DEFAULT_MODEL_SERVER_TIMEOUT)
    assert documented[contract.MAX_PAYLOAD_ENV].strip() == str(contract.DEFAULT_MAX_PAYLOAD_MB)
    assert documented[contract.BATCH_STRATEGY_ENV].startswith(contract.BATCH_STRATEGIES[0])


def test_the_metric_definitions_table_is_the_launchers():
    launch_metrics = load_script("launch_metrics")
    documented = dict(re.findall(r"^\| `([a-z0-9_:]+)` \| `(.+)` \|$", text("docs/training.md"), flags=re.M))
    for definition in launch_metrics.CLASSIFIER_METRICS + launch_metrics.WORD_VECTOR_METRICS:
        assert documented.get(definition["Name"]) == definition["Regex"], definition["Name"]


def test_the_benchmarks_page_is_the_reports_output():
    """docs/benchmarks.md is written by benchmarks/report.py: its sections in the report's order, each one either
    measured (with where, when, by which command, against which anchor) or saying which target measures it."""
    from benchmarks import report

    page = text("docs/benchmarks.md")
    sections = re.split(r"^## ", page, flags=re.M)[1:]
    assert [section.split("\n", 1)[0] for section in sections] == [title for title, *_ in report.SECTIONS]
    for section, (_, _, target, _) in zip(sections, report.SECTIONS):
        body = section.split("\n", 1)[1].strip()
        assert (
            body.startswith("*Measured ")
            and f"`make {target}`; anchor: " in body
            or body == (f"Not measured yet: `make {target}`.")
        ), section[:300]
