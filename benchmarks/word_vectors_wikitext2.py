"""Word-vector benchmark on WikiText-2 valid + test, lower-cased, CPU, 2 threads, against Facebook's fastText
`train_unsupervised` with the same settings, alternating, in one run:

1. speed: words/s and peak memory of our job (the `train` command, as the image runs it) and fastText, for each
   mode: skipgram and cbow with and without subwords (minn 3, maxn 6), and batch_skipgram (no subwords, as in
   BlazingText) against fastText's skip-gram without subwords; dim 100, 5 epochs, BlazingText's other defaults;
   and each side's word-similarity rho on WordSim-353 (benchmarks/data/wordsim353.tsv), computed the same way;
2. quality: the classifier (CPU training image) on the UCI story split, initialised from each mode's vectors of
   each side (our job's model folder, unchanged; fastText's .bin): the fasttext architecture for every mode, cnn
   for the first; each mode's right after its speed runs, and then that mode's files are deleted;
3. memory: peak RSS of our job on 1x and 8x the corpus (one epoch each; the corpus repeated).

    make bench-word-vectors   (QUICK=1: the generated corpus, one epoch, fewer runs)
Writes bench-results/embeddings.json.
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import fasttext
import numpy as np

from benchmarks.harness import (
    CHECKOUT_TRAIN_COMMAND,
    PAIRS,
    bench_data,
    checkout_train_environment,
    fasttext_environment,
    full_or_quick,
    write_corpus,
    write_result,
)
from benchmarks.train_uci import run_job
from headlines.word_vectors.evaluation import evaluate_similarity
from tests.support.fake_sagemaker import FakeSageMaker

THREADS = 2
EPOCHS = full_or_quick(5, 1)
COMMON = {"dim": 100, "epoch": EPOCHS, "thread": THREADS, "verbose": 0}
# (name, our hyperparameters, fastText's settings): the same model, text and threads on both sides.
MODES = [
    ("skipgram, subwords", {"mode": "skipgram", "subwords": "true"}, {"model": "skipgram", "minn": 3, "maxn": 6}),
    ("skipgram", {"mode": "skipgram", "subwords": "false"}, {"model": "skipgram", "maxn": 0}),
    ("cbow, subwords", {"mode": "cbow", "subwords": "true"}, {"model": "cbow", "minn": 3, "maxn": 6}),
    ("cbow", {"mode": "cbow", "subwords": "false"}, {"model": "cbow", "maxn": 0}),
    ("batch_skipgram", {"mode": "batch_skipgram", "subwords": "false"}, {"model": "skipgram", "maxn": 0}),
]
OUR_COMMON = {"vector_dim": 100, "epochs": EPOCHS, "min_char": 3, "max_char": 6}
# The classifier on every mode's vectors; the second architecture on the first mode's only.
CLASSIFIER_ARCHITECTURES = full_or_quick(("fasttext", "cnn"), ("fasttext",))
MEMORY_COPIES = full_or_quick((1, 8), (1,))
REPEATS = full_or_quick(3, 1)  # speed and similarity runs of each mode and side

# Runs a command and prints its peak resident memory (the largest child's, so one command per process).
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)
FASTTEXT_RUN = (
    "import json, sys, time, fasttext; t = time.time(); "
    "m = fasttext.train_unsupervised(sys.argv[1], **json.loads(sys.argv[3])); "
    "print(json.dumps({'seconds': time.time() - t}), flush=True); m.save_model(sys.argv[2])"
)


def peak_rss(command, env=None):
    """Runs command; returns (its stdout, wall seconds, peak RSS in MiB), or stops with its error."""
    started = time.time()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], env=env, capture_output=True, text=True)
    wall = time.time() - started
    lines = result.stdout.strip().splitlines()
    return result, wall, int(lines[-1]) / 1024 if result.returncode == 0 else None


def run_fasttext(corpus, model_path, settings):
    """fastText's training seconds and peak RSS."""
    result, _, peak = peak_rss(
        [sys.executable, "-c", FASTTEXT_RUN, str(corpus), str(model_path), json.dumps(settings)],
        fasttext_environment(),
    )
    if result.returncode != 0:
        raise SystemExit(f"fasttext failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-2])["seconds"], peak


def run_ours(corpus, base, hyperparameters):
    """Our job through the `train` command; returns its fake SageMaker folder, metrics, wall seconds and peak RSS."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {corpus.name: str(corpus)})
    fake.add_channel("evaluation", {PAIRS.name: str(PAIRS)})
    fake.write_config(hyperparameters)
    env = {**checkout_train_environment(fake.base), "SM_NUM_GPUS": "0"}
    result, wall, peak = peak_rss([CHECKOUT_TRAIN_COMMAND], env)
    if result.returncode != 0:
        raise SystemExit(f"word-vector job failed:\n{result.stderr[-3000:]}")
    return fake, fake.metrics(), wall, peak


def fasttext_similarity(model_path):
    """fastText's vectors scored by the same code as our job's eval.json (a zero vector counts as missing)."""
    model = fasttext.load_model(str(model_path))

    def vectors_of(words):
        # Lower-cased, as the corpus is: our job's lookup falls back to a word's lower-cased form too.
        return np.array([model.get_word_vector(w.lower()) for w in words]), np.ones(len(words), bool)

    return evaluate_similarity(str(PAIRS.parent), vectors_of)[PAIRS.name]


def one_pair_of_runs(corpus, folder, name, ours_settings, fasttext_settings):
    """Ours, then fastText's, on the same text: their speeds, peaks, similarity and model folders."""
    fake, metrics, wall, peak = run_ours(corpus, folder / "ours", {**OUR_COMMON, **ours_settings})
    fasttext_model = folder / "fasttext.bin"
    seconds, fasttext_peak = run_fasttext(corpus, fasttext_model, {**COMMON, **fasttext_settings})
    ours_rho, fasttext_rho = metrics["evaluation"][PAIRS.name], fasttext_similarity(fasttext_model)
    run = {
        "ours_words_per_second": metrics["words_per_second"],
        "ours_train_seconds": metrics["train_seconds"],
        "ours_job_wall_seconds": round(wall, 1),
        "ours_peak_rss_mib": peak,
        "fasttext_words_per_second": EPOCHS * metrics["epoch_tokens"] / seconds,
        "fasttext_train_seconds": seconds,
        "fasttext_peak_rss_mib": fasttext_peak,
        "ours_rho": ours_rho["spearmans_rho"],
        "fasttext_rho": fasttext_rho["spearmans_rho"],
        "ours_pairs_covered": ours_rho["pairs_covered"],
        "fasttext_pairs_covered": fasttext_rho["pairs_covered"],
        "total_pairs": ours_rho["total_pairs"],
        "epoch_tokens": metrics["epoch_tokens"],
        "threads": metrics["threads"],
    }
    print(json.dumps({"mode": name, **run}), flush=True)
    return run, {"ours": fake.model_dir, "fasttext": fasttext_model}


def mode_runs(image, data, corpus, folder):
    """(speed rows, quality rows): each mode's speed runs, then the classifier on that mode's vectors, then the
    mode's files deleted, so that one mode's models are on disk at a time (both sides' 2 M-bucket .bin files, ~1.6
    GB with subwords) instead of every mode's and repeat's."""
    speed, quality = [], []
    for number, mode in enumerate(MODES):
        mode_folder = folder / f"mode-{number}"
        row, models = speed_runs(corpus, mode_folder, mode)
        speed.append(row)
        quality += quality_runs(image, data, number, mode[0], models, mode_folder)
        shutil.rmtree(mode_folder)
    return speed, quality


def speed_runs(corpus, folder, mode):
    """(row, models): one mode REPEATS times, ours then fastText's (Hogwild threads make every run differ: the
    mean of a few is what is compared); keeps the first repeat's models for the quality runs, deletes the others'."""
    name, ours_settings, fasttext_settings = mode
    runs = []
    for repeat in range(REPEATS):
        run, repeat_models = one_pair_of_runs(
            corpus, folder / f"repeat-{repeat}", name, ours_settings, fasttext_settings
        )
        runs.append(run)
        if repeat == 0:
            models = repeat_models
        else:
            shutil.rmtree(folder / f"repeat-{repeat}")
    same = ("epoch_tokens", "threads", "total_pairs")  # equal in every run
    mean = {key: runs[0][key] if key in same else float(np.mean([run[key] for run in runs])) for key in runs[0]}
    spread = {f"{key}_sd": float(np.std([run[key] for run in runs])) for key in ("ours_rho", "fasttext_rho")}
    row = {
        "mode": name,
        **mean,
        **spread,
        "ratio": mean["ours_words_per_second"] / mean["fasttext_words_per_second"],
        "repeats": REPEATS,
        "runs": runs,
    }
    return row, models


def quality_runs(image, data, number, mode_name, models, folder):
    """The classifier on one mode's vectors (the number-th mode: every architecture on the first, the first
    architecture on the others), ours then fastText's."""
    rows = []
    for architecture in CLASSIFIER_ARCHITECTURES[: None if number == 0 else 1]:
        for label, embeddings in models.items():
            row = run_job(
                image,
                folder / f"classifier-{label}-{architecture}",
                architecture,
                data.train,
                label,
                embeddings,
                test_file=data.test,
            )
            row["mode"] = mode_name
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def memory_runs(data, folder):
    rows = []
    for copies in MEMORY_COPIES:
        scaled = write_corpus(data, folder / f"corpus-x{copies}.txt", copies)
        _, metrics, wall, peak = run_ours(
            scaled, folder / f"memory-{copies}", {**OUR_COMMON, **MODES[0][1], "epochs": 1}
        )
        rows.append(
            {
                "copies": copies,
                "corpus_mib": scaled.stat().st_size / 2**20,
                "tokens": metrics["corpus_tokens"],
                "peak_rss_mib": peak,
                "wall_seconds": wall,
                "words_per_second": metrics["words_per_second"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        shutil.rmtree(folder / f"memory-{copies}")
        scaled.unlink()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="headlines-train:cpu", help="training image for the classifier jobs")
    args = parser.parse_args()
    data = bench_data()
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        corpus = write_corpus(data, folder / "corpus.txt")
        speed, quality = mode_runs(args.image, data, corpus, folder)
        memory = memory_runs(data, folder)
    write_result(
        "word_vectors",
        "bench-word-vectors",
        "fastText train_unsupervised (the fasttext package) with the "
        "same settings, text and threads, run after each of our jobs",
        data=data,
        images=[args.image],
        threads=THREADS,
        epochs=EPOCHS,
        our_settings=OUR_COMMON,
        fasttext_settings=COMMON,
        speed=speed,
        quality=quality,
        memory=memory,
    )


if __name__ == "__main__":
    main()
