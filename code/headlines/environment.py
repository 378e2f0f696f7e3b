"""Read-only views of the SageMaker environment: /opt/ml (or SAGEMAKER_BASE_DIR) and the env vars, for
training (TrainingEnvironment) and for hosting and batch transform (ServingEnvironment), and the CPUs the container's
cgroup allows (container_cpus; serving/memory.py reads its memory cgroup with the same read_system_file).

Modelled on sagemaker_training.environment.Environment, but built from an explicit base directory instead of
module-level paths frozen at import time, so one process (and one test session) can look at many fake /opt/ml
trees.
"""

import dataclasses
import json
import math
import os
import socket
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Self, TypeVar

from . import contract
from .errors import JobError

D = TypeVar("D")

CGROUP_ROOT = "/sys/fs/cgroup"
# The CPU cgroup's quota, CPU time per period (`docker run --cpus`, or what SageMaker gives the container), below
# CGROUP_ROOT: v2 writes both on one line ("max 100000" without a quota, "150000 100000" for 1.5 CPUs); v1 in two
# files, the quota -1 without one.
CPU_MAX_FILE = "cpu.max"
CPU_QUOTA_FILES = ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")


def _read_json(path: str, default: dict[str, Any] | None = None) -> Any:
    if not os.path.exists(path):
        if default is not None:
            return default
        raise JobError(f"The SageMaker configuration file {path} is missing.")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise JobError(f"The SageMaker configuration file {path} is not valid JSON: {e}.") from e


