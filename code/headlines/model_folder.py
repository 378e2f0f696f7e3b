"""The model folder's layout (/opt/ml/model): the files a classifier model consists of, and those of the word-vector
job's model, and reading a classifier's description. Standard library only, so that a job whose MXNet does not even
load can still discard a half-written model before it reports the failure, and the serving image (no MXNet) can
read the same files as training wrote them."""

import json
import os
from typing import Any, Final

from .errors import JobError
from .files import discard_staging

MODEL_PREFIX = "model"
SYMBOL_FILE = "model-symbol.json"
PARAMS_FILE = "model-0000.params"
VOCABULARY_FILE = "vocabulary.json"
LABELS_FILE = "labels.json"
CONFIG_FILE = "model-config.json"
MODEL_FILES = (SYMBOL_FILE, PARAMS_FILE, VOCABULARY_FILE, LABELS_FILE, CONFIG_FILE)
# The word-vector job's model, as BlazingText names its files.
VECTORS_TEXT_FILE = "vectors.txt"
VECTORS_BINARY_FILE = "vectors.bin"
EVALUATION_FILE = "eval.json"
# The two kinds of model folder (model_kind), and each served model's `kind` (Final: a literal type, so that the type
# checker tells the two kinds of predictor apart by it).
CLASSIFIER: Final = "classifier"
WORD_VECTORS: Final = "word-vectors"
FORMAT_VERSION = 1  # of model-config.json and the files beside it


def model_kind(model_dir: str) -> str:
    """WORD_VECTORS for a folder with the word-vector job's vectors and no classifier, else CLASSIFIER (whose
    loader says what a folder lacks)."""

    def has(
        name: str,
    ) -> bool:  # os.path.exists never raises: a folder the worker cannot list still gets the loader's reason
        return os.path.exists(os.path.join(model_dir, name))

    if not has(SYMBOL_FILE) and (has(VECTORS_TEXT_FILE) or has(VECTORS_BINARY_FILE)):
        return WORD_VECTORS
    return CLASSIFIER


def discard_model(model_dir: str) -> None:
    """After a failure: remove staged and placed model files, so the failed job's model folder can never be
    mistaken for a complete model (for example when a local run reuses the folder)."""
    discard_staging(model_dir)
    for name in MODEL_FILES:
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            os.remove(path)


def missing_classifier_files(model_dir: str) -> list[str]:
    """The files of MODEL_FILES that model_dir lacks (or holds as something other than a file)."""
    return [name for name in MODEL_FILES if not os.path.isfile(os.path.join(model_dir, name))]


def read_classifier_description(model_dir: str) -> tuple[dict[str, Any], str, list[str], dict[str, str]]:
    """(config, vocabulary JSON text, labels in id order, {label: readable name}) of the classifier in model_dir,
    after checking that every file is there and the format is the one this code reads."""
    missing = missing_classifier_files(model_dir)
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
        vocabulary_json = f.read()
    with open(os.path.join(model_dir, LABELS_FILE), encoding="utf-8") as f:
        label_rows = sorted(json.load(f), key=lambda row: row["id"])
    labels = [row["label"] for row in label_rows]
    return config, vocabulary_json, labels, {row["label"]: row["name"] for row in label_rows}
