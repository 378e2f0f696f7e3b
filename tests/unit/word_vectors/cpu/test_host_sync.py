"""The CPU engine's hosts: each adds the others' round deltas, and hosts with different vocabularies fail
clearly."""

import numpy as np
import pytest

from headlines.errors import JobError
from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.cpu.host_sync import WeightSync
from tests.support.kvstore import SummingKVStore
from tests.support.word_vectors import TEXT, corpus_and_dictionary, word_vector_hp


def test_hosts_add_each_others_round_deltas(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, buckets=37)
    hp = word_vector_hp(mode="skipgram", vector_dim=4)
    engine = CpuEngine(dictionary, hp, threads=1)
    start = engine.input_weights.copy()
    peer_delta = np.full_like(start, 0.5)
    sync = WeightSync(
        SummingKVStore(lambda key, own: own if key == "fingerprint" else (peer_delta if key == "input_weights" else 0)),
        engine,
        "same",
    )
    engine.input_weights += 1.0  # this host's round
    sync.sync()
    np.testing.assert_allclose(engine.input_weights, start + 1.5)
    assert sync.bytes_exchanged == 2 * (engine.input_weights.nbytes + engine.output_weights.nbytes)
    engine.input_weights += 1.0
    sync.sync()
    np.testing.assert_allclose(engine.input_weights, start + 3.0)


def test_hosts_with_different_vocabularies_fail_clearly(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, buckets=37)
    engine = CpuEngine(dictionary, word_vector_hp(mode="skipgram", vector_dim=4), threads=1)
    with pytest.raises(JobError, match="FullyReplicated"):
        WeightSync(SummingKVStore(lambda key, own: own + 1), engine, "mine")
