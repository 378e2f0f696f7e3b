"""The compiled steps compute what MXNet's steps compute: from the same parameters, the same batches give the same
losses, predictions, parameters and optimizer progress, for adam and sgd, weight decay, a frozen embedding, an
empty headline and a batch with repeated ids."""

import mxnet as mx
import numba
import numpy as np
import pytest

from headlines.classifier.cpu import kernels
from headlines.classifier.cpu.kernels import compile_for_this_cpu, train_batch
from headlines.classifier.cpu.optimizer import OptimizerState, zeros_on_huge_pages
from headlines.classifier.cpu.steps import supports
from headlines.classifier.recipe import Recipe
from headlines.classifier.steps import EncodedSet
from tests.support.compiled_steps import BATCHES, LABELS, TEXTS, net_parameters, steps_pair
from tests.support.huge_pages import huge_page_kb, skip_without_huge_pages
from tests.support.prefetches import prefetches_in, skip_without_known_instruction


@pytest.mark.parametrize(
    "optimizer, rate, weight_decay, frozen",
    [("adam", 0.05, 0.0, False), ("adam", 0.05, 0.01, False), ("adam", 0.05, 0.0, True), ("sgd", 0.5, 0.01, False)],
)
def test_compiled_steps_take_mxnets_steps(optimizer, rate, weight_decay, frozen):
    reference, compiled = steps_pair(optimizer, rate, weight_decay)
    for steps in (reference, compiled):
        steps.freeze_embedding(frozen)
    for number, batch in enumerate(BATCHES):
        indices = np.array(batch)
        loss, correct = reference.step(indices, number)
        assert compiled.step(indices, number) == (pytest.approx(loss, rel=1e-5), correct)
        if number == 2:  # a new rate mid-way, as the linear schedule sets it
            for steps in (reference, compiled):
                steps.set_learning_rate(rate / 2)
    compiled.publish()
    expected, got = net_parameters(reference.net), net_parameters(compiled.net)
    # Adam's first steps are rate * g / (|g| + 3e-7): a weight whose gradient is rounding noise (summands that
    # cancel) moves by an amount that depends on the last bits of that noise, and the two sum in other orders.
    atol = 1e-4 if optimizer == "adam" else 1e-6
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=atol, err_msg=name)
    start = net_parameters(steps_pair(optimizer, rate, weight_decay)[1].net)["embedding_weight"]
    moved = np.abs(got["embedding_weight"] - start).max()
    assert (moved == 0) if frozen else (moved > 1e-3)


def test_optimizer_state_resumes_where_it_was(tmp_path):
    """Saved after two steps and loaded into fresh steps holding the same parameters, the next steps are the
    uninterrupted run's (adam's step count included: it sets the bias correction)."""
    _, uninterrupted = steps_pair("adam", 0.05, 0.0)
    _, first = steps_pair("adam", 0.05, 0.0)
    for steps in (uninterrupted, first):
        for number, batch in enumerate(BATCHES[:2]):
            steps.step(np.array(batch), number)
    first.save_states(str(tmp_path / "states"))
    first.publish()
    _, resumed = steps_pair("adam", 0.05, 0.0)
    for parameter, saved in zip(resumed.net.collect_params().values(), first.net.collect_params().values()):
        parameter.set_data(saved.data())
    resumed.pull()
    resumed.load_states(str(tmp_path / "states"))
    for number, batch in enumerate(BATCHES[2:]):
        assert resumed.step(np.array(batch), number) == uninterrupted.step(np.array(batch), number)
    np.testing.assert_array_equal(resumed.embedding, uninterrupted.embedding)


def test_encoded_sets_hold_each_headlines_ids_in_order(monkeypatch):
    """Encoded a chunk at a time, as from one call."""
    encoder = steps_pair("sgd", 0.5, 0.0)[0].encoder
    monkeypatch.setattr("headlines.classifier.steps.ENCODE_CHUNK", 3)
    encoded = EncodedSet.encode(encoder, TEXTS, LABELS)
    assert encoded.ids.dtype == np.int32 and len(encoded) == len(TEXTS)
    for start, stop in ((0, len(TEXTS)), (5, 8), (6, 7)):
        expected = [encoder.ids(t) for t in TEXTS[start:stop]]
        for ids, sizes in (encoded.span(start, stop), encoded.gather(range(start, stop))):
            assert ids.tolist() == sum(expected, []) and sizes.tolist() == [len(row) for row in expected]
    ids, sizes = encoded.gather([9, 0])
    assert ids.tolist() == encoder.ids(TEXTS[9]) + encoder.ids(TEXTS[0])


