"""The compiled steps on several hosts: after an epoch each host's net holds the mean of every host's parameters,
the exchange is counted, and hosts that built different vocabularies or labels fail with the reason."""

import numpy as np
import pytest

from headlines.classifier.cpu.averaging import PARAMETERS, AveragedSteps
from headlines.errors import JobError
from headlines.runtime.host_exchange import HostExchange
from tests.support.compiled_steps import BATCHES, steps_pair
from tests.support.kvstore import SummingKVStore


def _averaged(peer):
    _, compiled = steps_pair("adam", 0.05, 0.0)
    exchange = HostExchange(SummingKVStore(lambda key, own: own if key == "fingerprint" else peer[key]), "same", "")
    return AveragedSteps(compiled, exchange), compiled


def test_an_epochs_end_leaves_the_mean_of_the_hosts_parameters_in_the_net_and_the_steps():
    """Each host's parameters become the last mean plus the mean of the hosts' changes since (here the peer's
    change is 0.25 everywhere), exchanged as float16: 2 bytes a parameter, pushed and pulled."""
    shapes = {name: getattr(steps_pair("adam", 0.05, 0.0)[1], name).shape for name in PARAMETERS}
    peer_change = {name: np.full(shape, 0.25, np.float32) for name, shape in shapes.items()}
    averaged, compiled = _averaged(peer_change)
    start = {name: getattr(compiled, name).copy() for name in PARAMETERS}
    for batch in BATCHES:
        averaged.step(np.array(batch), seed=0)
    own = {name: getattr(compiled, name).copy() for name in PARAMETERS}
    averaged.publish()
    net = compiled.net
    in_net = dict(zip(PARAMETERS, (net.embedding.weight, net.output.weight, net.output.bias)))
    for name in PARAMETERS:
        assert not np.allclose(own[name], start[name])  # the steps changed every parameter
        expected = start[name] + (own[name] - start[name] + 0.25) / 2
        np.testing.assert_allclose(getattr(compiled, name), expected, rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(in_net[name].data().asnumpy(), getattr(compiled, name))
    parameter_count = sum(own[name].size for name in PARAMETERS)
    assert averaged.bytes_exchanged == 2 * 2 * parameter_count
    averaged.publish()
    assert averaged.bytes_exchanged == 4 * 2 * parameter_count


def test_hosts_that_built_different_vocabularies_fail_with_the_reason():
    with pytest.raises(JobError, match="FullyReplicated"):
        HostExchange(SummingKVStore(lambda key, own: own + 1), "mine", "every host needs FullyReplicated")
