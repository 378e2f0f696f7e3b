"""The data-parallel path on two CPU contexts standing in for two GPUs: the batch is split across devices,
gradients are summed by the kvstore, and the update equals the single-device update on the whole batch."""

import mxnet as mx
import numpy as np
import pytest

from headlines import architectures
from headlines.classifier.mxnet_steps import MXNetSteps
from headlines.classifier.recipe import MIN_SELECTION_ROWS, choose_recipe
from headlines.classifier.steps import EncodedSet
from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from headlines.text import TextEncoder, Tokenizer, build_vocabulary

TEXTS = [
    "fed raises rates",
    "stocks fall on jobs data",
    "new phone launched",
    "oscar night winners",
    "ebola cases rise",
    "apple beats views",
    "markets rally",
    "film tops box office",
    "x",
]
LABELS = np.array([0, 0, 1, 2, 3, 1, 0, 2, 3])


def _trainer(contexts, architecture):
    hp = Hyperparameters.from_strings(
        {
            "architecture": architecture,
            "num_filters": "4",
            "ngram_buckets": "50",
            "dropout": "0",
            "optimizer": "sgd",
            "learning_rate": "0.5",
        }
    )
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(t) for t in TEXTS], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 16, **architectures.get(architecture).encoder_options(hp))
    mx.random.seed(3)
    net = build_model(architecture, encoder.input_size, 6, 4, hp)
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.hybridize()
    recipe = choose_recipe(hp, validation_rows=MIN_SELECTION_ROWS, pretrained=False, hosts=1)
    steps = MXNetSteps(net, encoder, contexts, recipe, hp.weight_decay, kvstore="device", worker_batch_size=9)
    return steps, encoder


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
@pytest.mark.parametrize("batch", [slice(0, 9), slice(8, 9)])  # even/odd split, and fewer rows than devices
def test_two_devices_take_the_same_step_as_one(architecture, batch):
    single, encoder = _trainer([mx.cpu(0)], architecture)
    double, _ = _trainer([mx.cpu(0), mx.cpu(1)], architecture)
    encoded = EncodedSet.encode(encoder, TEXTS, LABELS)
    indices = np.arange(len(TEXTS))[batch]
    for _ in range(3):
        loss_one, correct_one = single.train_step(*encoded.gather(indices), LABELS[indices])
        loss_two, correct_two = double.train_step(*encoded.gather(indices), LABELS[indices])
        assert loss_two == pytest.approx(loss_one, rel=1e-5) and correct_one == correct_two
    one = {k.split("_", 1)[1]: p.data(mx.cpu(0)).asnumpy() for k, p in single.net.collect_params().items()}
    for name, parameter in double.net.collect_params().items():
        for context in (mx.cpu(0), mx.cpu(1)):  # every device holds the same, updated weights
            np.testing.assert_allclose(
                parameter.data(context).asnumpy(), one[name.split("_", 1)[1]], rtol=1e-5, atol=1e-6
            )
