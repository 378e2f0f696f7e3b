"""The serving image's reader of the weights file MXNet writes (code/headlines/params_file.py), against MXNet."""

import os
import struct

import mxnet as mx
import numpy as np
import pytest

from headlines.errors import JobError
from headlines.model_folder import PARAMS_FILE
from headlines.params_file import read_params
from tests.support.models import small_model_folder


def test_the_weights_are_read_memory_mapped_and_equal_mxnets(tmp_path):
    path = os.path.join(small_model_folder("cnn", tmp_path), PARAMS_FILE)
    params = read_params(path)
    expected = {name.split(":", 1)[1]: array.asnumpy() for name, array in mx.nd.load(path).items()}
    assert sorted(params) == sorted(expected)
    for name, array in params.items():
        np.testing.assert_array_equal(array, expected[name])
        assert isinstance(array.base, np.memmap) and not array.flags.writeable


def test_a_damaged_weights_file_is_refused_with_the_reason(tmp_path):
    path = os.path.join(small_model_folder("fasttext", tmp_path), PARAMS_FILE)
    data = open(path, "rb").read()
    cases = {
        "truncated": (data[: len(data) // 2], "truncated"),
        "header only": (data[:20], "truncated"),
        "not params": (b"x" * 200, "not an MXNet parameters file"),
        "empty": (b"", "Cannot read"),
        "sparse": (data[:28] + struct.pack("<i", 1) + data[32:], "sparse"),
    }
    for name, (content, reason) in cases.items():
        damaged = tmp_path / f"{name}.params"
        damaged.write_bytes(content)
        with pytest.raises(JobError, match=reason):
            read_params(str(damaged))
