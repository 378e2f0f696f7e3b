"""The accuracy floors (tests/support/floors.py) fail a model that answers the commonest label: a report of such
answers, and a job whose network answers one class, on every data set at hand."""

import numpy as np
import pytest

from headlines.classifier.loop import ClassifierTrainer
from headlines.classifier.metrics import classification_report, confusion_matrix
from headlines.cli.train import main
from tests.support.data import data_sets
from tests.support.floors import assert_beats_majority, labels_of, majority_macro_f1, majority_rate
from tests.unit.classifier.test_job import FLOORS, TRAINING, _job

pytestmark = pytest.mark.usefixtures("default_sigterm")

CLASSES = ["b", "e", "m", "t"]
DATA_SETS = {data.source: data for data in data_sets()}
SOURCES = sorted(DATA_SETS)


def _report(labels, answers):
    ids = {name: i for i, name in enumerate(CLASSES)}
    return classification_report(confusion_matrix([ids[x] for x in labels], [ids[x] for x in answers], 4), CLASSES)


def _labels(source, rows=300):
    return labels_of(DATA_SETS[source].test_rows(rows))


def _majority(labels):
    return max(CLASSES, key=labels.count)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_floors_fail_the_majority_answer_and_pass_a_right_one(source, architecture):
    floor = FLOORS[source][architecture]
    labels = _labels(source)
    with pytest.raises(AssertionError, match="accuracy not above"):
        assert_beats_majority(
            _report(labels, [_majority(labels)] * len(labels)), labels, floor.margin, floor.min_macro_f1
        )
    assert_beats_majority(_report(labels, labels), labels, floor.margin, floor.min_macro_f1)


@pytest.mark.parametrize("source", SOURCES)
def test_floors_fail_the_audits_nearly_all_majority_answers(source):
    # The audit's cnn job: the majority label for all but 3 of 300 headlines, those 3 right.
    labels = _labels(source)
    majority = _majority(labels)
    others = [i for i, label in enumerate(labels) if label != majority][:3]
    answers = [labels[i] if i in others else majority for i in range(len(labels))]
    for floor in FLOORS[source].values():
        with pytest.raises(AssertionError):
            assert_beats_majority(_report(labels, answers), labels, floor.margin, floor.min_macro_f1)


def test_macro_f1_floor_fails_a_model_that_only_tells_two_classes_apart():
    # Accuracy above the floor, but one class always called another: macro-F1 catches it.
    labels = ["b"] * 40 + ["e"] * 40 + ["m"] * 10 + ["t"] * 10
    answers = ["b"] * 40 + ["e"] * 40 + ["b"] * 20
    with pytest.raises(AssertionError, match="macro-F1 not above 0.7"):
        assert_beats_majority(_report(labels, answers), labels, margin=0.2, min_macro_f1=0.7)


def test_majority_baselines_and_floors_a_majority_answer_would_pass_are_refused():
    labels = ["b"] * 52 + ["e"] * 31 + ["m"] * 5 + ["t"] * 12
    assert majority_rate(labels) == 0.52
    assert majority_macro_f1(labels) == pytest.approx(_report(labels, ["b"] * 100)["macro_f1"])
    report = _report(labels, labels)
    with pytest.raises(ValueError):
        assert_beats_majority(report, labels, margin=0, min_macro_f1=0.3)
    with pytest.raises(ValueError):
        assert_beats_majority(report, labels, margin=0.1, min_macro_f1=0.17)
    with pytest.raises(AssertionError, match="scored other rows"):
        assert_beats_majority(report, labels[:-1], margin=0.1, min_macro_f1=0.3)


@pytest.fixture
def one_class_network(monkeypatch):
    """A broken product: the network's logits for every headline favour class 0, `b` (a bias of 100 on its output):
    on the real data the majority class, the hardest one-class answer to catch."""
    original = ClassifierTrainer.predict_logits

    def one_class(self, data, *rows):
        logits = original(self, data, *rows).copy()
        logits[:, 0] += 100.0
        return logits

    monkeypatch.setattr(ClassifierTrainer, "predict_logits", one_class)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_a_job_whose_network_answers_one_class_fails_the_floor(sagemaker, one_class_network, source, architecture):
    data = DATA_SETS[source]
    test = data.test_rows(300)
    _job(sagemaker, (data.train_rows(1200), test), architecture=architecture, **TRAINING[architecture])
    assert main([]) == 0
    report = sagemaker.metrics()["test"]
    answers = np.array(report["confusion_matrix"]["rows_true_columns_predicted"]).sum(axis=0)
    assert answers.tolist() == [300, 0, 0, 0]  # every headline answered `b`
    floor = FLOORS[source][architecture]
    with pytest.raises(AssertionError, match="accuracy not above"):
        assert_beats_majority(report, labels_of(test), floor.margin, floor.min_macro_f1)
