"""The embedding job's pieces: streaming corpus, dictionary, example building, the MXNet update (against a
numpy transcription of fastText's rule), the fastText binary writer (read back by Facebook's fasttext) and the
word-similarity score."""

import gzip

import mxnet as mx
import numpy as np
import pytest

from headlines.embeddings.fasttext_format import write_fasttext_binary, write_text_vectors
from headlines.errors import JobError
from headlines.hyperparameters import EmbeddingHyperparameters
from headlines.text import char_ngram_buckets
from headlines.word_vectors import corpus as corpus_module
from headlines.word_vectors.corpus import EOS, MAX_SENTENCE_TOKENS, Corpus
from headlines.word_vectors.dictionary import Dictionary
from headlines.word_vectors.evaluation import read_word_pairs, spearman_rho
from headlines.word_vectors.examples import ExampleBuilder
from headlines.word_vectors.word2vec import WordVectorModel


def _hp(**values):
    return EmbeddingHyperparameters.from_strings({k: str(v) for k, v in values.items()})


def _dictionary(text, tmp_path, min_count=1, char_ngrams=(), buckets=50):
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    corpus = Corpus([str(path)])
    return corpus, Dictionary.from_counts(corpus.count_words(1000), min_count, char_ngrams, buckets)


# -- corpus -------------------------------------------------------------------------------------------------
def test_tokens_are_whitespace_runs_and_each_newline_is_eos(tmp_path):
    (tmp_path / "a.txt").write_text("the cat\tsat\n\n  on  the mat")
    assert [t for block in Corpus([str(tmp_path / "a.txt")]).token_blocks() for t in block] == [
        "the",
        "cat",
        "sat",
        EOS,
        EOS,
        "on",
        "the",
        "mat",
    ]


def test_blocks_never_cut_a_token_and_gzip_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 7)
    words = [f"w{i}é" for i in range(200)]  # multi-byte characters straddle block edges
    with gzip.open(tmp_path / "part.txt.gz", "wt", encoding="utf-8") as f:
        f.write(" ".join(words[:100]) + "\n" + " ".join(words[100:]))
    tokens = [t for block in Corpus([str(tmp_path / "part.txt.gz")]).token_blocks() for t in block]
    assert tokens == words[:100] + [EOS] + words[100:]


def test_bytes_that_are_not_utf8_survive(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"caf\xe9 ok\n")
    tokens = next(Corpus([str(tmp_path / "a.txt")]).token_blocks())
    assert tokens[0].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_a_file_without_whitespace_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "MAX_TOKEN_BYTES", 100)
    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 64)
    (tmp_path / "blob.bin").write_bytes(b"x" * 1000)
    with pytest.raises(JobError, match="without whitespace"):
        list(Corpus([str(tmp_path / "blob.bin")]).token_blocks())


def test_empty_channel_and_empty_corpus_fail_clearly(tmp_path):
    with pytest.raises(JobError, match="has no files"):
        Corpus.from_channel("train", str(tmp_path))
    (tmp_path / "empty.txt").write_text("  \t ")
    with pytest.raises(JobError, match="holds no tokens"):
        Corpus([str(tmp_path / "empty.txt")]).count_words(10)


def test_counting_prunes_rare_words_when_the_vocabulary_outgrows_its_cap(tmp_path):
    (tmp_path / "a.txt").write_text("a a a b b c d e f g")
    counts = Corpus([str(tmp_path / "a.txt")]).count_words(max_types=3)
    assert not {"c", "d", "e", "f"} & set(counts.counts) and counts.min_count_applied == 2 and counts.tokens == 10
    # Words counted after the pruning must still reach the raised threshold.
    assert Dictionary.from_counts(counts, 1, (), 0).words == ["a", "b"]


def test_sentences_end_at_eos_and_after_max_tokens(tmp_path):
    words = " ".join(["x"] * (MAX_SENTENCE_TOKENS + 10))
    corpus, dictionary = _dictionary(f"a b\n{words}\nc", tmp_path)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    tokens = [dictionary.words[i] for i in ids]
    assert tokens[:3] == ["a", "b", EOS] and len(set(sentence[:3])) == 1
    long = sentence[3 : 3 + MAX_SENTENCE_TOKENS + 11]
    assert len(set(long[:MAX_SENTENCE_TOKENS])) == 1 and long[MAX_SENTENCE_TOKENS] != long[0]
    assert tokens[-1] == EOS and long[-1] == sentence[-1]  # the 10 x's after the cut and their EOS


