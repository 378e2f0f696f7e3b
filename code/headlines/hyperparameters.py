"""The training job's hyperparameters: one typed schema with defaults, parsing from SageMaker's strings,
and validation messages that name the bad key and list the valid ones."""

import dataclasses
import json

from . import contract
from .errors import JobError

ARCHITECTURES = ("fasttext", "cnn")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "linear")
# Tuned on the UCI News Aggregator story split (README, "Measured"); each architecture wants its own rate.
DEFAULT_LEARNING_RATES = {"fasttext": 0.01, "cnn": 0.001}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _int(minimum, maximum=None):
    def parse(value):
        number = int(str(value).strip())
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError
        return number

    upper = f" and at most {maximum}" if maximum is not None else ""
    parse.expects = f"an integer of at least {minimum}{upper}"
    return parse


def _float(minimum, maximum, include_minimum=True, include_maximum=True):
    def parse(value):
        number = float(str(value).strip())
        low_ok = number >= minimum if include_minimum else number > minimum
        high_ok = number <= maximum if include_maximum else number < maximum
        if not (low_ok and high_ok) or number != number:
            raise ValueError
        return number

    parse.expects = (f"a number in {'[' if include_minimum else '('}{minimum}, "
                     f"{maximum}{']' if include_maximum else ')'}")
    return parse


def _choice(*options):
    def parse(value):
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError
        return text

    parse.expects = "one of " + ", ".join(options)
    return parse


def _bool(value):
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


_bool.expects = "true or false"


def _int_list(value):
    numbers = tuple(int(part) for part in str(value).replace(" ", "").strip("[]()").split(",") if part)
    if not numbers or any(n < 1 for n in numbers):
        raise ValueError
    return numbers


_int_list.expects = "a comma-separated list of positive integers, such as 3,4,5"


def _optional(parse):
    def parse_optional(value):
        return None if str(value).strip().lower() in ("", "none", "auto") else parse(value)

    parse_optional.expects = parse.expects + ", or auto"
    return parse_optional


def _field(default, parse, help):
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    architecture: str = _field("fasttext", _choice(*ARCHITECTURES),
                               "fasttext: mean of the embeddings of words, word n-grams and character n-grams -> linear; "
                               "cnn: 1-D convolutions of several widths, max-over-time pooling, dropout")
    epochs: int = _field(20, _int(1), "maximum number of passes over the training data")
    batch_size: int = _field(64, _int(1), "headlines per optimizer step, summed over all devices")
    optimizer: str = _field("adam", _choice(*OPTIMIZERS), "gradient descent flavour")
    learning_rate: float = _field(None, _optional(_float(0, 10, include_minimum=False)),
                                  "step size; auto: 0.01 for fasttext, 0.001 for cnn")
    lr_schedule: str = _field("constant", _choice(*LR_SCHEDULES),
                              "linear: decay the learning rate linearly to 0 over all epochs, as fastText does")
    weight_decay: float = _field(0.0, _float(0, 1), "L2 penalty")
    embedding_dim: int = _field(None, _optional(_int(1, 4096)),
                                "embedding width; auto: the pretrained vectors' width, else 100")
    freeze_embedding_epochs: int = _field(0, _int(0),
                                          "keep the (pretrained) word embeddings fixed for this many epochs, "
                                          "then fine-tune them")
    min_count: int = _field(1, _int(1), "words seen fewer times in train become <unk>")
    max_length: int = _field(64, _int(1), "tokens kept per headline")
    lowercase: bool = _field(True, _bool, "lower-case text before tokenizing")
    word_ngrams: int = _field(2, _int(1, 5), "fasttext: longest word n-gram hashed into extra embeddings")
    min_char: int = _field(3, _int(0, 20), "fasttext: shortest character n-gram of a word (0: none)")
    max_char: int = _field(6, _int(0, 20), "fasttext: longest character n-gram of a word (0: none)")
    ngram_buckets: int = _field(200000, _int(1),
                                "fasttext: hash buckets shared by word n-grams and character n-grams")
    num_filters: int = _field(100, _int(1), "cnn: filters per kernel width")
    kernel_sizes: tuple = _field((3, 4, 5), _int_list, "cnn: convolution widths")
    dropout: float = _field(0.5, _float(0, 1, include_maximum=False), "cnn: dropout before the output layer")
    early_stopping_patience: int = _field(3, _int(0),
                                          "stop after this many epochs without a better validation accuracy "
                                          "(0: never stop early)")
    validation_fraction: float = _field(0.1, _float(0, 1, include_minimum=False, include_maximum=False),
                                        "share of train held out for validation when there is no "
                                        "validation channel")
    max_bad_row_fraction: float = _field(0.01, _float(0, 1),
                                         "fail the job when a channel has more malformed rows than this share")
    seed: int = _field(42, _int(0), "seeds the split, initialisation, shuffling and dropout")

    @classmethod
    def from_strings(cls, raw):
        """Parse SageMaker's hyperparameters.json (all values strings); unknown or malformed keys fail."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in raw.items():
            if key.startswith(contract.SAGEMAKER_HYPERPARAMETER_PREFIX):
                continue
            if key not in fields:
                raise JobError(f"Unknown hyperparameter '{key}'. Valid hyperparameters: {', '.join(fields)}.")
            parse = fields[key].metadata["parse"]
            try:
                values[key] = parse(_unquote(value))
            except (TypeError, ValueError):
                raise JobError(f"Hyperparameter '{key}' must be {parse.expects}; got {value!r}. "
                               f"Valid hyperparameters: {', '.join(fields)}.") from None
        hyperparameters = cls(**values)
        if hyperparameters.min_char > hyperparameters.max_char > 0:
            raise JobError(f"Hyperparameter 'min_char' ({hyperparameters.min_char}) must not exceed 'max_char' "
                           f"({hyperparameters.max_char}).")
        return hyperparameters

    @property
    def char_ngrams(self):
        """Character n-gram lengths of the fasttext architecture, as fastText's -minn/-maxn give them."""
        if self.min_char == 0 or self.max_char == 0:
            return ()
        return tuple(range(self.min_char, self.max_char + 1))

    @property
    def effective_learning_rate(self):
        return self.learning_rate or DEFAULT_LEARNING_RATES[self.architecture]

    def as_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls):
        """(name, default, expects, help) rows, for the README and --help."""
        return [(f.name, f.default, f.metadata["parse"].expects, f.metadata["help"])
                for f in dataclasses.fields(cls)]


def _unquote(value):
    # The SDK's framework estimators JSON-encode every value ('"cnn"', '3'); plain estimators send str(value).
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
