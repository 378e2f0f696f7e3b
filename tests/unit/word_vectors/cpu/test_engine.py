"""The CPU engine: fastText's shuffled negatives table, and a restored snapshot continuing the same stream."""

import numpy as np
import pytest

from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.dictionary import NEGATIVE_TABLE_SIZE
from tests.support.word_vectors import TEXT, corpus_and_dictionary, encode_corpus, word_vector_hp


def test_the_engines_negatives_table_is_fasttexts_shuffled(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, buckets=37)
    table = CpuEngine(dictionary, word_vector_hp(mode="skipgram", vector_dim=2), threads=1).table
    assert len(table) >= NEGATIVE_TABLE_SIZE and len(table) < NEGATIVE_TABLE_SIZE + len(dictionary)
    weights = np.sqrt(dictionary.counts) / np.sqrt(dictionary.counts).sum()
    np.testing.assert_allclose(np.bincount(table) / len(table), weights, rtol=1e-5)
    assert (table[:1000] != np.sort(table[:1000])).any()  # shuffled


def test_a_restored_snapshot_continues_the_same_stream(tmp_path):
    corpus, dictionary = corpus_and_dictionary(TEXT * 10, tmp_path, char_ngrams=(3,), buckets=37)
    hp = word_vector_hp(mode="cbow", vector_dim=8, subwords=True)
    ids, starts = encode_corpus(tmp_path, corpus, dictionary).read(0, 80)
    halves = [(ids[: starts[40]], starts[:41], 0.1, 0.05), (ids[starts[40] :], starts[40:] - starts[40], 0.05, 0.0)]
    straight = CpuEngine(dictionary, hp, threads=1)
    for half in halves:
        straight.train_round([half])
    interrupted = CpuEngine(dictionary, hp, threads=1)
    interrupted.train_round([halves[0]])
    saved = {name: array.copy() for name, array in interrupted.snapshot().items()}
    resumed = CpuEngine(dictionary, hp, threads=1)
    resumed.restore(saved)
    resumed.train_round([halves[1]])
    np.testing.assert_array_equal(resumed.input_weights, straight.input_weights)
    np.testing.assert_array_equal(resumed.output_weights, straight.output_weights)
    with pytest.raises(ValueError, match="states has shape"):
        CpuEngine(dictionary, hp, threads=2).restore(saved)