# -- dictionary ---------------------------------------------------------------------------------------------
def test_dictionary_orders_by_count_and_gives_eos_no_ngrams(tmp_path):
    _, dictionary = _dictionary("b a a c a b\nz\n", tmp_path, min_count=1, char_ngrams=(3, 4), buckets=97)
    assert dictionary.words[:3] == ["a", EOS, "b"]
    assert list(dictionary.rows_of(EOS)) == [dictionary.token_to_id[EOS]]
    v = len(dictionary)
    assert list(dictionary.rows_of("a")) == [dictionary.token_to_id["a"]] + [
        v + b for b in char_ngram_buckets("a", (3, 4), 97)
    ]
    assert list(dictionary.rows_of("unseen")) == [v + b for b in char_ngram_buckets("unseen", (3, 4), 97)]
    assert dictionary.input_rows == v + 97


def test_min_count_too_high_fails_clearly(tmp_path):
    with pytest.raises(JobError, match="No word occurs at least min_count=5"):
        _dictionary("a b c", tmp_path, min_count=5)


def test_keep_probability_follows_fasttext(tmp_path):
    _, dictionary = _dictionary(" ".join(["a"] * 900 + ["b"] * 90 + ["c"] * 10), tmp_path)
    f = dictionary.counts / dictionary.total_tokens
    np.testing.assert_allclose(dictionary.keep_probabilities(1e-2), np.minimum(1, np.sqrt(1e-2 / f) + 1e-2 / f))


# -- examples -----------------------------------------------------------------------------------------------
def _steps(text, tmp_path, **hp):
    corpus, dictionary = _dictionary(text, tmp_path)
    builder = ExampleBuilder(dictionary, _hp(sampling_threshold=1, **hp), np.random.default_rng(0))
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


# -- the MXNet update ---------------------------------------------------------------------------------------
def _reference_update(step, w_in, w_out, lr):
    """fastText's per-example rule with every example reading the same weights, deltas summed, in numpy."""
    w_in, w_out = w_in.copy(), w_out.copy()
    d_in, d_out, loss = np.zeros_like(w_in), np.zeros_like(w_out), 0.0
    word_rows = [step.input_rows[step.word_rows[1][a:b]] for a, b in zip(step.word_rows[0][:-1], step.word_rows[0][1:])]
    for e in range(step.examples):
        bag = step.bags[1][step.bags[0][e] : step.bags[0][e + 1]]
        rows = np.concatenate([word_rows[w] for w in bag])
        hidden = w_in[rows].mean(axis=0)
        grad = np.zeros_like(hidden)
        for t, label, mask in zip(step.targets[e], step.labels[e], step.mask[e]):
            score = w_out[t] @ hidden
            sig = 1 / (1 + np.exp(-score))
            gain = lr * mask * (label - sig)
            grad += gain * w_out[t]
            d_out[t] += gain * hidden
            loss -= mask * np.log(sig if label else 1 - sig)
        for r in rows:
            d_in[r] += grad
    return w_in + d_in, w_out + d_out, loss


