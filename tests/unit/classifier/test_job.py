"""The training contract, run in-process (and as a local subprocess for SIGTERM) against a fake /opt/ml."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import mxnet as mx
import pytest

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.classifier.recipe import MIN_SELECTION_ROWS
from headlines.cli.train import main
from headlines.model_folder import MODEL_FILES, PARAMS_FILE
from headlines.text import PADDING_TOKEN, UNKNOWN_TOKEN, Tokenizer, char_ngram_buckets
from tests.support.data import data_set
from tests.support.fake_sagemaker import SMALL_MODEL as SMALL
from tests.support.floors import Floor, assert_beats_majority, labels_of
from tests.support.interrupt import WIDE_CNN, half_an_epoch, start_of_the_refit

pytestmark = pytest.mark.usefixtures("default_sigterm")

DATA = data_set()
# What each architecture trains with on top of SMALL: at cnn's default learning rate (0.001) SMALL's 2 epochs (about
# 70 steps) leave it answering `b` for nearly every real headline (accuracy 0.52, the majority rate; macro-F1 0.17).
# fasttext gets 4 epochs: with 120 validation rows the job decays its rate to 0 (classifier/recipe.py), and 2 epochs
# of a decaying rate left it at 0.55 on the real rows.
TRAINING = {"fasttext": {"epochs": 4}, "cnn": {"learning_rate": 0.01}}
# A third of 1,200 rows held out (~400, grouped by story): enough to pick the epoch on, so the job refits.
PICKED = {"validation_fraction": 0.33, "epochs": 3, "early_stopping_patience": 1}
# The first 300 test rows' majority rate: real 0.52 (`b`), generated 0.28 (`t`). Measured after 2 epochs on 1,200
# rows, seeds 42 and 1-4: real fasttext accuracy 0.743-0.770 (macro-F1 0.401-0.417), cnn 0.717-0.737 (0.387-0.398;
# m and t, 17% of the rows, are never answered); generated, which is easier, 0.960 (0.958) for both. Floors: that
# much above the majority rate, and a macro-F1 well above the majority answer's (real 0.17, generated 0.11).
FLOORS = {
    "real": {"fasttext": Floor(margin=0.1, min_macro_f1=0.3), "cnn": Floor(margin=0.1, min_macro_f1=0.3)},
    "generated": {"fasttext": Floor(margin=0.5, min_macro_f1=0.75), "cnn": Floor(margin=0.5, min_macro_f1=0.75)},
}


@pytest.fixture(scope="module")
def small_data():
    return DATA.train_rows(1200), DATA.test_rows(300)


def _job(sagemaker, small_data, **hyperparameters):
    train, test = small_data
    sagemaker.add_channel("train", {"part-0.tsv": train[:600], "part-1.tsv.gz": train[600:]})
    sagemaker.add_channel("test", {"test.tsv": test})
    sagemaker.write_config(dict(SMALL, **hyperparameters))


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_job_writes_model_metrics_and_plots(sagemaker, small_data, architecture):
    _job(sagemaker, small_data, architecture=architecture, **TRAINING[architecture])
    assert main([]) == 0
    assert sorted(os.listdir(sagemaker.model_dir)) == sorted(MODEL_FILES)
    metrics = sagemaker.metrics()
    epochs = dict(SMALL, **TRAINING[architecture])["epochs"]
    assert metrics["architecture"] == architecture and metrics["epochs_run"] == epochs
    # On one CPU host a fasttext model takes the compiled steps, the cnn numpy's; the job's memory is counted.
    assert metrics["steps"] == {"fasttext": "compiled-cpu", "cnn": "numpy-cpu"}[architecture]
    assert metrics["peak_resident_mb"] > 100  # MXNet alone takes more
    assert metrics["test"]["samples"] == 300 and metrics["test"]["accuracy"] <= 1
    floor = FLOORS[DATA.source][architecture]
    assert_beats_majority(metrics["test"], labels_of(small_data[1]), floor.margin, floor.min_macro_f1)
    assert set(metrics["test"]["per_class"]) == {"b", "e", "m", "t"}
    assert metrics["data"]["train"]["rows"] == 1200 and metrics["data"]["train"]["bad_rows"] == 0
    assert metrics["validation_source"] == "split of train, grouped by story"
    for plot in ("learning_curves.png", "confusion_matrix.png"):
        assert (sagemaker.output_data_dir / plot).read_bytes()[:4] == b"\x89PNG"
    assert not sagemaker.failure_file.exists()
    model = HeadlineModel.load(str(sagemaker.model_dir))
    probabilities = model.predict_proba(["Fed raises interest rates", "Kim Kardashian wedding"])
    assert probabilities.shape == (2, 4)
    assert model.label_names == {"b": "business", "e": "entertainment", "m": "health", "t": "science and technology"}


def test_same_seed_gives_the_same_model(sagemaker, small_data, tmp_path):
    _job(sagemaker, small_data, architecture="cnn")
    assert main([]) == 0
    first = sagemaker.metrics()
    (sagemaker.model_dir / "model-0000.params").unlink()
    for name in os.listdir(sagemaker.checkpoint_dir):
        os.remove(sagemaker.checkpoint_dir / name)
    assert main([]) == 0
    second = sagemaker.metrics()
    assert second["test"] == first["test"] and second["validation"] == first["validation"]


def test_a_pipe_channel_trains_the_model_its_file_would(sagemaker, small_data):
    """SageMaker's Pipe mode: the rows through FIFO train_0, copied once; the same model as from one file."""
    train, test = small_data
    sagemaker.add_channel("train", {"train.tsv": train})
    sagemaker.add_channel("test", {"test.tsv": test})
    sagemaker.write_config(dict(SMALL, architecture="cnn"))
    assert main([]) == 0
    from_file = sagemaker.metrics()
    (sagemaker.model_dir / PARAMS_FILE).unlink()
    shutil.rmtree(sagemaker.checkpoint_dir)
    shutil.rmtree(sagemaker.base / "input" / "data" / "train")
    feeder = sagemaker.add_pipe_channel("train", train)
    try:
        assert main([]) == 0
    finally:
        feeder.stop()
    piped = sagemaker.metrics()
    assert piped["data"]["train"]["rows"] == 1200 and feeder.passes_read == 1
    assert piped["test"] == from_file["test"] and piped["validation"] == from_file["validation"]


