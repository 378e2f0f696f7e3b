"""The pre-flight checks of scripts/launch.py: what SageMaker would refuse later, or what could only fail, refused
before any API call with one sentence (exit status 2). Also the image a command runs (from --image, or from the
pushed-images file of scripts/images.py) and tune's search ranges, both checked here.
Imports the standard library and the source tree's headlines modules only; boto3 where the region is read.
"""

import dataclasses
import logging
import os
import re
import sys
import typing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
import images  # noqa: E402
import source_tree  # noqa: E402, F401 - the headlines package from the source tree
from headlines import contract, gpu_support, instance_types  # noqa: E402
from headlines import hyperparameters as schema  # noqa: E402
from headlines.environment import check_channels  # noqa: E402
from headlines.errors import JobError  # noqa: E402
from headlines.instance_types import CPU, GPU, OTHER, TRAINING, InstanceTypeError  # noqa: E402

LOCAL_ACCELERATORS = {"local": CPU, "local_gpu": GPU}
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
S3_SCHEME = "s3://"
ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# An instance family's CPU architecture as Docker names the images built for it (scripts/images.py).
IMAGE_ARCHITECTURES = {instance_types.X86_64: "amd64", instance_types.ARM64: "arm64"}
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")  # SageMaker's pattern for job, model and endpoint names
MAX_NAME_LENGTH = 63
MAX_TUNING_JOB_NAME_LENGTH = 32
# tune's search space unless --range gives one, less what the job fixes: NAME -> (MIN, MAX, scaling). Integer or
# continuous follows the hyperparameter's type in the image's schema, and both ends must pass the schema's check.
TUNING_RANGES = {
    "learning_rate": ("0.0001", "0.1", "Logarithmic"),
    "batch_size": ("16", "256", "Logarithmic"),
    "embedding_dim": ("50", "300", "Linear"),
    "epochs": ("5", "30", "Linear"),
}
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")

logger = logging.getLogger("launch")


class UsageError(ValueError):
    """A command that SageMaker would refuse, or whose job could only fail: one sentence saying why."""


# What the command line reports as a refused command (exit status 2): ours, and the training image's own checks
# of instance types, hyperparameters and channels, which run here too.
REFUSALS = (UsageError, InstanceTypeError, JobError)


# --- the image a command runs -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LaunchImage:
    """An image a command runs: its URI and, where something says, its accelerator and pushed-images key."""

    uri: str
    accelerator: str | None = None  # cpu or gpu; None when nothing says
    key: str | None = None  # the pushed-images file's key, when it came from there
    architecture: str | None = None  # amd64 or arm64; None when nothing says

    @property
    def name(self) -> str:
        """How a sentence names the image: by its pushed-images key, or else by its URI."""
        return f"the {self.key} image" if self.key else self.uri

    @property
    def region(self) -> str | None:
        """The region of an ECR image URI; SageMaker pulls only from its own region's ECR."""
        match = ECR_HOST.match(self.uri)
        return match.group(1) if match else None


def image_from_uri(uri: str) -> LaunchImage:
    """--image: the project's local names and ECR tags end in the variant (headlines-train:gpu, <commit>-cpu,
    headlines-serve:cpu-arm64): the accelerator, and the architecture when it is not amd64."""
    tag = uri.rsplit("/", 1)[-1].split("@")[0].partition(":")[2]
    match = re.search(r"(?:^|-)(cpu|gpu)(?:-(arm64))?$", tag)
    if not match:
        return LaunchImage(uri)
    return LaunchImage(uri, match.group(1), architecture=match.group(2) or "amd64")


def as_image(image: LaunchImage | str) -> LaunchImage:
    """The image as it is, or the image of a URI (the commands take either)."""
    return image if isinstance(image, LaunchImage) else image_from_uri(image)


def pushed_image(path: str, key: str) -> LaunchImage:
    """The image `key` of a pushed-images file (scripts/push.py writes it), digest-pinned."""
    try:
        record = images.read_pushed_image(path, key)
    except images.PushedImagesError as error:
        raise UsageError(str(error)) from None
    return LaunchImage(record["uri"], record["accelerator"], key, images.IMAGES[key].architecture)


# --- instance types, accelerators, role and region --------------------------------------------------------------


def is_local(instance_type: str | None) -> bool:
    """Whether the instance type is local mode's (local, local_gpu); None (serverless) is SageMaker's."""
    return instance_type in LOCAL_ACCELERATORS


