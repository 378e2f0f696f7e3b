"""The model folder's layout (/opt/ml/model): the files a classifier model consists of. Standard library only, so that
a job whose MXNet does not even load can still discard a half-written model before it reports the failure."""

import os

from .files import discard_staging

MODEL_PREFIX = "model"
SYMBOL_FILE = "model-symbol.json"
PARAMS_FILE = "model-0000.params"
VOCABULARY_FILE = "vocabulary.json"
LABELS_FILE = "labels.json"
CONFIG_FILE = "model-config.json"
MODEL_FILES = (SYMBOL_FILE, PARAMS_FILE, VOCABULARY_FILE, LABELS_FILE, CONFIG_FILE)


def discard_model(model_dir):
    """After a failure: remove staged and placed model files, so the failed job's model folder can never be
    mistaken for a complete model (for example when a local run reuses the folder)."""
    discard_staging(model_dir)
    for name in MODEL_FILES:
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            os.remove(path)
