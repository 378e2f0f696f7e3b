"""Multi-model endpoints (SAGEMAKER_MULTI_MODEL=true): SageMaker loads, lists, invokes and unloads models through
the /models routes (app.py), any number of them in one container.

gunicorn's workers share one registry of the loaded models: a folder the master makes before it forks (in /dev/shm),
holding one small JSON file per model, placed whole with link(2) so that of two loads of one name exactly one wins
(409 for the other), and an empty marker file per copy a worker holds. A load is read and self-checked by the worker
that receives it; every other worker loads its own copy when the model's first invocation reaches it, and drops the
copies of models the registry no longer lists: at once for a request, within FOLLOW_SECONDS otherwise. An unload
answers once every worker has dropped its copy (or after UNLOAD_WAIT_SECONDS).

Memory: a load is refused with 507 unless the model fits in every worker. It needs its weights file once (a
classifier's model-0000.params, memory-mapped by classifier.py: every worker's copy reads the same page cache) and,
per worker, COPY_FACTOR times its other files (the vocabulary table and encoder, or the word vectors). Measured per
copy after a 1,024-headline prediction: 0.4-1.4 MB for 0.11-0.26 MB of classifier files besides the weights (up to
5.4x); word vectors 1.3 MB for 1.6 MB of files (vectors.bin is read, vectors.txt is not), plus 48 MB once in a
worker, at its first word-vector model. What the container has is memory.available_bytes (page cache counted as
free) less the weights of the loaded models, PASS_RESERVE per worker for the request it serves (a 1,024-headline
prediction peaked at 2.7-6.5 MB of buffers; a 6 MB body decodes into a few times that), and the copies of loaded
models that workers are yet to load. A MemoryError while loading is a 507 too.
"""

import collections
import contextlib
import dataclasses
import errno
import functools
import gc
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Self

from werkzeug.exceptions import Conflict, HTTPException, InternalServerError, NotFound, UnprocessableEntity

from .. import contract
from ..errors import JobError
from ..files import exclusive_lock, list_files, write_json
from ..model_folder import CLASSIFIER, PARAMS_FILE, missing_classifier_files, model_kind
from .loading import ServedModel, load_model
from .memory import available_bytes, return_freed_memory
from .models_api import page_token, token_name
from .snapshots import WeightCopies, WeightSnapshots

logger = logging.getLogger(__name__)

SHARED_MEMORY = "/dev/shm"
COPY_FACTOR = 8
PASS_RESERVE = 64 * 2**20
FOLLOW_SECONDS = 0.5
UNLOAD_WAIT_SECONDS = 10


class InsufficientStorage(HTTPException):
    code = contract.NO_MEMORY_STATUS


@dataclasses.dataclass(frozen=True)
class Entry:
    """A loaded model, as the registry lists it."""

    name: str
    url: str
    id: str  # new for every load: a copy of an earlier load of the name is never taken for this one
    shared_bytes: int  # the estimated memory all workers' copies share (the memory-mapped weights)
    copy_bytes: int  # the estimated memory of each worker's copy besides

    def describe(self) -> dict[str, str]:
        return {contract.MODEL_NAME_KEY: self.name, contract.MODEL_URL_KEY: self.url}


def estimate(model_dir: str) -> tuple[int, int]:
    """(shared, per worker): the estimated memory of the model in model_dir (see the module's docstring)."""
    weights = os.path.join(model_dir, PARAMS_FILE)
    shared = os.path.getsize(weights) if os.path.isfile(weights) else 0
    files = sum(os.path.getsize(path) for path in list_files(model_dir))
    return shared, int((files - shared) * COPY_FACTOR)


def _mib(count: float) -> str:
    return f"{count / 2**20:.0f} MiB"


def _read_entry(path: str) -> Entry | None:
    try:
        with open(path, encoding="utf-8") as f:
            return Entry(**json.load(f))
    except FileNotFoundError:
        return None


