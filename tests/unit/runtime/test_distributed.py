"""Two-host training with MXNet's parameter server, as two local processes (hosts 127.0.0.1 and localhost):
the toolkit's DMLC_* variables, host lookups retried, sharding, only hosts[0] writing the model, and a
failure on either host ending both within seconds."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import mxnet as mx
import pytest

from headlines.cli.train import EXIT_FAILED, EXIT_INTERRUPTED
from headlines.errors import JobError
from headlines.runtime import distributed
from headlines.word_vectors.cpu.rounds import rounds_per_epoch
from tests.support.data import data_set
from tests.support.fake_sagemaker import SMALL_MODEL, SMALL_WORD_VECTORS, FakeSageMaker
from tests.support.floors import Floor, assert_beats_majority, labels_of
from tests.support.ports import free_scheduler_port

LEADER, FOLLOWER = "127.0.0.1", "localhost"  # sorted: the first is hosts[0]
HOSTS = (LEADER, FOLLOWER)
JOB_SECONDS = 240
DATA = data_set()
TEST_ROWS = 400
# What each architecture trains with on top of SMALL_MODEL (cnn at its default rate learns next to nothing in 2
# epochs of so few rows: tests/unit/classifier/test_job.py).
# The fasttext model's embedding has rows enough (its words and 100,000 buckets) to be exchanged by its changed rows
# (classifier/cpu/averaging.py: two blocks of 8,192 rows or more); the cnn's, its words alone, goes whole.
TWO_HOSTS_TRAINING = {"fasttext": {"ngram_buckets": "100000"}, "cnn": {"architecture": "cnn", "learning_rate": "0.01"}}
# Two hosts training on 1,600 rows, scored on the first 400 test rows (majority rate: real 0.525, `b`; generated
# 0.273, `t`), measured: real accuracy fasttext 0.770-0.790, cnn 0.735, macro-F1 0.414-0.426 and 0.395 (m and t
# never answered); generated, which is easier, 0.965 and macro-F1 0.964 for both. Floors: that much above the
# majority rate, and a macro-F1 well above the majority answer's (real 0.17, generated 0.11).
FLOORS = {
    "real": {"fasttext": Floor(margin=0.15, min_macro_f1=0.3), "cnn": Floor(margin=0.15, min_macro_f1=0.3)},
    "generated": {"fasttext": Floor(margin=0.55, min_macro_f1=0.8), "cnn": Floor(margin=0.55, min_macro_f1=0.8)},
}
# Each worker's share of the 1,600 rows validation leaves for training: (rows, of the train rows).
WORKER_SHARE = {"real": (720, 1440), "generated": (719, 1438)}


def test_role_environment_is_the_mxnet_toolkits():
    assert distributed.role_environment("server", ["algo-1", "algo-2"], "10.0.0.2", 8000) == {
        "DMLC_NUM_WORKER": "2",
        "DMLC_NUM_SERVER": "2",
        "DMLC_ROLE": "server",
        "DMLC_PS_ROOT_URI": "10.0.0.2",
        "DMLC_PS_ROOT_PORT": "8000",
        "PS_VERBOSE": "0",
    }


def test_kvstore_type():
    assert distributed.kvstore_type(1, 0) == "device" and distributed.kvstore_type(1, 4) == "device"
    assert distributed.kvstore_type(2, 0) == "dist_sync"
    assert distributed.kvstore_type(2, 8) == "dist_device_sync"


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_host_lookup_is_retried_with_backoff_until_the_name_appears():
    clock, answers = FakeClock(), iter([OSError("no such host")] * 4 + ["10.0.0.7"])

    def resolve(host):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert (
        distributed.lookup_host("algo-2", 60, resolve=resolve, sleep=clock.sleep, clock=lambda: clock.now) == "10.0.0.7"
    )
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]


def test_host_lookup_gives_up_with_a_reason_after_the_deadline():
    clock = FakeClock()

    def resolve(host):
        raise socket.gaierror("Name or service not known")

    with pytest.raises(JobError, match="cannot resolve host algo-2"):
        distributed.lookup_host("algo-2", 120, resolve=resolve, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.now <= 120 and max(clock.sleeps) == 30.0


def test_current_host_must_be_one_of_the_hosts():
    with pytest.raises(JobError, match="not among"):
        distributed.Cluster(["algo-1", "algo-2"], "algo-3", abort=print)


# -- two hosts as two processes -------------------------------------------------------------------------------
def _host(tmp_path, name, rows, hyperparameters=None, train_lines=None):
    fake = FakeSageMaker(tmp_path / name)
    fake.add_channel("train", {"train.tsv": train_lines or DATA.train_rows(rows)})
    fake.add_channel("test", {"test.tsv": DATA.test_rows(TEST_ROWS)})
    fake.write_config(dict(SMALL_MODEL, **(hyperparameters or {})), current_host=name, hosts=HOSTS)
    return fake


def _start(fake, port):
    # The host's temporary files in its own folder: a host these tests kill, or one that ends at once when its peer
    # is lost, leaves its scratch behind (in a container, the container's /tmp goes with it).
    scratch = fake.base / "tmp"
    scratch.mkdir(exist_ok=True)
    environment = dict(
        os.environ,
        SAGEMAKER_BASE_DIR=str(fake.base),
        SM_NUM_GPUS="0",
        TMPDIR=str(scratch),
        **{distributed.PS_PORT_ENV: str(port)},
    )
    log = open(fake.base / "log.txt", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "headlines.cli.train"], env=environment, stdout=log, stderr=subprocess.STDOUT
    )


def _parameter_server_processes(port):
    """Scheduler and server processes of this test's cluster still alive (found by their environment)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environment = f.read()
        except OSError:
            continue
        if f"DMLC_PS_ROOT_PORT={port}".encode() in environment and b"DMLC_ROLE=worker" not in environment:
            found.append(int(pid))
    return found


