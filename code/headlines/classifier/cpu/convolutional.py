"""Optimizer steps of the cnn architecture on CPU hosts (on several, averaged: averaging.py), in numpy: one batch's
forward pass, softmax cross-entropy, backward pass and update, computing what MXNet's steps compute for the same
batch (models.CNNClassifier, gluon's SoftmaxCrossEntropyLoss, a Trainer step with the batch's size, and MXNet 1.9's
adam_update / sgd_update: lazy on the embedding's row-sparse gradient, dense elsewhere). Only dropout's draws
differ: they come from numpy's generator, seeded by the step's seed.

Why not MXNet's: its CPU convolutions over a padded batch of short headlines spent ~15 ms of a ~24 ms step
(docs/performance.md). Here each width's convolution is one matrix product over the windows that lie inside their
headline, and nothing is computed for padding. The net, its checkpoints and the model files stay MXNet's: the
steps hand it their parameters whenever the loop evaluates or saves it.
"""

import dataclasses
from typing import Any

import mxnet as mx
import numpy as np

from ...numpy_networks import log_softmax
from ..recipe import Recipe
from ..steps import EncodedSet, write_parameter
from . import convolutional_kernels as kernels
from .kernels import update_weights
from .optimizer import OptimizerState, computes


def supports(convolutional: bool, optimizer: str, contexts: list[mx.Context]) -> bool:
    """Whether a job trains with these steps: a cnn model, adam or sgd, on CPU hosts (on several, averaged:
    averaging.py)."""
    return convolutional and computes(optimizer, contexts)


