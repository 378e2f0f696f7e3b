"""The networks of the classifier's architectures (declared in architectures.py), as hybridizable Gluon blocks
taking (ids, valid_length).

Both start with one embedding matrix whose first rows are the vocabulary (initialised from pretrained
fastText-style vectors when given); ``fasttext`` appends hashed word n-gram rows.
"""

from collections.abc import Sequence
from types import ModuleType
from typing import Any, TypeAlias

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn

from . import architectures
from .architectures import OUTSIDE_WINDOW_PENALTY
from .hyperparameters import Hyperparameters

EMBEDDING_PARAMETER = "embedding"  # name prefix of the embedding block, for freezing it
CNN_EMBEDDING_INIT_SCALE = 0.1  # the cnn's embedding rows start uniform in [-0.1, 0.1]

# What a HybridBlock's hybrid_forward computes on: NDArrays when called imperatively, Symbols once hybridized (F is
# then mx.sym instead of mx.nd). MXNet has no type information: both are Any to the type checker.
Tensor: TypeAlias = mx.nd.NDArray | mx.sym.Symbol


class FastTextClassifier(gluon.HybridBlock):
    """fastText's supervised model: average the embeddings of the words and word n-grams, then a linear layer."""

    def __init__(
        self, input_size: int, embedding_dim: int, num_classes: int, sparse_grad: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            # fastText's own initialisation of the input matrix.
            self.embedding = nn.Embedding(
                input_size,
                embedding_dim,
                prefix=EMBEDDING_PARAMETER + "_",
                weight_initializer=mx.init.Uniform(1.0 / embedding_dim),
                sparse_grad=sparse_grad,
            )
            self.output = nn.Dense(num_classes, in_units=embedding_dim)

    def hybrid_forward(self, F: ModuleType, ids: Tensor, valid_length: Tensor) -> Tensor:
        embedded = self.embedding(ids)  # (N, T, C)
        # The masked sum over T as one (1, T) x (T, C) product per row: MXNet's sum over a middle axis is
        # ten times slower on CPU.
        inside = F.broadcast_lesser(
            F.expand_dims(F.contrib.arange_like(ids, axis=1), axis=0), F.expand_dims(valid_length, axis=1)
        )  # (N, T): 1 for real ids
        total = F.reshape(F.batch_dot(F.expand_dims(inside, axis=1), embedded), shape=(0, -1))  # (N, C)
        return self.output(F.broadcast_div(total, F.expand_dims(valid_length, axis=1)))


class CNNClassifier(gluon.HybridBlock):
    """Kim (2014): 1-D convolutions of several widths over the word embeddings, max-over-time pooling,
    dropout, linear layer."""

    def __init__(
        self,
        input_size: int,
        embedding_dim: int,
        num_classes: int,
        kernel_sizes: Sequence[int],
        num_filters: int,
        dropout: float,
        sparse_grad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_sizes = tuple(kernel_sizes)
        with self.name_scope():
            self.embedding = nn.Embedding(
                input_size,
                embedding_dim,
                prefix=EMBEDDING_PARAMETER + "_",
                weight_initializer=mx.init.Uniform(CNN_EMBEDDING_INIT_SCALE),
                sparse_grad=sparse_grad,
            )
            self.convolutions = nn.HybridSequential()
            for width in self.kernel_sizes:
                self.convolutions.add(
                    nn.Conv1D(num_filters, width, activation="relu", layout="NCW", in_channels=embedding_dim)
                )
            self.dropout = nn.Dropout(dropout)
            self.output = nn.Dense(num_classes, in_units=num_filters * len(self.kernel_sizes))

    def hybrid_forward(self, F: ModuleType, ids: Tensor, valid_length: Tensor) -> Tensor:
        embedded = self.embedding(ids)  # (N, T, C)
        channels_first = F.transpose(embedded, axes=(0, 2, 1))  # (N, C, T)
        pooled = []
        for width, conv in zip(self.kernel_sizes, self.convolutions):
            features = conv(channels_first)  # (N, filters, T - width + 1)
            # Only windows that lie inside the headline compete in the max-pool, so a headline's output does
            # not depend on how far its batch was padded (training and serving batch differently).
            windows = F.maximum(valid_length - (width - 1), 1)
            outside = F.broadcast_greater_equal(
                F.expand_dims(F.contrib.arange_like(features, axis=2), axis=0), F.expand_dims(windows, axis=1)
            )  # (N, T - width + 1)
            features = F.broadcast_sub(features, F.expand_dims(outside, axis=1) * OUTSIDE_WINDOW_PENALTY)
            # Global max-pool over time (oneDNN's pooling: much faster than a max reduction on CPU).
            pooled.append(F.Flatten(F.Pooling(features, kernel=(1,), pool_type="max", global_pool=True)))
        return self.output(self.dropout(F.concat(*pooled, dim=1)))


# The network of each architecture that architectures.py declares.
_BLOCKS = {architectures.FASTTEXT.name: FastTextClassifier, architectures.CNN.name: CNNClassifier}


def build_model(
    architecture: str,
    input_size: int,
    embedding_dim: int,
    num_classes: int,
    hyperparameters: Hyperparameters,
    sparse_grad: bool = True,
) -> gluon.HybridBlock:
    """sparse_grad: the embedding's gradient holds only the rows a batch touches. MXNet 1.9's distributed
    kvstore cannot carry such gradients (ps-lite aborts: apache/mxnet#21118), so multi-host jobs go dense."""
    declaration = architectures.get(architecture)
    return _BLOCKS[declaration.name](
        input_size,
        embedding_dim,
        num_classes,
        sparse_grad=sparse_grad,
        prefix=f"{declaration.name}_",
        **declaration.block_options(hyperparameters),
    )
