"""Deletes what one `make smoke-aws` run created, found by the names it gave them (scripts/smoke_plan.py): its
endpoints, endpoint configs and models, its S3 objects, its ECR repositories and its log groups and streams; its
training and transform jobs are stopped when still running, and waited for, since a stopping job still uploads its
model and writes its log. SageMaker keeps a job's record after it ends (it costs nothing), so those stay. Each kind
of resource is tried whatever happened to the one before; calling it twice is harmless: what is gone already is
skipped.
"""

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
import images  # noqa: E402
from smoke_plan import Names, prefix  # noqa: E402

# A bucket that does not exist is not "gone": the objects are in another one (the --bucket the run was given).
GONE = ("ResourceNotFoundException", "RepositoryNotFoundException", "NoSuchKey")
BUSY_ENDPOINT = ("Creating", "Updating", "SystemUpdating", "RollingBack")  # SageMaker refuses DeleteEndpoint then
WAIT = {"Delay": 15, "MaxAttempts": 80}  # an endpoint being created or deleted, a job stopping: up to 20 minutes
JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs")
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints/"
S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
Client = Any  # a boto3 client: boto3 ships no types


def is_gone(error: botocore.exceptions.ClientError) -> bool:
    """Whether AWS refused because the resource does not exist (any more)."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in GONE or (code == "ValidationException" and "Could not find" in message)


def unless_gone(call: Callable[..., object], **params: object) -> bool:
    """Makes the call; False, without an error, when what it deletes is gone already."""
    try:
        call(**params)
    except botocore.exceptions.ClientError as error:
        if is_gone(error):
            return False
        raise
    return True


def listed(client: Client, operation: str, key: str, name_key: str, run_prefix: str) -> Iterator[dict]:
    """Every item of a SageMaker list operation whose name starts with the run's prefix."""
    for page in client.get_paginator(operation).paginate():
        yield from (item for item in page[key] if item[name_key].startswith(run_prefix))


def wait_for(sagemaker: Client, waiter: str, what: str, **params: object) -> None:
    """Waits (saying so first: it can take minutes) until the waiter's state; a failed end counts as an end."""
    print(f"    waiting for {what}", flush=True)
    try:
        sagemaker.get_waiter(waiter).wait(**params, WaiterConfig=WAIT)
    except botocore.exceptions.WaiterError as error:
        if "Max attempts exceeded" in str(error):
            raise
        # A failed endpoint or job is over too.


def delete_endpoint(sagemaker: Client, name: str) -> bool:
    """Deletes an endpoint, after waiting out a creation or update in progress (SageMaker refuses it then), and
    waits until it is gone, so that nothing writes to its log group after the cleanup."""
    try:
        status = sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except botocore.exceptions.ClientError as error:
        if is_gone(error):
            return False
        raise
    if status in BUSY_ENDPOINT:
        wait_for(sagemaker, "endpoint_in_service", f"endpoint {name} ({status}) to settle", EndpointName=name)
    deleted = status != "Deleting" and unless_gone(sagemaker.delete_endpoint, EndpointName=name)
    wait_for(sagemaker, "endpoint_deleted", f"endpoint {name} to go", EndpointName=name)
    return deleted


def delete_endpoint_and_model(sagemaker: Client, endpoint_name: str, model_name: str) -> list[str]:
    """One endpoint with its config (same name, as the SDK makes them) and its model; what it deleted."""
    deleted = []
    if delete_endpoint(sagemaker, endpoint_name):
        deleted.append(f"endpoint {endpoint_name}")
    if unless_gone(sagemaker.delete_endpoint_config, EndpointConfigName=endpoint_name):
        deleted.append(f"endpoint config {endpoint_name}")
    if unless_gone(sagemaker.delete_model, ModelName=model_name):
        deleted.append(f"model {model_name}")
    return deleted


def sagemaker_resources(sagemaker: Client, run_prefix: str) -> list[str]:
    """Endpoints, then their configs, then models (each refuses to go while the one before uses it)."""
    deleted = []
    for endpoint in list(listed(sagemaker, "list_endpoints", "Endpoints", "EndpointName", run_prefix)):
        if delete_endpoint(sagemaker, endpoint["EndpointName"]):
            deleted.append(f"endpoint {endpoint['EndpointName']}")
    kinds = (
        ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "delete_endpoint_config", "endpoint config"),
        ("list_models", "Models", "ModelName", "delete_model", "model"),
    )
    for operation, key, name_key, delete, what in kinds:
        for item in list(listed(sagemaker, operation, key, name_key, run_prefix)):
            if unless_gone(getattr(sagemaker, delete), **{name_key: item[name_key]}):
                deleted.append(f"{what} {item[name_key]}")
    return deleted


