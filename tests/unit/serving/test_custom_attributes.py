"""The X-Amzn-SageMaker-Custom-Attributes header (InvokeEndpoint's CustomAttributes): top_k for the classifier and
neighbours for word vectors, for every content type, with the body's or query string's value winning over it."""

import json

import pytest

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.environment import ServingEnvironment
from headlines.serving.app import create_app
from headlines.serving.loading import load_predictor
from headlines.serving.predictor import Predictor
from tests.support.fake_sagemaker import train_small_model, train_small_word_vectors
from tests.support.responses import assert_json_error

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
HEADLINES = ["Fed raises interest rates again", "Kim Kardashian wedding photos", "Ebola outbreak spreads"]
# One body of each request type, three headlines each.
BODIES = {
    "application/json": json.dumps(HEADLINES),
    "application/jsonlines": "\n".join(json.dumps(h) for h in HEADLINES),
    "text/csv": "\n".join(HEADLINES),
    "text/plain": "\n".join(HEADLINES),
}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    model = HeadlineModel.load(str(train_small_model(tmp_path_factory.mktemp("attributes") / "opt_ml")))
    return create_app(ServingEnvironment.from_environ({}, cpu_count=2), Predictor(model)).test_client()


@pytest.fixture(scope="module")
def vector_predictor(tmp_path_factory):
    predictor, error = load_predictor(str(train_small_word_vectors(tmp_path_factory.mktemp("wv") / "opt_ml")))
    assert error is None
    return predictor


@pytest.fixture(scope="module")
def vectors(vector_predictor):
    return create_app(ServingEnvironment.from_environ({}, cpu_count=2), vector_predictor).test_client()


def _post(client, body, content_type="application/json", attributes=None, accept="application/jsonlines", query=""):
    headers = {"Accept": accept}
    if attributes is not None:
        headers[HEADER] = attributes
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/invocations" + query, data=data, content_type=content_type, headers=headers)


def _widths(response):
    """The number of labels in each prediction of a JSON Lines response."""
    assert response.status_code == 200, response.get_json()
    return [len(json.loads(line)["probabilities"]) for line in response.data.decode().splitlines()]


@pytest.mark.parametrize("content_type", sorted(BODIES))
@pytest.mark.parametrize("attributes", ["top_k=2", "trace=abc;top_k=2", "top_k=2,trace=abc", " Top_K = 2 ; x", "a=1,"])
def test_the_header_sets_top_k_for_every_content_type(classifier, content_type, attributes):
    expected = [2] * 3 if "top_k" in attributes.lower() else [4] * 3
    assert _widths(_post(classifier, BODIES[content_type], content_type, attributes)) == expected


def test_the_header_sets_top_k_of_csv_responses(classifier):
    rows = _post(classifier, BODIES["text/csv"], "text/csv", "top_k=3", accept="text/csv").data.decode().splitlines()
    assert [len(row.split(",")) for row in rows] == [6] * 3


def test_the_body_or_the_query_wins_over_the_header(classifier):
    body = {"instances": HEADLINES, "top_k": 3}
    assert _widths(_post(classifier, HEADLINES, attributes="top_k=1")) == [1] * 3
    assert _widths(_post(classifier, body, attributes="top_k=1")) == [3] * 3
    assert _widths(_post(classifier, HEADLINES, attributes="top_k=1", query="?top_k=2")) == [2] * 3
    assert _widths(_post(classifier, BODIES["text/plain"], "text/plain", "top_k=1", query="?top_k=4")) == [4] * 3


@pytest.mark.parametrize(
    "attributes,fragment",
    [
        ("top_k=abc", "must be a positive integer, not 'abc'"),
        ("top_k=0", "must be a positive integer, not 0"),
        ("top_k=-1", "must be a positive integer, not -1"),
        ("top_k=", "must be a positive integer, not ''"),
        ("trace=1;top_k", "must be a positive integer, not ''"),
        ("top_k=2;top_k=3", "given 2 times"),
    ],
)
def test_a_malformed_top_k_attribute_is_a_400_naming_it_and_the_header(classifier, attributes, fragment):
    for content_type, body in BODIES.items():
        response = _post(classifier, body, content_type, attributes)
        assert_json_error(response, 400, "custom attribute top_k", HEADER, fragment)
    # Even when the body's value would win: a malformed header is a mistake to report.
    assert_json_error(_post(classifier, {"instances": HEADLINES, "top_k": 1}, attributes=attributes), 400, HEADER)


def test_a_top_k_attribute_above_the_labels_is_a_400(classifier):
    assert_json_error(_post(classifier, BODIES["text/csv"], "text/csv", "top_k=9"), 400, "top_k is 9", "4 labels")


def test_the_classifier_ignores_the_word_vectors_key(classifier):
    assert _widths(_post(classifier, BODIES["text/plain"], "text/plain", "neighbours=-1;top_k=2")) == [2] * 3


def _neighbours(response):
    assert response.status_code == 200, response.get_json()
    return [len(row["neighbours"]) if "neighbours" in row else None for row in response.get_json()]


def test_the_header_sets_neighbours_unless_the_body_does(vectors):
    body = {"instances": ["the", "of"]}
    assert _neighbours(_post(vectors, body, attributes="neighbours=3", accept="application/json")) == [3, 3]
    assert _neighbours(_post(vectors, body, attributes="x=y, neighbours=2", accept="*/*")) == [2, 2]
    with_config = {**body, "configuration": {"neighbours": 1}}
    assert _neighbours(_post(vectors, with_config, attributes="neighbours=4", accept="*/*")) == [1, 1]
    assert _neighbours(_post(vectors, body, attributes="top_k=abc", accept="*/*")) == [None, None]


@pytest.mark.parametrize(
    "attributes,fragment",
    [
        ("neighbours=-1", "got -1"),
        ("neighbours=0", "got 0"),
        ("neighbours=101", "got 101"),
        ("neighbours=many", "got 'many'"),
    ],
)
def test_a_malformed_neighbours_attribute_is_a_400_naming_it_and_the_header(vectors, attributes, fragment):
    body = {"instances": ["the"], "configuration": {"neighbours": 2}}
    response = _post(vectors, body, attributes=attributes, accept="*/*")
    assert_json_error(response, 400, "custom attribute neighbours", HEADER, "whole number from 1 to 100", fragment)


def test_header_neighbours_count_against_the_neighbours_limit(vector_predictor):
    environ = {"SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST": "5"}
    client = create_app(ServingEnvironment.from_environ(environ, cpu_count=2), vector_predictor).test_client()
    response = _post(client, {"instances": ["the", "of"]}, attributes="neighbours=3", accept="*/*")
    assert_json_error(response, 413, "2 words x 3 neighbours", "SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST")
