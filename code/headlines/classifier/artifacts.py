"""Writing the classifier's model folder (/opt/ml/model; its file names are in model_folder.py): everything serving
needs to turn a raw headline into a label, as JSON and MXNet symbol + params only (nothing executable, no pickles).

    model-symbol.json   the hybridized network
    model-0000.params   its weights
    vocabulary.json     GluonNLP Vocab
    labels.json         label ids -> labels and readable names
    model-config.json   tokenizer, encoder and architecture settings, input names
"""

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..files import publish, staging_folder, write_json
from ..model_folder import (
    CONFIG_FILE,
    FORMAT_VERSION,
    LABELS_FILE,
    MODEL_PREFIX,
    VOCABULARY_FILE,
)
from ..text import TextEncoder

if TYPE_CHECKING:  # for the annotation only: the net is built (and MXNet imported) by the job
    import mxnet as mx

INPUT_NAMES = ("data0", "data1")  # what HybridBlock.export calls the (ids, valid_length) inputs


def save_model(
    model_dir: str,
    net: "mx.gluon.HybridBlock",
    encoder: TextEncoder,
    labels: Sequence[str],
    label_names: Mapping[str, str],
    architecture: str,
) -> None:
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