class Registry:
    """The models loaded in the container, in a folder every worker reads and writes."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._models = os.path.join(folder, "models")
        self._copies = os.path.join(folder, "copies")

    @classmethod
    def create(cls, uid: int | None = None, gid: int | None = None) -> Self:
        """A new, empty registry (made by the master before it forks), owned by the workers' user when given."""
        parent = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK) else None  # else the temporary folder
        folder = tempfile.mkdtemp(prefix="headlines-models-", dir=parent)
        for path in (folder, os.path.join(folder, "models"), os.path.join(folder, "copies")):
            os.makedirs(path, exist_ok=True)
            if uid is not None:
                os.chown(path, uid, -1 if gid is None else gid)  # -1: the group stays
        return cls(folder)

    def destroy(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _path(self, name: str) -> str:
        return os.path.join(self._models, hashlib.sha256(name.encode("utf-8")).hexdigest() + ".json")

    def add(self, entry: Entry) -> bool:
        """Lists entry; False when its name is listed already."""
        fd, staged = tempfile.mkstemp(prefix=".", dir=self._models)
        os.close(fd)
        write_json(staged, dataclasses.asdict(entry))
        try:
            os.link(staged, self._path(entry.name))
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(staged)

    def get(self, name: str) -> Entry | None:
        return _read_entry(self._path(name))

    def remove(self, name: str) -> Entry | None:
        """Takes name off the list; its entry, or None when it was not listed. Of two removals one gets the entry."""
        claimed = os.path.join(self._models, f".{uuid.uuid4().hex}")
        try:
            os.rename(self._path(name), claimed)
        except FileNotFoundError:
            return None
        entry = _read_entry(claimed)
        os.unlink(claimed)
        return entry

    def entries(self) -> list[Entry]:
        """Every listed model, by name."""
        paths = [os.path.join(self._models, file) for file in os.listdir(self._models) if not file.startswith(".")]
        return sorted(filter(None, map(_read_entry, paths)), key=lambda entry: entry.name)

    @contextlib.contextmanager
    def load_lock(self) -> Iterator[None]:
        """One load at a time in the container, so that a memory check and the load it allows are not interleaved
        with another load's."""
        with exclusive_lock(os.path.join(self.folder, "load.lock")):
            yield

    def _marker(self, entry: Entry, pid: int) -> str:
        return os.path.join(self._copies, f"{entry.id}.{pid}")

    def hold(self, entry: Entry, pid: int) -> None:
        """Worker pid holds a copy of entry's model."""
        open(self._marker(entry, pid), "w").close()

    def release(self, entry: Entry, pid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._marker(entry, pid))

    def holders(self, entry: Entry) -> set[int]:
        """The workers holding a copy of entry's model."""
        return {int(file.split(".")[1]) for file in os.listdir(self._copies) if file.startswith(f"{entry.id}.")}

    def copy_counts(self) -> collections.Counter[str]:
        """Entry id -> the number of workers holding a copy of its model."""
        return collections.Counter(file.split(".")[0] for file in os.listdir(self._copies))

    def forget_worker(self, pid: int) -> None:
        """A worker exited (the master calls this): its copies are gone."""
        for file in os.listdir(self._copies):
            if file.endswith(f".{pid}"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self._copies, file))


@dataclasses.dataclass(frozen=True)
class _Copy:
    entry: Entry
    predictor: ServedModel


