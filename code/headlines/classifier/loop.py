"""The training loop: the optimizer steps of steps.py (MXNet's on any devices and hosts, compiled ones on one CPU
host), the rate schedule and epoch choice of the job's recipe (classifier/recipe.py: early stopping on validation
accuracy, or every epoch with a decaying rate), a checkpoint after every epoch and on SIGTERM, exact resumption.

On several hosts every worker pulls the same weights after each step (mxnet_steps.py): validation accuracy, and
so early stopping, come out the same on every host, which keeps them in step.

Determinism: each epoch's order comes from RandomState(seed + epoch) and MXNet's generator (dropout) is
re-seeded for every batch from (seed, epoch, batch), so a run resumed mid-epoch from a checkpoint computes
exactly what the uninterrupted run would have computed (on CPU, where MXNet's kernels are deterministic).
"""

import logging
import time
from typing import Any

import mxnet as mx
import numpy as np

from ..errors import TrainingInterrupted
from ..hyperparameters import Hyperparameters
from ..runtime.checkpoints import CheckpointStore
from ..runtime.schedule import linear_decay
from ..runtime.signals import StopSignal
from ..text import TextEncoder
from .metrics import classification_report
from .recipe import Recipe
from .steps import EncodedSet, Steps, write_parameter

logger = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 1024
# The files of one checkpoint generation (CheckpointStore).
CLASSIFIER_CHECKPOINT_FILES = {
    "params_file": "params-{}.params",
    "trainer_file": "trainer-{}.states",
    "best_params_file": "best-{}.params",
}


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    """MXNet's seed for one batch (its dropout masks), from where the batch is: a resumed run draws the same."""
    return (seed * 1_000_003 + epoch * 10_007 + batch) % (2**31 - 1)


def format_epoch_line(row: dict[str, Any]) -> str:
    """One line per epoch, in the form the metric definitions' regexes parse (docs/training.md)."""
    return (
        "epoch={epoch} train_loss={train_loss:.6f} train_accuracy={train_accuracy:.6f} "
        "validation_loss={validation_loss:.6f} validation_accuracy={validation_accuracy:.6f} "
        "validation_macro_f1={validation_macro_f1:.6f} samples_per_second={samples_per_second:.1f} "
        "epoch_seconds={epoch_seconds:.3f}"
    ).format(**row)


