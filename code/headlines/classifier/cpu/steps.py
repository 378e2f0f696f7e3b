"""Optimizer steps of the fasttext architecture on CPU hosts, compiled (kernels.py): the parameters and adam's
state live in numpy arrays during training and go to the net whenever the loop evaluates or saves it; the
optimizer state has its own file in a checkpoint."""

from typing import Any

import mxnet as mx
import numba
import numpy as np

from ..recipe import Recipe
from ..steps import EncodedSet, write_parameter
from . import kernels
from .optimizer import OptimizerState, computes


def supports(architecture_hashes_ngrams: bool, optimizer: str, contexts: list[mx.Context]) -> bool:
    """Whether a job trains with these steps: a fasttext model, adam or sgd, on CPU hosts (on several, averaged:
    averaging.py)."""
    return architecture_hashes_ngrams and computes(optimizer, contexts)


class CompiledSteps(OptimizerState):
    name = "compiled-cpu"
    bytes_exchanged = 0  # one host's steps

    def __init__(self, net: Any, recipe: Recipe, weight_decay: float, padding_id: int, batch_size: int) -> None:
        self.net = net
        self.padding_id = padding_id
        self.batch_size = batch_size
        self.pull()
        super().__init__(recipe, weight_decay, self.parameters)
        self._slot = np.full(len(self.embedding), -1, dtype=np.int32)

    def _parameters(self) -> tuple[Any, Any, Any]:
        return self.net.embedding.weight, self.net.output.weight, self.net.output.bias

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The arrays the steps update, by name (what hosts average: averaging.py)."""
        return {"embedding": self.embedding, "weight": self.weight, "bias": self.bias}

    def begin(self, train: EncodedSet) -> None:
        kernels.compile_for_this_cpu()  # here, not in the first epoch's time: loaded from the image's cache
        self._ids, self._starts = train.ids, train.starts
        self._labels = np.asarray(train.labels, dtype=np.int64)
        # A batch has at most its longest headlines' ids (an empty one: its padding row) and the padding row.
        sizes = np.maximum(np.diff(self._starts), 1)
        most_ids = int(np.sort(sizes)[::-1][: self.batch_size].sum()) + 1
        dim = self.embedding.shape[1]
        self._headline_grads = np.zeros((self.batch_size, dim), np.float32)
        self._touched, self._positions, self._owners = (np.zeros(most_ids, np.int64) for _ in range(3))

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        """One step (the fasttext architecture draws nothing at random: `seed` goes unused)."""
        if len(indices) > self.batch_size:  # the kernel's scratch space holds batch_size headlines
            raise ValueError(f"a step of {len(indices)} headlines, more than the {self.batch_size} it was sized for")
        rate = self.next_rate()
        f32 = np.float32
        states = self.states
        loss, correct = kernels.train_batch(
            self.embedding, self.weight, self.bias, states["embedding"], states["weight"], states["bias"],
            self._ids, self._starts, self._labels, np.asarray(indices, dtype=np.int64), self.padding_id,
            self.optimizer, f32(rate * self.embedding_multiplier), f32(rate), *self.options(),
            numba.get_num_threads(), self._headline_grads, self._slot,
            self._touched, self._positions, self._owners,
        )  # fmt: skip
        return float(loss), int(correct)

    def publish(self) -> None:
        for parameter, values in zip(self._parameters(), (self.embedding, self.weight, self.bias)):
            write_parameter(parameter, values)

    def pull(self) -> None:
        self.embedding, self.weight, self.bias = (
            np.ascontiguousarray(parameter.data().asnumpy(), dtype=np.float32) for parameter in self._parameters()
        )
