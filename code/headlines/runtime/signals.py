"""SIGTERM handling: SageMaker sends it on StopTrainingJob, MaxRuntime and spot interruption, then SIGKILL
120 s later. During training the loop finishes its batch, saves a checkpoint and stops; before training
starts there is nothing worth saving, so the job stops at once."""

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Self

from ..errors import TrainingInterrupted

logger = logging.getLogger(__name__)


class StopSignal:
    def __init__(self) -> None:
        self.requested = False
        self._checkpointing = False

    def install(self) -> Self:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        logger.warning(
            "SIGTERM received: %s",
            "finishing the batch, then saving a checkpoint" if self._checkpointing else "stopping",
        )
        self.requested = True
        if not self._checkpointing:
            raise TrainingInterrupted()

    @contextlib.contextmanager
    def checkpointing(self) -> Iterator[Self]:
        """While inside, SIGTERM only sets `requested`: the training loop checks it between batches."""
        self._checkpointing = True
        try:
            yield self
        finally:
            self._checkpointing = False
