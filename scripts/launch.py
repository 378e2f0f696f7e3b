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
    # a CSV of id,headline: the headline column in, each row joined with its prediction out
    $PY scripts/launch.py transform ... --content-type text/csv --input-filter '$[1]' --join-source Input \
        --accept text/csv --input s3://bucket/headlines.csv --output s3://bucket/transform

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
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the scripts import each other by name
import images  # noqa: E402
import launch_commands  # noqa: E402
import source_tree  # noqa: E402, F401 - the headlines package from the source tree
from headlines import contract, instance_types  # noqa: E402
from headlines.instance_types import HOSTING, TRAINING, TRANSFORM  # noqa: E402
from launch_checks import (  # noqa: E402
    REFUSALS,
    SCALING_TYPES,
    TUNING_RANGES,
    LaunchImage,
    UsageError,
    image_from_uri,
    instance_accelerator,
    instance_architecture,
    pushed_image,
)
from launch_commands import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_RUN_SECONDS  # noqa: E402
from launch_metrics import TUNING_OBJECTIVE  # noqa: E402

LOCAL_INSTANCE_TYPE_HELP = "local, local_gpu or an ml.* type (default: local)"


# --- option values ----------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {number}")
    return number


def key_values(pairs: list[str] | None, option: str) -> dict[str, str]:
    """NAME=VALUE options (--channel, --hyperparameter) as a dict; refuses one without a NAME or an `=`."""
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} {pair!r} is not NAME=VALUE.")
        parsed[key] = value
    return parsed


def parse_ranges(pairs: list[str] | None) -> dict[str, tuple[str, str, str]] | None:
    """--range NAME=MIN:MAX[:SCALING] -> {NAME: (MIN, MAX, SCALING)}; None when none is given."""
    if not pairs:
        return None
    ranges = {}
    for name, value in key_values(pairs, "--range").items():
        parts = value.split(":")
        if len(parts) not in (2, 3):
            raise UsageError(f"--range {name}={value} is not NAME=MIN:MAX or NAME=MIN:MAX:SCALING.")
        ranges[name] = (parts[0], parts[1], parts[2] if len(parts) == 3 else "Auto")
    return ranges


# --- the command line -------------------------------------------------------------------------------------------


def add_image_options(
    command: argparse.ArgumentParser,
    image_help: str,
    instance_type_default: str | None = "local",
    instance_type_help: str = LOCAL_INSTANCE_TYPE_HELP,
) -> None:
    """What every command takes: the image (--image, or --images JSON), instance type, role and --result."""
    image_options = command.add_mutually_exclusive_group(required=True)
    image_options.add_argument("--image", help=image_help)
    image_options.add_argument(
        "--images",
        metavar="JSON",
        help="the pushed-images file of make push (build/images.json): its digest-pinned URIs",
    )
    command.add_argument("--instance-type", default=instance_type_default, help=instance_type_help)
    command.add_argument("--role", help="execution role ARN (needed off local mode)")
    command.add_argument("--result", help="write what happened to this JSON file")


def add_wait_option(command: argparse.ArgumentParser) -> None:
    """--wait, for the commands that otherwise return once SageMaker has the job or endpoint."""
    command.add_argument("--wait", action="store_true", help="on SageMaker, wait until it is done")


def add_training_options(command: argparse.ArgumentParser) -> None:
    """What train and tune share: instances, channels, output, hyperparameters, job name, run time, --wait."""
    command.add_argument("--instance-count", type=positive_int, default=1)
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
    add_wait_option(command)


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """train: one training job, with managed spot training as an option."""
    command = commands.add_parser("train", help="run a training job (classifier or word vectors)")
    add_image_options(command, "training image URI")
    add_training_options(command)
    command.add_argument("--spot", action="store_true", help="managed spot training (needs --max-wait)")
    command.add_argument(
        "--max-wait", type=int, metavar="SECONDS", help="spot: waiting for capacity plus running, at least --max-run"
    )
    command.add_argument("--checkpoint-s3-uri", help="where SageMaker keeps the job's checkpoints")


def add_tune_command(commands: argparse._SubParsersAction) -> None:
    """tune: a hyperparameter tuning job over the classifier's numeric hyperparameters."""
    command = commands.add_parser(
        "tune", help=f"hyperparameter tuning job over the classifier, maximising {TUNING_OBJECTIVE}"
    )
    add_image_options(command, "training image URI")
    add_training_options(command)
    default_ranges = ", ".join(f"{n}={lo}:{hi}:{s}" for n, (lo, hi, s) in TUNING_RANGES.items())
    command.add_argument(
        "--range",
        action="append",
        metavar="NAME=MIN:MAX[:SCALING]",
        help=f"a numeric hyperparameter to search; SCALING one of {', '.join(SCALING_TYPES)}"
        f" (default Auto). Without any: " + default_ranges,
    )
    command.add_argument("--max-jobs", type=int, default=10)
    command.add_argument("--max-parallel-jobs", type=int, default=2)


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    """predict: deploy, classify the headlines given, delete."""
    command = commands.add_parser("predict", help="deploy an endpoint, classify headlines, delete it")
    add_image_options(command, "serving image URI")
    command.add_argument("--model-data", required=True)
    command.add_argument("--top-k", type=int, default=1)
    command.add_argument("headlines", nargs="+")


