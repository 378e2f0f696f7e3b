"""The word-vector job's picture: which words, the PCA that places them, the PNG."""

import numpy as np

from headlines.word_vectors.word_map import MAP_WORDS, plot_word_map, principal_components, unit_rows, words_to_map

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_map_shows_the_most_frequent_words_that_have_letters():
    vocabulary = ["</s>", "the", ",", "1990", "of", "_", "café", "won't"] + [f"w{i}" for i in range(300)]
    words = words_to_map(vocabulary)
    assert words[:5] == ["the", "of", "café", "won't", "w0"]
    assert len(words) == MAP_WORDS and words_to_map(vocabulary, count=3) == ["the", "of", "café"]
    assert words_to_map(["</s>", ".", "42"]) == []


def test_principal_components_find_the_direction_the_vectors_spread_along():
    rng = np.random.default_rng(0)
    spread, direction = rng.normal(size=200), rng.normal(size=16)
    vectors = 5 + np.outer(spread, direction / np.linalg.norm(direction)) + 0.01 * rng.normal(size=(200, 16))
    points = principal_components(vectors)
    assert points.shape == (200, 2)
    assert abs(np.corrcoef(points[:, 0], spread)[0, 1]) > 0.999
    assert np.var(points[:, 1]) < 0.001 * np.var(points[:, 0])
    np.testing.assert_allclose(principal_components(vectors * 1.0), points)  # the signs are fixed


def test_the_map_compares_directions_so_one_long_vector_does_not_squeeze_the_rest():
    rows = unit_rows([[3.0, 4.0], [0.0, 0.0], [0.0, -0.5]])
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])


def test_plot_word_map_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    words = [f"word{i}" for i in range(30)]
    path = plot_word_map(words, rng.normal(size=(30, 8)), tmp_path / "word-map.png", "test map")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000
