"""The MXNet path's update against a numpy transcription of fastText's rule, on one device and on two."""

import mxnet as mx
import numpy as np
import pytest

from headlines.word_vectors.gpu.examples import ExampleBuilder
from headlines.word_vectors.gpu.word2vec import WordVectorModel
from tests.support.word_vectors import corpus_and_dictionary, word_vector_hp


def _reference_update(step, w_in, w_out, lr):
    """fastText's per-example rule with every example reading the same weights, deltas summed, in numpy."""
    w_in, w_out = w_in.copy(), w_out.copy()
    d_in, d_out, loss = np.zeros_like(w_in), np.zeros_like(w_out), 0.0
    word_rows = [step.input_rows[step.word_rows[1][a:b]] for a, b in zip(step.word_rows[0][:-1], step.word_rows[0][1:])]
    for e in range(step.examples):
        bag = step.bags[1][step.bags[0][e] : step.bags[0][e + 1]]
        rows = np.concatenate([word_rows[w] for w in bag])
        hidden = w_in[rows].mean(axis=0)
        grad = np.zeros_like(hidden)
        for t, label, mask in zip(step.targets[e], step.labels[e], step.mask[e]):
            score = w_out[t] @ hidden
            sig = 1 / (1 + np.exp(-score))
            gain = lr * mask * (label - sig)
            grad += gain * w_out[t]
            d_out[t] += gain * hidden
            loss -= mask * np.log(sig if label else 1 - sig)
        for r in rows:
            d_in[r] += grad
    return w_in + d_in, w_out + d_out, loss


@pytest.mark.parametrize("mode,subwords", [("skipgram", True), ("cbow", True), ("batch_skipgram", False)])
def test_one_step_matches_fasttexts_rule(tmp_path, mode, subwords):
    corpus, dictionary = corpus_and_dictionary(
        "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n" * 3,
        tmp_path,
        char_ngrams=(3, 4) if subwords else (),
        buckets=31,
    )
    hp = word_vector_hp(mode=mode, sampling_threshold=1, window_size=2, negative_samples=3, batch_size=3)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    step = next(ExampleBuilder(dictionary, hp, np.random.default_rng(1)).steps(ids, sentence))
    model = WordVectorModel(dictionary.input_rows, len(dictionary), 8, [mx.cpu()], seed=3)
    model.output_weights[:] = mx.nd.random.uniform(-0.5, 0.5, model.output_weights.shape)
    w_in, w_out = model.input_weights.asnumpy(), model.output_weights.asnumpy()
    loss = model.train_group([step], 0.3).asscalar()
    expected_in, expected_out, expected_loss = _reference_update(step, w_in, w_out, 0.3)
    np.testing.assert_allclose(model.input_weights.asnumpy(), expected_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.output_weights.asnumpy(), expected_out, rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(expected_loss, rel=1e-4)


def test_two_devices_compute_what_one_device_computes_for_a_group(tmp_path):
    corpus, dictionary = corpus_and_dictionary(
        "a b c d e f g a b c\nd e f a b\n" * 20, tmp_path, char_ngrams=(2, 3), buckets=40
    )
    hp = word_vector_hp(mode="skipgram", sampling_threshold=1, update_tokens=16, negative_samples=2)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    steps = list(ExampleBuilder(dictionary, hp, np.random.default_rng(2)).steps(ids, sentence))
    one = WordVectorModel(dictionary.input_rows, len(dictionary), 6, [mx.cpu(0)], seed=5)
    two = WordVectorModel(dictionary.input_rows, len(dictionary), 6, [mx.cpu(0), mx.cpu(1)], seed=5)
    for first in range(0, len(steps) - 1, 2):
        group = steps[first : first + 2]
        loss_one = one.train_group(group, 0.1)  # both steps from the same weights, as on two devices
        loss_two = two.train_group(group, 0.1)
        assert loss_two.asscalar() == pytest.approx(loss_one.asscalar(), rel=1e-5)
    np.testing.assert_allclose(two.input_weights.asnumpy(), one.input_weights.asnumpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(two.output_weights.asnumpy(), one.output_weights.asnumpy(), rtol=1e-5, atol=1e-7)
