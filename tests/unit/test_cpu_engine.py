"""The CPU engine: its compiled kernels against a plain-Python reading of fastText's rules (and Ji et al.'s batched
skip-gram), how epochs are cut into rounds, the encoded corpus, checkpoints' resumption and the hosts' sums."""

import numpy as np
import pytest

from headlines.errors import JobError
from headlines.hyperparameters import EmbeddingHyperparameters
from headlines.word_vectors import kernels
from headlines.word_vectors.corpus import Corpus
from headlines.word_vectors.dictionary import NEGATIVE_TABLE_SIZE, Dictionary
from headlines.word_vectors.engine import CpuEngine
from headlines.word_vectors.host_sync import WeightSync
from headlines.word_vectors.rounds import chunk_lines, learning_rates, rounds_per_epoch

TEXT = "the quick brown fox jumps over the lazy dog\nthe dog sleeps and the fox runs\n" * 4


def _hp(**values):
    return EmbeddingHyperparameters.from_strings({k: str(v) for k, v in values.items()})


def _dictionary(tmp_path, text=TEXT, char_ngrams=()):
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    corpus = Corpus([str(path)])
    return corpus, Dictionary.from_counts(corpus.count_words(1000), 1, char_ngrams, 37)


def _encoded(tmp_path, corpus, dictionary):
    return corpus.encode(dictionary.token_to_id, str(tmp_path / "tokens.i32"))


# -- the kernels against a reference ---------------------------------------------------------------------
class Reference:
    """fastText's Word2Vec::skipgram / cbow and Model::update, and the batched skip-gram, one update at a time in
    float64 numpy, drawing from the same generator functions as the kernels."""

    def __init__(self, engine, dictionary):
        self.w_in = engine.input_weights.astype(np.float64)
        self.w_out = engine.output_weights.astype(np.float64)
        self.rows = [dictionary.row_ids[a:b] for a, b in zip(dictionary.row_offsets[:-1], dictionary.row_offsets[1:])]
        self.keep, self.table = engine.keep, engine.table
        self.state = engine.states[0].copy()

    def logistic(self, target, label, hidden, grad, rate):
        probability = kernels._sigmoid(np.float32(self.w_out[target] @ hidden))
        alpha = rate * (label - probability)
        grad += alpha * self.w_out[target]
        self.w_out[target] += alpha * hidden
        return -kernels._log(probability if label else 1.0 - probability)

    def update(self, bag, target, negatives, rate):
        hidden, grad = self.w_in[bag].mean(axis=0), np.zeros(self.w_in.shape[1])
        loss = self.logistic(target, 1.0, hidden, grad, rate)
        for _ in range(negatives):
            loss += self.logistic(kernels._negative(self.state, self.table, target), 0.0, hidden, grad, rate)
        for row in bag:
            self.w_in[row] += grad
        return loss

    def batch(self, contexts, centre, negatives, rate):
        targets = [centre] + [kernels._negative(self.state, self.table, centre) for _ in range(negatives)]
        hidden = np.array([self.w_in[self.rows[c]].mean(axis=0) for c in contexts])
        out = self.w_out[targets]
        scores = np.array([[kernels._sigmoid(np.float32(h @ o)) for o in out] for h in hidden])
        labels = np.zeros_like(scores)
        labels[:, 0] = 1
        gains = rate * (labels - scores)
        loss = -sum(kernels._log(s if j == 0 else 1 - s) for row in scores for j, s in enumerate(row))
        for c, delta in zip(contexts, gains @ out):
            np.add.at(self.w_in, self.rows[c], delta)  # a word may hash two n-grams to one bucket
        np.add.at(self.w_out, targets, gains.T @ hidden)
        return loss

    def train_line(self, mode, ids, hp, rate):
        line = [w for w in ids if kernels._uniform(self.state) < self.keep[w]]
        loss = 0.0
        for w, word in enumerate(line):
            reach = 1 + kernels._below(self.state, hp.window_size)
            contexts = [line[c] for c in range(max(0, w - reach), min(len(line), w + reach + 1)) if c != w]
            if mode == "skipgram":
                for context in contexts:
                    loss += self.update(self.rows[word], context, hp.negative_samples, rate)
            elif mode == "cbow" and contexts:
                bag = np.concatenate([self.rows[c] for c in contexts])
                loss += self.update(bag, word, hp.negative_samples, rate)
            elif mode == "batch_skipgram":
                for first in range(0, len(contexts), hp.batch_size):
                    loss += self.batch(contexts[first : first + hp.batch_size], word, hp.negative_samples, rate)
        return loss


