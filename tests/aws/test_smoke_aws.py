"""`make smoke-aws` (scripts/smoke_aws.py) end to end against the stand-ins: push.py sends two small images to the
registry standing in for ECR, and every SageMaker, S3, ECR and CloudWatch Logs call goes to moto. moto runs no
job and no container, so what the jobs and endpoints would produce is put there by the test: the endpoints'
answers (moto's queue of InvokeEndpoint results) and the transform job's output object.

The run is made to fail at each step in turn, as AWS or the user would make it fail (tests/aws/script_runs.py),
and after each the cleanup must have left nothing of the run behind in moto, while what is not the run's stays."""

import json
import sys
import urllib.request

import pytest

from tests.aws.script_runs import KILLED, ScriptRun, sdk_env
from tests.support.repo import load_script

smoke_plan = load_script("smoke_plan")
make_demo_data = load_script("make_demo_data")
ROLE = "arn:aws:iam::123456789012:role/headlines-sagemaker"
BUCKET = "headlines-smoke-test"
RUN_ID = "20261206-071500"
RUN_PREFIX = smoke_plan.prefix(RUN_ID)
PREDICTION = {"label": 0, "label_name": "business", "probability": 0.9}
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
# What belongs to others (another run, another user) and must outlive the cleanup.
OTHER_RUN_PREFIX = smoke_plan.prefix("20261206-071501")
OTHERS_OBJECT = f"{smoke_plan.Names('20261206-071501').s3_prefix}data/keep.txt"
TRANSFORM_OUTPUT = f"{smoke_plan.Names(RUN_ID).s3_prefix}transform/headlines.txt.out"  # where the run reads it


def queue_endpoint_answers(moto, count):
    """What moto's InvokeEndpoint answers, one per endpoint: a prediction for each of the smoke's headlines."""
    body = json.dumps({"predictions": [PREDICTION] * len(load_script("demo").EXAMPLE_HEADLINES)})
    results = [{"Body": body, "ContentType": "application/json"}] * count
    request = urllib.request.Request(
        f"{moto.endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"account_id": moto.account, "region": moto.region, "results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def transform_records(tmp_path):
    """How many lines the smoke's transform input has (the demo test set's titles, at most TRANSFORM_RECORDS)."""
    paths = make_demo_data.write_demo_data(str(tmp_path / "demo-data"))
    with open(paths["test"], encoding="utf-8") as test:
        return min(sum(1 for _ in test), load_script("smoke_aws").TRANSFORM_RECORDS)


def others(moto):
    """Resources that are not the run's: another run's endpoint (with its config and model) and repository, an
    object beside the run's, a log stream."""
    sagemaker = moto.client("sagemaker")
    sagemaker.create_model(
        ModelName=OTHER_RUN_PREFIX + "model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"},
    )
    variant = {"VariantName": "all", "ModelName": OTHER_RUN_PREFIX + "model", "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(EndpointConfigName=OTHER_RUN_PREFIX + "endpoint", ProductionVariants=[variant])
    sagemaker.create_endpoint(
        EndpointName=OTHER_RUN_PREFIX + "endpoint", EndpointConfigName=OTHER_RUN_PREFIX + "endpoint"
    )
    moto.client("ecr").create_repository(repositoryName=OTHER_RUN_PREFIX + "serve")
    moto.client("s3").put_object(Bucket=BUCKET, Key=OTHERS_OBJECT, Body=b"not the run's")
    logs = moto.client("logs")
    logs.create_log_group(logGroupName=TRAINING_LOGS)
    logs.create_log_stream(logGroupName=TRAINING_LOGS, logStreamName=OTHER_RUN_PREFIX + "classifier/algo-1")


def logs_as_sagemaker_writes_them(moto):
    """The run's log streams and groups, as SageMaker would create them (moto does not)."""
    logs = moto.client("logs")
    logs.create_log_stream(logGroupName=TRAINING_LOGS, logStreamName=RUN_PREFIX + "word-vectors/algo-1-1765000000")
    logs.create_log_group(logGroupName=f"/aws/sagemaker/Endpoints/{RUN_PREFIX}endpoint")


def left_behind(moto):
    """Everything in moto that belongs to the run, and is not a finished job's record."""
    sagemaker, logs = moto.client("sagemaker"), moto.client("logs")
    jobs = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    everything = {
        "models": [m["ModelName"] for m in sagemaker.list_models()["Models"]],
        "endpoint configs": [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]],
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
        "running jobs": [j["TrainingJobName"] for j in jobs if j["TrainingJobStatus"] == "InProgress"],
        "objects": [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])],
        "repositories": [r["repositoryName"] for r in moto.client("ecr").describe_repositories()["repositories"]],
        "log groups": [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]],
        "log streams": [
            s["logStreamName"] for s in logs.describe_log_streams(logGroupName=TRAINING_LOGS)["logStreams"]
        ],
    }
    named = {
        what: [name for name in names if RUN_PREFIX in name or f"/{RUN_ID}/" in name]
        for what, names in everything.items()
    }
    return {what: names for what, names in named.items() if names}


