import json

import pytest

from headlines.environment import TrainingEnvironment
from headlines.errors import JobError


def test_reads_configs_channels_and_paths(sagemaker):
    sagemaker.add_channel("train", {"a.tsv": ["x\ty"]})
    sagemaker.write_config({"epochs": 3})
    env = TrainingEnvironment.from_base_dir(environ={"SAGEMAKER_BASE_DIR": str(sagemaker.base), "SM_NUM_GPUS": "2"})
    assert env.hyperparameters["epochs"] == "3"
    assert env.channel_dirs == {"train": str(sagemaker.base / "input" / "data" / "train")}
    assert env.current_host == "algo-1" and env.hosts == ["algo-1"]
    assert env.num_gpus == 2
    assert env.model_dir == str(sagemaker.model_dir) and env.failure_file == str(sagemaker.failure_file)
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