def _wait(processes, seconds=JOB_SECONDS):
    """The processes' exit codes; past the deadline they are killed (a hung host must not outlive its test)."""
    deadline = time.monotonic() + seconds
    try:
        for process in processes:
            process.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        raise
    return [process.returncode for process in processes]


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_two_hosts_train_one_model_written_by_the_first(tmp_path, architecture):
    port = free_scheduler_port()
    hyperparameters = TWO_HOSTS_TRAINING[architecture]
    leader, follower = (_host(tmp_path, host, 1600, hyperparameters) for host in (LEADER, FOLLOWER))
    processes = [_start(follower, port), _start(leader, port)]  # the follower first: it must wait and retry
    assert _wait(processes) == [0, 0], [(f.base / "log.txt").read_text()[-3000:] for f in (leader, follower)]

    metrics = leader.metrics()
    assert metrics["hosts"] == list(HOSTS) and metrics["kvstore"] == "dist_sync"
    # Model averaging: each host pushes and pulls every parameter's change once an epoch (as float16), not its
    # gradient once a step; of the fasttext embedding, which rows each host changed and those rows' changes alone.
    assert metrics["steps"] == {"fasttext": "compiled-cpu-averaged", "cnn": "numpy-cpu-averaged"}[architecture]
    parameters = mx.nd.load(str(leader.model_dir / "model-0000.params"))
    whole = 2 * sum(p.size * 2 for p in parameters.values())
    if architecture == "cnn":
        assert metrics["bytes_exchanged_per_epoch"] == whole
    else:
        (embedding,) = (p for name, p in parameters.items() if "embedding" in name)
        rest, changed_rows = whole - 2 * embedding.size * 2, 2 * len(embedding) * 2
        assert rest + changed_rows < metrics["bytes_exchanged_per_epoch"] < whole
    floor = FLOORS[DATA.source][architecture]
    assert_beats_majority(metrics["test"], labels_of(DATA.test_rows(TEST_ROWS)), floor.margin, floor.min_macro_f1)
    assert (leader.model_dir / "model-0000.params").exists()
    assert not follower.model_dir.exists() or not any(follower.model_dir.iterdir())
    assert not follower.output_data_dir.exists() or not any(follower.output_data_dir.iterdir())
    logs = [(f.base / "log.txt").read_text() for f in (leader, follower)]
    # Each worker trained on its own half of the same split.
    shares = sorted(
        re.search(r"host (\d) of 2 \(dist_sync\): training on (\d+) of (\d+) train rows", log).groups() for log in logs
    )
    assert [share[0] for share in shares] == ["0", "1"] and shares[0][1:] == shares[1][1:]
    assert tuple(map(int, shares[0][1:])) == WORKER_SHARE[DATA.source]
    # Each scored its own half of validation, and both read the sum of the halves' scores:
    blocks = sorted(
        re.search(r"this host scores (\d+) of the (\d+) rows \(from row (\d+)\)", log).groups() for log in logs
    )
    (first_rows, total, first_start), (second_rows, _, second_start) = (tuple(map(int, b)) for b in blocks)
    assert (first_start, second_start, first_rows + second_rows) == (0, first_rows, total)
    assert abs(first_rows - second_rows) <= 1
    # the same weights on both workers: identical validation results every epoch.
    epochs = [
        [
            line.split("validation_loss=")[1].split(" samples")[0]
            for line in log.splitlines()
            if "validation_loss=" in line
        ]
        for log in logs
    ]
    assert epochs[0] == epochs[1] and len(epochs[0]) >= 1
    assert _parameter_server_processes(port) == []


