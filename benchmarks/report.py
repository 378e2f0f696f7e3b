"""docs/benchmarks.md and its plots, written from bench-results/*.json alone: every figure on the page comes from
a record a benchmark wrote, each section says where and when it was measured, at which commit, by which command,
against which anchor, and the page says whether its sections share one commit. The records it rendered are copied
beside the page (docs/benchmarks/records/), where a test renders the page again from them, byte for byte.
A quick run (QUICK=1) writes bench-results/quick/benchmarks.md instead and leaves docs/ alone.

    make bench-report       (make bench ends with it)
"""

import argparse
import contextvars
import dataclasses
import json
import shutil
import statistics

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    FASTTEXT_DEFAULT_EPOCHS,
    FASTTEXT_SUPERVISED_NAME,
    QUICK,
    REPO,
    RESULTS_DIR,
    fasttext_headlines_per_second,
)

PAGE = RESULTS_DIR / "benchmarks.md" if QUICK else REPO / "docs" / "benchmarks.md"
PLOTS = RESULTS_DIR if QUICK else REPO / "docs" / "benchmarks"
PLOTS_LINK = PLOTS.relative_to(PAGE.parent)  # how the page names the plots' folder
# The records the committed page was rendered from, committed with it.
PUBLISHED_RECORDS = REPO / "docs" / "benchmarks" / "records"
SECTIONS = []  # (title, record name, make target, writer), in page order
_plots_dir = contextvars.ContextVar("plots_dir", default=PLOTS)  # where plot() saves: page() sets it


def section(title, name, target):
    def register(writer):
        SECTIONS.append((title, name, target, writer))
        return writer

    return register


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_cell(value):
    return "-" if value is None else f"{value:.4f}"


def plot(name, draw, size=(7, 4)):
    """Saves one figure drawn by draw(figure) in the plots folder; returns the markdown that shows it."""
    figure = plt.figure(figsize=size)
    draw(figure)
    figure.tight_layout()
    folder = _plots_dir.get()
    folder.mkdir(parents=True, exist_ok=True)
    figure.savefig(folder / name, dpi=90)
    plt.close(figure)
    return f"![{name}]({PLOTS_LINK / name})"


def commit_text(record):
    """The commit a record was measured at, as the page names it."""
    state = record.get("provenance") or {}
    if not state.get("commit"):
        return "an unrecorded commit"
    return f"commit `{state['commit'][:12]}`" + (" with uncommitted changes" if state["dirty"] else "")


def commits_sentence(records):
    """One sentence on whether the measured sections share one clean commit; records: (title, record) pairs."""
    commits = {}
    for title, record in records:
        commits.setdefault(commit_text(record), []).append(title)
    if not commits:
        return "Nothing is measured yet."
    if len(commits) == 1:
        return f"Every measured section comes from {next(iter(commits))}."
    parts = "; ".join(f"{commit}: {', '.join(titles)}" for commit, titles in commits.items())
    return (
        f"**The sections come from {len(commits)} builds**, so figures of different sections may not compare: {parts}."
    )


def provenance(record):
    images = ", ".join(f"`{image}` {image_id[7:]}" for image, image_id in record["images"].items()) or "none"
    data = {
        "real": "the real data (UCI story split, WikiText-2)",
        "generated": "the generated demo data",
        None: "no data",
    }[record["data"]]
    return (
        f"*Measured {record['date']} at {commit_text(record)} on {record['machine']}; `{record['command']}`; "
        f"anchor: {record['anchor']}; data: {data}; images: {images}.*"
    )


@section("Training: accuracy against fastText", "train-uci", "bench-train")
def training(record):
    if "vector_hyperparameters" not in record:
        return ["This record predates the vectors of our own word-vector job; the next `make bench-train` measures it."]
    rows = record["rows"]
    out = [
        f"Train {rows['train']:,} / validation {rows['validation']:,} / test {rows['test']:,} headlines. "
        f"Default hyperparameters; `bin`/`vec`: {_vectors_sentence(record)}"
    ]
    out.append(
        table(
            [
                "model",
                "initialisation",
                "test accuracy",
                "test macro-F1",
                "best/run epochs",
                "job wall s",
                "type / token coverage",
            ],
            [
                [
                    f"ours, {r['architecture']}",
                    r["embeddings"],
                    accuracy_cell(r["test_accuracy"]),
                    accuracy_cell(r["test_macro_f1"]),
                    f"{r['best_epoch']}/{r['epochs_run']}",
                    r["job_wall_seconds"],
                    "-" if r["type_coverage"] is None else f"{r['type_coverage']:.3f} / {r['token_coverage']:.3f}",
                ]
                for r in record["results"]
            ]
            + [
                [
                    "fastText supervised",
                    a["embeddings"],
                    accuracy_cell(a["default_epochs"]["test"]),
                    "-",
                    f"-/{FASTTEXT_DEFAULT_EPOCHS}",
                    f"{a['default_epochs']['train_seconds']:.2f}",
                    "-",
                ]
                for a in record["fasttext"]
            ],
        )
    )
    out.append(plot("accuracy-epochs.png", lambda figure: _accuracy_epochs(figure, record)))
    return out + _labelled(record) + _unseen(record) + _ablation(record) + _speed(record)


