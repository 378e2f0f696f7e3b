"""The training benchmark's pure parts, without Docker or real data: the labelled subsets, the unseen-word
headlines, which extra runs a size gets, the quick run's sizes, and the report's aggregation over seeds."""

import json
import os
import pathlib
import subprocess
import sys
import types

import pytest

from benchmarks import report, train_uci
from benchmarks.harness import REPO
from headlines.classifier.recipe import MIN_SELECTION_ROWS
from headlines.data.splits import split_validation
from headlines.hyperparameters import Hyperparameters


def row(title, label="b"):
    return train_uci.Row(f"1\t{title}\turl\tpublisher\t{label}\tstory\thost\t0\n", title, label, "story")


def run(labelled, seed, architecture, init, accuracy, **more):
    return {
        "labelled": labelled,
        "seed": seed,
        "architecture": architecture,
        "init": init,
        "test_accuracy": accuracy,
        **more,
    }


def test_each_seed_labels_its_own_subset_and_all_rows_are_all_rows():
    rows = [row(f"headline {i}") for i in range(50)]
    first, again, other = (train_uci.labelled_subset(rows, 10, seed) for seed in (1, 1, 2))
    assert len(first) == 10 and first == again and first != other
    assert set(first) <= set(rows)
    assert train_uci.labelled_subset(rows, train_uci.ALL, 3) == rows


def test_unseen_headlines_are_those_with_a_word_no_labelled_row_has():
    labelled = [row("Stocks rally as rates hold"), row("Central bank holds rates")]
    test = [row("STOCKS hold"), row("Zorblax stocks rally"), row("rates, rates!"), row("Glimmerphone sales")]
    assert train_uci.unseen_mask(test, labelled) == [False, True, True, True]  # "," and "!" are tokens too
    assert train_uci.unseen_mask(test[:1], labelled) == [False]  # lower-cased, as the job tokenises by default


def test_unseen_word_accuracy_scores_the_unseen_headlines_apart(monkeypatch):
    labelled = [row("stocks rally")]
    test = [row("stocks rally", "b"), row("zorblax rally", "t"), row("glimmer stocks", "e"), row("stocks", "m")]
    monkeypatch.setattr(train_uci, "predicted_labels", lambda model_dir, titles: ["b", "t", "b", "b"])
    figures = train_uci.unseen_word_accuracy("model", test, labelled)["unseen"]
    assert figures == {"headlines": 2, "accuracy": 0.5, "test_accuracy": 0.5}


