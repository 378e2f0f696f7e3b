"""scripts/launch.py on "SageMaker": the launcher runs in the SDK v2 virtualenv against moto's server and the test
reads back what it created (training jobs, tuning job, models, endpoint configs, endpoints, transform job), with
the digest-pinned URIs of a pushed-images JSON. Every AWS API call the launcher makes is recorded, so a refused
command is seen to make none; anything that tries to leave 127.0.0.1 (the SDK's telemetry, say) lands on a proxy
here that refuses and notes it."""

import json
import pathlib

import pytest

from tests.aws.script_runs import ScriptRun, sdk_env
from tests.support.pushed_images import write_pushed_images
from tests.support.repo import load_script

launch_commands = load_script("launch_commands")
launch_metrics = load_script("launch_metrics")
ROLE = "arn:aws:iam::123456789012:role/headlines-sagemaker"
BUCKET = "headlines-data"
DATA = f"s3://{BUCKET}"


class Launch(ScriptRun):
    """One launch.py run: exit code, output, the API calls it made and its --result."""

    def __init__(self, python, env, workdir, *args):
        result = workdir / "result.json"
        result.unlink(missing_ok=True)
        super().__init__(python, env, workdir, "launch.py", *args, "--result", str(result))
        self.result = json.loads(result.read_text()) if result.exists() else None


@pytest.fixture
def pushed(moto, tmp_path):
    """A pushed-images JSON of all three images in moto's account and region."""
    return pathlib.Path(write_pushed_images(tmp_path / "images.json", moto.account, moto.region))


