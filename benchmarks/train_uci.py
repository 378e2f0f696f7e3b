"""Training benchmark: the CPU training image on the UCI News Aggregator story split against fastText's own
supervised classifier, both on the same train, validation and test headlines, alternating.

1. Accuracy: both architectures with default hyperparameters, without and with subword vectors (.bin and .vec) that
   Facebook's `fasttext` trained on WikiText-2 plus the training headlines (their text only); fastText supervised
   (its defaults) without and with the same .vec as -pretrainedVectors. Each job's validation accuracy per epoch
   gives the accuracy-against-epochs plot; fastText's curve is one model per epoch count.
2. Labelled headlines: the fasttext architecture and fastText supervised on seeded subsets of the training part
   (100 headlines up to all of them), without and with the pretrained vectors: where initialisation pays.

The validation part is held out from train.tsv once, here, with the job's own grouped split and defaults, and
given to every job as a validation channel, so ours and fastText's see the same rows.

    make bench-train        (QUICK=1: the generated data, fewer runs)
Writes bench-results/train-uci.json.
"""

import argparse
import collections
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import bench_data, corpus_files, full_or_quick, write_result
from headlines.data.formats import UCI_CATEGORY, UCI_STORY, UCI_TITLE
from headlines.data.splits import split_validation
from headlines.hyperparameters import Hyperparameters
from headlines.text import Tokenizer
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.fasttext_reference import train_reference_vectors, write_vec

# fastText settings for the pretrained vectors: skip-gram, dim 100 (the classifier's embedding size), 5 epochs,
# character n-grams 3-6.
VECTOR_SETTINGS = dict(model="skipgram", dim=100, epoch=5, minn=3, maxn=6, minCount=2, thread=2, verbose=0)
ARCHITECTURES = full_or_quick(("fasttext", "cnn"), ("fasttext",))
INITIALISATIONS = full_or_quick(("none", "bin", "vec"), ("none", "bin"))
LABELLED_SIZES = full_or_quick((100, 300, 1000, 3000), (100,))  # and all of the training part
FASTTEXT_EPOCHS = full_or_quick(tuple(range(1, 13)), (1, 2, 3))
SUBSET_SEED = 7
Row = collections.namedtuple("Row", "line title label group")
# argv: train file, settings, {name: file} to evaluate; prints {name: accuracy, "train_seconds": s}.
FASTTEXT_SUPERVISED = """
import json, sys, time, fasttext
started = time.time()
model = fasttext.train_supervised(sys.argv[1], **json.loads(sys.argv[2]))
result = {"train_seconds": round(time.time() - started, 2)}
for name, path in json.loads(sys.argv[3]).items():
    result[name] = model.test(path)[1]  # precision at 1: the accuracy of single-label rows
print(json.dumps(result))
"""


def uci_rows(path):
    """Rows of a UCI-layout file (ID TITLE URL PUBLISHER CATEGORY STORY ...) with the fields used here."""
    rows = []
    for line in open(path, encoding="utf-8"):
        fields = line.rstrip("\n").split("\t")
        line = line if line.endswith("\n") else line + "\n"
        rows.append(Row(line, fields[UCI_TITLE], fields[UCI_CATEGORY], fields[UCI_STORY]))
    return rows


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(row.line for row in rows), encoding="utf-8")
    return path


def prepare_splits(data, folder):
    """train/validation/test files: train.tsv split by story with the job's defaults, the test file as it is."""
    defaults = Hyperparameters()
    train, validation = split_validation(uci_rows(data.train), defaults.validation_fraction, defaults.seed)
    test = uci_rows(data.test)
    return {
        "train": train,
        "validation": validation,
        "test": test,
        "files": {
            "validation": write_rows(folder / "validation" / "validation.tsv", validation),
            "test": write_rows(folder / "test" / "test.tsv", test),
        },
    }


def labelled_subset(rows, size, seed=SUBSET_SEED):
    """size rows drawn without replacement, seeded: each size is a fixed sample of the training part."""
    picked = np.random.RandomState(seed).choice(len(rows), size=min(size, len(rows)), replace=False)
    return [rows[i] for i in sorted(picked)]


def train_vectors(data, headlines, folder):
    """Subword vectors from the word-vector corpus and the training headlines (rows of train.tsv, their text
    only), tokenised like the classifier."""
    tokenizer = Tokenizer()
    corpus = folder / "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as out:
        for path in corpus_files(data):
            for line in open(path, encoding="utf-8"):
                if line.strip():
                    out.write(" ".join(tokenizer(line)) + "\n")
        for row in headlines:
            out.write(" ".join(tokenizer(row.title)) + "\n")
    model = train_reference_vectors(corpus, folder / "vectors.bin", **VECTOR_SETTINGS)
    write_vec(model, folder / "vectors.vec", digits=5)
    return {"none": None, "bin": folder / "vectors.bin", "vec": folder / "vectors.vec"}


