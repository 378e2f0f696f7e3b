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

import numpy as np

from ..hyperparameters import EMBEDDING_MODES
from . import kernels
from .dictionary import negatives_table
from .epochs import checked_array

SKIPGRAM, CBOW, BATCH_SKIPGRAM = EMBEDDING_MODES
KERNELS = {SKIPGRAM: kernels.SKIPGRAM_KERNEL, CBOW: kernels.CBOW_KERNEL, BATCH_SKIPGRAM: kernels.BATCH_SKIPGRAM_KERNEL}
INIT_ROWS_AT_ONCE = 1 << 16
logger = logging.getLogger(__name__)  # the input matrix is drawn in slices: no float64 copy of 2 million rows


class CpuEngine:
    def __init__(self, dictionary, hyperparameters, threads, stream=0):
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

    def train_round(self, chunks):
        """Trains one chunk per thread at once: chunks[t] = (ids, line_starts, first_rate, last_rate).
        Returns the summed loss and positives."""
        futures = [self._pool.submit(self._train_chunk, t, *chunk) for t, chunk in enumerate(chunks)]
        results = [f.result() for f in futures]
        return sum(loss for loss, _ in results), sum(positives for _, positives in results)

    def _train_chunk(self, thread, ids, line_starts, first_rate, last_rate):
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

    def close(self):
        self._pool.shutdown()

    # -- checkpoints --------------------------------------------------------------------------------------
    def snapshot(self):
        return {"input_weights": self.input_weights, "output_weights": self.output_weights, "states": self.states}

    def restore(self, arrays):
        for name in ("input_weights", "output_weights", "states"):
            target = getattr(self, name)
            target[:] = checked_array(arrays, name, target.shape)

    # -- reading the vectors ------------------------------------------------------------------------------
    def all_finite(self):
        return bool(np.isfinite(self.input_weights.sum()) and np.isfinite(self.output_weights.sum()))

    def input_rows(self, start, stop):
        return self.input_weights[start:stop]

    def output_rows(self, start, stop):
        return self.output_weights[start:stop]

    def word_vectors(self, dictionary, words):
        """fastText's get_word_vector for each word: the mean of its input rows (zeros when it has none)."""
        vectors = np.zeros((len(words), self.input_weights.shape[1]), np.float32)
        for i, word in enumerate(words):
            rows = dictionary.rows_of(word)
            if len(rows):
                vectors[i] = self.input_weights[rows].mean(axis=0)
        return vectors


def thread_states(seed, stream, threads, table_size):
    """Each thread's generator (non-zero, as xorshift needs) and start in the negatives table, from the seed."""
    rng = np.random.default_rng([seed, stream])
    states = np.zeros((threads, kernels.STATE_ROW), np.int64)
    states[:, kernels.STATE_GENERATOR] = rng.integers(1, np.iinfo(np.int64).max, threads)
    states[:, kernels.STATE_NEGATIVE_POSITION] = rng.integers(0, table_size, threads)
    return states
