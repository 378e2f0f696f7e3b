"""Serving benchmark: the serving container with models the CPU training image trained on the UCI story split
(both architectures). Cold start, single-headline requests at several concurrencies, one request of 1,000
headlines, /ping under load, memory per worker, a sweep of worker counts, image size. Writes
bench-results/serve.{json,md}.

    make bench-serve      (or: .venv/bin/python benchmarks/serve_load.py [--seconds 10] [--reuse-models])

The load generator (tests/loadgen.py) runs on the same machine as the container, so the figures include the
client's share of the CPU.
"""

import argparse
import json
import pathlib
import statistics
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from helpers import ServeContainer, docker, real_data, require_real_data  # noqa: E402
from loadgen import http_request, run_load  # noqa: E402
from train_uci import run_job  # noqa: E402

ARCHITECTURES = ("fasttext", "cnn")
MEMORY_SCRIPT = """
import os
for pid in sorted(filter(str.isdigit, os.listdir('/proc')), key=int):
    try:
        ppid = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1]
        status = dict(line.split(':', 1) for line in open(f'/proc/{pid}/status').read().splitlines())
    except OSError:
        continue
    print(pid, ppid, status['VmRSS'].split()[0], status['RssAnon'].split()[0])
"""


def train_models(folder, image, reuse):
    models = {}
    for architecture in ARCHITECTURES:
        base = folder / architecture
        if not (reuse and (base / "model" / "model-symbol.json").exists()):
            print(f"training {architecture} on the UCI split with {image}", flush=True)
            run_job(image, base, architecture)
        models[architecture] = base / "model"
    return models


def cold_starts(image, model_dir, runs=3):
    seconds = []
    for _ in range(runs):
        container = ServeContainer(image, model_dir)
        started = time.monotonic()
        container.start().wait_ready()
        seconds.append(time.monotonic() - started)
        container.remove()
    return seconds


def memory(container):
    """RSS and anonymous RSS (MiB) of the master (PID 1) and each worker. Anonymous memory is what a worker adds
    on its own; file-backed pages (libmxnet.so) are shared. (/proc/PID/status: the workers' smaps are closed to
    every user in the container once they have dropped privileges.)"""
    rows = [line.split() for line in container.python(MEMORY_SCRIPT).splitlines()]
    mib = lambda kb: round(int(kb) / 1024, 1)  # noqa: E731
    return {"master": next({"rss_mib": mib(r[2]), "anon_mib": mib(r[3])} for r in rows if r[0] == "1"),
            "workers": [{"rss_mib": mib(r[2]), "anon_mib": mib(r[3])} for r in rows if r[1] == "1"]}


def pings_under_load(container, request, seconds):
    """Latencies (ms) of /ping sent every 200 ms while 32 connections send request."""
    stop = threading.Event()
    load = threading.Thread(target=run_load, args=(container.address, request, 32, seconds, stop))
    load.start()
    time.sleep(1)
    latencies = []
    while load.is_alive() and len(latencies) < 5 * (seconds - 2):
        started = time.monotonic()
        status = container.ping(timeout=5)
        latencies.append(round((time.monotonic() - started) * 1000, 1) if status == 200 else None)
        time.sleep(0.2)
    stop.set()
    load.join()
    return latencies


def single_headline_request(count=1):
    return http_request("localhost", "/invocations", json.dumps({"instances": real_data().headlines(count)}).encode())


def benchmark_architecture(image, model_dir, seconds):
    result = {"cold_start_seconds": cold_starts(image, model_dir)}
    container = ServeContainer(image, model_dir).start().wait_ready()
    try:
        run_load(container.address, single_headline_request(), 8, 2)  # warm-up
        result["single_headline"] = [run_load(container.address, single_headline_request(), concurrency,
                                              seconds).summary() for concurrency in (1, 8, 32)]
        result["thousand_headlines"] = run_load(container.address, single_headline_request(1000), 1,
                                                seconds).summary()
        result["ping_ms_under_load"] = pings_under_load(container, single_headline_request(100), seconds)
        result["memory"] = memory(container)
    finally:
        container.remove()
    return result


def worker_sweep(image, model_dir, seconds, counts=(1, 2, 3, 4)):
    rows = []
    for workers in counts:
        container = ServeContainer(image, model_dir, env={"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)})
        container.start().wait_ready()
        try:
            run_load(container.address, single_headline_request(), 8, 2)
            for concurrency in (8, 32):
                rows.append(dict(run_load(container.address, single_headline_request(), concurrency,
                                          seconds).summary(), workers=workers))
        finally:
            container.remove()
    return rows


def markdown(report):
    lines = [f"# Serving benchmark ({report['image']}, {report['image_mb']} MB uncompressed)", "",
             "| architecture | cold start s (median of 3) | c=1 req/s, p50/p99 ms | c=8 req/s, p50/p99 ms | "
             "c=32 req/s, p50/p99 ms | 1,000 headlines p50/p99 ms | /ping max ms under load | worker RSS/anon MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for architecture, row in report["architectures"].items():
        cells = [f"{r['requests_per_second']}, {r['p50_ms']}/{r['p99_ms']}" for r in row["single_headline"]]
        big = row["thousand_headlines"]
        pings = [p for p in row["ping_ms_under_load"] if p is not None]
        failed_pings = len(row["ping_ms_under_load"]) - len(pings)
        workers = row["memory"]["workers"]
        lines.append(f"| {architecture} | {statistics.median(row['cold_start_seconds']):.2f} | " + " | ".join(cells)
                     + f" | {big['p50_ms']}/{big['p99_ms']} | {max(pings) if pings else '-'}"
                     + (f" ({failed_pings} failed)" if failed_pings else "")
                     + " | " + "; ".join(f"{w['rss_mib']}/{w['anon_mib']}" for w in workers) + " |")
    lines += ["", "Worker sweep (fasttext, single-headline JSON requests):", "",
              "| workers | concurrency | req/s | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for row in report["worker_sweep"]:
        lines.append(f"| {row['workers']} | {row['concurrency']} | {row['requests_per_second']} | {row['p50_ms']} | "
                     f"{row['p99_ms']} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="headlines-serve:cpu")
    parser.add_argument("--train-image", default="headlines-train:cpu")
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--reuse-models", action="store_true", help="keep models from an earlier run")
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "bench-results")
    args = parser.parse_args()
    require_real_data()
    args.out.mkdir(parents=True, exist_ok=True)
    models = train_models(args.out / "serve-models", args.train_image, args.reuse_models)
    report = {"image": args.image, "image_mb": int(docker("image", "inspect", "-f", "{{.Size}}", args.image).stdout)
              // 1_000_000, "seconds_per_run": args.seconds, "architectures": {}}
    for architecture, model_dir in models.items():
        print(f"benchmarking {architecture}", flush=True)
        report["architectures"][architecture] = benchmark_architecture(args.image, model_dir, args.seconds)
    print("worker sweep", flush=True)
    report["worker_sweep"] = worker_sweep(args.image, models["fasttext"], args.seconds)
    (args.out / "serve.json").write_text(json.dumps(report, indent=1))
    (args.out / "serve.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