def test_validation_channel_and_unseen_test_labels(sagemaker, small_data):
    train, test = small_data
    sagemaker.add_channel("train", {"train.tsv": train})
    sagemaker.add_channel(
        "validation",
        {
            "valid.jsonl": [
                json.dumps({"title": "Stocks slide", "category": "b"}),
                json.dumps({"title": "New film", "category": "e"}),
            ]
        },
    )
    sagemaker.add_channel(
        "test",
        {
            "test.txt": ["Stocks slide\tb", "Mystery\tz"]
            + [f"{line.split(chr(9))[1]}\t{line.split(chr(9))[4]}" for line in test]
        },
    )
    sagemaker.write_config(dict(SMALL, epochs=1))
    assert main([]) == 0
    metrics = sagemaker.metrics()
    assert metrics["validation_source"] == "channel" and metrics["validation"]["samples"] == 2
    assert metrics["data"]["test"]["bad_rows"] == 1 and metrics["test"]["samples"] == 301


def test_embeddings_channel_initialises_and_reports_coverage(sagemaker, small_data):
    _job(sagemaker, small_data, embedding_dim="auto", freeze_embedding_epochs=1)
    # Words that both the real and the generated headlines have.
    sagemaker.add_channel("embeddings", {"vectors.txt": ["3 4", "the 1 0 0 0", "on 0 1 0 0", "of 0 0 1 0"]})
    assert main([]) == 0
    coverage = sagemaker.metrics()["embedding_coverage"]
    assert coverage["dim"] == 4 and coverage["types_in_pretrained_vocabulary"] == 3
    assert 0 < coverage["token_coverage"] < 1 and coverage["format"] == "word2vec-text"


