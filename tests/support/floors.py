"""Floors for a trained classifier's scores that the scored rows set: accuracy above the share of the commonest label
(what answering that label for every headline scores) by a margin, and a macro-F1 floor above what that answer
scores. The real test split is about half `b`, so a fixed accuracy floor such as 0.5 lets through a model that
learned nothing; tests that check a trained model's accuracy use assert_beats_majority instead."""

import collections
import dataclasses


@dataclasses.dataclass(frozen=True)
class Floor:
    """How far above a majority-class answer a trained model must score: accuracy above the majority rate of the
    rows scored by `margin`, and macro-F1 above `min_macro_f1`."""

    margin: float
    min_macro_f1: float


def labels_of(rows):
    """The CATEGORY column of rows in the UCI newsCorpora.csv layout (ID TITLE URL PUBLISHER CATEGORY ...)."""
    return [row.split("\t")[4] for row in rows]


def majority_rate(labels):
    """The accuracy of answering the commonest label for every row."""
    counts = collections.Counter(labels)
    return max(counts.values()) / len(labels)


def majority_macro_f1(labels):
    """The macro-F1 of answering the commonest label for every row (over the classes the rows have, as the
    job's metrics count it): that class's F1 is 2p / (1 + p), every other class's 0."""
    counts = collections.Counter(labels)
    rate = max(counts.values()) / len(labels)
    return 2 * rate / (1 + rate) / len(counts)


def assert_beats_majority(report, labels, margin, min_macro_f1):
    """report: one split of the job's metrics.json (accuracy, macro_f1, per_class supports); labels: the true labels
    of the rows it scored. AssertionError, with the measured and majority values, unless the model beats the
    majority-class answer by the floors; ValueError for floors a majority-class answer would pass."""
    labels = list(labels)
    majority, majority_f1 = majority_rate(labels), majority_macro_f1(labels)
    if margin <= 0 or min_macro_f1 <= majority_f1:
        raise ValueError(
            f"floors (margin {margin}, macro-F1 {min_macro_f1}) must be above a majority-class answer "
            f"(margin 0, macro-F1 {majority_f1:.4f})"
        )
    supports = {name: scores["support"] for name, scores in report["per_class"].items() if scores["support"]}
    assert supports == dict(collections.Counter(labels)), f"the report scored other rows: {supports}"
    accuracy, macro_f1 = report["accuracy"], report["macro_f1"]
    context = (
        f"accuracy {accuracy:.4f}, macro-F1 {macro_f1:.4f} on {len(labels)} rows; answering the majority class "
        f"scores accuracy {majority:.4f}, macro-F1 {majority_f1:.4f}"
    )
    assert accuracy > majority + margin, f"accuracy not above {majority:.4f} + {margin}: {context}"
    assert macro_f1 > min_macro_f1, f"macro-F1 not above {min_macro_f1}: {context}"
