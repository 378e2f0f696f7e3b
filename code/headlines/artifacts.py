"""Writing and loading the model folder (/opt/ml/model; its file names are in model_folder.py): everything serving
needs to turn a raw headline into a label, as JSON and MXNet symbol + params only (nothing executable, no pickles).

    model-symbol.json   the hybridized network
    model-0000.params   its weights
    vocabulary.json     GluonNLP Vocab
    labels.json         label ids -> labels and readable names
    model-config.json   tokenizer, encoder and architecture settings, input names
"""

import os
import warnings

import gluonnlp as nlp
import mxnet as mx
import numpy as np

from .files import publish, staging_folder, write_json
from .model_folder import (
    CONFIG_FILE,
    FORMAT_VERSION,
    LABELS_FILE,
    MODEL_PREFIX,
    PARAMS_FILE,
    SYMBOL_FILE,
    VOCABULARY_FILE,
    read_classifier_description,
)
from .mxnet_compat import to_ndarray
from .numpy_networks import softmax
from .text import TextEncoder

INPUT_NAMES = ("data0", "data1")  # what HybridBlock.export calls the (ids, valid_length) inputs


def save_model(model_dir, net, encoder, labels, label_names, architecture):
    """Write all artifacts into a staging folder, then move them into model_dir in one last step, so a job
    that fails never leaves a model that looks complete."""
    staging = staging_folder(model_dir)
    net.export(os.path.join(staging, MODEL_PREFIX), epoch=0)
    with open(os.path.join(staging, VOCABULARY_FILE), "w", encoding="utf-8") as f:
        f.write(encoder.vocabulary.to_json())
    write_json(
        os.path.join(staging, LABELS_FILE),
        [{"id": i, "label": label, "name": label_names[label]} for i, label in enumerate(labels)],
    )
    write_json(
        os.path.join(staging, CONFIG_FILE),
        {
            "format_version": FORMAT_VERSION,
            "architecture": architecture,
            "input_names": list(INPUT_NAMES),
            "encoder": encoder.to_config(),
        },
    )
    publish(model_dir)


class HeadlineModel:
    """A trained model loaded from its folder: raw headlines in, class probabilities out."""

    def __init__(self, net, encoder, labels, label_names, context):
        self.net = net
        self.encoder = encoder
        self.labels = labels
        self.label_names = label_names
        self.context = context

    @classmethod
    def load(cls, model_dir, context=None):
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

    def predict_proba(self, texts):
        """Class probabilities, shape (len(texts), len(labels)), in one forward pass."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, lengths = self.encoder.encode(texts)
        logits = self.net(to_ndarray(ids, self.context), to_ndarray(lengths, self.context)).asnumpy()
        return softmax(logits)  # in numpy: one MXNet call fewer