def instance_accelerator(instance_type: str, use: str) -> str:
    """cpu or gpu: what the instance type offers the images, once SageMaker offers it for `use` at all."""
    if is_local(instance_type):
        return LOCAL_ACCELERATORS[instance_type]
    family = instance_types.family(instance_type, use)
    if family.accelerator == OTHER:
        raise UsageError(
            f"{instance_type} carries AWS Inferentia or Trainium or Habana Gaudi accelerators, which "
            f"the images cannot use: pick a CPU or NVIDIA GPU instance type."
        )
    return family.accelerator


def instance_architecture(instance_type: str | None, use: str) -> str:
    """amd64 or arm64: the images an instance type runs; serverless endpoints run on x86. Local mode runs on this
    machine, which builds the images for itself: amd64 too."""
    if instance_type is None or is_local(instance_type):
        return IMAGE_ARCHITECTURES[instance_types.X86_64]
    return IMAGE_ARCHITECTURES[instance_types.family(instance_type, use).architecture]


def check_architecture(image: LaunchImage, instance_type: str | None, use: str) -> None:
    """An image runs on the CPUs it was built for only: elsewhere it fails with 'exec format error'. instance_type
    None: a serverless endpoint."""
    architecture = instance_architecture(instance_type, use)
    if image.architecture is None or image.architecture == architecture:
        return
    if architecture == IMAGE_ARCHITECTURES[instance_types.X86_64]:
        remedy = "pick an arm64 (Graviton) instance type"
    elif use == TRAINING:
        remedy = "the training images are built for amd64 only: pick an amd64 instance type"
    else:
        remedy = (
            f"serve it with the arm64 serving image (make images-arm64, then make push PUSH_ARGS="
            f"'{images.PUSH_ARGS['serve-arm64']}'), which --images picks for Graviton instance types"
        )
    where = instance_type or "a serverless endpoint"
    built = f"{image.name} is built for {image.architecture}"
    raise UsageError(f"{where} has {architecture} processors and {built}: {remedy}.")


def check_accelerator(image: LaunchImage, accelerator: str, where: str) -> None:
    """A GPU image needs a GPU; a CPU image on a GPU instance would leave the GPUs idle."""
    if image.accelerator is None or image.accelerator == accelerator:
        return
    if accelerator == GPU:
        raise UsageError(
            f"{image.name} runs on CPU only and {where} has GPUs it would leave idle: pick a CPU instance type."
        )
    raise UsageError(f"{image.name} needs a GPU and {where} has none: pick a GPU instance type.")


def session_region() -> str | None:
    """The region boto3 would use (arguments, environment, profile); no API call."""
    import boto3

    return boto3.session.Session().region_name


def check_sagemaker(image: LaunchImage, role: str | None, region: str | None) -> None:
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


def check_compute(image: LaunchImage, instance_type: str, use: str, role: str | None = None) -> None:
    """The instance type for `use`, the image's accelerator against it (and a GPU image against the instance's GPUs),
    and off local mode role and region."""
    accelerator = instance_accelerator(instance_type, use)
    check_accelerator(image, accelerator, instance_type)
    check_architecture(image, instance_type, use)
    if accelerator == GPU and not is_local(instance_type):
        gpu_support.check_instance_type(instance_type)
    if not is_local(instance_type):
        check_sagemaker(image, role, session_region())


# --- names and URIs ---------------------------------------------------------------------------------------------


def check_name(option: str, name: str | None, max_length: int = MAX_NAME_LENGTH) -> None:
    """A job, model or endpoint name the user gave, against SageMaker's pattern and length; None lets the SDK pick."""
    if name is not None and (len(name) > max_length or not NAME.fullmatch(name)):
        raise UsageError(
            f"{option} must be letters, digits and hyphens, at most {max_length} characters, starting "
            f"and ending with a letter or digit; got {name!r}."
        )


def check_s3(uris: dict[str, str | None], instance_type: str | None) -> None:
    """SageMaker reads and writes S3 only; file:// is local mode's. uris: what (as the user named it) -> URI."""
    if is_local(instance_type):
        return
    for what, uri in uris.items():
        if uri is not None and not uri.startswith(S3_SCHEME):
            raise UsageError(f"{what} must be an s3:// URI on SageMaker (file:// is for local mode); got {uri!r}.")


def training_uris(channels: dict[str, str], output: str) -> dict[str, str | None]:
    """A training or tuning job's channels and --output, named as check_s3 reports them."""
    return {**{f"channel {name}": uri for name, uri in channels.items()}, "--output": output}


# --- jobs, spot capacity, endpoints -----------------------------------------------------------------------------


