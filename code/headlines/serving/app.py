"""The Flask app of the SageMaker hosting and batch-transform contract: /ping, /invocations, /execution-parameters.
/invocations classifies headlines with a classifier's model folder, or answers word vectors with the word-vector
job's (serving/word_vectors.py). On a multi-model endpoint the /models routes load, list, invoke and unload models
instead (serving/multi_model.py), and /invocations is a 404 that says so.

Errors are JSON {"error": ..., "message": ...}: 4xx for anything the client can fix, 503 while no model is
loaded, 500 (logged with its trace) for our own bugs, which never take the worker down.

top_k (classifier) and neighbours (word vectors) may also come from the X-Amzn-SageMaker-Custom-Attributes header
(`top_k=3;neighbours=5`), the only place SageMaker lets a CSV, JSON Lines or text request set them; the body's or
the query string's value wins over the header's. An Accept that names no type gives way to
SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (a batch transform job's Accept), and then to the body's own kind (codecs.py).
"""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, ServiceUnavailable

from .. import contract
from ..model_folder import WORD_VECTORS
from .codecs import (
    JSON,
    LimitExceeded,
    attribute_where,
    check_top_k,
    choose_response_type,
    custom_attribute,
    decode_request,
    default_response_type,
    encode_response,
    json_body,
    parse_top_k,
)
from .models_api import parse_load_request, parse_page_size
from .word_vectors import check_accept, decode_word_request, parse_neighbours

if TYPE_CHECKING:
    from ..environment import ServingEnvironment
    from .loading import ServedModel
    from .multi_model import WorkerModels
    from .predictor import Predictor
    from .word_vectors import WordVectorPredictor

logger = logging.getLogger(__name__)


def create_app(
    settings: "ServingEnvironment",
    predictor: "ServedModel | None" = None,
    load_error: str | None = None,
    models: "WorkerModels | None" = None,
) -> Flask:
    """settings: ServingEnvironment. predictor: a Predictor or WordVectorPredictor that passed its self-check, or
    None with load_error saying why the model could not be loaded (then /ping and /invocations answer 503 with that
    reason). models: a multi-model endpoint's WorkerModels, instead of a predictor."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.request_limit_bytes

    def require_model() -> "ServedModel":
        if models is not None:
            raise NotFound(
                f"This is a multi-model endpoint ({contract.MULTI_MODEL_ENV}=true): invoke a loaded model with "
                f"POST {contract.MODELS_PATH}/<model_name>{contract.MODEL_INVOKE_SUFFIX}."
            )
        if predictor is None:
            raise ServiceUnavailable(f"The model is not loaded: {load_error}")
        return predictor

    def answer(model: "ServedModel") -> Response:
        return _word_vectors(model, settings) if model.kind == WORD_VECTORS else _classify(model, settings)

    @app.get(contract.PING_PATH)
    def ping() -> Response:
        if models is None:  # a multi-model endpoint is healthy with no model loaded, as Multi Model Server is
            require_model()
        return Response(status=200)

    @app.post(contract.INVOCATIONS_PATH)
    def invocations() -> Response:
        return answer(require_model())

    @app.get(contract.EXECUTION_PARAMETERS_PATH)
    def execution_parameters() -> Response:
        return jsonify(settings.execution_parameters())

    if models is not None:
        _add_model_routes(app, models, answer, settings.models_dir)
    _add_error_handlers(app, settings)
    return app


def _attribute(key: str) -> str | None:
    """The value of key in the request's custom attributes (codecs.custom_attribute)."""
    return custom_attribute(request.headers.get(contract.CUSTOM_ATTRIBUTES_HEADER), key)


