"""A fake /opt/ml tree (FakeSageMaker) for the training contract, and small models trained in-process on it."""

import errno
import json
import os
import pathlib
import threading
import time

from tests.support.data import data_set, write_lines


class FakeSageMaker:
    """A fake /opt/ml tree for SAGEMAKER_BASE_DIR: channels, hyperparameters, resource config."""

    def __init__(self, base):
        self.base = pathlib.Path(base)
        self.channels = {}
        self.write_config(hyperparameters={})

    def add_channel(self, name, files, distribution="FullyReplicated"):
        """files: {relative name: list of lines or a source path}."""
        folder = self.base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in files.items():
            target = folder / file_name
            if isinstance(content, (str, os.PathLike)):
                target.write_bytes(pathlib.Path(content).read_bytes())
            else:
                write_lines(target, content, compress=file_name.endswith(".gz"))
        self.channels[name] = {
            "ContentType": "text/plain",
            "TrainingInputMode": "File",
            "S3DistributionType": distribution,
            "RecordWrapperType": "None",
        }
        self._write("inputdataconfig.json", self.channels)
        return folder

    def add_pipe_channel(self, name, lines, content_type="text/plain", wrapper="None"):
        """A Pipe-mode channel, as SageMaker offers one: FIFOs input/data/<name>_0, _1, ..., each giving the lines
        once a job opens it (PipeFeeder); returns the feeder, whose stop() ends it."""
        self.channels[name] = {
            "ContentType": content_type,
            "TrainingInputMode": "Pipe",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": wrapper,
        }
        self._write("inputdataconfig.json", self.channels)
        return PipeFeeder(self.base / "input" / "data", name, "".join(line + "\n" for line in lines).encode())

    def write_config(self, hyperparameters, current_host="algo-1", hosts=("algo-1",)):
        self._write("hyperparameters.json", {k: str(v) for k, v in hyperparameters.items()})
        self._write(
            "resourceconfig.json",
            {"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"},
        )

    def _write(self, name, value):
        path = self.base / "input" / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))

    @property
    def model_dir(self):
        return self.base / "model"

    @property
    def output_data_dir(self):
        return self.base / "output" / "data"

    @property
    def failure_file(self):
        return self.base / "output" / "failure"

    @property
    def checkpoint_dir(self):
        return self.base / "checkpoints"

    def metrics(self):
        return json.loads((self.output_data_dir / "metrics.json").read_text())


class PipeFeeder:
    """SageMaker's side of a Pipe channel: FIFO <name>_0 holds the data for the first pass; once a reader has read
    it to the end, <name>_1 is made for the next pass, and so on. A FIFO nobody opens is never written (the writer
    waits for a reader without blocking, until stop())."""

    def __init__(self, folder, name, data):
        self.folder, self.name, self.data = pathlib.Path(folder), name, data
        self.passes_read = 0
        self._stop = threading.Event()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._make_fifo(0)
        self._thread.start()

    def _make_fifo(self, number):
        path = self.folder / f"{self.name}_{number}"
        os.mkfifo(path)
        os.chmod(path, 0o666)  # the container's job may run as another user
        return path

    def _feed(self):
        number = 0
        while not self._stop.is_set():
            path = self.folder / f"{self.name}_{number}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader has it open
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.01)
                continue
            os.set_blocking(fd, True)
            try:
                with os.fdopen(fd, "wb") as fifo:
                    fifo.write(self.data)
            except BrokenPipeError:  # the reader stopped early
                return
            self.passes_read += 1
            number += 1
            self._make_fifo(number)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)


SMALL_MODEL = {"epochs": 2, "batch_size": 32, "ngram_buckets": 5000, "embedding_dim": 16, "num_filters": 8}


SMALL_WORD_VECTORS = {"mode": "skipgram", "vector_dim": 16, "buckets": 5000, "epochs": 2, "min_count": 2}


def train_small_model(base, architecture="fasttext", rows=1200):
    """A small model trained in-process on the first rows of the train split; returns its model folder."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {"train.tsv": data_set().train_rows(rows)})
    fake.write_config(dict(SMALL_MODEL, architecture=architecture))
    return _train_in_process(fake)


def train_small_word_vectors(base, lines=1500):
    """Small subword vectors (the word-vector job, in-process) from the first lines of the corpus; returns their
    model folder."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {"corpus.txt": data_set().corpus_text().splitlines()[:lines]})
    fake.write_config(dict(SMALL_WORD_VECTORS, subwords="true"))
    return _train_in_process(fake)


def _train_in_process(fake):
    import pytest

    from headlines.cli.train import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
        patch.setenv("SM_NUM_GPUS", "0")
        assert main([]) == 0, (fake.base / "output" / "failure").read_text()
    return fake.model_dir
