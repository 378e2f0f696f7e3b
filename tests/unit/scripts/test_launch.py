"""scripts/launch.py without the SageMaker SDK: the image a command picks from the pushed-images JSON, and every
refusal made before an API call (tests/aws/test_sagemaker_launch.py runs the launcher against moto). A refused
command never reaches the SDK, which this virtualenv does not have: a check that let one through would fail here
with ModuleNotFoundError. (The instance-type table is tests/unit/test_instance_types.py's.)"""

import argparse
import json
import re
import subprocess
import sys

import pytest

from headlines import gpu_support
from headlines import hyperparameters as schema
from headlines.instance_types import CPU, GPU, HOSTING, TRAINING, TRANSFORM
from tests.support.pushed_images import write_pushed_images
from tests.support.repo import REPO, load_script

# Dependencies first: load_script runs a module afresh, and the launcher must use the very modules these tests hold
# (one UsageError class, one list of metric definitions).
images = load_script("images")
launch_metrics = load_script("launch_metrics")
launch_checks = load_script("launch_checks")
launch_commands = load_script("launch_commands")
launch = load_script("launch")
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


@pytest.fixture
def aws_region(monkeypatch, tmp_path):
    """A region from the environment and no profile of the developer's."""
    for name in ("config", "credentials"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# --- what the launcher imports ----------------------------------------------------------------------------------


def test_the_launcher_imports_with_the_standard_library_only():
    """The SDK's virtualenv has neither MXNet nor the headlines package: launch.py and its modules in scripts/ take
    headlines modules from the source tree, so they must not import anything beyond the standard library, and the SDK
    is imported late."""
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(' '.join(n for n in sys.modules if n.split('.')[0] not in sys.stdlib_module_names))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(REPO / "scripts" / "launch.py")], capture_output=True, text=True, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    scripts = {"images", "launch_checks", "launch_commands", "launch_metrics", "source_tree"}
    assert {name.split(".")[0] for name in result.stdout.split()} == {"__main__", "headlines", *scripts}


# --- images ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri,accelerator,region",
    [
        ("headlines-train:gpu", GPU, None),
        ("headlines-serve:cpu", CPU, None),
        ("127.0.0.1:5000/headlines-train:cpu", CPU, None),
        ("127.0.0.1:5000/headlines-train", None, None),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/headlines-train:0123456789ab-gpu", GPU, "eu-west-1"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/headlines-train:v1.0.0-cpu", CPU, "us-east-1"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/headlines-train@sha256:" + "a" * 64, None, "us-east-1"),
        ("my-registry.example.com/trainer:latest", None, None),
    ],
)
def test_image_accelerator_and_region_from_the_uri(uri, accelerator, region):
    image = launch_checks.image_from_uri(uri)
    assert (image.accelerator, image.region) == (accelerator, region)


