"""scripts/demo.py's pieces that need no Docker or SDK: the demo's data choices (its own data or DATA/CORPUS), the
GPU image only on GPUs it has code for, and the terminal that shows the steps while the log takes the rest."""

import argparse
import os
import subprocess
import sys

import pytest

from tests.support.repo import REPO, load_script

demo = load_script("demo")


def test_demo_uses_its_own_data_by_default(tmp_path, capsys):
    headlines, test, corpus, transform_input = demo.prepare_data(
        argparse.Namespace(data=None, corpus=None), str(tmp_path), demo.Progress()
    )
    assert headlines.endswith("headlines") and test.endswith("headlines-test") and corpus.endswith("corpus")
    titles = open(transform_input, encoding="utf-8").read().splitlines()
    assert len(titles) == sum(1 for _ in open(f"{test}/test.tsv", encoding="utf-8"))
    assert "==> [1/5] Data" in capsys.readouterr().out


def test_demo_takes_your_data_and_corpus(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("title,category\nMarkets rally,b\nNew phone,t\n")
    corpus = tmp_path / "text"
    corpus.mkdir()
    headlines, test, chosen_corpus, transform_input = demo.prepare_data(
        argparse.Namespace(data=str(data), corpus=str(corpus)), str(tmp_path / "out"), demo.Progress()
    )
    # A file gets a folder of its own (local mode would mount everything beside it); a folder is used as is.
    assert (test, chosen_corpus) == (None, str(corpus))
    assert os.listdir(headlines) == ["mine.csv"] and headlines.startswith(str(tmp_path / "out"))
    assert open(transform_input, encoding="utf-8").read().splitlines() == demo.EXAMPLE_HEADLINES
    assert not (tmp_path / "out" / "data" / "headlines").exists()  # nothing generated that is not used

    _, _, generated_corpus, _ = demo.prepare_data(
        argparse.Namespace(data=str(data), corpus=None), str(tmp_path / "out2"), demo.Progress()
    )
    assert generated_corpus.endswith("corpus")


def test_demo_refuses_data_that_is_not_there(tmp_path):
    with pytest.raises(SystemExit, match="nope does not exist"):
        demo.prepare_data(argparse.Namespace(data=str(tmp_path / "nope"), corpus=None), str(tmp_path), demo.Progress())


@pytest.mark.parametrize(
    "listing,expected",
    [
        (None, ("local", "no NVIDIA GPU")),
        ("NVIDIA A10G, 8.6\nNVIDIA A10G, 8.6", ("local_gpu", "NVIDIA GPUs")),
        (
            "NVIDIA H100 80GB HBM3, 9.0",
            ("local", "NVIDIA H100 80GB HBM3 has compute capability 9.0, which the GPU image has no code for"),
        ),
        ("", ("local_gpu", "NVIDIA GPUs")),  # a driver before R510 cannot say: the job's own check decides
    ],
)
def test_demo_uses_the_gpu_image_only_on_gpus_it_has_code_for(tmp_path, monkeypatch, listing, expected):
    """A fake nvidia-smi on the PATH: `-L` lists the GPUs, the query prints name and compute capability."""
    if listing is not None:
        fake = tmp_path / "nvidia-smi"
        query = f"printf '%s\\n' {' '.join(repr(line) for line in listing.splitlines())}" if listing else "exit 6"
        fake.write_text(f'#!/bin/sh\nif [ "$1" = -L ]; then echo "GPU 0: fake"; exit 0; fi\n{query}\n')
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert demo.choose_instance_type() == expected


OUTPUT_TO_LOG = """
import subprocess, sys
sys.path.insert(0, "scripts")
import demo
print("before")
with demo.output_to_log(sys.argv[1]) as terminal:
    print("sdk notice")
    print("sdk warning", file=sys.stderr)
    subprocess.run(["echo", "container log"], check=True)
    demo.Progress(terminal).step(1, "Data")
print("after")
"""


def test_the_demo_terminal_shows_steps_and_the_log_takes_the_rest(tmp_path):
    log = tmp_path / "demo.log"
    result = subprocess.run(
        [sys.executable, "-c", OUTPUT_TO_LOG, str(log)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO / "code")),
        check=True,
    )
    assert result.stdout.split() == ["before", "==>", "[1/5]", "Data", "(+0", "s)", "after"]
    assert result.stderr == ""
    assert log.read_text().splitlines() == ["sdk notice", "sdk warning", "container log"]
