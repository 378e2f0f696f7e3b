"""The CPU steps (compiled for fasttext, numpy's for cnn) on several hosts: after an epoch each host's net holds the
mean of every host's parameters, the exchange is counted, and hosts that built different vocabularies or labels fail
with the reason."""

import numpy as np
import pytest

from headlines.classifier.cpu.averaging import AveragedSteps, add_mean, flat_view, write_change
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
