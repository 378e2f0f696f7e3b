"""write_parameter: what the steps hand the net is what the net holds, however MXNet schedules its copy."""

import mxnet as mx
import numpy as np

from headlines.classifier.steps import write_parameter


def _parameter(shape):
    parameter = mx.gluon.Parameter("weight", shape=shape)
    parameter.initialize(mx.init.Zero(), ctx=mx.cpu())
    return parameter


def test_the_net_holds_the_values_written_though_the_array_changes_at_once():
    """The copy reads the numpy array where it lies, after the operators already queued on the parameter (here a
    long chain): write_parameter returns only once it has, so the caller may change the array next."""
    values = np.arange(1 << 20, dtype=np.float32).reshape(1024, 1024)
    parameter = _parameter(values.shape)
    held = parameter.data()
    for _ in range(200):
        mx.nd.elemwise_add(held, held, out=held)
    write_parameter(parameter, values)
    expected = values.copy()
    values[:] = -1.0
    np.testing.assert_array_equal(parameter.data().asnumpy(), expected)
    assert values.flags.writeable  # the steps' own array stays theirs to write


def test_other_arrays_are_written_as_float32():
    parameter = _parameter((2, 3))
    write_parameter(parameter, np.arange(6, dtype=np.float64).reshape(2, 3)[:, ::-1])
    np.testing.assert_array_equal(parameter.data().asnumpy(), [[2, 1, 0], [5, 4, 3]])
    write_parameter(parameter, mx.nd.ones((2, 3)))
    np.testing.assert_array_equal(parameter.data().asnumpy(), np.ones((2, 3)))
