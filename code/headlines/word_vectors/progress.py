"""Progress lines of the word-vector job: words/s, share done, ETA and the recent loss, every
PROGRESS_LOG_SECONDS and after every epoch; a diverged loss ends the job, the vectors would be garbage."""

import logging
import math
import time
from collections.abc import Callable, Mapping

from ..errors import JobError
from ..hyperparameters import WordVectorHyperparameters

logger = logging.getLogger(__name__)

PROGRESS_LOG_SECONDS = 10  # the issue asks for at most 30
# A loss this many times that of untrained vectors means the updates overshoot: stop rather than write garbage.
DIVERGED_LOSS_FACTOR = 10


class ProgressLog:
    def __init__(
        self,
        total_tokens: int,
        hyperparameters: WordVectorHyperparameters,
        advice: str = "",
        done: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """advice: what else to lower when the loss diverges, after the learning rate."""
        self.total_tokens = total_tokens
        self.hp = hyperparameters
        self.advice = advice
        self.clock = clock
        # The loss a positive costs while output rows are zero, as they start: log 2 for it and each negative.
        self._untrained_loss = (1 + hyperparameters.negative_samples) * math.log(2)
        self.started = self._last = clock()
        self.resumed_at = self.done = done
        self._loss, self._positives = 0.0, 0

    def add(self, tokens: int, loss: float, positives: int) -> None:
        self.done += tokens
        self._loss += loss
        self._positives += positives
        if self.clock() - self._last >= PROGRESS_LOG_SECONDS:
            self.log()

    @property
    def words_per_second(self) -> float:
        elapsed = self.clock() - self.started
        return (self.done - self.resumed_at) / elapsed if elapsed > 0 else 0.0

    def log(self) -> None:
        speed = self.words_per_second
        eta = (self.total_tokens - self.done) / speed if speed else float("nan")
        loss = self._loss / max(1, self._positives)
        if not loss <= DIVERGED_LOSS_FACTOR * self._untrained_loss:  # NaN included
            raise JobError(
                f"Training diverged: the loss became {loss} after {self.done} words. Lower "
                f"learning_rate (now {self.hp.learning_rate}){self.advice}."
            )
        logger.info(
            "progress=%.1f%% words=%d words_per_second=%.0f loss=%.6f eta_seconds=%.0f",
            100 * self.done / self.total_tokens,
            self.done,
            speed,
            loss,
            eta,
        )
        self._loss, self._positives, self._last = 0.0, 0, self.clock()


def log_epoch(row: Mapping[str, float]) -> None:
    logger.info(
        "epoch=%d loss=%.6f words_per_second=%.0f epoch_seconds=%.3f",
        row["epoch"],
        row["loss"],
        row["words_per_second"],
        row["epoch_seconds"],
    )
