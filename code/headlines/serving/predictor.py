"""Headlines to predictions with the model the training job wrote, one forward pass per batch of headlines."""

import logging
import threading

import numpy as np

from ..model_folder import CLASSIFIER

logger = logging.getLogger(__name__)

# Headlines per forward pass: a request of up to this many is one pass; bigger batch-transform payloads
# (up to 100 MB) go through in passes of this size so memory stays bounded.
MAX_BATCH = 1024
SELF_CHECK_HEADLINE = "Stocks rally as the central bank holds interest rates"
PROBABILITY_SUM_TOLERANCE = 1e-3  # float32 softmax rounding, far below a broken model's error


class Predictor:
    """Thread-safe wrapper of a classifier: serving's numpy Classifier needs no lock, but the MXNet HeadlineModel
    (the benchmark's toolkit handler) must not run its cached graph on two threads at once."""

    kind = CLASSIFIER

    def __init__(self, model, max_batch=MAX_BATCH):
        self.model = model
        self.max_batch = max_batch
        self._lock = threading.Lock()

    @property
    def num_labels(self):
        return len(self.model.labels)

    def probabilities(self, headlines):
        parts = []
        for start in range(0, len(headlines), self.max_batch):
            with self._lock:
                parts.append(self.model.predict_proba(headlines[start : start + self.max_batch]))
        return np.concatenate(parts) if parts else np.zeros((0, self.num_labels), dtype=np.float32)

    def predict(self, headlines, top_k=None):
        """One dict per headline: the best label, its readable name and probability, and the probabilities of
        all labels (or of the top_k), most probable first."""
        rows = []
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

    def describe(self):
        return f"a classifier of the labels {', '.join(self.model.labels)}"

    def self_check(self):
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