def _vectors_sentence(record):
    """Where the vectors come from, in words made of the record's hyperparameters and corpus."""
    corpus = record["vector_corpus"]
    settings = ", ".join(
        key if value == "true" else f"no {key}" if value == "false" else f"{key} {value}"
        for key, value in record["vector_hyperparameters"].items()
    )
    return (
        f"our word-vector job ({settings}) on {corpus['text']} plus the text of train.tsv's headlines "
        f"({' and '.join(corpus['headline_parts'])} parts, {corpus['headlines']:,} headlines; "
        f"{corpus['lines']:,} lines, {corpus['job_wall_seconds']} s); `bin` is its vectors.bin (with subwords), `vec` "
        "its vectors.txt (fastText's `-pretrainedVectors`)."
    )


def _seeds_text(record):
    return f"mean ± population standard deviation over seeds {', '.join(str(seed) for seed in record['seeds'])}"


def model_name(run):
    """ours ARCHITECTURE, or fastText supervised (the record's architecture of fastText's runs)."""
    return run["architecture"] if run["architecture"] == FASTTEXT_SUPERVISED_NAME else f"ours {run['architecture']}"


def mean_sd(values):
    """(mean, population standard deviation) of the seeds' figures; None for no figures."""
    values = [value for value in values if value is not None]
    return (statistics.fmean(values), statistics.pstdev(values)) if values else None


def labelled_summary(runs):
    """{(labelled, model, init): (mean, sd)} of test accuracy over the seeds, in the runs' order."""
    groups = {}
    for run in runs:
        groups.setdefault((run["labelled"], model_name(run), run["init"]), []).append(run["test_accuracy"])
    return {key: mean_sd(values) for key, values in groups.items()}


def spread_cell(summary, digits=4):
    return "-" if summary is None else f"{summary[0]:.{digits}f} ± {summary[1]:.{digits}f}"


def labelled_rows(summary):
    """Table rows: labelled size, model, without and with vectors (mean ± sd) and the gain of the means in points."""
    rows = []
    for size, model in dict.fromkeys((size, model) for size, model, _ in summary):
        without = summary.get((size, model, "none"))
        inits = [init for s, m, init in summary if (s, m) == (size, model) and init != "none"]
        with_vectors = summary.get((size, model, inits[0])) if inits else None
        gain = f"{100 * (with_vectors[0] - without[0]):+.2f}" if without and with_vectors else "-"
        rows.append([f"{size:,}", model, spread_cell(without), spread_cell(with_vectors), gain])
    return rows


def _labelled(record):
    """Section 2: accuracy against labelled headlines, each side on the labelled rows alone."""
    return [
        "Accuracy against the number of labelled headlines: a seeded subset of the training part for each seed (all "
        "rows: the same rows, seeded jobs). Each side sees only those rows. Ours gets them as its train channel and "
        "holds out its own validation part; where that part has "
        f"{record['min_selection_rows']} rows or more ours picks its epoch on it, and fastText supervised then trains "
        "on the rest and picks its epoch count from "
        f"{', '.join(str(epochs) for epochs in record['selection_epochs'])} on the same part"
        + (
            " (then each side trains again on every row for what it picked: ours' refit)"
            if record.get("refit_after_selection")
            else ""
        )
        + "; with fewer, neither "
        "picks anything and fastText trains on every row (its defaults otherwise). With vectors: ours `bin`, "
        f"fastText `vec`. Test accuracy, {_seeds_text(record)}; the gain is the difference of the means:",
        table(
            ["labelled headlines", "model", "no vectors: mean ± sd", "with vectors: mean ± sd", "gain (points)"],
            labelled_rows(labelled_summary(record["labelled"])),
        ),
        plot("accuracy-labelled.png", lambda figure: _accuracy_labelled(figure, record)),
    ]


def unseen_rows(record):
    """Goal 3's table rows: per labelled size, the unseen-word headlines and their accuracy with the vectors' words
    in the vocabulary (section 2's runs) and without (the runs that had `unseen` among the variants)."""
    with_words = [run for run in record["labelled"] if run.get("unseen")]
    without = [run for run in record["variants"] if run.get("unseen")]
    rows = []
    for size in dict.fromkeys(run["labelled"] for run in with_words):
        pair = [[run["unseen"] for run in runs if run["labelled"] == size] for runs in (with_words, without)]
        headlines = statistics.fmean(unseen["headlines"] for unseen in pair[0])
        cells = [spread_cell(mean_sd([unseen["accuracy"] for unseen in side])) for side in pair]
        rows.append([f"{size:,}", f"{headlines:,.0f} of {record['rows']['test']:,}", *cells])
    return rows


def _hyperparameters_text(hyperparameters):
    return ", ".join(f"{key}={value}" for key, value in hyperparameters.items()) or "defaults"


def _unseen(record):
    """Section 3: whether words the labelled data never saw still count."""
    without = next((run for run in record["variants"] if run.get("unseen")), None)
    if without is None:
        return []
    return [
        "Headlines with a word the labelled rows lack (tokenised as the job does): the fasttext architecture with "
        "`bin`, its vocabulary with the vectors' words (the default) and without them "
        f"({_hyperparameters_text(without['hyperparameters'])}: the labelled rows' words alone), scored on the test "
        "headlines that have such a word, from the model folder's predictions (the serving package's predictor); "
        f"{_seeds_text(record)}:",
        table(
            [
                "labelled",
                "headlines with an unseen word (mean)",
                "accuracy with the vectors' words (default)",
                f"with {_hyperparameters_text(without['hyperparameters'])}",
            ],
            unseen_rows(record),
        ),
    ]


