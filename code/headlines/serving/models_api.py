"""The requests of the /models routes (SageMaker's multi-model contract, app.py): Load Model bodies, and the List
Models pages' size and next_page_token."""

import json
import os
from base64 import b64decode, urlsafe_b64encode

from werkzeug.exceptions import BadRequest

from .. import contract
from .codecs import json_kind


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


def parse_load_request(body: bytes) -> tuple[str, str]:
    """(model_name, url) of a Load Model body, {"model_name": ..., "url": "/opt/ml/models/<name>/model"}; other
    fields are ignored, as Multi Model Server ignores those it does not know."""
    try:
        value = json.loads(body)
    except ValueError as e:
        raise BadRequest(f"The body is not valid JSON: {e}.") from None
    if not isinstance(value, dict):
        raise BadRequest(f'The body is {json_kind(value)}; expected {{"model_name": ..., "url": ...}}.')
    name, url = (value.get(field) for field in contract.LOAD_MODEL_FIELDS)
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise BadRequest(f'"model_name" must be a non-empty string without "/"; got {json.dumps(name)}.')
    if not isinstance(url, str) or not os.path.isabs(url):
        raise BadRequest(f'"url" must be the model folder\'s absolute path; got {json.dumps(url)}.')
    return name, url