def test_two_hosts_refit_on_all_of_train_through_exchanges_of_their_own(tmp_path):
    """With enough rows held out to pick the epoch, both hosts train a second model on their shares of all 1,600
    rows; its averaging uses parameter-server keys of its own (the first pass's cannot be initialised again)."""
    port = free_scheduler_port()
    picked = {"validation_fraction": "0.25", "epochs": "2", "early_stopping_patience": "0"}
    leader, follower = (_host(tmp_path, host, 1600, picked) for host in (LEADER, FOLLOWER))
    assert _wait([_start(follower, port), _start(leader, port)]) == [0, 0], [
        (f.base / "log.txt").read_text()[-3000:] for f in (leader, follower)
    ]
    metrics = leader.metrics()
    refit = metrics["refit"]
    assert refit["rows"] == 1600 and refit["epochs"] == metrics["best_epoch"] == len(refit["history"])
    assert metrics["test"] != refit["test_before_refit"]
    for fake, host in ((leader, LEADER), (follower, FOLLOWER)):
        log = (fake.base / "log.txt").read_text()
        assert "refit: a new model on all 1600 rows" in log and "training on 800 of 1600 train rows" in log
        assert json.loads((fake.checkpoint_dir / host / "refit" / "state.json").read_text())["finished"]
    assert _parameter_server_processes(port) == []


def test_a_host_failing_before_training_ends_the_other_with_its_name(tmp_path):
    port = free_scheduler_port()
    leader = _host(tmp_path, LEADER, 1600)
    follower = _host(tmp_path, FOLLOWER, 1600, train_lines=["no label on this line"] * 50)
    started = time.monotonic()
    processes = [_start(leader, port), _start(follower, port)]
    assert _wait(processes, 120) == [1, 1]
    assert time.monotonic() - started < 120
    assert "train" in follower.failure_file.read_text()
    assert f"Host {FOLLOWER} stopped before training finished" in leader.failure_file.read_text()
    assert not leader.model_dir.exists() or not any(leader.model_dir.iterdir())
    assert _parameter_server_processes(port) == []


def _start_both_until_the_leader_logs(leader, follower, port, line):
    """Both hosts started; returns their processes once the leader's log has `line`."""
    processes = [_start(leader, port), _start(follower, port)]
    deadline = time.monotonic() + JOB_SECONDS
    while line not in (leader.base / "log.txt").read_text():
        assert time.monotonic() < deadline and processes[0].poll() is None, (leader.base / "log.txt").read_text()
        time.sleep(0.2)
    return processes


