#!/usr/bin/env python3
"""Launch the images with the SageMaker Python SDK v2 (`sagemaker<3`): training jobs, hyperparameter tuning jobs,
endpoints and batch transforms, in local mode (instance type `local` / `local_gpu`, `file://` paths, Docker on this
machine) or on SageMaker (an `ml.*` instance type, `s3://` paths, an execution role). Run it with the SDK's
virtualenv:

    PY=$(scripts/sdk-venv.sh v2)
    $PY scripts/launch.py train --image headlines-train:cpu --instance-type local \\
        --channel train=file://$PWD/demo-output/data/headlines --output file://$PWD/demo-output/jobs
    $PY scripts/launch.py predict --image headlines-serve:cpu --instance-type local \\
        --model-data file://.../model.tar.gz "Stocks rally as inflation cools"
    $PY scripts/launch.py transform --image headlines-serve:cpu --instance-type local \\
        --model-data file://.../model.tar.gz --input file://.../headlines.txt --output file://.../transform

On SageMaker, --images build/images.json (what `make push` wrote) picks the pushed, digest-pinned image: the GPU or
CPU training image by the instance type, the serving image for models. Commands return once SageMaker has the job
or endpoint (--wait waits for it):

    $PY scripts/launch.py train --images build/images.json --instance-type ml.g5.xlarge --role $ROLE \\
        --channel train=s3://bucket/headlines --output s3://bucket/jobs \\
        --spot --max-run 7200 --max-wait 14400 --checkpoint-s3-uri s3://bucket/checkpoints/run-1
    $PY scripts/launch.py tune --images build/images.json --instance-type ml.c5.2xlarge --role $ROLE \\
        --channel train=s3://bucket/headlines --output s3://bucket/tuning --max-jobs 20 --max-parallel-jobs 4 \\
        --range learning_rate=0.001:0.1:Logarithmic --range embedding_dim=50:300
    $PY scripts/launch.py deploy --images build/images.json --role $ROLE --model-data s3://.../model.tar.gz \\
        --instance-type ml.m5.large                      # or: --serverless-memory 2048 --max-concurrency 5
    $PY scripts/launch.py transform --images build/images.json --instance-type ml.m5.xlarge --role $ROLE \\
        --model-data s3://.../model.tar.gz --input s3://bucket/headlines.txt --output s3://bucket/transform

Before any API call it refuses what SageMaker would refuse later, or what could only fail: an instance type
SageMaker does not offer for that use, a GPU image on an instance without a GPU (and a CPU image on one with
GPUs), a GPU image on GPUs it has no code for (H100 and newer, code/headlines/gpu_support.py), no execution role,
hyperparameters or channels the training image does not know, spot training without room to wait, a serverless
size SageMaker does not offer (exit status 2, one sentence on stderr; what AWS refuses exits 1). Spot training
without --checkpoint-s3-uri is allowed, with a warning: SageMaker accepts it, and a short job loses little when an
interruption starts it over. Every command can write what it did as JSON (--result FILE). SDK telemetry is switched
off. Local endpoints are deleted when the command ends, also when it fails.
"""

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The SDK's virtualenv has neither MXNet nor the headlines package: these modules come from the source tree. That
# works because they, and what they import, use the standard library only (tests/unit/test_launch.py imports this
# script with nothing else on the path); the SDK itself is imported where it is used.
sys.path.insert(0, os.path.join(REPO, "code"))
from headlines import contract, gpu_support, instance_types  # noqa: E402
from headlines import hyperparameters as schema  # noqa: E402
from headlines.environment import check_channels  # noqa: E402
from headlines.errors import JobError  # noqa: E402
from headlines.instance_types import CPU, GPU, HOSTING, OTHER, TRAINING, TRANSFORM, InstanceTypeError  # noqa: E402

