"""SageMaker Python SDK v3 (`sagemaker>=3`) in local mode: ModelTrainer(training_mode=Mode.LOCAL_CONTAINER) runs
the training image with no command, on one host and on two (MXNet's parameter server across the containers), and
what it writes for `local_gpu`.

ModelBuilder's local container mode cannot serve a custom image as is (docs/images.md, "SageMaker local mode"); the
serving image's local-mode tests use SDK v2."""

import json
import pathlib
import re
import tarfile

import pytest

from tests.localmode.conftest import SdkRun, check_local_gpu_compose, job_metrics

DRIVER = pathlib.Path(__file__).with_name("sdk_v3_train.py")
QUICK = {"epochs": "3", "ngram_buckets": "20000"}


@pytest.fixture(scope="module")
def sdk_defaults(tmp_path_factory):
    """SDK v3 switches telemetry off only through its defaults file."""
    path = tmp_path_factory.mktemp("sdk-v3") / "sagemaker-defaults.yaml"
    path.write_text(
        json.dumps(
            {
                "SchemaVersion": "1.0",  # JSON is YAML
                "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
            }
        )
    )
    return str(path)


def _train(python, sdk_defaults, demo_data, root, instance_count):
    result = root.parent / f"{root.name}.json"
    run = SdkRun(
        python,
        DRIVER,
        "headlines-train:cpu",
        instance_count,
        root,
        result,
        f"train={demo_data / 'headlines'}",
        f"test={demo_data / 'headlines-test'}",
        *[f"--hp={k}={v}" for k, v in QUICK.items()],
        env={"SAGEMAKER_USER_CONFIG_OVERRIDE": sdk_defaults},
    ).check()
    compose = (root / "docker-compose.yaml").read_text()
    return run, compose, job_metrics(root / "compressed_artifacts" / "output.tar.gz"), root


@pytest.fixture(scope="module")
def one_host(sdk_v3_python, sdk_defaults, cpu_image, demo_data, tmp_path_factory):
    return _train(sdk_v3_python, sdk_defaults, demo_data, tmp_path_factory.mktemp("v3") / "one", 1)


def test_model_trainer_runs_the_image_without_a_command(one_host):
    run, compose, metrics, root = one_host
    assert not re.search(r"^\s*(command|entrypoint):", compose, flags=re.M), compose
    assert metrics["test"]["accuracy"] > 0.9 and metrics["kvstore"] == "device"
    with tarfile.open(root / "compressed_artifacts" / "model.tar.gz") as archive:
        assert {"model-0000.params", "model-symbol.json", "vocabulary.json", "labels.json"} <= set(archive.getnames())


def test_model_trainer_two_hosts_train_together(
    sdk_v3_python, sdk_defaults, cpu_image, demo_data, one_host, tmp_path, no_containers_left
):
    run, compose, metrics, _ = _train(sdk_v3_python, sdk_defaults, demo_data, tmp_path / "two", 2)
    assert len(re.findall(r"^\s*image: headlines-train:cpu", compose, flags=re.M)) == 2
    assert metrics["kvstore"] == "dist_sync" and metrics["hosts"] == ["algo-1", "algo-2"]
    assert abs(metrics["test"]["accuracy"] - one_host[2]["test"]["accuracy"]) <= 0.01
    assert "host 0 of 2" in run.output and "host 1 of 2" in run.output


LOCAL_GPU_COMPOSE = """
import json, sys
from sagemaker.train.local.local_container import _LocalContainer
container = _LocalContainer(training_job_name="local-gpu", instance_type="local_gpu", instance_count=2,
                            image=sys.argv[1], container_root=sys.argv[2], input_data_config=[], environment={},
                            hyper_parameters={}, container_entrypoint=None, container_arguments=None)
print(json.dumps(container._generate_compose_file({}, [])))
"""


def test_local_gpu_compose_file_gives_every_host_all_gpus(sdk_v3_python, gpu_image, tmp_path):
    script = tmp_path / "compose.py"
    script.write_text(LOCAL_GPU_COMPOSE)
    output = SdkRun(sdk_v3_python, script, gpu_image, tmp_path).check().process.stdout
    compose = json.loads(output.strip().splitlines()[-1])
    check_local_gpu_compose(compose, tmp_path / "docker-compose.yaml", gpu_image, hosts=2)
