"""What `make smoke-aws` (scripts/smoke_aws.py) runs on a real AWS account and what it may cost: its steps, the
instance types they use, the names of everything it creates, and the cost estimate printed before anything
starts. Pure: no AWS call, no SDK.

Every name starts with the run's prefix, `headlines-smoke-<run id>-`, so that a cleanup finds all of a run's
resources by their names alone, also after the process that made them was killed.
"""

import dataclasses
import re
import time

RUN_ID = re.compile(r"\d{8}-\d{6}")  # the UTC time the run started: 20261206-071500
NAME_PREFIX = "headlines-smoke"
TRAINING_INSTANCE = "ml.c5.xlarge"
HOSTING_INSTANCE = "ml.m5.large"
TRANSFORM_INSTANCE = "ml.m5.large"
SERVERLESS_MEMORY_MB = 2048
JOB_LIMIT_SECONDS = 3600  # each training job's MaxRuntimeInSeconds
# On-demand list prices in us-east-1, USD, as AWS's SageMaker pricing page gave them (2024); other regions cost up
# to ~30% more. Instances are billed per second while a job runs or an endpoint is in service.
HOURLY_PRICES_USD = {
    ("training", TRAINING_INSTANCE): 0.204,
    ("hosting", HOSTING_INSTANCE): 0.115,
    ("transform", TRANSFORM_INSTANCE): 0.115,
}
SERVERLESS_PRICE_USD_PER_SECOND_PER_GB = 0.00002  # compute while a request runs: 2 GB cost 0.00004 USD a second
STORAGE_USD = 0.01  # S3 and ECR for the run's hour: ~1.5 GB of images and a few MB of data, prorated


@dataclasses.dataclass(frozen=True)
class Step:
    key: str
    title: str
    billing: str | None  # a key of HOURLY_PRICES_USD's first column, "serverless", or None: nothing billed by time
    instance_type: str | None
    expected_seconds: int  # billed seconds of a usual run
    limit_seconds: int  # billed seconds at most: the job's limit, or what the step waits before it gives up


STEPS = (
    Step("push", "push the images to ECR (scripts/push.py)", None, None, 0, 0),
    Step("data", "upload the demo data to S3", None, None, 0, 0),
    Step("word-vectors", "word-vector training job", "training", TRAINING_INSTANCE, 240, JOB_LIMIT_SECONDS),
    Step(
        "classifier", "classifier training job on those vectors", "training", TRAINING_INSTANCE, 180, JOB_LIMIT_SECONDS
    ),
    Step("endpoint", "real-time endpoint and a few predictions", "hosting", HOSTING_INSTANCE, 480, 1800),
    Step("transform", "batch transform over a file of headlines", "transform", TRANSFORM_INSTANCE, 300, 1800),
    Step("serverless", "serverless endpoint and a few predictions", "serverless", None, 30, 300),
)


def step(key: str) -> Step:
    """The step of that key."""
    return next(candidate for candidate in STEPS if candidate.key == key)


def new_run_id() -> str:
    """A run id from the current UTC time: runs started a second apart never share one."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def check_run_id(run_id: str) -> str:
    """The run id as given when it has the form new_run_id makes; a cleanup deletes by it, so nothing looser."""
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r} is not of the form YYYYMMDD-HHMMSS (the one a run prints).")
    return run_id


def prefix(run_id: str) -> str:
    """What every name of the run starts with, ending with a hyphen so that no other run id matches it."""
    return f"{NAME_PREFIX}-{check_run_id(run_id)}-"


@dataclasses.dataclass(frozen=True)
class Names:
    """The names of one run's resources."""

    run_id: str

    def resource(self, what: str) -> str:
        """A job, model or endpoint name: the run's prefix and `what`."""
        return prefix(self.run_id) + what

    @property
    def repository_prefix(self) -> str:
        """push.py's --repository-prefix: the run's own repositories, <prefix>train and <prefix>serve."""
        return prefix(self.run_id).rstrip("-")

    @property
    def s3_prefix(self) -> str:
        """The key prefix of everything the run writes to its bucket."""
        return f"{NAME_PREFIX}/{self.run_id}/"


def cleanup_command(names: Names, region: str, bucket: str) -> str:
    """The command that finishes the run's cleanup from another shell."""
    return f"scripts/smoke_aws.py --cleanup {names.run_id} --region {region} --bucket {bucket}"


def step_cost(step: Step, seconds: int) -> float:
    """What `seconds` of a step cost in USD at the list prices."""
    if step.billing is None:
        return 0.0
    if step.billing == "serverless":
        return seconds * SERVERLESS_PRICE_USD_PER_SECOND_PER_GB * SERVERLESS_MEMORY_MB / 1024
    return seconds * HOURLY_PRICES_USD[(step.billing, step.instance_type)] / 3600


def cost_estimate(steps: tuple[Step, ...] = STEPS) -> tuple[float, float]:
    """(expected, at most) in USD: every step as long as usual, and every step to its limit."""
    expected = sum(step_cost(step, step.expected_seconds) for step in steps) + STORAGE_USD
    ceiling = sum(step_cost(step, step.limit_seconds) for step in steps) + STORAGE_USD
    return expected, ceiling


def plan_lines(names: Names, region: str, bucket: str) -> list[str]:
    """The plan printed before anything starts: the steps, where they run, and what the run may cost."""
    lines = [f"run {names.run_id} in {region}: every name starts with {prefix(names.run_id)}"]
    for number, step in enumerate(STEPS, 1):
        where = f" ({step.instance_type})" if step.instance_type else ""
        if step.billing == "serverless":
            where = f" ({SERVERLESS_MEMORY_MB} MB)"
        lines.append(f"  {number}. {step.title}{where}")
    lines.append(f"  data and outputs under s3://{bucket}/{names.s3_prefix}; images in {names.repository_prefix}-*")
    expected, ceiling = cost_estimate()
    lines.append(
        f"cost estimate: about ${expected:.2f}, at most ${ceiling:.2f} if every job ran to its limit "
        "(us-east-1 on-demand list prices; other regions cost up to ~30% more)"
    )
    lines.append(
        "everything it creates is deleted at the end, also on failure or Ctrl-C; or later, from another shell: "
        + cleanup_command(names, region, bucket)
    )
    return lines