def _settings(quick, expression):
    """`expression` over benchmarks.train_uci (as t), evaluated in a fresh process of a quick or a full run: the
    module reads QUICK once, at import."""
    environment = {key: value for key, value in os.environ.items() if key != "QUICK"}
    if quick:
        environment["QUICK"] = "1"
    code = f"import json; from benchmarks import train_uci as t; print(json.dumps({expression}))"
    result = subprocess.run([sys.executable, "-c", code], env=environment, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_extra_runs_add_goal_three_and_the_ablation_without_repeating_section_two():
    extra_100, extra_300, no_words, old_recipe = _settings(
        False, "[t.extra_runs(100), t.extra_runs(300), t.NO_PRETRAINED_WORDS, t.OLD_RECIPE]"
    )
    assert extra_100[0] == ["bin", no_words] and extra_100.count(extra_100[0]) == 1
    assert ["none", {}] not in extra_100 and ["bin", {}] not in extra_100
    assert ["vec", {}] in extra_100 and ["bin", old_recipe] in extra_100
    assert extra_300 == []


def test_a_quick_run_is_small():
    sizes, seeds, architectures, unseen, ablation, extra_100, extra_all = _settings(
        True,
        "[t.LABELLED_SIZES, t.SEEDS, t.ARCHITECTURES, t.UNSEEN_SIZES, t.ABLATION_SIZES, t.extra_runs(100), "
        "t.extra_runs(t.ALL)]",
    )
    assert (sizes, seeds, architectures, unseen, ablation) == ([100], [1], ["fasttext"], [100], [])
    assert extra_100 == [["bin", {"pretrained_words": "0"}]] and extra_all == []


def fake_runs():
    return [
        run(100, 1, "fasttext", "none", 0.5),
        run(100, 2, "fasttext", "none", 0.6),
        run(100, 3, "fasttext", "none", 0.7),
        run(100, 1, "fasttext", "bin", 0.8),
        run(100, 2, "fasttext", "bin", 0.8),
        run(100, 1, "fastText supervised", "vec", 0.4),
        run(1000, 1, "fasttext", "none", 0.9),
    ]


def test_the_report_groups_runs_by_size_model_and_initialisation_over_seeds():
    summary = report.labelled_summary(fake_runs())
    assert list(summary) == [
        (100, "ours fasttext", "none"),
        (100, "ours fasttext", "bin"),
        (100, "fastText supervised", "vec"),
        (1000, "ours fasttext", "none"),
    ]
    mean, sd = summary[(100, "ours fasttext", "none")]
    assert mean == pytest.approx(0.6) and sd == pytest.approx((0.02 / 3) ** 0.5)  # population sd
    assert summary[(100, "ours fasttext", "bin")] == pytest.approx((0.8, 0.0))


def test_the_labelled_table_pairs_no_vectors_with_vectors_and_gives_the_gain():
    rows = report.labelled_rows(report.labelled_summary(fake_runs()))
    assert rows[0] == ["100", "ours fasttext", "0.6000 ± 0.0816", "0.8000 ± 0.0000", "+20.00"]
    assert rows[1] == ["100", "fastText supervised", "-", "0.4000 ± 0.0000", "-"]
    assert rows[2] == ["1,000", "ours fasttext", "0.9000 ± 0.0000", "-", "-"]


def test_the_goal_three_and_ablation_tables_come_from_the_records_runs():
    without = train_uci.NO_PRETRAINED_WORDS
    unseen = [{"headlines": h, "accuracy": a, "test_accuracy": 0.9} for h, a in ((10, 0.6), (20, 0.8), (10, 0.3))]
    record = {
        "rows": {"test": 500},
        "labelled": [
            run(100, 1, "fasttext", "bin", 0.7, hyperparameters={}, unseen=unseen[0]),
            run(100, 2, "fasttext", "bin", 0.9, hyperparameters={}, unseen=unseen[1]),
            run(100, 1, "fasttext", "none", 0.5, hyperparameters={}),
            run(100, 1, "fastText supervised", "none", 0.1),
        ],
        "variants": [run(100, 1, "fasttext", "bin", 0.6, hyperparameters=without, unseen=unseen[2])],
        "ablation": [
            {"name": "none", "init": "none", "hyperparameters": {}},
            {"name": "subwords", "init": "bin", "hyperparameters": without},
            {"name": "both", "init": "bin", "hyperparameters": {}},
        ],
        "ablation_sizes": [100, 1000],
    }
    assert report.unseen_rows(record) == [["100", "15 of 500", "0.7000 ± 0.1000", "0.3000 ± 0.0000"]]
    assert report.ablation_rows(record) == [
        ["none", "0.5000 ± 0.0000", "-"],
        ["subwords", "0.6000 ± 0.0000", "-"],
        ["both", "0.8000 ± 0.1000", "-"],
    ]


@pytest.mark.parametrize("size", [100, 4000])
def test_fasttext_picks_its_epochs_on_the_rows_ours_picks_on_and_only_then(tmp_path, monkeypatch, size):
    """Ours holds out its own validation part (split_validation, the job's fraction and seed) and picks its epoch
    there when it has MIN_SELECTION_ROWS rows; fastText must get that choice on those rows, and no choice otherwise."""
    rows = [row(f"headline {i}", "be"[i % 2])._replace(group=f"story {i}") for i in range(size)]
    draw = train_uci.Draw(size, 1, rows, tmp_path / "train.tsv", tmp_path / "ft-all.txt", tmp_path)
    calls = []
    by_epochs = {
        epochs: {"validation": 0.5 + epochs / 100, "test": epochs / 100} for epochs in train_uci.SELECTION_EPOCHS
    }
    by_epochs[10]["validation"] = 0.99  # best on validation, not on test

    def fake_accuracy(train_file, files, vectors, epoch=5, seed=0):
        lines = pathlib.Path(train_file).read_text().splitlines() if pathlib.Path(train_file).exists() else []
        calls.append((pathlib.Path(train_file).name, len(lines), epoch, sorted(files)))
        every_row = pathlib.Path(train_file).name == "ft-all.txt"
        return {"test": 0.5 + epoch / 100} if every_row and size > 100 else by_epochs[epoch]

    monkeypatch.setattr(train_uci, "fasttext_accuracy", fake_accuracy)
    result = train_uci.fasttext_labelled(draw, {"test": "test.txt"}, {"vec": None}, "vec")
    if size == 100:  # 10 validation rows: ours picks nothing, fastText trains on every row with its defaults
        assert calls == [("ft-all.txt", 0, 5, ["test"])]
        assert result["test_accuracy"] == by_epochs[5]["test"] and "epochs_chosen" not in result
    else:
        train_part, validation_part = split_validation(rows, Hyperparameters().validation_fraction, 1)
        assert len(validation_part) >= MIN_SELECTION_ROWS
        picking, refit = calls[:-1], calls[-1]
        assert {(name, lines) for name, lines, _, _ in picking} == {("fasttext-train-part.txt", len(train_part))}
        assert [epoch for _, _, epoch, _ in picking] == list(train_uci.SELECTION_EPOCHS)
        # Then, as ours refits, every row for the epochs picked: that model's test accuracy is the one reported.
        assert refit == ("ft-all.txt", 0, 10, ["test"])
        assert result["epochs_chosen"] == 10 and result["test_accuracy_before_refit"] == 0.1
        assert result["test_accuracy"] == 0.6
        validation_file = tmp_path / "fasttext-validation.txt"
        assert len(validation_file.read_text().splitlines()) == len(validation_part)


def test_scale_rows_repeat_the_headlines_with_their_own_ids_and_stories():
    rows = [row("fed raises rates"), row("apple beats views", "t")]
    scaled = train_uci.scale_rows(rows, 5)
    assert [r.title for r in scaled] == [rows[i % 2].title for i in range(5)]
    assert len({r.line.split("\t")[0] for r in scaled}) == 5 and scaled[4].group == "story-2"
    assert all(r.line.split("\t")[5] == r.group and r.line.endswith("\n") for r in scaled)


def test_the_speed_tables_set_ours_against_fastText_per_headline():
    ours = {"architecture": "fasttext", "embeddings": "none", "steps": "compiled-cpu", "headlines_per_second": 40000.0,
            "peak_resident_mb": 900.0, "job_wall_seconds": 50.0, "test_accuracy": 0.91}  # fmt: skip
    record = {
        "rows": {"train": 1000},
        "fasttext_threads": 2,
        "results": [ours],
        "fasttext": [
            {"embeddings": "none", "one_thread": {"train_seconds": 0.05}, "default_epochs": {"train_seconds": 0.025}}
        ],
        "scale": {"rows": 4000, "epochs": 3, "ours": ours, "fasttext": {"1": {"train_seconds": 0.3, "test": 0.88},
                                                                         "2": {"train_seconds": 0.2, "test": 0.87}}},
    }  # fmt: skip
    lines = "\n".join(report._speed(record))
    # fastText: 1,000 rows x 5 epochs in 0.05 s on one thread, 0.025 s on two; at scale 4,000 x 3 in 0.3 / 0.2 s.
    assert "| ours, fasttext (compiled-cpu steps) | none | 40,000 | 200,000 | 0.200 | 100,000 | 900 |" in lines
    assert "| fastText supervised, 1 thread | 40,000 | 0.30 | - | 0.8800 |" in lines
    assert "| fastText supervised, 2 threads | 60,000 | 0.20 | - | 0.8700 |" in lines


def _bench_splits(tmp_path, train_rows=20, test_rows=10):
    """train_uci.prepare_splits on UCI-layout files of generated rows, each its own story; and the files' lines."""
    rows = train_rows + test_rows
    lines = [row(f"Headline {i} here", "bet"[i % 3]).line.replace("story", f"story{i}") for i in range(rows)]
    data = types.SimpleNamespace(train=tmp_path / "train.csv", test=tmp_path / "test.csv")
    data.train.write_text("".join(lines[:train_rows]), encoding="utf-8")
    data.test.write_text("".join(lines[train_rows:]), encoding="utf-8")
    return train_uci.prepare_splits(data, tmp_path / "bench"), lines


def test_each_part_is_written_once_for_our_jobs_and_for_fastText(tmp_path):
    """Every section reads the same files: our channels' in the original layout, fastText's labelled and tokenised."""
    splits, lines = _bench_splits(tmp_path)
    assert sorted(r.line for r in splits["train"] + splits["validation"]) == sorted(lines[:20])
    assert splits["validation"] and [r.line for r in splits["test"]] == lines[20:]
    for name in ("train", "validation", "test"):
        assert splits["files"][name].read_text(encoding="utf-8") == "".join(r.line for r in splits[name])
        fasttext_lines = pathlib.Path(splits["fasttext"][name]).read_text(encoding="utf-8").splitlines()
        assert fasttext_lines == [f"__label__{r.label} headline {r.title.split()[1]} here" for r in splits[name]]


def test_the_speed_pairs_alternate_ours_and_fastText_on_the_same_rows(tmp_path, monkeypatch):
    """Ours, then fastText, then ours again: each pair's rates come from its own two runs."""
    calls, rates = [], iter([30000.0, 45000.0])
    splits, _ = _bench_splits(tmp_path)

    def run_job(image, base, architecture, train_file, **channels):
        calls.append(("ours", architecture, pathlib.Path(train_file).read_text()))
        return {"headlines_per_second": next(rates)}

    def fasttext_accuracy(train_file, evaluations):
        calls.append(("fastText", pathlib.Path(train_file).read_text().count("\n")))
        return {"train_seconds": 0.0001}

    monkeypatch.setattr(train_uci, "run_job", run_job)
    monkeypatch.setattr(train_uci, "fasttext_accuracy", fasttext_accuracy)
    monkeypatch.setattr(train_uci, "SPEED_PAIRS", 2)
    pairs = train_uci.speed_pairs("image", splits, tmp_path)
    ours_rows, rows = "".join(r.line for r in splits["train"]), len(splits["train"])
    assert calls == [("ours", "fasttext", ours_rows), ("fastText", rows)] * 2
    fasttext_rate = rows * 5 / 0.0001  # rows x fastText's 5 epochs over its seconds
    assert pairs == [{"ours": 30000.0, "fasttext": fasttext_rate}, {"ours": 45000.0, "fasttext": fasttext_rate}]


def test_the_speed_pairs_report_the_median_and_range_of_their_ratios():
    pairs = [{"ours": 50000.0, "fasttext": 200000.0}, {"ours": 40000.0, "fasttext": 100000.0},
             {"ours": 30000.0, "fasttext": 200000.0}]  # fmt: skip
    lines = "\n".join(report._speed_pairs({"speed_pairs": pairs, "fasttext_threads": 2}))
    assert "3 more pairs" in lines
    assert "| 40,000 (30,000-50,000) | 200,000 (100,000-200,000) | 0.250 (0.150-0.400) |" in lines
    assert "next `make bench-train`" in "\n".join(report._speed_pairs({"fasttext_threads": 2}))


def _run_job_with(train_command, tmp_path, monkeypatch, base, **options):
    """train_uci.run_job on a one-row file, its container replaced by train_command(image, fake, architecture)."""
    monkeypatch.setattr(train_uci, "train_command", train_command)
    monkeypatch.setattr(train_uci.FakeSageMaker, "metrics", lambda self: {})
    monkeypatch.setattr(train_uci, "job_figures", lambda *figures: {})
    train_file = tmp_path / "train.tsv"
    train_file.write_text("headline\tb\n")
    train_uci.run_job("headlines-train:cpu", base, "cnn", train_file, **options)


def test_a_job_starts_in_an_empty_folder_whatever_an_earlier_run_left_there(tmp_path, monkeypatch):
    """bench-serve trains its models in the same folders every run: the cnn's job refused the checkpoint a run with
    MXNet's steps had left there."""
    base = tmp_path / "cnn"
    (base / "checkpoints").mkdir(parents=True)
    (base / "checkpoints" / "state.json").write_text("{}")
    found = []

    def train_command(image, fake, architecture):
        found.append(sorted(path.name for path in fake.checkpoint_dir.glob("*")))
        return 1.0

    _run_job_with(train_command, tmp_path, monkeypatch, base)
    assert found == [[]]


def test_a_jobs_folder_is_deleted_after_it_unless_kept(tmp_path, monkeypatch):
    """Twelve word-vector quality jobs kept their folders, ~1 GB each: the quick benchmark peaked at 13 GB."""

    def train_command(image, fake, architecture):
        fake.model_dir.mkdir(parents=True)
        (fake.model_dir / "model-0000.params").write_bytes(b"weights")
        return 1.0

    _run_job_with(train_command, tmp_path, monkeypatch, tmp_path / "deleted")
    _run_job_with(train_command, tmp_path, monkeypatch, tmp_path / "kept", keep=True)
    assert not (tmp_path / "deleted").exists() and (tmp_path / "kept" / "model").is_dir()