class WorkerModels:
    """One worker's side of the registry: loads, its own copies of the loaded models, unloads, the list."""

    def __init__(
        self,
        registry: Registry,
        workers: int,
        loader: Callable[[str, WeightCopies | None], ServedModel] = load_model,
        available: Callable[[], int] = available_bytes,
        pid: int | None = None,
        unload_wait: float = UNLOAD_WAIT_SECONDS,
        snapshots: WeightSnapshots | None = None,
    ) -> None:
        """snapshots: where the workers copy the weights they map (serving/snapshots.py), one folder per load of a
        model; without it they map the models' own files."""
        self.registry = registry
        self._snapshots = snapshots
        self.workers = workers
        self._loader = loader
        self._available = available
        self._pid = pid or os.getpid()
        self._unload_wait = unload_wait
        self._copies: dict[str, _Copy] = {}  # model name -> _Copy
        self._lock = threading.Lock()  # this worker loads one copy at a time

    def load(self, name: str, url: str, target_model: str | None = None) -> Entry:
        """Loads and lists a model (POST /models); its entry."""
        _check_folder(url)
        with self.registry.load_lock():
            if self.registry.get(name):
                raise Conflict(f"Model {name} is already loaded; unload it first.")
            entry = Entry(name, url, uuid.uuid4().hex, *estimate(url))
            self._check_memory(entry)
            try:
                predictor = self._load_copy(entry)
            except Exception:
                self._discard_copies(entry)
                raise
            with self._lock:
                if not self.registry.add(entry):
                    raise Conflict(f"Model {name} is already loaded; unload it first.")
                self._keep(entry, predictor)
        logger.info(
            "worker %d loaded model %r (target model %r) from %r: %s",
            self._pid,
            name,
            target_model,
            url,
            predictor.describe(),
        )
        return entry

    def _check_memory(self, entry: Entry) -> None:
        need = entry.shared_bytes + self.workers * entry.copy_bytes
        loaded, counts = self.registry.entries(), self.registry.copy_counts()
        weights = sum(other.shared_bytes for other in loaded)
        promised = sum(other.copy_bytes * max(0, self.workers - counts[other.id]) for other in loaded)
        available = self._available()
        left = available - weights - self.workers * PASS_RESERVE - promised
        if need > left:
            raise InsufficientStorage(
                f"Model {entry.name} needs an estimated {_mib(need)} ({_mib(entry.shared_bytes)} of weights, shared, "
                f"and {_mib(entry.copy_bytes)} in each of {self.workers} workers), and {_mib(max(0, left))} are "
                f"left: {_mib(available)} available, less {_mib(weights)} of loaded models' weights, "
                f"{_mib(PASS_RESERVE)} a worker kept for requests and {_mib(promised)} for copies of loaded models "
                "that workers have yet to load."
            )

    def _load_copy(self, entry: Entry) -> ServedModel:
        copies = None if self._snapshots is None else functools.partial(self._snapshots.copies, entry.id, entry.url)
        try:
            return self._loader(entry.url, copies)
        except JobError as e:
            raise UnprocessableEntity(f"{entry.url} does not hold a model this image serves: {e}") from None
        except Exception as e:  # noqa: BLE001 - every failure is the load's answer
            if isinstance(e, MemoryError) or getattr(e, "errno", None) == errno.ENOMEM:
                raise InsufficientStorage(f"Model {entry.name} ran out of memory while it loaded.") from None
            logger.exception("loading model %s from %s failed", entry.name, entry.url)
            raise InternalServerError(
                f"Loading model {entry.name} from {entry.url} failed: {type(e).__name__}: {e}"
            ) from None

    def _keep(self, entry: Entry, predictor: ServedModel) -> _Copy:
        copy = self._copies[entry.name] = _Copy(entry, predictor)
        self.registry.hold(entry, self._pid)
        return copy

    def entry(self, name: str) -> Entry:
        """The entry of a loaded model (GET /models/<name>)."""
        entry = self.registry.get(name)
        if entry is None:
            raise _not_loaded(name)
        return entry

    def predictor(self, name: str) -> ServedModel:
        """This worker's copy of a loaded model (POST /models/<name>/invoke), loaded now if it has none yet."""
        entry = self.registry.get(name)
        if entry is None:
            self.follow()  # this worker may still hold a copy
            raise _not_loaded(name)
        copy = self._copies.get(name)
        if copy is None or copy.entry.id != entry.id:
            with self._lock:
                copy = self._copies.get(name)
                if copy is None or copy.entry.id != entry.id:
                    self._drop(name)
                    copy = self._keep(entry, self._load_copy(entry))
                    logger.info("worker %d loaded its copy of model %s", self._pid, name)
        return copy.predictor

    def unload(self, name: str, target_model: str | None = None) -> Entry:
        """Unlists a model and waits for every worker to drop its copy (DELETE /models/<name>); its entry."""
        entry = self.registry.remove(name)
        if entry is None:
            raise _not_loaded(name)
        logger.info("worker %d unloads model %r (target model %r)", self._pid, name, target_model)
        self.follow()
        deadline = time.monotonic() + self._unload_wait
        while self.registry.holders(entry) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.registry.holders(entry):
            logger.warning("model %s unloaded, but workers %s still hold copies", name, self.registry.holders(entry))
        self._discard_copies(entry)
        return entry

    def _discard_copies(self, entry: Entry) -> None:
        if self._snapshots is not None:
            self._snapshots.discard(entry.id)

    def follow(self) -> None:
        """Drops the copies of models the registry no longer lists (unloaded, or loaded anew under their name)."""
        if not self._stale():
            return
        with self._lock:  # looked at again: a request may have replaced a copy meanwhile
            for name in self._stale():
                self._drop(name)
        gc.collect()  # a model's objects may hold cycles: free them now, not at the next collection
        return_freed_memory()

    def _stale(self) -> list[str]:
        return [name for name, copy in list(self._copies.items()) if self.registry.get(name) != copy.entry]

    def _drop(self, name: str) -> None:
        copy = self._copies.pop(name, None)
        if copy is not None:
            self.registry.release(copy.entry, self._pid)
            logger.info("worker %d dropped its copy of model %s", self._pid, name)

    def start_following(self) -> None:
        """Follows the registry in a background thread for the rest of the worker's life."""
        threading.Thread(target=self._follow_forever, name="follow-models", daemon=True).start()

    def _follow_forever(self) -> None:
        while True:
            time.sleep(FOLLOW_SECONDS)
            try:
                self.follow()
            except Exception:  # noqa: BLE001 - the thread must outlive a bad moment (the folder removed at exit)
                logger.exception("following the model registry failed")

    def page(
        self, token: str | None = None, limit: int = contract.MAX_PAGE_SIZE
    ) -> dict[str, list[dict[str, str]] | str]:
        """One page of the list (GET /models), after the model a next_page_token names."""
        after = token_name(token) if token is not None else None
        entries = [entry for entry in self.registry.entries() if after is None or entry.name > after]
        page: dict[str, list[dict[str, str]] | str] = {
            contract.MODELS_KEY: [entry.describe() for entry in entries[:limit]]
        }
        if len(entries) > limit:
            page[contract.NEXT_PAGE_TOKEN_KEY] = page_token(entries[limit - 1].name)
        return page


def _not_loaded(name: str) -> NotFound:
    return NotFound(f"Model {name} is not loaded; load it with POST {contract.MODELS_PATH}.")


def _check_folder(url: str) -> None:
    """A 422 before any memory is estimated or used, unless the folder url holds a model this image serves (a 507
    would make SageMaker unload other models in vain)."""
    missing = missing_classifier_files(url)
    if model_kind(url) == CLASSIFIER and missing:
        raise UnprocessableEntity(f"{url} does not hold a model this image serves: {', '.join(missing)} missing.")