@pytest.mark.parametrize(
    "uri,architecture",
    [
        ("headlines-serve:cpu", "amd64"),
        ("headlines-serve:cpu-arm64", "arm64"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/headlines-serve:0123456789ab-cpu-arm64", "arm64"),
        ("my-registry.example.com/server:latest", None),
    ],
)
def test_image_architecture_from_the_uri_as_push_tags_it(uri, architecture):
    assert launch_checks.image_from_uri(uri).architecture == architecture


def test_the_pushed_image_keys_are_the_image_tables():
    for accelerator, key in images.TRAINING_IMAGE_KEYS.items():
        assert images.IMAGES[key].accelerator == accelerator and images.IMAGES[key].name == "train"
    assert images.IMAGES[images.SERVING_IMAGE_KEY].accelerator == CPU
    for architecture, key in images.SERVING_IMAGE_KEYS.items():
        assert (images.IMAGES[key].name, images.IMAGES[key].architecture) == ("serve", architecture)
    assert set(images.PUSH_ARGS) == set(images.IMAGES)


@pytest.mark.parametrize(
    "use,instance_type,key",
    [
        (TRAINING, "ml.g5.xlarge", "train-gpu"),
        (TRAINING, "ml.c5.xlarge", "train-cpu"),
        (TRAINING, "local_gpu", "train-gpu"),
        (TRAINING, "local", "train-cpu"),
        (HOSTING, "ml.m5.large", "serve"),
        (HOSTING, "ml.c7g.xlarge", "serve-arm64"),  # Graviton
        (HOSTING, "ml.r8g.large", "serve-arm64"),
        (HOSTING, None, "serve"),  # serverless
        (TRANSFORM, "ml.c5.xlarge", "serve"),
    ],
)
def test_the_pushed_image_follows_the_use_and_the_instance_type(tmp_path, use, instance_type, key):
    path = write_pushed_images(tmp_path / "images.json", pushed=False)
    image = launch.command_image(argparse.Namespace(image=None, images=path, instance_type=instance_type), use)
    document = json.loads(open(path).read())["images"][key]
    assert (image.uri, image.accelerator, image.key) == (document["uri"], document["accelerator"], key)
    assert image.architecture == document["architecture"] == images.IMAGES[key].architecture
    assert "@sha256:" in image.uri


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "does not exist: push the images first"),
        ("not json", "is not JSON"),
        (json.dumps({"schema": 2, "images": {}}), "is not a pushed-images file of schema 1"),
        (
            json.dumps({"schema": 1, "images": {}}),
            "has no train-gpu image: push it with make push PUSH_ARGS='--images train --train-variant gpu'",
        ),
    ],
)
def test_pushed_images_file_problems(tmp_path, content, message):
    path = tmp_path / "images.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(launch_checks.UsageError, match=message):
        launch_checks.pushed_image(str(path), "train-gpu")


# --- refusals before any API call, through the command line ---------------------------------------------------

S3 = ["--channel", "train=s3://b/headlines", "--output", "s3://b/jobs"]
TRAIN_GPU = ["train", "--image", "headlines-train:gpu", "--instance-type", "ml.g5.xlarge", "--role", ROLE, *S3]
# The CPU training image on a SageMaker instance type, before its channels and output.
ON_SAGEMAKER_CPU = ["--image", "headlines-train:cpu", "--instance-type", "ml.c5.xlarge", "--role", ROLE]
TUNE = ["tune", *ON_SAGEMAKER_CPU, *S3]
MODEL = ["--image", "headlines-serve:cpu", "--role", ROLE, "--model-data", "s3://b/model.tar.gz"]
ARM64_MODEL = ["--image", "headlines-serve:cpu-arm64", "--role", ROLE, "--model-data", "s3://b/model.tar.gz"]


