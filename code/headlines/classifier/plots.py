"""PNG plots for /opt/ml/output/data: learning curves and the confusion matrix."""

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a training container
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curves(history: Sequence[Mapping[str, float]], path: str) -> None:
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("train", "-o"), ("validation", "-s")):
        loss_axis.plot(epochs, [row[f"{key}_loss"] for row in history], style, label=key)
        accuracy_axis.plot(epochs, [row[f"{key}_accuracy"] for row in history], style, label=key)
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion_matrix(report: Mapping[str, Any], title: str, path: str) -> None:
    labels = report["confusion_matrix"]["labels"]
    matrix = report["confusion_matrix"]["rows_true_columns_predicted"]
    size = max(4, 0.8 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="true",
        title=f"{title} (accuracy {report['accuracy']:.3f})",
    )
    plt.setp(axis.get_xticklabels(), rotation=45, ha="right")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axis.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
