"""A read-only view of the SageMaker training environment: /opt/ml (or SAGEMAKER_BASE_DIR) and the env vars.

Modelled on sagemaker_training.environment.Environment, but built from an explicit base directory instead of
module-level paths frozen at import time, so one process (and one test session) can look at many fake /opt/ml
trees.
"""

import dataclasses
import json
import os
import socket
from types import MappingProxyType

from . import contract
from .errors import JobError


def _read_json(path, default=None):
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
    hyperparameters: MappingProxyType
    input_data_config: MappingProxyType
    resource_config: MappingProxyType
    checkpoint_dir: str
    num_gpus: int
    num_cpus: int

    @classmethod
    def from_base_dir(cls, base_dir=None, environ=None):
        environ = os.environ if environ is None else environ
        base_dir = base_dir or environ.get(contract.BASE_DIR_ENV, contract.DEFAULT_BASE_DIR)
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
            num_cpus=int(environ.get(contract.NUM_CPUS_ENV, os.cpu_count() or 1)),
        )

    def _path(self, relative):
        return os.path.join(self.base_dir, relative)

    @property
    def model_dir(self):
        return self._path(contract.MODEL_DIR)

    @property
    def output_data_dir(self):
        return self._path(contract.OUTPUT_DATA_DIR)

    @property
    def failure_file(self):
        return self._path(contract.FAILURE_FILE)

    @property
    def input_data_dir(self):
        return self._path(contract.INPUT_DATA_DIR)

    @property
    def channel_dirs(self):
        """Channel name -> folder, for the channels inputdataconfig.json declares, or else those on disk."""
        names = list(self.input_data_config)
        if not names and os.path.isdir(self.input_data_dir):
            names = sorted(n for n in os.listdir(self.input_data_dir)
                           if os.path.isdir(os.path.join(self.input_data_dir, n)))
        return {name: os.path.join(self.input_data_dir, name) for name in names}

    @property
    def current_host(self):
        return self.resource_config.get("current_host") or socket.gethostname()

    @property
    def hosts(self):
        return sorted(self.resource_config.get("hosts") or [self.current_host])


def _count_gpus(environ):
    if contract.NUM_GPUS_ENV in environ:
        return int(environ[contract.NUM_GPUS_ENV])
    import mxnet as mx  # deferred: only the training path needs MXNet loaded

    return mx.context.num_gpus()
