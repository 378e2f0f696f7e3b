#!/usr/bin/env python3
"""Launch the images with the SageMaker Python SDK v2 (`sagemaker<3`): training jobs, endpoints and batch
transforms, in local mode (instance type `local` / `local_gpu`, `file://` paths, Docker on this machine) or on
SageMaker (an `ml.*` instance type, `s3://` paths, an execution role). Run it with the SDK's virtualenv:

    PY=$(scripts/sdk-venv.sh v2)
    $PY scripts/launch.py train --image headlines-train:cpu --instance-type local \\
        --channel train=file://$PWD/demo-output/data/headlines --output file://$PWD/demo-output/jobs
    $PY scripts/launch.py predict --image headlines-serve:cpu --instance-type local \\
        --model-data file://.../model.tar.gz "Stocks rally as inflation cools"
    $PY scripts/launch.py transform --image headlines-serve:cpu --instance-type local \\
        --model-data file://.../model.tar.gz --input file://.../headlines.txt --output file://.../transform

Every command can write what it did as JSON (--result FILE). SDK telemetry is switched off. Local endpoints are
deleted when the command ends, also when it fails.
"""

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time

# What SageMaker shows as the training job's metrics: regexes over the job's log lines (README, "Logs and metric
# definitions"; the local-mode tests match them against a real run's log).
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
EMBEDDING_MODES = ("skipgram", "cbow", "batch_skipgram")
LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
# Local mode never calls AWS, but the SDK builds boto3 clients: it needs a region and some credentials.
LOCAL_ROLE = "arn:aws:iam::111111111111:role/local-mode"
ENDPOINT_POLL_SECONDS = 2
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}

logger = logging.getLogger("launch")


def metric_definitions(hyperparameters):
    return EMBEDDING_METRICS if hyperparameters.get("mode") in EMBEDDING_MODES else CLASSIFIER_METRICS


def is_local(instance_type):
    return instance_type in LOCAL_INSTANCE_TYPES


def make_session(instance_type):
    if is_local(instance_type):
        for name, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "local-mode"),
                            ("AWS_SECRET_ACCESS_KEY", "local-mode")):
            os.environ.setdefault(name, value)
        from sagemaker.local import LocalSession

        session = LocalSession(sagemaker_config=TELEMETRY_OFF)
        session.config = {"local": {"local_code": True}}  # file:// inputs and outputs, no S3
        return session
    import sagemaker

    return sagemaker.Session(sagemaker_config=TELEMETRY_OFF)


def train(image, instance_type, channels, output, hyperparameters=None, instance_count=1, role=None,
          job_name=None, max_run_seconds=24 * 3600):
    """One training job; returns {"job_name", "model_data", "seconds"}. channels: name -> file:// or s3:// URI."""
    from sagemaker.estimator import Estimator

    hyperparameters = dict(hyperparameters or {})
    estimator = Estimator(image_uri=image, role=role or LOCAL_ROLE, instance_count=instance_count,
                          instance_type=instance_type, output_path=output, hyperparameters=hyperparameters,
                          metric_definitions=metric_definitions(hyperparameters), max_run=max_run_seconds,
                          sagemaker_session=make_session(instance_type))
    started = time.time()
    estimator.fit(dict(channels), job_name=job_name, wait=True, logs="All")
    return {"job_name": estimator.latest_training_job.name, "model_data": estimator.model_data,
            "seconds": round(time.time() - started, 1)}


def _model(image, model_data, instance_type, role):
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    # predictor_cls: without it a plain Model's deploy() returns None instead of a predictor.
    return Model(image_uri=image, model_data=model_data, role=role or LOCAL_ROLE, predictor_cls=Predictor,
                 sagemaker_session=make_session(instance_type))


@contextlib.contextmanager
def endpoint(image, model_data, instance_type, role=None):
    """A deployed endpoint for the block, deleted afterwards whatever happens; yields a JSON predictor."""
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    model = _model(image, model_data, instance_type, role)
    predictor = model.deploy(initial_instance_count=1, instance_type=instance_type, serializer=JSONSerializer(),
                             deserializer=JSONDeserializer(), wait=False)
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
    return {"predictions": predictions, "deploy_seconds": round(deployed - started, 1),
            "seconds": round(time.time() - started, 1)}


def transform(image, model_data, instance_type, input_uri, output, role=None, accept="application/jsonlines"):
    """Batch transform of a file (or prefix) of one headline per line; returns where the output went."""
    model = _model(image, model_data, instance_type, role)
    transformer = model.transformer(instance_count=1, instance_type=instance_type, strategy="MultiRecord",
                                    assemble_with="Line", output_path=output, accept=accept)
    started = time.time()
    try:
        transformer.transform(input_uri, content_type="text/plain", split_type="Line", wait=True, logs=False)
    finally:
        with contextlib.suppress(Exception):
            model.delete_model()
    return {"job_name": transformer.latest_transform_job.name, "output": output,
            "seconds": round(time.time() - started, 1)}


def running_containers(images):
    """Names of the running containers of these images (local mode runs them through docker-compose)."""
    names = []
    for image in images:
        result = subprocess.run(["docker", "ps", "--filter", f"ancestor={image}", "--format", "{{.Names}}"],
                                capture_output=True, text=True, check=False)
        names += result.stdout.split()
    return names


def remove_containers(names):
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


def _key_values(pairs, what):
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{what} {pair!r} is not NAME=VALUE")
        parsed[key] = value
    return parsed


def _parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(command, image_help):
        command.add_argument("--image", required=True, help=image_help)
        command.add_argument("--instance-type", default="local", help="local, local_gpu or an ml.* type")
        command.add_argument("--role", help="execution role ARN (needed off local mode)")
        command.add_argument("--result", help="write what happened to this JSON file")

    train_command = commands.add_parser("train", help="run a training job")
    common(train_command, "training image URI")
    train_command.add_argument("--instance-count", type=int, default=1)
    train_command.add_argument("--channel", action="append", required=True, metavar="NAME=URI")
    train_command.add_argument("--output", required=True, help="output_path: file://... or s3://...")
    train_command.add_argument("--hyperparameter", "--hp", action="append", metavar="NAME=VALUE")
    train_command.add_argument("--job-name")

    predict_command = commands.add_parser("predict", help="deploy an endpoint, classify headlines, delete it")
    common(predict_command, "serving image URI")
    predict_command.add_argument("--model-data", required=True)
    predict_command.add_argument("--top-k", type=int, default=1)
    predict_command.add_argument("headlines", nargs="+")

    transform_command = commands.add_parser("transform", help="batch transform of one headline per line")
    common(transform_command, "serving image URI")
    transform_command.add_argument("--model-data", required=True)
    transform_command.add_argument("--input", required=True)
    transform_command.add_argument("--output", required=True)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not is_local(args.instance_type) and not args.role:
        raise SystemExit("--role is required off local mode (the SageMaker execution role ARN)")
    if args.command == "train":
        result = train(args.image, args.instance_type, _key_values(args.channel, "--channel"), args.output,
                       _key_values(args.hyperparameter, "--hyperparameter"), args.instance_count, args.role,
                       args.job_name)
    elif args.command == "predict":
        result = predict(args.image, args.model_data, args.instance_type, args.headlines, args.role, args.top_k)
    else:
        result = transform(args.image, args.model_data, args.instance_type, args.input, args.output, args.role)
    text = json.dumps(result, indent=1)
    print(text)
    if args.result:
        with open(args.result, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