def test_words_of_the_vectors_that_train_lacks_keep_their_vectors(sagemaker, small_data):
    """fastText's supervised training adds every word of the vectors to its dictionary: a headline word no
    labelled row has still means what the vectors say, and no training step moves its row."""
    _job(sagemaker, small_data, embedding_dim="auto")
    sagemaker.add_channel(
        "embeddings", {"vectors.txt": ["3 4", "the 1 0 0 0", "zymurgist 0 0.5 0 0", "Zymurgy 0 0 1 0"]}
    )
    assert main([]) == 0
    model = HeadlineModel.load(str(sagemaker.model_dir))
    vocabulary = model.encoder.vocabulary
    assert "zymurgist" in vocabulary.token_to_idx
    assert sagemaker.metrics()["embedding_coverage"]["words_only_in_the_vectors"] == 1
    assert "Zymurgy" not in vocabulary.token_to_idx  # text is lower-cased: the tokenizer never produces it
    params = mx.nd.load(str(sagemaker.model_dir / PARAMS_FILE))
    embedding = next(value for name, value in params.items() if "embedding" in name)
    # Its row starts as the vector times its ids (the word and its character n-grams, whose buckets start at
    # zero), so that their mean is the vector, and stays there.
    ids = 1 + len(char_ngram_buckets("zymurgist", model.encoder.char_ngrams, model.encoder.ngram_buckets))
    assert embedding[vocabulary["zymurgist"]].asnumpy().tolist() == [0, 0.5 * ids, 0, 0]
    sagemaker.write_config(dict(SMALL, embedding_dim="auto", pretrained_words=0))
    for name in os.listdir(sagemaker.checkpoint_dir):  # another job's
        os.remove(sagemaker.checkpoint_dir / name)
    assert main([]) == 0, sagemaker.failure_file.read_text()
    assert "zymurgist" not in HeadlineModel.load(str(sagemaker.model_dir)).encoder.vocabulary.token_to_idx


def test_a_validation_set_too_small_to_steer_trains_every_epoch_and_keeps_the_last(sagemaker, small_data):
    _job(sagemaker, small_data, epochs=3, early_stopping_patience=1)
    assert main([]) == 0
    metrics = sagemaker.metrics()
    assert metrics["validation"]["samples"] < MIN_SELECTION_ROWS
    assert metrics["epochs_run"] == metrics["best_epoch"] == 3
    assert metrics["recipe"] == {
        "optimizer": "adam",
        "learning_rate": 0.01,
        "linear_decay": True,
        "select_on_validation": False,
        "reason": f"validation has 120 rows, fewer than the {MIN_SELECTION_ROWS} it takes to tell epochs apart: "
        "every epoch runs and the last is kept",
    }


def test_the_picked_epochs_are_trained_again_on_all_of_train(sagemaker, small_data):
    _job(sagemaker, small_data, refit="false", **PICKED)
    assert main([]) == 0
    kept = sagemaker.metrics()
    shutil.rmtree(sagemaker.checkpoint_dir)
    _job(sagemaker, small_data, **PICKED)
    assert main([]) == 0
    metrics, refit = sagemaker.metrics(), sagemaker.metrics()["refit"]
    assert kept["refit"] == {"skipped": "refit=false"}
    assert metrics["validation"]["samples"] >= MIN_SELECTION_ROWS and metrics["recipe"]["select_on_validation"]
    # The first pass is the job without a refit; the refit trains a new model on every row for the epochs picked.
    assert _without_timings(metrics["history"]) == _without_timings(kept["history"])
    assert metrics["validation"] == kept["validation"]
    assert refit["test_before_refit"] == kept["test"] and metrics["test"] != kept["test"]
    assert refit["rows"] == 1200 and refit["epochs"] == metrics["best_epoch"] == len(refit["history"])
    assert all("validation_accuracy" not in row for row in refit["history"])
    # Its vocabulary is that of every row (min_count 1), the held-out rows' too.
    tokenizer = Tokenizer()
    words = {word for line in small_data[0] for word in tokenizer(line.split("\t")[1])}
    vocabulary = HeadlineModel.load(str(sagemaker.model_dir)).encoder.vocabulary.token_to_idx
    assert set(vocabulary) == words | {UNKNOWN_TOKEN, PADDING_TOKEN}
    assert json.loads((sagemaker.checkpoint_dir / "refit" / "state.json").read_text())["finished"]


