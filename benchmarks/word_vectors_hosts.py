"""The word-vector job on two CPU hosts against one (two processes on this machine, MXNet's parameter servers on
127.0.0.1), `mode=batch_skipgram` with BlazingText's other defaults, 2 threads a host:

1. a realistic vocabulary: a generated corpus of text8's size and shape (17.0 M tokens whose counts follow a
   Zipf-Mandelbrot law fitted to text8: ~73 k words seen 5 times or more against text8's 71,290, the commonest
   ~1.2 M times against "the"'s 1.06 M), one epoch each: one host's words/s, the two hosts' bytes exchanged a round
   and an epoch, and what two real hosts would gain from them (projection below);
2. quality: WikiText-2 (valid + test, lower-cased), 5 epochs, WordSim-353 rho of one host and of two hosts over
   several seeds, alternating. The generated corpus has no meaning to score.

Projection: a round is R tokens a host (rounds.HOST_ROUND_TOKENS). One host trains 2R tokens in 2R/w (w: its
measured words/s alone); two hosts each train R in R/w, then exchange X bytes each (push and pull, measured). Each
host runs one of the job's parameter servers, and MXNet splits an array of 10^6 values or more by rows over all
servers, so half of what a host pushes or pulls stays on it, and its link carries X/2 each way at once: the
exchange takes X / (2 x 1.25 GB/s) on 10 Gbit/s. The exchange also costs the hosts work (finding the changed rows,
MXNet's copies, the servers' update and lookups): two hosts sharing this machine's cores cannot tell it apart from
waiting for each other, so it is measured alone, with one worker and one server on this machine (the same rounds
of the same corpus, no peer to wait for), and the projection is given with and without it.

    make bench-word-vector-hosts
Writes bench-results/word-vector-hosts.json (not a section of docs/benchmarks.md: docs/performance.md quotes it).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import PAIRS, write_corpus, write_result
from headlines.hyperparameters import WordVectorHyperparameters
from headlines.runtime.distributed import PS_PORT_ENV, role_environment
from headlines.word_vectors.corpus import Corpus
from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.cpu.host_sync import WeightSync
from headlines.word_vectors.cpu.rounds import HOST_ROUND_TOKENS, chunk_lines, rounds_per_epoch
from headlines.word_vectors.dictionary import Dictionary
from headlines.word_vectors.job import MAX_VOCABULARY_TYPES
from tests.support.data import require_real_data
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.ports import free_scheduler_port

HOSTS = ("127.0.0.1", "localhost")  # two names of this machine, sorted: the first is hosts[0]
THREADS = "0,1"  # each host's cores: both share them, as two local-mode containers do
NETWORK_BYTES_PER_SECOND = 1.25e9  # 10 Gbit/s
SETTINGS = {"mode": "batch_skipgram"}
# text8: 17,005,207 tokens; counts ~ 1 / (rank + 3)^1.28 over 5 million types (the tail below count 5 is dropped).
TEXT8_TOKENS, ZIPF_EXPONENT, ZIPF_SHIFT, TYPES, LINE_TOKENS = 17_005_207, 1.28, 3.0, 5_000_000, 1000
QUALITY_SEEDS = tuple(range(1, 13))
EXCHANGE_ROUNDS, EXCHANGE_WARMUP = 70, 10
ROLES = ("scheduler", "server", "worker")


def text8_shaped_corpus(path: pathlib.Path, tokens: int = TEXT8_TOKENS, seed: int = 0) -> pathlib.Path:
    """Writes `tokens` words drawn from the Zipf-Mandelbrot law above, 1,000 a line (fastText reads text8, one
    line, 1,024 words at a time); the same file for the same arguments."""
    probabilities = 1.0 / (np.arange(1, TYPES + 1) + ZIPF_SHIFT) ** ZIPF_EXPONENT
    cumulative = np.cumsum(probabilities)
    ranks = np.searchsorted(cumulative / cumulative[-1], np.random.default_rng(seed).random(tokens))
    drawn, positions = np.unique(ranks, return_inverse=True)
    words = np.char.add("w", drawn.astype(str))[positions]  # the word of rank r is "w<r>"
    with open(path, "w") as f:
        for start in range(0, tokens, LINE_TOKENS):
            f.write(" ".join(words[start : start + LINE_TOKENS]) + "\n")
    return path


def projected_speedup(
    round_tokens: int, words_per_second: float, bytes_per_round: float, host_work: float = 0.0
) -> float:
    """Two hosts' speed over one host's (module docstring): 2R/w against R/w plus X / (2 x 1.25 GB/s), plus
    `host_work` seconds a round of the hosts' own work for the exchange."""
    training = round_tokens / words_per_second
    return 2 * training / (training + host_work + bytes_per_round / (2 * NETWORK_BYTES_PER_SECOND))


