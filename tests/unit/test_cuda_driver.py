"""The CUDA driver API read with ctypes (code/headlines/cuda_driver.py), against a fake NVIDIA driver library
(tests/fake_driver/libcuda.c) that reports the GPUs and CUDA version it is told to."""

import pytest

from headlines import cuda_driver

H100 = "NVIDIA H100 80GB HBM3=9.0"
L40S = "NVIDIA L40S=8.9"


def test_the_driver_api_reports_version_and_gpus(fake_libcuda, monkeypatch):
    monkeypatch.setenv("FAKE_CUDA_DEVICES", f"{H100},{L40S}")
    monkeypatch.setenv("FAKE_CUDA_VERSION", "12020")
    driver = cuda_driver.read_driver(str(fake_libcuda))
    assert driver.cuda_version == (12, 2)
    assert [(d.index, d.name, d.compute_capability) for d in driver.devices] == [
        (0, "NVIDIA H100 80GB HBM3", (9, 0)),
        (1, "NVIDIA L40S", (8, 9)),
    ]
    assert driver.devices[0].memory_bytes == 80 * 1024**3


def test_a_missing_driver_library_is_no_driver(tmp_path):
    with pytest.raises(cuda_driver.NoDriver, match="cannot open shared object file"):
        cuda_driver.read_driver(str(tmp_path / "libcuda.so.1"))
