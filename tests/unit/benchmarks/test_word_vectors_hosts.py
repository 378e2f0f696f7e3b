"""The two-host word-vector benchmark's pure parts: the text8-shaped corpus and the projection's arithmetic."""

import collections

import pytest

from benchmarks.word_vectors_hosts import LINE_TOKENS, projected_speedup, text8_shaped_corpus


def test_the_generated_corpus_is_the_same_for_the_same_seed_and_falls_off_like_text8(tmp_path):
    first = text8_shaped_corpus(tmp_path / "a.txt", tokens=200_000).read_text()
    assert first == text8_shaped_corpus(tmp_path / "b.txt", tokens=200_000).read_text()
    assert first != text8_shaped_corpus(tmp_path / "c.txt", tokens=200_000, seed=1).read_text()
    lines = first.splitlines()
    assert len(lines) == 200 and all(len(line.split()) == LINE_TOKENS for line in lines)
    counts = collections.Counter(first.split())
    # text8's commonest word is 6.2% of it; words by rank fall off as 1 / (rank + 3)^1.28.
    assert counts.most_common(1)[0] == ("w0", pytest.approx(0.069 * 200_000, rel=0.05))
    assert counts["w0"] / counts["w9"] == pytest.approx((13 / 4) ** 1.28, rel=0.1)


def test_two_hosts_gain_what_the_exchange_leaves_of_twice_the_speed():
    assert projected_speedup(2**16, 1e6, 0) == 2.0
    # 65.5 ms of training a round against 50 MB, half of it over each way of a 1.25 GB/s link: 20 ms.
    assert projected_speedup(2**16, 1e6, 50e6) == pytest.approx(2 * 65.536 / (65.536 + 20.0))
    # and what the hosts' own work for the exchange adds to every round (30 ms)
    assert projected_speedup(2**16, 1e6, 50e6, 0.030) == pytest.approx(2 * 65.536 / (65.536 + 20.0 + 30.0))