def _positions(bases: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """bases[i], bases[i] + 1, ..., bases[i] + counts[i] - 1 for each i, end to end."""
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(bases, counts) + np.arange(int(counts.sum())) - firsts


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where a batch's headlines lie once each is padded to the network's shortest input (never to the batch's
    longest): `rows` holds every slot's embedding row end to end, headline i from `starts[i]`, and `lengths` what
    MXNet's valid_length holds (an empty headline counts its one padding slot)."""

    rows: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    padded: bool  # whether MXNet's batch, padded to its longest headline, holds the padding row

    @classmethod
    def of(cls, ids: np.ndarray, sizes: np.ndarray, padding_id: int, min_length: int) -> "_Layout":
        """The layout of headlines of `sizes` ids, end to end in `ids`."""
        slots = np.maximum(sizes, min_length)
        starts = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(slots, out=starts[1:])
        rows = np.full(int(starts[-1]), padding_id, np.int64)
        rows[_positions(starts[:-1], sizes)] = ids
        padded = bool((sizes < max(min_length, int(sizes.max(initial=0)))).any())
        return cls(rows, starts, np.maximum(sizes, 1), padded)

    def windows(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The slots of every window of `width` inside its headline, (windows, width), and each headline's first
        window: as in models.CNNClassifier, max(length - width + 1, 1) windows a headline."""
        counts = np.maximum(self.lengths - (width - 1), 1)
        first = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=first[1:])
        return _positions(self.starts[:-1], counts)[:, None] + np.arange(width), first


@dataclasses.dataclass(frozen=True)
class _Pooled:
    """What the backward pass needs of one convolution's forward pass."""

    slots: np.ndarray  # (windows, width): the slots each window covers
    windows: np.ndarray  # (windows, width * C): their embedded rows
    kernel: np.ndarray  # (filters, width * C): the weight in the windows' order
    best: np.ndarray  # (headlines, filters): the max over each headline's windows, after the ReLU
    where: np.ndarray  # (headlines, filters): the window that holds it


def dropout_mask(shape: tuple[int, ...], rate: float, rng: np.random.Generator) -> np.ndarray:
    """MXNet's inverted dropout as a factor per feature: 0 with probability `rate`, else 1 / (1 - rate), so that a
    feature's expected value is unchanged (the dropout hyperparameter is below 1)."""
    return (rng.random(shape, dtype=np.float32) >= rate) * np.float32(1.0 / (1.0 - rate))


class ConvolutionalSteps(OptimizerState):
    name = "numpy-cpu"
    bytes_exchanged = 0  # one host's steps

    def __init__(self, net: Any, recipe: Recipe, weight_decay: float, padding_id: int, min_length: int) -> None:
        self.net = net
        self.padding_id = padding_id
        self.min_length = min_length
        self.widths = tuple(net.kernel_sizes)
        self.dropout = float(net.dropout._rate)
        self.pull()
        super().__init__(recipe, weight_decay, self.parameters)
        self._slot = np.full(len(self.parameters["embedding"]), -1, np.int32)
        self._train: EncodedSet | None = None

    def _net_parameters(self) -> dict[str, Any]:
        net, named = self.net, {"embedding": self.net.embedding.weight}
        for index, convolution in enumerate(net.convolutions):
            named[f"conv{index}_weight"], named[f"conv{index}_bias"] = convolution.weight, convolution.bias
        named["output_weight"], named["output_bias"] = net.output.weight, net.output.bias
        return named

    def begin(self, train: EncodedSet) -> None:
        kernels.compile_for_this_cpu()  # here, not in the first epoch's time: loaded from the image's cache
        self._train = train

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        """One update from train's rows `indices`; dropout's draws come from `seed`."""
        layout, labels = self._batch(indices)
        grads, loss, correct = self._gradients(layout, labels, np.random.default_rng(seed))
        self._update(grads, layout, len(indices))
        return loss, correct

    def _update(self, grads: dict[str, np.ndarray], layout: _Layout, batch_size: int) -> None:
        """The optimizer's step from a batch's summed gradients: dense on the convolutions and the output layer,
        lazy on the embedding rows the batch holds."""
        f32, rate = np.float32, self.next_rate()
        options = (f32(1.0 / batch_size), *self.options())
        for name, grad in grads.items():
            if name != "embedding":
                weight, state = self.parameters[name], self.states[name]
                update_weights(weight.reshape(-1), state[0].reshape(-1), state[1].reshape(-1), grad.reshape(-1),
                               self.optimizer, f32(rate), *options)  # fmt: skip
        slot_grads = grads["embedding"]
        distinct_rows = np.empty(len(slot_grads) + 1, np.int64)
        row_grads = np.zeros((len(slot_grads) + 1, slot_grads.shape[1]), f32)
        # Adam moves the padding row of MXNet's padded batch even where its gradient is 0.
        kernels.update_rows(
            self.parameters["embedding"], self.states["embedding"], layout.rows, slot_grads,
            self.padding_id if layout.padded else -1, self.optimizer, f32(rate * self.embedding_multiplier), *options,
            self._slot, distinct_rows, row_grads,
        )  # fmt: skip

    def _batch(self, indices: np.ndarray) -> tuple[_Layout, np.ndarray]:
        """The layout of train's rows `indices` and their labels."""
        assert self._train is not None  # begin() comes first
        ids, sizes = self._train.gather(indices)
        return _Layout.of(ids, sizes, self.padding_id, self.min_length), self._train.labels[indices]

    def _gradients(
        self, layout: _Layout, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[dict[str, np.ndarray], float, int]:
        """The batch's summed gradients (the embedding's one row per slot of the layout), loss and right answers."""
        p = self.parameters
        embedded = p["embedding"][layout.rows]  # (slots, C)
        convolutions = [
            self._convolution(index, embedded, *layout.windows(width)) for index, width in enumerate(self.widths)
        ]
        features = np.concatenate([pooled.best for pooled in convolutions], axis=1)
        mask = dropout_mask(features.shape, self.dropout, rng)
        dropped = features * mask
        logits = dropped @ p["output_weight"].T + p["output_bias"]
        log_probabilities = log_softmax(logits)
        rows = np.arange(len(labels))
        loss = float(-log_probabilities[rows, labels].astype(np.float64).sum())
        correct = int((logits.argmax(axis=1) == labels).sum())
        delta = np.exp(log_probabilities)
        delta[rows, labels] -= 1.0  # d loss / d logits, per headline
        grads = {"output_weight": delta.T @ dropped, "output_bias": delta.sum(axis=0)}
        feature_grads = np.split((delta @ p["output_weight"]) * mask, len(convolutions), axis=1)
        grads["embedding"] = np.zeros_like(embedded)
        for index, (pooled, feature_grad) in enumerate(zip(convolutions, feature_grads)):
            self._convolution_grads(index, pooled, feature_grad, grads)
        return grads, loss, correct

    def _convolution(self, index: int, embedded: np.ndarray, slots: np.ndarray, first: np.ndarray) -> _Pooled:
        """Convolution `index` over the windows `slots` of the embedded slots, ReLU, and the max over each
        headline's windows (rows first[i] .. first[i + 1] - 1)."""
        weight, bias = self.parameters[f"conv{index}_weight"], self.parameters[f"conv{index}_bias"]
        windows = embedded[slots].reshape(len(slots), -1)  # [window, k * C + c] = x[start + k, c]
        kernel = weight.transpose(0, 2, 1).reshape(len(bias), -1)  # the same order: [filter, k * C + c]
        features = np.maximum(windows @ kernel.T + bias, 0)
        best = np.empty((len(first) - 1, len(bias)), np.float32)
        where = np.empty(best.shape, np.int64)
        kernels.max_over_windows(features, first, best, where)
        return _Pooled(slots, windows, kernel, best, where)

    @staticmethod
    def _convolution_grads(index: int, pooled: _Pooled, feature_grad: np.ndarray, grads: dict[str, np.ndarray]) -> None:
        """Convolution `index`'s weight and bias gradients into grads, and its windows' into the embedding's."""
        filters, width = pooled.best.shape[1], pooled.slots.shape[1]
        window_grad = np.zeros((len(pooled.slots), filters), np.float32)
        # Max-pooling sends each filter's gradient to its best window, the ReLU only where that was > 0.
        window_grad[pooled.where, np.arange(filters)] = feature_grad * (pooled.best > 0)
        weight_grad = (window_grad.T @ pooled.windows).reshape(filters, width, -1)
        grads[f"conv{index}_weight"] = weight_grad.transpose(0, 2, 1)
        grads[f"conv{index}_bias"] = window_grad.sum(axis=0)
        kernels.add_window_grads(grads["embedding"], pooled.slots, window_grad @ pooled.kernel)

    def publish(self) -> None:
        for name, parameter in self._net_parameters().items():
            write_parameter(parameter, self.parameters[name])

    def pull(self) -> None:
        self.parameters = {
            name: np.ascontiguousarray(parameter.data().asnumpy(), dtype=np.float32)
            for name, parameter in self._net_parameters().items()
        }
