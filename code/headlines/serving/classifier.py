"""A classifier's model folder served without MXNet: the encoder and labels as training saved them, and the
network of numpy_networks.py on the weights file, memory-mapped (params_file.py), so every worker shares one
copy of the weights."""

import os
from collections.abc import Sequence
from typing import Self

import numpy as np

from ..errors import JobError
from ..model_folder import PARAMS_FILE, read_classifier_description
from ..numpy_networks import Network, build_network, softmax
from ..params_file import read_params
from ..text import TextEncoder, VocabularyTable
from .snapshots import WeightCopies


class Classifier:
    """Raw headlines in, class probabilities out; thread-safe (the weights are read-only)."""

    def __init__(
        self,
        network: Network,
        encoder: TextEncoder[VocabularyTable],
        labels: list[str],
        label_names: dict[str, str],
    ) -> None:
        self.network = network
        self.encoder = encoder
        self.labels = labels
        self.label_names = label_names

    @classmethod
    def load(cls, model_dir: str, copies: WeightCopies | None = None) -> Self:
        """The classifier of a model folder; JobError for a folder whose files this image cannot read. With copies,
        the weights are mapped from the folder copies([PARAMS_FILE]) names (serving/snapshots.py), not model_dir."""
        config, vocabulary_json, labels, label_names = read_classifier_description(model_dir)
        encoder = TextEncoder.from_config(config["encoder"], VocabularyTable.from_json(vocabulary_json))
        path = os.path.join(model_dir, PARAMS_FILE)
        weights_dir = model_dir if copies is None else copies([PARAMS_FILE])
        try:
            params = read_params(os.path.join(weights_dir, PARAMS_FILE), name=path)
        except ValueError as e:  # numpy's, for a header no array can have (a negative dimension)
            raise JobError(f"{path} is not a valid parameters file: {e}.") from None
        return cls(build_network(config["architecture"], params, encoder), encoder, labels, label_names)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return softmax(self.network.logits(texts))