def ablation_rows(record):
    """One row per ablation setting: its test accuracy (mean ± sd over seeds) at each ablation size."""
    runs = [run for run in record["labelled"] + record["variants"] if run["architecture"] == "fasttext"]
    rows = []
    for setting in record["ablation"]:
        same = [r for r in runs if r["init"] == setting["init"] and r["hyperparameters"] == setting["hyperparameters"]]
        cells = [
            mean_sd([r["test_accuracy"] for r in same if r["labelled"] == size]) for size in record["ablation_sizes"]
        ]
        rows.append([setting["name"], *(spread_cell(cell) for cell in cells)])
    return rows


def _speed(record):
    """Section 5: headlines a second, ours against fastText supervised, and the run at scale."""
    if "scale" not in record:
        return ["Training speed is measured from the next `make bench-train` on."]
    rows, threads = record["rows"]["train"], record["fasttext_threads"]
    anchor = {a["embeddings"]: a for a in record["fasttext"]}

    lines = []
    for r in record["results"]:
        a = anchor.get(r["embeddings"])
        every, one = (None, None)
        if a:
            every, one = (
                fasttext_headlines_per_second(rows, FASTTEXT_DEFAULT_EPOCHS, a[k]["train_seconds"])
                for k in ("default_epochs", "one_thread")
            )
        lines.append(
            [
                f"ours, {r['architecture']} ({r['steps']} steps)",
                r["embeddings"],
                f"{r['headlines_per_second']:,.0f}",
                "-" if every is None else f"{every:,.0f}",
                "-" if every is None else f"{r['headlines_per_second'] / every:.3f}",
                "-" if one is None else f"{one:,.0f}",
                f"{r['peak_resident_mb']:,.0f}",
            ]
        )
    scale, ours = record["scale"], record["scale"]["ours"]
    at_scale = {
        int(k): fasttext_headlines_per_second(scale["rows"], scale["epochs"], v["train_seconds"])
        for k, v in scale["fasttext"].items()
    }
    return [
        f"Training speed: headlines a second of section 1's jobs (the median epoch's `samples_per_second`; every "
        f"core) against fastText supervised on the same {rows:,} rows (rows x {FASTTEXT_DEFAULT_EPOCHS} epochs over "
        f"its `train_supervised` seconds, reading the file included) on as many threads ({threads}), and on one:",
        table(
            [
                "model",
                "initialisation",
                "ours: headlines/s",
                f"fastText, {threads} threads",
                "ours / fastText",
                "fastText, 1 thread",
                "ours: peak MB",
            ],
            lines,
        ),
        *_speed_pairs(record),
        f"At scale: the training part repeated to {scale['rows']:,} headlines (each copy its own stories), "
        f"{scale['epochs']} epochs, default hyperparameters, fasttext architecture:",
        table(
            ["", "headlines/s", "job wall s", "peak MB", "test accuracy"],
            [
                [
                    f"ours ({ours['steps']} steps)",
                    f"{ours['headlines_per_second']:,.0f}",
                    ours["job_wall_seconds"],
                    f"{ours['peak_resident_mb']:,.0f}",
                    accuracy_cell(ours["test_accuracy"]),
                ]
            ]
            + [
                [
                    f"fastText supervised, {k} thread{'s' if k > 1 else ''}",
                    f"{at_scale[k]:,.0f}",
                    f"{scale['fasttext'][str(k)]['train_seconds']:.2f}",
                    "-",
                    accuracy_cell(scale["fasttext"][str(k)]["test"]),
                ]
                for k in sorted(at_scale)
            ],
        ),
    ]


def _speed_pairs(record):
    """Section 5's alternating pairs: each side's headlines a second and the pairs' ratios, median and range."""
    pairs = record.get("speed_pairs")
    if not pairs:
        return ["Alternating pairs of ours and fastText are measured from the next `make bench-train` on."]

    def spread(values, form):
        return f"{form(statistics.median(values))} ({form(min(values))}-{form(max(values))})"

    ratios = [p["ours"] / p["fasttext"] for p in pairs]
    return [
        f"The same comparison in {len(pairs)} more pairs, alternating: the default job (fasttext, no vectors) and "
        f"fastText supervised on the same rows, {record['fasttext_threads']} threads; median (range) of the pairs:",
        table(
            ["ours: headlines/s", "fastText: headlines/s", "ours / fastText"],
            [
                [
                    spread([p["ours"] for p in pairs], lambda v: f"{v:,.0f}"),
                    spread([p["fasttext"] for p in pairs], lambda v: f"{v:,.0f}"),
                    spread(ratios, lambda v: f"{v:.3f}"),
                ]
            ],
        ),
    ]


def _ablation(record):
    """Section 4: what each part of the vectors gives the fasttext architecture."""
    if not record["ablation_sizes"]:
        return ["The ablation (what each part of the vectors gives) is measured in full runs only."]
    return [
        "What each part of the vectors gives ours (fasttext architecture), test accuracy on the labelled rows alone, "
        f"{_seeds_text(record)}:",
        table(
            ["setting"] + [f"{size:,} labelled" for size in record["ablation_sizes"]],
            ablation_rows(record),
        ),
    ]


