"""Input modes: a Pipe channel's first FIFO copied once to a folder (the later ones never opened), FastFile read as
File, and what the jobs cannot read refused with the reason."""

import os

import pytest

from headlines.environment import TrainingEnvironment
from headlines.errors import JobError
from headlines.runtime import channels
from tests.support.fake_sagemaker import FakeSageMaker


@pytest.fixture
def fake(tmp_path):
    return FakeSageMaker(tmp_path / "opt_ml")


def test_a_pipe_channel_is_copied_once_and_its_later_fifos_are_never_opened(fake, monkeypatch):
    monkeypatch.setattr(channels, "COPY_BLOCK_BYTES", 4096)  # several blocks
    lines = [f"headline number {i}\t{'btem'[i % 4]}" for i in range(2000)]
    feeder = fake.add_pipe_channel("train", lines)
    try:
        folders = channels.channel_folders(TrainingEnvironment.from_base_dir(str(fake.base)))
    finally:
        feeder.stop()
    assert os.listdir(folders["train"]) == ["train"]
    assert open(os.path.join(folders["train"], "train"), encoding="utf-8").read().splitlines() == lines
    assert feeder.passes_read == 1 and os.path.exists(fake.base / "input" / "data" / "train_1")


def test_file_and_fastfile_channels_are_their_own_folders(fake):
    folder = fake.add_channel("train", {"a.tsv": ["x\tb"]})
    fake.channels["train"]["TrainingInputMode"] = "FastFile"
    fake._write("inputdataconfig.json", fake.channels)
    assert channels.channel_folders(TrainingEnvironment.from_base_dir(str(fake.base))) == {"train": str(folder)}


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"TrainingInputMode": "Stream"}, ["input mode 'Stream'", "File, FastFile, Pipe"]),
        ({"TrainingInputMode": "Pipe", "RecordWrapperType": "RecordIO"}, ["RecordIO", "RecordWrapperType to None"]),
        ({"TrainingInputMode": "Pipe"}, ["Pipe mode", "train_0", "not there"]),
    ],
)
def test_channels_the_jobs_cannot_read_are_refused_with_the_reason(fake, change, fragments):
    fake.add_channel("train", {"a.tsv": ["x\tb"]})
    fake.channels["train"].update(change)
    fake._write("inputdataconfig.json", fake.channels)
    with pytest.raises(JobError) as error:
        channels.channel_folders(TrainingEnvironment.from_base_dir(str(fake.base)))
    for fragment in fragments:
        assert fragment in str(error.value)
