"""Shared fixtures. Tiers (pytest markers): unit (default, no Docker), container (builds and runs images),
localmode (the real SageMaker SDK)."""

import pytest

from helpers import FakeSageMaker


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/container/" in str(item.fspath):
            item.add_marker(pytest.mark.container)
        if not any(item.get_closest_marker(name) for name in ("container", "localmode")):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def sagemaker(tmp_path, monkeypatch):
    fake = FakeSageMaker(tmp_path / "opt_ml")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    return fake