def _classify(model: "Predictor", settings: "ServingEnvironment") -> Response:
    """/invocations' answer for a classifier: the request's headlines' top_k labels, in the type Accept asks for."""
    response_type = choose_response_type(
        request.accept_mimetypes, default_response_type(request.mimetype), settings.default_accept
    )
    header_top_k = parse_top_k(_attribute(contract.TOP_K_ATTRIBUTE), attribute_where(contract.TOP_K_ATTRIBUTE))
    query_top_k = parse_top_k(request.args.get("top_k"), "The query parameter top_k")
    parsed = decode_request(
        request.get_data(cache=False), request.mimetype, request.mimetype_params.get("charset"), settings.limits
    )
    if query_top_k is not None and parsed.top_k is not None:
        raise BadRequest("top_k is given both as a query parameter and in the body; give it once.")
    top_k = check_top_k(query_top_k or parsed.top_k or header_top_k, model.num_labels)
    predictions = model.predict(parsed.headlines, top_k)
    return Response(encode_response(predictions, response_type, top_k), mimetype=response_type)


def _word_vectors(model: "WordVectorPredictor", settings: "ServingEnvironment") -> Response:
    """/invocations' answer for word vectors: each word's vector and source, and its neighbours if asked."""
    check_accept(request.accept_mimetypes, settings.default_accept)
    header_neighbours = parse_neighbours(
        _attribute(contract.NEIGHBOURS_ATTRIBUTE), attribute_where(contract.NEIGHBOURS_ATTRIBUTE)
    )
    words, neighbours = decode_word_request(
        request.get_data(cache=False),
        request.mimetype,
        request.mimetype_params.get("charset"),
        settings.limits,
        header_neighbours,
    )
    return Response(json_body(model.answer(words, neighbours)), mimetype=JSON)


def _add_error_handlers(app: Flask, settings: "ServingEnvironment") -> None:
    """Every error as JSON {"error", "message"}: an HTTP error with its own code and reason (the body limit's with
    the setting that raises it), anything else a 500 whose trace goes to the log, not to the client."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        message = error.description
        if error.code == 413 and not isinstance(error, LimitExceeded):  # werkzeug's, for MAX_CONTENT_LENGTH
            message = (
                f"The body is larger than this endpoint's limit of "
                f"{settings.request_limit_bytes // (1024 * 1024)} MB "
                f"({contract.MAX_PAYLOAD_ENV}); send fewer headlines per request."
            )
        response = jsonify(error=error.name, message=message)
        assert error.code is not None, "Flask returns an HTTPException without a code as it is, unhandled"
        response.status_code = error.code
        return response

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Response:
        logger.exception("internal error in %s %s", request.method, request.path)
        response = jsonify(
            error="Internal Server Error",
            message=f"The request failed with an internal error ({type(error).__name__}); "
            "the endpoint's logs have the details.",
        )
        response.status_code = 500
        return response


def _add_model_routes(
    app: Flask, models: "WorkerModels", answer: Callable[["ServedModel"], Response], models_dir: str
) -> None:
    """The multi-model contract's routes; answer(predictor) is /invocations' response for a model, and a model is
    loaded only from a folder in models_dir."""
    model_path = contract.MODELS_PATH + "/<name>"

    def target_model() -> str | None:
        return request.headers.get(contract.TARGET_MODEL_HEADER)

    @app.post(contract.MODELS_PATH)
    def load_model() -> Response:
        name, url = parse_load_request(request.get_data(cache=False), models_dir)
        return jsonify(models.load(name, url, target_model()).describe())

    @app.get(contract.MODELS_PATH)
    def list_models() -> Response:
        limit = parse_page_size(request.args.get(contract.PAGE_SIZE_PARAM))
        return jsonify(models.page(request.args.get(contract.NEXT_PAGE_TOKEN_PARAM), limit))

    @app.get(model_path)
    def describe_model(name: str) -> Response:
        return jsonify(models.entry(name).describe())

    @app.delete(model_path)
    def unload_model(name: str) -> Response:
        return jsonify(models.unload(name, target_model()).describe())

    @app.post(model_path + contract.MODEL_INVOKE_SUFFIX)
    def invoke_model(name: str) -> Response:
        return answer(models.predictor(name))