def _accuracy_epochs(figure, record):
    axis = figure.add_subplot()
    for r in record["results"]:
        curve = r["validation_accuracy_per_epoch"]
        axis.plot(
            range(1, len(curve) + 1), curve, "-o", markersize=3, label=f"ours {r['architecture']}, {r['embeddings']}"
        )
    for a in record["fasttext"]:
        axis.plot(
            a["epochs"],
            [point["validation"] for point in a["per_epoch"]],
            "--",
            color="black",
            alpha=1 if a["embeddings"] == "none" else 0.5,
            label=f"fastText supervised, {a['embeddings']}",
        )
    axis.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy against epochs")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)


def _accuracy_labelled(figure, record):
    axis = figure.add_subplot()
    summary = labelled_summary(record["labelled"])
    for model, init in dict.fromkeys((model, init) for _, model, init in summary):
        points = [(size, figures) for (size, m, i), figures in summary.items() if (m, i) == (model, init) and figures]
        axis.errorbar(
            [size for size, _ in points],
            [figures[0] for _, figures in points],
            yerr=[figures[1] for _, figures in points],
            fmt="--s" if model == FASTTEXT_SUPERVISED_NAME else "-o",
            markersize=4,
            capsize=3,
            label=f"{model}, {'no vectors' if init == 'none' else init}",
        )
    _log_ticks(axis, sorted({size for size, _, _ in summary}))
    axis.set(
        xlabel="labelled training headlines",
        ylabel="test accuracy (mean ± sd over seeds)",
        title="Where pretrained vectors pay",
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)


def _log_ticks(axis, values):
    """A log x axis labelled at the measured values, not at powers of ten."""
    axis.set_xscale("log")
    axis.set_xticks(values, [f"{value:,}" for value in values])
    axis.minorticks_off()


@section("Serving", "serve", "bench-serve")
def serving(record):
    out = [
        f"Single-headline JSON requests from `tests/support/loadgen.py` (on the same machine, to the container's own "
        f"address; a connection is kept while the server keeps it: ours closes it after each answer), "
        f"{record['seconds_per_run']} s per run; image {record['image_bytes'] / 1e6:.0f} MB uncompressed."
    ]
    rows = []
    for architecture, result in record["architectures"].items():
        anchor = result["in_process"]
        for run in result["single_headline"]:
            rows.append(
                [
                    architecture,
                    run["concurrency"],
                    run["requests_per_second"],
                    run["p50_ms"],
                    run["p99_ms"],
                    run["failed"],
                ]
            )
        rows.append(
            [
                architecture,
                "in-process, 1 thread (anchor)",
                f"{1000 / anchor['one_p50_ms']:.0f}",
                anchor["one_p50_ms"],
                anchor["one_p99_ms"],
                "-",
            ]
        )
    out.append(table(["architecture", "concurrency", "req/s", "p50 ms", "p99 ms", "failed"], rows))
    out.append(plot("latency-concurrency.png", lambda figure: _latency(figure, record), size=(10, 4)))
    largest = [r.get("ping_beside_largest_requests") for r in record["architectures"].values()]
    largest_kinds = list(largest[0]) if all(largest) else []  # records from before it was measured have none
    out.append(
        table(
            [
                "architecture",
                "cold start s",
                "1,000 headlines p50 ms (anchor: in-process)",
                "/ping max ms under load",
                *[f"/ping max ms beside the largest requests: {kind}" for kind in largest_kinds],
                "worker RSS / anonymous MiB",
            ],
            [
                [
                    architecture,
                    f"{min(r['cold_start_seconds']):.2f}-{max(r['cold_start_seconds']):.2f}",
                    f"{r['thousand_headlines']['p50_ms']} ({r['in_process']['thousand_p50_ms']})",
                    _pings(r["ping_ms_under_load"]),
                    *[_largest_pings(r["ping_beside_largest_requests"][kind]) for kind in largest_kinds],
                    "; ".join(f"{w['rss_mib']}/{w['anon_mib']}" for w in r["memory"]["workers"]),
                ]
                for architecture, r in record["architectures"].items()
            ],
        )
    )
    if largest_kinds:
        out.append(
            "Beside the largest requests: two workers each run one of four requests of the largest body the "
            "endpoint accepts (6 MB; 100 MB in a batch transform, `SAGEMAKER_BATCH=true`), and /ping is sent every "
            "0.1 s from 0.5 s after they start until the first is answered (or 30 pings). SageMaker's limit is 2 s."
        )
    if record["worker_sweep"]:
        out.append("Workers (`SAGEMAKER_MODEL_SERVER_WORKERS`), fasttext:")
        out.append(
            table(
                ["workers", "concurrency", "req/s", "p50 ms", "p99 ms"],
                [
                    [r["workers"], r["concurrency"], r["requests_per_second"], r["p50_ms"], r["p99_ms"]]
                    for r in record["worker_sweep"]
                ],
            )
        )
    return out


