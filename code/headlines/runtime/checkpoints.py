"""Training checkpoints in /opt/ml/checkpoints (synced to S3 and restored for a new attempt by SageMaker).

A checkpoint is a generation of files (the job decides which: the classifier writes its parameters, optimizer
states and best parameters, the word-vector job its weights) plus ``state.json``, written last with an atomic
rename: a job killed while writing leaves the previous checkpoint intact. A checkpoint only resumes the job that
wrote it (same data and hyperparameters).
"""

import contextlib
import glob
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

from ..errors import JobError

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1

# Held from the moment the hosts of a job hold the same model (an epoch's averaging) until that point's checkpoint
# is written: a host ended because a peer stopped (cli/train.py's abort) waits for it, so that every host's newest
# checkpoint is of the same epoch and the job can resume.
_completing = threading.Lock()

# A checkpoint's state.json: what the job needs to resume (JSON values), the generation's file paths under the
# keys of CheckpointStore's `files`, and the store's own keys (fingerprint, generation, format_version).
CheckpointState: TypeAlias = dict[str, Any]
# Writes one file of a generation to the path it is given.
FileWriter: TypeAlias = Callable[[str], object]


@contextlib.contextmanager
def completing() -> Iterator[None]:
    """Marks the work from a point all hosts share to its checkpoint, which a stop waits for (wait_for_checkpoint)."""
    with _completing:
        yield


def wait_for_checkpoint(timeout: float) -> None:
    """Returns once no checkpoint is being completed, or after timeout seconds."""
    if _completing.acquire(timeout=timeout):
        _completing.release()


class CheckpointStore:
    def __init__(self, folder: str, fingerprint: str, files: Mapping[str, str]) -> None:
        """files: {state key: file name pattern with one {} for the generation}, e.g. {"params_file":
        "params-{}.params"}; the first pattern tells which generations exist."""
        self.folder = folder
        self.fingerprint = fingerprint
        self.files = dict(files)

    def load(self) -> CheckpointState | None:
        """The saved state (with absolute file paths) or None when the folder holds no checkpoint."""
        path = os.path.join(self.folder, STATE_FILE)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                state: CheckpointState = json.load(f)
        except (OSError, ValueError) as e:
            raise JobError(f"The checkpoint {path} cannot be read ({e}); remove it to start afresh.") from e
        if state.get("fingerprint") != self.fingerprint:
            raise JobError(
                f"The checkpoint in {self.folder} was written by a job with other data or "
                f"hyperparameters; remove it, or give this job its own checkpoint location."
            )
        for key in self.files:
            state[key] = os.path.join(self.folder, state[key])
        logger.info("resuming from the checkpoint in %s (generation %d)", self.folder, state["generation"])
        return state

    def save(self, writers: Mapping[str, FileWriter], state: Mapping[str, Any]) -> str:
        """Write a new generation: writers[key](path) writes the file of each key of `files`."""
        os.makedirs(self.folder, exist_ok=True)
        generation = self._next_generation()
        files = {key: pattern.format(generation) for key, pattern in self.files.items()}
        for key, name in files.items():
            writers[key](os.path.join(self.folder, name))
        state = dict(state, fingerprint=self.fingerprint, generation=generation, format_version=FORMAT_VERSION, **files)
        temporary = os.path.join(self.folder, STATE_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, os.path.join(self.folder, STATE_FILE))
        self._remove_other_generations(generation)
        return os.path.join(self.folder, STATE_FILE)

    def _generations(self) -> set[int]:
        prefix, suffix = next(iter(self.files.values())).split("{}")
        found: set[int] = set()
        for path in glob.glob(os.path.join(self.folder, glob.escape(prefix) + "*" + glob.escape(suffix))):
            middle = os.path.basename(path)[len(prefix) : len(os.path.basename(path)) - len(suffix)]
            if middle.isdigit():
                found.add(int(middle))
        return found

    def _next_generation(self) -> int:
        return max(self._generations(), default=0) + 1

    def _remove_other_generations(self, keep: int) -> None:
        for generation in self._generations() - {keep}:
            for pattern in self.files.values():
                path = os.path.join(self.folder, pattern.format(generation))
                if os.path.exists(path):
                    os.remove(path)
