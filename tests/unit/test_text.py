import numpy as np
import pytest

from headlines.text import (
    PADDING_TOKEN,
    UNKNOWN_TOKEN,
    TextEncoder,
    Tokenizer,
    VocabularyTable,
    build_vocabulary,
    char_ngram_buckets,
    fnv1a_32,
    word_ngram_buckets,
)


def test_tokenizer_lowercases_and_splits_punctuation():
    tokenizer = Tokenizer()
    assert tokenizer("Apple's iPhone-6 sales: UP 5%!") == ["apple's", "iphone-6", "sales", ":", "up", "5", "%", "!"]
    assert Tokenizer(lowercase=False)("Fed Hikes") == ["Fed", "Hikes"]
    assert Tokenizer.from_config(tokenizer.to_config())("A b") == ["a", "b"]


def test_vocabulary_min_count_and_special_tokens():
    vocabulary = build_vocabulary([["a", "b", "a"], ["a", "c"]], min_count=2)
    assert vocabulary.idx_to_token[:2] == [UNKNOWN_TOKEN, PADDING_TOKEN]
    assert "a" in vocabulary.token_to_idx and "b" not in vocabulary.token_to_idx
    assert vocabulary["never-seen"] == vocabulary[UNKNOWN_TOKEN]


def test_fnv1a_matches_fasttext_reference_values():
    # FNV-1a 32-bit reference values; fastText sign-extends bytes >= 0x80, which changes non-ASCII words.
    assert fnv1a_32("") == 2166136261
    assert fnv1a_32("a") == 0xE40C292C
    assert fnv1a_32("foobar") == 0xBF9CF968
    assert fnv1a_32("é") != 0  # sign-extended path runs


def _fasttext_word_ngrams(tokens, max_n, buckets):
    """fastText's Dictionary::addWordNgrams, one headline at a time, as plain integers."""
    hashes = [(h | 0xFFFFFFFF00000000) if h >= 0x80000000 else h for h in map(fnv1a_32, tokens)]
    found = []
    for start in range(len(hashes)):
        h = hashes[start]
        for end in range(start + 1, min(start + max_n, len(hashes))):
            h = (h * 116049371 + hashes[end]) & 0xFFFFFFFFFFFFFFFF
            found.append(h % buckets)
    return found


@pytest.mark.parametrize("max_n", [2, 3, 5])
def test_word_ngrams_of_a_batch_equal_fasttexts_headline_by_headline(max_n):
    headlines = [["fed", "raises", "rates"], [], ["one"], ["café", "北京", "it’s", "a", "b", "c", "d"], ["x", "y"]]
    found, counts = word_ngram_buckets([t for h in headlines for t in h], [len(h) for h in headlines], max_n, 1000)
    expected = [_fasttext_word_ngrams(h, max_n, 1000) for h in headlines]
    assert counts.tolist() == [len(e) for e in expected]
    assert found.tolist() == [b for e in expected for b in e]
    assert len(_fasttext_word_ngrams(["fed", "raises", "rates"], 3, 1000)) == 3  # two bigrams, one trigram


def test_a_batch_encodes_as_its_headlines_one_by_one():
    tokenizer = Tokenizer()
    texts = ["Fed raises rates", "", "Café au lait: 北京 shares up 5%", "a", "x " * 80, "!!"]
    vocabulary = build_vocabulary([tokenizer(t) for t in texts[:3]], 1)
    encoder = TextEncoder(tokenizer, vocabulary, 64, word_ngrams=3, ngram_buckets=500, char_ngrams=(2, 4))
    ids, counts = encoder.flat_ids(texts)
    rows = [encoder.flat_ids([t])[0].tolist() for t in texts]
    assert counts.tolist() == [len(r) for r in rows] and ids.tolist() == [i for r in rows for i in r]
    assert rows[0][:3] == [vocabulary[t] for t in ("fed", "raises", "rates")]
    np.testing.assert_array_equal(encoder.encode(texts)[0], encoder.pad(rows)[0])


def test_the_vocabulary_table_reads_gluonnlps_json_alike():
    vocabulary = build_vocabulary([["a", "b", "a"]], 1)
    table = VocabularyTable.from_json(vocabulary.to_json())
    assert len(table) == len(vocabulary)
    assert [table[t] for t in ("a", "b", "never-seen", PADDING_TOKEN)] == vocabulary[["a", "b", "x", PADDING_TOKEN]]


def test_encoder_appends_ngram_ids_after_the_vocabulary_and_pads():
    tokenizer = Tokenizer()
    vocabulary = build_vocabulary([["fed", "raises", "rates"]], 1)
    encoder = TextEncoder(tokenizer, vocabulary, max_length=10, word_ngrams=2, ngram_buckets=50, min_length=4)
    assert encoder.input_size == len(vocabulary) + 50
    ids, lengths = encoder.encode(["Fed raises rates", ""])
    assert ids.shape == (2, 5) and list(lengths) == [5, 1]
    assert all(i >= len(vocabulary) for i in ids[0, 3:5])
    assert (ids[1] == vocabulary[PADDING_TOKEN]).all()
    restored = TextEncoder.from_config(encoder.to_config(), vocabulary)
    np.testing.assert_array_equal(restored.encode(["Fed raises rates"])[0], ids[:1, :5])


def test_max_length_truncates_tokens():
    vocabulary = build_vocabulary([["a"]], 1)
    encoder = TextEncoder(Tokenizer(), vocabulary, max_length=3)
    ids, lengths = encoder.encode(["a a a a a a"])
    assert ids.shape == (1, 3) and lengths[0] == 3


def test_char_ngrams_share_the_bucket_table_and_use_fasttext_hashes():
    import gluonnlp as nlp

    vocabulary = build_vocabulary([["fed"]], 1)
    encoder = TextEncoder(Tokenizer(), vocabulary, 10, word_ngrams=1, ngram_buckets=1000, char_ngrams=(3, 4))
    ids = encoder.ids("Fed")
    # "<fed>" has the 3-grams <fe, fed, ed> and the 4-grams <fed, fed>
    assert ids[0] == vocabulary["fed"] and len(ids) == 1 + 5
    expected = nlp.vocab.create_subword_function("NGramHashes", ngrams=[3, 4], num_subwords=1000)(["fed"])[0]
    assert ids[1:] == [len(vocabulary) + h for h in expected]
    assert encoder.input_size == len(vocabulary) + 1000
    # An unseen word is <unk> but still carries its character n-grams.
    unseen = encoder.ids("Feds")
    assert unseen[0] == vocabulary["<unk>"] and len(unseen) > 1


@pytest.mark.parametrize("ngrams", [(3, 4, 5, 6), (2, 3), (4,)])
def test_char_ngram_buckets_equal_gluonnlp_ngram_hashes(ngrams):
    import gluonnlp as nlp

    words = ["fed", "a", "interest-rates", "kardashian's", "café", "naïve", "北京", "ĳssel", "x" * 40, "it’s", "🙂ok"]
    reference = nlp.vocab.create_subword_function("NGramHashes", ngrams=list(ngrams), num_subwords=200000)
    assert [list(char_ngram_buckets(w, ngrams, 200000)) for w in words] == [list(h) for h in reference(words)]