# What SageMaker shows as the training job's metrics: regexes over the job's log lines (docs/training.md, "Logs and
# metric definitions"; the local-mode tests match them against a real run's log).
CLASSIFIER_METRICS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"validation_loss=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
    {"Name": "validation:macro_f1", "Regex": r"validation_macro_f1=([0-9.]+)"},
    {"Name": "train:samples_per_second", "Regex": r"samples_per_second=([0-9.]+)"},
    {"Name": "train:epoch_seconds", "Regex": r"epoch_seconds=([0-9.]+)"},
    {"Name": "test:accuracy", "Regex": r"final test: accuracy=([0-9.]+)"},
    {"Name": "test:macro_f1", "Regex": r"final test: accuracy=[0-9.]+ macro_f1=([0-9.]+)"},
]
EMBEDDING_METRICS = [
    {"Name": "train:epoch_loss", "Regex": r"epoch=[0-9]+ loss=([0-9.]+)"},
    {"Name": "train:words_per_second", "Regex": r"epoch=[0-9]+ loss=[0-9.]+ words_per_second=([0-9.]+)"},
    {"Name": "train:progress", "Regex": r"progress=([0-9.]+)%"},
    {"Name": "train:recent_loss", "Regex": r"progress=[0-9.]+% words=[0-9]+ words_per_second=[0-9]+ loss=([0-9.]+)"},
]
# The tuning job maximises the classifier's validation accuracy (every run holds out a validation share).
TUNING_OBJECTIVE = "validation:accuracy"
# tune's search space unless --range gives one, less what the job fixes: NAME -> (MIN, MAX, scaling). Integer or
# continuous follows the hyperparameter's type in the image's schema, and both ends must pass the schema's check.
TUNING_RANGES = {
    "learning_rate": ("0.0001", "0.1", "Logarithmic"),
    "batch_size": ("16", "256", "Logarithmic"),
    "embedding_dim": ("50", "300", "Linear"),
    "epochs": ("5", "30", "Linear"),
}
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")

LOCAL_ACCELERATORS = {"local": CPU, "local_gpu": GPU}
# Local mode never calls AWS, but the SDK builds boto3 clients: it needs a region and some credentials.
LOCAL_ROLE = "arn:aws:iam::111111111111:role/local-mode"
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
S3_SCHEME = "s3://"
ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# The keys of the pushed-images JSON (scripts/images.py's build targets), and how `make push` pushes each.
TRAINING_IMAGE_KEYS = {CPU: "train-cpu", GPU: "train-gpu"}
SERVING_IMAGE_KEY = "serve"
PUSH_ARGS = {
    "train-cpu": "--images train --train-variant cpu",
    "train-gpu": "--images train --train-variant gpu",
    SERVING_IMAGE_KEY: "--images serve",
}
PUSHED_IMAGES_SCHEMA = 1
IMAGE_ARCHITECTURE = instance_types.X86_64  # the images are built for linux/amd64
# Job and model names: the SDK would derive them from the image name, which a digest-pinned URI turns into a name
# SageMaker refuses (`headlines-train@sha256`).
CLASSIFIER_JOB_NAME = "headlines-classifier"
WORD_VECTORS_JOB_NAME = "headlines-word-vectors"
MODEL_BASE_NAME = "headlines-serve"
TRANSFORM_JOB_NAME = "headlines-transform"
TUNING_JOB_NAME = "headlines-tune"
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")  # SageMaker's pattern for job, model and endpoint names
MAX_NAME_LENGTH = 63
MAX_TUNING_JOB_NAME_LENGTH = 32
DEFAULT_MAX_RUN_SECONDS = 24 * 3600
DEFAULT_MAX_CONCURRENCY = 5
ENDPOINT_POLL_SECONDS = 2
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}

logger = logging.getLogger("launch")


class UsageError(ValueError):
    """A command that SageMaker would refuse, or whose job could only fail: one sentence saying why."""


@dataclasses.dataclass(frozen=True)
class Image:
    uri: str
    accelerator: str = None  # cpu or gpu; None when nothing says
    key: str = None  # the pushed-images JSON's key, when it came from there

    @property
    def name(self):
        return f"the {self.key} image" if self.key else self.uri

    @property
    def region(self):
        """The region of an ECR image URI; SageMaker pulls only from its own region's ECR."""
        match = ECR_HOST.match(self.uri)
        return match.group(1) if match else None


