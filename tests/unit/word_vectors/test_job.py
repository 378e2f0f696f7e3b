"""The word-vector job (modes skipgram, cbow, batch_skipgram) on the training contract, in-process
against a fake /opt/ml, and chained into the classifier through its embeddings channel."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from headlines.cli.train import main
from headlines.word_vectors import epochs
from headlines.word_vectors import progress as progress_log
from headlines.word_vectors.cpu import training as cpu_training
from tests.support.data import MADE_UP_HEADLINE_ROWS, data_set
from tests.support.fake_sagemaker import SMALL_MODEL, SMALL_WORD_VECTORS

pytestmark = pytest.mark.usefixtures("default_sigterm")

DATA = data_set()
# Words of both the real corpus and the generated one (each at least min_count times in its first 1,500 lines), and
# one pair of neither.
PAIRS = [
    "# word1 word2 score",
    "film movie 9.0",
    "music album 7.0",
    "singer band 6.5",
    "cancer disease 8.0",
    "hospital patients 7.0",
    "satellite space 7.5",
    "bank rates 6.0",
    "zzzq xxxv 1.0",
]


@pytest.fixture(scope="module")
def corpus_lines():
    return DATA.corpus_text().splitlines()[:1500]


def _job(sagemaker, lines, evaluation=True, **hyperparameters):
    sagemaker.add_channel("train", {"part-0.txt": lines[:700], "part-1.txt.gz": lines[700:]})
    if evaluation:
        sagemaker.add_channel("evaluation", {"ws353.txt": PAIRS})
    sagemaker.write_config(dict(SMALL_WORD_VECTORS, **hyperparameters))


def _vectors_txt(model_dir):
    lines = (model_dir / "vectors.txt").read_text(encoding="utf-8").splitlines()
    return lines[0], {line.split(" ")[0]: np.array(line.split(" ")[1:], np.float32) for line in lines[1:]}


@pytest.mark.parametrize("mode,subwords", [("skipgram", "true"), ("cbow", "false"), ("batch_skipgram", "true")])
def test_job_writes_blazingtext_outputs(sagemaker, corpus_lines, mode, subwords, capfd, monkeypatch):
    monkeypatch.setattr(progress_log, "PROGRESS_LOG_SECONDS", 0)
    _job(sagemaker, corpus_lines, mode=mode, subwords=subwords)
    assert main([]) == 0
    log = [line.split(": ", 1)[-1] for line in capfd.readouterr().out.splitlines()]
    assert sorted(os.listdir(sagemaker.model_dir)) == ["eval.json", "vectors.bin", "vectors.txt"]
    header, vectors = _vectors_txt(sagemaker.model_dir)
    metrics = sagemaker.metrics()
    assert metrics["word_map"] == "word-map.png"
    assert (sagemaker.output_data_dir / "word-map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert header == f"{metrics['vocabulary_size']} 16" and len(vectors) == metrics["vocabulary_size"]
    counts = [sum(line.split().count(w) for line in corpus_lines) for w in list(vectors)[:20] if w != "</s>"]
    assert counts == sorted(counts, reverse=True)  # descending frequency
    assert [row["epoch"] for row in metrics["history"]] == [1, 2]
    assert all(0 < row["loss"] < 10 for row in metrics["history"])
    evaluation = json.loads((sagemaker.model_dir / "eval.json").read_text())["ws353.txt"]
    assert evaluation["total_pairs"] == 8 and evaluation["lines_skipped"] == 1
    assert -1 <= evaluation["spearmans_rho"] <= 1
    # "zzzq xxxv" has no vector without subwords; with subwords its n-grams fall in unused (random) buckets.
    assert evaluation["pairs_covered"] == (8 if subwords == "true" else 7)
    progress = [line for line in log if line.startswith("progress=")]
    assert progress and all(
        re.fullmatch(
            r"progress=[\d.]+% words=\d+ words_per_second=\d+ loss=[\d.]+ "
            r"eta_seconds=\d+",
            line,
        )
        for line in progress
    )
    assert any(re.fullmatch(r"epoch=2 loss=[\d.]+ words_per_second=\d+ epoch_seconds=[\d.]+", line) for line in log)


def test_same_seed_gives_the_same_vectors(sagemaker, corpus_lines, monkeypatch):
    # On one thread; several threads share the weights without locks, as fastText's do, so their order varies.
    monkeypatch.setattr(cpu_training, "cpu_threads", lambda: 1)
    _job(sagemaker, corpus_lines[:300], evaluation=False, subwords="true")
    assert main([]) == 0
    first = (sagemaker.model_dir / "vectors.bin").read_bytes()
    assert main([]) == 0
    assert (sagemaker.model_dir / "vectors.bin").read_bytes() == first


def test_a_pipe_channel_gives_the_vectors_its_file_would(sagemaker, corpus_lines, monkeypatch):
    """SageMaker's Pipe mode: the corpus through FIFO train_0, copied once; the same vectors as from one file."""
    monkeypatch.setattr(cpu_training, "cpu_threads", lambda: 1)  # one thread: the same seed, the same vectors
    sagemaker.add_channel("train", {"corpus.txt": corpus_lines[:300]})
    sagemaker.write_config(dict(SMALL_WORD_VECTORS, subwords="true"))
    assert main([]) == 0
    from_file = (sagemaker.model_dir / "vectors.bin").read_bytes()
    shutil.rmtree(sagemaker.base / "input" / "data" / "train")
    feeder = sagemaker.add_pipe_channel("train", corpus_lines[:300])
    try:
        assert main([]) == 0
    finally:
        feeder.stop()
    assert (sagemaker.model_dir / "vectors.bin").read_bytes() == from_file
    assert feeder.passes_read == 1  # read once, for every epoch


