"""The serving app in-process (Flask test client): every content type, Accept, error and limit."""

import codecs
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.environment import ServingEnvironment
from headlines.serving.app import create_app
from headlines.serving.codecs import LimitExceeded, decode_text
from headlines.serving.predictor import Predictor
from tests.support.data import data_set
from tests.support.fake_sagemaker import train_small_model
from tests.support.responses import assert_json_error

HEADLINES = [
    "Fed raises interest rates again",
    "Kim Kardashian, Kanye West wedding photos",
    "Ebola outbreak spreads in West Africa",
    "Apple unveils new iPhone and smartwatch",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("serving") / "opt_ml")


@pytest.fixture(scope="module")
def model(model_dir):
    return HeadlineModel.load(str(model_dir))


def _client(model, **environ):
    settings = ServingEnvironment.from_environ(dict(environ), cpu_count=2)
    return create_app(settings, Predictor(model)).test_client()


@pytest.fixture(scope="module")
def client(model):
    return _client(model)


def _post(client, body, content_type="application/json", accept=None, query=""):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    headers = {"Accept": accept} if accept else {}
    return client.post("/invocations" + query, data=body, content_type=content_type, headers=headers)


def _labels(response):
    return [p["label"] for p in response.get_json()["predictions"]]


def test_ping_is_200_with_an_empty_body(client):
    response = client.get("/ping")
    assert response.status_code == 200 and response.data == b""


def test_json_predictions_equal_the_in_process_model_in_request_order(client, model):
    response = _post(client, {"instances": HEADLINES})
    assert response.status_code == 200 and response.mimetype == "application/json"
    predictions = response.get_json()["predictions"]
    expected = model.predict_proba(HEADLINES)
    assert len(predictions) == len(HEADLINES)
    for prediction, row in zip(predictions, expected):
        assert set(prediction["probabilities"]) == set(model.labels)
        got = [prediction["probabilities"][label] for label in model.labels]
        np.testing.assert_allclose(got, row, atol=1e-5)
        best = model.labels[int(np.argmax(row))]
        assert prediction["label"] == best and prediction["label_name"] == model.label_names[best]
        assert prediction["probability"] == pytest.approx(float(row.max()), abs=1e-6)
        assert list(prediction["probabilities"].values()) == sorted(prediction["probabilities"].values(), reverse=True)


@pytest.mark.parametrize(
    "body",
    [HEADLINES, {"instances": [{"headline": h} for h in HEADLINES]}, {"instances": [{"text": h} for h in HEADLINES]}],
)
def test_json_accepts_a_bare_list_and_objects(client, body):
    assert _labels(_post(client, body)) == _labels(_post(client, {"instances": HEADLINES}))


def test_json_accepts_one_string(client):
    response = _post(client, json.dumps(HEADLINES[0]))
    assert len(response.get_json()["predictions"]) == 1


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"]
)
def test_content_type_parameters_and_case_are_accepted(client, content_type):
    assert _post(client, HEADLINES, content_type=content_type).status_code == 200


def test_jsonlines_requests_and_responses(client):
    body = (
        "\r\n".join(
            [json.dumps(HEADLINES[0]), json.dumps({"headline": HEADLINES[1]}), json.dumps({"text": HEADLINES[2]})]
        )
        + "\n"
    )
    response = _post(client, body, "application/jsonlines", accept="application/jsonlines")
    assert response.status_code == 200 and response.mimetype == "application/jsonlines"
    lines = response.data.decode().splitlines()
    assert [json.loads(line)["label"] for line in lines] == _labels(_post(client, HEADLINES[:3]))


@pytest.mark.parametrize("accept", ["application/jsonlines", "text/csv"])
def test_line_based_responses_end_without_a_line_break(client, accept):
    # Batch transform's AssembleWith=Line appends one after each response: one line per record, no empty ones.
    text = _post(client, "\n".join(HEADLINES[:3]), "text/plain", accept=accept).data.decode()
    assert not text.endswith("\n") and len(text.split("\n")) == 3


