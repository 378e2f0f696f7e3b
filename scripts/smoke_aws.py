#!/usr/bin/env python3
"""`make smoke-aws`: the workshop end to end on your AWS account, then everything it made deleted. Run it with the
SDK's virtualenv (the make target does):

    PY=$(scripts/sdk-venv.sh v2)
    $PY scripts/smoke_aws.py --dry-run                       # the plan and the cost estimate; no AWS call
    $PY scripts/smoke_aws.py --role $ROLE --yes              # run it (asks first without --yes, on a terminal)
    $PY scripts/smoke_aws.py --cleanup 20261206-071500       # finish the cleanup of an earlier run

Steps (scripts/smoke_plan.py): push the CPU training image and the serving image to repositories of the run's own
(scripts/push.py; --images FILE uses images pushed before instead), upload the demo data (scripts/make_demo_data.py),
a word-vector training job, a classifier training job on those vectors, a real-time endpoint and a few
predictions, a batch transform, a serverless endpoint and a few predictions. Each step prints what it made (ARNs)
and its time. At the end, on a failure, on Ctrl-C or SIGTERM, everything the run created is deleted
(scripts/smoke_cleanup.py), found by its names; --cleanup RUN_ID does the same for a run that could not finish
its own. Region and credentials: boto3's usual chain (--region, AWS_DEFAULT_REGION, the profile). The bucket:
--bucket, or the SDK's default one (sagemaker-<region>-<account>, created when missing, and kept).
Exit status: 0 every step passed and the cleanup finished, 1 a step or the cleanup failed (one sentence on
stderr), 2 bad arguments or no confirmation, 130 interrupted.
"""

import argparse
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
from botocore import xform_name

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
import launch_commands  # noqa: E402 - puts code/ on the path too
import smoke_cleanup  # noqa: E402
import smoke_plan  # noqa: E402
from demo import CLASSIFIER_HYPERPARAMETERS, EXAMPLE_HEADLINES, WORD_VECTOR_HYPERPARAMETERS  # noqa: E402
from launch_checks import LaunchImage, UsageError, pushed_image  # noqa: E402
from make_demo_data import write_demo_data, write_titles  # noqa: E402
from smoke_plan import STEPS, Names, Step  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUSH_SCRIPT = os.path.join(REPO, "scripts", "push.py")
DEFAULT_PUSH_PYTHON = os.path.join(REPO, ".venv", "bin", "python")  # push.py needs the Docker SDK: the test venv
TRANSFORM_RECORDS = 1000
SHOWN_LINES = 3
SHOWN_CHARACTERS = 120
INTERRUPTED = 130
POLL_SECONDS = 15


class StepFailed(Exception):
    """A step did not do what it should; the message says what in one sentence."""


@dataclasses.dataclass
class Run:
    """One smoke run: its names, where it runs, and what the steps hand on to the next."""

    names: Names
    boto: Any  # boto3.Session: boto3 ships no types
    region: str
    bucket: str
    role: str
    workdir: str
    push_command: list[str] | None  # None: --images was given
    images_file: str
    found: dict = dataclasses.field(default_factory=dict)

    def s3(self, path: str) -> str:
        return f"s3://{self.bucket}/{self.names.s3_prefix}{path}"

    def image(self, key: str) -> LaunchImage:
        return pushed_image(self.images_file, key)


def say(text: str) -> None:
    """One line to the terminal at once (the SDK's own output goes between them)."""
    print(text, flush=True)


