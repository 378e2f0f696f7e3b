"""What both CPU steps (steps.py, convolutional.py) keep of MXNet's optimizer between batches: the optimizer, its
rate and adam's step count, the embedding's rate multiplier, and adam's state, which has its own file in a
checkpoint; and which optimizers and devices they serve at all. The updates themselves are kernels.update_weights
and the steps' own kernels."""

import math

import mxnet as mx
import numpy as np

from ..recipe import Recipe
from .kernels import ADAM, SGD

# MXNet's Adam defaults, which the MXNet steps use too.
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
OPTIMIZERS = {"adam": ADAM, "sgd": SGD}  # the recipe's optimizers the CPU steps compute


def zeros_on_huge_pages(shape: tuple[int, ...]) -> np.ndarray:
    """float32 zeros that numpy allocates and fills itself, so that Linux may back them with transparent huge
    pages: a step reads and writes thousands of adam's rows at random, and on 4 KB pages nearly each is a TLB miss.
    numpy asks for huge pages (madvise) for large arrays it allocates, but np.zeros' memory comes from calloc and
    got none where Linux gives them only to memory that asks (`madvise`, this machine's setting): the fasttext
    steps ran 1.1-1.7x as fast with these (docs/performance.md)."""
    zeros = np.empty(shape, np.float32)
    zeros.fill(0)
    return zeros


def computes(optimizer: str, contexts: list[mx.Context]) -> bool:
    """Whether the CPU steps can take a job's steps: an optimizer they compute, on one CPU context (a host's)."""
    return optimizer in OPTIMIZERS and len(contexts) == 1 and contexts[0].device_type == "cpu"


class OptimizerState:
    def __init__(self, recipe: Recipe, weight_decay: float, parameters: dict[str, np.ndarray]) -> None:
        """Adam's mean and variance start at 0 for each of `parameters` (sgd keeps none for the embedding, the
        largest; its dense parameters keep unused zeros, which the kernels' signatures expect)."""
        self.optimizer = OPTIMIZERS[recipe.optimizer]
        self.rate = recipe.learning_rate
        self.weight_decay = weight_decay
        self.embedding_multiplier = 1.0
        self.updates = 0  # adam's step count, for its bias correction
        self.states = {
            name: zeros_on_huge_pages((2, *self._state_shape(name, values))) for name, values in parameters.items()
        }

    def _state_shape(self, name: str, values: np.ndarray) -> tuple[int, ...]:
        """The shape of a parameter's mean (and of its variance): none of the embedding's rows under sgd."""
        return (0, *values.shape[1:]) if name == "embedding" and self.optimizer != ADAM else values.shape

    def next_rate(self) -> float:
        """Counts an update and returns its rate: adam's with its bias correction, as MXNet's Adam.update computes
        it in double precision; sgd's as set."""
        self.updates += 1
        if self.optimizer != ADAM:
            return self.rate
        return self.rate * math.sqrt(1.0 - ADAM_BETA2**self.updates) / (1.0 - ADAM_BETA1**self.updates)

    def options(self) -> tuple[np.float32, np.float32, np.float32, np.float32]:
        """The kernels' arguments after the rates: weight decay, beta1, beta2, epsilon, as float32."""
        f32 = np.float32
        return f32(self.weight_decay), f32(ADAM_BETA1), f32(ADAM_BETA2), f32(ADAM_EPSILON)

    def set_learning_rate(self, rate: float) -> None:
        self.rate = rate

    def freeze_embedding(self, frozen: bool) -> None:
        self.embedding_multiplier = 0.0 if frozen else 1.0

    def save_states(self, path: str) -> None:
        with open(path, "wb") as f:
            np.savez(f, updates=np.int64(self.updates), **self.states)

    def load_states(self, path: str) -> None:
        with np.load(path) as saved:
            self.updates = int(saved["updates"])
            self.states = {name: np.ascontiguousarray(saved[name]) for name in self.states}