def run_job(
    image,
    base,
    architecture,
    train_file,
    embeddings=None,
    label=None,
    validation_file=None,
    test_file=None,
):
    """One classifier job in the image; embeddings: a vectors file or a whole folder (a word-vector job's model
    folder, passed on unchanged). Returns its figures and per-epoch history."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {pathlib.Path(train_file).name: str(train_file)})
    for channel, path in (("validation", validation_file), ("test", test_file)):
        if path:
            fake.add_channel(channel, {pathlib.Path(path).name: str(path)})
    if embeddings:
        files = sorted(embeddings.iterdir()) if embeddings.is_dir() else [embeddings]
        fake.add_channel("embeddings", {f.name: str(f) for f in files})
    fake.write_config({"architecture": architecture})
    started = time.time()
    result = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{fake.base}:/opt/ml", image, "train"], capture_output=True, text=True
    )
    seconds = time.time() - started
    if result.returncode != 0:
        raise SystemExit(f"{architecture} job failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    metrics = fake.metrics()
    coverage = metrics["embedding_coverage"] or {}
    return {
        "architecture": architecture,
        "embeddings": label or (embeddings.suffix[1:] if embeddings else "none"),
        "test_accuracy": metrics["test"]["accuracy"] if "test" in metrics else None,
        "test_macro_f1": metrics["test"]["macro_f1"] if "test" in metrics else None,
        "validation_accuracy": metrics["validation"]["accuracy"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "job_wall_seconds": round(seconds, 1),
        "validation_accuracy_per_epoch": [row["validation_accuracy"] for row in metrics["history"]],
        "type_coverage": coverage.get("type_coverage"),
        "token_coverage": coverage.get("token_coverage"),
    }


def fasttext_file(rows, path):
    """rows in fastText's supervised format, tokenised like the classifier."""
    tokenizer = Tokenizer()
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(f"__label__{row.label} " + " ".join(tokenizer(row.title)) + "\n")
    return path


def fasttext_files(evaluations, folder):
    """{name: path} of the evaluation sets in fastText's format, written once for every fastText run."""
    return {name: str(fasttext_file(rows, folder / f"fasttext-{name}.txt")) for name, rows in evaluations.items()}


def fasttext_accuracy(train_file, evaluation_files, vectors=None, epoch=5, attempts=5):
    """fastText supervised (its defaults, dim 100) on train_file: accuracy on each evaluation file and seconds.
    Each attempt in its own process: the wheel now and then ends in NaN, and a fresh process then succeeds."""
    settings = {"epoch": epoch, "dim": 100, "thread": 2, "verbose": 0}
    if vectors:
        settings["pretrainedVectors"] = str(vectors)
    command = [
        sys.executable,
        "-c",
        FASTTEXT_SUPERVISED,
        str(train_file),
        json.dumps(settings),
        json.dumps(evaluation_files),
    ]
    for _ in range(attempts):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return json.loads(result.stdout)
        if "NaN" not in result.stderr:
            break
    raise SystemExit(f"fastText supervised failed: {result.stderr[-2000:]}")


def accuracy_runs(image, splits, vectors, folder):
    """Section 1: our jobs (each architecture and initialisation) and fastText supervised, alternating."""
    train_file = write_rows(folder / "train" / "train.tsv", splits["train"])
    fasttext_train = fasttext_file(splits["train"], folder / "fasttext-train.txt")
    evaluations = fasttext_files({"validation": splits["validation"], "test": splits["test"]}, folder)
    ours, anchor = [], []
    for init in INITIALISATIONS:
        for architecture in ARCHITECTURES:
            row = run_job(
                image,
                folder / f"{architecture}-{init}",
                architecture,
                train_file,
                vectors[init],
                validation_file=splits["files"]["validation"],
                test_file=splits["files"]["test"],
            )
            print(row, flush=True)
            ours.append(row)
        if init != "bin":  # fastText supervised reads .vec only
            curve = [fasttext_accuracy(fasttext_train, evaluations, vectors[init], epoch) for epoch in FASTTEXT_EPOCHS]
            anchor.append(
                {
                    "embeddings": init,
                    "epochs": list(FASTTEXT_EPOCHS),
                    "per_epoch": curve,
                    "default_epochs": fasttext_accuracy(fasttext_train, evaluations, vectors[init]),
                }
            )
            print(anchor[-1]["default_epochs"], flush=True)
    return ours, anchor


def labelled_runs(image, splits, vectors, folder, full_size_rows):
    """Section 2: accuracy against the number of labelled headlines, ours and fastText's, without and with the
    pretrained vectors; the full size reuses section 1's fasttext rows."""
    evaluations = fasttext_files({"test": splits["test"]}, folder)
    rows = []
    for size in LABELLED_SIZES + (len(splits["train"]),):
        subset = labelled_subset(splits["train"], size)
        train_file = write_rows(folder / f"labelled-{size}" / "train" / "train.tsv", subset)
        fasttext_train = fasttext_file(subset, folder / f"labelled-{size}" / "fasttext-train.txt")
        for init in ("none", "bin"):
            ours = full_size_rows.get(init) if size == len(splits["train"]) else None
            ours = ours or run_job(
                image,
                folder / f"labelled-{size}-{init}",
                "fasttext",
                train_file,
                vectors[init],
                validation_file=splits["files"]["validation"],
                test_file=splits["files"]["test"],
            )
            fasttext = fasttext_accuracy(fasttext_train, evaluations, vectors["vec"] if init == "bin" else None)
            rows.append(
                {
                    "labelled": len(subset),
                    "pretrained": init != "none",
                    "ours_test_accuracy": ours["test_accuracy"],
                    "fasttext_test_accuracy": fasttext["test"],
                }
            )
            print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="headlines-train:cpu")
    args = parser.parse_args()
    data = bench_data()
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        splits = prepare_splits(data, folder)
        vectors = train_vectors(data, splits["train"] + splits["validation"], folder)
        ours, anchor = accuracy_runs(args.image, splits, vectors, folder)
        full_size = {row["embeddings"]: row for row in ours if row["architecture"] == "fasttext"}
        labelled = labelled_runs(args.image, splits, vectors, folder, full_size)
    write_result(
        "train-uci",
        "bench-train",
        "fastText supervised (the fasttext package, its defaults) on the same "
        "train/validation/test rows, run between our jobs",
        data=data,
        images=[args.image],
        rows={name: len(splits[name]) for name in ("train", "validation", "test")},
        vector_settings=VECTOR_SETTINGS,
        results=ours,
        fasttext=anchor,
        labelled=labelled,
    )


if __name__ == "__main__":
    main()
