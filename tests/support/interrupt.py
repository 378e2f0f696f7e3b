"""Landing a SIGTERM in a job's second epoch, for the checkpoint-and-resume tests (unit and container)."""

import re

# A cnn wide enough that an epoch of 1,080 rows in batches of 4 lasts about a second on a 2-core machine: numpy's
# steps ran the tests' narrow cnn (16 dims, 8 filters) through three epochs in 0.3 s, before any SIGTERM landed.
WIDE_CNN = {"architecture": "cnn", "embedding_dim": 128, "num_filters": 128}


def half_an_epoch(log: str, epoch: int = 1) -> float:
    """Half the epoch's logged seconds: how long to wait after its line to be in the middle of the next."""
    found = re.search(rf"epoch={epoch} .*epoch_seconds=([0-9.]+)", log)
    assert found, f"no epoch {epoch} in the log"
    return float(found.group(1)) / 2


def start_of_the_refit(log: str) -> int | None:
    """Where in the log the refit's training begins (its "training (...)" line), or None before it does."""
    refit = log.find("refit: a new model")
    if refit < 0:
        return None
    training = log.find("training (", refit)
    return training if training >= 0 else None
