"""The CPU engine's hosts: each adds the others' round changes, only the rows that changed travel, and hosts with
different vocabularies fail clearly."""

import numpy as np
import pytest

from headlines.errors import JobError
from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.cpu.host_sync import WeightSync, input_rows_of
from tests.support.kvstore import SummingKVStore
from tests.support.word_vectors import TEXT, corpus_and_dictionary, word_vector_hp

PEER_ROWS = [2, 5]  # the rows of each matrix the other host changes every round, by 0.5


def _peer(key, own):
    """The other host's push: it changed PEER_ROWS of both matrices by 0.5 (the servers get the negated change)."""
    if key == "fingerprint":
        return own
    peer = np.zeros_like(own)
    peer[PEER_ROWS] = -1.0 if key.endswith("/changes") else -0.5
    return peer


def _engine(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, char_ngrams=(3,), buckets=37)
    return CpuEngine(dictionary, word_vector_hp(mode="skipgram", vector_dim=4), threads=1)


def test_hosts_add_each_others_changed_rows_and_only_those_travel(tmp_path):
    engine = _engine(tmp_path)
    sync = WeightSync(SummingKVStore(_peer), engine, "same")
    start = {key: getattr(engine, key).copy() for key in ("input_weights", "output_weights")}
    word = 3
    word_rows = engine.row_ids[engine.row_offsets[word] : engine.row_offsets[word + 1]]
    own_input_rows = word_rows[:2]  # a round over the word that left its other subword rows as they were
    assert len(word_rows) > len(own_input_rows)
    for round_number in (1, 2):  # this host's round: two of its word's input rows and two output rows change by 1
        engine.input_weights[own_input_rows] += 1.0
        engine.output_weights[[0, 5]] += 1.0
        sync.sync(np.array([word, word], np.int32))
        expected_input, expected_output = start["input_weights"].copy(), start["output_weights"].copy()
        expected_input[own_input_rows] += round_number
        expected_input[PEER_ROWS] += 0.5 * round_number
        expected_output[[0, 5]] += round_number
        expected_output[PEER_ROWS] += 0.5 * round_number
        np.testing.assert_allclose(engine.input_weights, expected_input, rtol=1e-6)
        np.testing.assert_allclose(engine.output_weights, expected_output, rtol=1e-6)
    # A round: each matrix's count a row (4 bytes) both ways, and the rows this host changed up, those any did down.
    dim, row_bytes = 4, 4 * 4 + 8
    changes = 2 * 4 * (len(engine.input_weights) + len(engine.output_weights))
    input_up, input_down = len(own_input_rows), len(set(own_input_rows) | set(PEER_ROWS))
    output_up, output_down = 2, len({0, 5, *PEER_ROWS})
    round_bytes = changes + (input_up + input_down + output_up + output_down) * row_bytes
    assert sync.bytes_exchanged == 2 * round_bytes
    assert round_bytes < 2 * 4 * dim * (len(engine.input_weights) + len(engine.output_weights))  # dense


def test_a_rounds_input_rows_are_its_words_and_their_subwords(tmp_path):
    engine = _engine(tmp_path)
    ids = np.array([4, 1, 4], np.int32)
    expected = np.concatenate([engine.row_ids[engine.row_offsets[w] : engine.row_offsets[w + 1]] for w in (1, 4)])
    assert len(expected) > 2  # the words have subword rows too
    np.testing.assert_array_equal(input_rows_of(engine, ids), np.unique(expected))


def test_hosts_with_different_vocabularies_fail_clearly(tmp_path):
    engine = _engine(tmp_path)
    with pytest.raises(JobError, match="FullyReplicated"):
        WeightSync(SummingKVStore(lambda key, own: own + 1), engine, "mine")
