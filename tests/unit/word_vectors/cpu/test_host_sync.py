"""The CPU engine's hosts: a round reads the rows of its words from the parameter servers and adds the rows it
changed there, only those rows travel, the last round leaves every host with every host's changes, and hosts with
different vocabularies fail clearly."""

import numpy as np
import pytest

from headlines.errors import JobError
from headlines.runtime.host_exchange import row_bytes
from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.cpu.host_sync import INPUT, OUTPUT, WeightSync, input_rows_of
from tests.support.kvstore import SummingKVStore
from tests.support.word_vectors import TEXT, corpus_and_dictionary, word_vector_hp

PEER_ROW = 2  # the row of each matrix the other host changes by 0.5 every round (the word 2's own rows)


def _peer(key, own):
    """The other host's push: the servers subtract it, so a change of +0.5 arrives as -0.5."""
    if key == "fingerprint":
        return own
    peer = np.zeros_like(own)
    peer[PEER_ROW] = -0.5
    return peer


def _engine(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, char_ngrams=(3,), buckets=37)
    return CpuEngine(dictionary, word_vector_hp(mode="skipgram", vector_dim=4), threads=1)


def _rows_of(engine, word):
    return engine.row_ids[engine.row_offsets[word] : engine.row_offsets[word + 1]]


def test_a_round_reads_its_words_rows_and_adds_the_rows_it_changed(tmp_path):
    engine = _engine(tmp_path)
    servers = SummingKVStore(_peer)
    sync = WeightSync(servers, engine, "same")
    start = {key: getattr(engine, key).copy() for key in (INPUT, OUTPUT)}
    word, dim = 3, 4
    changed_input = _rows_of(engine, word)[:2]  # a round over the word that left its other subword rows alone
    assert len(_rows_of(engine, word)) > 2 and PEER_ROW in _rows_of(engine, 2) and PEER_ROW not in _rows_of(engine, 3)

    sync.begin_round(np.array([word, word], np.int32))
    engine.input_weights[changed_input] += 1.0
    engine.output_weights[[0, 5]] += 1.0
    sync.end_round()
    expected = {key: start[key].copy() for key in (INPUT, OUTPUT)}
    expected[INPUT][changed_input] += 1.0
    expected[OUTPUT][[0, 5]] += 1.0
    for key in (INPUT, OUTPUT):
        expected[key][PEER_ROW] += 0.5
        np.testing.assert_allclose(servers.stored[key], expected[key], rtol=1e-6)  # every host's changes
        assert getattr(engine, key)[PEER_ROW] == pytest.approx(start[key][PEER_ROW])  # not read: not needed yet
    first_round = (len(_rows_of(engine, word)) + 1 + 2 + 2) * row_bytes(dim)  # read input + output, added both
    assert sync.bytes_exchanged == first_round

    sync.begin_round(np.array([2], np.int32))  # a round over word 2 reads its rows: the other host's change
    np.testing.assert_allclose(engine.input_weights[PEER_ROW], expected[INPUT][PEER_ROW], rtol=1e-6)
    np.testing.assert_allclose(engine.output_weights[PEER_ROW], expected[OUTPUT][PEER_ROW], rtol=1e-6)
    sync.end_round()  # nothing changed here: an unchanged row stands for none, as every host must push
    sync.finish()
    for key in (INPUT, OUTPUT):
        np.testing.assert_allclose(getattr(engine, key), servers.stored[key], rtol=1e-6)
    rows = len(engine.input_weights) + len(engine.output_weights)
    second_round = (len(_rows_of(engine, 2)) + 1 + 1 + 1) * row_bytes(dim)
    assert sync.bytes_exchanged == first_round + second_round + rows * row_bytes(dim)


def test_a_rounds_input_rows_are_its_words_and_their_subwords(tmp_path):
    engine = _engine(tmp_path)
    expected = np.concatenate([_rows_of(engine, word) for word in (1, 4)])
    assert len(expected) > 2  # the words have subword rows too
    np.testing.assert_array_equal(input_rows_of(engine, np.array([1, 4])), np.unique(expected))


def test_hosts_with_different_vocabularies_fail_clearly(tmp_path):
    engine = _engine(tmp_path)
    with pytest.raises(JobError, match="FullyReplicated"):
        WeightSync(SummingKVStore(lambda key, own: own + 1), engine, "mine")
