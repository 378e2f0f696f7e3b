"""Writing and loading the model folder (/opt/ml/model; its file names are in model_folder.py): everything serving
needs to turn a raw headline into a label, as JSON and MXNet symbol + params only (nothing executable, no pickles).

    model-symbol.json   the hybridized network
    model-0000.params   its weights
    vocabulary.json     GluonNLP Vocab
    labels.json         label ids -> labels and readable names
    model-config.json   tokenizer, encoder and architecture settings, input names
"""

import json
import os
import warnings

import gluonnlp as nlp
import mxnet as mx
import numpy as np

from .errors import JobError
from .files import publish, staging_folder, write_json
from .model_folder import CONFIG_FILE, LABELS_FILE, MODEL_FILES, MODEL_PREFIX, PARAMS_FILE, SYMBOL_FILE, VOCABULARY_FILE
from .mxnet_compat import to_ndarray
from .text import TextEncoder

FORMAT_VERSION = 1
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
        missing = [name for name in MODEL_FILES if not os.path.exists(os.path.join(model_dir, name))]
        if missing:
            raise JobError(f"The model folder {model_dir} is incomplete: {', '.join(missing)} missing.")
        with open(os.path.join(model_dir, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
        if config.get("format_version") != FORMAT_VERSION:
            raise JobError(
                f"The model in {model_dir} has format version {config.get('format_version')}; "
                f"this image reads version {FORMAT_VERSION}."
            )
        with open(os.path.join(model_dir, VOCABULARY_FILE), encoding="utf-8") as f:
            vocabulary = nlp.Vocab.from_json(f.read())
        with open(os.path.join(model_dir, LABELS_FILE), encoding="utf-8") as f:
            label_rows = sorted(json.load(f), key=lambda row: row["id"])
        with warnings.catch_warnings():  # the exported graph does not record input types; float32 is right
            warnings.filterwarnings("ignore", message="Cannot decide type for the following arguments")
            net = mx.gluon.SymbolBlock.imports(
                os.path.join(model_dir, SYMBOL_FILE),
                config["input_names"],
                os.path.join(model_dir, PARAMS_FILE),
                ctx=context,
            )
        net.hybridize(static_alloc=True)
        encoder = TextEncoder.from_config(config["encoder"], vocabulary)
        return cls(
            net,
            encoder,
            [row["label"] for row in label_rows],
            {row["label"]: row["name"] for row in label_rows},
            context,
        )

    def predict_proba(self, texts):
        """Class probabilities, shape (len(texts), len(labels)), in one forward pass."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, lengths = self.encoder.encode(texts)
        logits = self.net(to_ndarray(ids, self.context), to_ndarray(lengths, self.context)).asnumpy()
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax in numpy: one MXNet call fewer
        return exp / exp.sum(axis=1, keepdims=True)
