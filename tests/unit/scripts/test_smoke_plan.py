"""scripts/smoke_plan.py: the names `make smoke-aws` gives what it creates (a cleanup finds a run's resources by them
alone), the instance types it runs on, and its cost estimate. The run itself: tests/aws/test_smoke_aws.py."""

import re

import pytest

from headlines import instance_types
from headlines.instance_types import HOSTING, TRAINING, TRANSFORM
from tests.support.repo import REPO, load_script

smoke_plan = load_script("smoke_plan")
launch_checks = load_script("launch_checks")
ECR_REPOSITORY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")  # ECR's pattern
USES = {"training": TRAINING, "hosting": HOSTING, "transform": TRANSFORM}
RESOURCES = ("word-vectors", "classifier", "endpoint", "endpoint-model", "transform", "transform-model")


def test_a_new_run_id_passes_its_own_check_and_sloppy_ones_do_not():
    assert smoke_plan.check_run_id(smoke_plan.new_run_id())
    for sloppy in ("", "2026", "20261206", "20261206-07150", "20261206-071500-", "20261206-071500x", "*"):
        with pytest.raises(ValueError, match="YYYYMMDD-HHMMSS"):
            smoke_plan.check_run_id(sloppy)


def test_every_name_is_one_aws_takes_and_no_run_prefixes_another_runs_names():
    names = smoke_plan.Names("20261206-071500")
    for what in RESOURCES + ("serverless", "serverless-model"):
        name = names.resource(what)
        assert launch_checks.NAME.fullmatch(name) and len(name) <= launch_checks.MAX_NAME_LENGTH, name
    for family in ("train", "serve"):
        assert ECR_REPOSITORY.fullmatch(f"{names.repository_prefix}-{family}")
    later = smoke_plan.Names("20261206-071501")
    assert not later.resource("classifier").startswith(smoke_plan.prefix(names.run_id))
    assert not later.s3_prefix.startswith(names.s3_prefix)


def test_each_step_runs_where_sagemaker_offers_it_and_has_a_price():
    for step in smoke_plan.STEPS:
        if step.billing in USES:
            assert instance_types.family(step.instance_type, USES[step.billing]).accelerator == instance_types.CPU
            assert (step.billing, step.instance_type) in smoke_plan.HOURLY_PRICES_USD
        assert step.expected_seconds <= step.limit_seconds
    assert smoke_plan.SERVERLESS_MEMORY_MB in instance_types.SERVERLESS_MEMORY_SIZES_MB


def test_the_cost_is_the_list_price_for_the_time_billed():
    training = smoke_plan.step("classifier")
    assert smoke_plan.step_cost(training, 3600) == pytest.approx(
        smoke_plan.HOURLY_PRICES_USD[("training", "ml.c5.xlarge")]
    )
    assert smoke_plan.step_cost(smoke_plan.step("serverless"), 1) == pytest.approx(0.00004)  # 2 GB for a second
    assert smoke_plan.step_cost(smoke_plan.step("push"), 10_000) == 0
    expected, ceiling = smoke_plan.cost_estimate()
    # Two one-hour training jobs are most of the ceiling; a usual run costs cents.
    assert 2 * 0.204 < ceiling < 1.0 and 0.01 < expected < 0.2


def test_the_plan_names_every_step_the_cost_and_the_cleanup():
    lines = "\n".join(smoke_plan.plan_lines(smoke_plan.Names("20261206-071500"), "eu-west-1", "my-bucket"))
    for number, step in enumerate(smoke_plan.STEPS, 1):
        assert f"{number}. {step.title}" in lines
    assert "s3://my-bucket/headlines-smoke/20261206-071500/" in lines and "eu-west-1" in lines
    assert "--cleanup 20261206-071500" in lines and "cost estimate: about $" in lines


def test_the_docs_state_the_estimate_the_code_prints():
    expected, ceiling = smoke_plan.cost_estimate()
    delivery = " ".join((REPO / "docs" / "delivery.md").read_text().split())
    assert f"about ${expected:.2f} for a usual run, at most ${ceiling:.2f}" in delivery