def assert_others_stay(moto):
    sagemaker = moto.client("sagemaker")
    assert sagemaker.describe_endpoint(EndpointName=OTHER_RUN_PREFIX + "endpoint")["EndpointStatus"] == "InService"
    assert sagemaker.describe_endpoint_config(EndpointConfigName=OTHER_RUN_PREFIX + "endpoint")
    assert sagemaker.describe_model(ModelName=OTHER_RUN_PREFIX + "model")
    assert moto.client("ecr").describe_repositories(repositoryNames=[OTHER_RUN_PREFIX + "serve"])
    assert moto.client("s3").get_object(Bucket=BUCKET, Key=OTHERS_OBJECT)["Body"].read() == b"not the run's"
    streams = moto.client("logs").describe_log_streams(logGroupName=TRAINING_LOGS)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [OTHER_RUN_PREFIX + "classifier/algo-1"]


@pytest.fixture
def smoke(sdk_v2_python, moto, registry, internet, checkout, tiny_images, prefix, tmp_path):
    """smoke(*args, fault=None): smoke_aws.py with --yes against the stand-ins, the run id RUN_ID, the test's own
    small images pushed (as push.py pushes them) to the stand-in registry."""
    tiny_images(f"{prefix}-train:cpu", b"training image")
    tiny_images(f"{prefix}-serve:cpu", b"serving image")
    moto.client("s3").create_bucket(Bucket=BUCKET)
    others(moto)
    logs_as_sagemaker_writes_them(moto)
    queue_endpoint_answers(moto, 2)
    output = "\n".join(json.dumps(PREDICTION) for _ in range(transform_records(tmp_path))) + "\n"
    moto.client("s3").put_object(Bucket=BUCKET, Key=TRANSFORM_OUTPUT, Body=output.encode())
    env = sdk_env(moto, internet, IMAGE_PREFIX=prefix, **checkout.env)
    options = ["--role", ROLE, "--run-id", RUN_ID, "--push-python", sys.executable]
    options.append(f"--push-option=--registry-host={registry.host}")

    def run(*args, fault=None, yes=True, bucket=BUCKET):
        chosen = ["--bucket", bucket] if bucket else []
        return ScriptRun(
            sdk_v2_python,
            env,
            tmp_path,
            "smoke_aws.py",
            *options,
            *chosen,
            *(["--yes"] if yes else []),
            *args,
            fault=fault,
        )

    return run


def test_dry_run_prints_the_plan_and_its_cost_and_calls_nothing(smoke):
    ran = smoke("--dry-run", yes=False).check()
    assert ran.calls == []
    expected, ceiling = smoke_plan.cost_estimate()
    assert f"cost estimate: about ${expected:.2f}, at most ${ceiling:.2f}" in ran.process.stdout
    for number, step in enumerate(smoke_plan.STEPS, 1):
        assert f"  {number}. {step.title}" in ran.process.stdout
    print(ran.process.stdout)


def test_nothing_starts_without_a_yes(smoke, moto):
    ran = smoke(yes=False)
    assert ran.process.returncode == 2, ran.output[-3000:]
    assert ran.process.stderr.strip() == "smoke-aws: Not started: add --yes to run it (it creates billable resources)."
    assert ran.calls == [] and "repositories" not in left_behind(moto)


