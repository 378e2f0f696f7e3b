"""Request bodies to headlines and predictions to response bodies, by MIME type.

Every problem with a body is a werkzeug HTTP error (400, 415, 406) whose description tells the caller what is
wrong and where (record number, line), so a client mistake never becomes a 5xx.

Requests                                    Responses (Accept)
  application/json       {"instances": [...], "top_k": k}, a list, or one string   {"predictions": [...]}
  application/jsonlines  a JSON string or {"headline"|"text": ...} a line           one prediction object a line
  text/csv               the first column of each row (RFC 4180), no header         label,probability a row
  text/plain             one headline a line

Without an Accept that names a type (none, or */*), SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (a batch transform job's
Accept) stands in for it; without that either, a JSON body is answered in JSON and a line-based one in JSON Lines,
one object per input record. top_k may also come from the X-Amzn-SageMaker-Custom-Attributes header (top_k=k).
"""

import codecs
import csv
import dataclasses
import io
import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import BadRequest, NotAcceptable, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.http import parse_accept_header

from .. import contract
from ..environment import RequestLimits

if TYPE_CHECKING:  # the codecs need nothing of the predictor at run time
    from .predictor import Prediction

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
TEXT = "text/plain"
# Other names clients use for JSON Lines.
_JSONLINES_ALIASES = ("application/x-jsonlines", "application/jsonl")
REQUEST_TYPES = contract.REQUEST_TYPES  # JSON, JSONLINES, CSV, TEXT
RESPONSE_TYPES = contract.RESPONSE_TYPES  # JSON, JSONLINES, CSV
HEADLINE_KEYS = ("headline", "text")
JSON_REQUEST_KEYS = ("instances", "top_k")
# The limits of a caller that gives none (the toolkit benchmark's handler): an endpoint's defaults.
DEFAULT_LIMITS = RequestLimits.from_environ({}, contract.DEFAULT_MAX_PAYLOAD_MB * 1024 * 1024)
# Codecs that decode bytes to text but are no charset a client means: "undefined" refuses every byte.
_REFUSED_CHARSETS = ("undefined",)
_DECODE_CHUNK = 1 << 16
# Items one json.dumps call encodes: a call holds the GIL throughout, and /ping's thread needs it within its 2 s
# (serving/worker.py). A million predictions in one call held it 4 s, in calls of 1,000 the longest hold was 0.26 s.
_JSON_ITEMS_PER_CALL = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")


class LimitExceeded(RequestEntityTooLarge):
    """A request over one of RequestLimits' limits; its description names the limit and its env var."""


@dataclasses.dataclass(frozen=True)
class ParsedRequest:
    headlines: list[str]
    top_k: int | None = None  # only a JSON object body can carry it


def _canonical(mimetype: str) -> str:
    return JSONLINES if mimetype in _JSONLINES_ALIASES else mimetype


def decode_text(body: bytes, charset: str | None, limits: RequestLimits = DEFAULT_LIMITS) -> str:
    """Bytes to str with the Content-Type's charset (UTF-8 when none is given; a UTF-8 BOM is dropped): a text
    encoding only, decoded a chunk at a time so that a body never becomes more than limits.body_chars characters."""
    charset = (charset or "utf-8").strip().lower()
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        codec = None
    if codec is None or not codec._is_text_encoding or codec.name in _REFUSED_CHARSETS:
        raise UnsupportedMediaType(f"The charset {charset!r} is not a supported text encoding; send UTF-8.")
    if codec.name == "utf-8":
        codec = codecs.lookup("utf-8-sig")
    decoder = codec.incrementaldecoder()
    parts, chars = [], 0
    try:
        for start in range(0, len(body) or 1, _DECODE_CHUNK):
            parts.append(decoder.decode(body[start : start + _DECODE_CHUNK], final=start + _DECODE_CHUNK >= len(body)))
            chars += len(parts[-1])
            if chars > limits.body_chars:
                raise LimitExceeded(
                    f"The body decodes to more than {limits.body_chars:,} characters, this endpoint's limit "
                    f"({contract.MAX_PAYLOAD_ENV})."
                )
    except UnicodeError:
        raise BadRequest(f"The body is not valid {charset}: {_decode_error(codec, body)}.") from None
    return "".join(parts)


def _decode_error(codec: codecs.CodecInfo, body: bytes) -> str:
    """Where and why body does not decode, from the whole body at once (a chunk's error knows only its chunk)."""
    try:
        codec.decode(body)
    except UnicodeDecodeError as e:
        return f"byte {e.start} cannot be decoded ({e.reason})"
    except UnicodeError as e:
        return str(e)
    return "it does not decode in chunks"