def image_from_uri(uri):
    """--image: the project's local names and ECR tags end in the accelerator (headlines-train:gpu, <commit>-cpu)."""
    tag = uri.rsplit("/", 1)[-1].split("@")[0].partition(":")[2]
    match = re.search(r"(?:^|-)(cpu|gpu)$", tag)
    return Image(uri, match.group(1) if match else None)


def as_image(image):
    return image if isinstance(image, Image) else image_from_uri(image)


def pushed_image(path, key):
    """The image `key` of a pushed-images JSON (scripts/push.py writes it), digest-pinned."""
    try:
        with open(path, encoding="utf-8") as f:
            pushed = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist: push the images first (make push).") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON: it should be the pushed-images file that make push writes.") from None
    if not isinstance(pushed, dict) or pushed.get("schema") != PUSHED_IMAGES_SCHEMA:
        raise UsageError(f"{path} is not a pushed-images file of schema {PUSHED_IMAGES_SCHEMA} (make push writes one).")
    entry = pushed.get("images", {}).get(key)
    if not entry:
        raise UsageError(f"{path} has no {key} image: push it with make push PUSH_ARGS='{PUSH_ARGS[key]}'.")
    return Image(entry["uri"], entry["accelerator"], key)


def is_local(instance_type):
    return instance_type in LOCAL_ACCELERATORS


def instance_accelerator(instance_type, use):
    """cpu or gpu: what the instance type offers the images, once SageMaker offers it for `use` at all."""
    if is_local(instance_type):
        return LOCAL_ACCELERATORS[instance_type]
    family = instance_types.family(instance_type, use)
    if family.architecture != IMAGE_ARCHITECTURE:
        raise UsageError(
            f"{instance_type} has {family.architecture} processors and the images are built for "
            f"{IMAGE_ARCHITECTURE}: pick an {IMAGE_ARCHITECTURE} instance type."
        )
    if family.accelerator == OTHER:
        raise UsageError(
            f"{instance_type} carries AWS Inferentia or Trainium or Habana Gaudi accelerators, which "
            f"the images cannot use: pick a CPU or NVIDIA GPU instance type."
        )
    return family.accelerator


def check_accelerator(image, accelerator, where):
    """A GPU image needs a GPU; a CPU image on a GPU instance would leave the GPUs idle."""
    if image.accelerator is None or image.accelerator == accelerator:
        return
    if accelerator == GPU:
        raise UsageError(
            f"{image.name} runs on CPU only and {where} has GPUs it would leave idle: pick a CPU instance type."
        )
    raise UsageError(f"{image.name} needs a GPU and {where} has none: pick a GPU instance type.")


def check_sagemaker(image, role, region):
    """What every SageMaker (not local) command needs: an execution role ARN, and the image in SageMaker's region."""
    if not role:
        raise UsageError("--role is required off local mode (the SageMaker execution role ARN).")
    if not ROLE_ARN.fullmatch(role):
        raise UsageError(f"--role must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); got {role!r}.")
    if not region:
        raise UsageError("No AWS region is set: set AWS_REGION (or a profile's region) to the region of the images.")
    if image.region and image.region != region:
        raise UsageError(
            f"{image.name} is in {image.region}'s ECR but SageMaker would run in {region}: it pulls "
            f"images from its own region only."
        )


def check_compute(image, instance_type, use, role=None):
    """The instance type for `use`, the image's accelerator against it (and a GPU image against the instance's GPUs),
    and off local mode role and region."""
    accelerator = instance_accelerator(instance_type, use)
    check_accelerator(image, accelerator, instance_type)
    if accelerator == GPU and not is_local(instance_type):
        gpu_support.check_instance_type(instance_type)
    if not is_local(instance_type):
        check_sagemaker(image, role, session_region())


def check_name(option, name, max_length=MAX_NAME_LENGTH):
    if name is not None and (len(name) > max_length or not NAME.fullmatch(name)):
        raise UsageError(
            f"{option} must be letters, digits and hyphens, at most {max_length} characters, starting "
            f"and ending with a letter or digit; got {name!r}."
        )


def check_s3(uris, instance_type):
    """SageMaker reads and writes S3 only; file:// is local mode's. uris: what (as the user named it) -> URI."""
    if is_local(instance_type):
        return
    for what, uri in uris.items():
        if uri is not None and not uri.startswith(S3_SCHEME):
            raise UsageError(f"{what} must be an s3:// URI on SageMaker (file:// is for local mode); got {uri!r}.")


