"""Training benchmark: the CPU training image on the UCI News Aggregator story split against fastText's own
supervised classifier, alternating, with word vectors that our own word-vector job trained.

0. Vectors: our word-vector job (VECTOR_HYPERPARAMETERS) in the training image on the word-vector corpus plus the
   text of train.tsv's headlines (training and validation parts, never the test rows), tokenised like the
   classifier. Its vectors.bin (fastText binary with subwords) is the `bin` initialisation, its vectors.txt (word2vec
   text) the `vec` one, and fastText's -pretrainedVectors.
1. Accuracy: both architectures with default hyperparameters, without and with the vectors; fastText supervised (its
   defaults) without and with vectors.txt. The validation part is held out from train.tsv once, here, with the
   job's own grouped split and defaults, and given to every job as a validation channel, so ours and fastText's see
   the same rows. Each job's validation accuracy per epoch gives the accuracy-against-epochs plot; fastText's curve
   is one model per epoch count.
2. Labelled headlines: seeded subsets of the training part (LABELLED_SIZES, then all of it), one per seed. Each side
   gets only the labelled rows: ours as train channel (it holds out its own validation rows from them) with the test
   channel, fastText supervised as its training file, making the choice ours makes on the rows ours makes it on
   (fasttext_labelled); ours without and with vectors.bin, fastText without and with vectors.txt.
3. Unseen words: the fasttext architecture with vectors.bin, with the vectors' words in its vocabulary (the default)
   and without (pretrained_words=0), scored on the test headlines with a word the labelled rows lack, from
   per-headline predictions of the serving package's predictor.
4. Ablation (full runs): what each part of the vectors gives the fasttext architecture (ABLATION).
5. Speed: section 1's jobs' headlines a second (the median epoch's samples_per_second, every core) against fastText
   supervised's on the same rows (its rows x epochs over its train_supervised seconds, reading the file included),
   on every core and on one; then SPEED_PAIRS more pairs of the default job (fasttext, no vectors) and fastText
   supervised, alternating, whose ratios' median and range are the comparison (one job each moves with this
   machine's load by more than most changes do); and at scale: the training part repeated to SCALE_ROWS headlines
   (each copy its own stories), 3 epochs, ours (wall time, peak memory) and fastText's.

    make bench-train        (QUICK=1: the generated data, fewer runs)
Writes bench-results/train-uci.json.
"""

import argparse
import collections
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import (
    CHECKOUT_TRAIN_COMMAND,
    FASTTEXT_DEFAULT_EPOCHS,
    FASTTEXT_SUPERVISED_NAME,
    bench_data,
    checkout_train_environment,
    corpus_files,
    fasttext_environment,
    fasttext_headlines_per_second,
    full_or_quick,
    write_result,
)
from headlines.classifier.recipe import MIN_SELECTION_ROWS
from headlines.data.formats import UCI_CATEGORY, UCI_STORY, UCI_TITLE
from headlines.data.splits import split_validation
from headlines.hyperparameters import Hyperparameters
from headlines.model_folder import VECTORS_BINARY_FILE, VECTORS_TEXT_FILE
from headlines.serving.loading import load_model
from headlines.text import Tokenizer
from tests.support.fake_sagemaker import FakeSageMaker

