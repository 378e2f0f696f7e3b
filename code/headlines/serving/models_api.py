"""The requests of the /models routes (SageMaker's multi-model contract, app.py): Load Model bodies, and the List
Models pages' size and next_page_token."""

import json
import os
from base64 import b64decode, urlsafe_b64encode

from werkzeug.exceptions import BadRequest, NotFound

from .. import contract
from .codecs import json_kind, parse_json


def page_token(name: str) -> str:
    """An opaque next_page_token naming the last model of a page (base64url, without "=" for query strings)."""
    return urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def token_name(token: str) -> str:
    """The model a page_token names."""
    try:
        padded = token.encode("ascii") + b"=" * (-len(token) % 4)
        return b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except ValueError:
        raise BadRequest(
            f"{contract.NEXT_PAGE_TOKEN_PARAM}={token!r} is not a {contract.NEXT_PAGE_TOKEN_KEY} this endpoint gave."
        ) from None


def parse_page_size(value: str | None) -> int:
    """The `limit` query parameter: 1-100, 100 when absent."""
    if value is None:
        return contract.MAX_PAGE_SIZE
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= contract.MAX_PAGE_SIZE:
        raise BadRequest(f"{contract.PAGE_SIZE_PARAM} must be a whole number from 1 to {contract.MAX_PAGE_SIZE}.")
    return limit


def parse_load_request(body: bytes, models_dir: str) -> tuple[str, str]:
    """(model_name, url) of a Load Model body, {"model_name": ..., "url": "/opt/ml/models/<name>/model"}; other
    fields are ignored, as Multi Model Server ignores those it does not know. A url that is not a folder inside
    models_dir is a 404, the same whether it is elsewhere or not there."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"The body is not valid UTF-8: byte {e.start} cannot be decoded ({e.reason}).") from None
    value = parse_json(text)
    if not isinstance(value, dict):
        raise BadRequest(f'The body is {json_kind(value)}; expected {{"model_name": ..., "url": ...}}.')
    name, url = (value.get(field) for field in contract.LOAD_MODEL_FIELDS)
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= contract.MAX_MODEL_NAME_CHARS
        or not name.isprintable()
        or name[0].isspace()
        or "/" in name
    ):
        raise BadRequest(
            f'"model_name" must be 1 to {contract.MAX_MODEL_NAME_CHARS} printable characters, without "/" and not '
            f"starting with a space; got {json.dumps(name)[:200]}."
        )
    if not isinstance(url, str) or not url.isprintable() or not os.path.isabs(url):
        raise BadRequest(f'"url" must be the model folder\'s absolute path; got {json.dumps(url)[:200]}.')
    folder, root = os.path.realpath(url), os.path.realpath(models_dir)
    if not folder.startswith(root + os.sep) or not os.path.isdir(folder):
        raise NotFound(f"There is no model folder at {url} in {models_dir}, where SageMaker places the models.")
    return name, url