def check_job(hyperparameters, channels):
    """The training image's own checks of hyperparameters and channels (code/headlines), run here so that a job
    that could only fail is not started; returns the job's mode."""
    mode = schema.job_mode(hyperparameters)
    schema.parse_hyperparameters(hyperparameters)
    known = contract.KNOWN_CHANNELS if mode == schema.SUPERVISED else contract.EMBEDDING_JOB_CHANNELS
    check_channels(channels, known)
    return mode


def check_spot(instance_type, spot, max_run, max_wait, checkpoint_s3_uri):
    if max_run < 1:
        raise UsageError(f"--max-run must be a positive number of seconds; got {max_run}.")
    if not spot:
        if max_wait is not None:
            raise UsageError("--max-wait is for spot training: add --spot, or leave --max-wait out.")
        return
    if is_local(instance_type):
        raise UsageError("--spot is for SageMaker (an ml.* instance type); local mode has no spot capacity.")
    if max_wait is None:
        raise UsageError(
            "--spot needs --max-wait SECONDS: how long SageMaker may wait for spot capacity plus run "
            "the job (at least --max-run)."
        )
    if max_wait < max_run:
        raise UsageError(
            f"--max-wait ({max_wait} s) must be at least --max-run ({max_run} s): it counts the "
            f"waiting for spot capacity and the run."
        )
    if not checkpoint_s3_uri:
        # Legal, and fine for a short job; a long one starts over after every interruption.
        logger.warning("spot training without --checkpoint-s3-uri: an interrupted job starts over from epoch 1")


def check_serverless(memory_mb, max_concurrency):
    sizes = instance_types.SERVERLESS_MEMORY_SIZES_MB
    if memory_mb not in sizes:
        raise UsageError(f"--serverless-memory must be one of {', '.join(map(str, sizes))} MB; got {memory_mb}.")
    if not 1 <= max_concurrency <= instance_types.SERVERLESS_MAX_CONCURRENCY:
        raise UsageError(
            f"--max-concurrency must be 1 to {instance_types.SERVERLESS_MAX_CONCURRENCY}; got {max_concurrency}."
        )


@dataclasses.dataclass(frozen=True)
class SearchRange:
    name: str
    integer: bool
    low: str
    high: str
    scaling: str


def fixed_hyperparameters(static, channels):
    """What a tuning job cannot search, and why: the --hyperparameter values, and the embedding width when
    pretrained vectors set it (the image refuses another embedding_dim)."""
    fixed = {name: "it has a fixed value (--hyperparameter)" for name in static}
    if contract.EMBEDDINGS_CHANNEL in channels:
        fixed["embedding_dim"] = f"the pretrained vectors of the {contract.EMBEDDINGS_CHANNEL} channel set it"
    return fixed


def search_ranges(ranges, static, channels):
    """tune's ranges (NAME -> (MIN, MAX, scaling); TUNING_RANGES less what the job fixes when None) checked
    against the classifier's schema: numeric hyperparameters only, both ends valid values, and what SageMaker
    requires of the scaling."""
    fixed = fixed_hyperparameters(static, channels)
    if ranges is None:
        ranges = {name: bounds for name, bounds in TUNING_RANGES.items() if name not in fixed}
    types = {field.name: field.type for field in dataclasses.fields(schema.Hyperparameters)}
    numeric = [name for name, kind in types.items() if kind in (int, float)]
    checked = []
    for name, (low, high, scaling) in ranges.items():
        if name not in numeric:
            raise UsageError(
                f"--range {name}: tune searches the classifier's numeric hyperparameters, {', '.join(numeric)}."
            )
        if name in fixed:
            raise UsageError(f"--range {name}: {name} cannot be searched, as {fixed[name]}.")
        scaling = next((s for s in SCALING_TYPES if s.lower() == str(scaling).lower()), None)
        if scaling is None:
            raise UsageError(f"--range {name}: the scaling must be one of {', '.join(SCALING_TYPES)}.")
        for value in (low, high):
            schema.Hyperparameters.from_strings({**static, name: value})
            if not re.fullmatch(r"[0-9.e+-]+", value):  # the schema also takes `auto` for some
                raise UsageError(f"--range {name}: MIN and MAX must be numbers; got {value!r}.")
        if float(low) >= float(high):
            raise UsageError(f"--range {name}: MIN ({low}) must be below MAX ({high}).")
        if scaling == "Logarithmic" and float(low) <= 0:
            raise UsageError(f"--range {name}: Logarithmic scaling needs MIN above 0; got {low}.")
        if scaling == "ReverseLogarithmic" and (types[name] is int or float(low) < 0 or float(high) >= 1):
            raise UsageError(f"--range {name}: ReverseLogarithmic scaling needs a continuous range within [0, 1).")
        checked.append(SearchRange(name, types[name] is int, low, high, scaling))
    return checked