# Our word-vector job's hyperparameters for the pretrained vectors (its other defaults: dim 100, the classifier's
# embedding width; character n-grams 3-6).
VECTOR_HYPERPARAMETERS = {
    "mode": "skipgram",
    "subwords": "true",
    "min_count": "2",
    "epochs": "10",
    "evaluation": "false",
}
ARCHITECTURES = full_or_quick(("fasttext", "cnn"), ("fasttext",))
INITIALISATIONS = full_or_quick(("none", "bin", "vec"), ("none", "bin"))
ALL = "all"  # the whole training part, as a labelled size
LABELLED_SIZES = full_or_quick((100, 300, 1000, 3000), (100,))  # and ALL
SEEDS = full_or_quick((1, 2, 3), (1,))
UNSEEN_SIZES = full_or_quick((100, 1000, ALL), (100,))
ABLATION_SIZES = full_or_quick((100, 1000, ALL), ())
NO_PRETRAINED_WORDS = {"pretrained_words": "0"}
OLD_RECIPE = {
    "optimizer": "adam",
    "learning_rate": "0.01",
    "lr_schedule": "constant",
    "early_stopping_patience": "3",
    "epochs": "20",
}
# The ablation's rows: (name, initialisation, hyperparameters beyond architecture and seed), fasttext architecture.
ABLATION = (
    ("no vectors", "none", {}),
    ("subword rows only (bin, pretrained_words=0)", "bin", NO_PRETRAINED_WORDS),
    ("the vectors' words only (vec)", "vec", {}),
    ("both (bin, the default)", "bin", {}),
    ("both, the old recipe (" + ", ".join(f"{k}={v}" for k, v in OLD_RECIPE.items()) + ")", "bin", OLD_RECIPE),
)
FASTTEXT_EPOCHS = full_or_quick(tuple(range(1, 13)), (1, 2, 3))
FASTTEXT_THREADS = 2  # every core of the benchmark machine
SCALE_ROWS = full_or_quick(400_000, 20_000)
SPEED_PAIRS = full_or_quick(5, 2)  # alternating pairs of ours and fastText for the speed ratio
SCALE_EPOCHS = 3
# fastText's epoch counts to pick from where ours picks its epoch on validation: its default 5, and up to ours' 20.
SELECTION_EPOCHS = (1, 2, 3, 5, 10, 15, 20)
Row = collections.namedtuple("Row", "line title label group")
# A seeded subset of the training part with its files: size as asked (a number or ALL), rows as drawn.
Draw = collections.namedtuple("Draw", "size seed rows train_file fasttext_train folder")
# argv: train file, settings, {name: file} to evaluate; prints {name: accuracy, "train_seconds": s}.
FASTTEXT_SUPERVISED = """
import json, sys, time, fasttext
started = time.perf_counter()
model = fasttext.train_supervised(sys.argv[1], **json.loads(sys.argv[2]))
# Four digits: on the 8 k training rows it takes ~0.2 s, where hundredths would step its rate by 5 %.
result = {"train_seconds": round(time.perf_counter() - started, 4)}
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
    """The rows' original lines in a file a job's channel can take."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(row.line for row in rows), encoding="utf-8")
    return path


def prepare_splits(data, folder):
    """The training, validation and test parts (train.tsv split by story with the job's defaults, the test file as
    it is), each written once for every run: as our channels' files ("files") and in fastText's format
    ("fasttext")."""
    defaults = Hyperparameters()
    train, validation = split_validation(uci_rows(data.train), defaults.validation_fraction, defaults.seed)
    parts = {"train": train, "validation": validation, "test": uci_rows(data.test)}
    return {
        **parts,
        "files": {name: write_rows(folder / name / f"{name}.tsv", rows) for name, rows in parts.items()},
        "fasttext": {name: str(fasttext_file(rows, folder / f"fasttext-{name}.txt")) for name, rows in parts.items()},
    }


def labelled_subset(rows, size, seed):
    """size rows drawn without replacement with this seed (ALL: every row), so each seed labels its own sample."""
    if size == ALL:
        return list(rows)
    picked = np.random.RandomState(seed).choice(len(rows), size=min(size, len(rows)), replace=False)
    return [rows[i] for i in sorted(picked)]


def train_command(image, fake, what):
    """The train command on a fake /opt/ml tree, as SageMaker starts it: the image's, or without an image this
    checkout's (benchmarks/labelled_trial.py); returns its wall seconds."""
    started = time.time()
    if image is None:
        command, environment = [CHECKOUT_TRAIN_COMMAND], checkout_train_environment(fake.base)
    else:
        command, environment = ["docker", "run", "--rm", "-v", f"{fake.base}:/opt/ml", image, "train"], None
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"{what} job failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return round(time.time() - started, 1)


