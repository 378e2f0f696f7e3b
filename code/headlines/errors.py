"""Errors that end a job with a reason a person can act on."""


class JobError(Exception):
    """A problem with the job's input or configuration: the message is the failure reason, as is."""


class TrainingInterrupted(Exception):
    """SIGTERM arrived (StopTrainingJob, MaxRuntime, spot interruption)."""

    def __init__(self, checkpoint_dir: str | None = None) -> None:
        self.checkpoint_dir = checkpoint_dir
        where = f"; a checkpoint was saved to {checkpoint_dir}" if checkpoint_dir else ""
        super().__init__(f"Training was stopped by SIGTERM{where}.")
