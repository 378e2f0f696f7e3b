"""The classifier's architectures, each declared once: what the hyperparameters, the encoder and the network of an
architecture differ in. hyperparameters.py (names, default learning rates, help), classifier/job.py (the encoder's
inputs) and models.py (the network's block and its arguments) read these declarations; nothing else tests an
architecture's name.

No MXNet here: hyperparameters.py, which the `train` command imports before MXNet loads, needs this module.
"""

import dataclasses
from typing import Any, Protocol, TypedDict

# Subtracted from the cnn's convolution outputs of windows past a headline's end, so they never win the max-pool
# (models.py, and numpy_networks.py which serves the same network).
OUTSIDE_WINDOW_PENALTY = 1e4
# The shortest input of an architecture without convolutions: one id (an empty headline is padded to one).
_ANY_LENGTH = 1


class ClassifierHyperparameters(Protocol):
    """What an architecture reads of the classifier's hyperparameters: hyperparameters.Hyperparameters, which
    imports this module."""

    @property
    def kernel_sizes(self) -> tuple[int, ...]: ...

    @property
    def num_filters(self) -> int: ...

    @property
    def dropout(self) -> float: ...

    @property
    def word_ngrams(self) -> int: ...

    @property
    def ngram_buckets(self) -> int: ...

    @property
    def char_ngrams(self) -> tuple[int, ...]: ...


class EncoderOptions(TypedDict):
    """The TextEncoder arguments that depend on the architecture (encoder_options)."""

    word_ngrams: int
    ngram_buckets: int
    char_ngrams: tuple[int, ...]
    min_length: int


@dataclasses.dataclass(frozen=True)
class Architecture:
    name: str
    summary: str  # the `architecture` hyperparameter's help
    # Tuned on the UCI News Aggregator story split (docs/benchmarks.md); each architecture wants its own rate.
    default_learning_rate: float
    # Adam's rate where too few validation rows pick no epoch and every epoch runs at a rate decaying to 0 (a few
    # hundred labelled headlines: ~100-300 steps in all). A cnn's convolutions barely leave their random start at
    # its default rate over so few steps: three times the rate and three times the epochs gained the same there
    # (docs/training.md, 'At every scale'); a fasttext model's rows gained nothing from a higher one.
    few_rows_learning_rate: float
    # fastText's input: the encoder appends hashed word n-grams and character n-grams to a headline's word ids.
    hashed_ngrams: bool
    # Convolutions over the word embeddings: an input needs at least the widest kernel's number of ids, and the
    # network takes the kernel_sizes, num_filters and dropout hyperparameters.
    convolutional: bool

    def min_input_length(self, hyperparameters: ClassifierHyperparameters) -> int:
        """Shortest id sequence the network accepts (a convolution needs at least its width)."""
        return max(hyperparameters.kernel_sizes) if self.convolutional else _ANY_LENGTH

    def encoder_options(self, hyperparameters: ClassifierHyperparameters) -> EncoderOptions:
        """The TextEncoder arguments that depend on the architecture."""
        hp = hyperparameters
        return {
            "word_ngrams": hp.word_ngrams if self.hashed_ngrams else 1,
            "ngram_buckets": hp.ngram_buckets if self.hashed_ngrams else 0,
            "char_ngrams": hp.char_ngrams if self.hashed_ngrams else (),
            "min_length": self.min_input_length(hp),
        }

    def block_options(self, hyperparameters: ClassifierHyperparameters) -> dict[str, Any]:
        """The network block's arguments that come from hyperparameters (models.build_model)."""
        hp = hyperparameters
        if self.convolutional:
            return {"kernel_sizes": hp.kernel_sizes, "num_filters": hp.num_filters, "dropout": hp.dropout}
        return {}


FASTTEXT = Architecture(
    "fasttext",
    "mean of the embeddings of words, word n-grams and character n-grams -> linear",
    default_learning_rate=0.01,
    few_rows_learning_rate=0.01,
    hashed_ngrams=True,
    convolutional=False,
)
CNN = Architecture(
    "cnn",
    "1-D convolutions of several widths, max-over-time pooling, dropout",
    default_learning_rate=0.001,
    few_rows_learning_rate=0.003,
    hashed_ngrams=False,
    convolutional=True,
)
ARCHITECTURES = {architecture.name: architecture for architecture in (FASTTEXT, CNN)}
NAMES = tuple(ARCHITECTURES)
DEFAULT = FASTTEXT


def get(name: str) -> Architecture:
    """The declaration of the architecture called `name`; ValueError for a name that is none."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(NAMES)}") from None