def test_csv_takes_the_first_column_with_rfc4180_quoting(client):
    body = '"Fed raises interest rates, again",extra\n"He said ""wow""\nover two lines",x\nplain headline\n'
    response = _post(client, body, "text/csv; charset=utf-8", accept="text/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = response.data.decode().splitlines()
    assert len(rows) == 3
    expected = _post(
        client, ["Fed raises interest rates, again", 'He said "wow"\nover two lines', "plain headline"]
    ).get_json()["predictions"]
    for row, prediction in zip(rows, expected):
        label, probability = row.split(",")
        assert label == prediction["label"] and float(probability) == pytest.approx(prediction["probability"])


def test_text_plain_is_one_headline_a_line(client):
    response = _post(client, "\n".join(HEADLINES) + "\n", "text/plain", accept="application/json")
    assert _labels(response) == _labels(_post(client, HEADLINES))


def _jsonlines_labels(response):
    assert response.status_code == 200 and response.mimetype == "application/jsonlines", response.data
    return [json.loads(line)["label"] for line in response.data.decode().split("\n")]


LINE_BODIES = {
    "text/plain": "\n".join(HEADLINES) + "\n",
    "text/csv": "\n".join(HEADLINES),
    "application/jsonlines": "\n".join(json.dumps(h) for h in HEADLINES),
    "application/x-jsonlines": "\n".join(json.dumps({"headline": h}) for h in HEADLINES),
}


@pytest.mark.parametrize("accept", [None, "*/*"])
@pytest.mark.parametrize("content_type", sorted(LINE_BODIES))
def test_a_line_based_body_without_accept_is_answered_line_for_line(client, content_type, accept):
    # Batch transform with SplitType=Line and JoinSource=Input needs one output line per input line.
    response = _post(client, LINE_BODIES[content_type], content_type, accept=accept)
    assert _jsonlines_labels(response) == _labels(_post(client, HEADLINES))


@pytest.mark.parametrize("accept", [None, "*/*"])
def test_a_json_body_without_accept_is_still_answered_in_json(client, accept):
    response = _post(client, {"instances": HEADLINES}, accept=accept)
    assert response.mimetype == "application/json" and len(response.get_json()["predictions"]) == len(HEADLINES)


@pytest.mark.parametrize(
    "env_accept,accept,content_type,mimetype",
    [
        ("text/csv", None, "text/plain", "text/csv"),
        ("text/csv", "*/*", "application/json", "text/csv"),
        ("application/jsonlines", None, "application/json", "application/jsonlines"),
        ("application/json", None, "text/plain", "application/json"),
        ("application/json; charset=utf-8", None, "text/csv", "application/json"),
        ("text/csv", "application/jsonlines", "text/plain", "application/jsonlines"),  # the request's own wins
        ("*/*", None, "text/plain", "application/jsonlines"),
    ],
)
def test_the_transform_jobs_accept_stands_in_for_a_missing_one(model, env_accept, accept, content_type, mimetype):
    client = _client(model, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=env_accept)
    body = HEADLINES if content_type == "application/json" else "\n".join(HEADLINES)
    response = _post(client, body, content_type, accept=accept)
    assert response.status_code == 200 and response.mimetype == mimetype, response.data
    if mimetype != "application/json":
        assert len(response.data.decode().split("\n")) == len(HEADLINES)


def test_a_transform_accept_the_image_cannot_answer_is_a_406_naming_the_env_var(model):
    client = _client(model, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/x-recordio-protobuf")
    response = _post(client, "\n".join(HEADLINES), "text/plain")
    assert_json_error(
        response, 406, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='application/x-recordio-protobuf'", "text/csv"
    )
    assert _post(client, "\n".join(HEADLINES), "text/plain", accept="text/csv").status_code == 200


def test_a_single_column_csv_with_quoted_commas_is_one_headline_a_row(client):
    # What SageMaker's InputFilter ($[1], say) hands the container: one column, quoted where it holds a comma.
    headlines = ["Fed raises rates, again", 'Apple says "no, thanks"', "plain, simple, headline", HEADLINES[0]]
    body = "".join('"' + h.replace('"', '""') + '"\n' if "," in h else h + "\n" for h in headlines)
    assert _jsonlines_labels(_post(client, body, "text/csv")) == _labels(_post(client, headlines))


def test_other_charsets_are_decoded(client):
    body = "Café owners protest new tax".encode("latin-1")
    assert _post(client, body, "text/plain; charset=iso-8859-1").status_code == 200
    assert_json_error(_post(client, body, "text/plain"), 400, "not valid utf-8", "byte 3")
    assert_json_error(_post(client, b"x", "text/plain; charset=klingon"), 415, "klingon")


@pytest.mark.parametrize("charset", ["bz2", "zlib", "rot13", "base64", "hex", "uu", "quopri", "undefined"])
def test_a_charset_that_is_no_text_encoding_is_a_415_that_names_it(model, charset):
    client = _client(model, SAGEMAKER_MAX_PAYLOAD_IN_MB="1")
    body = codecs.encode(b'["' + b"Fed raises rates " * 300_000 + b'"]', "bz2")  # 875 bytes, 5.1 MB decoded
    assert len(body) < 2000
    response = _post(client, body, f"application/json; charset={charset}")
    assert_json_error(response, 415, f"'{charset}' is not a supported text encoding")


@pytest.mark.parametrize("charset", ["utf-8", "utf-16", "utf-32", "utf-7"])
def test_a_body_never_decodes_to_more_characters_than_the_payload_limit(charset):
    limits = ServingEnvironment.from_environ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}, cpu_count=1).limits
    assert len(decode_text(("a" * 2**20).encode(charset), charset, limits)) == 2**20
    with pytest.raises(LimitExceeded, match="more than 1,048,576 characters.*SAGEMAKER_MAX_PAYLOAD_IN_MB"):
        decode_text(("a" * (2**20 + 1)).encode(charset), charset, limits)


