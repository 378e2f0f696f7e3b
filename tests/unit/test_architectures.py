"""code/headlines/architectures.py: the one place that tells the architectures apart."""

import re

from headlines import architectures
from tests.support.repo import REPO


def test_only_architectures_py_tests_an_architectures_name():
    """Every difference between the architectures is declared in architectures.py; no module compares names."""
    package = REPO / "code" / "headlines"
    names = "|".join(architectures.NAMES)
    compared = re.compile(rf"[=!]=\s*[\"']({names})[\"']|[\"']({names})[\"']\s*[=!]=")
    found = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "architectures.py" and compared.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
