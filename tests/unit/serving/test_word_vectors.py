"""Serving the word-vector job's model folder in-process (Flask test client): the workshop's request, vectors equal
to fastText's own reading of vectors.bin, subword vectors for unknown words, nearest neighbours, every error."""

import functools
import json
import shutil
import subprocess
import sys

import fasttext
import numpy as np
import pytest

from headlines.environment import ServingEnvironment
from headlines.model_folder import CLASSIFIER, WORD_VECTORS, model_kind
from headlines.serving.app import create_app
from headlines.serving.codecs import JSON
from headlines.serving.loading import load_predictor
from headlines.serving.snapshots import SINGLE_MODEL, WeightSnapshots
from headlines.serving.word_vectors import MAX_NEIGHBOURS, WordVectorPredictor
from tests.support.fake_sagemaker import SMALL_WORD_VECTORS, train_small_model, train_small_word_vectors

UNKNOWN = "zorblaxianism"  # in no corpus; its character n-grams still give it a vector
# Loads a model folder (argv[1]) and answers words (argv[2], JSON) where `import mxnet` and `import gluonnlp` fail,
# as in the serving image, which has neither.
WITHOUT_MXNET = """
import json, sys
sys.modules["mxnet"] = sys.modules["gluonnlp"] = None  # what an image without them gives: ImportError
for name in ("mxnet", "gluonnlp"):
    try:
        __import__(name)
        sys.exit(f"{name} is importable")
    except ImportError:
        pass
from headlines.serving.word_vectors import WordVectorPredictor

predictor = WordVectorPredictor.load(sys.argv[1])
predictor.self_check()
print(json.dumps({"described": predictor.describe(), "rows": predictor.answer(json.loads(sys.argv[2]), 3)}))
"""


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory):
    return train_small_word_vectors(tmp_path_factory.mktemp("word-vectors") / "opt_ml")


@pytest.fixture(scope="module")
def predictor(vectors_dir):
    predictor, error = load_predictor(str(vectors_dir))
    assert error is None
    return predictor


@pytest.fixture(scope="module")
def client(predictor):
    return create_app(ServingEnvironment.from_environ({}, cpu_count=2), predictor).test_client()


@pytest.fixture(scope="module")
def reference(vectors_dir):
    return fasttext.load_model(str(vectors_dir / "vectors.bin"))


def _post(client, body, content_type="application/json", accept=None):
    headers = {"Accept": accept} if accept else {}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/invocations", data=data, content_type=content_type, headers=headers)


def test_the_folder_decides_what_is_served(vectors_dir, tmp_path):
    assert model_kind(str(vectors_dir)) == WORD_VECTORS
    assert model_kind(str(train_small_model(tmp_path / "opt_ml"))) == CLASSIFIER
    assert model_kind(str(tmp_path / "nowhere")) == CLASSIFIER  # the classifier's loader says what is missing


def test_the_workshops_request_gets_fasttexts_vectors(client, predictor, reference):
    words = predictor.words[1:3]
    response = _post(client, {"instances": [*words, UNKNOWN]})
    assert response.status_code == 200 and response.mimetype == "application/json"
    rows = response.get_json()
    assert [row["word"] for row in rows] == [*words, UNKNOWN]
    assert [row["source"] for row in rows] == ["in_vocabulary", "in_vocabulary", "from_subwords"]
    for row in rows:
        assert len(row["vector"]) == SMALL_WORD_VECTORS["vector_dim"] and "neighbours" not in row
        np.testing.assert_allclose(row["vector"], reference.get_word_vector(row["word"]), atol=1e-5)
    assert np.linalg.norm(rows[2]["vector"]) > 0


