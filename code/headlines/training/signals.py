"""SIGTERM handling: SageMaker sends it on StopTrainingJob, MaxRuntime and spot interruption, then SIGKILL
120 s later. During training the loop finishes its batch, saves a checkpoint and stops; before training
starts there is nothing worth saving, so the job stops at once."""

import contextlib
import logging
import signal

from ..errors import TrainingInterrupted

logger = logging.getLogger(__name__)


class StopSignal:
    def __init__(self):
        self.requested = False
        self._checkpointing = False

    def install(self):
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        logger.warning(
            "SIGTERM received: %s",
            "finishing the batch, then saving a checkpoint" if self._checkpointing else "stopping",
        )
        self.requested = True
        if not self._checkpointing:
            raise TrainingInterrupted()

    @contextlib.contextmanager
    def checkpointing(self):
        """While inside, SIGTERM only sets `requested`: the training loop checks it between batches."""
        self._checkpointing = True
        try:
            yield self
        finally:
            self._checkpointing = False