def write_vector_corpus(data, headlines, path):
    """The word-vector corpus and the headlines' text, one line each, tokenised as the classifier tokenises."""
    tokenizer = Tokenizer()
    lines = 0
    with open(path, "w", encoding="utf-8") as out:
        texts = [line for name in corpus_files(data) for line in open(name, encoding="utf-8") if line.strip()]
        for text in texts + [row.title for row in headlines]:
            out.write(" ".join(tokenizer(text)) + "\n")
            lines += 1
    return lines


def train_vectors(image, data, headlines, folder):
    """({init: vectors file or None}, the record's words on them) from our word-vector job in the image on the
    corpus plus the headlines' text (never the test rows), so every initialised run starts from our own vectors."""
    fake = FakeSageMaker(folder / "word-vectors")
    channel = fake.add_channel("train", {})
    lines = write_vector_corpus(data, headlines, channel / "corpus.txt")
    fake.write_config(VECTOR_HYPERPARAMETERS)
    seconds = train_command(image, fake, "word-vector")
    vectors = {"none": None, "bin": fake.model_dir / VECTORS_BINARY_FILE, "vec": fake.model_dir / VECTORS_TEXT_FILE}
    corpus = {
        "text": "WikiText-2" if data.source == "real" else "the generated corpus",
        "headline_parts": ["training", "validation"],
        "headlines": len(headlines),
        "lines": lines,
        "job_wall_seconds": seconds,
    }
    print(corpus, flush=True)
    return vectors, corpus


def run_job(
    image, base, architecture, train_file, init="none", vectors=None, hyperparameters=None, keep=False, **channels
):
    """One classifier job's figures; vectors: a file or a whole folder (a word-vector job's model folder, passed on
    unchanged); channels: validation_file, test_file, and evaluate(model folder) for more figures. The job starts
    in an empty folder (a checkpoint an earlier run left there would be resumed, or refused), and the folder is
    deleted after unless `keep`: with its checkpoints and optimizer state it is ~1 GB, and a run makes ~100."""
    shutil.rmtree(base, ignore_errors=True)
    fake = FakeSageMaker(base)
    fake.add_channel("train", {pathlib.Path(train_file).name: str(train_file)})
    for channel in ("validation", "test"):
        if channels.get(f"{channel}_file"):
            path = pathlib.Path(channels[f"{channel}_file"])
            fake.add_channel(channel, {path.name: str(path)})
    if vectors:
        files = sorted(vectors.iterdir()) if vectors.is_dir() else [vectors]
        fake.add_channel("embeddings", {f.name: str(f) for f in files})
    fake.write_config({"architecture": architecture, **(hyperparameters or {})})
    seconds = train_command(image, fake, architecture)
    row = job_figures(fake.metrics(), architecture, init, seconds)
    if channels.get("evaluate"):
        row.update(channels["evaluate"](fake.model_dir))
    if not keep:
        shutil.rmtree(fake.base)
    return row


