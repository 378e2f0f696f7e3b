"""The training image's hyperparameters: one typed schema per job with defaults, parsing from SageMaker's strings,
and validation messages that name the bad key and list the valid ones.

`mode` picks the job, with BlazingText's names: `supervised` (the default) trains the headline classifier
(`Hyperparameters`); `skipgram`, `cbow` and `batch_skipgram` pre-train word vectors (`WordVectorHyperparameters`,
BlazingText's word2vec hyperparameters and defaults).
"""

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, Self, TypeVar, cast

from . import architectures, contract
from .errors import JobError

SUPERVISED = "supervised"
WORD_VECTOR_MODES = ("skipgram", "cbow", "batch_skipgram")
MODES = (SUPERVISED,) + WORD_VECTOR_MODES
MODE_KEY = "mode"
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "linear")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Parser(Protocol[T_co]):
    """A field's parser: a hyperparameters.json value (a string, or what _unquote made of it) to the field's value,
    ValueError or TypeError when it is not one; `expects` says what it accepts, for messages and --help."""

    expects: str

    def __call__(self, value: object, /) -> T_co: ...


def _expecting(expects: str) -> Callable[[Callable[[object], T]], Parser[T]]:
    """Decorator: the parse function, with `expects` set on it."""

    def describe(parse: Callable[[object], T]) -> Parser[T]:
        setattr(parse, "expects", expects)  # a function attribute, which mypy cannot follow on a Callable
        return cast(Parser[T], parse)

    return describe


def _int(minimum: int, maximum: int | None = None) -> Parser[int]:
    upper = f" and at most {maximum}" if maximum is not None else ""

    @_expecting(f"an integer of at least {minimum}{upper}")
    def parse(value: object) -> int:
        number = int(str(value).strip())
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError
        return number

    return parse


def _float(minimum: float, maximum: float, include_minimum: bool = True, include_maximum: bool = True) -> Parser[float]:
    @_expecting(f"a number in {'[' if include_minimum else '('}{minimum}, {maximum}{']' if include_maximum else ')'}")
    def parse(value: object) -> float:
        number = float(str(value).strip())
        low_ok = number >= minimum if include_minimum else number > minimum
        high_ok = number <= maximum if include_maximum else number < maximum
        if not (low_ok and high_ok) or number != number:
            raise ValueError
        return number

    return parse


def _choice(*options: str) -> Parser[str]:
    @_expecting("one of " + ", ".join(options))
    def parse(value: object) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError
        return text

    return parse


@_expecting("true or false")
def _bool(value: object) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


@_expecting("a comma-separated list of positive integers, such as 3,4,5")
def _int_list(value: object) -> tuple[int, ...]:
    numbers = tuple(int(part) for part in str(value).replace(" ", "").strip("[]()").split(",") if part)
    if not numbers or any(n < 1 for n in numbers):
        raise ValueError
    return numbers


def _optional(parse: Parser[T]) -> Parser[T | None]:
    @_expecting(parse.expects + ", or auto")
    def parse_optional(value: object) -> T | None:
        return None if str(value).strip().lower() in ("", "none", "auto") else parse(value)

    return parse_optional


def _field(default: T, parse: Parser[T], help: str) -> T:
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


class _Schema:
    """Parsing shared by the job schemas: every field declares its parser and help in its metadata."""

    # Declared for the type checker only (no values here): every schema is a dataclass, names its mode(s) and the
    # other jobs' hyperparameter names it explains, and has the character n-gram bounds check() compares.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    mode_names: ClassVar[str]
    foreign_names: ClassVar[dict[str, str]]
    min_char: int
    max_char: int

    @classmethod
    def from_strings(cls, raw: Mapping[str, object]) -> Self:
        """Parse SageMaker's hyperparameters.json (all values strings); unknown or malformed keys fail."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for key, value in raw.items():
            if (
                key.startswith(contract.SAGEMAKER_HYPERPARAMETER_PREFIX)
                or key == contract.TUNING_OBJECTIVE_HYPERPARAMETER
            ):
                continue
            if key not in fields:
                hint = cls.foreign_names.get(key, "")
                raise JobError(
                    f"Unknown hyperparameter '{key}' for mode {cls.mode_names}{hint}. "
                    f"Valid hyperparameters: {', '.join(fields)}."
                )
            parse = fields[key].metadata["parse"]
            try:
                values[key] = parse(_unquote(value))
            except (TypeError, ValueError):
                raise JobError(
                    f"Hyperparameter '{key}' must be {parse.expects}; got {value!r}. "
                    f"Valid hyperparameters: {', '.join(fields)}."
                ) from None
        hyperparameters = cls(**values)
        hyperparameters.check()
        return hyperparameters

    def check(self) -> None:
        """Rules across fields; a field's own range is checked by its parser."""
        if self.min_char > self.max_char > 0:
            raise JobError(f"Hyperparameter 'min_char' ({self.min_char}) must not exceed 'max_char' ({self.max_char}).")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str, str]]:
        """(name, default as the job reads it, expects, help) rows, for --help and markdown_table()."""
        return [
            (f.name, format_default(f.default), f.metadata["parse"].expects, f.metadata["help"])
            for f in dataclasses.fields(cls)
        ]

    @classmethod
    def markdown_table(cls) -> str:
        """The documentation's table of these hyperparameters (docs/training.md, docs/word-vectors.md)."""
        rows = ["| name | default | accepts | meaning |", "|---|---|---|---|"]
        rows += [f"| `{name}` | `{default}` | {expects} | {help} |" for name, default, expects, help in cls.describe()]
        return "\n".join(rows)