def run_hosts(corpus: pathlib.Path, folder: pathlib.Path, hosts: tuple[str, ...], **hyperparameters) -> dict:
    """The job on `hosts` (one process each); returns hosts[0]'s metrics.json."""
    port, fakes, processes = free_scheduler_port(), [], []
    for host in hosts:
        fake = FakeSageMaker(folder / host)
        fake.add_channel("train", {corpus.name: str(corpus)})
        fake.add_channel("evaluation", {PAIRS.name: str(PAIRS)})
        fake.write_config({**SETTINGS, **hyperparameters}, current_host=host, hosts=hosts)
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(fake.base), "SM_NUM_GPUS": "0", PS_PORT_ENV: str(port)}
        log = open(fake.base / "log.txt", "w")
        command = ["taskset", "-c", THREADS, sys.executable, "-m", "headlines.cli.train"]
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        fakes.append(fake)
    if [process.wait() for process in processes] != [0] * len(hosts):
        raise SystemExit(f"word-vector job failed:\n{(fakes[0].base / 'log.txt').read_text()[-3000:]}")
    return fakes[0].metrics()


def exchange_work(corpus: pathlib.Path, folder: pathlib.Path) -> dict:
    """The seconds a round of host 0 of two spends reading rows, training and adding rows, with one worker and one
    server of MXNet's parameter server on this machine (so no waiting for another host)."""
    port, hosts = free_scheduler_port(), ["127.0.0.1"]
    environments = {role: {**os.environ, **role_environment(role, hosts, hosts[0], port)} for role in ROLES}
    helpers = [subprocess.Popen([sys.executable, "-c", "import mxnet"], env=environments[role]) for role in ROLES[:2]]
    result = folder / "exchange-work.json"
    command = [sys.executable, "-m", "benchmarks.word_vectors_hosts", "--exchange-work", str(corpus), str(result)]
    worker = subprocess.run(["taskset", "-c", THREADS, *command], env=environments["worker"])
    for helper in helpers:
        helper.wait(60)
    if worker.returncode != 0:
        raise SystemExit("the exchange-work measurement failed")
    return json.loads(result.read_text())


def _measure_exchange_work(corpus_path: str, result_path: str) -> None:
    """In the worker process of exchange_work: EXCHANGE_ROUNDS rounds, the first EXCHANGE_WARMUP not counted."""
    import mxnet as mx  # with the DMLC_* variables of a worker: joins the scheduler

    hp = WordVectorHyperparameters.from_strings(SETTINGS)
    corpus = Corpus([corpus_path])
    dictionary = Dictionary.from_counts(corpus.count_words(MAX_VOCABULARY_TYPES), hp.min_count, (), hp.buckets)
    encoded = corpus.encode(dictionary.token_to_id, result_path + ".tokens")
    engine = CpuEngine(dictionary, hp, threads=len(THREADS.split(",")))
    sync = WeightSync(mx.kv.create("dist_sync"), engine, "one worker")
    bounds = chunk_lines(encoded.line_starts, 0, 2, engine.threads, rounds_per_epoch(encoded.tokens, 2))
    seconds = {"read": 0.0, "train": 0.0, "add": 0.0}
    for number in range(EXCHANGE_ROUNDS):
        chunks = [
            (*encoded.read(*bounds[t, number : number + 2]), hp.learning_rate, hp.learning_rate)
            for t in range(engine.threads)
        ]
        started = time.perf_counter()
        sync.begin_round(np.concatenate([ids for ids, *_ in chunks]))
        read = time.perf_counter()
        engine.train_round(chunks)
        trained = time.perf_counter()
        sync.end_round()
        mx.nd.waitall()  # the push has reached the server
        if number >= EXCHANGE_WARMUP:
            seconds["read"] += read - started
            seconds["train"] += trained - read
            seconds["add"] += time.perf_counter() - trained
    engine.close()
    counted = EXCHANGE_ROUNDS - EXCHANGE_WARMUP
    pathlib.Path(result_path).write_text(
        json.dumps({f"{k}_seconds_per_round": v / counted for k, v in seconds.items()})
    )


