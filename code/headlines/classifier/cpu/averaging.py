"""The CPU steps (compiled for fasttext, numpy's for cnn) on several CPU hosts: model averaging. Each host steps
through its own share of train with its own optimizer state, and at the end of every epoch the hosts replace their
parameters by the mean of all hosts' (runtime/host_exchange.py), so every host evaluates, picks and keeps the same
model. The hosts start from the same parameters, and check that they do: a new job seeds the initialisation alike on
every host (they have checked that they share the vocabulary, labels and settings), and a resumed one starts from
the checkpoint each host wrote after the same epoch's averaging.

Why not MXNet's synchronous parameter server, as GPU hosts use: it pushes the dense float32
gradient and pulls the weights every step (MXNet 1.9's distributed kvstore crashes on row-sparse gradients), about
170 MB a step on the UCI split, which made two hosts 25-60x slower than one. Averaging exchanges each parameter's
change once an epoch, as float16: 85 MB (docs/performance.md, 'Two hosts in local mode').
"""

import hashlib

import numpy as np

from ...runtime.host_exchange import HostExchange
from ..steps import EncodedSet
from .convolutional import ConvolutionalSteps
from .steps import CompiledSteps

# An epoch's change of a parameter, as the hosts exchange it: half of float32's bytes, and its 3 significant digits
# round a change, not the parameter (every host adds the same rounded mean to the same float32 parameters).
EXCHANGE_TYPE = np.float16
DIFFERENT_SETUP = (
    "The hosts of this job read different data or settings, so their vocabularies or labels differ: every host "
    "needs all of train (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same hyperparameters."
)
START_KEY = "start"
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


class AveragedSteps:
    def __init__(self, steps: CompiledSteps | ConvolutionalSteps, exchange: HostExchange) -> None:
        self.steps = steps
        self.name = f"{steps.name}-averaged"
        self.exchange = exchange
        self._last = {}  # the parameters every host held after the last averaging (or at the start)
        self._change = {}  # where a parameter's change since then is written, as exchanged
        for name, values in steps.parameters.items():
            self._last[name] = values.copy()
            self._change[name] = np.empty(values.shape, EXCHANGE_TYPE)
            exchange.add_key(name, values.shape, EXCHANGE_TYPE)

    @property
    def bytes_exchanged(self) -> int:
        return self.exchange.bytes_exchanged

    def begin(self, train: EncodedSet) -> None:
        """Every host calls it, with the parameters it starts or resumes from: they must be the same on all."""
        self.steps.begin(train)
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
        share = EXCHANGE_TYPE(1 / self.exchange.hosts)
        for name, parameters in self.steps.parameters.items():
            last = self._last[name]
            # One pass over the parameters each: the change written as float16, the mean change added in place.
            change = np.subtract(parameters, last, out=self._change[name], casting="same_kind")
            np.add(last, self.exchange.sum(name, change) * share, out=last, casting="same_kind")
            np.copyto(parameters, last)
        self.steps.publish()

    def pull(self) -> None:
        self.steps.pull()

    def save_states(self, path: str) -> None:
        self.steps.save_states(path)

    def load_states(self, path: str) -> None:
        self.steps.load_states(path)
