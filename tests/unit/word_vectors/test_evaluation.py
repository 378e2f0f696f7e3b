"""The word-similarity score: Spearman's rho and the word-pair files."""

import numpy as np
import pytest

from headlines.word_vectors.evaluation import read_word_pairs, spearman_rho


def test_spearman_rho_with_and_without_ties():
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties take their average rank: ranks x = 1, 2.5, 2.5, 4; y = 1, 2, 3, 4 -> Pearson of the ranks.
    x_ranks, y_ranks = np.array([1, 2.5, 2.5, 4]), np.arange(1, 5)
    assert spearman_rho([1, 5, 5, 9], [1, 2, 3, 4]) == pytest.approx(np.corrcoef(x_ranks, y_ranks)[0, 1])


def test_word_pair_files_skip_headers_and_accept_tabs_and_commas(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger\tcat\t7.35\n# comment\n\nbad line here x\n")
    pairs, skipped = read_word_pairs(str(path))
    assert pairs == [("love", "sex", 6.77), ("tiger", "cat", 7.35)] and skipped == 3
