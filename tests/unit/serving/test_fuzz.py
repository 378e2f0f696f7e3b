"""Every route of the serving app in-process (Flask test client) under generated requests: bodies (deep nesting,
huge tokens, lone surrogates, odd JSON, bytes), content types, charsets, Accept headers and query strings. None may
be answered with a 5xx. Each test prints its count, its run time and the CPU cost of its costliest body per KB
(`pytest -s` shows them)."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headlines.environment import ServingEnvironment
from headlines.serving.app import create_app
from headlines.serving.loading import load_model
from headlines.serving.multi_model import Registry, WorkerModels
from tests.support.fake_sagemaker import train_small_model, train_small_word_vectors

EXAMPLES = 5000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Limits small enough that generated bodies reach them.
ENVIRON = {
    "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
    "SAGEMAKER_MAX_INSTANCES_PER_REQUEST": "50",
    "SAGEMAKER_MAX_HEADLINE_CHARS": "2000",
    "SAGEMAKER_MAX_TOKEN_CHARS": "100",
    "SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST": "200",
}
MIMETYPES = [
    "application/json",
    "application/jsonlines",
    "application/x-jsonlines",
    "text/csv",
    "text/plain",
    "application/octet-stream",
    "",
    "text/html",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
]
CHARSETS = [
    None,
    "utf-8",
    "UTF-16",
    "utf-32-be",
    "latin-1",
    "bz2",
    "zlib",
    "rot13",
    "base64",
    "hex",
    "undefined",
    "idna",
    "punycode",
    "unicode_escape",
    "utf-7",
    "cp037",
    "klingon",
    "",
    " utf-8 ",
    "utf_8_sig",
    "uu",
]
ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/csv",
    "application/jsonlines",
    "image/png",
    "text/csv;q=0,*/*;q=0",
    "application/json; charset=latin-1",
    ";;;",
    "text/*",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["instances", "top_k", "headline", "text", "configuration", "neighbours", "model_name", "url", "x"]
            )
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
words = st.sampled_from(
    [
        "Fed",
        "raises",
        "rates",
        "Kim",
        "wedding",
        "Apple",
        "the",
        "é",
        "\u0130",
        "\ud800",
        "\x00",
        "\r",
        "\n",
        ",",
        '"',
        " ",
        "\t",
        "\u2028",
        "a" * 150,
        "b" * 3000,
        "\\ud800",
        "[",
        "{",
    ]
)
headlines = st.lists(words, max_size=12).map(" ".join)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(json.dumps),
    st.lists(headlines, max_size=60).map(json.dumps),
    st.builds(lambda h, k: json.dumps({"instances": h, "top_k": k}), st.lists(headlines, max_size=60), json_values),
    st.builds(
        lambda w, n: json.dumps({"instances": w, "configuration": {"neighbours": n}}),
        st.lists(words | headlines, max_size=60),
        st.integers(-2, 120) | json_values,
    ),
    st.lists(headlines, max_size=60).map("\n".join),
    st.integers(1, 5_000).map(lambda depth: "[" * depth),
    st.integers(1, 2_000).map(lambda depth: '{"instances": ' + '{"a": ' * depth),
    st.integers(1, 200).map(lambda count: "a\n" * count),
    st.integers(1, 3_000).map(lambda length: json.dumps(["x" * length])),
    st.just('["\\ud800"]') | st.just('{"instances": ["\\udfff x"]}') | st.just('"\\ud800"'),
    st.builds(
        lambda n, u: json.dumps({"model_name": n, "url": u}),
        st.text(max_size=20) | json_values,
        st.sampled_from(["/", "/etc", "/opt/ml/models/../../etc", "relative", "/proc/self", "\x00", "\ud800"])
        | st.text(max_size=20)
        | json_values,
    ),
)
queries = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "top_k=1",
            "top_k=0",
            "top_k=-1",
            "top_k=999",
            "top_k=x",
            "top_k=",
            "top_k=1&top_k=2",
            "limit=1",
            "limit=0",
            "limit=101",
            "limit=x",
            "next_page_token=%%%",
            "next_page_token=////",
            "next_page_token=4oCU",
            "next_page_token=" + "A" * 500,
            "%ff%fe=1",
        ]
    ),
    st.text(max_size=20),
)


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory):
    """A /opt/ml whose models folder holds a fasttext and a cnn classifier and word vectors, as SageMaker places a
    multi-model endpoint's models; each is also served alone."""
    base = tmp_path_factory.mktemp("fuzz")
    for name, train in [
        ("fasttext", lambda path: train_small_model(path, "fasttext")),
        ("cnn", lambda path: train_small_model(path, "cnn")),
        ("vectors", train_small_word_vectors),
    ]:
        train(base / "models" / name)
    return base


