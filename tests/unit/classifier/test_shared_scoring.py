"""Hosts that share an epoch's validation set, each scoring its block of rows and adding up the blocks' confusion
matrices and summed losses, read the report one host scoring every row reads: the same accuracy, matrix and loss,
so early stopping decides alike on every host."""

import mxnet as mx
import numpy as np
import pytest

from headlines import architectures
from headlines.classifier.cpu.averaging import AveragedSteps
from headlines.classifier.loop import ClassifierTrainer
from headlines.classifier.metrics import confusion_matrix
from headlines.classifier.recipe import Recipe
from headlines.classifier.steps import EncodedSet, OneHostScoring
from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from headlines.runtime import checkpoints
from headlines.runtime.host_exchange import HostExchange
from headlines.runtime.signals import StopSignal
from headlines.text import TextEncoder, Tokenizer, build_vocabulary
from tests.support.compiled_steps import LABELS, TEXTS, steps_pair
from tests.support.kvstore import SummingKVStore

CLASSES = ["b", "t", "e", "m"]


class BlockScoring:
    """Host `rank` scoring rows first..stop-1; its peers' scores (of the other rows) are given."""

    def __init__(self, first, stop, peers):
        self.first, self.stop, self.peers, self.own = first, stop, peers, None

    def scored_rows(self, rows):
        return self.first, self.stop

    def add_scores(self, scores):
        self.own = scores.copy()
        return scores + self.peers


def _trainer(scoring=None, steps=None, epochs=20):
    hp = Hyperparameters.from_strings({"ngram_buckets": "40", "epochs": str(epochs)})
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(t) for t in TEXTS], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 16, **architectures.FASTTEXT.encoder_options(hp))
    mx.random.seed(5)
    net = build_model("fasttext", encoder.input_size, 6, len(CLASSES), hp)
    net.initialize(mx.init.Xavier(magnitude=8), ctx=[mx.cpu()])
    recipe = Recipe("adam", 0.01, linear_decay=False, select_on_validation=True, reason="test")
    trainer = ClassifierTrainer(
        net, steps, encoder, [mx.cpu()], hp, CLASSES, None, StopSignal(), recipe, 4, scoring=scoring
    )
    return trainer, EncodedSet.encode(encoder, TEXTS, LABELS)


@pytest.mark.parametrize("split", [0, 1, 4, 9])  # a host with no rows, one, half, all
def test_two_hosts_blocks_add_up_to_the_whole_sets_report(split):
    whole_trainer, data = _trainer()
    whole = whole_trainer.evaluate(data)
    assert 0 < whole["accuracy"] < 1  # a set the net gets partly right: a lost or doubled row would show
    second = BlockScoring(split, len(data), peers=0.0)
    _trainer()[0].evaluate(data, second)  # the other host's block and its scores
    first = BlockScoring(0, split, peers=second.own)
    shared = _trainer()[0].evaluate(data, first)
    assert shared["confusion_matrix"] == whole["confusion_matrix"]
    assert (shared["accuracy"], shared["macro_f1"]) == (whole["accuracy"], whole["macro_f1"])
    assert shared["loss"] == pytest.approx(whole["loss"], rel=1e-6)


def test_one_host_scores_every_row_itself():
    trainer, data = _trainer()
    whole = trainer.evaluate(data)
    logits = trainer.predict_logits(data).astype(np.float64)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = confusion_matrix(LABELS, logits.argmax(axis=1), len(CLASSES)).tolist()
    assert whole["confusion_matrix"]["rows_true_columns_predicted"] == expected
    assert whole["loss"] == pytest.approx(-np.log(probabilities[np.arange(len(LABELS)), LABELS]).mean(), rel=1e-6)


@pytest.mark.parametrize("hosts", [2, 3])
@pytest.mark.parametrize("rows", [0, 1, 2, 5, 895])
def test_averaged_hosts_blocks_cover_every_row_once(hosts, rows):
    blocks = []
    for rank in range(hosts):
        kvstore = SummingKVStore(lambda key, own: own * (hosts - 1))
        kvstore.num_workers, kvstore.rank = hosts, rank
        averaged = AveragedSteps(steps_pair("adam", 0.05, 0.0)[1], HostExchange(kvstore, "", ""))
        blocks.append(averaged.scored_rows(rows))
    covered = np.concatenate([np.arange(first, stop) for first, stop in blocks])
    np.testing.assert_array_equal(covered, np.arange(rows))
    sizes = [stop - first for first, stop in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_averaged_hosts_add_their_scores_without_counting_them_as_weights():
    peer = np.array([3.0, 1.0, 0.25])
    kvstore = SummingKVStore(lambda key, own: own if key in ("fingerprint", "start") else peer)
    averaged = AveragedSteps(steps_pair("adam", 0.05, 0.0)[1], HostExchange(kvstore, "", ""))
    for _ in range(2):  # the key is added once, then reused
        np.testing.assert_array_equal(averaged.add_scores(np.array([1.0, 2.0, 0.5])), [4.0, 3.0, 0.75])
    assert averaged.bytes_exchanged == 0


class _StepsThatDoNothing:
    name, bytes_exchanged = "nothing", 0

    def step(self, indices, seed):
        return 0.0, 0

    def __getattr__(self, name):  # begin, publish, set_learning_rate, freeze_embedding: nothing to do
        return lambda *args: None


class _CheckpointWatch(OneHostScoring):
    """Records, at each exchange of scores, whether a checkpoint is being completed."""

    def __init__(self):
        self.during_completion = []

    def add_scores(self, scores):
        free = checkpoints._completing.acquire(blocking=False)
        if free:
            checkpoints._completing.release()
        self.during_completion.append(not free)
        return scores


def test_hosts_exchange_their_scores_before_the_checkpoint_a_lost_hosts_abort_waits_for():
    """A host whose peer is lost ends once the checkpoint being completed is written (cli/train.py's abort): an
    exchange with the lost peer inside that completion would block it until the abort gives up waiting (60 s)."""
    watch = _CheckpointWatch()
    trainer, data = _trainer(watch, _StepsThatDoNothing(), epochs=2)
    trainer.fit(data, data)
    assert watch.during_completion == [False, False]
