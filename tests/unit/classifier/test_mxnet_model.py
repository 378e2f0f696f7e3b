"""The classifier's model folder loaded with MXNet: an exported model reproduces the in-memory probabilities, an
incomplete folder is refused."""

import mxnet as mx
import numpy as np
import pytest

from headlines.classifier.artifacts import save_model
from headlines.classifier.mxnet_model import HeadlineModel
from tests.support.models import HEADLINES, logits, small_network


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_exported_model_reproduces_in_memory_probabilities(architecture, tmp_path):
    net, encoder = small_network(architecture)
    net.hybridize()
    expected = mx.nd.softmax(mx.nd.array(logits(net, encoder, HEADLINES)), axis=1).asnumpy()
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