def test_classifier_takes_the_output_as_its_embeddings_channel(sagemaker, corpus_lines, tmp_path):
    _job(sagemaker, corpus_lines, subwords="true")
    assert main([]) == 0
    vectors_dir = tmp_path / "vectors"
    os.rename(sagemaker.model_dir, vectors_dir)
    for name in ("train", "evaluation"):
        for path in (sagemaker.base / "input" / "data" / name).iterdir():
            path.unlink()
        (sagemaker.base / "input" / "data" / name).rmdir()
    sagemaker.channels.clear()
    sagemaker.add_channel("train", {"train.tsv": DATA.train_rows(600) + MADE_UP_HEADLINE_ROWS})
    sagemaker.add_channel("embeddings", {p.name: str(p) for p in vectors_dir.iterdir()})
    sagemaker.write_config(dict(SMALL_MODEL, embedding_dim=16))
    assert main([]) == 0
    coverage = sagemaker.metrics()["embedding_coverage"]
    assert coverage["file"].endswith("vectors.bin") and coverage["format"] == "fasttext-bin"
    assert coverage["types_from_subwords"] > 0 and coverage["type_coverage"] == 1.0


@pytest.mark.parametrize(
    "hyperparameters,channels,message",
    [
        ({"mode": "skipgram", "word_ngrams": "2"}, ("train",), "BlazingText uses 'word_ngrams' in supervised mode"),
        ({"mode": "cbow", "window_size": "0"}, ("train",), "'window_size' must be an integer of at least 1"),
        ({"mode": "skipgram", "min_char": "5", "max_char": "3"}, ("train",), "'min_char' (5) must not exceed"),
        ({"mode": "glove"}, ("train",), "'mode' must be one of supervised, skipgram, cbow, batch_skipgram"),
        (
            {"mode": "skipgram"},
            ("train", "validation"),
            "Unknown channel(s) validation; this job reads train, evaluation",
        ),
        ({"mode": "skipgram"}, ("evaluation",), "The 'train' channel is required"),
        ({"mode": "skipgram", "min_count": "100000"}, ("train",), "No word occurs at least min_count=100000 times"),
        (
            {"mode": "skipgram", "learning_rate": "10", "min_count": "1"},
            ("train",),
            re.compile(r"^Training diverged: the loss became nan after \d+ words\. Lower learning_rate \(now 10\.0\)"),
        ),
    ],
)
def test_bad_configuration_fails_with_a_clear_reason(sagemaker, corpus_lines, hyperparameters, channels, message):
    for name in channels:
        sagemaker.add_channel(name, {"data.txt": corpus_lines[:300] if name != "evaluation" else PAIRS})
    sagemaker.write_config(hyperparameters)
    assert main([]) == 1
    reason = sagemaker.failure_file.read_text()
    assert message.search(reason) if isinstance(message, re.Pattern) else message in reason, reason
    assert not sagemaker.model_dir.exists() or not os.listdir(sagemaker.model_dir)


