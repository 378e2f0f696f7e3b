"""Two kinds of classifier steps on the same small model, for the CPU steps' unit tests: MXNet's and the compiled
steps on a fasttext model, MXNet's and numpy's on a cnn model."""

import mxnet as mx
import numpy as np

from headlines import architectures
from headlines.classifier.cpu.convolutional import ConvolutionalSteps
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


def net_parameters(net):
    """The net's parameters as numpy arrays, by name without the architecture's prefix."""
    return {name.split("_", 1)[1]: p.data().asnumpy() for name, p in net.collect_params().items()}


def _nets(architecture, hyperparameters):
    """The encoder of TEXTS and two nets of `architecture` with the same start."""
    hp = Hyperparameters.from_strings({"architecture": architecture, **hyperparameters})
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(t) for t in TEXTS], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 16, **architectures.get(architecture).encoder_options(hp))
    nets = []
    for _ in range(2):
        mx.random.seed(7)
        net = build_model(architecture, encoder.input_size, 6, 4, hp)
        net.initialize(mx.init.Xavier(), ctx=[mx.cpu()])
        net.hybridize(static_alloc=True)
        nets.append(net)
    return encoder, nets


def _begun(reference, other, encoder):
    train = EncodedSet.encode(encoder, TEXTS, LABELS)
    for steps in (reference, other):
        steps.begin(train)
    return reference, other


def steps_pair(optimizer, rate, weight_decay):
    """MXNet's steps and the compiled steps, each on its own fasttext net of the same start, begun on TEXTS."""
    encoder, nets = _nets("fasttext", {"ngram_buckets": "40"})
    recipe = Recipe(optimizer, rate, linear_decay=False, select_on_validation=True, reason="test")
    reference = MXNetSteps(nets[0], encoder, [mx.cpu()], recipe, weight_decay, "device", 4)
    return _begun(reference, CompiledSteps(nets[1], recipe, weight_decay, encoder.padding_id, 4), encoder)


def convolutional_pair(optimizer, rate, weight_decay, dropout=0.0):
    """MXNet's steps and numpy's, each on its own small cnn net (8 filters of the default widths, 1, 2, 3) of the
    same start, begun on TEXTS, whose headlines of 0 and 1 words are shorter than the widest window."""
    encoder, nets = _nets("cnn", {"num_filters": "8", "dropout": str(dropout)})
    recipe = Recipe(optimizer, rate, linear_decay=False, select_on_validation=True, reason="test")
    reference = MXNetSteps(nets[0], encoder, [mx.cpu()], recipe, weight_decay, "device", 4)
    numpy_steps = ConvolutionalSteps(nets[1], recipe, weight_decay, encoder.padding_id, encoder.min_length)
    return _begun(reference, numpy_steps, encoder)
