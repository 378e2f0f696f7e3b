"""The training loop: data parallel over every device with one code path, the optimizer, rate schedule and epoch
choice of the job's recipe (classifier/recipe.py: early stopping on validation accuracy, or every epoch with a
decaying rate), a checkpoint after every epoch and on SIGTERM, exact resumption.

On several hosts (a `dist_*` kvstore) each worker runs batch_size / workers rows of every step on its own
share of train, the servers sum the gradients and apply the update, and every worker pulls the same weights:
validation accuracy, and so early stopping, come out the same on every host, which keeps them in step.

Determinism: each epoch's order comes from RandomState(seed + epoch) and MXNet's generator (dropout) is
re-seeded for every batch from (seed, epoch, batch), so a run resumed mid-epoch from a checkpoint computes
exactly what the uninterrupted run would have computed (on CPU, where MXNet's kernels are deterministic).
"""

import dataclasses
import logging
import time
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..errors import TrainingInterrupted
from ..hyperparameters import Hyperparameters
from ..runtime.checkpoints import CheckpointStore
from ..runtime.distributed import KVStoreArgument
from ..runtime.schedule import linear_decay
from ..runtime.signals import StopSignal
from ..text import TextEncoder
from .metrics import classification_report
from .recipe import Recipe

logger = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 1024
# The files of one checkpoint generation (CheckpointStore).
CLASSIFIER_CHECKPOINT_FILES = {
    "params_file": "params-{}.params",
    "trainer_file": "trainer-{}.states",
    "best_params_file": "best-{}.params",
}


@dataclasses.dataclass
class EncodedSet:
    """Unpadded id rows and label ids of one data set."""

    rows: list[list[int]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


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
    """Trains a classifier net on every device of the host, through the kvstore, with checkpoints."""

    def __init__(
        self,
        net: Any,
        encoder: TextEncoder,
        contexts: list[mx.Context],
        hyperparameters: Hyperparameters,
        class_names: list[str],
        checkpoints: CheckpointStore | None,
        stop_signal: StopSignal,
        kvstore: KVStoreArgument,
        recipe: Recipe,
    ) -> None:
        """`checkpoints` is None for a distributed job (nothing to resume from); `recipe` says how to train
        (optimizer, rate, schedule) and which epoch to keep."""
        self.net = net
        self.encoder = encoder
        self.contexts = contexts
        self.hp = hyperparameters
        self.class_names = class_names
        self.checkpoints = checkpoints
        self.stop_signal = stop_signal
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        # Gradients are summed over devices (and hosts) by the kvstore, then every device applies the same
        # update (on one host) or pulls the servers' updated weights (on several).
        self.trainer = gluon.Trainer(
            net.collect_params(),
            recipe.optimizer,
            {"learning_rate": recipe.learning_rate, "wd": self.hp.weight_decay},
            kvstore=kvstore,
        )
        self.workers = 1 if isinstance(kvstore, str) else kvstore.num_workers
        self.recipe = recipe
        self.worker_batch_size = -(-self.hp.batch_size // self.workers)
        self._embedding = net.embedding.weight
        self._best_params: dict[str, mx.nd.NDArray] = {}  # set by fit: a snapshot, or the checkpoint's

    # -- one step -----------------------------------------------------------------------------------------
    def train_step(self, rows: list[list[int]], labels: np.ndarray) -> tuple[float, int]:
        """Forward/backward on every device, then one update normalised by the whole batch. Returns
        (summed loss, correct predictions)."""
        weights = np.ones(len(rows), dtype=np.float32)
        spare = len(self.contexts) - len(rows)
        if spare > 0:
            # Every device must produce a gradient each step. Spare devices get copies of the first row with
            # weight 0: they add nothing, and touch no embedding row the batch does not touch already.
            rows = list(rows) + [rows[0]] * spare
            labels = np.concatenate([labels, np.repeat(labels[:1], spare)])
            weights = np.concatenate([weights, np.zeros(spare, dtype=np.float32)])
        ids, lengths = self.encoder.pad(rows)
        parts = [
            gluon.utils.split_and_load(array, self.contexts, even_split=False)
            for array in (ids, lengths, labels.astype(np.float32), weights)
        ]
        with autograd.record():
            outputs = [self.net(x, n) for x, n in zip(parts[0], parts[1])]
            losses = [self.loss(o, y, w.expand_dims(1)) for o, y, w in zip(outputs, parts[2], parts[3])]
        for loss in losses:
            loss.backward()
        # Distributed: the servers fixed the gradient scale at the first step (MXNet raises if it changes), so
        # a short last batch is scaled as a full one.
        self.trainer.step(int(weights.sum()) if self.workers == 1 else self.worker_batch_size * self.workers)
        loss_sum = sum(float(loss.sum().asscalar()) for loss in losses)
        correct = sum(
            float(((o.argmax(axis=1) == y) * w).sum().asscalar()) for o, y, w in zip(outputs, parts[2], parts[3])
        )
        return loss_sum, int(correct)

    # -- evaluation ---------------------------------------------------------------------------------------
    def predict_logits(self, data: EncodedSet) -> np.ndarray:
        """The net's logits for every row, PREDICT_BATCH_SIZE rows a forward pass on the first device."""
        outputs = []
        for start in range(0, len(data), PREDICT_BATCH_SIZE):
            ids, lengths = self.encoder.pad(data.rows[start : start + PREDICT_BATCH_SIZE])
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
        # Written by an operator rather than a copy: on CPU, oneDNN may hold a convolution weight in its own
        # layout after inference, which a plain copy (and so Parameter.set_data) refuses as a destination.
        for name, parameter in self.net.collect_params().items():
            for array in parameter.list_data():
                mx.nd.identity(params[name], out=array)

    def _save_checkpoint(self, state: dict[str, Any]) -> str | None:
        """A new checkpoint generation; the folder it is in, or None for a job without checkpoints."""
        if self.checkpoints is None:
            return None
        writers = {
            "params_file": self.net.save_parameters,
            "trainer_file": self.trainer.save_states,
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
            self.trainer.load_states(state["trainer_file"])
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

        with self.stop_signal.checkpointing():
            while not state["finished"]:
                self._run_epoch(train, validation, state)
        self._restore(self._best_params)
        return state["history"], state["best_epoch"]

    def _run_epoch(self, train: EncodedSet, validation: EncodedSet, state: dict[str, Any]) -> None:
        hp, epoch = self.hp, state["epoch"]
        self._embedding.lr_mult = 0.0 if epoch <= hp.freeze_embedding_epochs else 1.0
        order = np.random.RandomState(hp.seed + epoch).permutation(len(train))
        size = self.worker_batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        running = state["running"] or {"loss": 0.0, "correct": 0, "samples": 0, "seconds": 0.0}
        started = time.perf_counter() - running["seconds"]
        for number in range(state["next_batch"], len(batches)):
            mx.random.seed(batch_seed(hp.seed, epoch, number))
            if self.recipe.linear_decay:
                done_epochs = epoch - 1 + number / len(batches)
                self.trainer.set_learning_rate(linear_decay(self.recipe.learning_rate, done_epochs, hp.epochs))
            indices = batches[number]
            loss_sum, correct = self.train_step([train.rows[i] for i in indices], train.labels[indices])
            running["loss"] += loss_sum
            running["correct"] += correct
            running["samples"] += len(indices)
            if self.stop_signal.requested:
                running["seconds"] = time.perf_counter() - started
                state.update(next_batch=number + 1, running=running)
                raise TrainingInterrupted(self._save_checkpoint(state))
        train_seconds = time.perf_counter() - started
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