def job_figures(metrics, architecture, init, seconds):
    """The figures of one job's metrics.json that the report prints."""
    coverage = metrics["embedding_coverage"] or {}
    return {
        "architecture": architecture,
        "embeddings": init,
        "test_accuracy": metrics["test"]["accuracy"] if "test" in metrics else None,
        "test_macro_f1": metrics["test"]["macro_f1"] if "test" in metrics else None,
        "validation_accuracy": metrics["validation"]["accuracy"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "job_wall_seconds": seconds,
        "headlines_per_second": statistics.median(row["samples_per_second"] for row in metrics["history"]),
        "steps": metrics["steps"],
        "peak_resident_mb": metrics["peak_resident_mb"],
        "validation_accuracy_per_epoch": [row["validation_accuracy"] for row in metrics["history"]],
        "type_coverage": coverage.get("type_coverage"),
        "token_coverage": coverage.get("token_coverage"),
    }


def fasttext_file(rows, path):
    """rows in fastText's supervised format, tokenised like the classifier."""
    tokenizer = Tokenizer()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(f"__label__{row.label} " + " ".join(tokenizer(row.title)) + "\n")
    return path


def fasttext_accuracy(
    train_file, evaluation_files, vectors=None, epoch=FASTTEXT_DEFAULT_EPOCHS, seed=0, threads=FASTTEXT_THREADS
):
    """fastText supervised (its defaults, dim 100) on train_file: accuracy on each evaluation file and seconds."""
    settings = {"epoch": epoch, "dim": 100, "thread": threads, "verbose": 0, "seed": seed}
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
    result = subprocess.run(command, capture_output=True, text=True, env=fasttext_environment())
    if result.returncode != 0:
        raise SystemExit(f"fastText supervised failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def accuracy_runs(image, splits, vectors, folder):
    """Section 1: our jobs (each architecture and initialisation) and fastText supervised, alternating."""
    train_file, fasttext_train = splits["files"]["train"], splits["fasttext"]["train"]
    evaluations = {name: splits["fasttext"][name] for name in ("validation", "test")}
    ours, anchor = [], []
    for init in INITIALISATIONS:
        for architecture in ARCHITECTURES:
            row = run_job(
                image,
                folder / f"{architecture}-{init}",
                architecture,
                train_file,
                init,
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
                    "one_thread": fasttext_accuracy(fasttext_train, evaluations, vectors[init], threads=1),
                }
            )
            print(anchor[-1]["default_epochs"], flush=True)
    return ours, anchor


def speed_pairs(image, splits, folder):
    """Section 5's alternating pairs: the default job (fasttext, no vectors, section 1's channels) and fastText
    supervised (its defaults, every core) on the same training part; headlines a second of each, per pair."""
    evaluations = {"test": splits["fasttext"]["test"]}
    pairs = []
    for _ in range(SPEED_PAIRS):
        ours = run_job(
            image,
            folder / "speed-job",
            "fasttext",
            splits["files"]["train"],
            validation_file=splits["files"]["validation"],
            test_file=splits["files"]["test"],
        )
        anchor = fasttext_accuracy(splits["fasttext"]["train"], evaluations)
        pairs.append(
            {
                "ours": ours["headlines_per_second"],
                "fasttext": fasttext_headlines_per_second(
                    len(splits["train"]), FASTTEXT_DEFAULT_EPOCHS, anchor["train_seconds"]
                ),
            }
        )
        print(pairs[-1], flush=True)
    return pairs


def scale_rows(rows, count):
    """`count` rows: `rows` over and over, each copy with its own ids and stories (so no story straddles the job's
    validation split more than the original's do)."""
    out = []
    for number in range(count):
        row = rows[number % len(rows)]
        copy = number // len(rows)
        fields = row.line.rstrip("\n").split("\t")
        fields[0], fields[UCI_STORY] = str(number), f"{fields[UCI_STORY]}-{copy}"
        out.append(Row("\t".join(fields) + "\n", row.title, row.label, fields[UCI_STORY]))
    return out


def scale_runs(image, splits, folder):
    """Section 5's run at scale: ours (fasttext, default hyperparameters, SCALE_EPOCHS epochs) and fastText
    supervised on one thread and on every core, on the same SCALE_ROWS rows."""
    rows = scale_rows(splits["train"], SCALE_ROWS)
    train_file = write_rows(folder / "scale" / "train.tsv", rows)
    ours = run_job(
        image,
        folder / "scale-job",
        "fasttext",
        train_file,
        hyperparameters={"epochs": str(SCALE_EPOCHS)},
        validation_file=splits["files"]["validation"],
        test_file=splits["files"]["test"],
    )
    print(ours, flush=True)
    fasttext_train = fasttext_file(rows, folder / "scale" / "fasttext-train.txt")
    evaluations = {"test": splits["fasttext"]["test"]}
    anchor = {
        threads: fasttext_accuracy(fasttext_train, evaluations, epoch=SCALE_EPOCHS, threads=threads)
        for threads in (1, FASTTEXT_THREADS)
    }
    print(anchor, flush=True)
    shutil.rmtree(folder / "scale")
    return {"rows": SCALE_ROWS, "epochs": SCALE_EPOCHS, "ours": ours, "fasttext": anchor}


def unseen_mask(test_rows, labelled_rows, tokenizer=None):
    """For each test row: whether it has a token no labelled row has, where only the vectors can say what it means."""
    tokenizer = tokenizer or Tokenizer()
    seen = {token for row in labelled_rows for token in tokenizer(row.title)}
    return [any(token not in seen for token in tokenizer(row.title)) for row in test_rows]


def predicted_labels(model_dir, titles):
    """Each title's label from the job's model folder, by the serving package's own loader and numpy predictor."""
    return [prediction["label"] for prediction in load_model(str(model_dir)).predict(titles)]


def unseen_word_accuracy(model_dir, test_rows, labelled_rows):
    """Test accuracy on the headlines with a word the labelled rows lack, their count, and on every headline."""
    predicted = predicted_labels(model_dir, [row.title for row in test_rows])
    correct = [label == row.label for label, row in zip(predicted, test_rows)]
    unseen = [right for right, masked in zip(correct, unseen_mask(test_rows, labelled_rows)) if masked]
    return {
        "unseen": {
            "headlines": len(unseen),
            "accuracy": sum(unseen) / len(unseen) if unseen else None,
            "test_accuracy": sum(correct) / len(correct),
        }
    }


def draw_labelled(splits, size, seed, folder):
    """The seed's subset of the training part, written for our job and for fastText."""
    rows = labelled_subset(splits["train"], size, seed)
    where = folder / f"labelled-{size}-{seed}"
    train_file = write_rows(where / "train" / "train.tsv", rows)
    return Draw(size, seed, rows, train_file, fasttext_file(rows, where / "fasttext-train.txt"), where)


def ours_labelled(image, draw, splits, vectors, architecture, init, extra=None, unseen=False):
    """One of our jobs on a draw's labelled rows alone, without a validation channel, so the rows it holds out to
    pick epochs count as labelled too; unseen: also score the unseen-word headlines."""
    extra = extra or {}
    name = "-".join([architecture, init] + [f"{k}-{v}" for k, v in extra.items()])
    evaluate = (lambda model: unseen_word_accuracy(model, splits["test"], draw.rows)) if unseen else None
    run = run_job(
        image,
        draw.folder / name,
        architecture,
        draw.train_file,
        init,
        vectors[init],
        {"seed": str(draw.seed), **extra},
        test_file=splits["files"]["test"],
        evaluate=evaluate,
    )
    row = {
        "labelled": len(draw.rows),
        "seed": draw.seed,
        "architecture": architecture,
        "init": init,
        "hyperparameters": extra,
        **{key: run[key] for key in ("test_accuracy", "best_epoch", "epochs_run", "unseen") if key in run},
    }
    print(row, flush=True)
    return row


def fasttext_labelled(draw, evaluations, vectors, init):
    """fastText supervised on the same labelled rows, choosing what ours chooses with the rows ours chooses it on.
    Where the job's own validation part of the rows (its split, its seed) is large enough for ours to pick epochs
    on, fastText trains on the rest and picks its epoch count from SELECTION_EPOCHS on that part, then, as ours
    refits, trains on every row for that many epochs; otherwise ours picks nothing, and fastText trains on every row
    with its defaults."""
    train_part, validation_part = split_validation(draw.rows, Hyperparameters().validation_fraction, draw.seed)
    row = {"labelled": len(draw.rows), "seed": draw.seed, "architecture": FASTTEXT_SUPERVISED_NAME, "init": init}
    if len(validation_part) < MIN_SELECTION_ROWS:
        row.update(
            test_accuracy=fasttext_accuracy(draw.fasttext_train, evaluations, vectors[init], seed=draw.seed)["test"]
        )
    else:
        files = {
            "validation": str(fasttext_file(validation_part, draw.folder / "fasttext-validation.txt")),
            "test": evaluations["test"],
        }
        train_file = fasttext_file(train_part, draw.folder / "fasttext-train-part.txt")
        results = {e: fasttext_accuracy(train_file, files, vectors[init], e, draw.seed) for e in SELECTION_EPOCHS}
        chosen = max(SELECTION_EPOCHS, key=lambda epochs: results[epochs]["validation"])  # the first of equals
        refit = fasttext_accuracy(draw.fasttext_train, evaluations, vectors[init], chosen, draw.seed)["test"]
        row.update(
            test_accuracy=refit,
            test_accuracy_before_refit=results[chosen]["test"],
            epochs_chosen=chosen,
            validation_rows=len(validation_part),
        )
    print(row, flush=True)
    return row


def extra_runs(size):
    """(init, hyperparameters) of this size's runs beyond section 2's (goal 3's partner, the ablation's other
    rows), so that no setting runs twice."""
    extra = [("bin", NO_PRETRAINED_WORDS)] if size in UNSEEN_SIZES else []
    if size in ABLATION_SIZES:
        measured = [("none", {}), ("bin", {})] + extra
        extra += [(init, hp) for _, init, hp in ABLATION if (init, hp) not in measured]
    return extra


def labelled_runs(image, splits, vectors, folder):
    """(runs, extra runs) of sections 2-4 per labelled size and seed, ours and fastText's alternating so that a
    slower or busier machine moves both sides alike."""
    evaluations = {"test": splits["fasttext"]["test"]}
    runs, variants = [], []
    for size in LABELLED_SIZES + (ALL,):
        for seed in SEEDS:
            draw = draw_labelled(splits, size, seed, folder)
            for init, fasttext_init in (("none", "none"), ("bin", "vec")):
                for architecture in ARCHITECTURES:
                    unseen = init == "bin" and architecture == "fasttext" and size in UNSEEN_SIZES
                    runs.append(ours_labelled(image, draw, splits, vectors, architecture, init, unseen=unseen))
                runs.append(fasttext_labelled(draw, evaluations, vectors, fasttext_init))
            for init, extra in extra_runs(size):
                unseen = extra == NO_PRETRAINED_WORDS
                variants.append(ours_labelled(image, draw, splits, vectors, "fasttext", init, extra, unseen))
            shutil.rmtree(draw.folder)
    return runs, variants


def resolved(sizes, rows):
    """Sizes as the record counts them: ALL as the number of rows of the training part."""
    return [len(rows) if size == ALL else size for size in sizes]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="headlines-train:cpu")
    args = parser.parse_args()
    data = bench_data()
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        splits = prepare_splits(data, folder)
        vectors, corpus = train_vectors(args.image, data, splits["train"] + splits["validation"], folder)
        ours, anchor = accuracy_runs(args.image, splits, vectors, folder)
        labelled, variants = labelled_runs(args.image, splits, vectors, folder)
        pairs = speed_pairs(args.image, splits, folder)
        scale = scale_runs(args.image, splits, folder)
    write_result(
        "train-uci",
        "bench-train",
        "fastText supervised (the fasttext package, its defaults) on the same rows, run between our jobs",
        data=data,
        images=[args.image],
        rows={name: len(splits[name]) for name in ("train", "validation", "test")},
        vector_hyperparameters=VECTOR_HYPERPARAMETERS,
        vector_corpus=corpus,
        results=ours,
        fasttext=anchor,
        seeds=list(SEEDS),
        min_selection_rows=MIN_SELECTION_ROWS,
        selection_epochs=list(SELECTION_EPOCHS),
        refit_after_selection=True,  # both sides train again on every labelled row once they have picked
        labelled=labelled,
        variants=variants,
        ablation_sizes=resolved(ABLATION_SIZES, splits["train"]),
        ablation=[{"name": name, "init": init, "hyperparameters": hp} for name, init, hp in ABLATION],
        fasttext_threads=FASTTEXT_THREADS,
        speed_pairs=pairs,
        scale=scale,
    )


if __name__ == "__main__":
    main()