@pytest.mark.parametrize(
    "hyperparameters, channel, reason",
    [
        ({}, False, "no epoch was picked on validation: too few rows to tell epochs apart"),
        (PICKED, True, "validation is a channel of its own, not rows of train"),
    ],
    ids=["too-few-held-out", "validation-channel"],
)
def test_no_refit_where_nothing_was_picked_or_validation_is_not_train(
    sagemaker, small_data, hyperparameters, channel, reason
):
    _job(sagemaker, small_data, **hyperparameters)
    if channel:
        sagemaker.add_channel("validation", {"valid.tsv": DATA.train_rows(1600)[1200:]})
    assert main([]) == 0
    assert sagemaker.metrics()["refit"] == {"skipped": reason}
    assert not (sagemaker.checkpoint_dir / "refit").exists()


def _assert_failed(sagemaker, code, *fragments):
    assert code == 1
    reason = sagemaker.failure_file.read_text()
    assert len(reason) <= 1024
    for fragment in fragments:
        assert fragment in reason
    assert not any((sagemaker.model_dir / name).exists() for name in MODEL_FILES)


def test_unknown_hyperparameter_fails_the_job(sagemaker, small_data):
    _job(sagemaker, small_data, learning_rat=0.1)
    _assert_failed(sagemaker, main([]), "Unknown hyperparameter 'learning_rat'", "learning_rate")


def test_missing_train_channel_fails_the_job(sagemaker, small_data):
    sagemaker.add_channel("test", {"test.tsv": small_data[1]})
    _assert_failed(sagemaker, main([]), "'train' channel is required")


def test_unknown_channel_fails_the_job(sagemaker, small_data):
    _job(sagemaker, small_data)
    sagemaker.add_channel("validaton", {"v.tsv": small_data[1]})
    _assert_failed(sagemaker, main([]), "Unknown channel(s) validaton")


def test_too_many_bad_rows_fail_the_job(sagemaker, small_data):
    train, test = small_data
    sagemaker.add_channel("train", {"train.tsv": train[:500] + ["not\ta\tvalid\trow"] * 10})
    sagemaker.write_config(SMALL)
    _assert_failed(sagemaker, main([]), "10 malformed rows out of 510", "train.tsv:501")


def test_embedding_dimension_mismatch_fails_naming_the_file(sagemaker, small_data):
    _job(sagemaker, small_data, embedding_dim=16)
    sagemaker.add_channel("embeddings", {"glove.vec": ["2 4", "the 1 0 0 0", "to 0 1 0 0"]})
    _assert_failed(sagemaker, main([]), "glove.vec has 4-dimensional vectors but hyperparameter embedding_dim is 16")


