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