def _limited(model, **limits):
    return _client(model, **{name: str(value) for name, value in limits.items()})


def test_more_instances_than_the_limit_is_a_413_for_every_request_type(model):
    client = _limited(model, SAGEMAKER_MAX_INSTANCES_PER_REQUEST=3)
    assert _post(client, HEADLINES[:3]).status_code == 200
    for body, content_type in [
        (HEADLINES, "application/json"),
        ({"instances": HEADLINES}, "application/json"),
        ("\n".join(json.dumps(h) for h in HEADLINES), "application/jsonlines"),
        ("\n".join(HEADLINES), "text/csv"),
        ("\n".join(HEADLINES), "text/plain"),
    ]:
        response = _post(client, body, content_type)
        assert_json_error(response, 413, "more than 3 instances", "SAGEMAKER_MAX_INSTANCES_PER_REQUEST")


def test_the_default_instance_limit_is_one_per_32_bytes_of_the_body_limit(model):
    assert ServingEnvironment.from_environ({}, cpu_count=1).limits.instances == 6 * 2**20 // 32
    batch = ServingEnvironment.from_environ({"SAGEMAKER_BATCH": "true"}, cpu_count=1)
    assert batch.limits.instances == 100 * 2**20 // 32
    client = _limited(model, SAGEMAKER_MAX_PAYLOAD_IN_MB=1)
    assert_json_error(_post(client, "a\n" * (2**19 - 1), "text/plain"), 413, "more than 32,768 instances")


def test_a_headline_or_token_over_its_limit_is_a_413_that_names_it(model):
    client = _limited(model, SAGEMAKER_MAX_HEADLINE_CHARS=60, SAGEMAKER_MAX_TOKEN_CHARS=10)
    assert _post(client, ["a" * 10 + " " + "b" * 10]).status_code == 200
    assert_json_error(
        _post(client, ["ok", "x " * 31]), 413, "Instance 1 has 62 characters", "SAGEMAKER_MAX_HEADLINE_CHARS"
    )
    assert_json_error(
        _post(client, "ok\nfine " + "y" * 11, "text/plain"), 413, "Line 2 has a token", "SAGEMAKER_MAX_TOKEN_CHARS"
    )
    default = _limited(model)
    assert_json_error(_post(default, ["a" * 500_000]), 413, "10,000 (SAGEMAKER_MAX_HEADLINE_CHARS)")
    assert_json_error(_post(default, ["a" * 9_000]), 413, "longer than 256 characters")
    assert _post(default, ["Fed raises rates " * 500]).status_code == 200  # 8,500 characters of ordinary words


