"""Fixtures of the `aws` tier: moto in server mode and a local registry standing in for ECR (tests/aws/standins.py).
Nothing here reaches AWS: every endpoint is on 127.0.0.1."""

import pytest

from standins import LocalRegistry, MotoServer


@pytest.fixture(scope="session")
def _moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("aws-config"))
    yield server
    server.stop()


@pytest.fixture
def moto(_moto_server):
    """The session's moto server, with every resource of earlier tests forgotten."""
    _moto_server.reset()
    return _moto_server


@pytest.fixture
def registry(moto, tmp_path, docker_engine):
    """A fresh, empty registry for one test, mirrored into `moto`'s ECR."""
    registry = LocalRegistry(tmp_path / "registry", moto)
    yield registry
    registry.close()
