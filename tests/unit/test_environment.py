import json
import os

import pytest

from headlines.environment import ServingEnvironment, TrainingEnvironment, container_cpus, cpu_quota
from headlines.errors import JobError


def test_reads_configs_channels_and_paths(sagemaker):
    sagemaker.add_channel("train", {"a.tsv": ["x\ty"]})
    sagemaker.write_config({"epochs": 3})
    env = TrainingEnvironment.from_base_dir(environ={"SAGEMAKER_BASE_DIR": str(sagemaker.base), "SM_NUM_GPUS": "2"})
    assert env.hyperparameters["epochs"] == "3"
    assert env.channel_dirs == {"train": str(sagemaker.base / "input" / "data" / "train")}
    assert env.current_host == "algo-1" and env.hosts == ["algo-1"]
    assert env.num_gpus == 2
    assert env.model_dir == str(sagemaker.model_dir)
    assert env.checkpoint_dir == str(sagemaker.base / "checkpoints")
    with pytest.raises(TypeError):
        env.hyperparameters["epochs"] = "4"  # read-only


def test_checkpoint_config_local_path(sagemaker):
    path = sagemaker.base / "input" / "config" / "checkpointconfig.json"
    path.write_text(json.dumps({"LocalPath": "/somewhere/else", "S3Uri": "s3://b/k"}))
    env = TrainingEnvironment.from_base_dir(str(sagemaker.base), environ={"SM_NUM_GPUS": "0"})
    assert env.checkpoint_dir == "/somewhere/else"


def test_channels_on_disk_when_there_is_no_inputdataconfig(tmp_path):
    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    (tmp_path / "input" / "data" / "test").mkdir()
    env = TrainingEnvironment.from_base_dir(str(tmp_path), environ={"SM_NUM_GPUS": "0"})
    assert sorted(env.channel_dirs) == ["test", "train"]


def test_broken_config_file_is_a_clear_error(sagemaker):
    (sagemaker.base / "input" / "config" / "hyperparameters.json").write_text("{not json")
    with pytest.raises(JobError, match="hyperparameters.json is not valid JSON"):
        TrainingEnvironment.from_base_dir(str(sagemaker.base), environ={"SM_NUM_GPUS": "0"})


def test_serving_defaults():
    env = ServingEnvironment.from_environ({}, cpu_count=4)
    assert env.model_dir == "/opt/ml/model" and env.port == 8080 and env.workers == 4 and env.timeout == 60
    assert not env.batch and env.request_limit_bytes == 6 * 1024 * 1024
    assert env.execution_parameters() == {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_serving_env_vars():
    env = ServingEnvironment.from_environ(
        {
            "SAGEMAKER_BASE_DIR": "/tmp/ml",
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120",
            "SAGEMAKER_BATCH": "True",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "50",
            "SAGEMAKER_BATCH_STRATEGY": "single_record",
        },
        cpu_count=2,
    )
    assert (env.model_dir, env.port, env.workers, env.timeout) == ("/tmp/ml/model", 9000, 3, 120)
    assert env.batch and env.request_limit_bytes == 50 * 1024 * 1024
    # MaxConcurrentTransforms x MaxPayloadInMB may not pass 100.
    assert env.execution_parameters() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 50,
    }


@pytest.mark.parametrize("value,expected", [(None, False), ("true", True), ("True", True), ("false", False)])
def test_sagemaker_says_multi_model_endpoint_with_sagemaker_multi_model(value, expected):
    environ = {"SAGEMAKER_BASE_DIR": "/tmp/ml"} | ({"SAGEMAKER_MULTI_MODEL": value} if value else {})
    env = ServingEnvironment.from_environ(environ, cpu_count=1)
    assert env.multi_model is expected and env.models_dir == "/tmp/ml/models"


def test_batch_jobs_may_send_up_to_100_mb_unless_told_otherwise():
    assert ServingEnvironment.from_environ({"SAGEMAKER_BATCH": "true"}, cpu_count=1).request_limit_bytes == 100 * 2**20
    chunked = ServingEnvironment.from_environ(
        {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, cpu_count=1
    )
    assert chunked.request_limit_bytes == 100 * 2**20 and chunked.execution_parameters()["MaxPayloadInMB"] == 100


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("SAGEMAKER_BIND_TO_PORT", "http", "not an integer"),
        ("SAGEMAKER_BIND_TO_PORT", "70000", "out of range"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "out of range"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "101", "out of range"),
        ("SAGEMAKER_BATCH_STRATEGY", "ALL", "MULTI_RECORD"),
        ("SAGEMAKER_BATCH", "yes", "true or false"),
        ("SAGEMAKER_MULTI_MODEL", "1", "true or false"),
    ],
)
def test_bad_serving_env_vars_are_clear_errors(name, value, fragment):
    with pytest.raises(JobError, match=fragment) as error:
        ServingEnvironment.from_environ({name: value}, cpu_count=1)
    assert name in str(error.value)


def _cgroup(root, files):
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content + "\n")
    return str(root)


@pytest.mark.parametrize(
    "files,expected",
    [
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000"}, None),  # no period: no quota to divide
        ({}, None),
    ],
    ids=["v2-limited", "v2-unlimited", "v1-limited", "v1-unlimited", "v1-no-period", "no-files"],
)
def test_the_cpu_quota_of_cgroup_v2_and_v1(tmp_path, files, expected):
    assert cpu_quota(_cgroup(tmp_path, files)) == expected


@pytest.mark.parametrize(
    "cpu_max,cores,expected",
    [
        ("150000 100000", 8, 2),  # a fractional CPU rounds up
        ("50000 100000", 8, 1),
        ("100000 100000", 8, 1),
        ("400000 100000", 2, 2),  # never more than the cores it may run on
        ("max 100000", 3, 3),
        (None, 3, 3),  # no cpu.max: no cgroup v2 quota
    ],
)
def test_default_workers_follow_the_cgroup_cpu_quota_and_the_cores(tmp_path, monkeypatch, cpu_max, cores, expected):
    _cgroup(tmp_path, {"cpu.max": cpu_max} if cpu_max else {})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert ServingEnvironment.from_environ({}, cgroup_root=str(tmp_path)).workers == expected


def test_default_workers_follow_the_cgroup_v1_cpu_quota(tmp_path):
    root = _cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"})
    assert container_cpus(root) == 1
    _cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "-1"})
    assert container_cpus(root) == len(os.sched_getaffinity(0))


def test_sagemaker_model_server_workers_wins_over_the_cpu_quota(tmp_path):
    root = _cgroup(tmp_path, {"cpu.max": "100000 100000"})
    assert ServingEnvironment.from_environ({"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}, cgroup_root=root).workers == 3


def test_default_workers_follow_the_cpu_affinity_mask_not_the_hosts_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # docker run --cpuset-cpus 0
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert ServingEnvironment.from_environ({}).workers == 1