@pytest.mark.parametrize(
    "body,content_type,fragment",
    [
        ("[" * 100_000 + "]" * 100_000, "application/json", "nested too deep"),
        ('{"instances": ' + "[" * 50_000, "application/json", "nested too deep"),
        ('"a"\n' + "[" * 100_000, "application/jsonlines", "Line 2 is JSON nested too deep"),
        ('["\\ud800"]', "application/json", "Instance 0 holds a lone surrogate (U+D800)"),
        (
            '{"headline": "ok \\udfff"}',
            "application/jsonlines",
            "Line 1 holds a lone surrogate (U+DFFF) at character 3",
        ),
        (b"\\ud800", "text/plain; charset=unicode_escape", "Line 1 holds a lone surrogate"),
    ],
)
def test_deep_nesting_and_lone_surrogates_are_a_400(client, body, content_type, fragment):
    assert_json_error(_post(client, body, content_type), 400, fragment)


@pytest.mark.parametrize(
    "query,body,expected", [("?top_k=2", HEADLINES, 2), ("", {"instances": HEADLINES, "top_k": 3}, 3)]
)
def test_top_k_from_the_query_or_the_body(client, query, body, expected):
    predictions = _post(client, body, query=query).get_json()["predictions"]
    assert all(len(p["probabilities"]) == expected for p in predictions)
    csv_rows = _post(client, body, accept="text/csv", query=query).data.decode().splitlines()
    assert all(len(row.split(",")) == 2 * expected for row in csv_rows)
    assert [row.split(",")[0] for row in csv_rows] == [p["label"] for p in predictions]


@pytest.mark.parametrize(
    "query,body,fragment",
    [
        ("?top_k=abc", HEADLINES, "top_k must be a positive integer"),
        ("?top_k=0", HEADLINES, "top_k must be a positive integer"),
        ("", {"instances": HEADLINES, "top_k": True}, 'top_k" must be a positive integer'),
        ("", {"instances": HEADLINES, "top_k": 1.5}, "must be a positive integer"),
        ("?top_k=9", HEADLINES, "only 4 labels"),
        ("?top_k=1", {"instances": HEADLINES, "top_k": 1}, "give it once"),
    ],
)
def test_bad_top_k_is_a_400(client, query, body, fragment):
    assert_json_error(_post(client, body, query=query), 400, fragment)


@pytest.mark.parametrize(
    "accept,mimetype",
    [
        ("*/*", "application/json"),
        ("text/*", "text/csv"),
        ("application/x-jsonlines", "application/x-jsonlines"),
        ("text/csv;q=0.5, application/jsonlines", "application/jsonlines"),
        ("application/json; charset=utf-8", "application/json"),
    ],
)
def test_accept_negotiation(client, accept, mimetype):
    response = _post(client, HEADLINES, accept=accept)
    assert response.status_code == 200 and response.mimetype == mimetype


def test_unsupported_accept_is_a_406(client):
    assert_json_error(_post(client, HEADLINES, accept="application/xml"), 406, "application/xml", "text/csv")


@pytest.mark.parametrize("content_type", ["application/xml", "application/x-www-form-urlencoded", ""])
def test_unsupported_content_type_is_a_415(client, content_type):
    assert_json_error(_post(client, HEADLINES, content_type=content_type), 415, "is not supported")


@pytest.mark.parametrize(
    "body,content_type,fragment",
    [
        ("", "application/json", "The body is empty"),
        ("  \n", "text/plain", "The body is empty"),
        ("[]", "application/json", "no headlines"),
        ('{"instances": []}', "application/json", "no headlines"),
        ('{"instances": ["a"], "topk": 2}', "application/json", "topk"),
        ('{"headlines": ["a"]}', "application/json", '{"instances": [...]}'),
        ("[1, 2]", "application/json", "Instance 0 is a number"),
        ('["ok", null]', "application/json", "Instance 1 is null"),
        ('["ok", {"title": "x"}]', "application/json", "Instance 1 is an object without"),
        ('["ok", "  "]', "application/json", "Instance 1 is empty"),
        ("42", "application/json", "is a number"),
        ("{not json", "application/json", "not valid JSON"),
        ('"a"\n{bad\n', "application/jsonlines", "Line 2 is not valid JSON"),
        ('"a"\n\n"b"\n', "application/jsonlines", "Line 2 is not valid JSON"),
        ('"a"\n[1]\n', "application/jsonlines", "Line 2 is a list"),
        ("first\n\nthird\n", "text/plain", "Line 2 is empty"),
        ('ok\n"unterminated\n', "text/csv", "CSV body is malformed"),
        ("ok\n\nmore\n", "text/csv", "CSV row 2 is empty"),
        (b"\xff\xfe", "application/json", "not valid utf-8"),
    ],
)
def test_malformed_bodies_are_a_400_with_a_reason(client, body, content_type, fragment):
    assert_json_error(_post(client, body, content_type=content_type), 400, fragment)


