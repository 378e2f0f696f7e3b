"""The serving benchmark's side-by-side with AWS's MXNet toolkit: the report's goal table and the benchmark's pure
parts (comparing both servers' answers, reading process memory)."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import report, serve_load


def side(rps8=1000.0, p99_8=10.0, rps32=1000.0, p99_32=40.0, thousand=45.0, ping=0.8, first=0.9, rss=500, pss=400):
    loads = [
        {"concurrency": 1, "requests_per_second": 800.0, "p50_ms": 1.2, "p99_ms": 2.0, "failed": 0},
        {"concurrency": 8, "requests_per_second": rps8, "p50_ms": 5.0, "p99_ms": p99_8, "failed": 0},
        {"concurrency": 32, "requests_per_second": rps32, "p50_ms": 20.0, "p99_ms": p99_32, "failed": 1},
    ]
    return {
        "single_headline": loads,
        "thousand_headlines": {"runs_ms": [thousand] * 5, "p50_ms": thousand},
        "cold_start": {"ping_seconds": ping, "first_prediction_seconds": first},
        "memory": {"processes": [], "rss_mib": rss, "pss_mib": pss},
    }


def rows_by_figure(rows):
    return {row[0]: row for row in rows}


def test_goals_compare_ours_with_the_toolkits_figure_or_a_limit():
    twice = report.Goal(at_least=True, ratio=2)
    assert twice.met(200, 100) and not twice.met(199, 100) and twice.text() == ">= 2x toolkit"
    half = report.Goal(at_least=False, ratio=0.5)
    assert half.met(50, 100) and not half.met(51, 100) and half.text() == "<= 0.5x toolkit"
    limit = report.Goal(at_least=False, limit=50, unit="ms")
    assert limit.met(50, None) and not limit.met(50.1, 1) and limit.text() == "<= 50 ms"
    assert twice.met(None, 100) is None and twice.met(100, None) is None and twice.met(100, 0) is None


def test_the_table_shows_means_of_the_rounds_ratios_and_whether_each_goal_is_met():
    rounds = [
        {"ours": side(rps8=2100.0, p99_8=4.0), "toolkit": side(rps8=1000.0, p99_8=10.0)},
        {"ours": side(rps8=1900.0, p99_8=6.0), "toolkit": side(rps8=1000.0, p99_8=10.0)},
    ]
    rows = rows_by_figure(report.toolkit_rows(rounds, 200e6, 850e6))
    # c=8 req/s: ours 2,000 on average against 1,000, exactly the goal of 2x.
    assert rows["c=8 req/s"] == [
        "c=8 req/s",
        "2,000 (2,100; 1,900)",
        "1,000 (1,000; 1,000)",
        "2.00x",
        ">= 2x toolkit",
        "met",
    ]
    assert rows["c=8 p99 ms"][1:] == ["5.00 (4.00; 6.00)", "10.0 (10.0; 10.0)", "0.50x", "<= 0.5x toolkit", "met"]
    # c=32: the same throughput, short of 1.5x; p99 equal, within 1x.
    assert rows["c=32 req/s"][3:] == ["1.00x", ">= 1.5x toolkit", "**missed**"]
    assert rows["c=32 p99 ms"][3:] == ["1.00x", "<= 1x toolkit", "met"]
    assert rows["failed requests, all loads"][1:] == ["1 (1; 1)", "1 (1; 1)", "1.00x", "", "-"]
    assert rows["1,000 headlines ms (median of 5)"][4:] == ["<= 50 ms", "met"]
    assert rows["cold start to first prediction s"][4:] == ["<= 1 s", "met"]
    assert rows["memory: sum of PSS MiB"][3:] == ["1.00x", "<= 0.5x toolkit", "**missed**"]
    assert rows["image MB"] == ["image MB", "200", "850", "0.24x", "<= 250 MB", "met"]
    assert rows["c=1 p50 ms"][4:] == ["", "-"]


def test_one_round_shows_plain_figures_and_absolute_goals_ignore_the_toolkit():
    rows = rows_by_figure(report.toolkit_rows([{"ours": side(ping=1.5), "toolkit": side(ping=5.0)}], 300e6, 850e6))
    assert rows["cold start to /ping 200 s"][1:] == ["1.50", "5.00", "0.30x", "<= 1 s", "**missed**"]
    assert rows["image MB"][-1] == "**missed**"


def test_the_section_says_plainly_when_the_toolkit_was_not_measured():
    assert "predates" in report.serving_against_toolkit({})[0]
    assert report.serving_against_toolkit({"toolkit": {"skipped": "no toolkit image"}}) == [
        "Not measured in this run: no toolkit image."
    ]


def test_the_section_renders_a_measured_record():
    rounds = [{"round": 1, "ours": side(), "toolkit": side(), "max_probability_difference": 3e-8}]
    record = {
        "image_bytes": 200e6,
        "images": {"headlines-serve:cpu": "sha256:aaaaaaaaaaaa", "headlines-bench-toolkit:cpu": "sha256:bbbbbbbbbbbb"},
        "toolkit": {
            "image": "headlines-bench-toolkit:cpu",
            "measured_images": {
                "headlines-serve:cpu": "sha256:aaaaaaaaaaaa",
                "headlines-bench-toolkit:cpu": "sha256:bbbbbbbbbbbb",
            },
            "image_bytes": 850e6,
            "workers": 2,
            "rounds": 1,
            "seconds_per_run": 3,
            "thousand_runs": 5,
            "agreement_headlines": 8,
            "quick_scope": "one round, fasttext only",
            "architectures": {"fasttext": rounds},
        },
    }
    blocks = report.serving_against_toolkit(record)
    assert "Quick run: one round, fasttext only." in blocks[0] and blocks[1] == "fasttext:"
    assert blocks[2].startswith("| figure | ours | toolkit | ours / toolkit | goal | met? |")
    assert "differ by at most 3e-08" in blocks[3]
    # A build that moved a tag during the run: the record's image is not the one measured, and the page says so.
    record["images"]["headlines-serve:cpu"] = "sha256:cccccccccccc"
    blocks = report.serving_against_toolkit(record)
    assert blocks[1] == "Measured from `headlines-serve:cpu` aaaaaaaaaaaa: a build moved the tag during the run."


def prediction(label, probabilities, name=None):
    return {
        "label": label,
        "label_name": name or label,
        "probability": probabilities[label],
        "probabilities": probabilities,
    }


def test_both_servers_answers_are_compared_probability_by_probability():
    ours = [prediction("b", {"b": 0.9, "e": 0.1}), prediction("e", {"e": 0.6, "b": 0.4})]
    close = [prediction("b", {"b": 0.9000004, "e": 0.0999996}), prediction("e", {"e": 0.6, "b": 0.4})]
    assert serve_load.prediction_difference(ours, close) == pytest.approx(4e-7)
    assert serve_load.prediction_difference(ours, ours) == 0
    assert serve_load.prediction_difference(ours, ours[:1]) is None
    assert serve_load.prediction_difference(ours, [ours[0], prediction("e", {"e": 0.6, "b": 0.4}, "other")]) is None
    assert serve_load.prediction_difference(ours, [ours[0], prediction("e", {"e": 0.6, "t": 0.4})]) is None


def test_the_memory_script_reads_rss_and_pss_of_other_processes_and_leaves_itself_out():
    result = subprocess.run([sys.executable, "-c", serve_load.PROCESS_MEMORY_SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    processes = [json.loads(line) for line in result.stdout.splitlines()]
    ours = [p for p in processes if p["pid"] == os.getpid()]  # this test's process, readable by its own user
    assert len(ours) == 1 and ours[0]["pss_kib"] <= ours[0]["rss_kib"] and ours[0]["rss_kib"] > 10_000
    assert all(p["ppid"] != os.getpid() for p in processes)  # the script itself, this process's child


def _fake_training(monkeypatch, image_ids):
    """serve_load.train_models with jobs that only write a model file, and images whose ID the test sets."""
    trained = []

    def run_job(image, base, architecture, train, test_file, keep):
        assert keep  # the load test serves these models
        (base / "model").mkdir(parents=True, exist_ok=True)
        (base / "model" / "model-symbol.json").write_text("{}")
        trained.append(architecture)

    monkeypatch.setattr(serve_load, "run_job", run_job)
    monkeypatch.setattr(serve_load, "image_id", lambda image: image_ids[image])
    return trained


def test_reused_models_keep_the_id_of_the_image_that_trained_them(tmp_path, monkeypatch):
    data = type("Data", (), {"source": "generated", "train": "train.tsv", "test": "test.tsv"})()
    trained = _fake_training(monkeypatch, {"train:old": "sha256:old", "train:new": "sha256:new"})
    _, first = serve_load.train_models(tmp_path, "train:old", data, reuse=False)
    models, reused = serve_load.train_models(tmp_path, "train:new", data, reuse=True)
    assert (first, reused) == ("sha256:old", "sha256:old") and trained == list(serve_load.ARCHITECTURES)
    assert set(models) == set(serve_load.ARCHITECTURES)
    _, retrained = serve_load.train_models(tmp_path, "train:new", data, reuse=False)
    assert retrained == "sha256:new"


def test_a_reused_model_without_its_record_is_trained_again_and_two_images_are_not_mixed(tmp_path, monkeypatch):
    data = type("Data", (), {"source": "generated", "train": "train.tsv", "test": "test.tsv"})()
    monkeypatch.setattr(serve_load, "ARCHITECTURES", ("fasttext", "cnn"))
    trained = _fake_training(monkeypatch, {"train:old": "sha256:old", "train:new": "sha256:new"})
    serve_load.train_models(tmp_path, "train:old", data, reuse=False)
    (tmp_path / "fasttext" / serve_load.TRAINED_BY).unlink()  # as an older harness left it: no record
    trained.clear()
    with pytest.raises(SystemExit, match="different images"):
        serve_load.train_models(tmp_path, "train:new", data, reuse=True)
    assert trained == ["fasttext"]


def test_the_serving_section_shows_pings_beside_the_largest_requests_when_the_record_has_them():
    record = json.loads((report.PUBLISHED_RECORDS / "serve.json").read_text())
    for result in record["architectures"].values():
        result.pop("ping_beside_largest_requests", None)
    assert not any("beside the largest" in block for block in report.serving(record))  # a record from before them
    for architecture, result in record["architectures"].items():
        result["ping_beside_largest_requests"] = {
            "endpoint": {"body_mib": 6.0, "ping_ms": [5.0, 41.5 if architecture == "cnn" else 12.0]},
            "batch transform": {"body_mib": 100.0, "ping_ms": [7.5, 98.0]},
        }
    table = next(block for block in report.serving(record) if "beside the largest requests: batch" in block)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "| 41.5 (6.0 MiB bodies, 2 pings) | 98.0 (100.0 MiB bodies, 2 pings) |" in rows["cnn"]
    assert "| 12.0 (6.0 MiB bodies, 2 pings) |" in rows["fasttext"]
