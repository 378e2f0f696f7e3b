"""Optimizer steps of the fasttext architecture on one CPU host, compiled (kernels.py): the parameters and adam's
state live in numpy arrays during training and go to the net whenever the loop evaluates or saves it; the
optimizer state has its own file in a checkpoint."""

import math
from typing import Any

import mxnet as mx
import numba
import numpy as np

from ..recipe import Recipe
from ..steps import EncodedSet
from . import kernels

# MXNet's Adam defaults, which the MXNet steps use too.
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
_OPTIMIZERS = {"adam": kernels.ADAM, "sgd": kernels.SGD}


def supports(architecture_hashes_ngrams: bool, optimizer: str, contexts: list[mx.Context]) -> bool:
    """Whether a job trains with these steps: a fasttext model, adam or sgd, on CPU hosts (on several, averaged:
    averaging.py)."""
    on_cpu = all(context.device_type == "cpu" for context in contexts) and len(contexts) == 1
    return architecture_hashes_ngrams and optimizer in _OPTIMIZERS and on_cpu


class CompiledSteps:
    name = "compiled-cpu"
    bytes_exchanged = 0  # one host's steps

    def __init__(self, net: Any, recipe: Recipe, weight_decay: float, padding_id: int, batch_size: int) -> None:
        self.net = net
        self.optimizer = _OPTIMIZERS[recipe.optimizer]
        self.rate = recipe.learning_rate
        self.weight_decay = weight_decay
        self.padding_id = padding_id
        self.batch_size = batch_size
        self.embedding_multiplier = 1.0
        self.pull()
        rows, dim = self.embedding.shape
        adam = self.optimizer == kernels.ADAM
        self.updates = 0  # adam's step count, for its bias correction
        self.embedding_state = np.zeros((2, rows if adam else 0, dim), np.float32)
        self.weight_state = np.zeros((2, *self.weight.shape), np.float32)
        self.bias_state = np.zeros((2, *self.bias.shape), np.float32)
        self._slot = np.full(rows, -1, dtype=np.int32)

    def _parameters(self) -> tuple[Any, Any, Any]:
        return self.net.embedding.weight, self.net.output.weight, self.net.output.bias

    def begin(self, train: EncodedSet) -> None:
        kernels.compile_for_this_cpu()  # here, not in the first epoch's time: loaded from the image's cache
        self._ids, self._starts = train.ids, train.starts
        self._labels = np.asarray(train.labels, dtype=np.int64)
        # A batch has at most its longest headlines' ids (an empty one: its padding row) and the padding row.
        sizes = np.maximum(np.diff(self._starts), 1)
        most_ids = int(np.sort(sizes)[::-1][: self.batch_size].sum()) + 1
        dim = self.embedding.shape[1]
        self._headline_grads = np.zeros((self.batch_size, dim), np.float32)
        self._row_grads = np.zeros((most_ids, dim), np.float32)
        self._touched, self._positions, self._owners = (np.zeros(most_ids, np.int64) for _ in range(3))

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        """One step (the fasttext architecture draws nothing at random: `seed` goes unused)."""
        if len(indices) > self.batch_size:  # the kernel's scratch space holds batch_size headlines
            raise ValueError(f"a step of {len(indices)} headlines, more than the {self.batch_size} it was sized for")
        self.updates += 1
        rate = self.rate
        if self.optimizer == kernels.ADAM:  # as MXNet's Adam.update computes it, in double precision
            rate *= math.sqrt(1.0 - ADAM_BETA2**self.updates) / (1.0 - ADAM_BETA1**self.updates)
        f32 = np.float32
        loss, correct = kernels.train_batch(
            self.embedding, self.weight, self.bias, self.embedding_state, self.weight_state, self.bias_state,
            self._ids, self._starts, self._labels, np.asarray(indices, dtype=np.int64), self.padding_id,
            self.optimizer, f32(rate * self.embedding_multiplier), f32(rate), f32(self.weight_decay),
            f32(ADAM_BETA1), f32(ADAM_BETA2), f32(ADAM_EPSILON), numba.get_num_threads(), self._headline_grads,
            self._row_grads, self._slot,
            self._touched, self._positions, self._owners,
        )  # fmt: skip
        return float(loss), int(correct)

    def set_learning_rate(self, rate: float) -> None:
        self.rate = rate

    def freeze_embedding(self, frozen: bool) -> None:
        self.embedding_multiplier = 0.0 if frozen else 1.0

    def publish(self) -> None:
        for parameter, values in zip(self._parameters(), (self.embedding, self.weight, self.bias)):
            parameter.set_data(mx.nd.array(values, dtype=np.float32))

    def pull(self) -> None:
        self.embedding, self.weight, self.bias = (
            np.ascontiguousarray(parameter.data().asnumpy(), dtype=np.float32) for parameter in self._parameters()
        )

    def save_states(self, path: str) -> None:
        with open(path, "wb") as f:
            np.savez(
                f,
                updates=np.int64(self.updates),
                embedding=self.embedding_state,
                weight=self.weight_state,
                bias=self.bias_state,
            )

    def load_states(self, path: str) -> None:
        with np.load(path) as states:
            self.updates = int(states["updates"])
            self.embedding_state = np.ascontiguousarray(states["embedding"])
            self.weight_state = np.ascontiguousarray(states["weight"])
            self.bias_state = np.ascontiguousarray(states["bias"])