def test_help_lists_hyperparameters(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "freeze_embedding_epochs" in capsys.readouterr().out


def _start(sagemaker, log):
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(sagemaker.base), SM_NUM_GPUS="0", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "headlines.cli.train", "train"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def test_sigterm_checkpoints_and_the_resumed_run_matches_an_uninterrupted_one(sagemaker, small_data, tmp_path):
    # The SIGTERM lands in the third of four epochs, timed by the second: under CI's load the first epoch ran up to
    # twice as long as the second, and half of it landed at the second's end (twice, at 7ab4ee6 and 1d24cf9).
    _job(sagemaker, small_data, epochs=4, batch_size=4, dropout=0.5, **WIDE_CNN)  # dropout's draws resume too
    log_path = tmp_path / "interrupted.log"
    with open(log_path, "w") as log:
        process = _start(sagemaker, log)
        deadline = time.time() + 120
        while "epoch=2 " not in log_path.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(half_an_epoch(log_path.read_text(), epoch=2))  # the checkpoint is taken mid-epoch
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + 15
    assert "stopped by SIGTERM" in sagemaker.failure_file.read_text()
    state = json.loads((sagemaker.checkpoint_dir / "state.json").read_text())
    assert state["epoch"] >= 2 and state["next_batch"] > 0, state
    assert not (sagemaker.model_dir / "model-0000.params").exists()

    sagemaker.failure_file.unlink()
    with open(tmp_path / "resumed.log", "w") as log:
        assert _start(sagemaker, log).wait(timeout=300) == 0
    assert "resuming from the checkpoint" in (tmp_path / "resumed.log").read_text()
    resumed = sagemaker.metrics()

    for name in os.listdir(sagemaker.checkpoint_dir):
        os.remove(sagemaker.checkpoint_dir / name)
    assert main([]) == 0
    uninterrupted = sagemaker.metrics()
    assert resumed["test"] == uninterrupted["test"]
    assert resumed["validation"] == uninterrupted["validation"]
    assert _without_timings(resumed["history"]) == _without_timings(uninterrupted["history"])


def test_sigterm_in_the_refit_resumes_it_and_ends_as_an_uninterrupted_job(sagemaker, small_data, tmp_path):
    _job(sagemaker, small_data, batch_size=4, dropout=0.5, **WIDE_CNN, **dict(PICKED, epochs=2))
    log_path = tmp_path / "interrupted.log"
    with open(log_path, "w") as log:
        process = _start(sagemaker, log)
        deadline = time.time() + 180
        while start_of_the_refit(log_path.read_text()) is None and time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(half_an_epoch(log_path.read_text(), epoch=1))  # the first pass's epoch, on fewer rows
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + 15
    assert start_of_the_refit(log_path.read_text()) is not None
    state = json.loads((sagemaker.checkpoint_dir / "refit" / "state.json").read_text())
    assert state["epoch"] == 1 and state["next_batch"] > 0, state  # stopped in the refit's first epoch
    assert json.loads((sagemaker.checkpoint_dir / "state.json").read_text())["finished"]

    sagemaker.failure_file.unlink()
    with open(tmp_path / "resumed.log", "w") as log:
        assert _start(sagemaker, log).wait(timeout=300) == 0
    resumed_log = (tmp_path / "resumed.log").read_text()
    assert resumed_log.count("resuming at epoch") == 2  # the first pass, finished, then the refit mid-epoch
    resumed = sagemaker.metrics()

    shutil.rmtree(sagemaker.checkpoint_dir)
    assert main([]) == 0
    uninterrupted = sagemaker.metrics()
    assert resumed["test"] == uninterrupted["test"] and resumed["validation"] == uninterrupted["validation"]
    assert _without_timings(resumed["history"]) == _without_timings(uninterrupted["history"])
    assert _without_timings(resumed["refit"]["history"]) == _without_timings(uninterrupted["refit"]["history"])


def test_checkpoint_of_another_job_is_refused(sagemaker, small_data):
    _job(sagemaker, small_data, epochs=1)
    assert main([]) == 0
    sagemaker.write_config(dict(SMALL, epochs=1, seed=7))
    _assert_failed(sagemaker, main([]), "written by a job with other data or hyperparameters")


def _without_timings(history):
    return [{k: v for k, v in row.items() if k not in ("samples_per_second", "epoch_seconds")} for row in history]
