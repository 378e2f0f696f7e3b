"""A labelled-set trial while developing the classifier: our job with its defaults and with each setting given, on
the training benchmark's labelled draws (section 2 of `make bench-train`: its subsets, seeds and word vectors),
through this checkout's `train` command instead of the image, so that a change is weighed in minutes before a full
`make bench-train`. It prints each setting's mean test accuracy, the seeds' standard deviation and each seed's,
and writes no record: it is not part of `make bench`.

    .venv/bin/python -m benchmarks.labelled_trial --architecture cnn --sizes 100 300 --settings dropout=0.2 epochs=60
    .venv/bin/python -m benchmarks.labelled_trial --architecture cnn --sizes 100 300 --settings epochs=60,dropout=0.2
"""

import argparse
import pathlib
import shutil
import statistics
import tempfile

from benchmarks.harness import FASTTEXT_SUPERVISED_NAME, bench_data
from benchmarks.train_uci import (
    ALL,
    SEEDS,
    draw_labelled,
    fasttext_labelled,
    ours_labelled,
    prepare_splits,
    train_vectors,
)

DEFAULTS = "defaults"


def trial(splits, vectors, folder, architecture, init, sizes, seeds, settings, fasttext=False):
    """{(size, name): {seed: test accuracy}}: our job with its defaults and with each of `settings` ({name:
    hyperparameters}) alone, and fastText supervised with the `vec` vectors if asked, on each size's draw of each
    seed (every run of a draw on the same rows)."""
    runs = {}
    for size in sizes:
        for seed in seeds:
            draw = draw_labelled(splits, size, seed, folder)
            for name, hyperparameters in {DEFAULTS: {}, **settings}.items():
                row = ours_labelled(None, draw, splits, vectors, architecture, init, hyperparameters)
                runs.setdefault((size, name), {})[seed] = row["test_accuracy"]
            if fasttext:
                row = fasttext_labelled(draw, {"test": splits["fasttext"]["test"]}, vectors, "vec")
                runs.setdefault((size, FASTTEXT_SUPERVISED_NAME), {})[seed] = row["test_accuracy"]
            shutil.rmtree(draw.folder)
    return runs


def summary_lines(runs):
    """One line a size and setting: mean, the seeds' standard deviation (sample), and each seed's accuracy."""
    lines = []
    for (size, name), by_seed in runs.items():
        values = list(by_seed.values())
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        seeds = " ".join(f"{seed}:{accuracy:.4f}" for seed, accuracy in by_seed.items())
        lines.append(f"{size!s:>5} | {name:<40} | {statistics.mean(values):.4f} +- {spread:.4f} | {seeds}")
    return lines


def parse_setting(text):
    """`name=value`, or several joined by commas (tried together), as one setting's hyperparameters ({name:
    value}), named by the text itself."""
    hyperparameters = {}
    for part in text.split(","):
        name, separator, value = part.partition("=")
        if not separator or not name or not value or name in hyperparameters:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a setting as hyperparameter=value, or several as name=value,name=value"
            )
        hyperparameters[name] = value
    return text, hyperparameters


def parse_size(text):
    return text if text == ALL else int(text)


def parser():
    """The command line (every list is an option's, so that one list cannot take the next one's values)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings",
        nargs="+",
        type=parse_setting,
        default=[],
        help="hyperparameter=value, each tried alone; name=value,name=value tried together",
    )
    parser.add_argument("--architecture", default="fasttext", choices=("fasttext", "cnn"))
    parser.add_argument("--init", default="bin", choices=("none", "bin", "vec"), help="the embeddings channel")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[100, 300, 1000], help=f"numbers or {ALL}")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--fasttext", action="store_true", help="fastText supervised with the vec vectors too")
    return parser


def main():
    args = parser().parse_args()
    data = bench_data()
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        splits = prepare_splits(data, folder)
        vectors, _ = train_vectors(None, data, splits["train"] + splits["validation"], folder)
        settings = dict(args.settings)
        runs = trial(
            splits, vectors, folder, args.architecture, args.init, args.sizes, args.seeds, settings, args.fasttext
        )
    print("\n".join(summary_lines(runs)))


if __name__ == "__main__":
    main()