@pytest.mark.parametrize(
    "mode,subwords",
    [("skipgram", False), ("skipgram", True), ("cbow", False), ("cbow", True), ("batch_skipgram", False),
     ("batch_skipgram", True)],
)  # fmt: skip
def test_kernels_follow_fasttexts_rules(tmp_path, mode, subwords):
    corpus, dictionary = _dictionary(tmp_path, char_ngrams=(3, 4) if subwords else ())
    hp = _hp(mode=mode, vector_dim=8, window_size=3, negative_samples=3, batch_size=2, sampling_threshold=0.05)
    engine = CpuEngine(dictionary, hp, threads=1)
    engine.output_weights[:] = np.random.default_rng(0).uniform(-0.5, 0.5, engine.output_weights.shape)
    reference = Reference(engine, dictionary)
    ids, line_starts = _encoded(tmp_path, corpus, dictionary).read(0, 2)
    rate = 0.2
    loss, positives = engine.train_round([(ids, line_starts, rate, rate)])
    expected = sum(reference.train_line(mode, ids[a:b], hp, rate) for a, b in zip(line_starts[:-1], line_starts[1:]))
    np.testing.assert_allclose(engine.input_weights, reference.w_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(engine.output_weights, reference.w_out, rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert positives > 0 and 0 < kernels._uniform(engine.states[0].copy()) < 1


def test_the_rate_falls_linearly_across_a_chunk(tmp_path):
    corpus, dictionary = _dictionary(tmp_path, text=TEXT * 20)
    hp = _hp(mode="skipgram", vector_dim=4, sampling_threshold=1)
    ids, line_starts = _encoded(tmp_path, corpus, dictionary).read(0, 160)
    frozen = CpuEngine(dictionary, hp, threads=1)
    frozen.train_round([(ids, line_starts, 0.0, 0.0)])
    assert not frozen.output_weights.any()  # a rate of 0 changes nothing
    falling = CpuEngine(dictionary, hp, threads=1)
    falling.train_round([(ids, line_starts[:81], 0.1, 0.0)])
    changed = falling.output_weights.copy()
    falling.train_round([(ids[line_starts[80] :], line_starts[80:] - line_starts[80], 0.0, 0.0)])
    np.testing.assert_array_equal(falling.output_weights, changed)


def test_nan_weights_are_passed_on_not_used_as_table_indices(tmp_path):
    _, dictionary = _dictionary(tmp_path)
    engine = CpuEngine(dictionary, _hp(mode="cbow", vector_dim=4), threads=1)
    assert engine.all_finite()
    engine.output_weights[3, 1] = np.inf
    assert not engine.all_finite()
    assert np.isnan(kernels._sigmoid(np.float32("nan"))) and np.isnan(kernels._log(np.float32("nan")))
    assert kernels._sigmoid(np.float32(100)) == 1.0 and kernels._sigmoid(np.float32(-100)) == 0.0
    assert kernels._sigmoid(np.float32(0)) == pytest.approx(0.5, abs=0.01)


# -- rounds ------------------------------------------------------------------------------------------------
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


# -- encoded corpus ----------------------------------------------------------------------------------------
def test_the_encoded_corpus_holds_the_in_vocabulary_ids_line_by_line(tmp_path):
    corpus, dictionary = _dictionary(tmp_path, text=TEXT + "rare\n")
    dictionary = Dictionary.from_counts(corpus.count_words(1000), 2, (), 0)  # "rare" and singletons left out
    encoded = _encoded(tmp_path, corpus, dictionary)
    expected = [np.array([dictionary.token_to_id[w] for w in line.split() + ["</s>"] if w in dictionary.token_to_id])
                for line in (TEXT + "rare\n").splitlines()]  # fmt: skip
    expected = [line for line in expected if len(line)]
    assert encoded.lines == len(expected) and encoded.tokens == sum(map(len, expected))
    ids, starts = encoded.read(2, 5)
    np.testing.assert_array_equal(ids, np.concatenate(expected[2:5]))
    np.testing.assert_array_equal(np.diff(starts), [len(line) for line in expected[2:5]])
    blocks = list(encoded.blocks(block_tokens=20))
    np.testing.assert_array_equal(np.concatenate([b for b, _ in blocks]), np.concatenate(expected))
    for block_ids, sentence in blocks:
        assert len(block_ids) == len(sentence) and (np.diff(sentence) >= 0).all()


def test_the_engines_negatives_table_is_fasttexts_shuffled(tmp_path):
    _, dictionary = _dictionary(tmp_path)
    table = CpuEngine(dictionary, _hp(mode="skipgram", vector_dim=2), threads=1).table
    assert len(table) >= NEGATIVE_TABLE_SIZE and len(table) < NEGATIVE_TABLE_SIZE + len(dictionary)
    weights = np.sqrt(dictionary.counts) / np.sqrt(dictionary.counts).sum()
    np.testing.assert_allclose(np.bincount(table) / len(table), weights, rtol=1e-5)
    assert (table[:1000] != np.sort(table[:1000])).any()  # shuffled


# -- checkpoints and hosts ---------------------------------------------------------------------------------
def test_a_restored_snapshot_continues_the_same_stream(tmp_path):
    corpus, dictionary = _dictionary(tmp_path, text=TEXT * 10, char_ngrams=(3,))
    hp = _hp(mode="cbow", vector_dim=8, subwords=True)
    ids, starts = _encoded(tmp_path, corpus, dictionary).read(0, 80)
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


class SummingKVStore:
    """What a dist_sync kvstore without an optimizer does for n workers that push in step: pull returns the sum
    of the pushes. The other workers' pushes are given."""

    num_workers = 2

    def __init__(self, others):
        self.others, self.stored = others, {}

    def init(self, key, value):
        self.stored[key] = value.asnumpy()

    def push(self, key, value):
        self.stored[key] = value.asnumpy() + self.others(key, value.asnumpy())

    def pull(self, key, out):
        out[:] = self.stored[key]


def test_hosts_add_each_others_round_deltas(tmp_path):
    _, dictionary = _dictionary(tmp_path)
    hp = _hp(mode="skipgram", vector_dim=4)
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
    _, dictionary = _dictionary(tmp_path)
    engine = CpuEngine(dictionary, _hp(mode="skipgram", vector_dim=4), threads=1)
    with pytest.raises(JobError, match="FullyReplicated"):
        WeightSync(SummingKVStore(lambda key, own: own + 1), engine, "mine")


def test_a_one_word_vocabulary_trains_instead_of_looking_for_another_negative_forever(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("echo " * 50 + "\n")
    corpus = Corpus([str(path)])
    dictionary = Dictionary.from_counts(corpus.count_words(1000), 2, (), 0)
    assert dictionary.words == ["echo"]
    engine = CpuEngine(dictionary, _hp(mode="skipgram", vector_dim=4, sampling_threshold=1), threads=1)
    ids, starts = _encoded(tmp_path, corpus, dictionary).read(0, 1)
    loss, positives = engine.train_round([(ids, starts, 0.1, 0.1)])
    assert positives > 0 and np.isfinite(loss)
