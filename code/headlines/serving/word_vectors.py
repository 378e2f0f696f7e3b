"""Serving the word-vector job's model folder, as the workshop deployed its BlazingText vectors.

    request   application/json  {"instances": ["awesome", "blazing"], "configuration": {"neighbours": 5}}
    response  application/json  [{"word": "awesome", "vector": [...], "source": "in_vocabulary",
                                  "neighbours": [{"word": ..., "similarity": ...}, ...]}, ...]

BlazingText answers an unknown word with zeros; from a fastText binary (`vectors.bin` with subwords) this answers
with the vector its character n-grams give, as fastText's get_word_vector does, and says so in "source"
(in_vocabulary, from_subwords, or missing: zeros). "neighbours" (optional) asks for that many nearest listed
words by cosine similarity; the X-Amzn-SageMaker-Custom-Attributes header's `neighbours=k` asks for it too, when the
body does not.
"""

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Literal, NotRequired, Self, TypedDict

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import BadRequest, NotAcceptable, UnsupportedMediaType

from .. import contract
from ..embeddings.fasttext_format import is_fasttext_binary
from ..embeddings.pretrained import BINARY_SUFFIXES, MISSING, PretrainedVectors, load_pretrained
from ..environment import RequestLimits
from ..files import list_files
from ..model_folder import WORD_VECTORS
from .codecs import (
    DEFAULT_LIMITS,
    JSON,
    LimitExceeded,
    check_instances,
    check_text,
    decode_text,
    effective_accept,
    json_kind,
    parse_json,
)
from .snapshots import WeightCopies

logger = logging.getLogger(__name__)

REQUEST_KEYS = ("instances", "configuration")
CONFIGURATION_KEYS = ("neighbours",)
# Beyond this a response is mostly neighbours; a client that wants the whole table should read vectors.txt.
MAX_NEIGHBOURS = 100


class Neighbour(TypedDict):
    word: str
    similarity: float  # cosine


class WordAnswer(TypedDict):
    """One word's answer; the response is a JSON list of them."""

    word: str
    vector: list[float]
    source: str  # IN_VOCABULARY, FROM_SUBWORDS or MISSING
    neighbours: NotRequired[list[Neighbour]]  # when the request asks for them