@pytest.mark.parametrize(
    "argv,message",
    [
        # instance types and accelerators
        (
            ["train", "--image", "headlines-train:cpu", "--instance-type", "ml.m5.huge", "--role", ROLE, *S3],
            "SageMaker has no ml.m5.huge: the m5 family comes in sizes",
        ),
        (
            ["train", "--image", "headlines-train:cpu", "--instance-type", "ml.t2.medium", "--role", ROLE, *S3],
            "SageMaker does not offer ml.t2.medium for training jobs",
        ),
        (
            ["train", "--image", "headlines-train:gpu", "--instance-type", "ml.c5.xlarge", "--role", ROLE, *S3],
            "headlines-train:gpu needs a GPU and ml.c5.xlarge has none: pick a GPU instance type",
        ),
        (
            ["train", "--image", "headlines-train:cpu", "--instance-type", "ml.g5.xlarge", "--role", ROLE, *S3],
            "headlines-train:cpu runs on CPU only and ml.g5.xlarge has GPUs it would leave idle",
        ),
        (
            ["train", "--image", "headlines-train:gpu", "--channel", "train=file:///d", "--output", "file:///o"],
            "headlines-train:gpu needs a GPU and local has none",
        ),
        (
            ["train", "--image", "headlines-train:cpu", "--instance-type", "ml.trn1.2xlarge", "--role", ROLE, *S3],
            "Trainium",
        ),
        (
            ["deploy", *MODEL, "--instance-type", "ml.g5.xlarge"],
            "headlines-serve:cpu runs on CPU only and ml.g5.xlarge has GPUs",
        ),
        (
            ["train", "--image", "headlines-train:gpu", "--instance-type", "ml.p5.48xlarge", "--role", ROLE, *S3],
            re.escape(gpu_support.unsupported_gpu("ml.p5.48xlarge (NVIDIA H100)", (9, 0))),
        ),
        (
            ["tune", "--image", "headlines-train:gpu", "--instance-type", "ml.g7e.2xlarge", "--role", ROLE, *S3],
            "ml.g7e.2xlarge .NVIDIA RTX PRO 6000 Blackwell. has compute capability 12.0, and this image's MXNet",
        ),
        (
            ["deploy", *MODEL, "--instance-type", "ml.c7g.xlarge"],
            "ml.c7g.xlarge has arm64 processors and headlines-serve:cpu is built for amd64: serve it with the arm64 "
            "serving image .make images-arm64, then make push PUSH_ARGS='--images serve --serve-architecture arm64'.",
        ),
        (
            ["deploy", *ARM64_MODEL, "--instance-type", "ml.m5.large"],
            "ml.m5.large has amd64 processors and headlines-serve:cpu-arm64 is built for arm64: pick an arm64",
        ),
        (
            ["deploy", *ARM64_MODEL, "--serverless-memory", "2048"],
            "a serverless endpoint has amd64 processors and headlines-serve:cpu-arm64 is built for arm64",
        ),
        (["deploy", *MODEL, "--instance-type", "ml.inf2.xlarge"], "Inferentia"),
        (
            ["transform", *MODEL, "--instance-type", "ml.p4d.24xlarge", "--input", "s3://b/i", "--output", "s3://b/o"],
            "SageMaker does not offer ml.p4d.24xlarge for batch transform jobs",
        ),
        # role, region, S3
        (["train", "--image", "headlines-train:cpu", "--instance-type", "ml.c5.xlarge", *S3], "--role is required"),
        (
            [
                "train",
                "--image",
                "headlines-train:cpu",
                "--instance-type",
                "ml.c5.xlarge",
                "--role",
                "SageMakerRole",
                *S3,
            ],
            "--role must be an IAM role ARN",
        ),
        (
            [
                "train",
                "--image",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/headlines-train:abc-cpu",
                "--instance-type",
                "ml.c5.xlarge",
                "--role",
                ROLE,
                *S3,
            ],
            "is in eu-west-1's ECR but SageMaker would run in us-east-1",
        ),
        (
            ["train", *ON_SAGEMAKER_CPU, "--channel", "train=file:///data", "--output", "s3://b/jobs"],
            "channel train must be an s3:// URI on SageMaker",
        ),
        (
            ["transform", *MODEL, "--instance-type", "ml.c5.xlarge", "--input", "s3://b/i", "--output", "/tmp/o"],
            "--output must be an s3:// URI",
        ),
        # the training image's own checks
        (
            [*TRAIN_GPU, "--hp", "vector_dim=50"],
            "Unknown hyperparameter 'vector_dim' for mode supervised "
            r"\(BlazingText's 'vector_dim' is 'embedding_dim' here\)",
        ),
        ([*TRAIN_GPU, "--hp", "epochs=0"], "Hyperparameter 'epochs' must be an integer of at least 1"),
        ([*TRAIN_GPU, "--hp", "mode=skipgram", "--hp", "word_ngrams=2"], "Unknown hyperparameter 'word_ngrams'"),
        ([*TRAIN_GPU, "--channel", "evaluation=s3://b/ws353"], r"Unknown channel\(s\) evaluation"),
        ([*TRAIN_GPU, "--hp", "mode=cbow", "--channel", "test=s3://b/t"], r"Unknown channel\(s\) test"),
        (
            ["train", *ON_SAGEMAKER_CPU, "--channel", "test=s3://b/t", "--output", "s3://b/jobs"],
            "The 'train' channel is required",
        ),
        # spot and names
        ([*TRAIN_GPU, "--spot"], "--spot needs --max-wait SECONDS"),
        (
            [*TRAIN_GPU, "--spot", "--max-run", "7200", "--max-wait", "3600"],
            r"--max-wait \(3600 s\) must be at least --max-run \(7200 s\)",
        ),
        ([*TRAIN_GPU, "--max-wait", "3600"], "--max-wait is for spot training"),
        ([*TRAIN_GPU, "--max-run", "0"], "--max-run must be a positive number of seconds"),
        (
            [
                "train",
                "--image",
                "headlines-train:cpu",
                "--channel",
                "train=file:///d",
                "--output",
                "file:///o",
                "--spot",
                "--max-wait",
                "100000",
            ],
            "local mode has no spot capacity",
        ),
        ([*TRAIN_GPU, "--job-name", "my_job"], "--job-name must be letters, digits and hyphens"),
        ([*TRAIN_GPU, "--checkpoint-s3-uri", "/ckpt"], "--checkpoint-s3-uri must be an s3:// URI"),
        # tuning
        ([*TUNE, "--instance-type", "local"], "tune runs on SageMaker only"),
        ([*TUNE, "--hp", "mode=skipgram"], "tune searches the classifier's hyperparameters"),
        ([*TUNE, "--range", "architecture=1:2"], "--range architecture: tune searches the classifier's numeric"),
        (
            [*TUNE, "--range", "epochs=5:10", "--hp", "epochs=3"],
            "--range epochs: epochs cannot be searched, as it has a fixed value",
        ),
        (
            [*TUNE, "--channel", "embeddings=s3://b/v", "--range", "embedding_dim=50:300"],
            "the pretrained vectors of the embeddings channel set it",
        ),
        ([*TUNE, "--range", "epochs=5:10:Exponential"], "the scaling must be one of Auto, Linear"),
        ([*TUNE, "--range", "epochs=10:5"], r"MIN \(10\) must be below MAX \(5\)"),
        ([*TUNE, "--range", "epochs=5"], "is not NAME=MIN:MAX"),
        ([*TUNE, "--range", "weight_decay=0:0.1:Logarithmic"], "Logarithmic scaling needs MIN above 0"),
        ([*TUNE, "--range", "batch_size=16:64:ReverseLogarithmic"], "ReverseLogarithmic scaling needs a continuous"),
        ([*TUNE, "--range", "dropout=0.1:1.5"], r"Hyperparameter 'dropout' must be a number in \[0, 1\)"),
        ([*TUNE, "--range", "epochs=1.5:10"], "Hyperparameter 'epochs' must be an integer"),
        ([*TUNE, "--range", "learning_rate=auto:0.1"], "MIN and MAX must be numbers; got 'auto'"),
        ([*TUNE, "--max-jobs", "2", "--max-parallel-jobs", "3"], "--max-parallel-jobs must be 1 to --max-jobs"),
        ([*TUNE, "--job-name", "a-tuning-job-name-longer-than-32-chars"], "at most 32 characters"),
        # endpoints
        (["deploy", *MODEL], "deploy needs --instance-type"),
        (["deploy", *MODEL, "--instance-type", "ml.m5.large", "--serverless-memory", "2048"], "not both"),
        (["deploy", *MODEL, "--instance-type", "local"], "in local mode use predict"),
        (
            ["deploy", *MODEL, "--serverless-memory", "1000"],
            "--serverless-memory must be one of 1024, 2048, 3072, 4096, 5120, 6144 MB; got 1000",
        ),
        (["deploy", *MODEL, "--serverless-memory", "7168"], "--serverless-memory must be one of"),
        (
            ["deploy", *MODEL, "--serverless-memory", "2048", "--max-concurrency", "0"],
            "--max-concurrency must be 1 to 200",
        ),
        (["deploy", *MODEL, "--serverless-memory", "2048", "--max-concurrency", "201"], "--max-concurrency must be 1"),
        (
            ["deploy", *MODEL[:1], "headlines-train:gpu", *MODEL[2:], "--serverless-memory", "2048"],
            "needs a GPU and a serverless endpoint has none",
        ),
        (
            ["deploy", *MODEL, "--serverless-memory", "2048", "--endpoint-name", "my_endpoint"],
            "--endpoint-name must be",
        ),
    ],
)
def test_refusals_before_any_api_call(aws_region, capsys, argv, message):
    assert launch.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"launch.py {argv[0]}: ") and error.count("\n") == 1
    assert re.search(message, error), error