@pytest.mark.parametrize(
    "hashed, optimizer, contexts, expected",
    [
        (True, "adam", [mx.cpu()], True),
        (True, "sgd", [mx.cpu()], True),
        (False, "adam", [mx.cpu()], False),  # cnn
        (True, "adam", [mx.gpu(0)], False),
        (True, "adam", [mx.cpu(0), mx.cpu(1)], False),
    ],
)
def test_compiled_steps_are_for_a_fasttext_model_on_cpu(hashed, optimizer, contexts, expected):
    assert supports(hashed, optimizer, contexts) is expected


def test_the_image_compiles_the_one_signature_the_steps_call():
    """The image fills numba's cache at build time (compile_for_this_cpu): a step that needed another signature
    would compile again in every job."""
    compile_for_this_cpu()
    _, compiled = steps_pair("sgd", 0.5, 0.0)
    compiled.step(np.array(BATCHES[0]), 0)
    assert len(train_batch.signatures) == 1


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one core: no other number of threads to compare")
def test_steps_are_the_same_on_any_number_of_threads():
    """Each row's gradient is summed by one thread in the batch's order: one thread and two give the same bits
    (which exact resumption and the equivalence with MXNet's steps rest on)."""
    runs = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            _, compiled = steps_pair("adam", 0.05, 0.0)
            results = [compiled.step(np.array(batch), number) for number, batch in enumerate(BATCHES * 3)]
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        runs.append((results, compiled.embedding, compiled.weight, compiled.states["embedding"]))
    assert runs[0][0] == runs[1][0]
    for one, two in zip(runs[0][1:], runs[1][1:]):
        np.testing.assert_array_equal(one, two)


def test_a_batch_larger_than_the_steps_were_sized_for_is_refused():
    """The kernel writes into scratch space sized for batch_size headlines, without bounds checks."""
    _, compiled = steps_pair("adam", 0.05, 0.0)
    with pytest.raises(ValueError, match="5 headlines, more than the 4"):
        compiled.step(np.arange(5), 0)


def test_zeros_on_huge_pages_are_zeros():
    zeros = zeros_on_huge_pages((3, 4))
    assert zeros.shape == (3, 4) and zeros.dtype == np.float32 and not zeros.any()


def test_adams_state_is_on_huge_pages():
    """Each step reads and writes thousands of the state's rows at random: on 4 KB pages nearly each is a TLB miss
    (40,000 rows of 100: 32 MB, as the state of a small embedding)."""
    skip_without_huge_pages()
    recipe = Recipe("adam", 0.01, linear_decay=False, select_on_validation=True, reason="a test")
    state = OptimizerState(recipe, 0.0, {"embedding": np.ones((40_000, 100), np.float32)})
    state.states["embedding"] += 1
    assert huge_page_kb(state.states["embedding"]) > 0


def test_sgd_keeps_no_state_for_the_embedding():
    """sgd reads none of it: the embedding's state would be twice the embedding's memory, and its checkpoint file."""
    recipe = Recipe("sgd", 0.1, linear_decay=False, select_on_validation=True, reason="a test")
    parameters = {"embedding": np.ones((40_000, 100), np.float32), "bias": np.ones(4, np.float32)}
    states = OptimizerState(recipe, 0.0, parameters).states
    assert states["embedding"].shape == (2, 0, 100) and states["bias"].shape == (2, 4)


def test_the_step_prefetches_in_its_forward_pass_and_in_its_update():
    """The forward pass prefetches a headline's next rows, the update the next rows' weights and adam's state:
    without them the step ran 1.3-1.7x slower (docs/performance.md)."""
    skip_without_known_instruction()
    headline = numba.njit(cache=False)(kernels._headline.py_func)
    step = numba.njit(parallel=True, cache=False)(kernels.train_batch.py_func)
    step(*kernels.smallest_arguments())
    dim = 2
    headline(*(np.zeros(shape, np.float32) for shape in ((3, dim), (2, dim), (2,))), np.array([1], np.int32), 0, 0,
             *(np.zeros(dim, np.float32) for _ in range(3)))  # fmt: skip
    assert prefetches_in(headline) > 0
    assert prefetches_in(step) > prefetches_in(headline)
