"""The headline data the tests and benchmarks run on: the real data where it is, else generated data, and
made-up headlines no corpus has."""

import atexit
import dataclasses
import functools
import gzip
import os
import pathlib
import shutil
import tempfile

from tests.support.repo import REPO, load_script

# The one setting for real data: a folder with uci-news-aggregator/{train,test}.tsv (the UCI News Aggregator in its
# newsCorpora.csv layout, split by story) and wikitext2/{valid,test}.txt, as developers and CI have beside the
# checkout. Tests run on it where it is and on generated data where it is not (a plain clone, CodeBuild).
DATA_DIR_SETTING = "HEADLINES_DATA_DIR"
REAL_DATA_DIR = pathlib.Path(os.environ.get(DATA_DIR_SETTING) or REPO.parent / "shared" / "data")
UCI_DIR = REAL_DATA_DIR / "uci-news-aggregator"
WIKITEXT_DIR = REAL_DATA_DIR / "wikitext2"
REAL_DATA_FILES = (UCI_DIR / "train.tsv", UCI_DIR / "test.tsv", WIKITEXT_DIR / "valid.txt", WIKITEXT_DIR / "test.txt")


def write_lines(path, lines, compress=False):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@dataclasses.dataclass(frozen=True)
class DataSet:
    """Headlines in the UCI newsCorpora.csv layout (ID TITLE URL PUBLISHER CATEGORY STORY ...), split by story into
    train and test, and plain text to pre-train word vectors on."""

    source: str  # "real" or "generated": thresholds that depend on the data are keyed by it
    train: pathlib.Path
    test: pathlib.Path
    corpus: pathlib.Path

    def train_rows(self, limit=None):
        return _lines(self.train, limit)

    def test_rows(self, limit=None):
        return _lines(self.test, limit)

    def corpus_text(self):
        """The corpus lower-cased, as the word-vector tests train on it."""
        return self.corpus.read_text(encoding="utf-8").lower()

    def headlines(self, count):
        """Titles of the test split, count of them (repeated when count is larger)."""
        titles = [row.split("\t")[1] for row in self.test_rows()]
        return [titles[i % len(titles)] for i in range(count)]

    def headlines_body(self, limit_bytes):
        """A text/plain body of test-split titles, one a line, filling just under limit_bytes (the largest request an
        endpoint with that limit accepts)."""
        piece = "\n".join(self.headlines(2000)).encode()
        return b"\n".join([piece] * (limit_bytes // len(piece) + 1))[: limit_bytes - 1000].rsplit(b"\n", 1)[0]


def _lines(path, limit):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:limit] if limit else lines


def real_data():
    """The real data, or None unless the data folder holds all of it."""
    if not all(path.is_file() for path in REAL_DATA_FILES):
        return None
    return DataSet("real", UCI_DIR / "train.tsv", UCI_DIR / "test.tsv", WIKITEXT_DIR / "valid.txt")


@functools.cache
def generated_data():
    """What scripts/make_demo_data.py writes (seeded: the same every time), once per process, removed at exit."""
    folder = tempfile.mkdtemp(prefix="headlines-test-data-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    paths = load_script("make_demo_data").write_demo_data(folder)
    return DataSet("generated", *(pathlib.Path(paths[name]) for name in ("train", "test", "corpus")))


def data_set():
    """What the tests run on: the real data where it is, else the generated data."""
    return real_data() or generated_data()


def data_sets():
    """Every data set at hand, for tests cheap enough to run on each: the generated one, and the real one where
    it is."""
    return [generated_data()] + [data for data in [real_data()] if data]


def require_real_data():
    """The benchmarks measure the real data only; without it they stop and say what to fetch."""
    missing = [str(path.relative_to(REAL_DATA_DIR)) for path in REAL_DATA_FILES if not path.is_file()]
    if missing:
        raise SystemExit(
            f"Benchmarks run on real data only, and {REAL_DATA_DIR} ({DATA_DIR_SETTING}) lacks "
            f"{', '.join(missing)}: scripts/download_public_data.py downloads the UCI News Aggregator "
            f"story split (its uci/train and uci/test files go there as uci-news-aggregator/train.tsv "
            f"and test.tsv), and WikiText-2's valid.txt and test.txt go in wikitext2/."
        )
    return real_data()


# Headlines of made-up words that no corpus has. In a train channel they give vectors with subwords some words to
# build from character n-grams alone, on real and generated data alike (the generated corpus has every word of the
# generated headlines).
MADE_UP_HEADLINES = {
    "Zorblaxian glimmerphones outsell flurbwidgets": "t",
    "Quandrovex shares plunge on snargle fears": "b",
    "Blimperton stars in vorquish sequel": "e",
    "Grelfin virus spreads through plontic wards": "m",
}
MADE_UP_HEADLINE_ROWS = [
    f"{900000 + i}\t{title}\thttp://example.com/{i}\tExample\t{label}\tmade-up-{i}\texample.com\t0"
    for i, (title, label) in enumerate(MADE_UP_HEADLINES.items())
]  # UCI layout, a story each