def test_the_pushed_images_region_must_be_sagemakers(aws_region, tmp_path, capsys):
    images = write_pushed_images(tmp_path / "images.json", region="eu-west-1", pushed=False)
    assert (
        launch.main(
            [
                "deploy",
                "--images",
                images,
                "--role",
                ROLE,
                "--model-data",
                "s3://b/m.tar.gz",
                "--instance-type",
                "ml.m5.large",
            ]
        )
        == 2
    )
    assert "the serve image is in eu-west-1's ECR but SageMaker would run in us-east-1" in capsys.readouterr().err


def test_no_region_is_refused(aws_region, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert launch.main(["deploy", *MODEL, "--instance-type", "ml.m5.large"]) == 2
    assert "No AWS region is set" in capsys.readouterr().err


def test_spot_training_without_checkpoints_is_allowed_with_a_warning(caplog):
    launch_checks.check_spot("ml.g5.xlarge", True, 3600, 7200, "s3://b/checkpoints")
    assert not caplog.records
    launch_checks.check_spot("ml.g5.xlarge", True, 3600, 3600, None)
    assert "without --checkpoint-s3-uri: an interrupted job starts over" in caplog.text


# --- tuning ranges and metrics ---------------------------------------------------------------------------------


def test_default_search_ranges_follow_the_schema_less_what_the_job_fixes():
    ranges = {r.name: r for r in launch_checks.search_ranges(None, {}, {"train": "s3://b/t"})}
    assert set(ranges) == set(launch_checks.TUNING_RANGES)
    assert [name for name, r in ranges.items() if not r.integer] == ["learning_rate"]
    assert ranges["learning_rate"].scaling == "Logarithmic"
    fixed = launch_checks.search_ranges(None, {"epochs": "5"}, {"train": "s3://b/t", "embeddings": "s3://b/v"})
    assert {r.name for r in fixed} == {"learning_rate", "batch_size"}


def test_search_range_scaling_is_sagemakers_name_in_any_case():
    (found,) = launch_checks.search_ranges({"dropout": ("0.1", "0.6", "linear")}, {}, {"train": "s3://b/t"})
    assert found == launch_checks.SearchRange("dropout", False, "0.1", "0.6", "Linear")


def test_the_tuning_objective_is_a_classifier_metric():
    assert launch_metrics.TUNING_OBJECTIVE in {m["Name"] for m in launch_metrics.CLASSIFIER_METRICS}


def test_the_image_accepts_the_hyperparameter_sagemaker_adds_to_tuning_jobs():
    """SageMaker gives every training job of a tuning job the hyperparameter `_tuning_objective_metric`; an image
    that refuses it fails every job that tune starts."""
    schema.parse_hyperparameters({"_tuning_objective_metric": launch_metrics.TUNING_OBJECTIVE, "epochs": "3"})


def test_job_names_and_metrics_follow_the_mode():
    assert launch_commands.job_base_name({"mode": "batch_skipgram"}) == launch_commands.WORD_VECTORS_JOB_NAME
    assert launch_commands.job_base_name({}) == launch_commands.CLASSIFIER_JOB_NAME
    assert launch_commands.metric_definitions({"mode": "SkipGram"}) is launch_metrics.WORD_VECTOR_METRICS


# --- metric definitions and argument errors ---------------------------------------------------------------------


def test_launcher_metric_definitions_follow_the_mode():
    assert launch_commands.metric_definitions({"mode": "cbow"}) is launch_metrics.WORD_VECTOR_METRICS
    assert launch_commands.metric_definitions({}) is launch_metrics.CLASSIFIER_METRICS
    assert launch_commands.metric_definitions({"mode": "supervised"}) is launch_metrics.CLASSIFIER_METRICS


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["train", "--image", "i", "--channel", "train", "--output", "file:///o"],
            "--channel 'train' is not NAME=VALUE",
        ),
        (
            [
                "train",
                "--image",
                "i",
                "--instance-type",
                "ml.m5.xlarge",
                "--channel",
                "train=s3://b/k",
                "--output",
                "s3://b/o",
            ],
            "--role is required",
        ),
    ],
)
def test_launcher_argument_errors_are_clear(argv, message, capsys):
    assert launch.main(argv) == 2  # a usage error
    assert message in capsys.readouterr().err


