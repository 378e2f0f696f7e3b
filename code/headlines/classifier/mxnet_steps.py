"""Optimizer steps through gluon's Trainer: data parallel over every device of the host, and over hosts through a
`dist_*` kvstore. Every architecture, GPUs and several hosts train this way.

On several hosts each worker runs batch_size / workers rows of every step on its own share of train, the servers
sum the gradients and apply the update, and every worker pulls the same weights.
"""

from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..runtime.distributed import KVStoreArgument
from ..text import TextEncoder
from .recipe import Recipe
from .steps import EncodedSet


class MXNetSteps:
    name = "mxnet"

    def __init__(
        self,
        net: Any,
        encoder: TextEncoder,
        contexts: list[mx.Context],
        recipe: Recipe,
        weight_decay: float,
        kvstore: KVStoreArgument,
        worker_batch_size: int,
    ) -> None:
        """`worker_batch_size`: the rows a worker's step takes (batch_size / workers, rounded up)."""
        self.net = net
        self.encoder = encoder
        self.contexts = contexts
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        # Gradients are summed over devices (and hosts) by the kvstore, then every device applies the same
        # update (on one host) or pulls the servers' updated weights (on several).
        self.trainer = gluon.Trainer(
            net.collect_params(),
            recipe.optimizer,
            {"learning_rate": recipe.learning_rate, "wd": weight_decay},
            kvstore=kvstore,
        )
        self.workers = 1 if isinstance(kvstore, str) else kvstore.num_workers
        self.bytes_exchanged = 0
        # On several hosts each step pushes every parameter's dense gradient and pulls its weights (float32).
        self._bytes_a_step = (
            0 if self.workers == 1 else 2 * 4 * sum(p.data().size for p in net.collect_params().values())
        )
        self.worker_batch_size = worker_batch_size
        self._train: EncodedSet | None = None

    def begin(self, train: EncodedSet) -> None:
        self._train = train

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        assert self._train is not None  # begin() comes first
        mx.random.seed(seed)
        return self.train_step(*self._train.gather(indices), self._train.labels[indices])

    def train_step(self, ids: np.ndarray, sizes: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
        """Forward/backward on every device, then one update normalised by the whole batch (headlines of `sizes`
        ids, end to end in `ids`). Returns (summed loss, correct predictions)."""
        weights = np.ones(len(sizes), dtype=np.float32)
        spare = len(self.contexts) - len(sizes)
        if spare > 0:
            # Every device must produce a gradient each step. Spare devices get copies of the first row with
            # weight 0: they add nothing, and touch no embedding row the batch does not touch already.
            ids = np.concatenate([ids] + [ids[: sizes[0]]] * spare)
            sizes = np.concatenate([sizes, np.repeat(sizes[:1], spare)])
            labels = np.concatenate([labels, np.repeat(labels[:1], spare)])
            weights = np.concatenate([weights, np.zeros(spare, dtype=np.float32)])
        padded, lengths = self.encoder.pad_flat(ids, sizes)
        parts = [
            gluon.utils.split_and_load(array, self.contexts, even_split=False)
            for array in (padded, lengths, labels.astype(np.float32), weights)
        ]
        with autograd.record():
            outputs = [self.net(x, n) for x, n in zip(parts[0], parts[1])]
            losses = [self.loss(o, y, w.expand_dims(1)) for o, y, w in zip(outputs, parts[2], parts[3])]
        for loss in losses:
            loss.backward()
        # Distributed: the servers fixed the gradient scale at the first step (MXNet raises if it changes), so
        # a short last batch is scaled as a full one.
        self.trainer.step(int(weights.sum()) if self.workers == 1 else self.worker_batch_size * self.workers)
        self.bytes_exchanged += self._bytes_a_step
        loss_sum = sum(float(loss.sum().asscalar()) for loss in losses)
        correct = sum(
            float(((o.argmax(axis=1) == y) * w).sum().asscalar()) for o, y, w in zip(outputs, parts[2], parts[3])
        )
        return loss_sum, int(correct)

    def set_learning_rate(self, rate: float) -> None:
        self.trainer.set_learning_rate(rate)

    def freeze_embedding(self, frozen: bool) -> None:
        self.net.embedding.weight.lr_mult = 0.0 if frozen else 1.0

    def publish(self) -> None:
        """The net's parameters are the trainer's own."""

    def pull(self) -> None:
        """The net's parameters are the trainer's own."""

    def save_states(self, path: str) -> None:
        self.trainer.save_states(path)

    def load_states(self, path: str) -> None:
        self.trainer.load_states(path)
