"""The CPU steps (compiled for fasttext, numpy's for cnn) on several hosts: after an epoch each host's net holds the
mean of every host's parameters, the exchange is counted, and hosts that built different vocabularies or labels fail
with the reason."""

import numpy as np
import pytest

from headlines.classifier.cpu.averaging import MEAN_CHUNK, AveragedSteps, flat_view
from headlines.errors import JobError
from headlines.runtime.host_exchange import HostExchange
from tests.support.compiled_steps import BATCHES, convolutional_pair, steps_pair
from tests.support.kvstore import SummingKVStore

# Each kind of CPU steps on a fresh net, and the name of its averaged form.
CPU_STEPS = {
    "fasttext": (lambda: steps_pair("adam", 0.05, 0.0)[1], "compiled-cpu-averaged"),
    "cnn": (lambda: convolutional_pair("adam", 0.05, 0.0, dropout=0.5)[1], "numpy-cpu-averaged"),
}


@pytest.mark.parametrize("chunk", [MEAN_CHUNK, 7])  # parameters in one chunk or many (the last one partial)
@pytest.mark.parametrize("architecture", sorted(CPU_STEPS))
def test_an_epochs_end_leaves_the_mean_of_the_hosts_parameters_in_the_net_and_the_steps(
    architecture, chunk, monkeypatch
):
    """Each host's parameters become the last mean plus the mean of the hosts' changes since (here the peer's
    change is 0.25 everywhere), exchanged as float16: 2 bytes a parameter, pushed and pulled."""
    monkeypatch.setattr("headlines.classifier.cpu.averaging.MEAN_CHUNK", chunk)
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