def test_nearest_neighbours_by_cosine_similarity(client, predictor, reference):
    word = predictor.words[5]
    rows = _post(client, {"instances": [word, UNKNOWN], "configuration": {"neighbours": 4}}).get_json()
    for row in rows:
        neighbours = row["neighbours"]
        assert len(neighbours) == 4 and row["word"] not in [n["word"] for n in neighbours]
        similarities = [n["similarity"] for n in neighbours]
        assert similarities == sorted(similarities, reverse=True)
        vector = reference.get_word_vector(row["word"])
        for neighbour in neighbours:
            other = reference.get_word_vector(neighbour["word"])
            cosine = vector @ other / np.linalg.norm(vector) / np.linalg.norm(other)
            assert neighbour["similarity"] == pytest.approx(cosine, abs=1e-4)
    everyone = np.array([reference.get_word_vector(w) for w in predictor.words])
    everyone /= np.linalg.norm(everyone, axis=1, keepdims=True)
    vector = reference.get_word_vector(word)
    best = np.sort(everyone @ (vector / np.linalg.norm(vector)))[::-1][1:5]  # [0] is the word itself
    np.testing.assert_allclose([n["similarity"] for n in rows[0]["neighbours"]], best, atol=1e-4)


def test_text_vectors_alone_answer_unknown_words_with_zeros_as_blazingtext_does(vectors_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(vectors_dir / "vectors.txt", folder)
    predictor = WordVectorPredictor.load(str(folder))
    known = predictor.words[0]
    rows = predictor.answer([known, UNKNOWN], neighbours=2)
    assert [row["source"] for row in rows] == ["in_vocabulary", "missing"]
    assert rows[1]["vector"] == [0.0] * SMALL_WORD_VECTORS["vector_dim"] and rows[1]["neighbours"] == []
    assert len(rows[0]["neighbours"]) == 2


def test_a_worker_loading_after_the_bin_was_rewritten_in_place_maps_the_first_workers_copy(vectors_dir, tmp_path):
    """Workers load lazily: one may load after the model folder's vectors.bin was truncated. It must map the copy the
    first worker made, not read the truncated file, find no fastText binary and serve vectors.txt's words alone."""
    folder = shutil.copytree(vectors_dir, tmp_path / "model")
    snapshots = WeightSnapshots.create()
    try:
        copies = functools.partial(snapshots.copies, SINGLE_MODEL, str(folder))
        first = WordVectorPredictor.load(str(folder), copies)
        (folder / "vectors.bin").write_bytes(b"")
        later = WordVectorPredictor.load(str(folder), copies)
    finally:
        snapshots.destroy()
    words = [first.words[0], UNKNOWN]
    assert [row["source"] for row in later.answer(words)] == ["in_vocabulary", "from_subwords"]
    assert later.answer(words, neighbours=3) == first.answer(words, neighbours=3)


def test_ping_and_the_worker_log_describe_the_vectors(client, predictor):
    assert client.get("/ping").status_code == 200
    assert predictor.describe().startswith(f"{len(predictor.words)} words of dimension 16 (fasttext-bin)")


@pytest.mark.parametrize(
    "body,content_type,status,fragment",
    [
        ({"instances": ["a"]}, "text/csv", 415, "send application/json"),
        ("{not json", "application/json", 400, "not valid JSON"),
        (["awesome"], "application/json", 400, 'must be {"instances"'),
        ({"words": ["awesome"]}, "application/json", 400, "the field(s) words"),
        ({"instances": "awesome"}, "application/json", 400, "non-empty list of words; got a string"),
        ({"instances": []}, "application/json", 400, "non-empty list"),
        ({"instances": ["ok", 3]}, "application/json", 400, "Instance 1 is a number"),
        ({"instances": ["ok", " "]}, "application/json", 400, "Instance 1 is a string; expected a non-empty"),
        ({"instances": ["ok"], "configuration": {"k": 2}}, "application/json", 400, "takes only neighbours"),
        ({"instances": ["ok"], "configuration": {"neighbours": 0}}, "application/json", 400, "from 1 to 100"),
        ({"instances": ["ok"], "configuration": {"neighbours": MAX_NEIGHBOURS + 1}}, JSON, 400, "got 101"),
        ({"instances": ["ok"], "configuration": {"neighbours": True}}, "application/json", 400, "got true"),
        ('{"instances": ["\\ud800"]}', JSON, 400, "Instance 0 holds a lone surrogate (U+D800)"),
        ('{"instances": ' + "[" * 100_000, JSON, 400, "nested too deep"),
        ({"instances": ["ok", "a" * 257]}, JSON, 413, "Instance 1 has 257 characters; this endpoint's limit is 256"),
        (b'{"instances": ["ok"]}', "application/json; charset=bz2", 415, "'bz2' is not a supported text encoding"),
    ],
)
def test_bad_requests_say_what_is_wrong(client, body, content_type, status, fragment):
    response = _post(client, body, content_type)
    assert response.status_code == status, response.data
    assert fragment in response.get_json()["message"], response.get_json()["message"]


def test_only_json_responses(client):
    response = _post(client, {"instances": ["the"]}, accept="text/csv")
    assert response.status_code == 406 and "application/json" in response.get_json()["message"]
    assert _post(client, {"instances": ["the"]}, accept="application/json, text/csv").status_code == 200


def test_a_transform_jobs_accept_stands_in_for_a_missing_one(predictor):
    settings = ServingEnvironment.from_environ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, cpu_count=2)
    client = create_app(settings, predictor).test_client()
    response = _post(client, {"instances": ["the"]})
    assert response.status_code == 406
    assert (
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='text/csv' does not allow application/json"
        in response.get_json()["message"]
    )
    assert _post(client, {"instances": ["the"]}, accept="application/json").status_code == 200
    settings = ServingEnvironment.from_environ(
        {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}, cpu_count=2
    )
    assert _post(create_app(settings, predictor).test_client(), {"instances": ["the"]}, accept="*/*").status_code == 200


