"""Word-vector pieces the unit tests share: hyperparameters from keyword values (word_vector_hp), a corpus file with
its dictionary (corpus_and_dictionary), that corpus encoded for the CPU engine (encode_corpus), and a small text."""

from headlines.hyperparameters import WordVectorHyperparameters
from headlines.word_vectors.corpus import Corpus
from headlines.word_vectors.dictionary import Dictionary

TEXT = "the quick brown fox jumps over the lazy dog\nthe dog sleeps and the fox runs\n" * 4


def word_vector_hp(**values):
    return WordVectorHyperparameters.from_strings({k: str(v) for k, v in values.items()})


def corpus_and_dictionary(text, tmp_path, min_count=1, char_ngrams=(), buckets=50):
    """text written to tmp_path/corpus.txt: its Corpus and the Dictionary of its words."""
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    corpus = Corpus([str(path)])
    return corpus, Dictionary.from_counts(corpus.count_words(1000), min_count, char_ngrams, buckets)


def encode_corpus(tmp_path, corpus, dictionary):
    return corpus.encode(dictionary.token_to_id, str(tmp_path / "tokens.i32"))


# -- a corpus whose topics are known, and how well word vectors keep them apart ------------------------------------
# topic_agreement (k=10) that word vectors must reach on topic_corpus, in the unit and container tiers. Chance
# (vectors that know nothing of topics) is about 0.25; measured on 2,000 sentences, 16 dimensions, 5 epochs:
# skipgram and batch_skipgram 1.0, skipgram with subwords 0.98, cbow 0.91; the corpus shuffled across topics
# 0.26-0.27.
TOPIC_AGREEMENT_FLOOR = 0.75


def topic_corpus(sentences, seed=0):
    """Lines of scripts/make_demo_data.py's word-vector corpus (each line: 2-4 headlines of one news category, with
    shared words), and its topic words: {word: category} for the words of exactly one category's phrase lists
    (words of several categories, and the shared words, have no topic)."""
    import random

    from tests.support.repo import load_script

    demo = load_script("make_demo_data")
    categories = {}
    for code, phrases in demo.CATEGORIES.items():
        for phrase in (p for kind in phrases.values() for p in kind):
            for word in phrase.split():
                categories.setdefault(word, set()).add(code)
    topics = {w: codes.pop() for w, codes in categories.items() if len(codes) == 1 and w not in demo.SHARED_WORDS}
    return demo.corpus_lines(random.Random(seed), sentences), topics


def shuffled_across_topics(lines, seed=0):
    """The same lines with every word moved to a random position of the corpus (line lengths and word counts
    kept): words of all topics mixed in every line."""
    import random

    words = [w for line in lines for w in line.split()]
    random.Random(seed).shuffle(words)
    shuffled, start = [], 0
    for line in lines:
        stop = start + len(line.split())
        shuffled.append(" ".join(words[start:stop]))
        start = stop
    return shuffled


def topic_agreement(vectors, topics, k=10):
    """For each topic word, the share of its k nearest topic words (cosine, itself left out) of its own topic;
    the mean over topic words. vectors: {word: vector}; topics: {word: topic}."""
    import numpy as np

    words = [w for w in topics if w in vectors]
    matrix = np.array([vectors[w] for w in words], np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    labels = np.array([topics[w] for w in words])
    nearest = np.argsort(-similarity, axis=1)[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def chance_agreement(topics):
    """topic_agreement's expected value for vectors that know nothing of topics: for a word, the share of the
    other topic words in its topic, averaged over topic words."""
    from collections import Counter

    sizes = Counter(topics.values())
    total = len(topics)
    return sum(size * (size - 1) / (total - 1) for size in sizes.values()) / total


def read_text_vectors(model_dir):
    """vectors.txt of a word-vector job's model folder: {word: float32 vector}."""
    import numpy as np

    lines = (model_dir / "vectors.txt").read_text(encoding="utf-8").splitlines()[1:]
    return {line.split(" ")[0]: np.array(line.split(" ")[1:], np.float32) for line in lines}