def _largest_pings(measured):
    """The max /ping ms beside the largest requests, with the body's size and the number of pings."""
    return f"{max(measured['ping_ms'])} ({measured['body_mib']} MiB bodies, {len(measured['ping_ms'])} pings)"


def _pings(latencies):
    answered = [ms for ms in latencies if ms is not None]
    failed = len(latencies) - len(answered)
    return (f"{max(answered)}" if answered else "-") + (f" ({failed} failed)" if failed else "")


def _latency(figure, record):
    latency, rate = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for architecture, result in record["architectures"].items():
        runs = result["single_headline"]
        levels = [run["concurrency"] for run in runs]
        for key, style in (("p50_ms", "-o"), ("p99_ms", "--o")):
            latency.plot(levels, [run[key] for run in runs], style, label=f"{architecture} {key[:3]}")
        line = rate.plot(levels, [run["requests_per_second"] for run in runs], "-o", label=architecture)[0]
        latency.axhline(
            result["in_process"]["one_p50_ms"],
            color=line.get_color(),
            linestyle=":",
            label=f"{architecture} in-process p50",
        )
    latency.set(xlabel="concurrent connections", ylabel="ms", title="Latency, one headline")
    rate.set(xlabel="concurrent connections", ylabel="requests/s", title="Throughput")
    for axis in (latency, rate):
        _log_ticks(axis, levels)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)


@dataclasses.dataclass(frozen=True)
class Goal:
    """A goal for one of our figures: at least or at most `ratio` times the toolkit's, or `limit` outright."""

    at_least: bool
    ratio: float = None
    limit: float = None
    unit: str = ""

    def text(self):
        sign = ">=" if self.at_least else "<="
        return f"{sign} {self.ratio:g}x toolkit" if self.ratio is not None else f"{sign} {self.limit:g} {self.unit}"

    def met(self, ours, toolkit):
        """True or False; None when a figure it needs is missing."""
        if ours is None or (self.ratio is not None and not toolkit):
            return None
        bound = toolkit * self.ratio if self.ratio is not None else self.limit
        return ours >= bound if self.at_least else ours <= bound


def _load(side, concurrency):
    return next(run for run in side["single_headline"] if run["concurrency"] == concurrency)


def _load_figure(concurrency, key):
    return lambda side: _load(side, concurrency).get(key)  # None: not measured (CPU where no cgroup was found)


# The goals for our server against AWS's toolkit, each beside the figure it is about.
TOOLKIT_FIGURES = (
    ("c=1 req/s", _load_figure(1, "requests_per_second"), None),
    ("c=1 p50 ms", _load_figure(1, "p50_ms"), None),
    ("c=1 p99 ms", _load_figure(1, "p99_ms"), None),
    ("c=8 req/s", _load_figure(8, "requests_per_second"), Goal(at_least=True, ratio=2)),
    ("c=8 p50 ms", _load_figure(8, "p50_ms"), None),
    ("c=8 p99 ms", _load_figure(8, "p99_ms"), Goal(at_least=False, ratio=0.5)),
    ("c=8 CPU ms a request: the server's container", _load_figure(8, "server_cpu_ms"), None),
    ("c=8 CPU ms a request: the load generator", _load_figure(8, "client_cpu_ms"), None),
    ("c=32 req/s", _load_figure(32, "requests_per_second"), Goal(at_least=True, ratio=1.5)),
    ("c=32 p50 ms", _load_figure(32, "p50_ms"), None),
    ("c=32 p99 ms", _load_figure(32, "p99_ms"), Goal(at_least=False, ratio=1)),
    ("failed requests, all loads", lambda side: sum(run["failed"] for run in side["single_headline"]), None),
    (
        "1,000 headlines ms (median of 5)",
        lambda side: side["thousand_headlines"]["p50_ms"],
        Goal(at_least=False, limit=50, unit="ms"),
    ),
    (
        "cold start to /ping 200 s",
        lambda side: side["cold_start"]["ping_seconds"],
        Goal(at_least=False, limit=1, unit="s"),
    ),
    (
        "cold start to first prediction s",
        lambda side: side["cold_start"]["first_prediction_seconds"],
        Goal(at_least=False, limit=1, unit="s"),
    ),
    ("memory: sum of RSS MiB", lambda side: side["memory"]["rss_mib"], Goal(at_least=False, ratio=0.5)),
    ("memory: sum of PSS MiB", lambda side: side["memory"]["pss_mib"], Goal(at_least=False, ratio=0.5)),
)
IMAGE_GOAL = Goal(at_least=False, limit=250, unit="MB")


def _number(value):
    if value is None:
        return "-"
    if isinstance(value, int):  # a count
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _status(met):
    return {True: "met", False: "**missed**", None: "-"}[met]


def _goal_row(figure, ours_values, toolkit_values, goal):
    """One table row: each side's mean over the rounds (each round's figure after it when there are several), the
    ratio of the means, the goal and whether the means meet it."""

    def cell(values):
        values = [value for value in values if value is not None]
        if not values:
            return "-", None
        mean = statistics.fmean(values)
        if all(isinstance(value, int) for value in values) and mean.is_integer():
            mean = int(mean)
        rounds = f" ({'; '.join(_number(v) for v in values)})" if len(values) > 1 else ""
        return _number(mean) + rounds, mean

    (ours_cell, ours), (toolkit_cell, toolkit) = cell(ours_values), cell(toolkit_values)
    ratio = f"{ours / toolkit:.2f}x" if ours is not None and toolkit else "-"
    return [
        figure,
        ours_cell,
        toolkit_cell,
        ratio,
        goal.text() if goal else "",
        _status(goal and goal.met(ours, toolkit)),
    ]


