"""The CPU engine's compiled kernels against a plain-Python reading of fastText's rules (and Ji et al.'s batched
skip-gram): the updates, the learning rate across a chunk, NaN weights, and a one-word vocabulary's negatives; and
the kernels' sigmoid and log tables against numpy's, within the tables' resolution."""

import numpy as np
import pytest

from headlines.word_vectors.corpus import Corpus
from headlines.word_vectors.cpu import kernels
from headlines.word_vectors.cpu.engine import CpuEngine
from headlines.word_vectors.dictionary import Dictionary
from tests.support.word_vectors import TEXT, corpus_and_dictionary, encode_corpus, word_vector_hp

# fastText's tables (SIGMOID_TABLE_SIZE 512 steps over [-MAX_SIGMOID, MAX_SIGMOID] = [-8, 8]; LOG_TABLE_SIZE 512
# steps over (0, 1]), computed here with numpy in float64, not read from the product: a lookup returns the exact
# value at the table point at or below x (the index truncates), so it lies between the exact value one step below x
# and the exact value at x.
MAX_SIGMOID, SIGMOID_STEP, LOG_STEP = 8.0, 16.0 / 512, 1.0 / 512


def exact_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def exact_log(x):
    return np.log(np.asarray(x, np.float64))


def table_sigmoid(x):
    """fastText's sigmoid: 0 below -8, 1 above 8, else the exact sigmoid of the table point at or below x."""
    x = float(x)
    if x < -MAX_SIGMOID:
        return 0.0
    if x > MAX_SIGMOID:
        return 1.0
    return float(exact_sigmoid(np.floor((x + MAX_SIGMOID) / SIGMOID_STEP) * SIGMOID_STEP - MAX_SIGMOID))


def table_log(x):
    """fastText's log: 0 above 1, else the exact log of the table point at or below x (plus 1e-5 of a step, so
    the first point is not log 0)."""
    x = float(x)
    if x > 1.0:
        return 0.0
    return float(exact_log((np.floor(x / LOG_STEP) + 1e-5) * LOG_STEP))