@pytest.mark.parametrize("mode,subwords", [("skipgram", True), ("cbow", True), ("batch_skipgram", False)])
def test_one_step_matches_fasttexts_rule(tmp_path, mode, subwords):
    corpus, dictionary = _dictionary(
        "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n" * 3,
        tmp_path,
        char_ngrams=(3, 4) if subwords else (),
        buckets=31,
    )
    hp = _hp(mode=mode, sampling_threshold=1, window_size=2, negative_samples=3, batch_size=3)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    step = next(ExampleBuilder(dictionary, hp, np.random.default_rng(1)).steps(ids, sentence))
    model = WordVectorModel(dictionary.input_rows, len(dictionary), 8, [mx.cpu()], seed=3)
    model.output_weights[:] = mx.nd.random.uniform(-0.5, 0.5, model.output_weights.shape)
    w_in, w_out = model.input_weights.asnumpy(), model.output_weights.asnumpy()
    loss = model.train_group([step], 0.3).asscalar()
    expected_in, expected_out, expected_loss = _reference_update(step, w_in, w_out, 0.3)
    np.testing.assert_allclose(model.input_weights.asnumpy(), expected_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.output_weights.asnumpy(), expected_out, rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(expected_loss, rel=1e-4)


def test_two_devices_compute_what_one_device_computes_for_a_group(tmp_path):
    corpus, dictionary = _dictionary("a b c d e f g a b c\nd e f a b\n" * 20, tmp_path, char_ngrams=(2, 3), buckets=40)
    hp = _hp(mode="skipgram", sampling_threshold=1, update_tokens=16, negative_samples=2)
    ids, sentence = next(corpus.sentences(dictionary.token_to_id))
    steps = list(ExampleBuilder(dictionary, hp, np.random.default_rng(2)).steps(ids, sentence))
    one = WordVectorModel(dictionary.input_rows, len(dictionary), 6, [mx.cpu(0)], seed=5)
    two = WordVectorModel(dictionary.input_rows, len(dictionary), 6, [mx.cpu(0), mx.cpu(1)], seed=5)
    for first in range(0, len(steps) - 1, 2):
        group = steps[first : first + 2]
        loss_one = one.train_group(group, 0.1)  # both steps from the same weights, as on two devices
        loss_two = two.train_group(group, 0.1)
        assert loss_two.asscalar() == pytest.approx(loss_one.asscalar(), rel=1e-5)
    np.testing.assert_allclose(two.input_weights.asnumpy(), one.input_weights.asnumpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(two.output_weights.asnumpy(), one.output_weights.asnumpy(), rtol=1e-5, atol=1e-7)


# -- vectors.txt / vectors.bin ------------------------------------------------------------------------------
@pytest.mark.parametrize("subwords", [True, False])
def test_fasttext_reads_our_binary_with_the_same_vectors(tmp_path, subwords):
    import fasttext

    corpus, dictionary = _dictionary(
        "naïve cats chase dogs\ncats sleep\ndogs bark at cats\n" * 5,
        tmp_path,
        char_ngrams=(3, 4, 5) if subwords else (),
        buckets=101,
    )
    hp = _hp(mode="cbow", vector_dim=12, subwords=subwords, min_char=3, max_char=5, buckets=101, min_count=1)
    model = WordVectorModel(dictionary.input_rows, len(dictionary), 12, [mx.cpu()], seed=0)
    model.output_weights[:] = mx.nd.random.uniform(-1, 1, model.output_weights.shape)
    write_text_vectors(tmp_path / "vectors.txt", dictionary.words, model.word_vectors(dictionary, dictionary.words))
    write_fasttext_binary(
        tmp_path / "vectors.bin",
        dictionary,
        hp,
        model.input_weights.asnumpy(),
        lambda start, stop: model.output_weights[start:stop].asnumpy(),
    )
    loaded = fasttext.load_model(str(tmp_path / "vectors.bin"))
    lines = (tmp_path / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{len(dictionary)} 12" and loaded.words == dictionary.words
    for line in lines[1:]:
        word, *values = line.split(" ")
        np.testing.assert_allclose(loaded.get_word_vector(word), np.array(values, np.float32), atol=1e-4)
    unseen = model.word_vectors(dictionary, ["catsup"])[0]
    np.testing.assert_allclose(loaded.get_word_vector("catsup"), unseen, atol=1e-6)
    assert np.abs(unseen).sum() > 0 if subwords else not unseen.any()
    np.testing.assert_allclose(loaded.get_output_matrix(), model.output_weights.asnumpy())
    assert loaded.get_dimension() == 12 and loaded.f.getArgs().minn == (3 if subwords else 0)


# -- evaluation ---------------------------------------------------------------------------------------------
def test_spearman_rho_with_and_without_ties():
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties take their average rank: ranks x = 1, 2.5, 2.5, 4; y = 1, 2, 3, 4 -> Pearson of the ranks.
    x_ranks, y_ranks = np.array([1, 2.5, 2.5, 4]), np.arange(1, 5)
    assert spearman_rho([1, 5, 5, 9], [1, 2, 3, 4]) == pytest.approx(np.corrcoef(x_ranks, y_ranks)[0, 1])


def test_word_pair_files_skip_headers_and_accept_tabs_and_commas(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger\tcat\t7.35\n# comment\n\nbad line here x\n")
    pairs, skipped = read_word_pairs(str(path))
    assert pairs == [("love", "sex", 6.77), ("tiger", "cat", 7.35)] and skipped == 3
