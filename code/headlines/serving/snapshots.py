"""Private copies of the weight files a server memory-maps.

Workers memory-map their model's weights (a classifier's model-0000.params, a word-vector model's fastText .bin),
so every worker shares one copy in the page cache. But a file rewritten in place under a mapping (`cp new.params
model-0000.params` truncates it first) kills the worker that reads it with SIGBUS. So the server maps copies that
only it writes: a folder of them per loaded model, made by the first worker that loads the model (under a lock, the
others wait and map the same copies), removed when the model is unloaded or the server stops. The model folder's
other files are read whole when the model loads and need no copy.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Self, TypeAlias

from ..files import STAGING_DIR, exclusive_lock, publish, staging_folder

# copies(names): a folder holding private copies of a model folder's files of those names (relative paths): the
# files a model memory-maps. WeightSnapshots.copies with its key and model folder given.
WeightCopies: TypeAlias = Callable[[Sequence[str]], str]
SINGLE_MODEL = "model"  # the key of a single-model endpoint's copies; a multi-model endpoint's are its load IDs
_LOCK_FILE = ".lock"


class WeightSnapshots:
    """A folder of a server's private copies of weight files, one folder per key, shared by its workers."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @classmethod
    def create(cls, uid: int | None = None, gid: int | None = None) -> Self:
        """A new, empty folder in the temporary folder (made by the master before it forks), owned by the workers'
        user when given."""
        folder = tempfile.mkdtemp(prefix="headlines-weights-")
        if uid is not None:
            os.chown(folder, uid, -1 if gid is None else gid)  # -1: the group stays
        return cls(folder)

    def destroy(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def copies(self, key: str, model_dir: str, names: Sequence[str]) -> str:
        """The folder of key's copies of model_dir's files `names` (paths relative to model_dir; those it lacks are
        left out), copied now unless a worker has copied them for key already."""
        target = self._path(key)
        with self._lock():
            if not os.path.isdir(target) or os.path.exists(os.path.join(target, STAGING_DIR)):
                shutil.rmtree(target, ignore_errors=True)  # none yet, or a worker was killed while it copied
                staging = staging_folder(target)
                for name in names:
                    source = os.path.join(model_dir, name)
                    if os.path.isfile(source):
                        os.makedirs(os.path.dirname(os.path.join(staging, name)), exist_ok=True)
                        shutil.copyfile(source, os.path.join(staging, name))
                publish(target)
        return target

    def discard(self, key: str) -> None:
        """Removes key's copies; workers that still map them keep them until they unmap them (unlinked files)."""
        with self._lock():
            shutil.rmtree(self._path(key), ignore_errors=True)

    def _path(self, key: str) -> str:
        if not key or os.sep in key or key.startswith("."):
            raise ValueError(f"not a snapshot key: {key!r}")
        return os.path.join(self.folder, key)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(os.path.join(self.folder, _LOCK_FILE))
