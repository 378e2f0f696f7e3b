"""Deletes what one `make smoke-aws` run created, found by the names it gave them (scripts/smoke_plan.py): its
endpoints, endpoint configs and models, its S3 objects, its ECR repositories and its log groups and streams; its
training and transform jobs are stopped when still running. SageMaker keeps a job's record after it ends (it
costs nothing), so those stay. Calling it twice is harmless: what is gone already is skipped.
"""

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
from smoke_plan import Names, prefix  # noqa: E402

GONE = ("ResourceNotFoundException", "RepositoryNotFoundException", "NoSuchBucket", "NoSuchKey")
BUSY_ENDPOINT = ("Creating", "Updating", "SystemUpdating", "RollingBack")
ENDPOINT_WAIT = {"Delay": 15, "MaxAttempts": 80}  # an endpoint still being created: up to 20 minutes
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


def delete_endpoint(sagemaker: Client, name: str) -> bool:
    """Deletes an endpoint, after waiting out a creation or update in progress (SageMaker refuses it then)."""
    try:
        status = sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except botocore.exceptions.ClientError as error:
        if is_gone(error):
            return False
        raise
    if status in BUSY_ENDPOINT:
        waiter = sagemaker.get_waiter("endpoint_in_service")
        try:
            waiter.wait(EndpointName=name, WaiterConfig=ENDPOINT_WAIT)
        except botocore.exceptions.WaiterError:
            pass  # failed endpoints can be deleted
    return unless_gone(sagemaker.delete_endpoint, EndpointName=name)


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
    """Stops the run's training and transform jobs that still run (billed until they end)."""
    stopped = []
    kinds = (
        ("list_training_jobs", "TrainingJobSummaries", "TrainingJob", "stop_training_job", "training job"),
        ("list_transform_jobs", "TransformJobSummaries", "TransformJob", "stop_transform_job", "transform job"),
    )
    for operation, key, kind, stop, what in kinds:
        for job in list(listed(sagemaker, operation, key, f"{kind}Name", run_prefix)):
            if job[f"{kind}Status"] == "InProgress":
                unless_gone(getattr(sagemaker, stop), **{f"{kind}Name": job[f"{kind}Name"]})
                stopped.append(f"stopped {what} {job[f'{kind}Name']}")
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
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return [f"{len(keys)} objects under s3://{bucket}/{key_prefix}"] if keys else []


def repositories(ecr: Client, repository_prefix: str) -> list[str]:
    """The run's own ECR repositories, with their images."""
    deleted = []
    for family in ("train", "serve"):
        name = f"{repository_prefix}-{family}"
        if unless_gone(ecr.delete_repository, repositoryName=name, force=True):
            deleted.append(f"repository {name}")
    return deleted


def cleanup(session: boto3.Session, run_id: str, bucket: str | None) -> list[str]:
    """Deletes everything the run created (in the order AWS allows) and says what it deleted or stopped."""
    names, run_prefix = Names(run_id), prefix(run_id)
    sagemaker = session.client("sagemaker")
    done = sagemaker_resources(sagemaker, run_prefix) + running_jobs(sagemaker, run_prefix)
    done += log_streams(session.client("logs"), run_prefix)
    if bucket:
        done += s3_objects(session.client("s3"), bucket, names.s3_prefix)
    return done + repositories(session.client("ecr"), names.repository_prefix)