def _wait_for(path, text, process, seconds=120):
    deadline = time.time() + seconds
    while text not in path.read_text() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert text in path.read_text(), path.read_text()[-3000:]


def test_sigterm_checkpoints_and_the_rerun_resumes_where_it_stopped(sagemaker, corpus_lines, tmp_path):
    """SIGTERM mid-training: a checkpoint, exit 143, no vectors; the rerun resumes at the same epoch and round and
    ends as near an uninterrupted job as two Hogwild runs are to each other."""
    _job(sagemaker, corpus_lines * 40, epochs=8, checkpoint_seconds=0)
    log_path = tmp_path / "job.log"
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(sagemaker.base), SM_NUM_GPUS="0")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "headlines.cli.train", "train"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        _wait_for(log_path, "epoch=2 ", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + 15
    assert "stopped by SIGTERM" in sagemaker.failure_file.read_text()
    assert not sagemaker.model_dir.exists() or not os.listdir(sagemaker.model_dir)
    state = json.loads((sagemaker.checkpoint_dir / "state.json").read_text())
    assert 2 <= state["epoch"] < 8 and [row["epoch"] for row in state["history"]] == list(range(1, state["epoch"] + 1))
    assert sorted(os.listdir(sagemaker.checkpoint_dir)) == ["state.json", f"word-vectors-{state['generation']}.npz"]
    match = re.search(r"checkpoint: epoch (\d+), round (\d+)", log_path.read_text())
    assert match

    sagemaker.failure_file.unlink()
    assert main([]) == 0
    resumed = sagemaker.metrics()
    assert [row["epoch"] for row in resumed["history"]] == list(range(1, 9))
    assert resumed["history"][: state["epoch"]] == state["history"]

    shutil.rmtree(sagemaker.checkpoint_dir)
    assert main([]) == 0
    uninterrupted = sagemaker.metrics()
    assert resumed["history"][-1]["loss"] == pytest.approx(uninterrupted["history"][-1]["loss"], rel=0.05)
    rho = [m["evaluation"]["ws353.txt"]["spearmans_rho"] for m in (resumed, uninterrupted)]
    assert abs(rho[0] - rho[1]) < 0.3  # 7 pairs: rho moves in steps of about 0.1


def test_checkpoints_at_the_interval_keep_only_the_last_and_a_finished_one_is_not_retrained(
    sagemaker, corpus_lines, monkeypatch, capfd
):
    clock = iter(range(0, 10**9, 1000))  # every round is a checkpoint interval later
    monkeypatch.setattr(epochs.EpochLoop, "clock", staticmethod(lambda: next(clock)))
    _job(sagemaker, corpus_lines, evaluation=False, epochs=3, checkpoint_seconds=1)
    assert main([]) == 0
    first = (sagemaker.model_dir / "vectors.bin").read_bytes()
    state = json.loads((sagemaker.checkpoint_dir / "state.json").read_text())
    assert state["epoch"] == 3 and state["generation"] == 3
    assert sorted(os.listdir(sagemaker.checkpoint_dir)) == ["state.json", "word-vectors-3.npz"]
    assert capfd.readouterr().out.count("checkpoint: epoch") == 3

    assert main([]) == 0  # the checkpoint says every epoch is done: the weights are written again, not retrained
    assert "resuming at epoch 4, round 0" in capfd.readouterr().out
    assert (sagemaker.model_dir / "vectors.bin").read_bytes() == first


def test_a_checkpoint_of_other_settings_is_refused(sagemaker, corpus_lines, monkeypatch):
    monkeypatch.setattr(epochs.EpochLoop, "clock", staticmethod(iter(range(0, 10**9, 1000)).__next__))
    _job(sagemaker, corpus_lines, evaluation=False, epochs=1, checkpoint_seconds=1)
    assert main([]) == 0
    _job(sagemaker, corpus_lines, evaluation=False, epochs=1, checkpoint_seconds=1, window_size=2)
    assert main([]) == 1
    assert "was written by a job with other data or hyperparameters" in sagemaker.failure_file.read_text()


# -- the GPU path, on two CPU contexts standing in for two GPUs ------------------------------------------------
@pytest.fixture
def two_gpus(monkeypatch):
    import mxnet as mx

    from headlines.word_vectors.gpu import training as gpu_training

    monkeypatch.setenv("SM_NUM_GPUS", "2")
    monkeypatch.setattr(gpu_training, "training_contexts", lambda count: [mx.cpu(0), mx.cpu(1)][:count])


def test_the_gpu_path_trains_and_a_sigterm_checkpoint_resumes_to_the_same_vectors(
    sagemaker, corpus_lines, two_gpus, monkeypatch, capfd
):
    """On one host the MXNet path is deterministic, so a job stopped by SIGTERM and resumed must end with exactly
    the vectors of an uninterrupted one: same weights, same place in the example builder's random stream."""
    from headlines.word_vectors.gpu import training as gpu_training

    settings = dict(evaluation=False, epochs=3, checkpoint_seconds=0, update_tokens=512)
    _job(sagemaker, corpus_lines, **settings)
    assert main([]) == 0
    uninterrupted = (sagemaker.model_dir / "vectors.bin").read_bytes()
    metrics = sagemaker.metrics()
    assert metrics["engine"] == "mxnet" and metrics["devices"] == ["cpu(0)", "cpu(1)"]
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][-1]["loss"] < metrics["history"][0]["loss"]
    assert not (sagemaker.checkpoint_dir / "state.json").exists()  # checkpoint_seconds=0: on SIGTERM only

    train_block = gpu_training.GpuRun.train_block

    def stopped_in_epoch_two(run, epoch, number):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the block ends, then the checkpoint
        return train_block(run, epoch, number)

    monkeypatch.setattr(gpu_training.GpuRun, "train_block", stopped_in_epoch_two)
    _job(sagemaker, corpus_lines, **settings)
    capfd.readouterr()
    assert main([]) == 128 + 15
    state = json.loads((sagemaker.checkpoint_dir / "state.json").read_text())
    assert (state["epoch"], state["unit"]) == (2, 0) and "generator" in state
    assert "checkpoint: epoch 3, block 0 of 1" in capfd.readouterr().out

    monkeypatch.setattr(gpu_training.GpuRun, "train_block", train_block)
    sagemaker.failure_file.unlink()
    assert main([]) == 0
    assert "resuming at epoch 3, block 0 of 1" in capfd.readouterr().out
    assert (sagemaker.model_dir / "vectors.bin").read_bytes() == uninterrupted


def test_a_cpu_checkpoint_does_not_resume_on_gpus(sagemaker, corpus_lines, monkeypatch):
    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(epochs.EpochLoop, "clock", staticmethod(lambda: next(clock)))
    _job(sagemaker, corpus_lines, evaluation=False, epochs=1, checkpoint_seconds=1)
    assert main([]) == 0
    import mxnet as mx

    from headlines.word_vectors.gpu import training as gpu_training

    monkeypatch.setenv("SM_NUM_GPUS", "1")
    monkeypatch.setattr(gpu_training, "training_contexts", lambda count: [mx.cpu(0)])
    assert main([]) == 1
    assert "was written by a job with other data or hyperparameters" in sagemaker.failure_file.read_text()