def _settings(opt_ml, **extra):
    return ServingEnvironment.from_environ(dict(ENVIRON, SAGEMAKER_BASE_DIR=str(opt_ml), **extra), cpu_count=1)


@pytest.fixture(scope="module")
def single(opt_ml):
    """A client per model folder, served alone (/invocations)."""
    return {
        name: create_app(_settings(opt_ml), load_model(str(opt_ml / "models" / name / "model"))).test_client()
        for name in ("fasttext", "cnn", "vectors")
    }


@pytest.fixture(scope="module")
def multi(opt_ml):
    """A multi-model endpoint's client with all three models loaded."""
    registry = Registry.create()
    client = create_app(
        _settings(opt_ml, SAGEMAKER_MULTI_MODEL="true"), models=WorkerModels(registry, 1, available=lambda: 1 << 40)
    ).test_client()
    for name in ("fasttext", "cnn", "vectors"):
        url = str(opt_ml / "models" / name / "model")
        assert client.post("/models", json={"model_name": name, "url": url}).status_code == 200
    yield client
    registry.destroy()


class Tally:
    """Requests sent, 5xx answers, and the costliest body's CPU ms per KB (of bodies of 1 KB or more)."""

    def __init__(self, route):
        self.route, self.requests, self.errors, self.worst, self.started = route, 0, [], (0.0, 0), time.monotonic()

    def send(self, call, body, **options):
        cpu = time.process_time()
        response = call(data=body, **options)
        seconds = time.process_time() - cpu
        self.requests += 1
        if len(body) >= 1024:  # below, a request's fixed cost is most of it
            self.worst = max(self.worst, (seconds * 1000 / (len(body) / 1024), len(body)))
        if response.status_code >= 500:
            self.errors.append((response.status_code, body[:200], options, response.data[:300]))
        return response

    def report(self):
        seconds = time.monotonic() - self.started
        print(
            f"\nfuzz {self.route}: {self.requests} requests, {len(self.errors)} x 5xx, {seconds:.1f} s; worst body "
            f"{self.worst[0]:.2f} CPU ms/KB ({self.worst[1]:,} bytes)"
        )
        assert self.requests >= EXAMPLES and not self.errors, self.errors[:5]


def _encode(text, charset):
    try:
        return text.encode(charset or "utf-8", "surrogatepass")
    except (LookupError, UnicodeError, TypeError):
        return text.encode("utf-8", "surrogatepass")


def _post_route(client_of, path, route):
    tally = Tally(route)

    @FUZZ
    @given(
        bodies,
        st.sampled_from(MIMETYPES),
        st.sampled_from(CHARSETS),
        st.sampled_from(ACCEPTS),
        queries,
        st.sampled_from([None, "m", "\x1b[31m", "a" * 2000]),
    )
    def run(body, mimetype, charset, accept, query, target):
        data = body if isinstance(body, bytes) else _encode(body, charset)
        content_type = mimetype + (f"; charset={charset}" if charset is not None and mimetype else "")
        headers = {
            key: value for key, value in [("Accept", accept), ("X-Amzn-SageMaker-Target-Model", target)] if value
        }
        tally.send(client_of().post, data, path=f"{path}?{query}", content_type=content_type, headers=headers)

    run()
    tally.report()


@pytest.mark.parametrize("name", ["fasttext", "cnn", "vectors"])
def test_invocations_never_answer_a_5xx(single, name):
    _post_route(lambda: single[name], "/invocations", f"POST /invocations ({name})")


@pytest.mark.parametrize("name", ["fasttext", "cnn", "vectors"])
def test_a_multi_model_invoke_never_answers_a_5xx(multi, name):
    _post_route(lambda: multi, f"/models/{name}/invoke", f"POST /models/{name}/invoke")


def test_load_model_never_answers_a_5xx(multi):
    _post_route(lambda: multi, "/models", "POST /models")
    assert {entry["modelName"] for entry in multi.get("/models").get_json()["models"]} == {"fasttext", "cnn", "vectors"}


@pytest.mark.parametrize("path", ["/ping", "/execution-parameters", "/models", "/models/fasttext", "/models/%ff"])
def test_the_get_routes_never_answer_a_5xx(single, multi, path):
    tally = Tally(f"GET {path}")

    @FUZZ
    @given(queries, st.sampled_from(ACCEPTS), st.binary(max_size=100), st.booleans())
    def run(query, accept, body, on_multi):
        client = multi if on_multi or path.startswith("/models") else single["fasttext"]
        tally.send(client.get, body, path=f"{path}?{query}", headers={"Accept": accept} if accept else {})

    run()
    tally.report()
