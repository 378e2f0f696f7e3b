"""Training benchmark: the CPU training image on the UCI News Aggregator story split, default hyperparameters,
both architectures, without and with fastText subword vectors (.bin and .vec) trained by Facebook's `fasttext`
package on WikiText-2 plus the training headlines. Writes bench-results/train-uci.{json,md}.

    make bench            (or: .venv/bin/python benchmarks/train_uci.py [--image headlines-train:cpu])
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import (UCI_DIR, WIKITEXT_DIR, FakeSageMaker, require_real_data,  # noqa: E402
                     train_reference_vectors, write_vec)

from headlines.text import Tokenizer  # noqa: E402

# fastText settings for the pretrained vectors (the issue's: skip-gram, dim 100, 5 epochs, minn 3, maxn 6).
VECTOR_SETTINGS = dict(model="skipgram", dim=100, epoch=5, minn=3, maxn=6, minCount=2, thread=2, verbose=0)


def train_vectors(folder):
    """Subword vectors from WikiText-2 (valid + test) and the training headlines, tokenised like the classifier."""
    tokenizer = Tokenizer()
    corpus = folder / "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as out:
        for name in ("valid.txt", "test.txt"):
            for line in open(WIKITEXT_DIR / name, encoding="utf-8"):
                if line.strip():
                    out.write(" ".join(tokenizer(line)) + "\n")
        for line in open(UCI_DIR / "train.tsv", encoding="utf-8"):
            out.write(" ".join(tokenizer(line.split("\t")[1])) + "\n")
    model = train_reference_vectors(corpus, folder / "vectors.bin", **VECTOR_SETTINGS)
    write_vec(model, folder / "vectors.vec", digits=5)
    return {"bin": folder / "vectors.bin", "vec": folder / "vectors.vec"}


def run_job(image, base, architecture, embeddings=None, label=None):
    """One classifier job on the UCI split; embeddings: a vectors file or a whole folder (an embedding job's
    model folder, passed on unchanged)."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {"train.tsv": str(UCI_DIR / "train.tsv")})
    fake.add_channel("test", {"test.tsv": str(UCI_DIR / "test.tsv")})
    if embeddings:
        files = sorted(embeddings.iterdir()) if embeddings.is_dir() else [embeddings]
        fake.add_channel("embeddings", {f.name: str(f) for f in files})
    fake.write_config({"architecture": architecture})
    started = time.time()
    result = subprocess.run(["docker", "run", "--rm", "-v", f"{fake.base}:/opt/ml", image, "train"],
                            capture_output=True, text=True)
    seconds = time.time() - started
    if result.returncode != 0:
        raise SystemExit(f"{architecture} job failed:\n{result.stdout[-3000:]}")
    metrics = fake.metrics()
    coverage = metrics["embedding_coverage"] or {}
    return {"architecture": architecture, "embeddings": label or (embeddings.suffix[1:] if embeddings else "none"),
            "test_accuracy": metrics["test"]["accuracy"], "test_macro_f1": metrics["test"]["macro_f1"],
            "validation_accuracy": metrics["validation"]["accuracy"], "best_epoch": metrics["best_epoch"],
            "epochs_run": metrics["epochs_run"], "job_wall_seconds": round(seconds, 1),
            "type_coverage": coverage.get("type_coverage"), "token_coverage": coverage.get("token_coverage")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="headlines-train:cpu")
    parser.add_argument("--output", default=str(REPO / "bench-results"))
    args = parser.parse_args()
    require_real_data()
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vectors = train_vectors(pathlib.Path(tmp))
        for embeddings in (None, vectors["bin"], vectors["vec"]):
            for architecture in ("fasttext", "cnn"):
                row = run_job(args.image, pathlib.Path(tmp) / f"{architecture}-{len(rows)}", architecture, embeddings)
                print(json.dumps(row), flush=True)
                rows.append(row)
    (output / "train-uci.json").write_text(json.dumps({"image": args.image, "vector_settings": VECTOR_SETTINGS,
                                                       "results": rows}, indent=1))
    lines = ["| architecture | init | test accuracy | test macro-F1 | best/run epochs | job wall s | "
             "type coverage | token coverage |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cov = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
        lines.append(f"| {r['architecture']} | {r['embeddings']} | {r['test_accuracy']:.4f} | {r['test_macro_f1']:.4f} "
                     f"| {r['best_epoch']}/{r['epochs_run']} | {r['job_wall_seconds']} | {cov(r['type_coverage'])} "
                     f"| {cov(r['token_coverage'])} |")
    (output / "train-uci.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
