"""Headlines to predictions with the model the training job wrote, one forward pass per batch of headlines."""

import logging
from collections.abc import Sequence
from typing import Literal, Protocol, TypedDict

import numpy as np

from ..model_folder import CLASSIFIER

logger = logging.getLogger(__name__)

# Headlines per forward pass: a request of up to this many is one pass; bigger batch-transform payloads
# (up to 100 MB) go through in passes of this size so memory stays bounded.
MAX_BATCH = 1024
SELF_CHECK_HEADLINE = "Stocks rally as the central bank holds interest rates"
PROBABILITY_SUM_TOLERANCE = 1e-3  # float32 softmax rounding, far below a broken model's error


class ClassifierModel(Protocol):
    """What a Predictor needs of its model: serving's numpy Classifier, or the MXNet HeadlineModel (the tests'
    reference and the toolkit benchmark's handler)."""

    labels: list[str]  # in id order
    label_names: dict[str, str]  # label -> readable name

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class Prediction(TypedDict):
    """One headline's answer (codecs.encode_response writes it in the response's format)."""

    label: str
    label_name: str
    probability: float
    probabilities: dict[str, float]  # label -> probability, most probable first


class Predictor:
    """A classifier's probabilities as answers. No lock: our gunicorn workers (serving/worker.py; their second thread
    answers only /ping) and the toolkit's MMS workers are processes that each run one request at a time."""

    kind: Literal["classifier"] = CLASSIFIER  # a literal type: app.py tells the predictors apart by it

    def __init__(self, model: ClassifierModel, max_batch: int = MAX_BATCH) -> None:
        self.model = model
        self.max_batch = max_batch

    @property
    def num_labels(self) -> int:
        return len(self.model.labels)

    def probabilities(self, headlines: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(headlines), self.max_batch):
            parts.append(self.model.predict_proba(headlines[start : start + self.max_batch]))
        return np.concatenate(parts) if parts else np.zeros((0, self.num_labels), dtype=np.float32)

    def predict(self, headlines: Sequence[str], top_k: int | None = None) -> list[Prediction]:
        """One dict per headline: the best label, its readable name and probability, and the probabilities of
        all labels (or of the top_k), most probable first."""
        rows: list[Prediction] = []
        labels, names = self.model.labels, self.model.label_names
        for probabilities in self.probabilities(headlines):
            order = np.argsort(-probabilities, kind="stable")[: top_k or len(labels)]
            best = labels[order[0]]
            rows.append(
                {
                    "label": best,
                    "label_name": names[best],
                    "probability": float(probabilities[order[0]]),
                    "probabilities": {labels[i]: float(probabilities[i]) for i in order},
                }
            )
        return rows

    def describe(self) -> str:
        return f"a classifier of the labels {', '.join(self.model.labels)}"

    def self_check(self) -> None:
        """Predict one headline; raises unless the model answers with a probability distribution."""
        probabilities = self.probabilities([SELF_CHECK_HEADLINE])
        if (
            probabilities.shape != (1, self.num_labels)
            or not np.all(np.isfinite(probabilities))
            or abs(float(probabilities.sum()) - 1.0) > PROBABILITY_SUM_TOLERANCE
        ):
            raise RuntimeError(
                f"The model's self-check prediction is not a probability distribution: {probabilities.tolist()}"
            )