def test_payload_over_the_limit_is_a_413(model):
    client = _client(model, SAGEMAKER_MAX_PAYLOAD_IN_MB="1")
    line = "Fed raises interest rates again\n"
    under = line * ((1024 * 1024 - 1) // len(line))
    assert _post(client, under, "text/plain").status_code == 200
    assert_json_error(
        _post(client, under + 2 * line, "text/plain"), 413, "limit of 1 MB", "SAGEMAKER_MAX_PAYLOAD_IN_MB"
    )


def test_execution_parameters(model):
    client = _client(
        model, SAGEMAKER_BATCH="true", SAGEMAKER_MAX_PAYLOAD_IN_MB="20", SAGEMAKER_BATCH_STRATEGY="single_record"
    )
    assert client.get("/execution-parameters").get_json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 20,
    }


def test_unknown_paths_and_methods_answer_json(client):
    assert_json_error(client.get("/nothing"), 404)
    assert_json_error(client.get("/invocations"), 405)


def test_an_internal_error_is_a_500_and_the_app_keeps_serving(model, monkeypatch):
    predictor = Predictor(model)
    client = create_app(ServingEnvironment.from_environ({}, cpu_count=1), predictor).test_client()
    monkeypatch.setattr(predictor, "predict", lambda *args: 1 / 0)
    assert_json_error(_post(client, HEADLINES), 500, "ZeroDivisionError", "logs")
    monkeypatch.undo()
    assert _post(client, HEADLINES).status_code == 200


def test_without_a_model_ping_and_invocations_are_503_with_the_reason():
    client = create_app(
        ServingEnvironment.from_environ({}, cpu_count=1), None, "The model folder /opt/ml/model is incomplete"
    ).test_client()
    assert_json_error(client.get("/ping"), 503, "incomplete")
    assert_json_error(_post(client, HEADLINES), 503, "incomplete")


def test_a_request_is_one_forward_pass_and_big_ones_go_in_batches(model, monkeypatch):
    calls = []
    original = model.predict_proba
    monkeypatch.setattr(model, "predict_proba", lambda texts: calls.append(len(texts)) or original(texts))
    headlines = data_set().headlines(1000)
    whole = Predictor(model).probabilities(headlines)
    assert calls == [1000]
    calls.clear()
    batched = Predictor(model, max_batch=300).probabilities(headlines)
    assert calls == [300, 300, 300, 100]
    np.testing.assert_allclose(batched, whole, atol=1e-5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.sampled_from(["instances", "top_k", "headline", "text", "x"]), inner, max_size=3)
            ),
            max_leaves=8,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/jsonlines",
            "text/csv",
            "text/plain",
            "text/csv; charset=latin-1",
            "application/json; charset=utf-16",
            "image/png",
            "text/plain; charset=nope",
        ]
    ),
    accept=st.sampled_from([None, "*/*", "text/csv", "application/jsonlines", "image/png", "text/*;q=0"]),
    query=st.sampled_from(["", "?top_k=1", "?top_k=-1", "?top_k=99", "?top_k=%ff", "?x=1&top_k="]),
)
def test_no_body_or_header_makes_a_5xx(client, body, content_type, accept, query):
    response = _post(client, body, content_type, accept=accept, query=query)
    assert response.status_code in (200, 400, 406, 415), (response.status_code, response.data)
    if response.status_code != 200:
        assert response.get_json()["message"]
