"""Opening a model folder for serving: the folder's files say whether it holds a classifier or the word-vector
job's vectors, and a model is served only after it passes its self-check prediction."""

import logging
import os
from typing import TypeAlias

from ..errors import JobError
from ..model_folder import WORD_VECTORS, model_kind
from .classifier import Classifier
from .predictor import Predictor
from .snapshots import WeightCopies
from .word_vectors import WordVectorPredictor

logger = logging.getLogger(__name__)

# A model folder's predictor: its `kind` (CLASSIFIER or WORD_VECTORS) tells which.
ServedModel: TypeAlias = Predictor | WordVectorPredictor


def load_model(model_dir: str, copies: WeightCopies | None = None) -> ServedModel:
    """The predictor of the model in model_dir, self-checked, its weights mapped from copies() when given (a
    server's: serving/snapshots.py). Raises JobError for a folder that is not a model this image serves
    (incomplete, another format version), anything else for a model that fails to load."""
    if model_kind(model_dir) == WORD_VECTORS:
        predictor: ServedModel = WordVectorPredictor.load(model_dir, copies)
    else:
        predictor = Predictor(Classifier.load(model_dir, copies))
    predictor.self_check()
    return predictor


def load_predictor(model_dir: str, copies: WeightCopies | None = None) -> tuple[ServedModel, None] | tuple[None, str]:
    """(predictor, None) when the model loads and answers its self-check, else (None, the reason)."""
    try:
        predictor = load_model(model_dir, copies)
    except JobError as e:
        logger.error("cannot serve: %s", e)
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - any failure to load is reported by /ping, not by a dead worker
        logger.exception("cannot serve the model in %s", model_dir)
        return None, f"loading {model_dir} failed: {type(e).__name__}: {e}"
    logger.info("worker %d serves %s from %s", os.getpid(), predictor.describe(), model_dir)
    return predictor, None