def add_deploy_command(commands: argparse._SubParsersAction) -> None:
    """deploy: an endpoint on SageMaker that stays up, real-time or serverless."""
    command = commands.add_parser(
        "deploy",
        help="a SageMaker endpoint that stays up: real-time (--instance-type) or serverless (--serverless-memory)",
    )
    add_image_options(command, "serving image URI", None, "an ml.* type: a real-time endpoint")
    command.add_argument("--model-data", required=True)
    command.add_argument("--instance-count", type=positive_int, default=1)
    command.add_argument(
        "--serverless-memory",
        type=int,
        metavar="MB",
        help=f"one of {', '.join(map(str, instance_types.SERVERLESS_MEMORY_SIZES_MB))}",
    )
    command.add_argument(
        "--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY, help="serverless: concurrent invocations"
    )
    command.add_argument("--endpoint-name")
    add_wait_option(command)


def add_transform_command(commands: argparse._SubParsersAction) -> None:
    """transform: a batch transform job over one headline per line."""
    command = commands.add_parser("transform", help="batch transform of one headline per line")
    add_image_options(command, "serving image URI")
    command.add_argument("--model-data", required=True)
    command.add_argument("--input", required=True)
    command.add_argument("--output", required=True)
    command.add_argument("--instance-count", type=positive_int, default=1)
    command.add_argument(
        "--content-type", default="text/plain", help=f"the input's type, one of {', '.join(contract.REQUEST_TYPES)}"
    )
    command.add_argument(
        "--accept",
        default="application/jsonlines",
        help=f"the output's type, one of {', '.join(contract.RESPONSE_TYPES)} (default: one JSON object a line)",
    )
    command.add_argument("--input-filter", metavar="JSONPATH", help="the part of each record to send, e.g. $[1]")
    command.add_argument("--output-filter", metavar="JSONPATH", help="the part of each (joined) record to keep")
    command.add_argument(
        "--join-source", metavar="Input|None", help="Input: write each input record beside its prediction"
    )
    add_wait_option(command)


def build_parser() -> argparse.ArgumentParser:
    """The command line: this module's docstring as its description, one subcommand per command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        add_train_command,
        add_tune_command,
        add_predict_command,
        add_deploy_command,
        add_transform_command,
    ):
        add_command(commands)
    return parser


# --- dispatch ---------------------------------------------------------------------------------------------------


def command_image(args: argparse.Namespace, use: str) -> LaunchImage:
    """--image as given, or the pushed image this command and instance type need."""
    if args.image:
        return image_from_uri(args.image)
    if use == TRAINING:
        accelerator = instance_accelerator(args.instance_type, use)
        return pushed_image(args.images, images.TRAINING_IMAGE_KEYS[accelerator])
    architecture = instance_architecture(args.instance_type, use)  # Graviton instances get the arm64 image
    return pushed_image(args.images, images.SERVING_IMAGE_KEYS[architecture])


def job_arguments(args: argparse.Namespace) -> dict:
    """The arguments train and tune take alike, from their shared options (the image checked first)."""
    return {
        "image": command_image(args, TRAINING),
        "instance_type": args.instance_type,
        "channels": key_values(args.channel, "--channel"),
        "output": args.output,
        "hyperparameters": key_values(args.hyperparameter, "--hyperparameter"),
        "instance_count": args.instance_count,
        "role": args.role,
        "job_name": args.job_name,
        "max_run_seconds": args.max_run,
        "wait": args.wait,
    }


def run_train(args: argparse.Namespace) -> dict:
    """The train command."""
    return launch_commands.train(
        **job_arguments(args),
        spot=args.spot,
        max_wait_seconds=args.max_wait,
        checkpoint_s3_uri=args.checkpoint_s3_uri,
    )


def run_tune(args: argparse.Namespace) -> dict:
    """The tune command."""
    return launch_commands.tune(
        **job_arguments(args),
        ranges=parse_ranges(args.range),
        max_jobs=args.max_jobs,
        max_parallel_jobs=args.max_parallel_jobs,
    )


def run_predict(args: argparse.Namespace) -> dict:
    """The predict command."""
    return launch_commands.predict(
        command_image(args, HOSTING), args.model_data, args.instance_type, args.headlines, args.role, args.top_k
    )


def run_deploy(args: argparse.Namespace) -> dict:
    """The deploy command."""
    return launch_commands.deploy(
        command_image(args, HOSTING),
        args.model_data,
        args.role,
        args.instance_type,
        args.instance_count,
        args.serverless_memory,
        args.max_concurrency,
        args.endpoint_name,
        args.wait,
    )


def run_transform(args: argparse.Namespace) -> dict:
    """The transform command."""
    return launch_commands.transform(
        command_image(args, TRANSFORM),
        args.model_data,
        args.instance_type,
        args.input,
        args.output,
        args.role,
        accept=args.accept,
        instance_count=args.instance_count,
        wait=args.wait,
        content_type=args.content_type,
        input_filter=args.input_filter,
        output_filter=args.output_filter,
        join_source=args.join_source,
    )


COMMANDS = {
    "train": run_train,
    "tune": run_tune,
    "predict": run_predict,
    "deploy": run_deploy,
    "transform": run_transform,
}


def main(argv: list[str] | None = None) -> int:
    """Usage errors (refused before any API call) exit 2, an AWS error exits 1: one sentence on stderr each."""
    import botocore.exceptions

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = COMMANDS[args.command](args)
    except REFUSALS as error:
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
    write_result(result, args.result)
    return 0


def write_result(result: dict, path: str | None) -> None:
    """Prints what the command did as JSON, and writes it to --result's file too when one is given."""
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
