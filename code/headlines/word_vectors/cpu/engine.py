"""The CPU engine: fastText's unsupervised model (an input matrix with a row per word and per character n-gram
bucket, an output matrix with a row per word) as numpy arrays, trained by the compiled kernels in `kernels.py`
on several threads at once, without locks (Hogwild, as fastText's threads share theirs).

Why not fastText's own trainer, which is as fast per token? It cannot checkpoint, resume, or synchronise with
another host between its updates; the kernels do what it does per token, and read the corpus encoded once
instead of re-tokenising it in every epoch, which is where most of the difference in speed comes from.
"""

import concurrent.futures
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ...hyperparameters import WORD_VECTOR_MODES, WordVectorHyperparameters
from ..dictionary import Dictionary, negatives_table
from ..epochs import Arrays, checked_array
from . import kernels

SKIPGRAM, CBOW, BATCH_SKIPGRAM = WORD_VECTOR_MODES
KERNELS = {SKIPGRAM: kernels.SKIPGRAM_KERNEL, CBOW: kernels.CBOW_KERNEL, BATCH_SKIPGRAM: kernels.BATCH_SKIPGRAM_KERNEL}
INIT_ROWS_AT_ONCE = 1 << 16
logger = logging.getLogger(__name__)  # the input matrix is drawn in slices: no float64 copy of 2 million rows
# One thread's share of a round: (token ids, line starts from 0, first learning rate, last learning rate).
Chunk: TypeAlias = tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], float, float]


class CpuEngine:
    def __init__(
        self, dictionary: Dictionary, hyperparameters: WordVectorHyperparameters, threads: int, stream: int = 0
    ) -> None:
        """`stream` tells the hosts of one job apart: same weights at the start, different random streams."""
        hp = self.hp = hyperparameters
        self.threads = threads
        self.kernel = KERNELS[hp.mode]
        self.row_offsets, self.row_ids = dictionary.row_offsets, dictionary.row_ids
        self.keep = dictionary.keep_probabilities(hp.sampling_threshold).astype(np.float32)
        rng = np.random.default_rng(hp.seed)
        dim = hp.vector_dim
        # fastText's initialisation: input rows uniform in +-1/dim, output rows zero.
        self.input_weights = np.empty((dictionary.input_rows, dim), np.float32)
        for start in range(0, dictionary.input_rows, INIT_ROWS_AT_ONCE):
            rows = self.input_weights[start : start + INIT_ROWS_AT_ONCE]
            rows[:] = rng.uniform(-1.0 / dim, 1.0 / dim, rows.shape)
        self.output_weights = np.zeros((len(dictionary), dim), np.float32)
        # Shuffled: each thread reads it in order from its own start, as fastText's getNegative does.
        self.table = negatives_table(dictionary.counts)
        rng.shuffle(self.table)
        self.states = thread_states(hp.seed, stream, threads, len(self.table))
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="word-vectors")
        started = time.time()
        kernels.compile_for_this_cpu()
        logger.info(
            "CPU engine's kernels ready in %.1f s (compiled for this CPU, or from the cache)", time.time() - started
        )

    def train_round(self, chunks: Sequence[Chunk]) -> tuple[float, int]:
        """Trains one chunk per thread at once: chunks[t] = (ids, line_starts, first_rate, last_rate).
        Returns the summed loss and positives."""
        futures = [self._pool.submit(self._train_chunk, t, *chunk) for t, chunk in enumerate(chunks)]
        results = [f.result() for f in futures]
        return sum(loss for loss, _ in results), sum(positives for _, positives in results)

    def _train_chunk(
        self,
        thread: int,
        ids: npt.NDArray[np.int32],
        line_starts: npt.NDArray[np.int64],
        first_rate: float,
        last_rate: float,
    ) -> tuple[float, int]:
        if len(line_starts) < 2:
            return 0.0, 0
        hp = self.hp
        return kernels.train_chunk(
            self.kernel,
            ids,
            line_starts,
            self.input_weights,
            self.output_weights,
            self.row_offsets,
            self.row_ids,
            self.keep,
            self.table,
            self.states[thread],
            hp.window_size,
            hp.negative_samples,
            hp.batch_size,
            first_rate,
            last_rate,
        )

    def close(self) -> None:
        self._pool.shutdown()

    # -- checkpoints --------------------------------------------------------------------------------------
    def snapshot(self) -> Arrays:
        return {"input_weights": self.input_weights, "output_weights": self.output_weights, "states": self.states}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        for name in ("input_weights", "output_weights", "states"):
            target = getattr(self, name)
            target[:] = checked_array(arrays, name, target.shape)

    # -- reading the vectors ------------------------------------------------------------------------------
    def all_finite(self) -> bool:
        return bool(np.isfinite(self.input_weights.sum()) and np.isfinite(self.output_weights.sum()))

    def input_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return self.input_weights[start:stop]

    def output_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return self.output_weights[start:stop]

    def word_vectors(self, dictionary: Dictionary, words: Sequence[str]) -> npt.NDArray[np.float32]:
        """fastText's get_word_vector for each word: the mean of its input rows (zeros when it has none)."""
        vectors = np.zeros((len(words), self.input_weights.shape[1]), np.float32)
        for i, word in enumerate(words):
            rows = dictionary.rows_of(word)
            if len(rows):
                vectors[i] = self.input_weights[rows].mean(axis=0)
        return vectors


def thread_states(seed: int, stream: int, threads: int, table_size: int) -> npt.NDArray[np.int64]:
    """Each thread's generator (non-zero, as xorshift needs) and start in the negatives table, from the seed."""
    rng = np.random.default_rng([seed, stream])
    states = np.zeros((threads, kernels.STATE_ROW), np.int64)
    states[:, kernels.STATE_GENERATOR] = rng.integers(1, np.iinfo(np.int64).max, threads)
    states[:, kernels.STATE_NEGATIVE_POSITION] = rng.integers(0, table_size, threads)
    return states
