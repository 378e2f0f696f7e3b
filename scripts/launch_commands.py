"""The commands of scripts/launch.py, as functions that scripts/demo.py calls too: train, tune, predict, deploy and
transform run launch_checks' pre-flight checks, then build their SageMaker requests with the SageMaker Python SDK
v2 (`sagemaker<3`), which is imported where it is used: this module imports without it. Local mode (instance
type local or local_gpu) runs on this machine's Docker; the SDK's files and containers of a local job or endpoint are
removed after it, and running_containers and remove_containers tidy up after a failure.
"""

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
import source_tree  # noqa: E402, F401 - the headlines package from the source tree
from headlines import hyperparameters as schema  # noqa: E402
from headlines import instance_types  # noqa: E402
from headlines.instance_types import HOSTING, TRAINING, TRANSFORM  # noqa: E402
from launch_checks import (  # noqa: E402
    MAX_TUNING_JOB_NAME_LENGTH,
    LaunchImage,
    SearchRange,
    UsageError,
    as_image,
    check_accelerator,
    check_architecture,
    check_compute,
    check_endpoint_kind,
    check_job,
    check_model,
    check_name,
    check_s3,
    check_sagemaker,
    check_serverless,
    check_spot,
    check_transform,
    check_tuning_limits,
    is_local,
    search_ranges,
    session_region,
    training_uris,
)
from launch_metrics import CLASSIFIER_METRICS, TUNING_OBJECTIVE, WORD_VECTOR_METRICS  # noqa: E402

if TYPE_CHECKING:  # the SDK's types, for annotations only
    from sagemaker.estimator import Estimator
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.session import Session

# Local mode never calls AWS, but the SDK builds boto3 clients: it needs a region and some credentials.
LOCAL_ROLE = "arn:aws:iam::111111111111:role/local-mode"
LOCAL_AWS_SETTINGS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local-mode",
    "AWS_SECRET_ACCESS_KEY": "local-mode",
}
# Job and model names: the SDK would derive them from the image name, which a digest-pinned URI turns into a name
# SageMaker refuses (`headlines-train@sha256`).
CLASSIFIER_JOB_NAME = "headlines-classifier"
WORD_VECTORS_JOB_NAME = "headlines-word-vectors"
MODEL_BASE_NAME = "headlines-serve"
TRANSFORM_JOB_NAME = "headlines-transform"
TUNING_JOB_NAME = "headlines-tune"
DEFAULT_MAX_RUN_SECONDS = 24 * 3600
DEFAULT_MAX_CONCURRENCY = 5
ENDPOINT_POLL_SECONDS = 2
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


# --- what a training job is called and reports ------------------------------------------------------------------


def trains_word_vectors(hyperparameters: dict[str, str]) -> bool:
    """Whether the hyperparameters make a word-vector job rather than a classifier's."""
    return schema.job_mode(hyperparameters) in schema.WORD_VECTOR_MODES


def metric_definitions(hyperparameters: dict[str, str]) -> list[dict[str, str]]:
    """The metric definitions of the job these hyperparameters make (launch_metrics)."""
    return WORD_VECTOR_METRICS if trains_word_vectors(hyperparameters) else CLASSIFIER_METRICS


def job_base_name(hyperparameters: dict[str, str]) -> str:
    """The name the job's name starts with, after what it trains."""
    return WORD_VECTORS_JOB_NAME if trains_word_vectors(hyperparameters) else CLASSIFIER_JOB_NAME


# --- the SDK's objects ------------------------------------------------------------------------------------------


def make_session(instance_type: str | None) -> "Session":
    """A local-mode session for local and local_gpu (file:// paths, no AWS), a SageMaker session otherwise."""
    if is_local(instance_type):
        for name, value in LOCAL_AWS_SETTINGS.items():
            os.environ.setdefault(name, value)
        from sagemaker.local import LocalSession

        session = LocalSession(sagemaker_config=TELEMETRY_OFF)
        session.config = {"local": {"local_code": True}}  # file:// inputs and outputs, no S3
        return session
    import sagemaker

    return sagemaker.Session(sagemaker_config=TELEMETRY_OFF)


def build_estimator(
    image: LaunchImage,
    instance_type: str,
    output: str,
    hyperparameters: dict[str, str],
    instance_count: int,
    role: str | None,
    max_run_seconds: int,
    **job_settings: object,
) -> "Estimator":
    """The SDK's Estimator of a training job; job_settings: checkpoint and spot settings, as Estimator names them."""
    from sagemaker.estimator import Estimator

    return Estimator(
        image_uri=image.uri,
        role=role or LOCAL_ROLE,
        instance_count=instance_count,
        instance_type=instance_type,
        output_path=output,
        hyperparameters=hyperparameters,
        metric_definitions=metric_definitions(hyperparameters),
        max_run=max_run_seconds,
        base_job_name=job_base_name(hyperparameters),
        sagemaker_session=make_session(instance_type),
        **job_settings,
    )


