"""numpy's steps of the cnn architecture compute what MXNet's steps compute: from the same parameters, the same
batches give the same losses, predictions, parameters and optimizer progress (adam and sgd, weight decay, a frozen
embedding, headlines shorter than a window, an empty one, repeated words). Dropout draws from numpy's generator
instead of MXNet's, so the equivalence is checked without it, and dropout on its own."""

import mxnet as mx
import numpy as np
import pytest

from headlines.classifier.cpu import convolutional_kernels
from headlines.classifier.cpu.convolutional import dropout_mask, supports
from tests.support.compiled_steps import BATCHES, convolutional_pair, net_parameters


@pytest.mark.parametrize(
    "optimizer, rate, weight_decay, frozen",
    [("adam", 0.05, 0.0, False), ("adam", 0.05, 0.01, False), ("adam", 0.05, 0.0, True), ("sgd", 0.5, 0.01, False)],
)
def test_numpy_steps_take_mxnets_steps(optimizer, rate, weight_decay, frozen):
    reference, numpy_steps = convolutional_pair(optimizer, rate, weight_decay)
    start = net_parameters(numpy_steps.net)
    for steps in (reference, numpy_steps):
        steps.freeze_embedding(frozen)
    for number, batch in enumerate(BATCHES * 2):
        indices = np.array(batch)
        loss, correct = reference.step(indices, number)
        assert numpy_steps.step(indices, number) == (pytest.approx(loss, rel=1e-5), correct)
        if number == 2:  # a new rate mid-way, as the linear schedule sets it
            for steps in (reference, numpy_steps):
                steps.set_learning_rate(rate / 2)
    numpy_steps.publish()
    expected, got = net_parameters(reference.net), net_parameters(numpy_steps.net)
    for name in expected:  # adam: see test_steps.py on gradients that are rounding noise
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-4, err_msg=name)
        assert np.abs(got[name] - start[name]).max() > 1e-3 or (frozen and name == "embedding_weight"), name
    if frozen:
        np.testing.assert_array_equal(got["embedding_weight"], start["embedding_weight"])


def test_the_padding_row_moves_as_in_mxnets_padded_batch():
    """A batch whose headlines differ in length holds the padding row in MXNet's padded input: adam moves it with
    its momentum even where no window reached it; numpy's steps update it alike."""
    reference, numpy_steps = convolutional_pair("adam", 0.05, 0.0)
    padding = reference.encoder.padding_id
    # 6-, 5-, 3- and 1-word headlines (the last padded up to the widest window, so the padding row gets a gradient),
    # then 6 and 5 words (it is padding past a headline's end alone)
    for number, batch in enumerate([[0, 1, 2, 8], [0, 1]]):
        reference.step(np.array(batch), number)
        numpy_steps.step(np.array(batch), number)
    numpy_steps.publish()
    before = net_parameters(convolutional_pair("adam", 0.05, 0.0)[1].net)["embedding_weight"][padding]
    expected = net_parameters(reference.net)["embedding_weight"][padding]
    np.testing.assert_allclose(net_parameters(numpy_steps.net)["embedding_weight"][padding], expected, atol=1e-6)
    assert np.abs(expected - before).max() > 1e-3


def test_dropout_is_drawn_from_the_steps_seed():
    """The same seeds give the same bits (a resumed job redraws what the uninterrupted one drew); another seed
    drops other features; and dropout does drop: the loss is not dropout 0's."""
    runs = []
    for seeds, dropout in ((range(5), 0.5), (range(5), 0.5), (range(10, 15), 0.5), (range(5), 0.0)):
        _, numpy_steps = convolutional_pair("adam", 0.05, 0.0, dropout)
        runs.append([numpy_steps.step(np.array(batch), seed) for batch, seed in zip(BATCHES, seeds)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2] and runs[0] != runs[3]


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5])
def test_dropout_zeroes_a_share_of_features_and_scales_the_rest(rate):
    """Inverted dropout, as MXNet's: kept features are scaled by 1 / (1 - p), so the expected feature is unchanged."""
    mask = dropout_mask((200, 300), rate, np.random.default_rng(0))
    assert set(np.unique(mask)) <= {np.float32(0), np.float32(1 / (1 - rate))}
    assert abs((mask == 0).mean() - rate) < 0.01 and abs(mask.mean() - 1) < 0.02


def test_optimizer_state_resumes_where_it_was(tmp_path):
    _, uninterrupted = convolutional_pair("adam", 0.05, 0.0, 0.5)
    _, first = convolutional_pair("adam", 0.05, 0.0, 0.5)
    for steps in (uninterrupted, first):
        for number, batch in enumerate(BATCHES[:2]):
            steps.step(np.array(batch), number)
    first.save_states(str(tmp_path / "states"))
    first.publish()
    _, resumed = convolutional_pair("adam", 0.05, 0.0, 0.5)
    for parameter, saved in zip(resumed.net.collect_params().values(), first.net.collect_params().values()):
        parameter.set_data(saved.data())
    resumed.pull()
    resumed.load_states(str(tmp_path / "states"))
    for number, batch in enumerate(BATCHES[2:]):
        assert resumed.step(np.array(batch), number + 2) == uninterrupted.step(np.array(batch), number + 2)
    for name, values in uninterrupted.parameters.items():
        np.testing.assert_array_equal(resumed.parameters[name], values, err_msg=name)


@pytest.mark.parametrize(
    "convolutional, optimizer, contexts, expected",
    [
        (True, "adam", [mx.cpu()], True),
        (True, "sgd", [mx.cpu()], True),
        (False, "adam", [mx.cpu()], False),  # fasttext: the compiled steps
        (True, "adam", [mx.gpu(0)], False),
        (True, "adam", [mx.cpu(0), mx.cpu(1)], False),
    ],
)
def test_numpy_steps_are_for_a_cnn_model_on_one_cpu(convolutional, optimizer, contexts, expected):
    assert supports(convolutional, optimizer, contexts) is expected


def test_the_image_compiles_the_one_signature_the_steps_call():
    """The image fills numba's cache at build time: a step that needed another signature would compile again in
    every job."""
    convolutional_kernels.compile_for_this_cpu()
    for optimizer in ("adam", "sgd"):
        _, numpy_steps = convolutional_pair(optimizer, 0.05, 0.01, 0.5)
        numpy_steps.step(np.array(BATCHES[0]), 0)
    for kernel in (convolutional_kernels.max_over_windows, convolutional_kernels.add_window_grads,
                   convolutional_kernels.update_rows, convolutional_kernels.update_weights):  # fmt: skip
        assert len(kernel.signatures) == 1, kernel
