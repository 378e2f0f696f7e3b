"""One set of word vectors on several hosts, through MXNet's parameter servers (runtime/host_exchange.py).

The servers hold the weights. After every round each host pushes the rows its round changed (their change since the
last synchronisation), the servers add every host's, and each host pulls the rows any host changed. Each host's
updates reach the others a round late, as Hogwild threads see each other's a moment late: the sum, not the mean,
so a word's updates count the same on two hosts as on one.

Only changed rows travel: a round changes the input rows of its own words (and their subwords' buckets) and the
output rows of those words and of its negative samples, which on a large vocabulary are far fewer than all
(docs/performance.md, 'Word vectors on two hosts').
"""

import numpy as np
import numpy.typing as npt

from ...runtime.distributed import KVStore
from ...runtime.host_exchange import HostExchange
from .engine import CpuEngine

DIFFERENT_TEXT = (
    "The hosts of this job read different text or settings, so their vocabularies differ: every host needs the "
    "whole corpus (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same hyperparameters; each "
    "trains on its own share of it."
)


class WeightSync:
    def __init__(self, kvstore: KVStore, engine: CpuEngine, fingerprint: str) -> None:
        self.engine = engine
        self.exchange = HostExchange(kvstore, fingerprint, DIFFERENT_TEXT)
        # The weights at the last synchronisation, which every host holds alike.
        self._last = {"input_weights": engine.input_weights.copy(), "output_weights": engine.output_weights.copy()}
        self.exchange.hold_rows(self._last)

    @property
    def bytes_exchanged(self) -> int:
        return self.exchange.bytes_exchanged

    def sync(self, round_ids: npt.NDArray[np.int32]) -> None:
        """After a round whose chunks held these token ids, on every host at once."""
        engine = self.engine
        self._add("input_weights", engine.input_weights, input_rows_of(engine, round_ids))
        self._add("output_weights", engine.output_weights, None)  # negative samples reach any output row

    def _add(self, key: str, weights: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64] | None) -> None:
        last = self._last[key]
        rows, values = self.exchange.add_rows(key, *changed_rows(weights, last, candidates))
        last[rows] = values
        weights[rows] = values


def changed_rows(
    weights: npt.NDArray[np.float32], last: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The rows among `candidates` (None: all) whose weights differ from `last`, and by how much."""
    if candidates is None:  # one pass over the matrix, without gathering its rows first
        change = weights - last
        rows = np.flatnonzero(change.any(axis=1))
        return rows, change[rows]
    change = weights[candidates] - last[candidates]
    moved = change.any(axis=1)
    return candidates[moved], change[moved]


def input_rows_of(engine: CpuEngine, ids: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    """The input rows (sorted) of the words among these token ids: the only ones a round over them changes (the
    skip-gram modes step the rows of each centre word, cbow those of each context word)."""
    words = np.unique(ids)
    starts, ends = engine.row_offsets[words], engine.row_offsets[words + 1]
    lengths = ends - starts
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return np.unique(engine.row_ids[positions])