# --- batch transform's options ----------------------------------------------------------------------------------

TRANSFORM = ["transform", *MODEL, "--instance-type", "ml.c5.xlarge", "--input", "s3://b/i.csv", "--output", "s3://b/o"]


class RecordingModel:
    """A stand-in of the SDK's Model: records what transformer() and its transform() were given."""

    name = "headlines-serve-recorded"
    sagemaker_session = None  # the Model's session, which local mode alone uses here

    def __init__(self):
        self.calls = {}

    def transformer(self, **kwargs):
        self.calls["transformer"] = kwargs
        model = self

        class Transformer:
            latest_transform_job = type("Job", (), {"name": "headlines-transform-recorded"})

            def transform(self, data, **kwargs):
                model.calls["transform"] = {"data": data, **kwargs}

        return Transformer()

    def delete_model(self):
        self.calls["delete_model"] = True


@pytest.fixture
def recording_sdk(monkeypatch):
    """launch_commands with the SDK's Model replaced by a RecordingModel, and sagemaker.utils by a stand-in."""
    model = RecordingModel()
    monkeypatch.setattr(launch_commands, "build_model", lambda *args: model)
    utils = type(sys)("sagemaker.utils")
    utils.name_from_base = lambda base: base + "-1"
    monkeypatch.setitem(sys.modules, "sagemaker", type(sys)("sagemaker"))
    monkeypatch.setitem(sys.modules, "sagemaker.utils", utils)
    return model


