"""Two kinds of classifier steps on the same small fasttext model, for the compiled steps' unit tests."""

import mxnet as mx
import numpy as np

from headlines import architectures
from headlines.classifier.cpu.steps import CompiledSteps
from headlines.classifier.mxnet_steps import MXNetSteps
from headlines.classifier.recipe import Recipe
from headlines.classifier.steps import EncodedSet
from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from headlines.text import TextEncoder, Tokenizer, build_vocabulary

TEXTS = [
    "fed raises rates as stocks fall",
    "stocks fall on jobs data",
    "new phone launched",
    "oscar night winners",
    "ebola ebola cases rise",
    "apple beats views",
    "",
    "film tops box office",
    "x",
    "markets rally on fed",
]
LABELS = np.array([0, 0, 1, 2, 3, 1, 0, 2, 3, 0])
BATCHES = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 4], [6], [2, 4, 9]]


def steps_pair(optimizer, rate, weight_decay):
    """MXNet's steps and the compiled steps, each on its own fasttext net of the same start, begun on TEXTS."""
    hp = Hyperparameters.from_strings({"ngram_buckets": "40"})
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(t) for t in TEXTS], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 16, **architectures.FASTTEXT.encoder_options(hp))
    recipe = Recipe(optimizer, rate, linear_decay=False, select_on_validation=True, reason="test")
    nets = []
    for _ in range(2):
        mx.random.seed(7)
        net = build_model("fasttext", encoder.input_size, 6, 4, hp)
        net.initialize(mx.init.Xavier(), ctx=[mx.cpu()])
        net.hybridize(static_alloc=True)
        nets.append(net)
    train = EncodedSet.encode(encoder, TEXTS, LABELS)
    reference = MXNetSteps(nets[0], encoder, [mx.cpu()], recipe, weight_decay, "device", 4)
    compiled = CompiledSteps(nets[1], recipe, weight_decay, encoder.padding_id, 4)
    for steps in (reference, compiled):
        steps.begin(train)
    return reference, compiled