def check_text(value: str, where: str, limits: RequestLimits, max_chars: int, limit_env: str) -> str:
    """value, unless it is longer than max_chars (limit_env's limit), has a token over limits.token_chars, or holds
    a lone surrogate (a JSON \\ud800 escape without its pair), which is no character."""
    if len(value) > max_chars:
        raise LimitExceeded(
            f"{where} has {len(value):,} characters; this endpoint's limit is {max_chars:,} ({limit_env})."
        )
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise BadRequest(
            f"{where} holds a lone surrogate (U+{ord(surrogate.group()):04X}) at character {surrogate.start()}, "
            "which is no character; a JSON \\ud800-\\udfff escape must be a pair."
        )
    if max_chars > limits.token_chars:
        token = re.search(r"\S{%d,}" % (limits.token_chars + 1), value)
        if token:
            raise LimitExceeded(
                f"{where} has a token (characters between spaces) longer than {limits.token_chars:,} characters at "
                f"character {token.start()}; this endpoint's limit is {limits.token_chars:,} "
                f"({contract.MAX_TOKEN_CHARS_ENV})."
            )
    return value


def check_instances(count: int, limits: RequestLimits) -> None:
    """A request of count instances (headlines or words), refused above limits.instances."""
    if count > limits.instances:
        raise LimitExceeded(
            f"The body holds more than {limits.instances:,} instances, this endpoint's limit per request "
            f"({contract.MAX_INSTANCES_ENV}); send fewer per request."
        )


def _lines(text: str) -> list[str]:
    """Records of a line-based body: \\n or \\r\\n separated; one final line break is not an empty record."""
    if text.endswith("\n"):
        text = text[:-1]
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _headline(value: object, where: str, limits: RequestLimits) -> str:
    if isinstance(value, dict):
        keys = [key for key in HEADLINE_KEYS if key in value]
        if len(keys) != 1:
            raise BadRequest(f"{where} is an object without exactly one of the fields {' or '.join(HEADLINE_KEYS)}.")
        value = value[keys[0]]
    if not isinstance(value, str):
        raise BadRequest(f'{where} is {json_kind(value)}; expected a string or an object {{"headline": "..."}}.')
    return _non_empty(value, where, limits)


def _non_empty(headline: str, where: str, limits: RequestLimits) -> str:
    if not headline.strip():
        raise BadRequest(f"{where} is empty.")
    return check_text(headline, where, limits, limits.headline_chars, contract.MAX_HEADLINE_CHARS_ENV)


def parse_json(text: str, what: str = "The body") -> object:
    """JSON text's value; a 400 that says why for text that is not JSON or is nested too deep to parse."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise BadRequest(f"{what} is not valid JSON: {e}.") from None
    except RecursionError:
        raise BadRequest(f"{what} is JSON nested too deep; a request needs no more than a few levels.") from None


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def parse_top_k(value: object, where: str) -> int | None:
    """top_k from a query string (str) or a JSON field (int): a positive integer, or None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadRequest(f"{where} must be a positive integer, not '{value}'.") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{where} must be a positive integer, not {json.dumps(value)}.")
    return value


def custom_attribute(header: str | None, key: str) -> str | None:
    """The value of key (any case) in an X-Amzn-SageMaker-Custom-Attributes header of `key=value` pairs separated by
    ";" or ","; None when absent, "" when the key has no "=", a 400 when given twice; other keys are ignored."""
    values = [
        value.strip()
        for name, _, value in (pair.partition("=") for pair in re.split("[;,]", header or ""))
        if name.strip().lower() == key
    ]
    if len(values) > 1:
        raise BadRequest(
            f"The custom attribute {key} is given {len(values)} times in the {contract.CUSTOM_ATTRIBUTES_HEADER} "
            "header; give it once."
        )
    return values[0] if values else None


def attribute_where(key: str) -> str:
    """How an error message names a custom attribute."""
    return f"The custom attribute {key} in the {contract.CUSTOM_ATTRIBUTES_HEADER} header"


def check_top_k(top_k: int | None, num_labels: int) -> int | None:
    """top_k (or None), refused when the model has fewer labels."""
    if top_k is not None and top_k > num_labels:
        raise BadRequest(f"top_k is {top_k}, but the model knows only {num_labels} labels.")
    return top_k


def _decode_json(text: str, limits: RequestLimits) -> ParsedRequest:
    value = parse_json(text)
    top_k = None
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(JSON_REQUEST_KEYS))
        if unknown or "instances" not in value:
            raise BadRequest(
                'A JSON object body must be {"instances": [...]} with an optional "top_k"; '
                f"got the field(s) {', '.join(sorted(value)) or 'none'}."
            )
        top_k = parse_top_k(value.get("top_k"), 'The field "top_k"')
        value = value["instances"]
    if isinstance(value, str):
        return ParsedRequest([_non_empty(value, "The headline", limits)], top_k)
    if not isinstance(value, list):
        raise BadRequest(
            f"The JSON body is {json_kind(value)}; expected a list of headlines, one headline, "
            'or {"instances": [...]}.'
        )
    check_instances(len(value), limits)
    return ParsedRequest([_headline(item, f"Instance {i}", limits) for i, item in enumerate(value)], top_k)


def _decode_jsonlines(text: str, limits: RequestLimits) -> ParsedRequest:
    lines = _lines(text)
    check_instances(len(lines), limits)
    return ParsedRequest(
        [
            _headline(parse_json(line, f"Line {number}"), f"Line {number}", limits)
            for number, line in enumerate(lines, start=1)
        ]
    )


