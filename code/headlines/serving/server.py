"""gunicorn around the Flask app: workers, timeouts, graceful stop and unprivileged workers.

The master runs as whoever started the container (root on SageMaker) and only manages processes; each worker
drops to WORKER_USER, leaving the master's supplementary groups (drop_supplementary_groups), then loads its own
copy of the model and passes a self-check prediction before it accepts a connection. The serving code (numpy,
Flask) is imported once in the master, so forked workers start without importing anything.
"""

import functools
import logging
import os
import pwd
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from .. import contract
from ..environment import ServingEnvironment
from .app import create_app
from .loading import load_predictor
from .multi_model import Registry, WorkerModels
from .snapshots import SINGLE_MODEL, WeightSnapshots
from .worker import InferenceWorker

logger = logging.getLogger(__name__)

WORKER_USER = "model-server"
# SIGTERM: stop accepting, finish in-flight requests, exit before SageMaker's SIGKILL 30 s later.
GRACEFUL_TIMEOUT = contract.HOSTING_STOP_GRACE_SECONDS - 5


def drop_supplementary_groups(server: Any, worker: Any) -> None:
    """gunicorn's post_fork hook: the forked worker, still root, leaves every supplementary group before gunicorn
    drops it to WORKER_USER. gunicorn (util.set_owner_process) calls only setgid and setuid, so without this the
    worker keeps the master's groups: group 0 (root) at least, so every root-group-readable or -writable file stays
    open to it, and whatever else the runtime gave the master (`docker run --group-add`, /etc/group entries naming
    root, such as disk, which reads block devices). (gunicorn's --initgroups would not do: it calls initgroups
    instead of setgid, leaving the worker's primary group root.)"""
    os.setgroups([])


def gunicorn_options(settings: ServingEnvironment, euid: int | None = None) -> dict[str, Any]:
    euid = os.geteuid() if euid is None else euid
    options = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": settings.workers,
        # One request at a time in each worker, /ping answered beside a long one (serving/worker.py).
        "worker_class": InferenceWorker,
        # A request running longer than this gets its worker restarted, as MMS does past
        # SAGEMAKER_MODEL_SERVER_TIMEOUT.
        "timeout": settings.timeout,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "preload_app": False,  # each worker loads its own model, after dropping privileges
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "headlines-serve",
    }
    if os.access("/dev/shm", os.W_OK):  # a folder we may write: some runtimes mount it read-only
        options["worker_tmp_dir"] = "/dev/shm"  # worker heartbeats off the container's overlay filesystem
    if euid == 0:
        try:
            account = pwd.getpwnam(WORKER_USER)
        except KeyError:
            logger.warning("user %s does not exist: workers run as root", WORKER_USER)
        else:
            options.update(user=account.pw_uid, group=account.pw_gid, post_fork=drop_supplementary_groups)
    return options


class ServingApplication(BaseApplication):
    def __init__(self, settings: ServingEnvironment) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings)
        owner = self.options.get("user"), self.options.get("group")
        # The workers' copies of the weights they map, and on a multi-model endpoint their shared list of loaded
        # models: made before they fork, theirs.
        self.snapshots = WeightSnapshots.create(*owner)
        logger.info("workers map copies of the weights in %s", self.snapshots.folder)
        self.registry: Registry | None = None
        if settings.multi_model:
            self.registry = Registry.create(*owner)
            logger.info("multi-model endpoint: the loaded models are listed in %s", self.registry.folder)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("on_exit", lambda server: self._remove_folders())
        registry = self.registry
        if registry is not None:
            self.cfg.set("child_exit", lambda server, worker: registry.forget_worker(worker.pid))

    def _remove_folders(self) -> None:
        self.snapshots.destroy()
        if self.registry is not None:
            self.registry.destroy()

    def load(self) -> Flask:
        if self.registry is not None:
            models = WorkerModels(self.registry, self.settings.workers, snapshots=self.snapshots)
            models.start_following()
            return create_app(self.settings, models=models)
        model_dir = self.settings.model_dir
        copies = functools.partial(self.snapshots.copies, SINGLE_MODEL, model_dir)
        predictor, load_error = load_predictor(model_dir, copies)
        return create_app(self.settings, predictor, load_error)


def serve(settings: ServingEnvironment) -> None:
    logger.info(
        "serving %s on port %d: %d workers, timeout %d s, request limit %d MB, batch %s",
        f"the models SageMaker loads from {settings.models_dir}" if settings.multi_model else settings.model_dir,
        settings.port,
        settings.workers,
        settings.timeout,
        settings.request_limit_bytes // (1024 * 1024),
        settings.batch,
    )
    from . import loading  # noqa: F401 - imports numpy and the models' code in the master, before the workers fork

    ServingApplication(settings).run()
