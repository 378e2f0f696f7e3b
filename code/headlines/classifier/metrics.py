"""Classification metrics from label ids: accuracy, macro-F1, per-class precision/recall, confusion matrix."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def confusion_matrix(true_ids: npt.ArrayLike, predicted_ids: npt.ArrayLike, num_classes: int) -> npt.NDArray[np.int64]:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_ids, dtype=np.int64), np.asarray(predicted_ids, dtype=np.int64)), 1)
    return matrix  # rows: true class, columns: predicted class


def classification_report(matrix: npt.NDArray[np.int64], class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class figures from a confusion matrix, which hosts scoring parts of a set add up."""
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    present = actual > 0  # macro-F1 over the classes this set contains
    total = matrix.sum()
    return {
        "samples": int(total),
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(actual[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": {"labels": list(class_names), "rows_true_columns_predicted": matrix.tolist()},
    }
