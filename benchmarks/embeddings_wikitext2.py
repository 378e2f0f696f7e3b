"""Embedding pre-training benchmark (mode skipgram) on WikiText-2 valid + test, lower-cased, CPU, 2 threads:

1. speed: our job (the `train` command, as the image runs it) against Facebook's fastText `train_unsupervised`
   with the same settings (skip-gram, dim 100, 5 epochs, minn 3, maxn 6, BlazingText's other defaults), one run each;
2. quality: the classifier (CPU training image, both architectures) on the UCI story split, initialised from our
   vectors (the job's model folder, unchanged) and from fastText's;
3. memory: peak RSS of our job on 1x, 4x and 16x the corpus (one epoch each; the corpus repeated).

Writes bench-results/embeddings.{json,md}.   make bench-embeddings
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from helpers import WIKITEXT_DIR, FakeSageMaker, require_real_data  # noqa: E402
from train_uci import run_job  # noqa: E402

THREADS = 2
FASTTEXT_SETTINGS = dict(model="skipgram", dim=100, epoch=5, minn=3, maxn=6, thread=THREADS, verbose=0)
OUR_SETTINGS = {"mode": "skipgram", "vector_dim": 100, "epochs": 5, "subwords": "true", "min_char": 3, "max_char": 6}
# Runs a command and prints its peak resident memory (the largest child's, so one command per process).
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
FASTTEXT_RUN = ("import json, sys, time, fasttext; t = time.time(); "
                "m = fasttext.train_unsupervised(sys.argv[1], **json.loads(sys.argv[3])); "
                "print(json.dumps({'seconds': time.time() - t})); m.save_model(sys.argv[2])")


def write_corpus(path, copies=1):
    text = "".join(open(WIKITEXT_DIR / name, encoding="utf-8").read().lower() for name in ("valid.txt", "test.txt"))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            f.write(text)
    return path


def run_fasttext(corpus, model_path, attempts=5):
    """fastText's training seconds (its wheel now and then ends in NaN: a fresh process then succeeds)."""
    for _ in range(attempts):
        result = subprocess.run([sys.executable, "-c", FASTTEXT_RUN, str(corpus), str(model_path),
                                 json.dumps(FASTTEXT_SETTINGS)], capture_output=True, text=True)
        if result.returncode == 0:
            return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
        if "NaN" not in result.stderr:
            break
    raise SystemExit(f"fasttext failed: {result.stderr[-2000:]}")


def run_ours(corpus, base, **overrides):
    """Our job through the `train` command; returns its metrics, wall seconds and peak RSS in MiB."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {corpus.name: str(corpus)})
    fake.write_config({**OUR_SETTINGS, **overrides})
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(fake.base), "SM_NUM_GPUS": "0"}
    started = time.time()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, str(pathlib.Path(sys.executable).parent / "train")],
                            env=env, capture_output=True, text=True)
    wall = time.time() - started
    if result.returncode != 0:
        raise SystemExit(f"embedding job failed:\n{result.stderr[-3000:]}")
    peak_kib = int(result.stdout.strip().splitlines()[-1])
    return fake, fake.metrics(), wall, peak_kib / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="headlines-train:cpu", help="training image for the classifier jobs")
    parser.add_argument("--output", default=str(REPO / "bench-results"))
    parser.add_argument("--skip-classifier", action="store_true")
    args = parser.parse_args()
    require_real_data()
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    results = {"threads": THREADS, "fasttext_settings": FASTTEXT_SETTINGS, "our_settings": OUR_SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        corpus = write_corpus(tmp / "wikitext2.txt")

        fake, metrics, wall, peak = run_ours(corpus, tmp / "ours")
        epoch_tokens = metrics["epoch_tokens"]
        fasttext_seconds = run_fasttext(corpus, tmp / "fasttext.bin")
        results["speed"] = {
            "epoch_tokens": epoch_tokens,
            "ours_words_per_second": metrics["words_per_second"], "ours_train_seconds": metrics["train_seconds"],
            "ours_job_wall_seconds": wall, "ours_peak_rss_mib": peak, "ours_loss_per_epoch": [
                round(r["loss"], 4) for r in metrics["history"]],
            "fasttext_words_per_second": OUR_SETTINGS["epochs"] * epoch_tokens / fasttext_seconds,
            "fasttext_train_seconds": fasttext_seconds,
        }
        results["speed"]["ratio"] = (results["speed"]["ours_words_per_second"]
                                     / results["speed"]["fasttext_words_per_second"])
        print(json.dumps(results["speed"]), flush=True)

        results["quality"] = []
        if not args.skip_classifier:
            for label, embeddings in (("ours", fake.model_dir), ("fasttext", tmp / "fasttext.bin")):
                for architecture in ("fasttext", "cnn"):
                    row = run_job(args.image, tmp / f"classifier-{label}-{architecture}", architecture, embeddings,
                                  label)
                    print(json.dumps(row), flush=True)
                    results["quality"].append(row)
        shutil.rmtree(tmp / "ours")

        results["memory"] = []
        for copies in (1, 4, 16):
            scaled = write_corpus(tmp / f"wikitext2-x{copies}.txt", copies)
            _, metrics, wall, peak = run_ours(scaled, tmp / f"memory-{copies}", epochs=1)
            row = {"copies": copies, "corpus_mib": scaled.stat().st_size / 2 ** 20,
                   "tokens": metrics["corpus_tokens"], "peak_rss_mib": peak, "wall_seconds": wall,
                   "words_per_second": metrics["words_per_second"]}
            print(json.dumps(row), flush=True)
            results["memory"].append(row)
            shutil.rmtree(tmp / f"memory-{copies}")
            scaled.unlink()

    (output / "embeddings.json").write_text(json.dumps(results, indent=1))
    s = results["speed"]
    lines = ["| job | words/s | train s | peak RSS MiB |", "|---|---|---|---|",
             f"| ours (mode skipgram, subwords) | {s['ours_words_per_second']:.0f} | {s['ours_train_seconds']:.1f} "
             f"| {s['ours_peak_rss_mib']:.0f} |",
             f"| fastText train_unsupervised | {s['fasttext_words_per_second']:.0f} | {s['fasttext_train_seconds']:.1f}"
             f" | - |", "", f"ratio ours/fastText: {s['ratio']:.2f}", ""]
    if results["quality"]:
        lines += ["| classifier | vectors | test accuracy | macro-F1 | token coverage |", "|---|---|---|---|---|"]
        lines += [f"| {r['architecture']} | {r['embeddings']} | {r['test_accuracy']:.4f} | {r['test_macro_f1']:.4f} "
                  f"| {r['token_coverage']:.3f} |" for r in results["quality"]]
        lines.append("")
    lines += ["| corpus | MiB | tokens | peak RSS MiB | words/s |", "|---|---|---|---|---|"]
    lines += [f"| {r['copies']}x | {r['corpus_mib']:.1f} | {r['tokens']} | {r['peak_rss_mib']:.0f} | "
              f"{r['words_per_second']:.0f} |" for r in results["memory"]]
    (output / "embeddings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