class WordVectorPredictor:
    """Vectors and nearest neighbours of words. Read-only numpy after loading, so threads share it safely."""

    kind: Literal["word-vectors"] = WORD_VECTORS  # a literal type: app.py tells the predictors apart by it

    def __init__(self, vectors: PretrainedVectors) -> None:
        self.vectors = vectors
        self.words = vectors.words
        table, _ = vectors.lookup(self.words)  # each listed word's full vector: its own row and its n-grams
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self._unit_table = table / np.where(norms > 0, norms, 1)

    @classmethod
    def load(cls, model_dir: str, copies: WeightCopies | None = None) -> Self:
        """The vectors of a word-vector model folder (vectors.bin preferred over vectors.txt, as the classifier's
        embeddings channel reads them). With copies, a fastText binary is mapped from the folder copies() gives
        (serving/snapshots.py), not from model_dir; the other formats are read whole."""
        binaries = [os.path.relpath(p, model_dir) for p in list_files(model_dir) if p.endswith(BINARY_SUFFIXES)]
        folder = model_dir
        if copies is not None and binaries:
            # The copies, not the model folder, are tested: a worker loading after the folder's .bin was rewritten in
            # place must still map the fastText binary the other workers map, not fall back to the text vectors.
            private = copies(binaries)
            if any(is_fasttext_binary(path) for path in list_files(private)):
                folder = private  # the fastText binary wins
        workdir = tempfile.mkdtemp(prefix="word-vectors-")  # for compressed files; the model folder is read-only
        try:
            return cls(load_pretrained(folder, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def answer(self, words: Sequence[str], neighbours: int | None = None) -> list[WordAnswer]:
        """One dict per word, in request order."""
        vectors, sources = self.vectors.lookup(words)
        rows: list[WordAnswer] = [
            {"word": word, "vector": vector.tolist(), "source": source}
            for word, vector, source in zip(words, vectors, sources)
        ]
        if neighbours:
            for row, vector, source in zip(rows, vectors, sources):
                row["neighbours"] = [] if source == MISSING else self._nearest(row["word"], vector, neighbours)
        return rows

    def _nearest(self, word: str, vector: np.ndarray, count: int) -> list[Neighbour]:
        similarities = self._unit_table @ (vector / np.linalg.norm(vector))
        # Only the count + 1 best are sorted (one may be the word itself): not the whole vocabulary per request.
        best = np.argpartition(-similarities, min(count, len(similarities) - 1))[: count + 1]
        order = best[np.argsort(-similarities[best], kind="stable")]
        nearest = [i for i in order if self.words[i] != word][:count]
        return [{"word": self.words[i], "similarity": float(similarities[i])} for i in nearest]

    def self_check(self) -> None:
        """One listed word's vector must be finite and of the model's dimension."""
        if not self.words:
            raise ValueError("the word vectors list no words")
        vector = self.answer(self.words[:1])[0]["vector"]
        if len(vector) != self.vectors.dim or not np.all(np.isfinite(vector)):
            raise ValueError(f"the vector of '{self.words[0]}' is not {self.vectors.dim} finite numbers")

    def describe(self) -> str:
        return f"{len(self.words)} words of dimension {self.vectors.dim} ({self.vectors.format})"


def decode_word_request(
    body: bytes,
    mimetype: str,
    charset: str | None = None,
    limits: RequestLimits = DEFAULT_LIMITS,
    default_neighbours: int | None = None,
) -> tuple[list[str], int | None]:
    """(words, neighbours or None) from a JSON request within limits, neighbours being default_neighbours when the
    body's configuration gives none; every mistake is a 4xx that says what is wrong."""
    if mimetype != JSON:
        raise UnsupportedMediaType(f"Content-Type '{mimetype or '(none)'}' is not supported here; send {JSON}.")
    value = parse_json(decode_text(body, charset, limits))
    if not isinstance(value, dict) or "instances" not in value or set(value) - set(REQUEST_KEYS):
        got = f"the field(s) {', '.join(sorted(value)) or 'none'}" if isinstance(value, dict) else json_kind(value)
        raise BadRequest(
            f'The body must be {{"instances": ["word", ...]}} with an optional "configuration"; got {got}.'
        )
    words = value["instances"]
    if not isinstance(words, list) or not words:
        raise BadRequest(f'"instances" must be a non-empty list of words; got {json_kind(words)}.')
    check_instances(len(words), limits)
    for index, word in enumerate(words):
        if not isinstance(word, str) or not word.strip():
            raise BadRequest(f"Instance {index} is {json_kind(word)}; expected a non-empty string.")
        check_text(word, f"Instance {index}", limits, limits.token_chars, contract.MAX_TOKEN_CHARS_ENV)
    neighbours = _neighbours(value.get("configuration"))
    if neighbours is None:
        neighbours = default_neighbours
    if neighbours and len(words) * neighbours > limits.neighbours:
        raise LimitExceeded(
            f"{len(words):,} words x {neighbours} neighbours is more than {limits.neighbours:,} neighbours, this "
            f"endpoint's limit per request ({contract.MAX_NEIGHBOURS_ENV}); ask for fewer words or neighbours."
        )
    return words, neighbours


def _neighbours(configuration: object) -> int | None:
    if configuration is None:
        return None
    if not isinstance(configuration, dict) or set(configuration) - set(CONFIGURATION_KEYS):
        allowed = ", ".join(CONFIGURATION_KEYS)
        raise BadRequest(f'"configuration" takes only {allowed}; got {json.dumps(configuration)}.')
    return parse_neighbours(configuration.get("neighbours"), '"neighbours"')


def parse_neighbours(count: object, where: str) -> int | None:
    """A neighbour count from the JSON configuration (int) or a custom attribute (str): 1 to MAX_NEIGHBOURS, or None
    when absent."""
    if count is None:
        return None
    if isinstance(count, str):
        try:
            count = int(count.strip())
        except ValueError:
            raise BadRequest(f"{where} must be a whole number from 1 to {MAX_NEIGHBOURS}; got {count!r}.") from None
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NEIGHBOURS:
        raise BadRequest(f"{where} must be a whole number from 1 to {MAX_NEIGHBOURS}; got {json.dumps(count)}.")
    return count


def check_accept(accept: MIMEAccept, default_accept: str | None = None) -> None:
    """Word vectors come as JSON only (default_accept stands in for an Accept that names no type)."""
    accept, named = effective_accept(accept, default_accept)
    if accept and accept.best_match([JSON]) is None:
        raise NotAcceptable(f"{named} does not allow {JSON}, the only response type for word vectors.")
