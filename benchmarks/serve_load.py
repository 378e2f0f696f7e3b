"""Serving benchmark: the serving container with models the CPU training image trained on the UCI story split
(both architectures). Cold start, single-headline requests at several concurrencies, one request of 1,000
headlines, /ping under load (one-headline requests, and beside the largest requests an endpoint and a batch
transform accept), memory per worker, a sweep of worker counts, image size. The anchor, measured in the
same run: the model's own Predictor called in-process inside the same container, one thread, no HTTP — the floor
that the server's latency adds to.

Then side by side with AWS's MXNet inference toolkit (benchmarks/toolkit/: sagemaker-mxnet-inference 1.5.5 on
multi-model-server, started as AWS's MXNet inference container starts it, serving the same model folder through a
handler module that answers what our /invocations answers): two rounds a model, ours then the toolkit's in each,
both with SAGEMAKER_MODEL_SERVER_WORKERS=2 as SageMaker would set it. Each server, in a fresh container: cold
start (docker run to the first /ping 200, and to the first successful prediction), one-headline JSON requests at
concurrency 1, 8 and 32, the median of 5 requests of 1,000 headlines, then the memory of every process in the
container (the sums of RSS and of PSS, which counts pages the processes share once), and the image's size. Both
servers' predictions of the same headlines must agree to 1e-5. A quick run measures one round on fasttext.

Writes bench-results/serve.json.

    make bench-serve      (QUICK=1: generated data, short runs; or, from the repository root:
                           .venv/bin/python -m benchmarks.serve_load [--seconds 10] [--reuse-models]
                           [--toolkit-image IMAGE])

The load generator (tests/support/loadgen.py) runs on the same machine as the container, so the figures include the
client's share of the CPU.
"""

import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.error
import urllib.request

from benchmarks.harness import QUICK, RESULTS_DIR, bench_data, full_or_quick, image_id, write_result
from benchmarks.train_uci import run_job
from headlines.environment import ServingEnvironment
from tests.support.containers import ServeContainer, docker
from tests.support.loadgen import http_request, run_load
from tests.support.repo import load_script
from tests.support.responses import pings_beside_invocations

CONCURRENCIES = full_or_quick((1, 2, 4, 8, 16, 32), (1, 8))
COLD_STARTS = full_or_quick(3, 1)
SWEEP_WORKERS = full_or_quick((1, 2, 3, 4), ())
LARGEST_REQUESTS = {"endpoint": {}, "batch transform": {"SAGEMAKER_BATCH": "true"}}
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
TRAINED_BY = "trained-by"  # beside a model: the ID of the image that trained it, for --reuse-models
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
    """{architecture: model folder}, and the ID of the image that trained them: with reuse, a model an earlier run
    left is kept with the ID that run recorded beside it (TRAINED_BY); every model must come from one image."""
    models, trained_by = {}, set()
    for architecture in ARCHITECTURES:
        base = folder / architecture
        record = base / TRAINED_BY
        if not (reuse and (base / "model" / "model-symbol.json").exists() and record.exists()):
            print(f"training {architecture} on {data.source} data with {image}", flush=True)
            run_job(image, base, architecture, data.train, test_file=data.test, keep=True)
            record.write_text(image_id(image))
        trained_by.add(record.read_text())
        models[architecture] = base / "model"
    if len(trained_by) > 1:
        raise SystemExit(
            f"the reused models in {folder} come from different images ({sorted(trained_by)}): run "
            f"without --reuse-models"
        )
    return models, trained_by.pop()


def cold_starts(image, model_dir):
    seconds = []
    for _ in range(COLD_STARTS):
        container = ServeContainer(image, model_dir)
        started = time.monotonic()
        container.start().use_container_address().wait_ready()
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