@dataclasses.dataclass(frozen=True)
class TrainingEnvironment:
    base_dir: str
    hyperparameters: MappingProxyType[str, Any]
    input_data_config: MappingProxyType[str, Any]
    resource_config: MappingProxyType[str, Any]
    checkpoint_dir: str
    num_gpus: int

    @classmethod
    def from_base_dir(cls, base_dir: str | None = None, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        base_dir = base_dir or _base_dir(environ)
        path = lambda relative: os.path.join(base_dir, relative)  # noqa: E731
        hyperparameters = _read_json(path(contract.HYPERPARAMETERS_FILE), default={})
        input_data_config = _read_json(path(contract.INPUT_DATA_CONFIG_FILE), default={})
        resource_config = _read_json(path(contract.RESOURCE_CONFIG_FILE), default={})
        checkpoint_config = _read_json(path(contract.CHECKPOINT_CONFIG_FILE), default={})
        if base_dir == contract.DEFAULT_BASE_DIR:
            default_checkpoint_dir = contract.DEFAULT_CHECKPOINT_DIR
        else:
            default_checkpoint_dir = path("checkpoints")
        return cls(
            base_dir=base_dir,
            hyperparameters=MappingProxyType(dict(hyperparameters)),
            input_data_config=MappingProxyType(dict(input_data_config)),
            resource_config=MappingProxyType(dict(resource_config)),
            checkpoint_dir=checkpoint_config.get("LocalPath", default_checkpoint_dir),
            num_gpus=_count_gpus(environ),
        )

    def _path(self, relative: str) -> str:
        return os.path.join(self.base_dir, relative)

    @property
    def model_dir(self) -> str:
        return self._path(contract.MODEL_DIR)

    @property
    def output_data_dir(self) -> str:
        return self._path(contract.OUTPUT_DATA_DIR)

    @property
    def input_data_dir(self) -> str:
        return self._path(contract.INPUT_DATA_DIR)

    @property
    def channel_dirs(self) -> dict[str, str]:
        """Channel name -> folder, for the channels inputdataconfig.json declares, or else those on disk."""
        names = list(self.input_data_config)
        if not names and os.path.isdir(self.input_data_dir):
            names = sorted(
                n for n in os.listdir(self.input_data_dir) if os.path.isdir(os.path.join(self.input_data_dir, n))
            )
        return {name: os.path.join(self.input_data_dir, name) for name in names}

    @property
    def current_host(self) -> str:
        return self.resource_config.get("current_host") or socket.gethostname()

    @property
    def hosts(self) -> list[str]:
        return sorted(self.resource_config.get("hosts") or [self.current_host])

    @property
    def host_index(self) -> int:
        """This host's place among the job's sorted hosts: the same in every attempt of the job, where the kvstore's
        rank follows the order in which the hosts happened to connect."""
        return self.hosts.index(self.current_host)


def check_channels(channels: Collection[str], known: Sequence[str]) -> None:
    """The job's channels: `train` is required, and a channel the job does not read is a mistake to report."""
    if contract.TRAIN_CHANNEL not in channels:
        raise JobError(
            f"The '{contract.TRAIN_CHANNEL}' channel is required; this job has {sorted(channels) or 'no channels'}."
        )
    unknown = sorted(set(channels) - set(known))
    if unknown:
        raise JobError(f"Unknown channel(s) {', '.join(unknown)}; this job reads {', '.join(known)}.")


def _base_dir(environ: Mapping[str, str]) -> str:
    return environ.get(contract.BASE_DIR_ENV, contract.DEFAULT_BASE_DIR)


def configured_host_count(environ: Mapping[str, str] | None = None) -> int:
    """How many hosts resourceconfig.json lists (1 without it), read alone: TrainingEnvironment loads MXNet to count
    GPUs where SM_NUM_GPUS is not set, and some settings must be made before MXNet loads."""
    config = _read_json(
        os.path.join(_base_dir(os.environ if environ is None else environ), contract.RESOURCE_CONFIG_FILE), default={}
    )
    return max(len(config.get("hosts") or []), 1)


def _count_gpus(environ: Mapping[str, str]) -> int:
    if contract.NUM_GPUS_ENV in environ:
        return int(environ[contract.NUM_GPUS_ENV])
    import mxnet as mx  # deferred: only the training path needs MXNet loaded

    return mx.context.num_gpus()


def _int_env(environ: Mapping[str, str], name: str, default: D, low: int, high: int | None = None) -> int | D:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise JobError(f"{name}={raw!r} is not an integer.") from None
    if value < low or (high is not None and value > high):
        raise JobError(f"{name}={value} is out of range: expected {low}..{high if high is not None else ''}.")
    return value


def _bool_env(environ: Mapping[str, str], name: str) -> bool:
    """true or false, in any case (SageMaker writes true; AWS's TensorFlow Serving image documents True)."""
    value = environ.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise JobError(f"{name}={value!r}: expected true or false.")
    return value == "true"


def read_system_file(path: str) -> str | None:
    """A kernel file's text (a cgroup's, /proc's), stripped, or None when it does not exist."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def cpu_quota(cgroup_root: str = CGROUP_ROOT) -> float | None:
    """The CPUs the container's cgroup allows (quota / period, 1.5 for `--cpus 1.5`), or None without a quota."""
    v2 = read_system_file(os.path.join(cgroup_root, CPU_MAX_FILE))
    if v2 is not None:
        quota, _, period = v2.partition(" ")
    else:
        quota, period = (read_system_file(os.path.join(cgroup_root, name)) or "" for name in CPU_QUOTA_FILES)
    if not quota or not period or quota in ("max", "-1") or int(period) <= 0:
        return None
    return int(quota) / int(period)


def container_cpus(cgroup_root: str = CGROUP_ROOT) -> int:
    """The CPUs this container may use: the cores it may run on, fewer when the CPU cgroup's quota says so."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(cgroup_root)
    # A fractional quota is rounded up (1.5 CPUs: 2 workers, 0.5: 1): a sync worker is off the CPU for part of each
    # request (reading the body, writing the answer), so the next whole worker keeps the quota busy, and the kernel
    # throttles the container at its quota rather than failing it. Never above the cores: a worker beyond them only
    # adds a copy of the model.
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def default_workers(cpu_count: int) -> int:
    """gunicorn workers when SAGEMAKER_MODEL_SERVER_WORKERS is unset: one per CPU the container may use
    (container_cpus). `make bench-serve` swept 1-4 workers on 2 cores: one worker used one core; 2, 3 and 4 were
    within run-to-run noise of each other in requests/s and p99 (two sweeps ranked them differently), and each worker
    holds its own model."""
    return max(1, cpu_count)


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What one request may hold; a request beyond a limit is a 413 that names the limit's env var."""

    body_chars: int  # the decoded body's characters, never more than the body's byte limit
    instances: int  # headlines, or words of a word-vector request
    headline_chars: int
    token_chars: int  # a run of characters between whitespace in a headline; a word of a word-vector request
    neighbours: int  # words x neighbours of a word-vector request

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], body_bytes: int) -> Self:
        """The limits the env vars set, for bodies of up to body_bytes."""
        return cls(
            body_chars=body_bytes,
            instances=_int_env(environ, contract.MAX_INSTANCES_ENV, body_bytes // contract.BYTES_PER_INSTANCE, 1),
            headline_chars=_int_env(environ, contract.MAX_HEADLINE_CHARS_ENV, contract.DEFAULT_MAX_HEADLINE_CHARS, 1),
            token_chars=_int_env(environ, contract.MAX_TOKEN_CHARS_ENV, contract.DEFAULT_MAX_TOKEN_CHARS, 1),
            neighbours=_int_env(environ, contract.MAX_NEIGHBOURS_ENV, contract.DEFAULT_MAX_NEIGHBOURS, 1),
        )


@dataclasses.dataclass(frozen=True)
class ServingEnvironment:
    """The hosting and batch-transform settings SageMaker passes as env vars, parsed and checked once."""

    model_dir: str
    port: int
    workers: int
    timeout: int
    batch: bool
    max_payload_mb: int  # what /execution-parameters proposes, and the request limit when it was set
    batch_strategy: str
    max_concurrent_transforms: int
    multi_model: bool  # a multi-model endpoint: models come and go through the /models routes
    models_dir: str  # where SageMaker places them, one folder each
    limits: RequestLimits
    default_accept: str | None = None  # a batch transform job's Accept, for requests without one

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, cpu_count: int | None = None, cgroup_root: str = CGROUP_ROOT
    ) -> Self:
        """The settings in environ (os.environ); workers default to cpu_count, or else the CPUs the cgroup allows."""
        environ = os.environ if environ is None else environ
        base_dir = environ.get(contract.BASE_DIR_ENV, contract.DEFAULT_BASE_DIR)
        workers = _int_env(
            environ, contract.MODEL_SERVER_WORKERS_ENV, default_workers(cpu_count or container_cpus(cgroup_root)), 1
        )
        max_payload_mb = _int_env(environ, contract.MAX_PAYLOAD_ENV, None, 0, contract.MAX_BATCH_PAYLOAD_MB)
        # 0 is how a batch job says "no fixed size" (chunked); the most SageMaker ever sends is the cap.
        if max_payload_mb == 0:
            max_payload_mb = contract.MAX_BATCH_PAYLOAD_MB
        strategy = environ.get(contract.BATCH_STRATEGY_ENV, "").strip().upper() or contract.BATCH_STRATEGIES[0]
        if strategy not in contract.BATCH_STRATEGIES:
            raise JobError(
                f"{contract.BATCH_STRATEGY_ENV}={strategy!r}: expected one of {', '.join(contract.BATCH_STRATEGIES)}."
            )
        proposed_payload_mb = max_payload_mb or contract.DEFAULT_MAX_PAYLOAD_MB
        # SageMaker requires MaxConcurrentTransforms x MaxPayloadInMB <= 100.
        concurrency_cap = max(1, contract.MAX_BATCH_PAYLOAD_MB // proposed_payload_mb)
        batch = _bool_env(environ, contract.BATCH_ENV)
        limit_mb = proposed_payload_mb if max_payload_mb is not None or not batch else contract.MAX_BATCH_PAYLOAD_MB
        return cls(
            model_dir=os.path.join(base_dir, contract.MODEL_DIR),
            port=_int_env(environ, contract.SERVING_PORT_ENV, contract.DEFAULT_SERVING_PORT, 1, 65535),
            workers=workers,
            timeout=_int_env(environ, contract.MODEL_SERVER_TIMEOUT_ENV, contract.DEFAULT_MODEL_SERVER_TIMEOUT, 1),
            batch=batch,
            max_payload_mb=proposed_payload_mb,
            batch_strategy=strategy,
            max_concurrent_transforms=_int_env(
                environ, contract.MAX_CONCURRENT_TRANSFORMS_ENV, min(workers, concurrency_cap), 1
            ),
            multi_model=_bool_env(environ, contract.MULTI_MODEL_ENV),
            models_dir=os.path.join(base_dir, contract.MULTI_MODEL_DIR),
            limits=RequestLimits.from_environ(environ, limit_mb * 1024 * 1024),
            default_accept=environ.get(contract.DEFAULT_ACCEPT_ENV, "").strip() or None,
        )

    @property
    def request_limit_bytes(self) -> int:
        """The largest body /invocations accepts (413 above it): SAGEMAKER_MAX_PAYLOAD_IN_MB when set; else 6 MB
        for an endpoint and 100 MB for a batch transform job, whose mini-batches may be that large."""
        return self.limits.body_chars

    def execution_parameters(self) -> dict[str, int | str]:
        """What GET /execution-parameters answers a batch transform job."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms,
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
        }
