"""The benchmarks run fastText's own trainer on zeroed memory, as fastText's release trained: MALLOC_PERTURB_=1 in
the caller's environment makes any run that reads memory it never wrote end in NaN, every time."""

from benchmarks import train_uci, word_vectors_wikitext2
from tests.support.data import data_set
from tests.support.fasttext_reference import UNWRITTEN_MEMORY


def _unwritten_memory_is_nan(monkeypatch):
    for name, value in UNWRITTEN_MEMORY.items():
        monkeypatch.setenv(name, value)


def test_fasttext_supervised_trains_from_zeroed_memory(tmp_path, monkeypatch):
    _unwritten_memory_is_nan(monkeypatch)
    rows = [train_uci.Row(line, line.split("\t")[1], line.split("\t")[4], "") for line in data_set().train_rows(400)]
    train = train_uci.fasttext_file(rows, tmp_path / "train.txt")
    result = train_uci.fasttext_accuracy(train, {"test": str(train)}, epoch=1)
    assert 0 <= result["test"] <= 1 and result["train_seconds"] > 0


def test_fasttext_word_vectors_train_from_zeroed_memory(tmp_path, monkeypatch):
    _unwritten_memory_is_nan(monkeypatch)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(data_set().corpus_text()[:60_000], encoding="utf-8")
    settings = {"model": "skipgram", "dim": 8, "epoch": 1, "thread": 2, "bucket": 3000, "minCount": 2, "verbose": 0}
    seconds, peak = word_vectors_wikitext2.run_fasttext(corpus, tmp_path / "model.bin", settings)
    assert seconds > 0 and peak > 0
