"""The training loop: the optimizer steps of steps.py (MXNet's on any devices and hosts, the CPU steps of cpu/),
the rate schedule and epoch choice of the job's recipe (classifier/recipe.py: early stopping on validation
accuracy, or every epoch with a decaying rate), a checkpoint after every epoch and on SIGTERM, exact resumption.

On several hosts every host holds the same weights when an epoch ends (MXNet's steps pull them after each step,
the CPU steps average them: cpu/averaging.py): validation accuracy, and so early stopping, come out the same on
every host, which keeps them in step (with the CPU steps each host scores a block of validation and the hosts add
up the blocks' scores). With the CPU steps each host then writes its own checkpoint (its optimizer
state is its own), and a stop within an epoch leaves the hosts' checkpoints of the last epoch, since the hosts stop
at different batches.

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
from ..numpy_networks import log_softmax
from ..runtime.checkpoints import CheckpointStore, completing
from ..runtime.schedule import linear_decay
from ..runtime.signals import StopSignal
from ..text import TextEncoder
from .metrics import classification_report, confusion_matrix
from .recipe import Recipe
from .steps import EncodedSet, HostScoring, OneHostScoring, Steps, write_parameter

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
    """One line per epoch, in the form the metric definitions' regexes parse (docs/training.md); an epoch scored on
    no validation set (a refit's) has no validation figures."""
    validation = (
        "validation_loss={validation_loss:.6f} validation_accuracy={validation_accuracy:.6f} "
        "validation_macro_f1={validation_macro_f1:.6f} "
        if "validation_accuracy" in row
        else ""
    )
    return (
        "epoch={epoch} train_loss={train_loss:.6f} train_accuracy={train_accuracy:.6f} "
        + validation
        + "samples_per_second={samples_per_second:.1f} epoch_seconds={epoch_seconds:.3f}"
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
        mid_epoch_checkpoints: bool = True,
        scoring: HostScoring | None = None,
    ) -> None:
        """`checkpoints` is None for a job that cannot resume (MXNet's steps on several hosts); `recipe` says how
        to train (optimizer, rate, schedule) and which epoch to keep; a step takes `worker_batch_size` rows. Hosts
        stop at different batches, so on several a stop within an epoch leaves the last epoch's checkpoint
        (`mid_epoch_checkpoints` False); `scoring` shares an epoch's validation set among the hosts (by default
        this host scores all of it)."""
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
        self.mid_epoch_checkpoints = mid_epoch_checkpoints
        self.scoring = scoring or OneHostScoring()
        self._best_params: dict[str, mx.nd.NDArray] = {}  # set by fit: a snapshot, or the checkpoint's
        self._checkpoint_folder: str | None = None  # where the newest checkpoint is, once there is one

    # -- evaluation ---------------------------------------------------------------------------------------
    def predict_logits(self, data: EncodedSet, first: int = 0, stop: int | None = None) -> np.ndarray:
        """The net's logits for rows first..stop-1 (every row by default), PREDICT_BATCH_SIZE rows a forward pass
        on the first device."""
        stop = len(data) if stop is None else stop
        outputs = []
        for start in range(first, stop, PREDICT_BATCH_SIZE):
            ids, lengths = self.encoder.pad_flat(*data.span(start, min(start + PREDICT_BATCH_SIZE, stop)))
            context = self.contexts[0]
            outputs.append(self.net(mx.nd.array(ids, ctx=context), mx.nd.array(lengths, ctx=context)).asnumpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.class_names)), np.float32)

    def evaluate(self, data: EncodedSet, scoring: HostScoring | None = None) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class scores, the confusion matrix and the mean loss on one data set. With
        `scoring`, each host scores its block of the set and the blocks' confusion matrices and summed losses are
        added up (by default this host scores every row)."""
        scoring = scoring or OneHostScoring()
        first, stop = scoring.scored_rows(len(data))
        logits, labels, classes = self.predict_logits(data, first, stop), data.labels[first:stop], len(self.class_names)
        matrix = confusion_matrix(labels, logits.argmax(axis=1), classes)
        loss_sum = -log_softmax(logits)[np.arange(len(labels)), labels].sum(dtype=np.float64)
        total = scoring.add_scores(np.append(matrix.ravel(), loss_sum).astype(np.float64))
        report = classification_report(np.rint(total[:-1]).astype(np.int64).reshape(classes, classes), self.class_names)
        report["loss"] = float(total[-1] / len(data))
        return report

    # -- the loop -----------------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, mx.nd.NDArray]:
        return {name: p.data(self.contexts[0]).copyto(mx.cpu()) for name, p in self.net.collect_params().items()}

    def _restore(self, params: dict[str, mx.nd.NDArray]) -> None:
        for name, parameter in self.net.collect_params().items():
            write_parameter(parameter, params[name])

    def _save_checkpoint(self, state: dict[str, Any]) -> str | None:
        """A new checkpoint generation of what the net holds; the folder it is in, or None for a job without
        checkpoints."""
        if self.checkpoints is None:
            return None
        writers = {
            "params_file": self.net.save_parameters,
            "trainer_file": self.steps.save_states,
            "best_params_file": lambda path: mx.nd.save(path, self._best_params),
        }
        self.checkpoints.save(writers, state)
        self._checkpoint_folder = self.checkpoints.folder
        return self._checkpoint_folder

    def fit(self, train: EncodedSet, validation: EncodedSet | None) -> tuple[list[dict[str, Any]], int]:
        """Train until epochs run out or validation accuracy stops improving; leave the best parameters in
        the net and return the per-epoch history. Without validation (a refit) every epoch runs and the last is
        kept, which the recipe must say."""
        state = self.checkpoints.load() if self.checkpoints else None
        if state:
            self._checkpoint_folder = self.checkpoints.folder if self.checkpoints else None
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
        if validation is not None:
            first, stop = self.scoring.scored_rows(len(validation))
            if stop - first < len(validation):
                logger.info(
                    "validation: each epoch this host scores %d of the %d rows (from row %d); the hosts add their "
                    "scores",
                    stop - first,
                    len(validation),
                    first,
                )
        with self.stop_signal.checkpointing():
            while not state["finished"]:
                self._run_epoch(train, validation, state)
        self._restore(self._best_params)
        return state["history"], state["best_epoch"]

    def _run_epoch(self, train: EncodedSet, validation: EncodedSet | None, state: dict[str, Any]) -> None:
        running, started = self._train_epoch(train, state)
        self.steps.publish()  # on several hosts: the hosts' models averaged, the same on every host from here on
        # Exchanges with the other hosts come before the checkpoint's completion, which a lost host's abort awaits.
        report = self.evaluate(validation, self.scoring) if validation is not None else None
        with completing():
            saved = self._end_epoch(report, state, running, started)
        if self.stop_signal.requested and not state["finished"]:
            raise TrainingInterrupted(saved)

    def _train_epoch(self, train: EncodedSet, state: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The epoch's remaining batches; its running sums (with its training seconds) and when it started, as
        time.perf_counter() counts (earlier by the seconds it ran before a resume)."""
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
                raise TrainingInterrupted(self._stop_mid_epoch(state, number + 1, running, started))
        running["seconds"] = time.perf_counter() - started
        return running, started

    def _stop_mid_epoch(
        self, state: dict[str, Any], next_batch: int, running: dict[str, Any], started: float
    ) -> str | None:
        """Where a job stopped between batches resumes (the folder): a checkpoint of this point, or where hosts
        stop at different batches, the last epoch's."""
        if not self.mid_epoch_checkpoints:
            return self._checkpoint_folder
        running["seconds"] = time.perf_counter() - started
        state.update(next_batch=next_batch, running=running)
        self.steps.publish()
        return self._save_checkpoint(state)

    def _end_epoch(
        self, report: dict[str, Any] | None, state: dict[str, Any], running: dict[str, Any], started: float
    ) -> str | None:
        """The epoch's validation report (if any) logged and weighed against the best so far, then its checkpoint
        (the folder)."""
        hp, epoch = self.hp, state["epoch"]
        row = {
            "epoch": epoch,
            "train_loss": running["loss"] / running["samples"],
            "train_accuracy": running["correct"] / running["samples"],
        }
        if report is not None:
            row.update(
                validation_loss=report["loss"],
                validation_accuracy=report["accuracy"],
                validation_macro_f1=report["macro_f1"],
            )
        row.update(
            samples_per_second=running["samples"] / max(running["seconds"], 1e-9),
            epoch_seconds=time.perf_counter() - started,
        )
        logger.info(format_epoch_line(row))
        state["history"].append(row)
        accuracy = report["accuracy"] if report is not None else -1.0
        if accuracy > state["best_accuracy"] or not self.recipe.select_on_validation:
            state.update(best_accuracy=accuracy, best_epoch=epoch, epochs_without_improvement=0)
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
        return self._save_checkpoint(state)
