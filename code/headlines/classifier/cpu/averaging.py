"""The CPU steps (compiled for fasttext, numpy's for cnn) on several CPU hosts: model averaging. Each host steps
through its own share of train with its own optimizer state, and at the end of every epoch the hosts replace their
parameters by the mean of all hosts' (runtime/host_exchange.py), so every host evaluates, picks and keeps the same
model. The hosts start from the same parameters, and check that they do: a new job seeds the initialisation alike on
every host (they have checked that they share the vocabulary, labels and settings), and a resumed one starts from
the checkpoint each host wrote after the same epoch's averaging.

Why not MXNet's synchronous parameter server, as GPU hosts use: it pushes the dense float32
gradient and pulls the weights every step (MXNet 1.9's distributed kvstore crashes on row-sparse gradients), about
170 MB a step on the UCI split, which made two hosts 25-60x slower than one. Averaging exchanges each parameter's
change once an epoch, as float16: 85 MB on the UCI split, and of the embedding only the rows some host changed
(each host touches ~40% of them in an epoch there), 46.7 MB (docs/performance.md, 'Two hosts in local mode').
"""

import hashlib

import numpy as np

from ...runtime.host_exchange import HostExchange
from ..steps import EncodedSet
from .averaging_kernels import add_mean, changed_rows, compile_for_this_cpu, gather_change, scatter_mean, write_change
from .convolutional import ConvolutionalSteps
from .steps import CompiledSteps

# An epoch's change of a parameter, as the hosts exchange it: half of float32's bytes, and its 3 significant digits
# round a change, not the parameter (every host adds the same mean, taken in float32, of the same float16 sum to the
# same float32 parameters).
EXCHANGE_TYPE = np.float16
# Rows a key of an embedding's exchange holds (1.6 MB of float16 at dim 100): the blocks that hold the rows some host
# changed travel, the rest stay; less than a block is the most an exchange sends for nothing. Parameters with fewer
# rows than two blocks go whole.
ROW_BLOCK = 8192
# The key of how many hosts changed each row of a parameter exchanged by rows.
CHANGED_ROWS_SUFFIX = "/changed-rows"
CHANGED_ROWS_TYPE = np.float16  # counts of hosts, exact in float16 up to 2,048, at 2 bytes a row
DIFFERENT_SETUP = (
    "The hosts of this job read different data or settings, so their vocabularies or labels differ: every host "
    "needs all of train (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same hyperparameters."
)
START_KEY = "start"
SCORES_KEY = "validation-scores"  # each host's scores of its part of the validation set
DIFFERENT_START = (
    "The hosts of this job start from different parameters: their checkpoints (each host resumes from its own "
    "folder in the checkpoint location) are of different epochs, or only some hosts have one. Remove every host's "
    "folder there to train afresh."
)


def parameters_digest(parameters: dict[str, np.ndarray]) -> str:
    """SHA-256 of the parameters' names and bytes: equal on hosts that hold the same model."""
    digest = hashlib.sha256()
    for name in sorted(parameters):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(parameters[name]).tobytes())
    return digest.hexdigest()


def _exchanged_by_rows(values: np.ndarray) -> bool:
    """Whether a parameter's exchange sends only the rows some host changed: a matrix of two blocks' rows or more
    (an embedding; the output layer and the convolutions go whole)."""
    return values.ndim == 2 and len(values) >= 2 * ROW_BLOCK


class AveragedSteps:
    def __init__(self, steps: CompiledSteps | ConvolutionalSteps, exchange: HostExchange) -> None:
        self.steps = steps
        self.name = f"{steps.name}-averaged"
        self.exchange = exchange
        self._last = {}  # the parameters every host held after the last averaging (or at the start)
        self._scores_key_added = False
        self._by_rows = {name for name, values in steps.parameters.items() if _exchanged_by_rows(values)}
        for name, values in steps.parameters.items():
            self._last[name] = values.copy()
            if name in self._by_rows:
                rows, dim = values.shape
                exchange.add_key(name + CHANGED_ROWS_SUFFIX, (rows,), CHANGED_ROWS_TYPE)
                exchange.add_row_blocks(name, (rows, dim), EXCHANGE_TYPE, ROW_BLOCK)
            else:
                exchange.add_key(name, values.shape, EXCHANGE_TYPE)

    @property
    def bytes_exchanged(self) -> int:
        return self.exchange.bytes_exchanged

    def begin(self, train: EncodedSet) -> None:
        """Every host calls it, with the parameters it starts or resumes from: they must be the same on all."""
        self.steps.begin(train)
        compile_for_this_cpu()  # here, not in the first epoch's time
        for name, values in self.steps.parameters.items():
            np.copyto(self._last[name], values)
        self.exchange.require_same(START_KEY, parameters_digest(self._last), DIFFERENT_START)

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        return self.steps.step(indices, seed)

    def set_learning_rate(self, rate: float) -> None:
        self.steps.set_learning_rate(rate)

    def freeze_embedding(self, frozen: bool) -> None:
        self.steps.freeze_embedding(frozen)

    def publish(self) -> None:
        """The mean of every host's parameters, in the net and in the steps (every host calls it after an epoch):
        the last mean plus the mean of the hosts' changes since, which travel as float16."""
        for name, parameters in self.steps.parameters.items():
            last, change = self._last[name], self.exchange.outbox(name)
            if name in self._by_rows:
                self._publish_rows(name, parameters, last, change)
            else:
                write_change(parameters, last, change)
                add_mean(last, parameters, self.exchange.sum(name, change), self.exchange.hosts)
        self.steps.publish()

    def _publish_rows(self, name: str, parameters: np.ndarray, last: np.ndarray, change: np.ndarray) -> None:
        """publish for a parameter of many rows, of which an epoch changes some: the hosts first add up which rows
        each changed, then exchange the changes of those rows alone (the others are the last mean on every host)."""
        changed = self.exchange.outbox(name + CHANGED_ROWS_SUFFIX)
        changed_rows(parameters, last, changed)
        rows = np.flatnonzero(self.exchange.sum(name + CHANGED_ROWS_SUFFIX, changed))
        gather_change(parameters, last, rows, change)
        scatter_mean(last, parameters, rows, self.exchange.sum_rows(name, len(rows)), self.exchange.hosts)

    def pull(self) -> None:
        self.steps.pull()

    def scored_rows(self, rows: int) -> tuple[int, int]:
        """This host's block of the validation set: the hosts' blocks are as equal as they can be, in host order."""
        hosts, rank = self.exchange.hosts, self.exchange.rank
        return rank * rows // hosts, (rank + 1) * rows // hosts

    def add_scores(self, scores: np.ndarray) -> np.ndarray:
        """The sum of every host's scores (float64: counts stay exact), the same on every host."""
        if not self._scores_key_added:  # its shape is known only now; every host adds it at the same epoch's end
            self.exchange.add_key(SCORES_KEY, scores.shape, np.float64)
            self._scores_key_added = True
        return self.exchange.sum(SCORES_KEY, scores, counted=False).copy()

    def save_states(self, path: str) -> None:
        self.steps.save_states(path)

    def load_states(self, path: str) -> None:
        self.steps.load_states(path)