def large_vocabulary(folder: pathlib.Path) -> dict:
    corpus = text8_shaped_corpus(folder / "text8-shaped.txt")
    one = run_hosts(corpus, folder / "one", HOSTS[:1], epochs=1)
    two = run_hosts(corpus, folder / "two", HOSTS, epochs=1)
    work = exchange_work(corpus, folder)
    host_work = work["read_seconds_per_round"] + work["add_seconds_per_round"]
    rounds = rounds_per_epoch(two["epoch_tokens"], len(HOSTS))
    bytes_per_round = two["bytes_exchanged_per_epoch"] / rounds
    vocabulary, dim = two["vocabulary_size"], two["hyperparameters"]["vector_dim"]
    return {
        "corpus_tokens": two["corpus_tokens"],
        "vocabulary_size": vocabulary,
        "round_tokens": HOST_ROUND_TOKENS,
        "rounds_per_epoch": rounds,
        "one_host_words_per_second": one["words_per_second"],
        "one_host_epoch_seconds": one["history"][-1]["epoch_seconds"],
        "two_hosts_epoch_seconds": two["history"][-1]["epoch_seconds"],
        "one_host_loss": one["history"][-1]["loss"],
        "two_hosts_loss": two["history"][-1]["loss"],
        "bytes_per_epoch_per_host": two["bytes_exchanged_per_epoch"],
        "bytes_per_round_per_host": bytes_per_round,
        "dense_bytes_per_round_per_host": 2 * 2 * vocabulary * dim * 4,  # a push and a pull of both matrices
        "projected_speedup": projected_speedup(HOST_ROUND_TOKENS, one["words_per_second"], bytes_per_round),
        **work,
        "projected_speedup_with_host_work": projected_speedup(
            HOST_ROUND_TOKENS, one["words_per_second"], bytes_per_round, host_work
        ),
    }


def quality(folder: pathlib.Path) -> dict:
    corpus, rho = write_corpus(require_real_data(), folder / "wikitext2.txt"), {"one": [], "two": []}
    for seed in QUALITY_SEEDS:
        for side, hosts in (("one", HOSTS[:1]), ("two", HOSTS)):
            metrics = run_hosts(corpus, folder / f"{side}-{seed}", hosts, epochs=5, seed=seed)
            rho[side].append(metrics["evaluation"][PAIRS.name]["spearmans_rho"])
    return {
        "seeds": list(QUALITY_SEEDS),
        "one_host_rho": rho["one"],
        "two_hosts_rho": rho["two"],
        "rho_difference_mean": float(np.mean(rho["two"]) - np.mean(rho["one"])),
    }


def main() -> None:
    if sys.argv[1:2] == ["--exchange-work"]:
        _measure_exchange_work(*sys.argv[2:4])
        return
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="word-vector-hosts-") as scratch:
        results = {"large_vocabulary": large_vocabulary(pathlib.Path(scratch))}
        print(results, flush=True)
        results["wikitext2_quality"] = quality(pathlib.Path(scratch))
    results["seconds"] = time.time() - started
    write_result("word-vector-hosts", "bench-word-vector-hosts", "one host against two", require_real_data(), **results)


if __name__ == "__main__":
    main()