def toolkit_rows(rounds, our_image_bytes, toolkit_image_bytes):
    """The side-by-side table of one model: a row for each figure of TOOLKIT_FIGURES, then the images' sizes."""
    rows = [
        _goal_row(figure, [value(r["ours"]) for r in rounds], [value(r["toolkit"]) for r in rounds], goal)
        for figure, value, goal in TOOLKIT_FIGURES
    ]
    rows.append(_goal_row("image MB", [our_image_bytes / 1e6], [toolkit_image_bytes / 1e6], IMAGE_GOAL))
    return rows


@section("Serving against AWS's MXNet toolkit", "serve", "bench-serve")
def serving_against_toolkit(record):
    toolkit = record.get("toolkit")
    if toolkit is None:
        return ["This record predates the side-by-side measurement; the next `make bench-serve` adds it."]
    if toolkit.get("skipped"):
        return [f"Not measured in this run: {toolkit['skipped']}."]
    rounds = f"{toolkit['rounds']} round{'s' if toolkit['rounds'] != 1 else ''}"
    out = [
        "Our serving container and AWS's MXNet inference toolkit (`sagemaker-mxnet-inference` 1.5.5 on "
        "multi-model-server 1.1.11, MXNet 1.9.1, started the way AWS's MXNet inference container starts it; "
        "`benchmarks/toolkit/`) serving the same model folder, each in a fresh container with "
        f"`SAGEMAKER_MODEL_SERVER_WORKERS={toolkit['workers']}`, {rounds} alternating ours and the toolkit's. "
        f"One-headline JSON requests from `tests/support/loadgen.py`, {toolkit['seconds_per_run']} s per concurrency; "
        f"1,000 headlines: the median of {toolkit['thousand_runs']} requests; cold start: from `docker run`; "
        "memory: every process in the container after the load (PSS counts pages shared between processes "
        "once). Each cell is the mean of the rounds, each round's figure in parentheses; the ratio is ours / "
        "toolkit's; the goals are the targets set for our server, against the toolkit's figure or outright. The "
        "toolkit's image is built here from the same Debian base as ours (no AWS image can be pulled here), so "
        "its size is not that of AWS's container."
    ]
    if toolkit.get("quick_scope"):
        out[0] += f" Quick run: {toolkit['quick_scope']}."
    moved = [
        f"`{image}` {image_id[7:]}"
        for image, image_id in toolkit.get("measured_images", {}).items()
        if record["images"].get(image) != image_id
    ]
    if moved:
        out.append(f"Measured from {', '.join(moved)}: a build moved the tag during the run.")
    header = ["figure", "ours", "toolkit", "ours / toolkit", "goal", "met?"]
    for architecture, rounds in toolkit["architectures"].items():
        out.append(f"{architecture}:")
        out.append(table(header, toolkit_rows(rounds, record["image_bytes"], toolkit["image_bytes"])))
        differences = [r["max_probability_difference"] for r in rounds]
        out.append(
            f"Both servers' probabilities for the same {toolkit['agreement_headlines']} headlines differ by at most "
            f"{max(differences):.1g} ({architecture}, every round; the benchmark stops above 1e-5)."
        )
    return out


