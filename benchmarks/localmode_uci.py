"""Local-mode benchmark with the SageMaker SDK v2: the classifier on the UCI News Aggregator story split with one
host and with two hosts (instance_count=2: MXNet's parameter server across two containers), default
hyperparameters; the workshop's word-vector job (mode=batch_skipgram) on WikiText-2 with one host and with two;
and the wall time of `make demo`'s script with the images already built. The anchor is the one-host job of the
same run. Writes bench-results/localmode.json.

    make bench-localmode     (QUICK=1: the generated data, 20,000 n-gram buckets, 2 epochs, no demo)
"""

import argparse
import json
import pathlib
import re
import subprocess
import tarfile
import tempfile
import time

from benchmarks.harness import PAIRS, QUICK, REPO, bench_data, full_or_quick, write_corpus, write_result

# Quick runs keep the two-host job short: the dense embedding gradient every step is (words + buckets) x dim.
HYPERPARAMETERS = full_or_quick({}, {"ngram_buckets": 20000, "epochs": 2})
# The workshop's BlazingText job: batch_skipgram, no subwords, BlazingText's other defaults.
WORD_VECTORS = {"mode": "batch_skipgram", "epochs": full_or_quick(5, 1)}


def sdk_python():
    return subprocess.run(
        [str(REPO / "scripts" / "sdk-venv.sh"), "v2"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _timed(command):
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{command[1:3]} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout + result.stderr, time.time() - started


def launch_training(python, image, channels, output, instance_count, hyperparameters):
    """A local-mode training job through scripts/launch.py; returns its log, wall seconds and metrics.json."""
    log, seconds = _timed(
        [
            python,
            str(REPO / "scripts" / "launch.py"),
            "train",
            "--image",
            image,
            "--instance-count",
            str(instance_count),
            *[item for name, path in channels.items() for item in ("--channel", f"{name}=file://{path}")],
            "--output",
            f"file://{output}",
            *[item for name, value in hyperparameters.items() for item in ("--hp", f"{name}={value}")],
        ]
    )
    with tarfile.open(output / "output.tar.gz") as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("metrics.json"))
        metrics = json.load(archive.extractfile(member))
    return log, seconds, metrics


def train(python, image, data_set, folder, instance_count):
    data = folder / "data"
    for channel, source in (("train", data_set.train), ("test", data_set.test)):
        (data / channel).mkdir(parents=True, exist_ok=True)
        (data / channel / f"{channel}.tsv").write_bytes(source.read_bytes())
    channels = {"train": data / "train", "test": data / "test"}
    log, seconds, metrics = launch_training(
        python, image, channels, folder / f"hosts-{instance_count}", instance_count, HYPERPARAMETERS
    )
    # The first pass's epochs (a refit's lines have no validation figures): one pass's epochs, alike on both sides.
    epoch_seconds = [float(s) for s in re.findall(r"algo-1-\w+\s*\|.*validation_loss=.*epoch_seconds=([0-9.]+)", log)]
    return {
        "hosts": instance_count,
        "kvstore": metrics["kvstore"],
        "steps": metrics["steps"],
        "bytes_exchanged_per_epoch": metrics["bytes_exchanged_per_epoch"],
        "test_accuracy": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "mean_epoch_seconds": sum(epoch_seconds) / len(epoch_seconds),
        "job_wall_seconds": round(seconds, 1),
    }


def word_vectors(python, image, data_set, folder, instance_count):
    corpus, pairs = folder / "corpus", folder / "pairs"
    corpus.mkdir(exist_ok=True)
    pairs.mkdir(exist_ok=True)
    write_corpus(data_set, corpus / "corpus.txt")
    (pairs / PAIRS.name).write_bytes(PAIRS.read_bytes())
    log, seconds, metrics = launch_training(
        python,
        image,
        {"train": corpus, "evaluation": pairs},
        folder / f"vectors-{instance_count}",
        instance_count,
        WORD_VECTORS,
    )
    return {
        "hosts": instance_count,
        "loss": metrics["history"][-1]["loss"],
        "rho": metrics["evaluation"][PAIRS.name]["spearmans_rho"],
        "words_per_second_per_host": metrics["words_per_second"],
        "train_seconds": metrics["train_seconds"],
        "bytes_exchanged_per_epoch": metrics.get("bytes_exchanged_per_epoch", 0),
        "vocabulary_size": metrics["vocabulary_size"],
        "epoch_tokens": metrics["epoch_tokens"],
        "job_wall_seconds": round(seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="headlines-train:cpu")
    args = parser.parse_args()
    data = bench_data()
    python = sdk_python()
    demo_seconds = None
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        rows = [train(python, args.image, data, folder, count) for count in (1, 2)]
        vectors = [word_vectors(python, args.image, data, folder, count) for count in (1, 2)]
        for row in rows + vectors:
            print(row, flush=True)
        if not QUICK:
            _, demo_seconds = _timed([python, str(REPO / "scripts" / "demo.py"), "--output", str(folder / "demo")])
    write_result(
        "localmode",
        "bench-localmode",
        "the one-host job of the same run",
        data=data,
        images=[args.image],
        hyperparameters=HYPERPARAMETERS,
        training=rows,
        word_vector_hyperparameters=WORD_VECTORS,
        word_vectors=vectors,
        demo_seconds_images_built=demo_seconds and round(demo_seconds, 1),
    )


if __name__ == "__main__":
    main()