class Reference:
    """fastText's Word2Vec::skipgram / cbow and Model::update, and the batched skip-gram, one update at a time in
    float64 numpy with fastText's sigmoid and log tables computed above (not the product's), drawing from the
    same generator functions as the kernels."""

    def __init__(self, engine, dictionary):
        self.w_in = engine.input_weights.astype(np.float64)
        self.w_out = engine.output_weights.astype(np.float64)
        self.rows = [dictionary.row_ids[a:b] for a, b in zip(dictionary.row_offsets[:-1], dictionary.row_offsets[1:])]
        self.keep, self.table = engine.keep, engine.table
        self.state = engine.states[0].copy()

    def logistic(self, target, label, hidden, grad, rate):
        probability = table_sigmoid(np.float32(self.w_out[target] @ hidden))
        alpha = rate * (label - probability)
        grad += alpha * self.w_out[target]
        self.w_out[target] += alpha * hidden
        return -table_log(probability if label else 1.0 - probability)

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
        scores = np.array([[table_sigmoid(np.float32(h @ o)) for o in out] for h in hidden])
        labels = np.zeros_like(scores)
        labels[:, 0] = 1
        gains = rate * (labels - scores)
        loss = -sum(table_log(s if j == 0 else 1 - s) for row in scores for j, s in enumerate(row))
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
    corpus, dictionary = corpus_and_dictionary(TEXT, tmp_path, char_ngrams=(3, 4) if subwords else (), buckets=37)
    hp = word_vector_hp(
        mode=mode, vector_dim=8, window_size=3, negative_samples=3, batch_size=2, sampling_threshold=0.05
    )
    engine = CpuEngine(dictionary, hp, threads=1)
    engine.output_weights[:] = np.random.default_rng(0).uniform(-0.5, 0.5, engine.output_weights.shape)
    reference = Reference(engine, dictionary)
    ids, line_starts = encode_corpus(tmp_path, corpus, dictionary).read(0, 2)
    rate = 0.2
    loss, positives = engine.train_round([(ids, line_starts, rate, rate)])
    expected = sum(reference.train_line(mode, ids[a:b], hp, rate) for a, b in zip(line_starts[:-1], line_starts[1:]))
    np.testing.assert_allclose(engine.input_weights, reference.w_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(engine.output_weights, reference.w_out, rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert positives > 0 and 0 < kernels._uniform(engine.states[0].copy()) < 1


def test_sigmoid_is_fasttexts_table_within_its_resolution():
    # Every 1/1024 over [-9, 9] (table points, the steps between them, and beyond +-8), and random points.
    grid = np.arange(-9 * 1024, 9 * 1024 + 1) / 1024
    points = np.concatenate([grid, np.random.default_rng(0).uniform(-9, 9, 2000)]).astype(np.float32)
    product = np.array([kernels._sigmoid(x) for x in points])
    np.testing.assert_allclose(product, [table_sigmoid(x) for x in points], rtol=0, atol=1e-6)
    inside = np.abs(points) <= MAX_SIGMOID
    x = points[inside].astype(np.float64)
    assert np.all(product[inside] <= exact_sigmoid(x) + 1e-6)
    assert np.all(product[inside] >= exact_sigmoid(x - SIGMOID_STEP) - 1e-6)
    # One step of x moves the sigmoid by at most a quarter of the step (its steepest slope, at 0).
    assert np.max(np.abs(product[inside] - exact_sigmoid(x))) <= SIGMOID_STEP / 4 + 1e-6
    assert np.all(product[points > MAX_SIGMOID] == 1.0) and np.all(product[points < -MAX_SIGMOID] == 0.0)


def test_log_is_fasttexts_table_within_its_resolution():
    # Every 1/8192 of (0, 1] (the kernels pass a probability, or 1 minus one), random points, and some above 1.
    grid = np.arange(1, 8192 + 1) / 8192
    points = np.concatenate([grid, np.random.default_rng(0).uniform(0, 1, 2000), [1.0 + 1e-6, 1.5, 2.0]])
    product = np.array([kernels._log(x) for x in points])
    np.testing.assert_allclose(product, [table_log(x) for x in points], rtol=1e-6, atol=1e-6)
    inside = points <= 1.0
    x = points[inside]
    # The table's points sit 1e-5 of a step above the steps.
    assert np.all(product[inside] <= exact_log(x + 1e-5 * LOG_STEP) + 1e-6)
    assert np.all(product[inside] >= exact_log(np.maximum(x - LOG_STEP, 1e-5 * LOG_STEP)) - 1e-6)
    above_a_step = x >= LOG_STEP  # below the first step the table reads log(1e-5 / 512), about -17.7
    np.testing.assert_allclose(product[inside][~above_a_step], np.log(1e-5 / 512), rtol=1e-6)
    # From 0.5 on, one step of x moves the log by at most log(1 / (1 - 2 / 512)).
    upper = x >= 0.5
    assert np.max(np.abs(product[inside][upper] - exact_log(x[upper]))) <= -np.log1p(-2 * LOG_STEP) + 1e-6
    assert np.all(product[~inside] == 0.0)


def test_the_rate_falls_linearly_across_a_chunk(tmp_path):
    corpus, dictionary = corpus_and_dictionary(TEXT * 20, tmp_path, buckets=37)
    hp = word_vector_hp(mode="skipgram", vector_dim=4, sampling_threshold=1)
    ids, line_starts = encode_corpus(tmp_path, corpus, dictionary).read(0, 160)
    frozen = CpuEngine(dictionary, hp, threads=1)
    frozen.train_round([(ids, line_starts, 0.0, 0.0)])
    assert not frozen.output_weights.any()  # a rate of 0 changes nothing
    falling = CpuEngine(dictionary, hp, threads=1)
    falling.train_round([(ids, line_starts[:81], 0.1, 0.0)])
    changed = falling.output_weights.copy()
    falling.train_round([(ids[line_starts[80] :], line_starts[80:] - line_starts[80], 0.0, 0.0)])
    np.testing.assert_array_equal(falling.output_weights, changed)


def test_nan_weights_are_passed_on_not_used_as_table_indices(tmp_path):
    _, dictionary = corpus_and_dictionary(TEXT, tmp_path, buckets=37)
    engine = CpuEngine(dictionary, word_vector_hp(mode="cbow", vector_dim=4), threads=1)
    assert engine.all_finite()
    engine.output_weights[3, 1] = np.inf
    assert not engine.all_finite()
    assert np.isnan(kernels._sigmoid(np.float32("nan"))) and np.isnan(kernels._log(np.float32("nan")))
    assert kernels._sigmoid(np.float32(100)) == 1.0 and kernels._sigmoid(np.float32(-100)) == 0.0
    assert kernels._sigmoid(np.float32(0)) == pytest.approx(0.5, abs=0.01)


def test_a_one_word_vocabulary_trains_instead_of_looking_for_another_negative_forever(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("echo " * 50 + "\n")
    corpus = Corpus([str(path)])
    dictionary = Dictionary.from_counts(corpus.count_words(1000), 2, (), 0)
    assert dictionary.words == ["echo"]
    engine = CpuEngine(dictionary, word_vector_hp(mode="skipgram", vector_dim=4, sampling_threshold=1), threads=1)
    ids, starts = encode_corpus(tmp_path, corpus, dictionary).read(0, 1)
    loss, positives = engine.train_round([(ids, starts, 0.1, 0.1)])
    assert positives > 0 and np.isfinite(loss)
