"""The handler module a user of AWS's MXNet inference toolkit (sagemaker-mxnet-inference) would write to serve the
model our training job writes: the toolkit imports it by SAGEMAKER_PROGRAM, calls model_fn once per worker, then
transform_fn for each request.

It answers what our server's /invocations answers for the same request body (headlines.serving.app.classify):
the same request codecs, the same Predictor, the same response codecs, and the client's mistakes as 4xx, so the
benchmark compares the two servers on identical work and identical answers.
"""

from sagemaker_inference.errors import GenericInferenceToolkitError
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header, parse_options_header

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.serving.codecs import check_top_k, choose_response_type, decode_request, encode_response
from headlines.serving.predictor import Predictor


def model_fn(model_dir):
    """The model folder exactly as the training job wrote it (/opt/ml/model)."""
    predictor = Predictor(HeadlineModel.load(model_dir))
    predictor.self_check()
    return predictor


def transform_fn(model, data, content_type, accept):
    """(body, content type) for one request. The toolkit hands JSON, CSV and text bodies over already decoded as
    UTF-8 (str), and Accept as the client sent it (its default, JSON, when the client sent none or */*)."""
    try:
        return _classify(model, data, content_type, accept)
    except HTTPException as e:  # the toolkit answers its own error type with its status code, anything else with 500
        raise GenericInferenceToolkitError(e.code, e.description) from None


def _classify(model, data, content_type, accept):
    mimetype, options = parse_options_header(content_type)
    body = data.encode("utf-8") if isinstance(data, str) else data
    charset = "utf-8" if isinstance(data, str) else options.get("charset")
    response_type = choose_response_type(parse_accept_header(accept, MIMEAccept))
    parsed = decode_request(body, mimetype, charset)
    top_k = check_top_k(parsed.top_k, model.num_labels)
    return encode_response(model.predict(parsed.headlines, top_k), response_type, top_k), response_type
