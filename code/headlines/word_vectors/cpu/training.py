"""The word-vector job's training on CPU instances: the CpuEngine's epochs of rounds on this host, checkpoints
(EpochLoop), and with several hosts the weights synchronised after every round."""

import logging
import os
from typing import Any

import numpy as np

from ...runtime.checkpoints import CheckpointStore
from ...runtime.distributed import KVStore
from ..epochs import WORD_VECTOR_CHECKPOINT_FILES, EpochLoop, load_state, new_state
from ..inputs import TrainingInputs
from .engine import CpuEngine
from .rounds import chunk_lines, learning_rates, rounds_per_epoch

logger = logging.getLogger(__name__)


def cpu_threads() -> int:
    """The cores this process may run on (the container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


class CpuRun:
    """This host's share of the corpus, cut into rounds: one chunk per thread per round (rounds.py)."""

    def __init__(self, inputs: TrainingInputs, kvstore: KVStore | None) -> None:
        """`kvstore`: the created dist_sync kvstore of a job of several hosts, None on one host."""
        env, hp, encoded, fingerprint = inputs.env, inputs.hp, inputs.encoded, inputs.fingerprint
        self.hp, self.encoded = hp, encoded
        hosts, host = len(env.hosts), env.host_index
        # Checkpoints on one host only: each host would write its own when its clock says checkpoint_seconds have
        # passed, so the hosts' checkpoints would be of different rounds and could not resume together.
        self.store = None
        if kvstore is None:
            self.store = CheckpointStore(env.checkpoint_dir, fingerprint + "/cpu", WORD_VECTOR_CHECKPOINT_FILES)
        state, arrays = load_state(self.store)
        threads = state["threads"] if state else cpu_threads()  # the chunks of a round depend on it
        self.state = state or new_state(threads=threads)
        self.engine = CpuEngine(inputs.dictionary, hp, threads, stream=host)
        if arrays:
            self.engine.restore(arrays)
        self.rounds = rounds_per_epoch(encoded.tokens, hosts)
        self.bounds = chunk_lines(encoded.line_starts, host, hosts, threads, self.rounds)
        self.token_bounds = encoded.line_starts[self.bounds]
        self.host_tokens = int(self.token_bounds[:, -1].sum() - self.token_bounds[:, 0].sum())
        self.sync = None
        if kvstore is not None:
            from .host_sync import WeightSync  # imports MXNet: only jobs of several hosts need it

            self.sync = WeightSync(kvstore, self.engine, fingerprint)
        logger.info(
            "CPU engine: %d threads, %d rounds an epoch, %d of %d tokens on this host (%s of %d)",
            threads,
            self.rounds,
            self.host_tokens,
            encoded.tokens,
            env.current_host,
            hosts,
        )

    def train_round(self, epoch: int, number: int) -> tuple[float, int, int]:
        """Round `number` of `epoch` on every thread, then the hosts synchronised: (loss, positives, tokens)."""
        chunks = []
        for thread, (first, last) in enumerate(self.bounds[:, number : number + 2]):
            ids, line_starts = self.encoded.read(first, last)
            done = self.token_bounds[thread, number] - self.token_bounds[thread, 0]
            thread_tokens = self.token_bounds[thread, -1] - self.token_bounds[thread, 0]
            rates = learning_rates(self.hp.learning_rate, epoch, self.hp.epochs, done, len(ids), thread_tokens)
            chunks.append((ids, line_starts, *rates))
        if self.sync:
            self.sync.begin_round(np.concatenate([ids for ids, *_ in chunks]))
        loss, positives = self.engine.train_round(chunks)
        if self.sync:
            self.sync.end_round()
        return loss, positives, sum(len(ids) for ids, *_ in chunks)


def train_on_cpus(inputs: TrainingInputs, kvstore: KVStore | None) -> tuple[CpuEngine, dict[str, Any]]:
    """Returns the engine (its weights are the vectors) and the metrics of the training."""
    run, hp, env = CpuRun(inputs, kvstore), inputs.hp, inputs.env
    loop = EpochLoop(hp, run.state, run.rounds, "round", run.host_tokens, run.store, inputs.stop_signal)
    history = loop.run(run.train_round, run.engine.snapshot)
    if run.sync:
        run.sync.finish()
    run.engine.close()
    words_per_second = loop.progress.words_per_second
    logger.info("trained %d epochs: %.0f words/s on this host", hp.epochs, words_per_second)
    training = {
        "engine": "cpu",
        "threads": run.engine.threads,
        "hosts": list(env.hosts),
        "history": history,
        "train_seconds": loop.progress.clock() - loop.progress.started,
        "words_per_second": words_per_second,
    }
    if run.sync:
        training["bytes_exchanged"] = run.sync.bytes_exchanged
        training["bytes_exchanged_per_epoch"] = run.sync.bytes_exchanged / hp.epochs
    return run.engine, training