def check_job(hyperparameters: dict[str, str], channels: dict[str, str]) -> str:
    """The training image's own checks of hyperparameters and channels (code/headlines), run here so that a job
    that could only fail is not started; returns the job's mode."""
    mode = schema.job_mode(hyperparameters)
    schema.parse_hyperparameters(hyperparameters)
    known = contract.KNOWN_CHANNELS if mode == schema.SUPERVISED else contract.WORD_VECTOR_CHANNELS
    check_channels(channels, known)
    return mode


def check_spot(
    instance_type: str, spot: bool, max_run: int, max_wait: int | None, checkpoint_s3_uri: str | None
) -> None:
    """--max-run, and spot training's --max-wait: room to wait for capacity and run, on SageMaker only."""
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


def check_tuning_limits(max_jobs: int, max_parallel_jobs: int) -> None:
    """A tuning job runs at least one training job, and at most all of them at once."""
    if max_jobs < 1:
        raise UsageError(f"--max-jobs must be at least 1; got {max_jobs}.")
    if not 1 <= max_parallel_jobs <= max_jobs:
        raise UsageError(f"--max-parallel-jobs must be 1 to --max-jobs ({max_jobs}); got {max_parallel_jobs}.")


def check_model(image: LaunchImage, model_data: str, instance_type: str, use: str, role: str | None) -> None:
    """A model on an instance type: the compute for `use`, and its model data on S3 off local mode."""
    check_compute(image, instance_type, use, role)
    check_s3({"--model-data": model_data}, instance_type)


def check_endpoint_kind(instance_type: str | None, serverless_memory_mb: int | None) -> None:
    """deploy makes a real-time endpoint (an instance type) or a serverless one (a memory size) on SageMaker."""
    if (instance_type is None) == (serverless_memory_mb is None):
        raise UsageError(
            "deploy needs --instance-type (a real-time endpoint) or --serverless-memory (a serverless one), not both."
        )
    if instance_type is not None and is_local(instance_type):
        raise UsageError(
            "deploy leaves an endpoint running on SageMaker; in local mode use predict, which deploys, "
            "classifies and deletes."
        )


def check_serverless(memory_mb: int, max_concurrency: int) -> None:
    """A memory size and a concurrency that SageMaker offers serverless endpoints."""
    sizes = instance_types.SERVERLESS_MEMORY_SIZES_MB
    if memory_mb not in sizes:
        raise UsageError(f"--serverless-memory must be one of {', '.join(map(str, sizes))} MB; got {memory_mb}.")
    if not 1 <= max_concurrency <= instance_types.SERVERLESS_MAX_CONCURRENCY:
        raise UsageError(
            f"--max-concurrency must be 1 to {instance_types.SERVERLESS_MAX_CONCURRENCY}; got {max_concurrency}."
        )


# --- batch transform ---------------------------------------------------------------------------------------------


def check_transform(
    accept: str,
    content_type: str,
    input_filter: str | None = None,
    output_filter: str | None = None,
    join_source: str | None = None,
) -> str | None:
    """A transform job's Accept and ContentType (types the serving image answers and reads) and its DataProcessing:
    JSONPath filters of at most 63 characters and a JoinSource of Input or None, which SageMaker applies to CSV and
    JSON records only; returns the JoinSource as SageMaker spells it."""
    if accept not in contract.RESPONSE_TYPES:
        raise UsageError(
            f"--accept must be one of {', '.join(contract.RESPONSE_TYPES)} (what the serving image answers); "
            f"got {accept!r}."
        )
    if content_type not in contract.REQUEST_TYPES:
        raise UsageError(
            f"--content-type must be one of {', '.join(contract.REQUEST_TYPES)} (what the serving image reads); "
            f"got {content_type!r}."
        )
    for option, path in (("--input-filter", input_filter), ("--output-filter", output_filter)):
        if path is not None and (not path.startswith("$") or len(path) > contract.MAX_JSONPATH_CHARS):
            raise UsageError(
                f"{option} must be a JSONPath starting with $ (such as $[1] or $.headline), at most "
                f"{contract.MAX_JSONPATH_CHARS} characters; got {path!r}."
            )
    if join_source is not None:
        found = next((known for known in contract.JOIN_SOURCES if known.lower() == join_source.lower()), None)
        if found is None:
            raise UsageError(f"--join-source must be {' or '.join(contract.JOIN_SOURCES)}; got {join_source!r}.")
        join_source = found
    processing = [
        option
        for option, used in (
            ("--input-filter", input_filter),
            ("--output-filter", output_filter),
            ("--join-source Input", join_source == "Input"),
        )
        if used
    ]
    if processing and content_type not in contract.DATA_PROCESSING_TYPES:
        raise UsageError(
            f"{processing[0]} works on CSV and JSON records only: give --content-type "
            f"{' or '.join(contract.DATA_PROCESSING_TYPES)}, not {content_type}."
        )
    return join_source