class ClassifierTrainer:
    """Trains a classifier net with the given steps, epoch by epoch, with checkpoints."""

    def __init__(
        self,
        net: Any,
        steps: Steps,
        encoder: TextEncoder,
        contexts: list[mx.Context],
        hyperparameters: Hyperparameters,
        class_names: list[str],
        checkpoints: CheckpointStore | None,
        stop_signal: StopSignal,
        recipe: Recipe,
        worker_batch_size: int,
    ) -> None:
        """`checkpoints` is None for a distributed job (nothing to resume from); `recipe` says how to train
        (optimizer, rate, schedule) and which epoch to keep; a step takes `worker_batch_size` rows."""
        self.net = net
        self.steps = steps
        self.encoder = encoder
        self.contexts = contexts
        self.hp = hyperparameters
        self.class_names = class_names
        self.checkpoints = checkpoints
        self.stop_signal = stop_signal
        self.recipe = recipe
        self.worker_batch_size = worker_batch_size
        self._best_params: dict[str, mx.nd.NDArray] = {}  # set by fit: a snapshot, or the checkpoint's

    # -- evaluation ---------------------------------------------------------------------------------------
    def predict_logits(self, data: EncodedSet) -> np.ndarray:
        """The net's logits for every row, PREDICT_BATCH_SIZE rows a forward pass on the first device."""
        outputs = []
        for start in range(0, len(data), PREDICT_BATCH_SIZE):
            ids, lengths = self.encoder.pad_flat(*data.span(start, min(start + PREDICT_BATCH_SIZE, len(data))))
            context = self.contexts[0]
            outputs.append(self.net(mx.nd.array(ids, ctx=context), mx.nd.array(lengths, ctx=context)).asnumpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.class_names)), np.float32)

    def evaluate(self, data: EncodedSet) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class scores, the confusion matrix and the mean loss on one data set."""
        logits = self.predict_logits(data)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = float(-log_probabilities[np.arange(len(data)), data.labels].mean())
        report = classification_report(data.labels, logits.argmax(axis=1), self.class_names)
        report["loss"] = loss
        return report

    # -- the loop -----------------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, mx.nd.NDArray]:
        return {name: p.data(self.contexts[0]).copyto(mx.cpu()) for name, p in self.net.collect_params().items()}

    def _restore(self, params: dict[str, mx.nd.NDArray]) -> None:
        for name, parameter in self.net.collect_params().items():
            write_parameter(parameter, params[name])

    def _save_checkpoint(self, state: dict[str, Any]) -> str | None:
        """A new checkpoint generation; the folder it is in, or None for a job without checkpoints."""
        if self.checkpoints is None:
            return None
        self.steps.publish()
        writers = {
            "params_file": self.net.save_parameters,
            "trainer_file": self.steps.save_states,
            "best_params_file": lambda path: mx.nd.save(path, self._best_params),
        }
        self.checkpoints.save(writers, state)
        return self.checkpoints.folder

    def fit(self, train: EncodedSet, validation: EncodedSet) -> tuple[list[dict[str, Any]], int]:
        """Train until epochs run out or validation accuracy stops improving; leave the best parameters in
        the net and return the per-epoch history."""
        state = self.checkpoints.load() if self.checkpoints else None
        if state:
            logger.info("resuming at epoch %d, batch %d", state["epoch"], state["next_batch"])
            self.net.load_parameters(state["params_file"], ctx=self.contexts)
            self.steps.pull()
            self.steps.load_states(state["trainer_file"])
            self._best_params = mx.nd.load(state["best_params_file"])
        else:
            state = {
                "epoch": 1,
                "next_batch": 0,
                "running": None,
                "history": [],
                "best_accuracy": -1.0,
                "best_epoch": 0,
                "epochs_without_improvement": 0,
                "finished": False,
            }
            self._best_params = self._snapshot()

        self.steps.begin(train)
        with self.stop_signal.checkpointing():
            while not state["finished"]:
                self._run_epoch(train, validation, state)
        self._restore(self._best_params)
        return state["history"], state["best_epoch"]

    def _run_epoch(self, train: EncodedSet, validation: EncodedSet, state: dict[str, Any]) -> None:
        hp, epoch = self.hp, state["epoch"]
        self.steps.freeze_embedding(epoch <= hp.freeze_embedding_epochs)
        order = np.random.RandomState(hp.seed + epoch).permutation(len(train))
        size = self.worker_batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        running = state["running"] or {"loss": 0.0, "correct": 0, "samples": 0, "seconds": 0.0}
        started = time.perf_counter() - running["seconds"]
        for number in range(state["next_batch"], len(batches)):
            if self.recipe.linear_decay:
                done_epochs = epoch - 1 + number / len(batches)
                self.steps.set_learning_rate(linear_decay(self.recipe.learning_rate, done_epochs, hp.epochs))
            indices = batches[number]
            loss_sum, correct = self.steps.step(indices, batch_seed(hp.seed, epoch, number))
            running["loss"] += loss_sum
            running["correct"] += correct
            running["samples"] += len(indices)
            if self.stop_signal.requested:
                running["seconds"] = time.perf_counter() - started
                state.update(next_batch=number + 1, running=running)
                raise TrainingInterrupted(self._save_checkpoint(state))
        train_seconds = time.perf_counter() - started
        self.steps.publish()
        report = self.evaluate(validation)
        row = {
            "epoch": epoch,
            "train_loss": running["loss"] / running["samples"],
            "train_accuracy": running["correct"] / running["samples"],
            "validation_loss": report["loss"],
            "validation_accuracy": report["accuracy"],
            "validation_macro_f1": report["macro_f1"],
            "samples_per_second": running["samples"] / max(train_seconds, 1e-9),
            "epoch_seconds": time.perf_counter() - started,
        }
        logger.info(format_epoch_line(row))
        state["history"].append(row)
        if report["accuracy"] > state["best_accuracy"] or not self.recipe.select_on_validation:
            state.update(best_accuracy=report["accuracy"], best_epoch=epoch, epochs_without_improvement=0)
            self._best_params = self._snapshot()
        else:
            state["epochs_without_improvement"] += 1
        patience_spent = (
            self.recipe.select_on_validation
            and hp.early_stopping_patience
            and state["epochs_without_improvement"] >= hp.early_stopping_patience
        )
        if patience_spent:
            logger.info(
                "early stopping: validation accuracy has not improved for %d epochs; best epoch %d",
                state["epochs_without_improvement"],
                state["best_epoch"],
            )
        state.update(epoch=epoch + 1, next_batch=0, running=None, finished=bool(patience_spent) or epoch >= hp.epochs)
        saved = self._save_checkpoint(state)
        if self.stop_signal.requested and not state["finished"]:
            raise TrainingInterrupted(saved)
