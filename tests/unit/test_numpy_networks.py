"""The serving image's numpy networks and weights reader against MXNet, which wrote the model folder."""

import os
import struct

import mxnet as mx
import numpy as np
import pytest

from headlines import architectures
from headlines.artifacts import HeadlineModel, save_model
from headlines.errors import JobError
from headlines.hyperparameters import Hyperparameters
from headlines.model_folder import PARAMS_FILE
from headlines.models import build_model
from headlines.params_file import read_params
from headlines.serving.classifier import Classifier
from headlines.text import TextEncoder, Tokenizer, build_vocabulary

TRAIN = ["Fed raises interest rates again", "New iPhone sales beat forecasts", "Ebola outbreak spreads in Africa"]
HEADLINES = TRAIN + [
    "",
    "x",
    "!!",
    "Café prices in 北京 jump 5% as it’s unseen",
    "shares " * 90,  # past max_length
    "Stocks rally as the central bank holds interest rates",
]
LABELS = ["b", "e", "m", "t"]


def _model_folder(architecture, folder, embedding_dim=16, **options):
    settings = {"architecture": architecture, "num_filters": "8", "ngram_buckets": "500"}
    hp = Hyperparameters.from_strings(dict(settings, **options))
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(h) for h in TRAIN], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 64, **architectures.get(architecture).encoder_options(hp))
    mx.random.seed(0)
    net = build_model(architecture, encoder.input_size, embedding_dim, len(LABELS), hp)
    # Weights far from zero, so that a wrong layout or a missed term shows in the probabilities.
    net.initialize(mx.init.Normal(0.5))
    net.hybridize()
    net(*(mx.nd.array(a) for a in encoder.encode(TRAIN[:1])))
    save_model(str(folder), net, encoder, LABELS, {label: label.upper() for label in LABELS}, architecture)
    return str(folder)


@pytest.mark.parametrize(
    "architecture, options",
    [
        ("fasttext", {}),
        ("fasttext", {"word_ngrams": "3", "min_char": "2", "max_char": "4"}),
        ("fasttext", {"word_ngrams": "1", "min_char": "0"}),  # words only
        ("cnn", {}),
        ("cnn", {"kernel_sizes": "2,7"}),  # a headline shorter than the widest kernel
    ],
)
def test_numpy_probabilities_equal_mxnets(architecture, options, tmp_path):
    folder = _model_folder(architecture, tmp_path, **options)
    expected = HeadlineModel.load(folder).predict_proba(HEADLINES)
    served = Classifier.load(folder)
    np.testing.assert_allclose(served.predict_proba(HEADLINES), expected, atol=1e-5)
    # Alone, and again once its tokens' character n-gram sums are cached.
    for i, headline in enumerate(HEADLINES):
        np.testing.assert_allclose(served.predict_proba([headline])[0], expected[i], atol=1e-5)
    assert served.predict_proba([]).shape == (0, len(LABELS))


def test_the_weights_are_read_memory_mapped_and_equal_mxnets(tmp_path):
    path = os.path.join(_model_folder("cnn", tmp_path), PARAMS_FILE)
    params = read_params(path)
    expected = {name.split(":", 1)[1]: array.asnumpy() for name, array in mx.nd.load(path).items()}
    assert sorted(params) == sorted(expected)
    for name, array in params.items():
        np.testing.assert_array_equal(array, expected[name])
        assert isinstance(array.base, np.memmap) and not array.flags.writeable


def test_a_damaged_weights_file_is_refused_with_the_reason(tmp_path):
    path = os.path.join(_model_folder("fasttext", tmp_path), PARAMS_FILE)
    data = open(path, "rb").read()
    cases = {
        "truncated": (data[: len(data) // 2], "truncated"),
        "header only": (data[:20], "truncated"),
        "not params": (b"x" * 200, "not an MXNet parameters file"),
        "empty": (b"", "Cannot read"),
        "sparse": (data[:28] + struct.pack("<i", 1) + data[32:], "sparse"),
    }
    for name, (content, reason) in cases.items():
        damaged = tmp_path / f"{name}.params"
        damaged.write_bytes(content)
        with pytest.raises(JobError, match=reason):
            read_params(str(damaged))


def test_a_model_whose_weights_lack_a_layer_is_refused(tmp_path):
    folder = _model_folder("cnn", tmp_path)
    path = os.path.join(folder, PARAMS_FILE)
    params = {f"arg:{name}": mx.nd.array(array) for name, array in read_params(path).items()}
    del params["arg:cnn_dense0_bias"]
    mx.nd.save(path, params)
    with pytest.raises(JobError, match="no cnn_dense0_bias"):
        Classifier.load(folder)