# --- tune's search ranges ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SearchRange:
    """One hyperparameter a tuning job searches, as SageMaker takes it."""

    name: str
    integer: bool
    low: str
    high: str
    scaling: str


def fixed_hyperparameters(static: dict[str, str], channels: dict[str, str]) -> dict[str, str]:
    """What a tuning job cannot search, and why: the --hyperparameter values, and the embedding width when
    pretrained vectors set it (the image refuses another embedding_dim)."""
    fixed = {name: "it has a fixed value (--hyperparameter)" for name in static}
    if contract.EMBEDDINGS_CHANNEL in channels:
        fixed["embedding_dim"] = f"the pretrained vectors of the {contract.EMBEDDINGS_CHANNEL} channel set it"
    return fixed


def numeric_hyperparameters() -> dict[str, type]:
    """The classifier's numeric hyperparameters and their types (int or float), in the schema's order."""
    kinds = {field.name: value_type(field.type) for field in dataclasses.fields(schema.Hyperparameters)}
    return {name: kind for name, kind in kinds.items() if kind in (int, float)}


def value_type(annotation: object) -> object:
    """A schema field's type without None: `float | None` (learning_rate, whose default the architecture picks) is
    searched as a float."""
    members = [member for member in typing.get_args(annotation) if member is not type(None)]
    return members[0] if len(members) == 1 else annotation


def search_ranges(
    ranges: dict[str, tuple[str, str, str]] | None, static: dict[str, str], channels: dict[str, str]
) -> list[SearchRange]:
    """tune's ranges (NAME -> (MIN, MAX, scaling); TUNING_RANGES less what the job fixes when None) checked
    against the classifier's schema: numeric hyperparameters only, both ends valid values, and what SageMaker
    requires of the scaling."""
    fixed = fixed_hyperparameters(static, channels)
    if ranges is None:
        ranges = {name: bounds for name, bounds in TUNING_RANGES.items() if name not in fixed}
    return [search_range(name, bounds, static, fixed) for name, bounds in ranges.items()]


def search_range(name: str, bounds: tuple[str, str, str], static: dict[str, str], fixed: dict[str, str]) -> SearchRange:
    """One --range checked: a numeric hyperparameter the job does not fix, valid ends in order, a known scaling."""
    low, high, scaling = bounds
    numeric = numeric_hyperparameters()
    if name not in numeric:
        raise UsageError(
            f"--range {name}: tune searches the classifier's numeric hyperparameters, {', '.join(numeric)}."
        )
    if name in fixed:
        raise UsageError(f"--range {name}: {name} cannot be searched, as {fixed[name]}.")
    scaling = sagemaker_scaling(name, scaling)
    check_range_ends(name, low, high, static)
    integer = numeric[name] is int
    check_scaling(name, scaling, integer, low, high)
    return SearchRange(name, integer, low, high, scaling)


def sagemaker_scaling(name: str, scaling: str) -> str:
    """SageMaker's spelling of a --range scaling given in any case."""
    found = next((known for known in SCALING_TYPES if known.lower() == str(scaling).lower()), None)
    if found is None:
        raise UsageError(f"--range {name}: the scaling must be one of {', '.join(SCALING_TYPES)}.")
    return found


def check_range_ends(name: str, low: str, high: str, static: dict[str, str]) -> None:
    """MIN and MAX: values the image takes for `name` beside the fixed ones, written as numbers, MIN below MAX."""
    for value in (low, high):
        schema.Hyperparameters.from_strings({**static, name: value})
        if not re.fullmatch(r"[0-9.e+-]+", value):  # the schema also takes `auto` for some
            raise UsageError(f"--range {name}: MIN and MAX must be numbers; got {value!r}.")
    if float(low) >= float(high):
        raise UsageError(f"--range {name}: MIN ({low}) must be below MAX ({high}).")


def check_scaling(name: str, scaling: str, integer: bool, low: str, high: str) -> None:
    """What SageMaker requires of a range for its scaling."""
    if scaling == "Logarithmic" and float(low) <= 0:
        raise UsageError(f"--range {name}: Logarithmic scaling needs MIN above 0; got {low}.")
    if scaling == "ReverseLogarithmic" and (integer or float(low) < 0 or float(high) >= 1):
        raise UsageError(f"--range {name}: ReverseLogarithmic scaling needs a continuous range within [0, 1).")