@pytest.fixture
def run(sdk_v2_python, moto, internet, pushed, tmp_path):
    """run(command, *args, image=None): launch.py against moto with --role, and --images unless an --image is
    given; no other way out."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    env = sdk_env(moto, internet)

    def launch_(command, *args, image=None):
        chosen = ["--image", image] if image else ["--images", str(pushed)]
        return Launch(sdk_v2_python, env, tmp_path, command, *chosen, "--role", ROLE, *args)

    return launch_


def _uri(pushed, key):
    uri = json.loads(pushed.read_text())["images"][key]["uri"]
    assert "@sha256:" in uri
    return uri


def _channels(input_data_config):
    return {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in input_data_config}


def _created(sagemaker):
    """Everything of ours that moto holds."""
    return {
        "training jobs": sagemaker.list_training_jobs()["TrainingJobSummaries"],
        "tuning jobs": sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"],
        "models": sagemaker.list_models()["Models"],
        "endpoint configs": sagemaker.list_endpoint_configs()["EndpointConfigs"],
        "endpoints": sagemaker.list_endpoints()["Endpoints"],
        "transform jobs": sagemaker.list_transform_jobs()["TransformJobSummaries"],
    }


def test_classifier_training_job_on_a_gpu_spot_instance_with_checkpoints(run, moto, pushed):
    channels = {
        "train": f"{DATA}/headlines",
        "test": f"{DATA}/headlines-test",
        "embeddings": f"{DATA}/jobs/vectors/output/model.tar.gz",
    }
    launched = run(
        "train",
        "--instance-type",
        "ml.g5.2xlarge",
        *[f"--channel={n}={u}" for n, u in channels.items()],
        "--output",
        f"{DATA}/jobs",
        "--hp",
        "epochs=8",
        "--hp",
        "architecture=cnn",
        "--spot",
        "--max-run",
        "3600",
        "--max-wait",
        "7200",
        "--checkpoint-s3-uri",
        f"{DATA}/checkpoints/run-1",
        "--job-name",
        "classifier-1",
    ).check()
    assert launched.operations() == ["CreateTrainingJob"]  # no waiting, no log streaming, no default bucket

    job = moto.client("sagemaker").describe_training_job(TrainingJobName="classifier-1")
    assert job["AlgorithmSpecification"]["TrainingImage"] == _uri(pushed, "train-gpu")
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge" and job["RoleArn"] == ROLE
    assert _channels(job["InputDataConfig"]) == channels
    assert job["HyperParameters"] == {"epochs": "8", "architecture": "cnn"}
    assert job["CheckpointConfig"]["S3Uri"] == f"{DATA}/checkpoints/run-1"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["OutputDataConfig"]["S3OutputPath"] == f"{DATA}/jobs"
    assert launched.result["model_data"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    # moto stores a fixed example in place of the metric definitions it is sent, so they are read from the request.
    sent = launched.request("CreateTrainingJob")["AlgorithmSpecification"]["MetricDefinitions"]
    assert sent == launch_metrics.CLASSIFIER_METRICS


def test_word_vector_training_job_on_demand_on_cpu(run, moto, pushed):
    launched = run(
        "train",
        "--instance-type",
        "ml.c5.4xlarge",
        "--channel",
        f"train={DATA}/corpus",
        "--output",
        f"{DATA}/jobs",
        "--hp",
        "mode=skipgram",
        "--hp",
        "subwords=true",
    ).check()
    name = launched.result["job_name"]
    assert name.startswith(launch_commands.WORD_VECTORS_JOB_NAME + "-")

    job = moto.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == _uri(pushed, "train-cpu")
    assert _channels(job["InputDataConfig"]) == {"train": f"{DATA}/corpus"}
    assert job["HyperParameters"] == {"mode": "skipgram", "subwords": "true"}
    assert job["EnableManagedSpotTraining"] is False and "CheckpointConfig" not in job
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": launch_commands.DEFAULT_MAX_RUN_SECONDS}
    sent = launched.request("CreateTrainingJob")["AlgorithmSpecification"]["MetricDefinitions"]
    assert sent == launch_metrics.WORD_VECTOR_METRICS


def test_tuning_job_over_the_classifiers_numeric_hyperparameters(run, moto, pushed):
    launched = run(
        "tune",
        "--instance-type",
        "ml.g4dn.xlarge",
        "--channel",
        f"train={DATA}/headlines",
        "--channel",
        f"embeddings={DATA}/jobs/vectors/output/model.tar.gz",
        "--output",
        f"{DATA}/tuning",
        "--hp",
        "epochs=10",
        "--max-jobs",
        "12",
        "--max-parallel-jobs",
        "3",
        "--job-name",
        "tune-1",
        "--range",
        "learning_rate=0.001:0.05:Logarithmic",
        "--range",
        "batch_size=32:256",
        "--range",
        "dropout=0.2:0.6",
    ).check()
    assert launched.operations() == ["CreateHyperParameterTuningJob"]

    tuning = moto.client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-1")
    config = tuning["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 3}
    ranges = config["ParameterRanges"]
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.05", "ScalingType": "Logarithmic"},
        {"Name": "dropout", "MinValue": "0.2", "MaxValue": "0.6", "ScalingType": "Auto"},
    ]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "batch_size", "MinValue": "32", "MaxValue": "256", "ScalingType": "Auto"}
    ]
    definition = tuning["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == _uri(pushed, "train-gpu")
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == launch_metrics.CLASSIFIER_METRICS
    assert definition["StaticHyperParameters"] == {"epochs": "10"}
    assert definition["HyperParameterTuningResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert set(_channels(definition["InputDataConfig"])) == {"train", "embeddings"}


def test_default_search_space_leaves_out_what_the_job_fixes(run, moto):
    launched = run(
        "tune",
        "--instance-type",
        "ml.c5.2xlarge",
        "--channel",
        f"train={DATA}/headlines",
        "--output",
        f"{DATA}/tuning",
        "--hp",
        "epochs=10",
    ).check()
    assert launched.result["tuning_job_name"].startswith(launch_commands.TUNING_JOB_NAME + "-")
    tuning = moto.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=launched.result["tuning_job_name"]
    )
    ranges = tuning["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert [r["Name"] for r in ranges["ContinuousParameterRanges"]] == ["learning_rate"]
    assert [r["Name"] for r in ranges["IntegerParameterRanges"]] == ["batch_size", "embedding_dim"]


def test_real_time_endpoint_of_the_serving_image(run, moto, pushed):
    model_data = f"{DATA}/jobs/classifier-1/output/model.tar.gz"
    launched = run(
        "deploy",
        "--instance-type",
        "ml.m5.large",
        "--instance-count",
        "2",
        "--model-data",
        model_data,
        "--endpoint-name",
        "headlines",
    ).check()
    assert launched.operations() == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]

    sagemaker = moto.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="headlines")
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])[
        "ProductionVariants"
    ]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    assert "ServerlessConfig" not in variant
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == _uri(pushed, "serve")
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_data and model["ExecutionRoleArn"] == ROLE
    assert launched.result == {"endpoint_name": "headlines", "model_name": variant["ModelName"]}


def test_a_graviton_endpoint_gets_the_arm64_serving_image(run, moto, pushed):
    launched = run("deploy", "--instance-type", "ml.c7g.xlarge", "--model-data", f"{DATA}/model.tar.gz")
    # moto's list of hosting instance types predates Graviton: it refuses the endpoint config, after the model.
    assert "AWS refused CreateEndpointConfig: Value 'ml.c7g.xlarge' at 'instanceType'" in launched.process.stderr
    image = launched.request("CreateModel")["PrimaryContainer"]["Image"]
    assert image == _uri(pushed, "serve-arm64") != _uri(pushed, "serve")


def test_serverless_endpoint(run, moto, pushed):
    launched = run(
        "deploy",
        "--serverless-memory",
        "3072",
        "--max-concurrency",
        "8",
        "--model-data",
        f"{DATA}/jobs/classifier-1/output/model.tar.gz",
    ).check()

    sagemaker = moto.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=launched.result["endpoint_name"])
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])[
        "ProductionVariants"
    ]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 8}
    assert "InstanceType" not in variant
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == _uri(pushed, "serve")


def test_batch_transform(run, moto, pushed):
    model_data = f"{DATA}/jobs/classifier-1/output/model.tar.gz"
    launched = run(
        "transform",
        "--instance-type",
        "ml.c5.xlarge",
        "--model-data",
        model_data,
        "--input",
        f"{DATA}/transform/headlines.txt",
        "--output",
        f"{DATA}/transform/out",
    ).check()
    assert launched.operations() == ["CreateModel", "CreateTransformJob"]

    sagemaker = moto.client("sagemaker")
    job = sagemaker.describe_transform_job(TransformJobName=launched.result["job_name"])
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{DATA}/transform/headlines.txt"}},
        "ContentType": "text/plain",
        "SplitType": "Line",
    }
    assert job["TransformOutput"] == {
        "S3OutputPath": f"{DATA}/transform/out",
        "Accept": "application/jsonlines",
        "AssembleWith": "Line",
    }
    assert job["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1}
    assert job["BatchStrategy"] == "MultiRecord"
    # The job runs on the model the launcher left for it.
    model = sagemaker.describe_model(ModelName=job["ModelName"])
    assert model["PrimaryContainer"]["Image"] == _uri(pushed, "serve")
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_data


@pytest.mark.parametrize(
    "command,args,image,message",
    [
        ("train", ["--instance-type", "ml.p3.2xlarge"], "headlines-train:cpu", "runs on CPU only"),
        (
            "train",
            ["--instance-type", "ml.g5.xlarge", "--spot", "--max-run", "7200", "--max-wait", "3600"],
            None,
            "--max-wait (3600 s) must be at least --max-run (7200 s)",
        ),
        ("train", ["--instance-type", "ml.c5.xlarge", "--hp", "learning-rate=0.1"], None, "Unknown hyperparameter"),
        ("deploy", ["--instance-type", "ml.g5.xlarge"], None, "the serve image runs on CPU only"),
        ("deploy", ["--serverless-memory", "8192"], None, "--serverless-memory must be one of"),
    ],
)
def test_refused_commands_make_no_api_call(run, moto, command, args, image, message):
    target = (
        ["--channel", f"train={DATA}/headlines", "--output", f"{DATA}/jobs"]
        if command == "train"
        else ["--model-data", f"{DATA}/model.tar.gz"]
    )
    launched = run(command, *target, *args, image=image)
    assert launched.process.returncode == 2, launched.output[-3000:]
    assert message in launched.process.stderr
    assert launched.calls == []
    assert not any(_created(moto.client("sagemaker")).values())


def test_what_aws_refuses_is_one_sentence(run, moto):
    tune = (
        "tune",
        "--instance-type",
        "ml.c5.xlarge",
        "--channel",
        f"train={DATA}/headlines",
        "--output",
        f"{DATA}/tuning",
        "--job-name",
        "tune-twice",
    )
    run(*tune).check()
    again = run(*tune)
    assert again.process.returncode == 1
    line = again.process.stderr.strip().splitlines()[-1]
    assert line.startswith("launch.py tune: AWS refused CreateHyperParameterTuningJob: ")
    assert "already exists" in line
