"""The labelled-set trial: which runs it makes on which rows, what it prints, and the train command it runs them
with (this checkout's, not the image's)."""

import argparse
import types

import pytest

from benchmarks import labelled_trial, train_uci
from benchmarks.harness import CHECKOUT_TRAIN_COMMAND, FASTTEXT_SUPERVISED_NAME
from headlines.contract import BASE_DIR_ENV


def _row(number):
    title = f"headline {number}"
    return train_uci.Row(
        f"{number}\t{title}\turl\tpublisher\tb\tstory{number}\thost\t0\n", title, "b", f"story{number}"
    )


def test_each_setting_runs_alone_beside_the_defaults_on_the_same_draw(tmp_path, monkeypatch):
    calls = []

    def ours_labelled(image, draw, splits, vectors, architecture, init, extra):
        calls.append((draw.size, draw.seed, tuple(draw.rows), architecture, init, extra))
        return {"test_accuracy": 0.5 + 0.1 * draw.seed + (0.01 if extra else 0.0)}

    def fasttext_labelled(draw, evaluations, vectors, init):
        calls.append((draw.size, draw.seed, tuple(draw.rows), FASTTEXT_SUPERVISED_NAME, init, evaluations))
        return {"test_accuracy": 0.4}

    monkeypatch.setattr(labelled_trial, "ours_labelled", ours_labelled)
    monkeypatch.setattr(labelled_trial, "fasttext_labelled", fasttext_labelled)
    splits = {"train": [_row(i) for i in range(20)], "fasttext": {"test": "fasttext-test.txt"}}
    settings = {"dropout=0.2": {"dropout": "0.2"}}
    runs = labelled_trial.trial(splits, {}, tmp_path, "cnn", "bin", [5], [1, 2], settings, fasttext=True)

    assert [call[3:] for call in calls] == [
        ("cnn", "bin", {}),
        ("cnn", "bin", {"dropout": "0.2"}),
        (FASTTEXT_SUPERVISED_NAME, "vec", {"test": "fasttext-test.txt"}),
    ] * 2
    for seed in (1, 2):
        drawn = {call[2] for call in calls if call[1] == seed}
        assert len(drawn) == 1 and len(next(iter(drawn))) == 5  # every run of a seed on its one draw
    assert {call[2] for call in calls if call[1] == 1} != {call[2] for call in calls if call[1] == 2}
    assert runs == {
        (5, labelled_trial.DEFAULTS): {1: pytest.approx(0.6), 2: pytest.approx(0.7)},
        (5, "dropout=0.2"): {1: pytest.approx(0.61), 2: pytest.approx(0.71)},
        (5, FASTTEXT_SUPERVISED_NAME): {1: 0.4, 2: 0.4},
    }
    assert not list(tmp_path.iterdir())  # each draw's files removed after its runs


def test_a_line_gives_the_mean_the_seeds_spread_and_each_seed():
    (line,) = labelled_trial.summary_lines({(300, "dropout=0.2"): {1: 0.80, 2: 0.82, 3: 0.84}})
    assert line == "  300 | dropout=0.2                              | 0.8200 +- 0.0200 | 1:0.8000 2:0.8200 3:0.8400"


def test_a_setting_is_a_hyperparameter_and_its_value():
    assert labelled_trial.parse_setting("dropout=0.2") == ("dropout=0.2", {"dropout": "0.2"})
    assert labelled_trial.parse_setting("epochs=60,dropout=0.2") == (
        "epochs=60,dropout=0.2",
        {"epochs": "60", "dropout": "0.2"},
    )
    for text in ("dropout", "=0.2", "dropout=", "epochs=60,", "epochs=60,dropout", "epochs=60,epochs=40"):
        with pytest.raises(argparse.ArgumentTypeError, match="hyperparameter=value"):
            labelled_trial.parse_setting(text)


def test_the_command_line_keeps_sizes_and_settings_apart():
    args = labelled_trial.parser().parse_args(
        ["--sizes", "100", "all", "--settings", "dropout=0.2", "epochs=60", "--seeds", "1", "--fasttext"]
    )
    assert args.sizes == [100, train_uci.ALL] and args.seeds == [1] and args.fasttext
    assert dict(args.settings) == {"dropout=0.2": {"dropout": "0.2"}, "epochs=60": {"epochs": "60"}}
    assert labelled_trial.parser().parse_args([]).settings == []


@pytest.mark.parametrize("image", [None, "headlines-train:cpu"])
def test_a_job_runs_the_images_train_command_or_without_an_image_this_checkouts(tmp_path, monkeypatch, image):
    seen = []

    def run(command, capture_output, text, env):
        seen.append((command, env))
        return types.SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(train_uci.subprocess, "run", run)
    train_uci.train_command(image, types.SimpleNamespace(base=tmp_path), "cnn")
    ((command, env),) = seen
    if image is None:
        assert command == [CHECKOUT_TRAIN_COMMAND] and env[BASE_DIR_ENV] == str(tmp_path)
    else:
        assert command == ["docker", "run", "--rm", "-v", f"{tmp_path}:/opt/ml", image, "train"] and env is None
