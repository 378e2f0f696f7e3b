"""The learning-rate schedule both jobs use: fastText's linear decay."""

import pytest

from headlines.runtime.schedule import linear_decay


@pytest.mark.parametrize("done, expected", [(0, 0.5), (25, 0.375), (50, 0.25), (100, 0.0), (150, 0.0)])
def test_the_rate_falls_linearly_to_zero_and_stays_there(done, expected):
    assert linear_decay(0.5, done, 100) == pytest.approx(expected)


def test_the_classifier_and_both_word_vector_paths_share_it():
    """The decay is written once: every user imports it (the classifier's loop, the CPU rounds, the GPU path)."""
    import inspect

    from headlines.classifier import loop
    from headlines.word_vectors.cpu import rounds
    from headlines.word_vectors.gpu import training

    for module in (loop, rounds, training):
        assert module.linear_decay is linear_decay
        assert "1.0 -" not in inspect.getsource(module), f"{module.__name__} computes a decay of its own"
