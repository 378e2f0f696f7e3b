"""How the CPU engine's epochs are cut into rounds: every line to one thread of one host, and the learning
rate across chunks and epochs."""

import numpy as np
import pytest

from headlines.word_vectors.cpu.rounds import chunk_lines, learning_rates, rounds_per_epoch


@pytest.mark.parametrize("hosts,threads", [(1, 1), (1, 3), (2, 2), (3, 4)])
def test_rounds_give_every_line_to_exactly_one_thread_of_one_host(hosts, threads):
    lengths = np.random.default_rng(hosts * threads).integers(1, 50, size=997)
    line_starts = np.concatenate(([0], np.cumsum(lengths)))
    rounds = rounds_per_epoch(int(line_starts[-1]), hosts, round_tokens=600)
    assert rounds == -(-int(line_starts[-1]) // (hosts * 600))
    seen = []
    shares = []
    for host in range(hosts):
        bounds = chunk_lines(line_starts, host, hosts, threads, rounds)
        assert bounds.shape == (threads, rounds + 1) and (np.diff(bounds, axis=1) >= 0).all()
        assert (bounds[1:, 0] == bounds[:-1, -1]).all()  # threads' parts are contiguous
        for t in range(threads):
            seen += [line for r in range(rounds) for line in range(bounds[t, r], bounds[t, r + 1])]
        shares.append(line_starts[bounds[-1, -1]] - line_starts[bounds[0, 0]])
    assert seen == list(range(len(lengths)))
    assert max(shares) - min(shares) <= 2 * lengths.max()  # tokens split evenly, up to a line


def test_learning_rates_continue_across_chunks_and_epochs():
    first = learning_rates(0.05, 0, 2, 0, 40, 100)
    second = learning_rates(0.05, 0, 2, 40, 60, 100)
    third = learning_rates(0.05, 1, 2, 0, 100, 100)
    assert first[0] == 0.05 and first[1] == second[0] and second[1] == third[0] == pytest.approx(0.025)
    assert third[1] == 0.0