def format_default(value: object) -> str:
    """A default as it would be written in hyperparameters.json: None is auto, booleans are lower case, lists are
    comma-separated."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Hyperparameters(_Schema):
    """mode=supervised: the headline classifier."""

    mode_names = SUPERVISED
    foreign_names = {
        **{
            name: f" (BlazingText's '{name}' applies to modes {', '.join(WORD_VECTOR_MODES)} only)"
            for name in ("window_size", "negative_samples", "sampling_threshold", "subwords", "evaluation")
        },
        "vector_dim": " (BlazingText's 'vector_dim' is 'embedding_dim' here)",
        "buckets": " (BlazingText's 'buckets' is 'ngram_buckets' here)",
        "early_stopping": " (early stopping is on by default here; 'early_stopping_patience' 0 turns it off)",
        "patience": " (BlazingText's 'patience' is 'early_stopping_patience' here)",
        "min_epochs": " (not supported: early stopping may stop after any epoch; set early_stopping_patience 0 "
        "to train all epochs)",
    }

    mode: str = _field(SUPERVISED, _choice(SUPERVISED), "supervised: train the headline classifier")
    architecture: str = _field(
        architectures.DEFAULT.name,
        _choice(*architectures.NAMES),
        "; ".join(f"{a.name}: {a.summary}" for a in architectures.ARCHITECTURES.values()),
    )
    epochs: int = _field(20, _int(1), "maximum number of passes over the training data")
    batch_size: int = _field(64, _int(1), "headlines per optimizer step, summed over all devices")
    optimizer: str | None = _field(
        None,
        _optional(_choice(*OPTIMIZERS)),
        "gradient descent flavour; auto: sgd, as fastText, for a fasttext model started from pretrained vectors with "
        "too few validation rows to pick epochs on, else adam (docs/training.md, 'At every scale')",
    )
    learning_rate: float | None = _field(
        None,
        _optional(_float(0, 100, include_minimum=False)),
        "initial step size; auto: for adam "
        + ", ".join(f"{a.name} {a.default_learning_rate}" for a in architectures.ARCHITECTURES.values())
        + ", or with too few validation rows to pick epochs on "
        + ", ".join(f"{a.name} {a.few_rows_learning_rate}" for a in architectures.ARCHITECTURES.values())
        + "; for sgd fastText's 0.1 per headline times batch_size",
    )
    lr_schedule: str | None = _field(
        None,
        _optional(_choice(*LR_SCHEDULES)),
        "linear: decay the learning rate linearly to 0 over all epochs, as fastText does; auto: linear when "
        "validation is too small to pick epochs on (and one host), else constant",
    )
    weight_decay: float = _field(0.0, _float(0, 1), "L2 penalty")
    embedding_dim: int | None = _field(
        None, _optional(_int(1, 4096)), "embedding width; auto: the pretrained vectors' width, else 100"
    )
    freeze_embedding_epochs: int = _field(
        0, _int(0), "keep the (pretrained) word embeddings fixed for this many epochs, then fine-tune them"
    )
    min_count: int = _field(1, _int(1), "words seen fewer times in train become <unk>")
    pretrained_words: int = _field(
        100_000,
        _int(0),
        "words of the embeddings channel's vectors (most frequent first) added to the vocabulary, so that words "
        "train lacks keep their pretrained vectors (fastText adds them all); 0: the vocabulary of train alone",
    )
    max_length: int = _field(64, _int(1), "tokens kept per headline")
    lowercase: bool = _field(True, _bool, "lower-case text before tokenizing")
    word_ngrams: int = _field(2, _int(1, 5), "fasttext: longest word n-gram hashed into extra embeddings")
    min_char: int = _field(3, _int(0, 20), "fasttext: shortest character n-gram of a word (0: none)")
    max_char: int = _field(6, _int(0, 20), "fasttext: longest character n-gram of a word (0: none)")
    ngram_buckets: int = _field(200000, _int(1), "fasttext: hash buckets shared by word n-grams and character n-grams")
    num_filters: int = _field(100, _int(1), "cnn: filters per kernel width")
    kernel_sizes: tuple[int, ...] = _field((1, 2, 3), _int_list, "cnn: convolution widths")
    dropout: float = _field(0.5, _float(0, 1, include_maximum=False), "cnn: dropout before the output layer")
    early_stopping_patience: int = _field(
        3, _int(0), "stop after this many epochs without a better validation accuracy (0: never stop early)"
    )
    validation_fraction: float = _field(
        0.1,
        _float(0, 1, include_minimum=False, include_maximum=False),
        "share of train held out for validation when there is no validation channel",
    )
    refit: bool = _field(
        True,
        _bool,
        "after the epoch is picked on validation held out of train, train the model again on all of train for "
        "that many epochs, the held-out rows included (docs/training.md, 'Refit')",
    )
    max_bad_row_fraction: float = _field(
        0.01, _float(0, 1), "fail the job when a channel has more malformed rows than this share"
    )
    seed: int = _field(42, _int(0), "seeds the split, initialisation, shuffling and dropout")

    @property
    def char_ngrams(self) -> tuple[int, ...]:
        """Character n-gram lengths of the fasttext architecture, as fastText's -minn/-maxn give them."""
        if self.min_char == 0 or self.max_char == 0:
            return ()
        return tuple(range(self.min_char, self.max_char + 1))