def test_transform_passes_accept_filters_and_join_source_to_the_sdk(aws_region, recording_sdk, capsys):
    argv = [*TRANSFORM, "--content-type", "text/csv", "--accept", "text/csv", "--input-filter", "$[1]"]
    assert launch.main([*argv, "--output-filter", "$[0,-1]", "--join-source", "input"]) == 0, capsys.readouterr().err
    assert recording_sdk.calls["transformer"]["accept"] == "text/csv"
    transform = recording_sdk.calls["transform"]
    assert transform["data"] == "s3://b/i.csv" and transform["content_type"] == "text/csv"
    assert (transform["input_filter"], transform["output_filter"], transform["join_source"]) == (
        "$[1]",
        "$[0,-1]",
        "Input",
    )
    assert transform["split_type"] == "Line"


def test_transform_without_the_options_keeps_its_defaults(aws_region, recording_sdk):
    assert launch.main(TRANSFORM) == 0
    assert recording_sdk.calls["transformer"]["accept"] == "application/jsonlines"
    transform = recording_sdk.calls["transform"]
    assert transform["content_type"] == "text/plain"
    assert (transform["input_filter"], transform["output_filter"], transform["join_source"]) == (None, None, None)


@pytest.mark.parametrize(
    "options,message",
    [
        (["--accept", "application/xml"], "--accept must be one of application/json, application/jsonlines, text/csv"),
        (["--accept", "text/plain"], "--accept must be one of"),
        (["--content-type", "image/png"], "--content-type must be one of"),
        (
            ["--content-type", "text/csv", "--input-filter", "[1]"],
            "--input-filter must be a JSONPath starting with \\$",
        ),
        (["--content-type", "text/csv", "--output-filter", "$" + "[0]" * 21], "at most 63 characters"),
        (
            ["--content-type", "text/csv", "--join-source", "Output"],
            "--join-source must be Input or None; got 'Output'",
        ),
        (["--input-filter", "$[1]"], "--input-filter works on CSV and JSON records only: give --content-type"),
        (["--join-source", "Input"], "--join-source Input works on CSV and JSON records only"),
    ],
)
def test_transform_refuses_bad_options_before_any_api_call(aws_region, recording_sdk, capsys, options, message):
    assert launch.main([*TRANSFORM, *options]) == 2
    error = capsys.readouterr().err
    assert error.startswith("launch.py transform: ") and re.search(message, error), error
    assert recording_sdk.calls == {}
