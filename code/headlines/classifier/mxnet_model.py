"""The classifier's model folder loaded with MXNet: the reference that serving's numpy forward pass is held to (to
1e-5), and the model that AWS's MXNet toolkit serves in the serving benchmark. Training writes the folder
(artifacts.py); the serving image reads it without MXNet (serving/classifier.py)."""

import os
import warnings
from collections.abc import Sequence
from typing import Self

import gluonnlp as nlp
import mxnet as mx
import numpy as np
import numpy.typing as npt

from ..model_folder import PARAMS_FILE, SYMBOL_FILE, read_classifier_description
from ..mxnet_compat import to_ndarray
from ..numpy_networks import softmax
from ..text import TextEncoder


class HeadlineModel:
    """A trained model loaded from its folder: raw headlines in, class probabilities out."""

    def __init__(
        self,
        net: mx.gluon.SymbolBlock,
        encoder: TextEncoder,
        labels: list[str],
        label_names: dict[str, str],
        context: mx.Context,
    ) -> None:
        self.net = net
        self.encoder = encoder
        self.labels = labels
        self.label_names = label_names
        self.context = context

    @classmethod
    def load(cls, model_dir: str, context: mx.Context | None = None) -> Self:
        context = context or mx.cpu()
        config, vocabulary_json, labels, label_names = read_classifier_description(model_dir)
        with warnings.catch_warnings():  # the exported graph does not record input types; float32 is right
            warnings.filterwarnings("ignore", message="Cannot decide type for the following arguments")
            net = mx.gluon.SymbolBlock.imports(
                os.path.join(model_dir, SYMBOL_FILE),
                config["input_names"],
                os.path.join(model_dir, PARAMS_FILE),
                ctx=context,
            )
        net.hybridize(static_alloc=True)
        encoder = TextEncoder.from_config(config["encoder"], nlp.Vocab.from_json(vocabulary_json))
        return cls(net, encoder, labels, label_names, context)

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Class probabilities, shape (len(texts), len(labels)), in one forward pass."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, lengths = self.encoder.encode(texts)
        logits = self.net(to_ndarray(ids, self.context), to_ndarray(lengths, self.context)).asnumpy()
        return softmax(logits)  # in numpy: one MXNet call fewer
