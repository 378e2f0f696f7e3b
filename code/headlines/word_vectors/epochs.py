"""The loop both word-vector engines share: epochs of units (a CPU round, a GPU block), the epoch's running sums
and history row, progress lines, and a checkpoint every `checkpoint_seconds` and on SIGTERM, from which a
restarted job continues at the same unit of the same epoch."""

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeAlias

import numpy as np

from ..errors import TrainingInterrupted
from ..hyperparameters import WordVectorHyperparameters
from ..runtime.checkpoints import CheckpointState, CheckpointStore
from ..runtime.signals import StopSignal
from .progress import ProgressLog, log_epoch

logger = logging.getLogger(__name__)

WORD_VECTOR_CHECKPOINT_FILES = {"weights_file": "word-vectors-{}.npz"}


class DeviceScalar(Protocol):
    """A one-element MXNet NDArray (the GPU path's loss): reading it waits for the device."""

    def asscalar(self) -> float: ...


# A unit's summed loss: a float (CPU), or a DeviceScalar not yet read (GPU).
UnitLoss: TypeAlias = float | DeviceScalar
# The engine's arrays a checkpoint keeps, by name (np.savez's keys).
Arrays: TypeAlias = dict[str, np.ndarray]
# One epoch's row of the history: epoch (1-based), loss, words_per_second, epoch_seconds.
HistoryRow: TypeAlias = dict[str, float]


def _as_float(loss: UnitLoss) -> float:
    """A unit's loss as a float: the GPU path hands an NDArray, read once a unit so the device is not waited for
    after every step."""
    return float(loss.asscalar()) if hasattr(loss, "asscalar") else float(loss)


def new_state(**extra: Any) -> CheckpointState:
    """A job's position before its first unit; `extra` holds what its engine needs to resume (JSON)."""
    return {"epoch": 0, "unit": 0, "history": [], "running": None, **extra}


def load_state(store: CheckpointStore | None) -> tuple[CheckpointState | None, Arrays | None]:
    """The checkpoint's state and arrays, or (None, None) without one (or without a store)."""
    state = store.load() if store else None
    if state is None:
        return None, None
    with np.load(state["weights_file"]) as arrays:
        return state, {name: arrays[name] for name in arrays.files}


def checked_array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A checkpoint's array, refused when it does not have the shape the engine holds."""
    if arrays[name].shape != shape:
        raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
    return arrays[name]


def _save_arrays(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to the name
        np.savez(f, **arrays)


class EpochLoop:
    clock = staticmethod(time.monotonic)  # for the checkpoint interval

    def __init__(
        self,
        hp: WordVectorHyperparameters,
        state: CheckpointState,
        units: int,
        unit_name: str,
        epoch_tokens: int,
        store: CheckpointStore | None,
        stop_signal: StopSignal,
        advice: str = "",
    ) -> None:
        """units: units an epoch; epoch_tokens: corpus tokens an epoch on this host; store: a CheckpointStore,
        or None where no checkpoint is written."""
        self.hp, self.state, self.units, self.unit_name = hp, state, units, unit_name
        self.store, self.stop_signal = store, stop_signal
        done = state["epoch"] * epoch_tokens + self._running()["tokens"]
        self.progress = ProgressLog(hp.epochs * epoch_tokens, hp, advice=advice, done=done)
        if state["epoch"] or state["unit"]:
            logger.info("resuming at epoch %d, %s %d of %d", state["epoch"] + 1, unit_name, state["unit"], units)

    def _running(self) -> dict[str, float]:
        return self.state["running"] or {"tokens": 0, "loss": 0.0, "positives": 0, "seconds": 0.0}

    def run(
        self,
        train_unit: Callable[[int, int], tuple[UnitLoss, int, int]],
        snapshot: Callable[[], Mapping[str, np.ndarray]],
        before_checkpoint: Callable[[CheckpointState], None] = lambda state: None,
    ) -> list[HistoryRow]:
        """train_unit(epoch, unit) -> (loss, positives, tokens); snapshot() -> the arrays a checkpoint keeps;
        before_checkpoint(state) adds the engine's own resumption state. Returns the history."""
        last_checkpoint = self.clock()
        with self.stop_signal.checkpointing():
            while self.state["epoch"] < self.hp.epochs:
                started = time.time()
                loss, positives, tokens = train_unit(self.state["epoch"], self.state["unit"])
                loss = _as_float(loss)
                running = self._running()
                running = {
                    "tokens": running["tokens"] + tokens,
                    "loss": running["loss"] + loss,
                    "positives": running["positives"] + positives,
                    "seconds": running["seconds"] + time.time() - started,
                }
                self.progress.add(tokens, loss, positives)
                self.state.update(unit=self.state["unit"] + 1, running=running)
                if self.state["unit"] == self.units:
                    self._end_epoch(running)
                interval = self.hp.checkpoint_seconds
                if self.stop_signal.requested or (interval and self.clock() - last_checkpoint >= interval):
                    before_checkpoint(self.state)
                    saved = self._save_checkpoint(snapshot)
                    last_checkpoint = self.clock()
                    if self.stop_signal.requested:
                        raise TrainingInterrupted(saved)
        return self.state["history"]

    def _end_epoch(self, running: Mapping[str, float]) -> None:
        self.progress.log()
        row = {
            "epoch": self.state["epoch"] + 1,
            "loss": running["loss"] / max(1, running["positives"]),
            "words_per_second": running["tokens"] / max(running["seconds"], 1e-9),
            "epoch_seconds": running["seconds"],
        }
        log_epoch(row)
        self.state["history"].append(row)
        self.state.update(epoch=self.state["epoch"] + 1, unit=0, running=None)

    def _save_checkpoint(self, snapshot: Callable[[], Mapping[str, np.ndarray]]) -> str | None:
        if self.store is None:
            return None
        started = time.time()
        self.store.save({"weights_file": lambda path: _save_arrays(path, snapshot())}, self.state)
        logger.info(
            "checkpoint: epoch %d, %s %d of %d, written in %.1f s",
            self.state["epoch"] + 1,
            self.unit_name,
            self.state["unit"],
            self.units,
            time.time() - started,
        )
        return self.store.folder
