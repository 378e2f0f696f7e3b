"""The mutant catalogue (tests/mutants/catalogue.py) follows the code: each replacement's text is in its file
exactly once and each test it names exists, so `make test-mutants` can run every mutant."""

import re

import pytest

from tests.mutants.catalogue import MUTANTS
from tests.support.repo import REPO


@pytest.mark.parametrize("mutant", MUTANTS, ids=[mutant.name for mutant in MUTANTS])
def test_the_mutant_applies_and_its_tests_exist(mutant):
    assert (REPO / mutant.path).read_text(encoding="utf-8").count(mutant.original) == 1
    assert mutant.original != mutant.mutated
    for test in mutant.tests:
        path, _, name = test.partition("::")
        source = (REPO / path).read_text(encoding="utf-8")
        assert not name or re.search(rf"^def {re.escape(name)}\(", source, re.M), test


def test_mutant_names_are_unique():
    assert len({mutant.name for mutant in MUTANTS}) == len(MUTANTS)