def pings_beside_largest_requests(image, model_dir, data, environ):
    """/ping latencies (ms) while two workers run four requests of the largest body the endpoint accepts (6 MB; 100
    MB with SAGEMAKER_BATCH=true), until the first is answered or 30 pings (the container test's measure)."""
    environ = {**environ, "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    body = data.headlines_body(ServingEnvironment.from_environ(environ).request_limit_bytes)
    container = ServeContainer(image, model_dir, env=environ).start().use_container_address().wait_ready()
    try:
        latencies, _ = pings_beside_invocations(container.url(""), body)
    finally:
        container.remove()  # the requests still running end with it
    return {"body_mib": round(len(body) / 2**20, 1), "ping_ms": [round(s * 1000, 1) for s in latencies]}


def invocation(headlines):
    return http_request("localhost", "/invocations", json.dumps({"instances": headlines}).encode())


def in_process(container, headlines):
    """The anchor: Predictor.predict in the container's Python, one thread, one headline and 1,000 headlines."""
    return json.loads(container.python(IN_PROCESS_SCRIPT.replace("HEADLINES_JSON", repr(json.dumps(headlines)))))


def benchmark_architecture(image, model_dir, data, seconds):
    result = {"cold_start_seconds": cold_starts(image, model_dir)}
    one, thousand = invocation(data.headlines(1)), invocation(data.headlines(1000))
    container = ServeContainer(image, model_dir).start().use_container_address().wait_ready()
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
    result["ping_beside_largest_requests"] = {
        kind: pings_beside_largest_requests(image, model_dir, data, environ)
        for kind, environ in LARGEST_REQUESTS.items()
    }
    return result


def worker_sweep(image, model_dir, data, seconds):
    rows = []
    one = invocation(data.headlines(1))
    for workers in SWEEP_WORKERS:
        container = ServeContainer(image, model_dir, env={"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)})
        container.start().use_container_address().wait_ready()
        try:
            run_load(container.address, one, 8, 2)
            for concurrency in (8, 32):
                rows.append(dict(run_load(container.address, one, concurrency, seconds).summary(), workers=workers))
        finally:
            container.remove()
    return rows


# --- side by side with AWS's MXNet inference toolkit -----------------------------------------------------------

TOOLKIT_IMAGE = load_script("images").BENCHMARK_IMAGES["bench-toolkit"].local()
SIDE_BY_SIDE_WORKERS = 2  # SAGEMAKER_MODEL_SERVER_WORKERS on both sides, as SageMaker would set it
SIDE_BY_SIDE_CONCURRENCIES = (1, 8, 32)
SIDE_BY_SIDE_ROUNDS = full_or_quick(2, 1)
THOUSAND_RUNS = 5
AGREEMENT_TOLERANCE = 1e-5
READY_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.02  # as ServeContainer.wait_ready polls
JSON_TYPE = "application/json"
# Every process of a server's container, read by a second container in its PID namespace. A process that changed
# its user (our gunicorn workers) lets only CAP_SYS_PTRACE read its smaps_rollup, and `docker exec` cannot add a
# capability. Pss shares each page among the processes that map it, so the sum counts shared pages once.
PROCESS_MEMORY_SCRIPT = """
import json, os
for pid in sorted(filter(str.isdigit, os.listdir('/proc')), key=int):
    if int(pid) == os.getpid():
        continue
    try:
        ppid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])
        command = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode(errors='replace').strip()
        rollup = open(f'/proc/{pid}/smaps_rollup').read().splitlines()[1:]
        fields = {key: int(value.split()[0]) for key, value in (line.split(':', 1) for line in rollup)}
        rss, pss = fields['Rss'], fields['Pss']
    except (OSError, KeyError, ValueError):
        continue
    print(json.dumps({'pid': int(pid), 'ppid': ppid, 'command': command[:120], 'rss_kib': rss, 'pss_kib': pss}))
"""


def image_bytes(image):
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)


def full_image_id(image):
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()


def post(container, body, timeout=30):
    """(status, body) of one JSON POST to /invocations; status None when the server did not answer."""
    request = urllib.request.Request(
        container.url("/invocations"), data=body, headers={"Content-Type": JSON_TYPE, "Accept": JSON_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException):
        return None, b""


def cold_start(container, started, body):
    """Seconds from `docker run` (started) to the first /ping 200 and to the first successful prediction, each
    polled on its own thread: multi-model-server answers /ping before its workers have loaded the model, and holds
    a request until one has."""
    seconds = {}

    def poll(key, status):
        checked = time.monotonic()
        while time.monotonic() < started + READY_TIMEOUT_SECONDS:
            if status() == 200:
                seconds[key] = round(time.monotonic() - started, 3)
                return
            if time.monotonic() - checked > 0.5:  # `docker inspect` is slower than a poll: not every time
                if container.state()["Status"] != "running":
                    return
                checked = time.monotonic()
            time.sleep(POLL_SECONDS)

    threads = [
        threading.Thread(target=poll, args=("ping_seconds", container.ping)),
        threading.Thread(target=poll, args=("first_prediction_seconds", lambda: post(container, body)[0])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(seconds) < len(threads):
        raise AssertionError(f"{container.image} did not become ready ({seconds}):\n{container.logs()[-4000:]}")
    return seconds


def predictions(container, headlines):
    status, body = post(container, json.dumps({"instances": headlines}).encode())
    if status != 200:
        raise AssertionError(f"{container.image} answered {status}: {body[:2000]!r}")
    return json.loads(body)["predictions"]


def prediction_difference(ours, theirs):
    """The largest absolute difference between two servers' probabilities for the same headlines; None when the
    answers differ in anything else (count, labels, label names, the labels they give probabilities for)."""
    shape = lambda answer: [(p["label"], p["label_name"], p["probabilities"].keys()) for p in answer]  # noqa: E731
    if shape(ours) != shape(theirs):
        return None
    return max(
        (
            abs(a["probabilities"][label] - b["probabilities"][label])
            for a, b in zip(ours, theirs)
            for label in a["probabilities"]
        ),
        default=0.0,
    )


def thousand_headlines(container, body, runs=THOUSAND_RUNS):
    """Milliseconds of `runs` requests of 1,000 headlines one after another on one connection, after one more that
    is not counted (the first batch of a size allocates its buffers), and their median."""
    connection = http.client.HTTPConnection(*container.address, timeout=120)

    def once():
        started = time.perf_counter()
        connection.request("POST", "/invocations", body, {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise AssertionError(f"{container.image}: 1,000 headlines answered {response.status}: {answer[:500]!r}")
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        once()
        runs_ms = [once() for _ in range(runs)]
    finally:
        connection.close()
    return {"runs_ms": runs_ms, "p50_ms": statistics.median(runs_ms)}


def process_memory(container):
    """RSS and PSS (KiB) of every process in the container, and their sums in MiB."""
    result = docker(
        "run", "--rm", "--pid", f"container:{container.name}", "--cap-add", "SYS_PTRACE", "--network", "none",
        "--entrypoint", "python3", container.image, "-c", PROCESS_MEMORY_SCRIPT, check=False,
    )  # fmt: skip
    processes = [json.loads(line) for line in result.stdout.splitlines()]
    if result.returncode != 0 or not processes:
        raise AssertionError(f"reading the processes' memory in {container.name} failed: {result.stderr[-2000:]}")
    return {
        "processes": processes,
        "rss_mib": round(sum(p["rss_kib"] for p in processes) / 1024, 1),
        "pss_mib": round(sum(p["pss_kib"] for p in processes) / 1024, 1),
    }


def container_cpu_seconds(container):
    """CPU time every process of the container has used so far, from its cgroup (v1 cpuacct or v2 cpu.stat); None
    where neither is found."""
    container_id = docker("inspect", "-f", "{{.Id}}", container.name).stdout.strip()
    v1 = f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage"
    if os.path.exists(v1):
        return int(open(v1).read()) / 1e9
    for v2 in (f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope", f"/sys/fs/cgroup/docker/{container_id}"):
        if os.path.exists(f"{v2}/cpu.stat"):
            stats = dict(line.split() for line in open(f"{v2}/cpu.stat"))
            return int(stats["usage_usec"]) / 1e6
    return None


def load_with_cpu(container, request, concurrency, seconds):
    """A load run's summary, with the CPU each request cost the server's container and the load generator (this
    process): both share the machine's cores, so together they bound the requests a second."""
    server, client = container_cpu_seconds(container), time.process_time()
    summary = run_load(container.address, request, concurrency, seconds).summary()
    requests = max(summary["requests"], 1)
    if server is not None:
        summary["server_cpu_ms"] = round((container_cpu_seconds(container) - server) / requests * 1000, 3)
    summary["client_cpu_ms"] = round((time.process_time() - client) / requests * 1000, 3)
    return summary


def measure_server(image, model_dir, data, seconds, agreement_headlines):
    """One server in a fresh container: its figures, and its predictions of agreement_headlines."""
    one = invocation(data.headlines(1))
    container = ServeContainer(image, model_dir, env={"SAGEMAKER_MODEL_SERVER_WORKERS": str(SIDE_BY_SIDE_WORKERS)})
    started = time.monotonic()
    container.start().use_container_address()
    try:
        result = {"cold_start": cold_start(container, started, json.dumps({"instances": data.headlines(1)}).encode())}
        answers = predictions(container, agreement_headlines)
        run_load(container.address, one, 8, min(2, seconds))  # warm-up
        result["single_headline"] = [
            load_with_cpu(container, one, concurrency, seconds) for concurrency in SIDE_BY_SIDE_CONCURRENCIES
        ]
        result["thousand_headlines"] = thousand_headlines(
            container, json.dumps({"instances": data.headlines(1000)}).encode()
        )
        result["memory"] = process_memory(container)
    finally:
        container.remove()
    return result, answers


def _one_line(result):
    loads = ", ".join(
        f"c={r['concurrency']} {r['requests_per_second']} req/s p99 {r['p99_ms']} ms" for r in result["single_headline"]
    )
    return (
        f"cold {result['cold_start']['ping_seconds']}/{result['cold_start']['first_prediction_seconds']} s; {loads}; "
        f"1,000 headlines {result['thousand_headlines']['p50_ms']} ms; "
        f"RSS {result['memory']['rss_mib']} MiB, PSS {result['memory']['pss_mib']} MiB"
    )


def side_by_side(our_image, toolkit_image, models, data, seconds):
    """Ours and AWS's toolkit, alternating, SIDE_BY_SIDE_ROUNDS rounds for each model."""
    if docker("image", "inspect", toolkit_image, check=False).returncode != 0:
        raise SystemExit(
            f"{toolkit_image} is not built: make bench-toolkit-image (scripts/build-images.sh bench-toolkit)"
        )
    # Every round runs the images the tags name now, by ID, even if a build moves a tag meanwhile.
    images = {"ours": full_image_id(our_image), "toolkit": full_image_id(toolkit_image)}
    record = {
        "image": toolkit_image,
        "image_bytes": image_bytes(toolkit_image),
        "measured_images": {our_image: images["ours"][:19], toolkit_image: images["toolkit"][:19]},
        "workers": SIDE_BY_SIDE_WORKERS,
        "rounds": SIDE_BY_SIDE_ROUNDS,
        "seconds_per_run": seconds,
        "thousand_runs": THOUSAND_RUNS,
        "agreement_headlines": len(data.test_rows()),  # the whole test split, once a round
        "quick_scope": "one round, fasttext only" if QUICK else None,
        "architectures": {},
    }
    headlines = data.headlines(len(data.test_rows()))
    for architecture, model_dir in models.items():
        rounds = []
        for number in range(1, SIDE_BY_SIDE_ROUNDS + 1):
            measured, answers = {"round": number}, {}
            for side, image in (("ours", our_image), ("toolkit", toolkit_image)):
                print(f"side by side: {architecture}, round {number}, {side} ({image})", flush=True)
                measured[side], answers[side] = measure_server(images[side], model_dir, data, seconds, headlines)
                print("   ", _one_line(measured[side]), flush=True)
            difference = prediction_difference(answers["ours"], answers["toolkit"])
            if difference is None or difference > AGREEMENT_TOLERANCE:
                how = "with other labels" if difference is None else f"with probabilities up to {difference:.2g} apart"
                raise SystemExit(
                    f"{our_image} and {toolkit_image} answer the same {len(headlines)} headlines {how} (the "
                    f"tolerance is {AGREEMENT_TOLERANCE}): ours {answers['ours']}, toolkit {answers['toolkit']}"
                )
            measured["max_probability_difference"] = difference
            rounds.append(measured)
        record["architectures"][architecture] = rounds
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="headlines-serve:cpu")
    parser.add_argument("--train-image", default="headlines-train:cpu")
    parser.add_argument(
        "--toolkit-image", default=TOOLKIT_IMAGE, help="AWS's toolkit serving our model (make bench-toolkit-image)"
    )
    parser.add_argument("--seconds", type=int, default=full_or_quick(10, 3), help="length of each load run")
    parser.add_argument("--reuse-models", action="store_true", help="keep models from an earlier run")
    args = parser.parse_args()
    data = bench_data()
    models, trained_by = train_models(RESULTS_DIR / "serve-models", args.train_image, data, args.reuse_models)
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
    results["toolkit"] = side_by_side(args.image, args.toolkit_image, models, data, args.seconds)
    write_result(
        "serve",
        "bench-serve",
        "the model's Predictor called in-process in the same container, one thread, no HTTP; and AWS's MXNet "
        "inference toolkit serving the same model, alternating with ours",
        data=data,
        images=[args.image, args.train_image] + ([args.toolkit_image] if "architectures" in results["toolkit"] else []),
        image_ids={args.train_image: trained_by},
        **results,
    )


if __name__ == "__main__":
    main()
