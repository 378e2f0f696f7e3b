"""The classifier's networks (code/headlines/models.py): both architectures' output, hybridized or not, a headline
alone or in a padded batch, and an unknown architecture refused."""

import numpy as np
import pytest

from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from tests.support.models import HEADLINES, logits, small_network


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_output_shape_and_hybridized_equals_imperative(architecture):
    net, encoder = small_network(architecture)
    imperative = logits(net, encoder, HEADLINES)
    assert imperative.shape == (len(HEADLINES), 3)
    net.hybridize(static_alloc=True)
    np.testing.assert_allclose(logits(net, encoder, HEADLINES), imperative, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_a_headline_scores_the_same_alone_and_in_a_padded_batch(architecture):
    net, encoder = small_network(architecture)
    net.hybridize()
    batch = logits(net, encoder, HEADLINES)
    for i, headline in enumerate(HEADLINES):
        np.testing.assert_allclose(logits(net, encoder, [headline])[0], batch[i], rtol=1e-5, atol=1e-6)


def test_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        build_model("rnn", 10, 4, 2, Hyperparameters())
