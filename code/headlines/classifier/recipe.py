"""How the classifier trains at the scale it is given: the optimizer, its rate and schedule, and whether the epoch
to keep is picked on validation. The job chooses once, the loop follows; docs/training.md explains each case.

- Validation large enough to tell epochs apart (MIN_SELECTION_ROWS): Adam at the architecture's rate, constant,
  early stopping and the best epoch kept. Adam's per-row step sizes learn the rarely seen embedding rows (most of
  the 200,000 n-gram buckets) that plain SGD barely moves.
- Fewer validation rows (a few hundred labelled headlines or less): nothing can be picked on them, so every epoch
  runs with the rate decayed linearly to 0 and the last is kept, as fastText does. With pretrained vectors under a
  fasttext model, the optimizer is fastText's too: SGD at its rate of 0.1 per headline. It moves the output layer
  fast and each pretrained row by a small share of a headline's gradient, so words seen in a few labelled headlines
  stay in line with the words only the vectors know; Adam gives every touched row a full-sized step, which pulls
  those few rows away from the rest. From random rows, SGD learns next to nothing with few labels: Adam stays, at
  the architecture's rate for few rows (a cnn's is higher: its few steps leave the convolutions near their start).

Every choice the user makes (optimizer, learning_rate, lr_schedule) wins over these defaults.
"""

import dataclasses

from .. import architectures
from ..hyperparameters import Hyperparameters

# Fewer validation rows than this cannot tell one epoch from the next: at 0.85 accuracy the standard error of an
# accuracy measured on 300 rows is 2 points, about what an epoch changes.
MIN_SELECTION_ROWS = 300
# fastText supervised's default -lr: the step of one headline. A batch's loss here is the mean over its headlines, so
# SGD's rate is this times the batch size.
FASTTEXT_RATE_PER_HEADLINE = 0.1


@dataclasses.dataclass(frozen=True)
class Recipe:
    optimizer: str  # an MXNet optimizer name: adam or sgd
    learning_rate: float  # the initial rate
    linear_decay: bool  # the rate falls linearly to 0 over all epochs (else it stays)
    select_on_validation: bool  # early stopping, the best validation epoch kept (else every epoch, the last kept)
    reason: str  # why, in a sentence, for the log and metrics.json

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def choose_recipe(hp: Hyperparameters, validation_rows: int, pretrained: bool, hosts: int) -> Recipe:
    """The recipe for a job of these hyperparameters, validation size, initialisation and number of hosts (on
    several, the parameter servers keep the rate they started with: no decay unless the user asked for it, which
    the job refuses)."""
    architecture = architectures.get(hp.architecture)
    select = validation_rows >= MIN_SELECTION_ROWS
    fasttext_way = not select and pretrained and architecture.hashed_ngrams
    optimizer = hp.optimizer or ("sgd" if fasttext_way else "adam")
    if hp.learning_rate is not None:
        rate = hp.learning_rate
    elif optimizer == "sgd":
        rate = FASTTEXT_RATE_PER_HEADLINE * hp.batch_size
    else:
        rate = architecture.default_learning_rate if select else architecture.few_rows_learning_rate
    decay = hp.lr_schedule == "linear" if hp.lr_schedule is not None else not select and hosts == 1
    if select:
        reason = f"validation has {validation_rows} rows: the epoch with the best validation accuracy is kept"
    else:
        reason = (
            f"validation has {validation_rows} rows, fewer than the {MIN_SELECTION_ROWS} it takes to tell epochs "
            f"apart: every epoch runs and the last is kept"
        )
    return Recipe(optimizer, rate, decay, select, reason)
