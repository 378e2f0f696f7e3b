"""Serving benchmark: the serving container with models the CPU training image trained on the UCI story split
(both architectures). Cold start, single-headline requests at several concurrencies, one request of 1,000
headlines, /ping under load, memory per worker, a sweep of worker counts, image size. The anchor, measured in the
same run: the model's own Predictor called in-process inside the same container, one thread, no HTTP — the floor
that the server's latency adds to. Writes bench-results/serve.json.

    make bench-serve      (QUICK=1: generated data, short runs; or: .venv/bin/python benchmarks/serve_load.py
                           [--seconds 10] [--reuse-models])

The load generator (tests/loadgen.py) runs on the same machine as the container, so the figures include the
client's share of the CPU.
"""

import argparse
import json
import threading
import time

from harness import RESULTS_DIR, bench_data, full_or_quick, write_result
from helpers import ServeContainer, docker
from loadgen import http_request, run_load
from train_uci import run_job

CONCURRENCIES = full_or_quick((1, 2, 4, 8, 16, 32), (1, 8))
COLD_STARTS = full_or_quick(3, 1)
SWEEP_WORKERS = full_or_quick((1, 2, 3, 4), ())
# Inside the serving container: the model's Predictor on its own, one thread, on the benchmark's headlines.
IN_PROCESS_SCRIPT = """
import json, statistics, time
from headlines.serving.loading import load_model
predictor = load_model('/opt/ml/model')
headlines = json.loads(HEADLINES_JSON)
def timed(batch, runs):
    seconds = []
    for _ in range(runs):
        started = time.perf_counter(); predictor.predict(batch); seconds.append(time.perf_counter() - started)
    return sorted(seconds)
predictor.predict(headlines[:8])
one = timed(headlines[:1], 500)
thousand = statistics.median(timed(headlines, 5))
print(json.dumps({"one_p50_ms": round(one[len(one) // 2] * 1000, 3),
                  "one_p99_ms": round(one[int(0.99 * len(one))] * 1000, 3),
                  "thousand_p50_ms": round(thousand * 1000, 1)}))
"""

ARCHITECTURES = full_or_quick(("fasttext", "cnn"), ("fasttext",))
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


def train_models(folder, image, data, reuse):
    models = {}
    for architecture in ARCHITECTURES:
        base = folder / architecture
        if not (reuse and (base / "model" / "model-symbol.json").exists()):
            print(f"training {architecture} on {data.source} data with {image}", flush=True)
            run_job(image, base, architecture, data.train, test_file=data.test)
        models[architecture] = base / "model"
    return models


def cold_starts(image, model_dir):
    seconds = []
    for _ in range(COLD_STARTS):
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
    return {
        "master": next({"rss_mib": mib(r[2]), "anon_mib": mib(r[3])} for r in rows if r[0] == "1"),
        "workers": [{"rss_mib": mib(r[2]), "anon_mib": mib(r[3])} for r in rows if r[1] == "1"],
    }


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


def invocation(headlines):
    return http_request("localhost", "/invocations", json.dumps({"instances": headlines}).encode())


def in_process(container, headlines):
    """The anchor: Predictor.predict in the container's Python, one thread, one headline and 1,000 headlines."""
    return json.loads(container.python(IN_PROCESS_SCRIPT.replace("HEADLINES_JSON", repr(json.dumps(headlines)))))


def benchmark_architecture(image, model_dir, data, seconds):
    result = {"cold_start_seconds": cold_starts(image, model_dir)}
    one, thousand = invocation(data.headlines(1)), invocation(data.headlines(1000))
    container = ServeContainer(image, model_dir).start().wait_ready()
    try:
        run_load(container.address, one, 8, 2)  # warm-up
        result["single_headline"] = []
        for concurrency in CONCURRENCIES:
            result["single_headline"].append(run_load(container.address, one, concurrency, seconds).summary())
            print(result["single_headline"][-1], flush=True)
        result["thousand_headlines"] = run_load(container.address, thousand, 1, seconds).summary()
        result["ping_ms_under_load"] = pings_under_load(container, invocation(data.headlines(100)), seconds)
        result["memory"] = memory(container)
        result["in_process"] = in_process(container, data.headlines(1000))
    finally:
        container.remove()
    return result


def worker_sweep(image, model_dir, data, seconds):
    rows = []
    one = invocation(data.headlines(1))
    for workers in SWEEP_WORKERS:
        container = ServeContainer(image, model_dir, env={"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)})
        container.start().wait_ready()
        try:
            run_load(container.address, one, 8, 2)
            for concurrency in (8, 32):
                rows.append(dict(run_load(container.address, one, concurrency, seconds).summary(), workers=workers))
        finally:
            container.remove()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="headlines-serve:cpu")
    parser.add_argument("--train-image", default="headlines-train:cpu")
    parser.add_argument("--seconds", type=int, default=full_or_quick(10, 3), help="length of each load run")
    parser.add_argument("--reuse-models", action="store_true", help="keep models from an earlier run")
    args = parser.parse_args()
    data = bench_data()
    models = train_models(RESULTS_DIR / "serve-models", args.train_image, data, args.reuse_models)
    results = {
        "image_bytes": int(docker("image", "inspect", "-f", "{{.Size}}", args.image).stdout),
        "seconds_per_run": args.seconds,
        "architectures": {},
    }
    for architecture, model_dir in models.items():
        print(f"benchmarking {architecture}", flush=True)
        results["architectures"][architecture] = benchmark_architecture(args.image, model_dir, data, args.seconds)
    print("worker sweep", flush=True)
    results["worker_sweep"] = worker_sweep(args.image, models["fasttext"], data, args.seconds)
    write_result(
        "serve",
        "bench-serve",
        "the model's Predictor called in-process in the same container, one thread, no HTTP",
        data=data,
        images=[args.image, args.train_image],
        **results,
    )


if __name__ == "__main__":
    main()