@section("Word vectors: our job against fastText", "word_vectors", "bench-word-vectors")
def word_vectors(record):
    speed = record["speed"]
    out = [
        f"{record['threads']} threads, {record['epochs']} epoch(s) of {speed[0]['epoch_tokens']:,} tokens, dim "
        "100, BlazingText's other defaults (window 5, 5 negatives, sampling 1e-4); subwords: n-grams of 3-6 "
        "characters. batch_skipgram's anchor is fastText's skip-gram without subwords. Our words/s is the job's "
        "training loop; fastText's is its `train_unsupervised` call, which also reads the text and builds its "
        "vocabulary (a few percent of it here). Word similarity: Spearman's rho on WordSim-353, both sides "
        f"scored by our job's evaluation code. Each figure is the mean of {speed[0].get('repeats', 1)} runs of each "
        "side, alternating (rho: mean +- standard deviation). fastText trains on zeroed memory, as its release did "
        "(`benchmarks/harness.py`: its wheel leaves most of its input matrix unwritten with two threads), so its "
        "peak RSS counts its whole input matrix (800 MB with subwords' 2 M buckets), where the wheel run bare "
        "counts only the pages its training writes."
    ]
    out.append(
        table(
            [
                "mode",
                "ours words/s",
                "fastText words/s",
                "ours / fastText",
                "ours rho",
                "fastText rho",
                "pairs covered (ours/fastText)",
                "ours peak MiB",
                "fastText peak MiB",
            ],
            [
                [
                    r["mode"],
                    f"{r['ours_words_per_second']:,.0f}",
                    f"{r['fasttext_words_per_second']:,.0f}",
                    f"{r['ratio']:.2f}x",
                    f"{r['ours_rho']:.3f} +- {r.get('ours_rho_sd', 0):.3f}",
                    f"{r['fasttext_rho']:.3f} +- {r.get('fasttext_rho_sd', 0):.3f}",
                    f"{r['ours_pairs_covered']:.0f}/{r['fasttext_pairs_covered']:.0f} of {r['total_pairs']:.0f}",
                    f"{r['ours_peak_rss_mib']:,.0f}",
                    f"{r['fasttext_peak_rss_mib']:,.0f}",
                ]
                for r in speed
            ],
        )  # fmt: skip
    )
    out.append(plot("words-per-second.png", lambda figure: _words_per_second(figure, speed)))
    out.append(
        "The classifier initialised with each mode's vectors of each side (our job's model folder unchanged; "
        "fastText's `.bin`), test split:"
    )
    quality = record["quality"]
    pairs = [(ours, theirs) for ours, theirs in zip(quality[::2], quality[1::2])]
    out.append(
        table(
            [
                "vectors of",
                "classifier",
                "ours: accuracy",
                "fastText's: accuracy",
                "difference (points)",
                "ours: macro-F1",
                "fastText's: macro-F1",
            ],
            [
                [
                    ours.get("mode", speed[0]["mode"]),
                    ours["architecture"],
                    accuracy_cell(ours["test_accuracy"]),
                    accuracy_cell(theirs["test_accuracy"]),
                    f"{100 * (ours['test_accuracy'] - theirs['test_accuracy']):+.2f}",
                    accuracy_cell(ours["test_macro_f1"]),
                    accuracy_cell(theirs["test_macro_f1"]),
                ]
                for ours, theirs in pairs
            ],
        )  # fmt: skip
    )
    out.append("Our job's peak memory, one epoch on the corpus repeated:")
    out.append(
        table(
            ["corpus", "MiB", "tokens", "peak RSS MiB", "words/s"],
            [
                [
                    f"{r['copies']}x",
                    f"{r['corpus_mib']:.1f}",
                    f"{r['tokens']:,}",
                    f"{r['peak_rss_mib']:,.0f}",
                    f"{r['words_per_second']:,.0f}",
                ]
                for r in record["memory"]
            ],
        )
    )
    return out


def _words_per_second(figure, speed):
    axis = figure.add_subplot()
    positions = range(len(speed))
    axis.bar([p - 0.2 for p in positions], [r["ours_words_per_second"] for r in speed], 0.4, label="ours")
    axis.bar([p + 0.2 for p in positions], [r["fasttext_words_per_second"] for r in speed], 0.4, label="fastText")
    axis.set_xticks(list(positions), [r["mode"] for r in speed], fontsize=8)
    axis.set(ylabel="words/s", title="Training speed by mode")
    axis.grid(alpha=0.3, axis="y")
    axis.legend()


@section("Word vectors on GPU instances: the host side alone", "word_vectors_gpu_path", "bench-gpu-path")
def word_vectors_gpu_path(record):
    out = [
        f"The MXNet path's host side (sub-sampling, windows, negatives, subword rows: `ExampleBuilder` on the encoded "
        f"corpus, {record['vocabulary']:,} words, {record['corpus_tokens']:,} tokens) timed alone on one core, in "
        f'millions of corpus words/s; the goal is 1 M. "+ output rows" adds the step\'s output-row dedupe that '
        f"`train_group` does on the host. GPU-sized steps: update_tokens "
        + ", ".join(f"{t:,}" for t in record["gpu_update_tokens"])
        + f"; the job's default is {record['default_update_tokens']:,}."
    ]
    out.append(
        table(
            ["mode", "update_tokens", "M words/s", "+ output rows", "examples a step"],
            [
                [
                    r["mode"] + (", subwords" if r["subwords"] else ""),
                    f"{r['update_tokens']:,}",
                    f"{r['words_per_second'] / 1e6:.2f}",
                    f"{r['with_output_rows_words_per_second'] / 1e6:.2f}",
                    f"{r['examples_per_step']:,.0f}",
                ]
                for r in record["host"]
            ],
        )
    )
    out.append(f"The device side ({record['device_note']}):")
    out.append(
        table(
            ["mode", "update_tokens", "words/s", "examples a step", "targets a step", "ms a step"],
            [
                [
                    r["mode"] + (", subwords" if r["subwords"] else ""),
                    f"{r['update_tokens']:,}",
                    f"{r['words_per_second']:,.0f}",
                    f"{r['examples_per_step']:,.0f}",
                    f"{r['targets_per_step']:,.0f}",
                    f"{r['ms_per_step']:.1f}",
                ]
                for r in record["device_on_cpu"]
            ],
        )
    )
    return out


