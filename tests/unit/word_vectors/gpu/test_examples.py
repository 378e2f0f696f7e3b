"""The MXNet path's example builder (headlines/word_vectors/gpu/examples.py) against plain per-word references:
fastText's loop for the pairs (sub-sampling, a window drawn from 1..window_size per centre, sentences), np.unique
for each step's words and rows, and fastText's negatives table for the negatives."""

import collections

import numpy as np
import pytest

from headlines.embeddings.fasttext_format import EOS
from headlines.word_vectors.corpus import Corpus
from headlines.word_vectors.dictionary import NEGATIVE_POWER, Dictionary
from headlines.word_vectors.gpu.examples import ExampleBuilder, NegativeTable, unique_inverse
from tests.support.word_vectors import corpus_and_dictionary, word_vector_hp


def _corpus(tmp_path, char_ngrams=()):
    """Skewed word counts (so sub-sampling drops some tokens), sentences of 1 to 30 words."""
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(40)]
    weights = 1.0 / np.arange(1, len(words) + 1)
    lines = [" ".join(rng.choice(words, size=rng.integers(1, 31), p=weights / weights.sum())) for _ in range(120)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = Corpus([str(path)])
    dictionary = Dictionary.from_counts(corpus.count_words(1000), 1, char_ngrams, 97)
    (block,) = list(corpus.sentences(dictionary.token_to_id))
    return dictionary, block


def _reference_examples(dictionary, hp, ids, sentence, seed):
    """fastText's loop, one centre at a time, replaying the builder's draws (keep, then each kept centre's
    window): per step, the examples as (bag words, positive targets)."""
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(rng.random(len(ids)) < dictionary.keep_probabilities(hp.sampling_threshold)[ids])
    reach = rng.integers(1, hp.window_size + 1, size=len(kept))
    width = min(2 * hp.window_size, hp.batch_size)
    steps = collections.defaultdict(list)
    for c in range(len(kept)):
        contexts = []
        for distance in range(1, reach[c] + 1):
            for j in (c + distance, c - distance):
                if 0 <= j < len(kept) and sentence[kept[j]] == sentence[kept[c]]:
                    contexts.append(int(ids[kept[j]]))
        centre, examples = int(ids[kept[c]]), steps[kept[c] // hp.update_tokens]
        if not contexts:
            continue
        if hp.mode == "skipgram":
            examples += [([centre], [context]) for context in contexts]
        elif hp.mode == "cbow":
            examples.append((sorted(contexts), [centre]))
        else:
            examples += [([centre], contexts[i : i + width]) for i in range(0, len(contexts), width)]
    return steps


def _examples_of(step):
    """A step's examples as (sorted bag words, positive targets), read back through its sparse matrices."""
    words = [
        step.input_rows[step.word_rows[1][a:b]][0] for a, b in zip(step.word_rows[0][:-1], step.word_rows[0][1:])
    ]  # a word's first row is its id
    examples = []
    for e in range(step.examples):
        bag = sorted(int(words[w]) for w in step.bags[1][step.bags[0][e] : step.bags[0][e + 1]])
        examples.append((bag, [int(t) for t in step.targets[e][(step.labels[e] == 1) & (step.mask[e] == 1)]]))
    return examples


@pytest.mark.parametrize("subwords", [False, True])
@pytest.mark.parametrize("mode", ["skipgram", "cbow", "batch_skipgram"])
def test_examples_are_fasttexts_loop_vectorised(tmp_path, mode, subwords):
    dictionary, (ids, sentence) = _corpus(tmp_path, (3, 4) if subwords else ())
    hp = word_vector_hp(
        mode=mode, sampling_threshold=0.01, window_size=3, batch_size=4, negative_samples=3, update_tokens=64
    )
    steps = list(ExampleBuilder(dictionary, hp, np.random.default_rng(9)).steps(ids, sentence))
    expected = _reference_examples(dictionary, hp, ids, sentence, seed=9)
    assert len(steps) == -(-len(ids) // 64) and [s.tokens for s in steps[:-1]] == [64] * (len(steps) - 1)
    assert sum(s.tokens for s in steps) == len(ids)
    for number, step in enumerate(steps):
        assert _examples_of(step) == expected[number]
        assert step.positives == sum(len(positives) for _, positives in expected[number])
    assert sum(s.examples for s in steps) > 100  # the corpus makes enough examples to mean something


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_each_steps_rows_and_weights_are_those_of_its_words(tmp_path, mode):
    dictionary, (ids, sentence) = _corpus(tmp_path, (2, 3))
    hp = word_vector_hp(mode=mode, sampling_threshold=1, window_size=2, update_tokens=100)
    for step in ExampleBuilder(dictionary, hp, np.random.default_rng(3)).steps(ids, sentence):
        offsets, columns = step.word_rows
        np.testing.assert_array_equal(step.input_rows, np.unique(step.input_rows))  # unique, sorted
        words = np.array([step.input_rows[columns[a]] for a in offsets[:-1]])
        np.testing.assert_array_equal(words, np.unique(words))  # the bags' unique words, sorted
        all_rows = [dictionary.row_ids[dictionary.row_offsets[w] : dictionary.row_offsets[w + 1]] for w in words]
        np.testing.assert_array_equal(step.input_rows, np.unique(np.concatenate(all_rows)))
        for w, rows in enumerate(all_rows):
            np.testing.assert_array_equal(step.input_rows[columns[offsets[w] : offsets[w + 1]]], rows)
            np.testing.assert_allclose(step.word_row_weights[offsets[w] : offsets[w + 1]], 1 / len(rows))
        for e in range(step.examples):
            bag = step.bags[1][step.bags[0][e] : step.bags[0][e + 1]]
            row_counts = np.array([len(all_rows[w]) for w in bag])
            np.testing.assert_allclose(
                step.bag_weights[step.bags[0][e] : step.bags[0][e + 1]], row_counts / row_counts.sum()
            )
        assert step.targets.dtype == np.int64 and step.labels.dtype == step.mask.dtype == np.float32
        assert step.input_rows.dtype == columns.dtype == step.bags[1].dtype == np.int64


def test_batch_skipgram_splits_a_centres_pairs_and_shares_negatives(tmp_path):
    dictionary, (ids, sentence) = _corpus(tmp_path)
    hp = word_vector_hp(
        mode="batch_skipgram",
        sampling_threshold=1,
        window_size=3,
        batch_size=4,
        negative_samples=2,
        update_tokens=10**6,
    )
    (step,) = ExampleBuilder(dictionary, hp, np.random.default_rng(4)).steps(ids, sentence)
    width = 4  # min(2 * window, batch_size): a centre with 5 or 6 neighbours makes two examples
    assert step.targets.shape[1] == width + 2
    assert (step.mask[:, width:] == 1).all() and (step.labels[:, width:] == 0).all()
    assert (step.targets[:, width:] != step.targets[:, :1]).all()  # negatives avoid the first context word
    filled = step.mask[:, :width].sum(axis=1)
    assert filled.min() >= 1 and filled.max() == width and (step.mask[:, :width] == step.labels[:, :width]).all()
    assert (np.diff(step.mask[:, :width], axis=1) <= 0).all()  # positives first, then padding


def test_negatives_follow_fasttexts_table_and_avoid_the_positive():
    counts = np.array([900, 90, 10, 1])
    table = NegativeTable(counts)
    weights = counts**NEGATIVE_POWER
    np.testing.assert_allclose(np.bincount(table.table) / len(table.table), weights / weights.sum(), atol=1e-6)
    rng = np.random.default_rng(0)
    positives = np.repeat(np.arange(4), 20000)
    negatives = table.draw(rng, positives, 5)
    assert negatives.shape == (80000, 5) and not (negatives == positives[:, None]).any()
    for word in range(4):  # without the positive: the others' shares, renormalised
        share = np.bincount(negatives[positives == word].ravel(), minlength=4) / negatives[positives == word].size
        expected = np.where(np.arange(4) == word, 0, weights) / (weights.sum() - weights[word])
        np.testing.assert_allclose(share, expected, atol=0.01)
    assert (NegativeTable([7]).draw(rng, np.zeros(3, np.int64), 2) == 0).all()  # one word: nothing else to draw


def test_unique_inverse_is_np_unique_whatever_the_scratch_holds():
    rng = np.random.default_rng(1)
    slots = rng.integers(-5, 5, 1000)  # stale content from earlier calls
    for size in (0, 1, 7, 500, 5000):  # 5000 values for 1000 slots: counted instead
        values = rng.integers(0, 1000, size) ** 2 // 1000  # skewed, many repeats
        unique, inverse = unique_inverse(values, slots)
        expected_unique, expected_inverse = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(unique, expected_unique)
        np.testing.assert_array_equal(inverse, expected_inverse)


def test_a_block_without_pairs_is_one_idle_step(tmp_path):
    (tmp_path / "corpus.txt").write_text("lonely")
    corpus = Corpus([str(tmp_path / "corpus.txt")])
    dictionary = Dictionary.from_counts(corpus.count_words(10), 1, (), 10)
    ((ids, sentence),) = corpus.sentences(dictionary.token_to_id)
    (step,) = ExampleBuilder(dictionary, word_vector_hp(update_tokens=16), np.random.default_rng(0)).steps(
        ids, sentence
    )
    assert (step.tokens, step.examples, step.positives) == (1, 0, 0)


# -- pairs, bags and shared negatives in small hand-made sentences -------------------------------------------
def _steps(text, tmp_path, **hp):
    corpus, dictionary = corpus_and_dictionary(text, tmp_path)
    builder = ExampleBuilder(dictionary, word_vector_hp(sampling_threshold=1, **hp), np.random.default_rng(0))
    return dictionary, [
        s for ids, sentence in corpus.sentences(dictionary.token_to_id) for s in builder.steps(ids, sentence)
    ]


def test_skipgram_pairs_stay_in_window_and_sentence(tmp_path):
    dictionary, steps = _steps("a b c d\ne f g h\n", tmp_path, mode="skipgram", window_size=1, negative_samples=2)
    pairs = set()
    for step in steps:
        words = step.input_rows[step.word_rows[1]]  # no subwords: a word's only row is its id
        for example, (start, stop) in enumerate(zip(step.bags[0][:-1], step.bags[0][1:])):
            (centre,) = words[step.bags[1][start:stop]]
            pairs.add((dictionary.words[centre], dictionary.words[step.targets[example, 0]]))
    line1, line2 = ["a", "b", "c", "d", EOS], ["e", "f", "g", "h", EOS]
    expected = {(x, y) for line in (line1, line2) for x, y in zip(line, line[1:])}
    assert pairs == expected | {(y, x) for x, y in expected}
    assert sum(s.tokens for s in steps) == 10 and all((s.labels[:, 0] == 1).all() for s in steps)


def test_cbow_bags_are_the_window_and_target_the_centre(tmp_path):
    dictionary, steps = _steps("a b c\n", tmp_path, mode="cbow", window_size=1, negative_samples=3)
    (step,) = steps
    words = step.input_rows[step.word_rows[1]]
    bags = {
        dictionary.words[step.targets[e, 0]]: sorted(
            dictionary.words[w] for w in words[step.bags[1][step.bags[0][e] : step.bags[0][e + 1]]]
        )
        for e in range(step.examples)
    }
    assert bags == {"a": ["b"], "b": ["a", "c"], "c": sorted(["b", EOS]), EOS: ["c"]}
    np.testing.assert_allclose(step.bag_weights[step.bags[0][1] : step.bags[0][2]], [0.5, 0.5])
    assert step.targets.shape == (4, 4) and step.positives == 4


def test_batch_skipgram_shares_negatives_across_a_centres_pairs(tmp_path):
    dictionary, steps = _steps(
        " ".join("abcdefghij") + "\n", tmp_path, mode="batch_skipgram", window_size=3, negative_samples=2, batch_size=4
    )
    (step,) = steps
    width = 4  # min(2 * window, batch_size)
    assert step.targets.shape[1] == width + 2
    assert (step.mask[:, width:] == 1).all() and (step.labels[:, width:] == 0).all()
    assert ((step.labels[:, :width] == 1) == (step.mask[:, :width] == 1)).all()
    assert step.positives == int(step.mask[:, :width].sum())
