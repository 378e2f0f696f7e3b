import re

import mxnet as mx
import numpy as np
import pytest

from headlines import architectures
from headlines.artifacts import HeadlineModel, save_model
from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from headlines.text import TextEncoder, Tokenizer, build_vocabulary
from helpers import REPO

HEADLINES = [
    "Fed raises interest rates again",
    "New iPhone",
    "Ebola outbreak spreads in West Africa as cases rise",
    "x",
]


def _model(architecture, tmp_path=None):
    hp = Hyperparameters.from_strings({"architecture": architecture, "num_filters": "8", "ngram_buckets": "100"})
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(h) for h in HEADLINES], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 64, **architectures.get(architecture).encoder_options(hp))
    mx.random.seed(0)
    net = build_model(architecture, encoder.input_size, 12, 3, hp)
    net.initialize(mx.init.Xavier())
    return net, encoder


def _logits(net, encoder, texts):
    ids, lengths = encoder.encode(texts)
    return net(mx.nd.array(ids), mx.nd.array(lengths)).asnumpy()


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_output_shape_and_hybridized_equals_imperative(architecture):
    net, encoder = _model(architecture)
    imperative = _logits(net, encoder, HEADLINES)
    assert imperative.shape == (len(HEADLINES), 3)
    net.hybridize(static_alloc=True)
    np.testing.assert_allclose(_logits(net, encoder, HEADLINES), imperative, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_a_headline_scores_the_same_alone_and_in_a_padded_batch(architecture):
    net, encoder = _model(architecture)
    net.hybridize()
    batch = _logits(net, encoder, HEADLINES)
    for i, headline in enumerate(HEADLINES):
        np.testing.assert_allclose(_logits(net, encoder, [headline])[0], batch[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_exported_model_reproduces_in_memory_probabilities(architecture, tmp_path):
    net, encoder = _model(architecture)
    net.hybridize()
    expected = mx.nd.softmax(mx.nd.array(_logits(net, encoder, HEADLINES)), axis=1).asnumpy()
    save_model(str(tmp_path), net, encoder, ["b", "e", "t"], {"b": "business", "e": "ent", "t": "tech"}, architecture)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "labels.json",
        "model-0000.params",
        "model-config.json",
        "model-symbol.json",
        "vocabulary.json",
    ]
    loaded = HeadlineModel.load(str(tmp_path))
    np.testing.assert_allclose(loaded.predict_proba(HEADLINES), expected, rtol=1e-5, atol=1e-6)
    assert loaded.labels == ["b", "e", "t"] and loaded.label_names["b"] == "business"
    assert loaded.predict_proba([]).shape == (0, 3)


def test_incomplete_model_folder_is_refused(tmp_path):
    from headlines.errors import JobError

    with pytest.raises(JobError, match="incomplete"):
        HeadlineModel.load(str(tmp_path))


def test_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        build_model("rnn", 10, 4, 2, Hyperparameters())


def test_only_architectures_py_tests_an_architectures_name():
    """Every difference between the architectures is declared in architectures.py; no module compares names."""
    package = REPO / "code" / "headlines"
    names = "|".join(architectures.NAMES)
    compared = re.compile(rf"[=!]=\s*[\"']({names})[\"']|[\"']({names})[\"']\s*[=!]=")
    found = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "architectures.py" and compared.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