def running_jobs(sagemaker: Client, run_prefix: str) -> list[str]:
    """Stops the run's training and transform jobs that still run (billed until they end), and waits until they
    have: a stopping training job still uploads its model and writes its log."""
    stopped = []
    kinds = (
        ("list_training_jobs", "TrainingJobSummaries", "TrainingJob", "stop_training_job", "training job"),
        ("list_transform_jobs", "TransformJobSummaries", "TransformJob", "stop_transform_job", "transform job"),
    )
    for operation, key, kind, stop, what in kinds:
        waiter = f"{what.replace(' ', '_')}_completed_or_stopped"  # botocore's waiter for that kind of job
        for job in list(listed(sagemaker, operation, key, f"{kind}Name", run_prefix)):
            name, status = job[f"{kind}Name"], job[f"{kind}Status"]
            if status not in ("InProgress", "Stopping"):
                continue
            if status == "InProgress":
                unless_gone(getattr(sagemaker, stop), **{f"{kind}Name": name})
            wait_for(sagemaker, waiter, f"{what} {name} to stop", **{f"{kind}Name": name})
            stopped.append(f"stopped {what} {name}")
    return stopped


def log_streams(logs: Client, run_prefix: str) -> list[str]:
    """The jobs' log streams (in SageMaker's shared groups) and the endpoints' own log groups."""
    deleted = []
    for group in JOB_LOG_GROUPS:
        try:
            pages = logs.get_paginator("describe_log_streams").paginate(
                logGroupName=group, logStreamNamePrefix=run_prefix
            )
            streams = [stream["logStreamName"] for page in pages for stream in page["logStreams"]]
        except botocore.exceptions.ClientError as error:
            if is_gone(error):
                continue
            raise
        for stream in streams:
            if unless_gone(logs.delete_log_stream, logGroupName=group, logStreamName=stream):
                deleted.append(f"log stream {group}/{stream}")
    paginator = logs.get_paginator("describe_log_groups")
    for page in paginator.paginate(logGroupNamePrefix=ENDPOINT_LOG_GROUP + run_prefix):
        for group in page["logGroups"]:
            if unless_gone(logs.delete_log_group, logGroupName=group["logGroupName"]):
                deleted.append(f"log group {group['logGroupName']}")
    return deleted


def s3_objects(s3: Client, bucket: str, key_prefix: str) -> list[str]:
    """Every object under the run's key prefix (the bucket itself stays: it is the user's or the SDK's)."""
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    except botocore.exceptions.ClientError as error:
        if is_gone(error):
            return []
        raise
    for start in range(0, len(keys), S3_DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + S3_DELETE_BATCH]]
        errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
        if errors:
            raise RuntimeError(f"S3 kept {len(errors)} objects, {errors[0]['Key']} first: {errors[0]['Message']}")
    return [f"{len(keys)} objects under s3://{bucket}/{key_prefix}"] if keys else []


def repositories(ecr: Client, repository_prefix: str) -> list[str]:
    """The run's own ECR repositories (one for each image family of scripts/images.py), with their images."""
    deleted = []
    for name in sorted({image.repository(repository_prefix) for image in images.IMAGES.values()}):
        if unless_gone(ecr.delete_repository, repositoryName=name, force=True):
            deleted.append(f"repository {name}")
    return deleted


def cleanup(session: boto3.Session, run_id: str, bucket: str) -> Iterator[str | Exception]:
    """Deletes everything the run created, in the order AWS allows: yields what it deleted or stopped, and the
    error of each kind of resource it could not finish (the next kind is tried all the same)."""
    names, run_prefix = Names(run_id), prefix(run_id)
    sagemaker = session.client("sagemaker")
    kinds: list[Callable[[], list[str]]] = [
        lambda: sagemaker_resources(sagemaker, run_prefix),
        lambda: running_jobs(sagemaker, run_prefix),  # before their outputs and logs go: they still write
        lambda: log_streams(session.client("logs"), run_prefix),
        lambda: s3_objects(session.client("s3"), bucket, names.s3_prefix),
        lambda: repositories(session.client("ecr"), names.repository_prefix),
    ]
    for kind in kinds:
        try:
            yield from kind()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, RuntimeError) as error:
            yield error
