"""The learning-rate schedule both jobs share."""


def linear_decay(initial_rate: float, done: float, total: float) -> float:
    """fastText's schedule: the rate falls linearly from initial_rate to 0 as `done` goes from 0 to `total` (never
    below 0); a pure function of progress, so a run resumed from a checkpoint gets the same rates."""
    return initial_rate * max(0.0, 1.0 - done / total)
