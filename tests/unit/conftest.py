"""Fixtures the unit tests of several packages share."""

import signal

import pytest


@pytest.fixture
def default_sigterm():
    """Puts SIGTERM's default action back after a test that ran a job in-process (the job installs its handler).
    Modules that run jobs use it for every test: pytestmark = pytest.mark.usefixtures("default_sigterm")."""
    yield
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
