"""One set of word vectors on several hosts, through MXNet's parameter servers (runtime/host_exchange.py), as a
parameter server is meant to be used with sparse models: the servers hold the weights; before a round each host
reads the rows its words need (their input rows, subwords included, and their output rows), and after it adds
the rows it changed. Each host's updates reach the others when they next read those rows, as Hogwild threads see
each other's a moment late: the sum, not the mean, so a word's updates count the same on two hosts as on one.
After the last round every host reads every row.

Only those rows travel. A round changes the input rows of its own words and the output rows of those words and of
its negative samples; the negatives' output rows are not read before a round (they cannot be known before it
runs), so a host's copy of a rare word's output row may miss the other hosts' changes until a round of its own
needs it. On WikiText-2 that cost nothing measurable in rho, and it halved the bytes of exchanging every changed
row (docs/performance.md, 'Word vectors on two hosts').
"""

import numpy as np
import numpy.typing as npt

from ...runtime.distributed import KVStore
from ...runtime.host_exchange import HostExchange
from .engine import CpuEngine
from .kernels import take_changed_rows

INPUT, OUTPUT = "input_weights", "output_weights"
DIFFERENT_TEXT = (
    "The hosts of this job read different text or settings, so their vocabularies differ: every host needs the "
    "whole corpus (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same hyperparameters; each "
    "trains on its own share of it."
)


class WeightSync:
    def __init__(self, kvstore: KVStore, engine: CpuEngine, fingerprint: str) -> None:
        self.engine = engine
        self.exchange = HostExchange(kvstore, fingerprint, DIFFERENT_TEXT)
        # Each row as this host last read it from the servers, or wrote its change there.
        self._last = {INPUT: engine.input_weights.copy(), OUTPUT: engine.output_weights.copy()}
        self._round_rows: dict[str, npt.NDArray[np.int64]] = {}
        self._all_output_rows = np.arange(len(engine.output_weights), dtype=np.int64)  # negatives reach any of them
        # Where end_round writes the changed rows and their changes (at most every row).
        self._rows_found = {key: np.empty(len(last), np.int64) for key, last in self._last.items()}
        self._changes = {key: np.empty_like(last) for key, last in self._last.items()}
        self.exchange.hold_rows(self._last)

    @property
    def bytes_exchanged(self) -> int:
        return self.exchange.bytes_exchanged

    def begin_round(self, round_ids: npt.NDArray[np.int32]) -> None:
        """Before a round whose chunks hold these token ids: reads the rows of its words from the servers."""
        words = np.unique(round_ids).astype(np.int64)
        self._round_rows = {INPUT: input_rows_of(self.engine, words), OUTPUT: words}
        for key, rows in self._round_rows.items():
            self._read(key, rows)

    def end_round(self) -> None:
        """After the round, on every host at once: adds the rows it changed to the servers'."""
        for key, candidates in ((INPUT, self._round_rows[INPUT]), (OUTPUT, self._all_output_rows)):
            rows, change = self._rows_found[key], self._changes[key]
            found = take_changed_rows(getattr(self.engine, key), self._last[key], candidates, rows, change)
            self.exchange.add_rows(key, rows[:found], change[:found])

    def finish(self) -> None:
        """After the last round: every row as the servers hold it, with every host's changes."""
        for key in (INPUT, OUTPUT):
            self._read(key, np.arange(len(self._last[key]), dtype=np.int64))

    def _read(self, key: str, rows: npt.NDArray[np.int64]) -> None:
        values = self.exchange.rows(key, rows)
        self._last[key][rows] = values
        getattr(self.engine, key)[rows] = values


def input_rows_of(engine: CpuEngine, words: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The input rows (sorted) of these words (sorted, unique): the only ones a round over them changes (the
    skip-gram modes step the rows of each centre word, cbow those of each context word)."""
    starts, ends = engine.row_offsets[words], engine.row_offsets[words + 1]
    lengths = ends - starts
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return np.unique(engine.row_ids[positions])
