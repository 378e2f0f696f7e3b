"""The serving image's numpy networks and weights reader against MXNet, which wrote the model folder."""

import os

import mxnet as mx
import numpy as np
import pytest

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.errors import JobError
from headlines.model_folder import PARAMS_FILE
from headlines.params_file import read_params
from headlines.serving.classifier import Classifier
from tests.support.models import LABELS, TRAIN, small_model_folder

HEADLINES = TRAIN + [
    "",
    "x",
    "!!",
    "Café prices in 北京 jump 5% as it’s unseen",
    "shares " * 90,  # past max_length
    "Stocks rally as the central bank holds interest rates",
]


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
    folder = small_model_folder(architecture, tmp_path, **options)
    expected = HeadlineModel.load(folder).predict_proba(HEADLINES)
    served = Classifier.load(folder)
    np.testing.assert_allclose(served.predict_proba(HEADLINES), expected, atol=1e-5)
    # Alone, and again once its tokens' character n-gram sums are cached.
    for i, headline in enumerate(HEADLINES):
        np.testing.assert_allclose(served.predict_proba([headline])[0], expected[i], atol=1e-5)
    assert served.predict_proba([]).shape == (0, len(LABELS))


def test_a_model_whose_weights_lack_a_layer_is_refused(tmp_path):
    folder = small_model_folder("cnn", tmp_path)
    path = os.path.join(folder, PARAMS_FILE)
    params = {f"arg:{name}": mx.nd.array(array) for name, array in read_params(path).items()}
    del params["arg:cnn_dense0_bias"]
    mx.nd.save(path, params)
    with pytest.raises(JobError, match="no cnn_dense0_bias"):
        Classifier.load(folder)
