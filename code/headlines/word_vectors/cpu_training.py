"""The word-vector job's training on CPU instances: the CpuEngine's epochs and rounds on this host, a checkpoint
every `checkpoint_seconds` and on SIGTERM, and with several hosts the weights synchronised after every round."""

import logging
import os
import time

import numpy as np

from ..errors import TrainingInterrupted
from ..training.checkpoints import CheckpointStore
from .engine import CpuEngine
from .progress import ProgressLog, log_epoch
from .rounds import chunk_lines, learning_rates, rounds_per_epoch

logger = logging.getLogger(__name__)

WORD_VECTOR_CHECKPOINT_FILES = {"weights_file": "word-vectors-{}.npz"}


def cpu_threads():
    return len(os.sched_getaffinity(0))


class CpuRun:
    """The CPU engine's epochs and rounds on this host, with checkpoints and synchronisation between rounds."""

    clock = staticmethod(time.monotonic)  # for the checkpoint interval

    def __init__(self, env, hp, dictionary, encoded, fingerprint, kvstore, stop_signal):
        self.hp, self.encoded, self.stop_signal = hp, encoded, stop_signal
        hosts, host = len(env.hosts), env.hosts.index(env.current_host)
        fingerprint = fingerprint
        # Checkpoints on one host only: several hosts would write theirs to the same S3 location, as for the
        # classifier.
        self.store = None
        if kvstore is None:
            self.store = CheckpointStore(env.checkpoint_dir, fingerprint, WORD_VECTOR_CHECKPOINT_FILES)
        self.state = self.store.load() if self.store else None
        threads = self.state["threads"] if self.state else cpu_threads()
        self.engine = CpuEngine(dictionary, hp, threads, stream=host)
        self.rounds = rounds_per_epoch(encoded.tokens, hosts)
        self.bounds = chunk_lines(encoded.line_starts, host, hosts, threads, self.rounds)
        self.token_bounds = encoded.line_starts[self.bounds]
        host_tokens = int(self.token_bounds[:, -1].sum() - self.token_bounds[:, 0].sum())
        if self.state:
            with np.load(self.state["weights_file"]) as arrays:
                self.engine.restore(arrays)
            logger.info(
                "resuming at epoch %d, round %d of %d", self.state["epoch"] + 1, self.state["round"], self.rounds
            )
        else:
            self.state = {"epoch": 0, "round": 0, "threads": threads, "history": [], "running": None}
        self.progress = ProgressLog(
            hp.epochs * host_tokens, hp, done=self.state["epoch"] * host_tokens + self._running()["tokens"]
        )
        self.sync = None
        if kvstore is not None:
            from .host_sync import WeightSync  # imports MXNet: only jobs of several hosts need it

            self.sync = WeightSync(kvstore, self.engine, fingerprint)
        logger.info(
            "CPU engine: %d threads, %d rounds an epoch, %d of %d tokens on this host (%s of %d)",
            threads,
            self.rounds,
            host_tokens,
            encoded.tokens,
            env.current_host,
            hosts,
        )

    def _running(self):
        return self.state["running"] or {"tokens": 0, "loss": 0.0, "positives": 0, "seconds": 0.0}

    def train(self):
        last_checkpoint = self.clock()
        with self.stop_signal.checkpointing():
            while self.state["epoch"] < self.hp.epochs:
                running = self._running()
                round_started = time.time()
                loss, positives, tokens = self._round(self.state["epoch"], self.state["round"])
                running = {
                    "tokens": running["tokens"] + tokens,
                    "loss": running["loss"] + loss,
                    "positives": running["positives"] + positives,
                    "seconds": running["seconds"] + time.time() - round_started,
                }
                self.progress.add(tokens, loss, positives)
                self.state.update(round=self.state["round"] + 1, running=running)
                if self.state["round"] == self.rounds:
                    self._end_epoch(running)
                interval = self.hp.checkpoint_seconds
                if self.stop_signal.requested or (interval and self.clock() - last_checkpoint >= interval):
                    saved = self._save_checkpoint()
                    last_checkpoint = self.clock()
                    if self.stop_signal.requested:
                        raise TrainingInterrupted(saved)
        self.engine.close()
        return self.state["history"]

    def _round(self, epoch, number):
        chunks, tokens = [], 0
        for thread, (first, last) in enumerate(self.bounds[:, number : number + 2]):
            ids, line_starts = self.encoded.read(first, last)
            done = self.token_bounds[thread, number] - self.token_bounds[thread, 0]
            thread_tokens = self.token_bounds[thread, -1] - self.token_bounds[thread, 0]
            rates = learning_rates(self.hp.learning_rate, epoch, self.hp.epochs, done, len(ids), thread_tokens)
            chunks.append((ids, line_starts, *rates))
            tokens += len(ids)
        loss, positives = self.engine.train_round(chunks)
        if self.sync:
            self.sync.sync()
        return loss, positives, tokens

    def _end_epoch(self, running):
        self.progress.log()
        row = {
            "epoch": self.state["epoch"] + 1,
            "loss": running["loss"] / max(1, running["positives"]),
            "words_per_second": running["tokens"] / max(running["seconds"], 1e-9),
            "epoch_seconds": running["seconds"],
        }
        log_epoch(row)
        self.state["history"].append(row)
        self.state.update(epoch=self.state["epoch"] + 1, round=0, running=None)

    def _save_checkpoint(self):
        if self.store is None:
            return None
        started = time.time()
        path = self.store.save({"weights_file": lambda path: _save_arrays(path, self.engine.snapshot())}, self.state)
        logger.info(
            "checkpoint: epoch %d, round %d of %d, written in %.1f s",
            self.state["epoch"] + 1,
            self.state["round"],
            self.rounds,
            time.time() - started,
        )
        return self.store.folder if path else None


def _save_arrays(path, arrays):
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to the name
        np.savez(f, **arrays)


def train_on_cpus(env, hp, dictionary, encoded, fingerprint, kvstore, stop_signal):
    """Returns the engine (its weights are the vectors) and the metrics of the training."""
    run = CpuRun(env, hp, dictionary, encoded, fingerprint, kvstore, stop_signal)
    started = time.time()
    history = run.train()
    seconds = time.time() - started
    words_per_second = run.progress.words_per_second
    logger.info("trained %d epochs: %.0f words/s on this host", hp.epochs, words_per_second)
    training = {
        "engine": "cpu",
        "threads": run.engine.threads,
        "hosts": list(env.hosts),
        "history": history,
        "train_seconds": seconds,
        "words_per_second": words_per_second,
    }
    if run.sync:
        training["bytes_exchanged"] = run.sync.bytes_exchanged
        training["bytes_exchanged_per_epoch"] = run.sync.bytes_exchanged / hp.epochs
    return run.engine, training
