"""The CPU steps (compiled for fasttext, numpy's for cnn) on several hosts: after an epoch each host's net holds the
mean of every host's parameters, the exchange is counted, and hosts that built different vocabularies or labels fail
with the reason."""

import numpy as np
import pytest

from headlines.classifier.cpu import averaging
from headlines.classifier.cpu.averaging import CHANGED_ROWS_SUFFIX, AveragedSteps
from headlines.classifier.cpu.averaging_kernels import add_mean, flat_view, write_change
from headlines.errors import JobError
from headlines.runtime.host_exchange import HostExchange
from tests.support.compiled_steps import BATCHES, convolutional_pair, steps_pair
from tests.support.kvstore import SummingKVStore

# Each kind of CPU steps on a fresh net, and the name of its averaged form.
CPU_STEPS = {
    "fasttext": (lambda: steps_pair("adam", 0.05, 0.0)[1], "compiled-cpu-averaged"),
    "cnn": (lambda: convolutional_pair("adam", 0.05, 0.0, dropout=0.5)[1], "numpy-cpu-averaged"),
}


@pytest.mark.parametrize("architecture", sorted(CPU_STEPS))
def test_an_epochs_end_leaves_the_mean_of_the_hosts_parameters_in_the_net_and_the_steps(architecture):
    """Each host's parameters become the last mean plus the mean of the hosts' changes since (here the peer's
    change is 0.25 everywhere), exchanged as float16: 2 bytes a parameter, pushed and pulled."""
    new_steps, name = CPU_STEPS[architecture]
    peer_change = {key: np.full(values.shape, 0.25, np.float32) for key, values in new_steps().parameters.items()}
    steps = new_steps()
    exchange = HostExchange(SummingKVStore(lambda key, own: own if key == "fingerprint" else peer_change[key]), "", "")
    averaged = AveragedSteps(steps, exchange)
    assert averaged.name == name
    start = {key: values.copy() for key, values in steps.parameters.items()}
    for number, batch in enumerate(BATCHES):
        averaged.step(np.array(batch), seed=number)
    own = {key: values.copy() for key, values in steps.parameters.items()}
    averaged.publish()
    in_net = {parameter.name: parameter.data().asnumpy() for parameter in steps.net.collect_params().values()}
    assert len(in_net) == len(own)
    for key in own:
        assert not np.allclose(own[key], start[key])  # the steps changed every parameter
        expected = start[key] + (own[key] - start[key] + 0.25) / 2
        np.testing.assert_allclose(steps.parameters[key], expected, rtol=1e-3, atol=1e-4)
    for mean in steps.parameters.values():  # the net holds the mean too (names differ: matched by value)
        assert any(values.shape == mean.shape and np.array_equal(values, mean) for values in in_net.values())
    parameter_count = sum(values.size for values in own.values())
    assert averaged.bytes_exchanged == 2 * 2 * parameter_count
    averaged.publish()
    assert averaged.bytes_exchanged == 4 * 2 * parameter_count


# float32 values whose float16 rounding is a special case: ties to even, the largest finite float16 and past it,
# subnormals and below, signed zeros, infinities and NaN.
EDGES = np.array(
    [0.0, -0.0, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 2**-24, 2**-25, 3e-8, 1e-9]
    + [np.inf, -np.inf, np.nan],
    np.float32,
)


