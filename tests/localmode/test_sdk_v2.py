"""SageMaker Python SDK v2 (`sagemaker<3`) in local mode: `make demo`'s script end to end (Estimator, Model.deploy,
Transformer), the metric definitions against its real log, and two-host training (instance_count=2)."""

import collections
import csv
import io
import json
import os
import re
import subprocess
import tarfile
import time

import pytest

import launch_metrics
from tests.localmode.conftest import (
    NO_NETWORK,
    SCRIPTS,
    SdkRun,
    check_local_gpu_compose,
    job_metrics,
    left_since,
    local_mode_state,
)
from tests.support.containers import docker

# Small enough for two hosts on two cores: the dense embedding gradient crosses the network every step.
QUICK = {"epochs": "3", "ngram_buckets": "20000"}
# The workshop's BlazingText job (mode batch_skipgram, no subwords), smaller.
WORKSHOP_WORD_VECTORS = {"mode": "batch_skipgram", "epochs": "5", "vector_dim": "50", "min_count": "2"}


def _metrics(job_dir):
    return job_metrics(job_dir / "output.tar.gz")


@pytest.fixture(scope="module")
def demo(sdk_v2_python, cpu_image, serve_image, tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    before = local_mode_state()
    run = SdkRun(sdk_v2_python, SCRIPTS / "demo.py", "--output", output)
    run.left, run.folders_left = left_since(before)
    run.dir = output
    return run


def test_demo_trains_deploys_predicts_transforms_and_cleans_up(demo):
    demo.check()
    for step in range(1, 6):
        assert f"==> [{step}/5]" in demo.output
    assert not demo.left and not demo.folders_left  # containers, running or stopped, and the SDK's files
    # The terminal shows the steps and their results; the SDK's compose files and the containers' logs are in the log.
    assert len(demo.output.splitlines()) < 50 and str(demo.dir / "demo.log") in demo.output, demo.output
    assert "docker-compose" not in demo.output and "epoch=1" not in demo.output
    log = (demo.dir / "demo.log").read_text()
    assert "epoch=1 train_loss=" in log and "services:" in log

    metrics = _metrics(demo.dir / "jobs" / "classifier")
    assert metrics["test"]["accuracy"] > 0.9
    assert metrics["embedding_coverage"]["type_coverage"] > 0.9  # the vectors of step 2 were used
    with tarfile.open(demo.dir / "jobs" / "embeddings" / "model.tar.gz") as archive:
        assert {"vectors.bin", "vectors.txt"} <= set(archive.getnames())

    # The endpoint's answers, as the demo printed them.
    for name, headline in [
        ("business", "Stocks rally"),
        ("science and technology", "NASA launches"),
        ("entertainment", "The pop star"),
        ("health", "Health officials warn"),
    ]:
        assert re.search(rf"{name}\s+0\.\d+\s+{headline}", demo.output), headline

    # The batch transform: one JSON line per input line, mostly right.
    titles = (demo.dir / "data" / "transform-input" / "headlines.txt").read_text().splitlines()
    rows = list(
        csv.reader(io.StringIO((demo.dir / "data" / "headlines-test" / "test.tsv").read_text()), delimiter="\t")
    )
    predictions = [json.loads(line) for line in (demo.dir / "transform" / "headlines.txt.out").read_text().splitlines()]
    assert len(predictions) == len(titles) == len(rows)
    correct = sum(p["label"] == row[4] for p, row in zip(predictions, rows))
    assert correct / len(rows) > 0.9


def test_metric_definitions_parse_the_real_log_lines(demo):
    demo.check()
    history = _metrics(demo.dir / "jobs" / "classifier")["history"]
    log = (demo.dir / "demo.log").read_text()  # the containers' logs, as the SDK streamed them
    for definition in launch_metrics.CLASSIFIER_METRICS + launch_metrics.WORD_VECTOR_METRICS:
        values = [float(v) for v in re.findall(definition["Regex"], log)]
        assert values, f"{definition['Name']}: no log line matches {definition['Regex']}"
    validation = [float(v) for v in re.findall(launch_metrics.CLASSIFIER_METRICS[3]["Regex"], log)]
    assert validation == [round(row["validation_accuracy"], 6) for row in history]
    epoch_losses = re.findall(launch_metrics.WORD_VECTOR_METRICS[0]["Regex"], log)
    assert len(epoch_losses) == 5


def _launch_train(python, output, instance_count, channels, hyperparameters):
    """A local-mode training job through launch.py: channels {name: folder}, its result in output/result.json."""
    return SdkRun(
        python,
        SCRIPTS / "launch.py",
        "train",
        "--image",
        "headlines-train:cpu",
        "--instance-count",
        instance_count,
        *[item for name, folder in channels.items() for item in ("--channel", f"{name}=file://{folder}")],
        "--output",
        f"file://{output}",
        *[f"--hp={k}={v}" for k, v in hyperparameters.items()],
        "--result",
        output / "result.json",
    )


def _train(python, data, output, instance_count):
    channels = {"train": data / "headlines", "test": data / "headlines-test"}
    return _launch_train(python, output, instance_count, channels, QUICK)


def test_two_hosts_train_with_the_parameter_server_like_one(
    sdk_v2_python, cpu_image, demo_data, tmp_path, no_containers_left
):
    one = _train(sdk_v2_python, demo_data, tmp_path / "one", 1).check()
    two = _train(sdk_v2_python, demo_data, tmp_path / "two", 2).check()
    one_metrics, two_metrics = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert two_metrics["kvstore"] == "dist_sync" and len(two_metrics["hosts"]) == 2
    assert abs(one_metrics["test"]["accuracy"] - two_metrics["test"]["accuracy"]) <= 0.01
    # Both containers trained, each on its own half; the scheduler ran on algo-1.
    workers = re.findall(r"(algo-\d)-\w+\s*\|.*host (\d) of 2 \(dist_sync\): training on (\d+) of (\d+)", two.output)
    assert {w[0] for w in workers} == {"algo-1", "algo-2"} and {w[1] for w in workers} == {"0", "1"}
    # Equal shares, logged by both hosts in each pass (the first, and a refit's on all of train where there is one).
    assert set(collections.Counter(w[2:] for w in workers).values()) == {2}
    assert re.search(r"algo-1-\w+\s*\|.*this is algo-1-\w+ \(scheduler, server and worker\)", two.output)
    print(
        f"one host: {one.seconds:.0f} s, accuracy {one_metrics['test']['accuracy']:.4f}; "
        f"two hosts: {two.seconds:.0f} s, accuracy {two_metrics['test']['accuracy']:.4f}"
    )


def _word_vectors(python, data, output, instance_count):
    return _launch_train(python, output, instance_count, {"train": data / "corpus"}, WORKSHOP_WORD_VECTORS)


def test_two_hosts_train_batch_skipgram_word_vectors_as_the_workshop_did(
    sdk_v2_python, cpu_image, demo_data, tmp_path, no_containers_left
):
    one = _word_vectors(sdk_v2_python, demo_data, tmp_path / "one", 1).check()
    two = _word_vectors(sdk_v2_python, demo_data, tmp_path / "two", 2).check()
    one_metrics, two_metrics = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert len(two_metrics["hosts"]) == 2 and two_metrics["bytes_exchanged_per_epoch"] > 0
    assert two_metrics["history"][-1]["loss"] == pytest.approx(one_metrics["history"][-1]["loss"], rel=0.05)
    shares = re.findall(
        r"(algo-\d)-\w+\s*\|.*CPU engine: \d+ threads, \d+ rounds an epoch, (\d+) of (\d+) tokens", two.output
    )
    assert sorted(host for host, _, _ in shares) == ["algo-1", "algo-2"]
    assert sum(int(share) for _, share, _ in shares) == int(shares[0][2])
    with tarfile.open(tmp_path / "two" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["vectors.bin", "vectors.txt"]
    print(
        f"word vectors, one host: {one.seconds:.0f} s, loss {one_metrics['history'][-1]['loss']:.4f}; two hosts: "
        f"{two.seconds:.0f} s, loss {two_metrics['history'][-1]['loss']:.4f}, "
        f"{two_metrics['bytes_exchanged_per_epoch'] / 2**20:.1f} MiB exchanged an epoch by each host"
    )


def test_a_host_lost_mid_training_ends_the_job_with_the_reason(
    sdk_v2_python, cpu_image, demo_data, tmp_path, no_containers_left
):
    output = tmp_path / "job"
    command = [
        sdk_v2_python,
        str(SCRIPTS / "launch.py"),
        "train",
        "--image",
        "headlines-train:cpu",
        "--instance-count",
        "2",
        "--channel",
        f"train=file://{demo_data / 'headlines'}",
        "--output",
        f"file://{output}",
        "--hp=ngram_buckets=20000",
        "--hp=epochs=200",
        "--hp=early_stopping_patience=0",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, **NO_NETWORK)
    )
    lines = []
    deadline = time.monotonic() + 600
    for line in process.stdout:
        lines.append(line)
        if re.search(r"algo-2-\w+\s*\|.*epoch=1 ", line) or time.monotonic() > deadline:
            break
    assert any("epoch=1 " in line for line in lines), "".join(lines)[-4000:]
    victim = next(name for name in docker("ps", "--format", "{{.Names}}").stdout.split() if "algo-2" in name)
    docker("kill", victim)
    killed = time.monotonic()
    lines += process.stdout.readlines()
    process.wait(120)
    ended = time.monotonic() - killed
    log = "".join(lines)
    assert process.returncode != 0
    assert ended < 60, f"the job took {ended:.0f} s to end after a host was lost"
    # The surviving host names the lost one, though docker-compose stops it with SIGTERM a moment later.
    assert re.search(r"algo-1-\w+\s*\|.*Host algo-2-\w+ stopped before training finished", log), log[-4000:]
    # Local mode packs what the hosts left: the failure reason, and no model files.
    with tarfile.open(output / "output.tar.gz") as archive:
        reason = archive.extractfile("failure").read().decode()
    assert re.match(r"Host algo-2-\w+ stopped before training finished", reason), reason
    with tarfile.open(output / "model.tar.gz") as archive:
        assert archive.getnames() == []


LOCAL_GPU_COMPOSE = """
import json, sys
from sagemaker.local import LocalSession
from sagemaker.local.image import _SageMakerContainer
session = LocalSession()
session.config = {"local": {"local_code": True}}
container = _SageMakerContainer("local_gpu", 2, sys.argv[1], sagemaker_session=session)
container.container_root = sys.argv[2]
print(json.dumps(container._generate_compose_file("train")))
"""


def test_local_gpu_compose_file_gives_every_host_all_gpus(sdk_v2_python, gpu_image, tmp_path):
    script = tmp_path / "compose.py"
    script.write_text(LOCAL_GPU_COMPOSE)
    output = SdkRun(sdk_v2_python, script, gpu_image, tmp_path).check().process.stdout
    compose = json.loads(output.strip().splitlines()[-1])  # after the SDK's own notices
    check_local_gpu_compose(compose, tmp_path / "docker-compose.yaml", gpu_image, hosts=2)
    assert all(service["command"] == "train" for service in compose["services"].values())