def _kill_the_follower_once_the_leader_logs(leader, follower, port, line, then_stop_the_leader=False):
    """SIGKILL to the follower once the leader's log has `line` (and SIGTERM to the leader at the same moment,
    as local mode's docker-compose sends it once a container exits): the leader must end within seconds, naming
    the follower, and no parameter-server process may outlive them."""
    processes = _start_both_until_the_leader_logs(leader, follower, port, line)
    if then_stop_the_leader:  # first, so that the leader hears of the stop before it can notice the loss
        processes[0].send_signal(signal.SIGTERM)
    processes[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert _wait(processes[:1], 60) == [1]
    assert time.monotonic() - killed < 30
    assert f"Host {FOLLOWER} stopped before training finished" in leader.failure_file.read_text()
    processes[1].wait()
    time.sleep(1)  # the kernel delivers the parent-death signal to the children asynchronously
    assert _parameter_server_processes(port) == []


@pytest.mark.parametrize("then_stop_the_leader", [False, True], ids=["killed", "killed-as-sigterm-arrives"])
def test_a_host_killed_during_training_ends_the_other_within_seconds(tmp_path, then_stop_the_leader):
    port = free_scheduler_port()
    leader, follower = (
        _host(tmp_path, LEADER, 1600, {"epochs": 50, "early_stopping_patience": 0}),
        _host(tmp_path, FOLLOWER, 1600, {"epochs": 50, "early_stopping_patience": 0}),
    )
    _kill_the_follower_once_the_leader_logs(leader, follower, port, "epoch=1 ", then_stop_the_leader)


def test_hosts_stopped_together_by_sigterm_say_so_and_take_no_one_for_lost(tmp_path):
    """A stopped job (StopTrainingJob, MaxRuntime) sends SIGTERM to every host, not to all at the same moment: here
    the leader first, and the follower once the leader has gone. Each host stopped tells the others so, and none
    reports a lost host. (Sent to both at once, the hosts' compiled steps often both answer before either hears of
    the other, and a host that told no one would go unnoticed.)"""
    port = free_scheduler_port()
    hyperparameters = {"epochs": 50, "early_stopping_patience": 0}
    leader, follower = _host(tmp_path, LEADER, 1600, hyperparameters), _host(tmp_path, FOLLOWER, 1600, hyperparameters)
    processes = _start_both_until_the_leader_logs(leader, follower, port, "epoch=1 ")
    processes[0].send_signal(signal.SIGTERM)
    _wait(processes[:1], 60)
    if processes[1].poll() is None:
        processes[1].send_signal(signal.SIGTERM)
    codes = _wait(processes, 60)
    assert set(codes) <= {EXIT_FAILED, EXIT_INTERRUPTED}, codes
    for fake in (leader, follower):
        reason = fake.failure_file.read_text()
        assert "SIGTERM" in reason and "stopped before training finished" not in reason, reason
    time.sleep(1)  # the kernel delivers the parent-death signal to the children asynchronously
    assert _parameter_server_processes(port) == []


# Long enough that a SIGTERM after the leader's second epoch lands while both hosts train (each epoch also averages
# and writes a checkpoint): 50 epochs, no early stopping.
STOPPED_AND_RESUMED = {"epochs": 50, "early_stopping_patience": 0}


def _two_hosts(tmp_path, run):
    return [_host(tmp_path / run, host, 1600, STOPPED_AND_RESUMED) for host in HOSTS]


def _start_both(hosts, port=None):
    port = port or free_scheduler_port()
    return [_start(fake, port) for fake in hosts]


def test_two_hosts_stopped_by_sigterm_resume_from_their_own_checkpoints_as_if_never_stopped(tmp_path):
    """Each host writes its checkpoint into its own folder of the checkpoint location (SageMaker syncs every host's
    to one S3 location); stopped together, the hosts hold checkpoints of the same epoch, and resumed, they end with
    the model and metrics of the job that was never stopped. Hosts whose checkpoints differ are refused."""
    whole = _two_hosts(tmp_path, "whole")
    assert _wait(_start_both(whole)) == [0, 0]

    stopped = _two_hosts(tmp_path, "stopped")
    processes = _start_both_until_the_leader_logs(*stopped, free_scheduler_port(), "epoch=2 ")
    for process in processes:  # as SageMaker stops a job: every host
        process.send_signal(signal.SIGTERM)
    assert set(_wait(processes, 60)) <= {EXIT_FAILED, EXIT_INTERRUPTED}
    folders = [fake.checkpoint_dir / host for fake, host in zip(stopped, HOSTS)]
    states = [json.loads((folder / "state.json").read_text()) for folder in folders]
    assert states[0]["epoch"] == states[1]["epoch"] > 2 and states[0]["next_batch"] == 0, states

    aside = tmp_path / "follower-checkpoint"
    folders[1].rename(aside)  # the follower would start afresh while the leader resumes
    assert _wait(_start_both(stopped), 120) == [1, 1]
    reasons = [fake.failure_file.read_text() for fake in stopped]
    # Each host finds it, unless the other's failure reaches it first: then it names that host.
    assert any("start from different parameters" in reason for reason in reasons), reasons
    assert all("start from different parameters" in r or "stopped before training finished" in r for r in reasons)
    aside.rename(folders[1])

    port = free_scheduler_port()
    assert _wait(_start_both(stopped, port)) == [0, 0]
    assert "resuming at epoch" in (stopped[0].base / "log.txt").read_text()
    resumed, never_stopped = stopped[0].metrics(), whole[0].metrics()
    assert [row["validation_loss"] for row in resumed["history"]] == [
        row["validation_loss"] for row in never_stopped["history"]
    ]
    assert resumed["test"]["accuracy"] == never_stopped["test"]["accuracy"]
    assert resumed["test"]["loss"] == never_stopped["test"]["loss"]
    assert _parameter_server_processes(port) == []


@pytest.mark.parametrize(
    "hyperparameters,message",
    [
        ({"lr_schedule": "linear"}, "lr_schedule=linear needs one host"),
        ({"mode": "skipgram", "subwords": "true"}, "subwords=true trains on one host"),
    ],
)
def test_what_needs_one_host_is_refused_with_the_reason(sagemaker, hyperparameters, message):
    from headlines.cli.train import main

    sagemaker.add_channel("train", {"train.tsv": DATA.train_rows(200)})
    sagemaker.write_config(hyperparameters, current_host="algo-1", hosts=("algo-1", "algo-2"))
    assert main([]) == 1
    assert message in sagemaker.failure_file.read_text()


def test_a_sharded_channel_is_refused_on_several_hosts(sagemaker):
    from headlines.cli.train import main

    sagemaker.add_channel("train", {"train.tsv": DATA.train_rows(200)}, distribution="ShardedByS3Key")
    sagemaker.write_config({}, current_host="algo-1", hosts=("algo-1", "algo-2"))
    assert main([]) == 1
    assert "train use ShardedByS3Key: every host must see all of the data" in sagemaker.failure_file.read_text()


# -- word vectors on two hosts ----------------------------------------------------------------------------------
def _word_vector_host(tmp_path, name, lines, **hyperparameters):
    fake = FakeSageMaker(tmp_path / name)
    fake.add_channel("train", {"corpus.txt": lines})
    config = dict(SMALL_WORD_VECTORS, **{"mode": "batch_skipgram", "epochs": 5, **hyperparameters})
    fake.write_config(config, current_host=name, hosts=HOSTS)
    return fake


def _corpus_lines():
    return DATA.corpus_text().splitlines()[:3000]


def test_two_hosts_train_word_vectors_through_the_parameter_server(tmp_path):
    port = free_scheduler_port()
    lines = _corpus_lines()
    leader, follower = (_word_vector_host(tmp_path, name, lines) for name in HOSTS)
    processes = [_start(follower, port), _start(leader, port)]
    assert _wait(processes) == [0, 0], [(f.base / "log.txt").read_text()[-3000:] for f in (leader, follower)]

    metrics = leader.metrics()
    assert metrics["hosts"] == list(HOSTS) and sorted(os.listdir(leader.model_dir)) == ["vectors.bin", "vectors.txt"]
    assert not follower.model_dir.exists() or not any(follower.model_dir.iterdir())
    # Every round each host reads the rows of its words and adds the rows it changed (at most every row of both
    # matrices each way, 4 x 16 bytes and an 8-byte index a row); after the last, it reads every row.
    rows, rounds = 2 * metrics["vocabulary_size"], rounds_per_epoch(metrics["epoch_tokens"], 2)
    every_row, total = (4 * 16 + 8) * rows, metrics["bytes_exchanged_per_epoch"] * 5
    assert rounds > 1 and every_row < total <= (2 * rounds * 5 + 1) * every_row
    shares = [
        int(re.search(rf"CPU engine: \d+ threads, {rounds} rounds an epoch, (\d+) of (\d+) tokens", log).group(1))
        for log in ((f.base / "log.txt").read_text() for f in (leader, follower))
    ]
    assert sum(shares) == metrics["epoch_tokens"] and abs(shares[0] - shares[1]) < 0.05 * sum(shares)

    alone = FakeSageMaker(tmp_path / "one-host")
    alone.add_channel("train", {"corpus.txt": lines})
    alone.write_config(dict(SMALL_WORD_VECTORS, mode="batch_skipgram", epochs=5))
    assert _wait([_start(alone, free_scheduler_port())]) == [0]
    # Within 10%: on the generated data's 258 words the hosts' summed changes overshoot most (5.7% above one host);
    # on WikiText-2's 6,970, 0.9% (docs/performance.md).
    assert metrics["history"][-1]["loss"] == pytest.approx(alone.metrics()["history"][-1]["loss"], rel=0.1)
    assert _parameter_server_processes(port) == []


def test_word_vector_hosts_with_different_text_fail_with_the_reason(tmp_path):
    port = free_scheduler_port()
    lines = _corpus_lines()
    leader, follower = _word_vector_host(tmp_path, LEADER, lines), _word_vector_host(tmp_path, FOLLOWER, lines[:2000])
    assert _wait([_start(leader, port), _start(follower, port)], 120) == [1, 1]
    for fake in (leader, follower):
        reason = fake.failure_file.read_text()
        assert "read different text or settings" in reason or "stopped before training finished" in reason
    assert "FullyReplicated" in leader.failure_file.read_text() + follower.failure_file.read_text()


def test_a_word_vector_host_killed_mid_training_ends_the_other(tmp_path):
    port = free_scheduler_port()
    lines = _corpus_lines()
    leader, follower = (_word_vector_host(tmp_path, name, lines, epochs=1000) for name in HOSTS)
    _kill_the_follower_once_the_leader_logs(leader, follower, port, "epoch=2 ")


PROBE_OPENMP = """
import os, sys
import headlines.cli.train as train

def probe():  # in place of loading MXNet: is OpenMP loaded yet, and how will it wait?
    print("openmp loaded" if "libgomp" in open("/proc/self/maps").read() else "openmp not loaded")
    print("wait policy", os.environ.get("OMP_WAIT_POLICY"))
    sys.exit(0)

train.load_mxnet = probe
train.main([])
"""


@pytest.mark.parametrize("hosts, policy", [(("algo-1", "algo-2"), "PASSIVE"), (("algo-1",), "None")])
def test_openmp_threads_of_several_hosts_wait_passively(tmp_path, hosts, policy):
    """Local mode's hosts share one machine's cores: spinning OpenMP threads would starve each other. OpenMP reads
    the policy once, when MXNet loads it, and nothing may load it before (SM_NUM_GPUS unset: the GPU count)."""
    fake = FakeSageMaker(tmp_path / "opt_ml")
    fake.add_channel("train", {"train.tsv": DATA.train_rows(10)})
    fake.write_config({}, current_host="algo-1", hosts=hosts)
    environment = {k: v for k, v in os.environ.items() if k not in ("SM_NUM_GPUS", "OMP_WAIT_POLICY")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE_OPENMP],
        env=dict(environment, SAGEMAKER_BASE_DIR=str(fake.base)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == ["openmp not loaded", f"wait policy {policy}"], result.stdout + result.stderr
