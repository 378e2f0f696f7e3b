"""Word-vector quality: the real job (in-process, on a fake /opt/ml) trained on a corpus whose topics are known
(scripts/make_demo_data.py's: each line the headlines of one news category) must put each topic word among words
of its own topic, and its loss must fall epoch by epoch. The same corpus with its words shuffled across topics is
held to the same floor and must miss it: the floor tells topic-aware vectors from vectors that know none."""

import pytest

from headlines.cli.train import main
from headlines.word_vectors.cpu import training as cpu_training
from tests.support.word_vectors import (
    TOPIC_AGREEMENT_FLOOR,
    chance_agreement,
    read_text_vectors,
    shuffled_across_topics,
    topic_agreement,
    topic_corpus,
)

pytestmark = pytest.mark.usefixtures("default_sigterm")

SENTENCES = 2000  # about 37,000 tokens, 4 topics of 56-67 topic words
NEIGHBOURS = 10
FLOOR = TOPIC_AGREEMENT_FLOOR  # share of a topic word's 10 nearest topic words in its own topic
SETTINGS = {"vector_dim": 16, "epochs": 5, "min_count": 2, "buckets": 5000, "evaluation": "false"}


@pytest.fixture(scope="module")
def corpus():
    return topic_corpus(SENTENCES)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    # One thread: Hogwild threads interleave their updates differently from run to run; on one the vectors, and so
    # the measured agreement, are the same every run.
    monkeypatch.setattr(cpu_training, "cpu_threads", lambda: 1)


def _train(sagemaker, lines, mode, subwords):
    sagemaker.add_channel("train", {"corpus.txt": lines})
    sagemaker.write_config(dict(SETTINGS, mode=mode, subwords=subwords))
    assert main([]) == 0, sagemaker.failure_file.read_text()
    return read_text_vectors(sagemaker.model_dir), [row["loss"] for row in sagemaker.metrics()["history"]]


def test_the_floor_is_well_above_chance(corpus):
    lines, topics = corpus
    assert sorted(set(topics.values())) == ["b", "e", "m", "t"]
    assert all(len([w for w in topics if topics[w] == topic]) >= 40 for topic in "bemt")
    assert chance_agreement(topics) == pytest.approx(0.25, abs=0.01)
    assert FLOOR >= 3 * chance_agreement(topics)


@pytest.mark.parametrize(
    "mode,subwords", [("skipgram", "false"), ("skipgram", "true"), ("cbow", "false"), ("batch_skipgram", "false")]
)
def test_vectors_put_topic_words_next_to_their_own_topic(sagemaker, corpus, mode, subwords):
    lines, topics = corpus
    vectors, losses = _train(sagemaker, lines, mode, subwords)
    assert set(topics) <= set(vectors)
    agreement = topic_agreement(vectors, topics, NEIGHBOURS)
    assert agreement >= FLOOR, f"{mode}: {agreement:.3f} of nearest topic words share the topic (floor {FLOOR})"
    assert len(losses) == SETTINGS["epochs"]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("mode", ["skipgram", "cbow", "batch_skipgram"])
def test_vectors_of_the_corpus_shuffled_across_topics_miss_the_floor(sagemaker, corpus, mode):
    """The mutant: the same words, as often, in lines of the same lengths, but each line mixes every topic."""
    lines, topics = corpus
    vectors, _ = _train(sagemaker, shuffled_across_topics(lines), mode, "false")
    assert set(topics) <= set(vectors)
    agreement = topic_agreement(vectors, topics, NEIGHBOURS)
    assert agreement < FLOOR
    assert agreement == pytest.approx(chance_agreement(topics), abs=0.1)