def test_the_workshop_end_to_end_leaves_nothing_behind(smoke, moto, registry):
    ran = smoke().check()
    print(ran.process.stdout)
    created = [op for op in ran.operations() if op.startswith("Create") or op == "InvokeEndpoint"]
    assert created == [
        "CreateTrainingJob",
        "CreateTrainingJob",
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "InvokeEndpoint",
        "CreateModel",
        "CreateTransformJob",
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "InvokeEndpoint",
    ]
    sagemaker = moto.client("sagemaker")
    vectors = sagemaker.describe_training_job(TrainingJobName=RUN_PREFIX + "word-vectors")
    classifier = sagemaker.describe_training_job(TrainingJobName=RUN_PREFIX + "classifier")
    assert vectors["HyperParameters"]["mode"] == "skipgram"
    embeddings = [c for c in classifier["InputDataConfig"] if c["ChannelName"] == "embeddings"]
    assert embeddings[0]["DataSource"]["S3DataSource"]["S3Uri"] == vectors["ModelArtifacts"]["S3ModelArtifacts"]
    # The jobs ran the images the run pushed to its own repositories, by digest.
    train_repository = f"{smoke_plan.Names(RUN_ID).repository_prefix}-train"
    assert f"/{train_repository}@sha256:" in classifier["AlgorithmSpecification"]["TrainingImage"]
    assert registry.tags(train_repository)
    configs = [call["params"] for call in ran.calls if call["operation"] == "CreateEndpointConfig"]
    assert configs[0]["ProductionVariants"][0]["InstanceType"] == smoke_plan.HOSTING_INSTANCE
    assert configs[1]["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == smoke_plan.SERVERLESS_MEMORY_MB
    for step in smoke_plan.STEPS:
        assert f"{step.title:<54} passed" in ran.process.stdout
    assert f"arn:aws:sagemaker:{moto.region}:{moto.account}:training-job/{RUN_PREFIX}classifier" in ran.process.stdout
    assert left_behind(moto) == {}
    assert_others_stay(moto)


# (the step, the fault that makes it fail, the exit status, what stderr says)
FAILURES = {
    "push": (None, 1, "step 'push the images to ECR (scripts/push.py)' failed: StepFailed: push.py failed: push:"),
    "data": ({"operation": "PutObject", "nth": 3, "kind": "refuse"}, 1, "injected refusal of PutObject"),
    "word-vectors": (
        {"operation": "DescribeTrainingJob", "kind": "failed"},
        1,
        "injected failure at DescribeTrainingJob",
    ),
    "classifier": ({"operation": "CreateTrainingJob", "nth": 2, "kind": "refuse"}, 1, "injected refusal"),
    "endpoint": (
        {"operation": "DescribeEndpoint", "kind": "failed"},
        1,
        "is Failed: injected failure at DescribeEndpoint",
    ),
    "transform": ({"operation": "CreateTransformJob", "kind": "sigterm"}, 130, "interrupted: cleaning up"),
    "serverless": ({"operation": "InvokeEndpoint", "nth": 2, "kind": "sigint"}, 130, "interrupted: cleaning up"),
}


@pytest.mark.parametrize("failing", list(FAILURES))
def test_a_failure_at_any_step_is_cleaned_up(smoke, moto, registry, failing):
    fault, status, message = FAILURES[failing]
    if failing == "push":
        registry.stop()  # push.py makes the repositories, then cannot send the bytes
    ran = smoke(fault=fault)
    print(ran.output[-3000:])
    assert ran.process.returncode == status
    assert message in ran.process.stderr and "Traceback" not in ran.process.stderr
    titles = [step.title for step in smoke_plan.STEPS]
    failed_at = [step.key for step in smoke_plan.STEPS].index(failing)
    for title in titles[:failed_at]:
        assert f"{title:<54} passed" in ran.process.stdout
    assert f"{titles[failed_at]:<54} {'interrupted' if status == 130 else 'failed'}" in ran.process.stdout
    for title in titles[failed_at + 1 :]:
        assert f"{title:<54} " not in ran.process.stdout
    assert left_behind(moto) == {}
    assert_others_stay(moto)


def test_a_killed_run_is_cleaned_up_later_by_its_run_id(smoke, moto):
    killed = smoke(fault={"operation": "CreateTransformJob", "kind": "die"})
    assert killed.process.returncode == KILLED
    left = left_behind(moto)
    assert left["models"] == [RUN_PREFIX + "transform-model"] and left["repositories"] and left["objects"]

    refused = smoke("--cleanup", "2026-12-06", yes=False)
    assert refused.process.returncode == 2 and refused.calls == []
    assert "is not of the form YYYYMMDD-HHMMSS" in refused.process.stderr

    cleaned = smoke("--cleanup", RUN_ID, yes=False).check()
    print(cleaned.process.stdout)
    assert f"model {RUN_PREFIX}transform-model" in cleaned.process.stdout
    assert left_behind(moto) == {}
    assert_others_stay(moto)
    again = smoke("--cleanup", RUN_ID, yes=False).check()  # nothing left to do is not an error
    assert "nothing of the run is left" in again.process.stdout


def test_without_a_bucket_the_sdks_default_one_is_made_and_used(smoke, moto):
    default = f"sagemaker-{moto.region}-{moto.account}"
    moto.client("s3").delete_object(Bucket=BUCKET, Key=TRANSFORM_OUTPUT)  # this run never gets that far
    ran = smoke(fault={"operation": "CreateTrainingJob", "kind": "refuse"}, bucket=None)
    assert ran.process.returncode == 1, ran.output[-3000:]
    uploads = [call["params"]["Bucket"] for call in ran.calls if call["operation"] == "PutObject"]
    assert uploads and set(uploads) == {default}
    assert moto.client("s3").list_objects_v2(Bucket=default).get("KeyCount") == 0  # the bucket stays, empty
    assert left_behind(moto) == {}


def test_a_cleanup_that_cannot_finish_one_kind_still_does_the_others_and_says_how_to_finish(smoke, moto):
    ran = smoke(fault={"operation": "DeleteLogStream", "kind": "refuse"})
    assert ran.process.returncode == 1, ran.output[-3000:]
    how = f"scripts/smoke_aws.py --cleanup {RUN_ID} --region {moto.region} --bucket {BUCKET}"
    assert ran.process.stderr.strip().endswith(f"the cleanup did not finish (ClientError); finish it with {how}")
    assert "could not finish: An error occurred (ValidationException)" in ran.process.stdout
    # Only the logs are left: the S3 objects and the repositories after them went all the same.
    assert left_behind(moto) == {
        "log groups": [f"/aws/sagemaker/Endpoints/{RUN_PREFIX}endpoint"],
        "log streams": [RUN_PREFIX + "word-vectors/algo-1-1765000000"],
    }
    smoke("--cleanup", RUN_ID, yes=False).check()
    assert left_behind(moto) == {}