def build_model(
    image: LaunchImage, model_data: str, instance_type: str | None, role: str | None, name: str | None = None
) -> "Model":
    """The SDK's Model of the serving image and model data; instance_type None: serverless, on SageMaker. Its name
    is `name`, or one made from MODEL_BASE_NAME and the time."""
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.utils import name_from_base

    # predictor_cls: without it a plain Model's deploy() returns None instead of a predictor.
    return Model(
        image_uri=image.uri,
        model_data=model_data,
        role=role or LOCAL_ROLE,
        predictor_cls=Predictor,
        name=name or name_from_base(MODEL_BASE_NAME),
        sagemaker_session=make_session(instance_type),
    )


# --- training and tuning jobs -----------------------------------------------------------------------------------


def train(
    image: LaunchImage | str,
    instance_type: str,
    channels: dict[str, str],
    output: str,
    hyperparameters: dict[str, str] | None = None,
    instance_count: int = 1,
    role: str | None = None,
    job_name: str | None = None,
    max_run_seconds: int = DEFAULT_MAX_RUN_SECONDS,
    spot: bool = False,
    max_wait_seconds: int | None = None,
    checkpoint_s3_uri: str | None = None,
    wait: bool = False,
) -> dict:
    """One training job; returns {"job_name", "model_data", "seconds"}. channels: name -> file:// or s3:// URI.
    Local mode runs the job to its end; on SageMaker it returns once the job is created unless `wait`."""
    image, hyperparameters = as_image(image), dict(hyperparameters or {})
    check_compute(image, instance_type, TRAINING, role)
    check_name("--job-name", job_name)
    check_job(hyperparameters, channels)
    check_s3({**training_uris(channels, output), "--checkpoint-s3-uri": checkpoint_s3_uri}, instance_type)
    check_spot(instance_type, spot, max_run_seconds, max_wait_seconds, checkpoint_s3_uri)
    spot_settings = {"use_spot_instances": True, "max_wait": max_wait_seconds} if spot else {}
    estimator = build_estimator(
        image,
        instance_type,
        output,
        hyperparameters,
        instance_count,
        role,
        max_run_seconds,
        checkpoint_s3_uri=checkpoint_s3_uri,
        **spot_settings,
    )
    wait = wait or is_local(instance_type)
    started = time.time()
    with local_mode_files_removed(estimator.sagemaker_session, instance_type):
        estimator.fit(dict(channels), job_name=job_name, wait=wait, logs="All")
    name = estimator.latest_training_job.name
    # An unfinished SageMaker job has no ModelArtifacts yet; this is where it will put the model.
    model_data = estimator.model_data if wait else f"{output.rstrip('/')}/{name}/output/model.tar.gz"
    return {"job_name": name, "model_data": model_data, "seconds": round(time.time() - started, 1)}


def tuning_parameters(ranges: list[SearchRange]) -> dict:
    """The SDK's parameter ranges of checked search ranges: integer or continuous, with their scaling."""
    from sagemaker.tuner import ContinuousParameter, IntegerParameter

    return {
        r.name: (
            IntegerParameter(int(r.low), int(r.high), scaling_type=r.scaling)
            if r.integer
            else ContinuousParameter(float(r.low), float(r.high), scaling_type=r.scaling)
        )
        for r in ranges
    }