@dataclasses.dataclass(frozen=True)
class WordVectorHyperparameters(_Schema):
    """mode=skipgram|cbow|batch_skipgram: word vectors, fastText-style, with BlazingText's word2vec
    hyperparameters and defaults (SageMaker Developer Guide, "BlazingText Hyperparameters")."""

    mode_names = "/".join(WORD_VECTOR_MODES)
    foreign_names = {
        name: f" (BlazingText uses '{name}' in supervised mode only)"
        for name in ("word_ngrams", "early_stopping", "patience", "min_epochs")
    }

    mode: str = _field(
        "skipgram",
        _choice(*WORD_VECTOR_MODES),
        "skipgram: a word predicts each word around it; cbow: the words around predict the "
        "word; batch_skipgram: skip-gram where the pairs of one centre word share negative samples",
    )
    epochs: int = _field(5, _int(1), "passes over the corpus")
    min_count: int = _field(5, _int(1), "words seen fewer times are dropped")
    sampling_threshold: float = _field(
        0.0001,
        _float(0, 1, include_minimum=False),
        "frequent words are down-sampled: a word of frequency f is kept with probability sqrt(t/f) + t/f",
    )
    learning_rate: float = _field(
        0.05, _float(0, 10, include_minimum=False), "initial step size, decayed linearly to 0 over all epochs"
    )
    window_size: int = _field(
        5,
        _int(1, 100),
        "largest distance between a word and a context word; each word draws its window from 1..window_size",
    )
    vector_dim: int = _field(100, _int(1, 4096), "width of the word vectors")
    negative_samples: int = _field(5, _int(1, 100), "negative examples per positive one")
    batch_size: int = _field(
        11,
        _int(1, 256),
        "batch_skipgram: context words of one centre word trained together, against the centre and shared negatives",
    )
    subwords: bool = _field(False, _bool, "learn character n-gram vectors too, so unseen words get vectors")
    min_char: int = _field(3, _int(1, 20), "subwords: shortest character n-gram")
    max_char: int = _field(6, _int(1, 20), "subwords: longest character n-gram")
    buckets: int = _field(2000000, _int(1, 100_000_000), "subwords: hash buckets for character n-grams")
    evaluation: bool = _field(
        True,
        _bool,
        "score the vectors on the word pairs of the 'evaluation' channel (WordSim-353 layout) into eval.json",
    )
    update_tokens: int = _field(
        1024,
        _int(16, 1_000_000),
        "GPU instances: corpus tokens per parameter update (the MXNet mini-batch): updates of one step "
        "are summed, so frequent words take big steps; above ~4096 the default rate can diverge",
    )
    checkpoint_seconds: int = _field(
        300,
        _int(0),
        "seconds between checkpoints in /opt/ml/checkpoints (also written on SIGTERM; 0: on SIGTERM only); "
        "a restarted job resumes from the last one",
    )
    seed: int = _field(42, _int(0), "seeds sub-sampling, windows, negative samples and initialisation")

    @property
    def char_ngrams(self) -> tuple[int, ...]:
        return tuple(range(self.min_char, self.max_char + 1)) if self.subwords else ()


def job_mode(raw: Mapping[str, object]) -> str:
    """The `mode` of a hyperparameters.json; supervised when absent."""
    value = _unquote(raw.get(MODE_KEY, SUPERVISED))
    try:
        return _choice(*MODES)(value)
    except ValueError:
        raise JobError(f"Hyperparameter 'mode' must be one of {', '.join(MODES)}; got {value!r}.") from None


def parse_hyperparameters(raw: Mapping[str, object]) -> Hyperparameters | WordVectorHyperparameters:
    """The typed hyperparameters of the job that `mode` selects."""
    schema = Hyperparameters if job_mode(raw) == SUPERVISED else WordVectorHyperparameters
    return schema.from_strings(raw)


def _unquote(value: object) -> object:
    # The SDK's framework estimators JSON-encode every value ('"cnn"', '3'); plain estimators send str(value).
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


if __name__ == "__main__":
    for schema in (Hyperparameters, WordVectorHyperparameters):
        print(f"mode {schema.mode_names}:\n{schema.markdown_table()}\n")
