"""What every benchmark shares: a full or a quick run, the data it runs on, and the record it leaves in
bench-results/ for benchmarks/report.py, which writes docs/benchmarks.md from those records alone.

A full run (`make bench`) measures the real data (tests/support/data.py's HEADLINES_DATA_DIR: the UCI story split and
WikiText-2) and stops, saying what to fetch, without it. A quick run (`make bench QUICK=1`) checks the harness on
the generated demo data with small sizes, in a few minutes, into bench-results/quick/: its figures are not meant to
be read, and nothing asserts timings.
"""

import datetime
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys

from headlines.contract import BASE_DIR_ENV
from tests.support.containers import docker
from tests.support.data import WIKITEXT_DIR, generated_data, require_real_data

REPO = pathlib.Path(__file__).resolve().parents[1]

QUICK_SETTING = "QUICK"
QUICK = os.environ.get(QUICK_SETTING, "") not in ("", "0")
RESULTS_DIR = REPO / "bench-results" / "quick" if QUICK else REPO / "bench-results"
# The `architecture` that the training benchmark's records give fastText's own supervised runs, and the report reads.
FASTTEXT_SUPERVISED_NAME = "fastText supervised"
FASTTEXT_DEFAULT_EPOCHS = 5  # fastText supervised's -epoch
# The fasttext wheel (fastText's main branch) no longer zeroes its input matrix before training, and its trainer
# writes the random start in ten blocks, one a thread: with the benchmarks' two threads the other eight tenths kept
# what the heap held, so runs now and then ended in NaN and results moved from run to run. glibc hands fastText's
# trainer zeroed memory with this, which is what fastText's release (a zeroed std::vector) trained from.
FASTTEXT_RELEASE_MEMORY = {"MALLOC_PERTURB_": "255"}
# WordSim-353 as gensim's test data ships it; its header names the source.
PAIRS = REPO / "benchmarks" / "data" / "wordsim353.tsv"
# This checkout's `train` command (the package's console script in this virtualenv), for jobs run without the image,
# in checkout_train_environment.
CHECKOUT_TRAIN_COMMAND = str(pathlib.Path(sys.executable).parent / "train")


def checkout_train_environment(base: pathlib.Path) -> dict[str, str]:
    """This process's environment with the fake /opt/ml tree at `base`, for CHECKOUT_TRAIN_COMMAND."""
    return {**os.environ, BASE_DIR_ENV: str(base)}


def fasttext_headlines_per_second(rows: int, epochs: int, train_seconds: float) -> float:
    """fastText's training speed as the benchmarks compare it: its rows x epochs over its training seconds."""
    return rows * epochs / train_seconds


def fasttext_environment() -> dict:
    """This process's environment for a run of fastText's own trainer, with its unwritten memory zeroed."""
    return {**os.environ, **FASTTEXT_RELEASE_MEMORY}


def bench_data():
    """The real data for a full run (without it: stop and say what to fetch); the generated data for a quick one."""
    return generated_data() if QUICK else require_real_data()


def corpus_files(data):
    """Plain text for word vectors: WikiText-2's valid and test parts (463k tokens), or the generated corpus."""
    return [data.corpus] if data.source == "generated" else [WIKITEXT_DIR / "valid.txt", WIKITEXT_DIR / "test.txt"]


def write_corpus(data, path, copies=1):
    """The word-vector corpus, lower-cased, `copies` times over, in one file."""
    text = "".join(open(name, encoding="utf-8").read().lower() for name in corpus_files(data))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            f.write(text)
    return path


def full_or_quick(full, quick):
    return quick if QUICK else full


def _cpu_model():
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib():
    for line in open("/proc/meminfo", encoding="utf-8"):
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20)
    return None


def _gpus():
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "no GPU"
    names = result.stdout.split("\n") if result.returncode == 0 else []
    return ", ".join(name for name in names if name.strip()) or "no GPU"


def machine():
    """One line naming the machine the figures come from."""
    return (
        f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} GiB, {_gpus()}, "
        f"{platform.system()} {platform.release()}"
    )


def image_id(image):
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()[:19]


def source_state(repo=REPO):
    """The commit the benchmark ran (None outside a git checkout) and whether the working tree differed from it
    (tracked or untracked files; ignored ones such as bench-results/ do not count)."""

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": True}
    return {"commit": head.stdout.strip(), "dirty": bool(git("status", "--porcelain").stdout.strip())}


def data_hashes(data):
    """sha256 of each file of the data set a benchmark read, by its folder and name: the same figures need the same
    bytes."""
    files = sorted({data.train, data.test, *corpus_files(data)})
    return {f"{path.parent.name}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def write_result(name, make_target, anchor, data=None, images=(), image_ids=None, **results):
    """bench-results/NAME.json: the results with what the report prints above each table: the machine, the UTC
    date, the command, the anchor measured side by side in the same run, the data and the images' IDs, and what
    traces the figures to one build: the commit (and whether the tree differed from it), the CPUs the benchmark
    could run on and the data's hashes. image_ids: IDs known otherwise (the image that trained reused models)."""
    known = image_ids or {}
    record = {
        "benchmark": name,
        "command": f"make {make_target}" + (f" {QUICK_SETTING}=1" if QUICK else ""),
        "anchor": anchor,
        "quick": QUICK,
        "data": data and data.source,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "images": {image: known.get(image) or image_id(image) for image in images},
        "provenance": {
            **source_state(),
            "cpus_available": len(os.sched_getaffinity(0)),
            "data_sha256": data_hashes(data) if data else {},
        },
        **results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path.relative_to(REPO)}", flush=True)
    return path