def tune(
    image: LaunchImage | str,
    instance_type: str,
    channels: dict[str, str],
    output: str,
    hyperparameters: dict[str, str] | None = None,
    ranges: dict[str, tuple[str, str, str]] | None = None,
    max_jobs: int = 10,
    max_parallel_jobs: int = 2,
    instance_count: int = 1,
    role: str | None = None,
    job_name: str | None = None,
    max_run_seconds: int = DEFAULT_MAX_RUN_SECONDS,
    wait: bool = False,
) -> dict:
    """A hyperparameter tuning job over the classifier: `max_jobs` training jobs that search `ranges` (NAME ->
    (MIN, MAX, scaling); see launch_checks.search_ranges) for the best validation accuracy."""
    image, static = as_image(image), dict(hyperparameters or {})
    if is_local(instance_type):
        raise UsageError("tune runs on SageMaker only (an ml.* instance type): local mode has no tuning jobs.")
    check_compute(image, instance_type, TRAINING, role)
    check_name("--job-name", job_name, MAX_TUNING_JOB_NAME_LENGTH)
    if check_job(static, channels) != schema.SUPERVISED:
        raise UsageError(
            f"tune searches the classifier's hyperparameters (mode {schema.SUPERVISED}), whose "
            f"{TUNING_OBJECTIVE} it maximises; this is mode {schema.job_mode(static)}."
        )
    check_s3(training_uris(channels, output), instance_type)
    checked = search_ranges(ranges, static, channels)
    check_tuning_limits(max_jobs, max_parallel_jobs)
    from sagemaker.tuner import HyperparameterTuner
    from sagemaker.utils import unique_name_from_base

    estimator = build_estimator(image, instance_type, output, static, instance_count, role, max_run_seconds)
    tuner = HyperparameterTuner(
        estimator,
        TUNING_OBJECTIVE,
        tuning_parameters(checked),
        metric_definitions=CLASSIFIER_METRICS,
        objective_type="Maximize",
        max_jobs=max_jobs,
        max_parallel_jobs=max_parallel_jobs,
    )
    # The SDK's own name would end in the minute: two tuning jobs started within one would collide.
    job_name = job_name or unique_name_from_base(TUNING_JOB_NAME, MAX_TUNING_JOB_NAME_LENGTH)
    started = time.time()
    tuner.fit(dict(channels), job_name=job_name, wait=wait)
    return {"tuning_job_name": tuner.latest_tuning_job.name, "seconds": round(time.time() - started, 1)}


# --- endpoints --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def endpoint(
    image: LaunchImage | str, model_data: str, instance_type: str, role: str | None = None
) -> Iterator["Predictor"]:
    """A deployed endpoint for the block, deleted afterwards whatever happens; yields a JSON predictor."""
    image = as_image(image)
    check_model(image, model_data, instance_type, HOSTING, role)
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    model = build_model(image, model_data, instance_type, role)
    with local_mode_files_removed(model.sagemaker_session, instance_type):
        predictor = model.deploy(
            initial_instance_count=1,
            instance_type=instance_type,
            serializer=JSONSerializer(),
            deserializer=JSONDeserializer(),
            wait=False,
        )
        try:
            # deploy(wait=True) polls every 30 s, which is most of a local deployment's time.
            model.sagemaker_session.wait_for_endpoint(predictor.endpoint_name, poll=ENDPOINT_POLL_SECONDS)
            yield predictor
        finally:
            predictor.delete_endpoint(delete_endpoint_config=True)
            with contextlib.suppress(Exception):
                model.delete_model()


def predict(
    image: LaunchImage | str,
    model_data: str,
    instance_type: str,
    headlines: list[str],
    role: str | None = None,
    top_k: int = 1,
) -> dict:
    """Deploy, classify `headlines`, tear down; returns the endpoint's predictions and the seconds taken."""
    started = time.time()
    with endpoint(image, model_data, instance_type, role) as predictor:
        deployed = time.time()
        predictions = predictor.predict({"instances": list(headlines), "top_k": top_k})
    return {
        "predictions": predictions,
        "deploy_seconds": round(deployed - started, 1),
        "seconds": round(time.time() - started, 1),
    }


def real_time_placement(
    image: LaunchImage, model_data: str, role: str | None, instance_type: str, instance_count: int
) -> dict:
    """deploy's arguments for a real-time endpoint on `instance_count` instances, once the model is checked."""
    check_model(image, model_data, instance_type, HOSTING, role)
    return {"initial_instance_count": instance_count, "instance_type": instance_type}


def serverless_placement(
    image: LaunchImage, model_data: str, role: str | None, memory_mb: int, max_concurrency: int
) -> dict:
    """deploy's arguments for a serverless endpoint, once the size and the model are checked."""
    check_serverless(memory_mb, max_concurrency)
    check_accelerator(image, instance_types.SERVERLESS_ACCELERATOR, "a serverless endpoint")
    check_architecture(image, None, HOSTING)
    check_sagemaker(image, role, session_region())
    check_s3({"--model-data": model_data}, instance_type=None)  # a serverless endpoint: on SageMaker
    from sagemaker.serverless import ServerlessInferenceConfig

    config = ServerlessInferenceConfig(memory_size_in_mb=memory_mb, max_concurrency=max_concurrency)
    return {"serverless_inference_config": config}