def _numpy_change(parameters, last):
    """What numpy writes for the change, in float16: float32 arithmetic, then rounded."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.subtract(parameters, last, out=np.empty(parameters.shape, np.float16), casting="same_kind")


def test_the_change_is_numpys_float16_rounding_bit_for_bit():
    rng = np.random.default_rng(0)
    parameters = np.concatenate([EDGES, (rng.standard_normal(10_000) * 0.1).astype(np.float32)]).reshape(-1, 4)
    last = parameters + (rng.standard_normal(parameters.shape) * 1e-3).astype(np.float32)
    last.ravel()[: len(EDGES)] = 0.0
    change = np.full(parameters.shape, 7.0, np.float16)
    write_change(parameters, last, change)
    np.testing.assert_array_equal(change.view(np.uint16), _numpy_change(parameters, last).view(np.uint16))


@pytest.mark.parametrize("hosts", [2, 3])
def test_the_mean_is_numpys_float32_arithmetic_bit_for_bit(hosts):
    """last + float32(total) * (1 / hosts), rounded after the product and after the sum (no fused multiply-add),
    and the parameters take it."""
    rng = np.random.default_rng(hosts)
    total = np.concatenate([EDGES, rng.standard_normal(10_001).astype(np.float32)]).astype(np.float16).reshape(-1, 1)
    last = (rng.standard_normal(total.shape) * 0.3).astype(np.float32)
    expected = last.copy()
    with np.errstate(invalid="ignore"):
        expected += total.astype(np.float32) * np.float32(1 / hosts)
    parameters = np.zeros_like(last)
    add_mean(last, parameters, total, hosts)
    np.testing.assert_array_equal(last.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(parameters.view(np.uint32), expected.view(np.uint32))


class _Parameters:
    """Steps that are nothing but their parameters (publish: nothing more to write)."""

    name = "fake"

    def __init__(self, parameters):
        self.parameters = parameters

    def publish(self):
        pass


def _half(values):
    with np.errstate(over="ignore"):
        return values.astype(np.float16)


@pytest.mark.parametrize(
    "own_rows, peer_rows",
    [([1, 2, 9, 17], [2, 3, 18, 21]), ([], [5]), ([], []), ([4], [4]), (list(range(0, 22, 2)), list(range(1, 22, 2)))],
)
def test_an_embeddings_changed_rows_alone_travel_and_give_what_the_whole_would(monkeypatch, own_rows, peer_rows):
    """An embedding of 22 rows in blocks of 4 (the last of 2): the hosts add up which rows each changed, then
    exchange those rows' changes (the union of both hosts', in order) in as many blocks as they fill, never more
    than the whole. Every parameter ends as it would with the whole exchange (last + the mean of float16 changes),
    to the bit; the output layer goes whole."""
    monkeypatch.setattr(averaging, "ROW_BLOCK", 4)
    rows, rng = 22, np.random.default_rng(len(own_rows))
    last = {"embedding": rng.standard_normal((rows, 3)).astype(np.float32), "weight": np.ones((2, 3), np.float32)}
    own = {name: values.copy() for name, values in last.items()}
    own["embedding"][own_rows] += rng.standard_normal((len(own_rows), 3)).astype(np.float32) * 0.1
    own["weight"] += 0.5
    peer_change = {"embedding": np.zeros((rows, 3), np.float32), "weight": np.full((2, 3), 0.25, np.float32)}
    peer_change["embedding"][peer_rows] = rng.standard_normal((len(peer_rows), 3)).astype(np.float32)
    union = sorted(set(own_rows) | set(peer_rows))
    peer_sent = np.zeros((rows, 3), np.float16)
    peer_sent[: len(union)] = _half(peer_change["embedding"][union])

    def peer(key, pushed):
        if key == "embedding" + CHANGED_ROWS_SUFFIX:
            return np.isin(np.arange(rows), peer_rows).astype(np.float16)
        if key.startswith("embedding/"):
            block = int(key.rpartition("/")[2])
            return peer_sent[4 * block : 4 * block + 4]
        return _half(peer_change[key]) if key in peer_change else pushed

    kvstore = SummingKVStore(peer)
    pushed_keys = []
    real_push = kvstore.push
    monkeypatch.setattr(kvstore, "push", lambda key, value: (pushed_keys.append(key), real_push(key, value)))
    steps = _Parameters({name: values.copy() for name, values in last.items()})
    exchange = HostExchange(kvstore, "", "")
    averaged = AveragedSteps(steps, exchange)
    steps.parameters.update({name: values.copy() for name, values in own.items()})
    exchange.outbox("embedding")[:] = np.nan  # what earlier epochs left after this one's rows is never read
    pushed_keys.clear()
    averaged.publish()

    for name in last:
        total = _half(own[name] - last[name]) + _half(peer_change[name])
        expected = last[name] + total.astype(np.float32) * np.float32(0.5)
        np.testing.assert_array_equal(steps.parameters[name].view(np.uint32), expected.view(np.uint32))
        # the mean the next epoch's changes are taken from
        np.testing.assert_array_equal(averaged._last[name].view(np.uint32), expected.view(np.uint32))
    blocks = -(-len(union) // 4)
    assert pushed_keys == ["embedding/changed-rows", *(f"embedding/{b}" for b in range(blocks)), "weight"]
    assert averaged.bytes_exchanged == 2 * (rows * 2 + min(4 * blocks, rows) * 3 * 2 + 2 * 3 * 2)


def test_hosts_that_built_different_vocabularies_fail_with_the_reason():
    with pytest.raises(JobError, match="FullyReplicated"):
        HostExchange(SummingKVStore(lambda key, own: own + 1), "mine", "every host needs FullyReplicated")


def test_parameters_that_are_not_contiguous_are_refused_rather_than_averaged_in_a_copy():
    values = np.zeros((4, 6), np.float32)
    assert np.shares_memory(flat_view(values), values)
    with pytest.raises(AttributeError):
        flat_view(values[:, :3])


def test_an_epochs_change_is_written_where_it_is_pushed_from_without_a_copy(monkeypatch):
    """The change goes straight into the exchange's outgoing array (no numpy copy of the 21 M-value embedding's
    change into it), and every epoch pushes the same arrays, allocated once."""
    copied_into = []
    real_copyto = np.copyto
    monkeypatch.setattr(np, "copyto", lambda dst, src, **kw: (copied_into.append(dst), real_copyto(dst, src, **kw)))
    steps = steps_pair("adam", 0.05, 0.0)[1]
    peer = {key: np.zeros(values.shape, np.float32) for key, values in steps.parameters.items()}
    kvstore = SummingKVStore(lambda key, own: own if key == "fingerprint" else peer[key])
    pushed = []
    real_push = kvstore.push
    monkeypatch.setattr(kvstore, "push", lambda key, value: (pushed.append((key, value)), real_push(key, value)))
    exchange = HostExchange(kvstore, "", "")
    averaged = AveragedSteps(steps, exchange)
    for epoch in range(2):
        averaged.step(np.array(BATCHES[epoch]), seed=epoch)
        averaged.publish()
    outgoing = [exchange.outbox(key) for key in steps.parameters]
    assert not any(np.shares_memory(dst, buffer) for dst in copied_into for buffer in outgoing)
    by_key = {}
    for key, value in pushed:
        by_key.setdefault(key, set()).add(id(value))
    assert all(len(by_key[key]) == 1 for key in steps.parameters)
