"""What the word-vector job hands to its CPU or its GPU training, in one object."""

import dataclasses

from ..environment import TrainingEnvironment
from ..hyperparameters import WordVectorHyperparameters
from ..runtime.signals import StopSignal
from .corpus import EncodedCorpus
from .dictionary import Dictionary


@dataclasses.dataclass(frozen=True)
class TrainingInputs:
    """The job's settings and its encoded corpus, ready to train on, as this host sees them."""

    env: TrainingEnvironment
    hp: WordVectorHyperparameters
    dictionary: Dictionary
    encoded: EncodedCorpus
    fingerprint: str  # what a checkpoint must have been written with to be resumed (job._fingerprint)
    stop_signal: StopSignal