def deploy(
    image: LaunchImage | str,
    model_data: str,
    role: str | None,
    instance_type: str | None = None,
    instance_count: int = 1,
    serverless_memory_mb: int | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    endpoint_name: str | None = None,
    wait: bool = False,
    model_name: str | None = None,
) -> dict:
    """A model and an endpoint on SageMaker that stay up (predict is the local round trip): real-time on
    `instance_type`, or serverless with `serverless_memory_mb`."""
    image = as_image(image)
    check_endpoint_kind(instance_type, serverless_memory_mb)
    check_name("--endpoint-name", endpoint_name)
    if serverless_memory_mb is not None:
        placement = serverless_placement(image, model_data, role, serverless_memory_mb, max_concurrency)
    else:
        assert instance_type is not None  # check_endpoint_kind refused neither
        placement = real_time_placement(image, model_data, role, instance_type, instance_count)
    model = build_model(image, model_data, instance_type, role, model_name)
    predictor = model.deploy(endpoint_name=endpoint_name, wait=wait, **placement)
    return {"endpoint_name": predictor.endpoint_name, "model_name": model.name}


# --- batch transform --------------------------------------------------------------------------------------------


def transform(
    image: LaunchImage | str,
    model_data: str,
    instance_type: str,
    input_uri: str,
    output: str,
    role: str | None = None,
    accept: str = "application/jsonlines",
    instance_count: int = 1,
    wait: bool = False,
    content_type: str = "text/plain",
    input_filter: str | None = None,
    output_filter: str | None = None,
    join_source: str | None = None,
    job_name: str | None = None,
    model_name: str | None = None,
) -> dict:
    """Batch transform of a file (or prefix) of one record per line, with SageMaker's DataProcessing (input_filter,
    output_filter, join_source) when given; returns where the output goes. Local mode runs it to its end and
    deletes the model; on SageMaker the model stays (the job uses it) and the command returns once the job is
    created unless `wait`."""
    image = as_image(image)
    join_source = check_transform(accept, content_type, input_filter, output_filter, join_source)
    check_model(image, model_data, instance_type, TRANSFORM, role)
    check_s3({"--input": input_uri, "--output": output}, instance_type)
    from sagemaker.utils import name_from_base

    check_name("--job-name", job_name)
    model = build_model(image, model_data, instance_type, role, model_name)
    transformer = model.transformer(
        instance_count=instance_count,
        instance_type=instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        output_path=output,
        accept=accept,
    )
    local = is_local(instance_type)
    started = time.time()
    with local_mode_files_removed(model.sagemaker_session, instance_type):
        try:
            transformer.transform(
                input_uri,
                content_type=content_type,
                split_type="Line",
                job_name=job_name or name_from_base(TRANSFORM_JOB_NAME),
                wait=wait or local,
                logs=False,
                input_filter=input_filter,
                output_filter=output_filter,
                join_source=join_source,
            )
        finally:
            if local:
                with contextlib.suppress(Exception):
                    model.delete_model()
    return {
        "job_name": transformer.latest_transform_job.name,
        "model_name": model.name,
        "output": output,
        "seconds": round(time.time() - started, 1),
    }


# --- local mode's containers ------------------------------------------------------------------------------------


def running_containers(images: list[str]) -> list[str]:
    """Names of the running containers of these images (local mode runs them through docker-compose)."""
    names = []
    for image in images:
        result = subprocess.run(
            ["docker", "ps", "--filter", f"ancestor={image}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        names += result.stdout.split()
    return names


def remove_containers(names: list[str]) -> None:
    """Removes these containers, running or not; what docker says is not shown."""
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


COMPOSE_FOLDER_LABEL = "com.docker.compose.project.working_dir"
LOCAL_MODE_FOLDER_PREFIX = "headlines-local-mode-"


def compose_containers_under(folder: str) -> list[str]:
    """IDs of the containers, running or not, of the docker-compose files in or under this folder."""
    listing = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={COMPOSE_FOLDER_LABEL}",
            "--format",
            f'{{{{.ID}}}} {{{{.Label "{COMPOSE_FOLDER_LABEL}"}}}}',
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = [line.split(" ", 1) for line in listing.stdout.splitlines()]
    return [container for container, compose_folder in rows if pathlib.Path(compose_folder).is_relative_to(folder)]


@contextlib.contextmanager
def local_mode_files_removed(session: "Session", instance_type: str | None) -> Iterator[None]:
    """In local mode, a folder of the block's own for the SDK's files (compose file, each host's /opt/ml), removed
    afterwards with the containers that ran from it: the SDK leaves a training job's folder and every container
    stopped (it moves a job's model and output to the output path first), and a stopped container keeps its image
    from being removed. Off local mode, nothing."""
    if not is_local(instance_type):
        yield
        return
    # The real path: on macOS the temporary folder is under /var, which Docker Desktop mounts as /private/var.
    folder = os.path.realpath(tempfile.mkdtemp(prefix=LOCAL_MODE_FOLDER_PREFIX))
    session.config["local"]["container_root"] = folder
    try:
        yield
    finally:
        left = compose_containers_under(folder)
        if left:
            remove_containers(left)
        shutil.rmtree(folder, ignore_errors=True)