def _decode_csv(text: str, limits: RequestLimits) -> ParsedRequest:
    headlines: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            where = f"CSV row {reader.line_num}"
            if not row:
                raise BadRequest(f"{where} is empty.")
            check_instances(len(headlines) + 1, limits)
            headlines.append(_non_empty(row[0], where, limits))
    except csv.Error as e:
        raise BadRequest(f"The CSV body is malformed at line {reader.line_num}: {e}.") from None
    return ParsedRequest(headlines)


def _decode_text(text: str, limits: RequestLimits) -> ParsedRequest:
    lines = _lines(text)
    check_instances(len(lines), limits)
    return ParsedRequest([_non_empty(line, f"Line {number}", limits) for number, line in enumerate(lines, start=1)])


_DECODERS: dict[str, Callable[[str, RequestLimits], ParsedRequest]] = {
    JSON: _decode_json,
    JSONLINES: _decode_jsonlines,
    CSV: _decode_csv,
    TEXT: _decode_text,
}


def decode_request(
    body: bytes, mimetype: str, charset: str | None = None, limits: RequestLimits = DEFAULT_LIMITS
) -> ParsedRequest:
    """The headlines (and top_k, for JSON) in a request body, within limits (a 413 beyond them)."""
    decoder = _DECODERS.get(_canonical(mimetype))
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content-Type '{mimetype or '(none)'}' is not supported; send one of {', '.join(REQUEST_TYPES)}."
        )
    text = decode_text(body, charset, limits)
    if not text.strip():
        raise BadRequest("The body is empty: send at least one headline.")
    parsed = decoder(text, limits)
    if not parsed.headlines:
        raise BadRequest("The body holds no headlines.")
    return parsed


def default_response_type(mimetype: str) -> str:
    """What a body of this request type is answered in when nothing asks for a type: JSON for JSON, JSON Lines (one
    object per record, so that batch transform's output lines up with its input) for a line-based body."""
    return JSON if _canonical(mimetype) not in (JSONLINES, CSV, TEXT) else JSONLINES


def effective_accept(accept: MIMEAccept, default_accept: str | None = None) -> tuple[MIMEAccept, str]:
    """The Accept to answer and how to name it in an error: the request's, or default_accept (the value of
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT) when the request names no type (no Accept, or only */*)."""
    if default_accept and all(value.split(";")[0].strip() == "*/*" for value, _ in accept):
        return parse_accept_header(default_accept, MIMEAccept), f"{contract.DEFAULT_ACCEPT_ENV}={default_accept!r}"
    return accept, f"Accept '{accept}'"


def choose_response_type(accept: MIMEAccept, default: str = JSON, default_accept: str | None = None) -> str:
    """The response MIME type for a werkzeug MIMEAccept (default_accept standing in for one that names no type);
    default when the client accepts anything. Parameters such as charset=utf-8 do not keep a type from matching
    (werkzeug would demand the same parameters)."""
    accept, named = effective_accept(accept, default_accept)
    if not accept:
        return default
    offered = (default, *(t for t in RESPONSE_TYPES + _JSONLINES_ALIASES if t != default))  # a wildcard: default
    chosen = MIMEAccept([(value.split(";")[0].strip().lower(), quality) for value, quality in accept]).best_match(
        offered
    )
    if chosen is None:
        raise NotAcceptable(f"{named} matches no response type; ask for one of {', '.join(RESPONSE_TYPES)}.")
    return chosen


def json_body(items: Sequence[object], key: str | None = None) -> bytes:
    """json.dumps({key: items}) (or of items alone) in UTF-8, encoded _JSON_ITEMS_PER_CALL items a call."""
    pieces = (
        json.dumps(items[start : start + _JSON_ITEMS_PER_CALL], ensure_ascii=False)[1:-1]
        for start in range(0, len(items), _JSON_ITEMS_PER_CALL)
    )
    array = "[" + ", ".join(pieces) + "]"
    return (array if key is None else "{" + json.dumps(key) + ": " + array + "}").encode("utf-8")


def encode_response(predictions: Sequence["Prediction"], mimetype: str, top_k: int | None = None) -> bytes:
    """Predictions (dicts from Predictor) as a response body of the chosen type, in request order. A CSV row is
    `label,probability`, or the top_k `label,probability` pairs when top_k was asked for."""
    mimetype = _canonical(mimetype)
    if mimetype == JSON:
        return json_body(predictions, "predictions")
    # Line-based bodies end without a line break: batch transform's AssembleWith=Line adds one after each
    # mini-batch's response, and with a break of our own the assembled output would have an empty line per batch.
    if mimetype == JSONLINES:
        return "\n".join(json.dumps(p, ensure_ascii=False) for p in predictions).encode("utf-8")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for prediction in predictions:
        ranked = list(prediction["probabilities"].items())[: top_k or 1]
        writer.writerow([item for label, probability in ranked for item in (label, repr(probability))])
    return out.getvalue().removesuffix("\n").encode("utf-8")