@section("Local mode (SageMaker SDK v2)", "localmode", "bench-localmode")
def local_mode(record):
    out = [
        "The classifier with one host and with two (`instance_count=2`: MXNet's parameter server across two "
        "containers on this one machine), hyperparameters: "
        + (", ".join(f"`{k}={v}`" for k, v in record["hyperparameters"].items()) or "defaults")
        + "."
    ]
    # Records from before the hosts averaged their models once an epoch carry neither the steps nor the bytes.
    exchange = "bytes_exchanged_per_epoch" in record["training"][0]
    one_host = next(r["mean_epoch_seconds"] for r in record["training"] if r["hosts"] == 1)
    out.append(
        table(
            ["hosts", "kvstore"]
            + (["steps", "MiB exchanged an epoch, a host"] if exchange else [])
            + ["test accuracy", "test macro-F1", "best/run epochs", "mean epoch s", "epoch / one host's", "job wall s"],
            [
                [r["hosts"], r["kvstore"]]
                + ([r["steps"], f"{r['bytes_exchanged_per_epoch'] / 2**20:,.1f}"] if exchange else [])
                + [
                    accuracy_cell(r["test_accuracy"]),
                    accuracy_cell(r["test_macro_f1"]),
                    f"{r['best_epoch']}/{r['epochs_run']}",
                    f"{r['mean_epoch_seconds']:.2f}",
                    f"{r['mean_epoch_seconds'] / one_host:.2f}x",
                    r["job_wall_seconds"],
                ]
                for r in record["training"]
            ],
        )
    )
    if record.get("word_vectors"):
        out.append(
            "The workshop's word-vector job ("
            + ", ".join(f"`{k}={v}`" for k, v in record["word_vector_hyperparameters"].items())
            + ", WordSim-353 as the evaluation channel) with one host and with two; the parameter servers hold the "
            "weights, and each host reads the rows a round needs before it and adds the rows it changed after it. "
            "Both containers share this machine's cores, so two "
            "hosts here show the cost of the exchange, not the speed-up of two machines "
            "([performance.md](performance.md#word-vectors))."
        )
        out.append(
            table(
                [
                    "hosts",
                    "final loss",
                    "rho",
                    "words/s a host",
                    "train s",
                    "MiB exchanged an epoch, a host",
                    "vocabulary",
                    "job wall s",
                ],
                [
                    [
                        r["hosts"],
                        f"{r['loss']:.4f}",
                        f"{r['rho']:.3f}",
                        f"{r['words_per_second_per_host']:,.0f}",
                        f"{r['train_seconds']:.1f}",
                        f"{r['bytes_exchanged_per_epoch'] / 2**20:,.1f}",
                        f"{r['vocabulary_size']:,}",
                        r["job_wall_seconds"],
                    ]
                    for r in record["word_vectors"]
                ],
            )  # fmt: skip
        )
    if record["demo_seconds_images_built"]:
        out.append(f"`make demo`'s script (`scripts/demo.py`), images built: {record['demo_seconds_images_built']} s.")
    return out


@section("Image sizes", "images", "bench-images")
def image_sizes(record):
    base = record["base"]
    rows = [
        [
            f"`{r['image']}`",
            f"{r['bytes'] / 1e6:,.0f}",
            f"{(r['bytes'] - base['bytes']) / 1e6:,.0f}",
            "; ".join(
                f"{layer['bytes'] / 1e6:,.0f} MB `{layer['step'][:70] or '(base)'}`" for layer in r["largest_layers"]
            ),
        ]
        for r in record["sizes"]
    ]
    rows.append([f"`{base['image']}` (anchor)", f"{base['bytes'] / 1e6:,.0f}", "0", "-"])
    return [table(["image", "MB uncompressed", "MB over the base", "largest layers"], rows)]


def recorded_sections(records_dir):
    """(title, record name) of each section whose record is in records_dir, in page order."""
    return [(title, name) for title, name, _, _ in SECTIONS if (records_dir / f"{name}.json").exists()]


def page(records_dir, plots_dir):
    """The page's text from the records in records_dir (a section without its record says which target measures
    it); its plots are saved in plots_dir."""
    measured = [
        (title, name, json.loads((records_dir / f"{name}.json").read_text()))
        for title, name in recorded_sections(records_dir)
    ]
    records = {name: record for _, name, record in measured}
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/report.py`) from the records in `bench-results/`, which it copies to "
        "`docs/benchmarks/records/`: nothing on this page is typed by hand, and a test renders it again from those "
        "records. Back to the [README](../README.md)."
        if not QUICK
        else "A quick run (`QUICK=1`): the harness on the generated data; its figures are not meant to be read.",
        "",
        commits_sentence([(title, record) for title, _, record in measured]),
        "",
    ]
    token = _plots_dir.set(plots_dir)
    try:
        for title, name, target, writer in SECTIONS:
            lines += [f"## {title}", ""]
            if name not in records:
                lines += [f"Not measured yet: `make {target}`.", ""]
                continue
            lines += [provenance(records[name]), ""]
            for block in writer(records[name]):
                lines += [block, ""]
    finally:
        _plots_dir.reset(token)
    return "\n".join(lines).rstrip("\n") + "\n"


def publish_records(records_dir, published):
    """Copies the records the page was rendered from into published, byte for byte, and removes any other."""
    published.mkdir(parents=True, exist_ok=True)
    names = {f"{name}.json" for _, name in recorded_sections(records_dir)}
    for stale in set(path.name for path in published.glob("*.json")) - names:
        (published / stale).unlink()
    for name in sorted(names):
        shutil.copyfile(records_dir / name, published / name)


def render():
    PAGE.write_text(page(RESULTS_DIR, PLOTS))
    print(f"wrote {PAGE.relative_to(REPO)}", flush=True)
    if not QUICK:
        publish_records(RESULTS_DIR, PUBLISHED_RECORDS)
        print(f"copied its records to {PUBLISHED_RECORDS.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    render()