def trains_word_vectors(hyperparameters):
    return schema.job_mode(hyperparameters) in schema.EMBEDDING_MODES


def metric_definitions(hyperparameters):
    return EMBEDDING_METRICS if trains_word_vectors(hyperparameters) else CLASSIFIER_METRICS


def job_base_name(hyperparameters):
    return WORD_VECTORS_JOB_NAME if trains_word_vectors(hyperparameters) else CLASSIFIER_JOB_NAME


def session_region():
    """The region boto3 would use (arguments, environment, profile); no API call."""
    import boto3

    return boto3.session.Session().region_name


def make_session(instance_type):
    if is_local(instance_type):
        for name, value in (
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local-mode"),
            ("AWS_SECRET_ACCESS_KEY", "local-mode"),
        ):
            os.environ.setdefault(name, value)
        from sagemaker.local import LocalSession

        session = LocalSession(sagemaker_config=TELEMETRY_OFF)
        session.config = {"local": {"local_code": True}}  # file:// inputs and outputs, no S3
        return session
    import sagemaker

    return sagemaker.Session(sagemaker_config=TELEMETRY_OFF)


def _estimator(image, instance_type, output, hyperparameters, instance_count, role, max_run_seconds, **spot):
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
        **spot,
    )


def train(
    image,
    instance_type,
    channels,
    output,
    hyperparameters=None,
    instance_count=1,
    role=None,
    job_name=None,
    max_run_seconds=DEFAULT_MAX_RUN_SECONDS,
    spot=False,
    max_wait_seconds=None,
    checkpoint_s3_uri=None,
    wait=False,
):
    """One training job; returns {"job_name", "model_data", "seconds"}. channels: name -> file:// or s3:// URI.
    Local mode runs the job to its end; on SageMaker it returns once the job is created unless `wait`."""
    image, hyperparameters = as_image(image), dict(hyperparameters or {})
    check_compute(image, instance_type, TRAINING, role)
    check_name("--job-name", job_name)
    check_job(hyperparameters, channels)
    check_s3(
        {
            **{f"channel {name}": uri for name, uri in channels.items()},
            "--output": output,
            "--checkpoint-s3-uri": checkpoint_s3_uri,
        },
        instance_type,
    )
    check_spot(instance_type, spot, max_run_seconds, max_wait_seconds, checkpoint_s3_uri)
    spot_settings = {"use_spot_instances": True, "max_wait": max_wait_seconds} if spot else {}
    estimator = _estimator(
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
    estimator.fit(dict(channels), job_name=job_name, wait=wait, logs="All")
    name = estimator.latest_training_job.name
    # An unfinished SageMaker job has no ModelArtifacts yet; this is where it will put the model.
    model_data = estimator.model_data if wait else f"{output.rstrip('/')}/{name}/output/model.tar.gz"
    return {"job_name": name, "model_data": model_data, "seconds": round(time.time() - started, 1)}


def tune(
    image,
    instance_type,
    channels,
    output,
    hyperparameters=None,
    ranges=None,
    max_jobs=10,
    max_parallel_jobs=2,
    instance_count=1,
    role=None,
    job_name=None,
    max_run_seconds=DEFAULT_MAX_RUN_SECONDS,
    wait=False,
):
    """A hyperparameter tuning job over the classifier: `max_jobs` training jobs that search `ranges` (NAME ->
    (MIN, MAX, scaling); see search_ranges) for the best validation accuracy."""
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
    check_s3({**{f"channel {name}": uri for name, uri in channels.items()}, "--output": output}, instance_type)
    checked = search_ranges(ranges, static, channels)
    if max_jobs < 1:
        raise UsageError(f"--max-jobs must be at least 1; got {max_jobs}.")
    if not 1 <= max_parallel_jobs <= max_jobs:
        raise UsageError(f"--max-parallel-jobs must be 1 to --max-jobs ({max_jobs}); got {max_parallel_jobs}.")
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter
    from sagemaker.utils import unique_name_from_base

    estimator = _estimator(image, instance_type, output, static, instance_count, role, max_run_seconds)
    parameters = {
        r.name: (
            IntegerParameter(int(r.low), int(r.high), scaling_type=r.scaling)
            if r.integer
            else ContinuousParameter(float(r.low), float(r.high), scaling_type=r.scaling)
        )
        for r in checked
    }
    tuner = HyperparameterTuner(
        estimator,
        TUNING_OBJECTIVE,
        parameters,
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


def _model(image, model_data, instance_type, role):
    """instance_type None: serverless, on SageMaker."""
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.utils import name_from_base

    # predictor_cls: without it a plain Model's deploy() returns None instead of a predictor.
    return Model(
        image_uri=image.uri,
        model_data=model_data,
        role=role or LOCAL_ROLE,
        predictor_cls=Predictor,
        name=name_from_base(MODEL_BASE_NAME),
        sagemaker_session=make_session(instance_type),
    )


def check_model(image, model_data, instance_type, use, role):
    check_compute(image, instance_type, use, role)
    check_s3({"--model-data": model_data}, instance_type)


@contextlib.contextmanager
def endpoint(image, model_data, instance_type, role=None):
    """A deployed endpoint for the block, deleted afterwards whatever happens; yields a JSON predictor."""
    image = as_image(image)
    check_model(image, model_data, instance_type, HOSTING, role)
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    model = _model(image, model_data, instance_type, role)
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


def predict(image, model_data, instance_type, headlines, role=None, top_k=1):
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


def deploy(
    image,
    model_data,
    role,
    instance_type=None,
    instance_count=1,
    serverless_memory_mb=None,
    max_concurrency=DEFAULT_MAX_CONCURRENCY,
    endpoint_name=None,
    wait=False,
):
    """A model and an endpoint on SageMaker that stay up (predict is the local round trip): real-time on
    `instance_type`, or serverless with `serverless_memory_mb`."""
    image = as_image(image)
    if (instance_type is None) == (serverless_memory_mb is None):
        raise UsageError(
            "deploy needs --instance-type (a real-time endpoint) or --serverless-memory (a serverless one), not both."
        )
    if instance_type is not None and is_local(instance_type):
        raise UsageError(
            "deploy leaves an endpoint running on SageMaker; in local mode use predict, which deploys, "
            "classifies and deletes."
        )
    check_name("--endpoint-name", endpoint_name)
    if serverless_memory_mb is None:
        check_model(image, model_data, instance_type, HOSTING, role)
        placement = {"initial_instance_count": instance_count, "instance_type": instance_type}
    else:
        check_serverless(serverless_memory_mb, max_concurrency)
        check_accelerator(image, instance_types.SERVERLESS_ACCELERATOR, "a serverless endpoint")
        check_sagemaker(image, role, session_region())
        check_s3({"--model-data": model_data}, instance_type)
        from sagemaker.serverless import ServerlessInferenceConfig

        placement = {
            "serverless_inference_config": ServerlessInferenceConfig(
                memory_size_in_mb=serverless_memory_mb, max_concurrency=max_concurrency
            )
        }
    model = _model(image, model_data, instance_type, role)
    predictor = model.deploy(endpoint_name=endpoint_name, wait=wait, **placement)
    return {"endpoint_name": predictor.endpoint_name, "model_name": model.name}


def transform(
    image,
    model_data,
    instance_type,
    input_uri,
    output,
    role=None,
    accept="application/jsonlines",
    instance_count=1,
    wait=False,
):
    """Batch transform of a file (or prefix) of one headline per line; returns where the output goes. Local mode
    runs it to its end and deletes the model; on SageMaker the model stays (the job uses it) and the command
    returns once the job is created unless `wait`."""
    image = as_image(image)
    check_model(image, model_data, instance_type, TRANSFORM, role)
    check_s3({"--input": input_uri, "--output": output}, instance_type)
    from sagemaker.utils import name_from_base

    model = _model(image, model_data, instance_type, role)
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
    try:
        transformer.transform(
            input_uri,
            content_type="text/plain",
            split_type="Line",
            job_name=name_from_base(TRANSFORM_JOB_NAME),
            wait=wait or local,
            logs=False,
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


def running_containers(images):
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


def remove_containers(names):
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


def _key_values(pairs, what):
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {pair!r} is not NAME=VALUE.")
        parsed[key] = value
    return parsed


def _positive(text):
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {number}")
    return number


def _ranges(pairs):
    """--range NAME=MIN:MAX[:SCALING] -> {NAME: (MIN, MAX, SCALING)}; None when none is given."""
    if not pairs:
        return None
    ranges = {}
    for name, value in _key_values(pairs, "--range").items():
        parts = value.split(":")
        if len(parts) not in (2, 3):
            raise UsageError(f"--range {name}={value} is not NAME=MIN:MAX or NAME=MIN:MAX:SCALING.")
        ranges[name] = (parts[0], parts[1], parts[2] if len(parts) == 3 else "Auto")
    return ranges


def _parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(
        command,
        image_help,
        instance_type_default="local",
        instance_type_help="local, local_gpu or an ml.* type (default: local)",
    ):
        images = command.add_mutually_exclusive_group(required=True)
        images.add_argument("--image", help=image_help)
        images.add_argument(
            "--images",
            metavar="JSON",
            help="the pushed-images file of make push (build/images.json): its digest-pinned URIs",
        )
        command.add_argument("--instance-type", default=instance_type_default, help=instance_type_help)
        command.add_argument("--role", help="execution role ARN (needed off local mode)")
        command.add_argument("--result", help="write what happened to this JSON file")

    def sagemaker_wait(command):
        command.add_argument("--wait", action="store_true", help="on SageMaker, wait until it is done")

    def training(command):
        command.add_argument("--instance-count", type=_positive, default=1)
        command.add_argument("--channel", action="append", required=True, metavar="NAME=URI")
        command.add_argument("--output", required=True, help="output_path: file://... or s3://...")
        command.add_argument("--hyperparameter", "--hp", action="append", metavar="NAME=VALUE")
        command.add_argument("--job-name")
        command.add_argument(
            "--max-run",
            type=int,
            default=DEFAULT_MAX_RUN_SECONDS,
            metavar="SECONDS",
            help="stop a training job after this long",
        )
        sagemaker_wait(command)

    train_command = commands.add_parser("train", help="run a training job (classifier or word vectors)")
    common(train_command, "training image URI")
    training(train_command)
    train_command.add_argument("--spot", action="store_true", help="managed spot training (needs --max-wait)")
    train_command.add_argument(
        "--max-wait", type=int, metavar="SECONDS", help="spot: waiting for capacity plus running, at least --max-run"
    )
    train_command.add_argument("--checkpoint-s3-uri", help="where SageMaker keeps the job's checkpoints")

    tune_command = commands.add_parser(
        "tune", help=f"hyperparameter tuning job over the classifier, maximising {TUNING_OBJECTIVE}"
    )
    common(tune_command, "training image URI")
    training(tune_command)
    tune_command.add_argument(
        "--range",
        action="append",
        metavar="NAME=MIN:MAX[:SCALING]",
        help=f"a numeric hyperparameter to search; SCALING one of {', '.join(SCALING_TYPES)}"
        f" (default Auto). Without any: " + ", ".join(f"{n}={lo}:{hi}:{s}" for n, (lo, hi, s) in TUNING_RANGES.items()),
    )
    tune_command.add_argument("--max-jobs", type=int, default=10)
    tune_command.add_argument("--max-parallel-jobs", type=int, default=2)

    predict_command = commands.add_parser("predict", help="deploy an endpoint, classify headlines, delete it")
    common(predict_command, "serving image URI")
    predict_command.add_argument("--model-data", required=True)
    predict_command.add_argument("--top-k", type=int, default=1)
    predict_command.add_argument("headlines", nargs="+")

    deploy_command = commands.add_parser(
        "deploy",
        help="a SageMaker endpoint that stays up: real-time (--instance-type) or serverless (--serverless-memory)",
    )
    common(deploy_command, "serving image URI", None, "an ml.* type: a real-time endpoint")
    deploy_command.add_argument("--model-data", required=True)
    deploy_command.add_argument("--instance-count", type=_positive, default=1)
    deploy_command.add_argument(
        "--serverless-memory",
        type=int,
        metavar="MB",
        help=f"one of {', '.join(map(str, instance_types.SERVERLESS_MEMORY_SIZES_MB))}",
    )
    deploy_command.add_argument(
        "--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY, help="serverless: concurrent invocations"
    )
    deploy_command.add_argument("--endpoint-name")
    sagemaker_wait(deploy_command)

    transform_command = commands.add_parser("transform", help="batch transform of one headline per line")
    common(transform_command, "serving image URI")
    transform_command.add_argument("--model-data", required=True)
    transform_command.add_argument("--input", required=True)
    transform_command.add_argument("--output", required=True)
    transform_command.add_argument("--instance-count", type=_positive, default=1)
    sagemaker_wait(transform_command)
    return parser


def _image(args, use):
    """--image as given, or the pushed image this command and instance type need."""
    if args.image:
        return image_from_uri(args.image)
    if use == TRAINING:
        return pushed_image(args.images, TRAINING_IMAGE_KEYS[instance_accelerator(args.instance_type, use)])
    return pushed_image(args.images, SERVING_IMAGE_KEY)


def run(args):
    if args.command in ("train", "tune"):
        image = _image(args, TRAINING)
        channels, hyperparameters = (
            _key_values(args.channel, "--channel"),
            _key_values(args.hyperparameter, "--hyperparameter"),
        )
        settings = {
            "instance_count": args.instance_count,
            "role": args.role,
            "job_name": args.job_name,
            "max_run_seconds": args.max_run,
            "wait": args.wait,
        }
        if args.command == "tune":
            return tune(
                image,
                args.instance_type,
                channels,
                args.output,
                hyperparameters,
                _ranges(args.range),
                args.max_jobs,
                args.max_parallel_jobs,
                **settings,
            )
        return train(
            image,
            args.instance_type,
            channels,
            args.output,
            hyperparameters,
            spot=args.spot,
            max_wait_seconds=args.max_wait,
            checkpoint_s3_uri=args.checkpoint_s3_uri,
            **settings,
        )
    if args.command == "predict":
        return predict(
            _image(args, HOSTING), args.model_data, args.instance_type, args.headlines, args.role, args.top_k
        )
    if args.command == "deploy":
        return deploy(
            _image(args, HOSTING),
            args.model_data,
            args.role,
            args.instance_type,
            args.instance_count,
            args.serverless_memory,
            args.max_concurrency,
            args.endpoint_name,
            args.wait,
        )
    return transform(
        _image(args, TRANSFORM),
        args.model_data,
        args.instance_type,
        args.input,
        args.output,
        args.role,
        instance_count=args.instance_count,
        wait=args.wait,
    )


def main(argv=None):
    """Usage errors (refused before any API call) exit 2, an AWS error exits 1: one sentence on stderr each."""
    import botocore.exceptions

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = run(args)
    except (UsageError, InstanceTypeError, JobError) as error:
        print(f"launch.py {args.command}: {error}", file=sys.stderr)
        return 2
    except botocore.exceptions.ClientError as error:
        print(
            f"launch.py {args.command}: AWS refused {error.operation_name}: "
            f"{error.response.get('Error', {}).get('Message', error)}",
            file=sys.stderr,
        )
        return 1
    except botocore.exceptions.BotoCoreError as error:
        print(f"launch.py {args.command}: {error}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=1)
    print(text)
    if args.result:
        with open(args.result, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
