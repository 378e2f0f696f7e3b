"""Small classifier networks the unit tests share: an initialised network with its encoder (small_network) and its
logits (logits), and a model folder saved from one, weights far from zero (small_model_folder)."""

import mxnet as mx

from headlines import architectures
from headlines.classifier.artifacts import save_model
from headlines.hyperparameters import Hyperparameters
from headlines.models import build_model
from headlines.text import TextEncoder, Tokenizer, build_vocabulary

# The headlines small_network's vocabulary is built from: long, short, one letter.
HEADLINES = [
    "Fed raises interest rates again",
    "New iPhone",
    "Ebola outbreak spreads in West Africa as cases rise",
    "x",
]
# The headlines small_model_folder's vocabulary is built from, and its labels.
TRAIN = ["Fed raises interest rates again", "New iPhone sales beat forecasts", "Ebola outbreak spreads in Africa"]
LABELS = ["b", "e", "m", "t"]


def small_network(architecture):
    """An initialised (Xavier, seed 0) network of the architecture, 3 classes, with its encoder."""
    hp = Hyperparameters.from_strings({"architecture": architecture, "num_filters": "8", "ngram_buckets": "100"})
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([tokenizer(h) for h in HEADLINES], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 64, **architectures.get(architecture).encoder_options(hp))
    mx.random.seed(0)
    net = build_model(architecture, encoder.input_size, 12, 3, hp)
    net.initialize(mx.init.Xavier())
    return net, encoder


def logits(net, encoder, texts):
    ids, lengths = encoder.encode(texts)
    return net(mx.nd.array(ids), mx.nd.array(lengths)).asnumpy()


def small_model_folder(architecture, folder, embedding_dim=16, **options):
    """A model folder (save_model's) of the architecture, LABELS as its classes, written to folder; options are
    hyperparameters (strings). Returns the folder as a string."""
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