def test_a_folder_without_words_is_reported_by_ping(tmp_path):
    (tmp_path / "vectors.txt").write_text("0 16\n", encoding="utf-8")
    predictor, error = load_predictor(str(tmp_path))
    assert predictor is None and "vectors.txt cannot be read as word2vec-text" in error


@pytest.mark.parametrize("files", [["vectors.bin", "vectors.txt"], ["vectors.txt"]])
def test_the_vectors_are_served_without_mxnet_or_gluonnlp(vectors_dir, reference, predictor, tmp_path, files):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in files:
        shutil.copy(vectors_dir / name, folder)
    words = [*predictor.words[1:3], UNKNOWN]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MXNET, str(folder), json.dumps(words)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["described"].endswith("(fasttext-bin)" if "vectors.bin" in files else "(word2vec-text)")
    rows = answer["rows"]
    assert [row["word"] for row in rows] == words and all(len(row["neighbours"]) == 3 for row in rows[:2])
    for row in rows[:2]:
        np.testing.assert_allclose(row["vector"], reference.get_word_vector(row["word"]), atol=1e-5)
    if "vectors.bin" in files:
        assert rows[2]["source"] == "from_subwords"
        np.testing.assert_allclose(rows[2]["vector"], reference.get_word_vector(UNKNOWN), rtol=0, atol=1e-6)
        assert rows == predictor.answer(words, 3)  # what the predictor loaded with MXNet importable answers
    else:
        assert rows[2]["source"] == "missing"


def test_words_and_words_x_neighbours_over_their_limits_are_a_413(predictor):
    environ = {"SAGEMAKER_MAX_INSTANCES_PER_REQUEST": "100", "SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST": "500"}
    client = create_app(ServingEnvironment.from_environ(environ, cpu_count=2), predictor).test_client()
    words = predictor.words[:100]
    assert _post(client, {"instances": words, "configuration": {"neighbours": 5}}).status_code == 200
    response = _post(client, {"instances": words, "configuration": {"neighbours": 6}})
    assert response.status_code == 413 and "100 words x 6 neighbours is more than 500" in response.get_json()["message"]
    assert "SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST" in response.get_json()["message"]
    response = _post(client, {"instances": words + ["one more"]})
    assert response.status_code == 413 and "SAGEMAKER_MAX_INSTANCES_PER_REQUEST" in response.get_json()["message"]