def on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a CI runner's or a container's stop) cleans up as Ctrl-C does."""
    raise KeyboardInterrupt


# --- the steps --------------------------------------------------------------------------------------------------


def push(run: Run) -> None:
    """The CPU training image and the serving image to the run's own repositories, through push.py."""
    if run.push_command is None:
        say(f"    skipped: the images of {run.images_file}")
        return
    # push.py logs each call that changes something on stderr, and ends a failure with one `push:` sentence there.
    result = subprocess.run(run.push_command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = result.stderr.strip().splitlines() or ["(no output)"]
    for line in lines[:-1] if result.returncode else lines:
        say(f"    {line[:SHOWN_CHARACTERS]}")
    if result.returncode != 0:
        raise StepFailed(f"push.py failed: {lines[-1]}")
    for key in ("train-cpu", "serve"):
        say(f"    {key}: {run.image(key).uri}")


def upload_data(run: Run) -> None:
    """The demo's headlines, test set and corpus, and a file of test titles to transform, to the run's S3 prefix."""
    paths = write_demo_data(os.path.join(run.workdir, "data"))
    paths["transform"] = os.path.join(run.workdir, "data", "transform", "headlines.txt")
    run.found["transform records"] = len(write_titles(paths["test"], paths["transform"], TRANSFORM_RECORDS))
    s3 = run.boto.client("s3")
    for name, path in paths.items():
        key = f"{run.names.s3_prefix}data/{name}/{os.path.basename(path)}"
        s3.upload_file(path, run.bucket, key)
        run.found[name] = f"s3://{run.bucket}/{key}"
        say(f"    {run.found[name]}")


def training_job(run: Run, what: str, channels: dict[str, str], hyperparameters: dict[str, str]) -> str:
    """A training job run to its end (its log streamed by the SDK); returns its model's S3 URI."""
    trained = launch_commands.train(
        run.image("train-cpu"),
        smoke_plan.TRAINING_INSTANCE,
        channels,
        run.s3("jobs"),
        hyperparameters,
        role=run.role,
        job_name=run.names.resource(what),
        max_run_seconds=smoke_plan.JOB_LIMIT_SECONDS,
        wait=True,
    )
    job = run.boto.client("sagemaker").describe_training_job(TrainingJobName=trained["job_name"])
    say("")  # the SDK's log ends without a line break
    say(f"    {job['TrainingJobArn']}: {job['TrainingJobStatus']}, model {trained['model_data']}")
    for metric in job.get("FinalMetricDataList", []):
        say(f"    {metric['MetricName']} = {metric['Value']:.4f}")
    return trained["model_data"]


def word_vectors(run: Run) -> None:
    """The demo's word-vector job (skipgram with subwords) on the corpus."""
    channels = {"train": os.path.dirname(run.found["corpus"]) + "/"}
    run.found["vectors"] = training_job(run, "word-vectors", channels, WORD_VECTOR_HYPERPARAMETERS)


def classifier(run: Run) -> None:
    """The classifier job on the headlines, its embedding layer from the word-vector job's model."""
    channels = {
        "train": os.path.dirname(run.found["train"]) + "/",
        "test": os.path.dirname(run.found["test"]) + "/",
        "embeddings": run.found["vectors"],
    }
    run.found["classifier"] = training_job(run, "classifier", channels, CLASSIFIER_HYPERPARAMETERS)


def predictions(run: Run, endpoint_name: str) -> None:
    """A few headlines through the endpoint; each must come back with a label and a probability."""
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    predictor = Predictor(endpoint_name, serializer=JSONSerializer(), deserializer=JSONDeserializer())
    started = time.monotonic()
    answer = predictor.predict({"instances": EXAMPLE_HEADLINES})
    seconds = time.monotonic() - started
    rows = answer.get("predictions", []) if isinstance(answer, dict) else []
    if len(rows) != len(EXAMPLE_HEADLINES) or not all("label_name" in row and "probability" in row for row in rows):
        raise StepFailed(f"{endpoint_name} answered {str(answer)[:200]!r}, not one prediction a headline.")
    for headline, row in zip(EXAMPLE_HEADLINES, rows):
        say(f"    {row['label_name']:<24} {row['probability']:.3f}  {headline}")
    say(f"    {len(rows)} predictions in {seconds:.2f} s")


def await_state(run: Run, waiter: str, kind: str, name: str, wanted: str, limit_seconds: int) -> None:
    """Waits, polling as SageMaker's own waiter does, until the endpoint or transform job `name` is in `wanted`
    state; one that failed or is still not there after limit_seconds fails the step, with SageMaker's reason."""
    sagemaker = run.boto.client("sagemaker")
    config = {"Delay": POLL_SECONDS, "MaxAttempts": max(1, limit_seconds // POLL_SECONDS)}
    describe = getattr(sagemaker, xform_name(f"Describe{kind}"))
    try:
        sagemaker.get_waiter(waiter).wait(**{f"{kind}Name": name}, WaiterConfig=config)
    except botocore.exceptions.WaiterError:
        found = describe(**{f"{kind}Name": name})
        reason = found.get("FailureReason", f"not {wanted} after {limit_seconds} s")
        raise StepFailed(f"{name} is {found[f'{kind}Status']}: {reason}") from None
    found = describe(**{f"{kind}Name": name})
    if found[f"{kind}Status"] != wanted:  # a transform job stopped by someone else ends the waiter too
        raise StepFailed(f"{name} is {found[f'{kind}Status']}, not {wanted}")
    say(f"    {found[f'{kind}Arn']}: {wanted}")


def endpoint_step(run: Run, step: Step, **placement: object) -> None:
    """Deploys the classifier, asks for predictions, deletes the endpoint, its config and its model."""
    endpoint_name, model_name = run.names.resource(step.key), run.names.resource(f"{step.key}-model")
    launch_commands.deploy(
        run.image("serve"),
        run.found["classifier"],
        run.role,
        endpoint_name=endpoint_name,
        model_name=model_name,
        **placement,
    )
    await_state(run, "endpoint_in_service", "Endpoint", endpoint_name, "InService", step.limit_seconds)
    predictions(run, endpoint_name)
    sagemaker = run.boto.client("sagemaker")
    for deleted in smoke_cleanup.delete_endpoint_and_model(sagemaker, endpoint_name, model_name):
        say(f"    deleted {deleted}")


def real_time(run: Run) -> None:
    """A real-time endpoint on one instance."""
    endpoint_step(run, smoke_plan.step("endpoint"), instance_type=smoke_plan.HOSTING_INSTANCE)


def serverless(run: Run) -> None:
    """A serverless endpoint, one request at a time."""
    endpoint_step(
        run, smoke_plan.step("serverless"), serverless_memory_mb=smoke_plan.SERVERLESS_MEMORY_MB, max_concurrency=1
    )


def transform(run: Run) -> None:
    """A batch transform of the test titles; its output must have a line for each, and its model goes after."""
    output, model_name = run.s3("transform"), run.names.resource("transform-model")
    done = launch_commands.transform(
        run.image("serve"),
        run.found["classifier"],
        smoke_plan.TRANSFORM_INSTANCE,
        run.found["transform"],
        output,
        role=run.role,
        job_name=run.names.resource("transform"),
        model_name=model_name,
    )
    limit = smoke_plan.step("transform").limit_seconds  # transform jobs have no time limit of their own
    await_state(run, "transform_job_completed_or_stopped", "TransformJob", done["job_name"], "Completed", limit)
    sagemaker = run.boto.client("sagemaker")
    key = f"{run.names.s3_prefix}transform/{os.path.basename(run.found['transform'])}.out"
    try:
        body = run.boto.client("s3").get_object(Bucket=run.bucket, Key=key)["Body"].read()
    except Exception as error:  # noqa: BLE001 - reported as the step's failure
        raise StepFailed(f"the transform job wrote no s3://{run.bucket}/{key}: {error}") from None
    lines = body.decode("utf-8").splitlines()
    if len(lines) != run.found["transform records"]:
        raise StepFailed(f"{len(lines)} output lines for {run.found['transform records']} input lines.")
    for line in lines[:SHOWN_LINES]:
        say(f"    {line[:SHOWN_CHARACTERS]}")
    say(f"    {len(lines)} lines in s3://{run.bucket}/{key}")
    if smoke_cleanup.unless_gone(sagemaker.delete_model, ModelName=model_name):
        say(f"    deleted model {model_name}")


STEP_FUNCTIONS = {
    "push": push,
    "data": upload_data,
    "word-vectors": word_vectors,
    "classifier": classifier,
    "endpoint": real_time,
    "transform": transform,
    "serverless": serverless,
}


# --- running them -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed(number: int, title: str, times: list[tuple[str, str, float]]) -> Iterator[None]:
    """Prints the step's heading, and records its outcome and seconds (also when it fails)."""
    say(f"\n==> [{number}/{len(STEPS)}] {title}")
    started, outcome = time.monotonic(), "failed"
    try:
        yield
        outcome = "passed"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        times.append((title, outcome, time.monotonic() - started))
        say(f"    {outcome} in {times[-1][2]:.1f} s")


def run_steps(run: Run, times: list[tuple[str, str, float]]) -> None:
    """The steps in order; the first that fails stops the run."""
    for number, step in enumerate(STEPS, 1):
        with timed(number, step.title, times):
            STEP_FUNCTIONS[step.key](run)


def clean(boto: Any, names: Names, region: str, bucket: str) -> bool:
    """The run's cleanup, saying what it deleted and what it could not; False when something may be left."""
    say(f"\n==> cleanup of run {names.run_id}")
    errors: list[BaseException] = []
    try:
        for done in smoke_cleanup.cleanup(boto, names.run_id, bucket):
            if isinstance(done, Exception):
                errors.append(done)
                say(f"    could not finish: {done}")
            else:
                say(f"    {done}")
    except KeyboardInterrupt as interrupt:
        errors.append(interrupt)
    if errors:
        how = smoke_plan.cleanup_command(names, region, bucket)
        print(
            f"smoke-aws: the cleanup did not finish ({type(errors[0]).__name__}); finish it with {how}", file=sys.stderr
        )
        return False
    say("    nothing of the run is left but its jobs' records")
    return True


def summary(times: list[tuple[str, str, float]], total: float) -> None:
    """The table of steps, outcomes and seconds."""
    say("\nstep                                                   outcome       seconds")
    for title, outcome, seconds in times:
        say(f"{title:<54} {outcome:<12} {seconds:8.1f}")
    say(f"{'total':<54} {'':<12} {total:8.1f}")


def smoke(run: Run) -> int:
    """Every step, then the cleanup whatever happened; the exit status."""
    times: list[tuple[str, str, float]] = []
    started, status = time.monotonic(), 0
    try:
        run_steps(run, times)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        status = INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the step's failure in one sentence; the cleanup still runs
        print(f"\nsmoke-aws: step '{times[-1][0]}' failed: {type(error).__name__}: {error}", file=sys.stderr)
        status = 1
    cleaned = clean(run.boto, run.names, run.region, run.bucket)
    summary(times, time.monotonic() - started)
    return status or (0 if cleaned else 1)


# --- the command line -------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    """The command line; --help prints this module's docstring too."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", help="the SageMaker execution role's ARN (needed to run)")
    p.add_argument("--region", help="default: boto3's (AWS_DEFAULT_REGION, the profile)")
    p.add_argument("--bucket", help="default: the SDK's default bucket, sagemaker-<region>-<account>")
    p.add_argument("--images", metavar="FILE", help="a pushed-images JSON to use instead of pushing (make push)")
    p.add_argument("--yes", action="store_true", help="start without asking (it creates billable resources)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the cost estimate; no AWS call")
    p.add_argument("--cleanup", metavar="RUN_ID", help="only delete what the run RUN_ID created")
    p.add_argument("--run-id", help="the run's id (default: the UTC time, YYYYMMDD-HHMMSS)")
    p.add_argument("--push-python", default=DEFAULT_PUSH_PYTHON, help="the Python that runs push.py (.venv's)")
    p.add_argument(
        "--push-option", action="append", default=[], metavar="OPTION", help="passed on to push.py (repeatable)"
    )
    return p


def default_bucket(boto: Any, region: str, create: bool = False) -> str:
    """The SDK's default bucket, sagemaker-<region>-<account>, made when missing if `create`, as the SDK makes it
    (whose own call to STS ignores AWS_ENDPOINT_URL)."""
    name = f"sagemaker-{region}-{boto.client('sts').get_caller_identity()['Account']}"
    if not create:
        return name
    s3 = boto.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") != "404":
            raise
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **where)
    return name


def confirmed(yes: bool) -> bool:
    """--yes, or a 'y' typed at the terminal; never a guess when nobody can answer."""
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    return input("Start? It creates billable resources. [y/N] ").strip().lower() in ("y", "yes")


def prepare(args: argparse.Namespace, boto: Any, region: str, workdir: str) -> Run:
    """The run the arguments describe: its id, bucket, images and how they are pushed."""
    names = Names(smoke_plan.check_run_id(args.run_id or smoke_plan.new_run_id()))
    images_file = args.images or os.path.join(workdir, "images.json")
    push_command = None
    if not args.images:
        push_command = [args.push_python, PUSH_SCRIPT, "--images", "train,serve", "--train-variant", "cpu"]
        push_command += ["--repository-prefix", names.repository_prefix, "--region", region]
        push_command += ["--output", images_file, *args.push_option]
    if args.bucket or args.dry_run:
        bucket = args.bucket or "<the SDK's default bucket>"
    else:
        bucket = default_bucket(boto, region, create=True)
    return Run(names, boto, region, bucket, args.role or "", workdir, push_command, images_file)


def main(argv: list[str] | None = None) -> int:
    """The plan, the confirmation, the run and its cleanup, or a cleanup alone; the exit status."""
    args = parser().parse_args(argv)
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region  # the SDK's sessions follow it
    import boto3

    boto = boto3.Session()
    region = boto.region_name or ("<no region: --region or AWS_DEFAULT_REGION>" if args.dry_run else None)
    try:
        if not region:
            raise UsageError("No AWS region: give --region or set AWS_DEFAULT_REGION.")
        if args.cleanup:
            names = Names(smoke_plan.check_run_id(args.cleanup))
            return 0 if clean(boto, names, region, args.bucket or default_bucket(boto, region)) else 1
        if not args.role and not args.dry_run:
            raise UsageError("--role is needed: the execution role SageMaker runs the jobs and endpoints with.")
        with tempfile.TemporaryDirectory(prefix="smoke-aws-") as workdir:
            run = prepare(args, boto, region, workdir)
            say("\n".join(smoke_plan.plan_lines(run.names, region, run.bucket)))
            if args.dry_run:
                say("dry run: nothing was started")
                return 0
            if not confirmed(args.yes):
                raise UsageError("Not started: add --yes to run it (it creates billable resources).")
            signal.signal(signal.SIGTERM, on_sigterm)
            return smoke(run)
    except (UsageError, ValueError) as error:
        print(f"smoke-aws: {error}", file=sys.stderr)
        return 2
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:  # before any step
        print(f"smoke-aws: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
