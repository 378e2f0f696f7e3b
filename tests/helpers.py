"""Helpers shared by every test tier and the benchmarks: the headline data, a fake /opt/ml, small models, and
serving containers."""

import atexit
import dataclasses
import functools
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[1]
# The one setting for real data: a folder with uci-news-aggregator/{train,test}.tsv (the UCI News Aggregator in its
# newsCorpora.csv layout, split by story) and wikitext2/{valid,test}.txt, as developers and CI have beside the
# checkout. Tests run on it where it is and on generated data where it is not (a plain clone, CodeBuild).
DATA_DIR_SETTING = "HEADLINES_DATA_DIR"
REAL_DATA_DIR = pathlib.Path(os.environ.get(DATA_DIR_SETTING) or REPO.parent / "shared" / "data")
UCI_DIR = REAL_DATA_DIR / "uci-news-aggregator"
WIKITEXT_DIR = REAL_DATA_DIR / "wikitext2"
REAL_DATA_FILES = (UCI_DIR / "train.tsv", UCI_DIR / "test.tsv", WIKITEXT_DIR / "valid.txt", WIKITEXT_DIR / "test.txt")


def load_script(name):
    """A module of scripts/ (they are not a package), imported by file name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # scripts import each other by name (demo -> launch, make_demo_data)
    spec.loader.exec_module(module)
    return module


def assert_json_error(response, status, *fragments):
    """A Flask test response is the serving app's JSON error, {"error", "message"}, whose message holds fragments."""
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error", "message"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


def write_lines(path, lines, compress=False):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


class FakeSageMaker:
    """A fake /opt/ml tree for SAGEMAKER_BASE_DIR: channels, hyperparameters, resource config."""

    def __init__(self, base):
        self.base = pathlib.Path(base)
        self.channels = {}
        self.write_config(hyperparameters={})

    def add_channel(self, name, files, distribution="FullyReplicated"):
        """files: {relative name: list of lines or a source path}."""
        folder = self.base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in files.items():
            target = folder / file_name
            if isinstance(content, (str, os.PathLike)):
                target.write_bytes(pathlib.Path(content).read_bytes())
            else:
                write_lines(target, content, compress=file_name.endswith(".gz"))
        self.channels[name] = {
            "ContentType": "text/plain",
            "TrainingInputMode": "File",
            "S3DistributionType": distribution,
            "RecordWrapperType": "None",
        }
        self._write("inputdataconfig.json", self.channels)
        return folder

    def write_config(self, hyperparameters, current_host="algo-1", hosts=("algo-1",)):
        self._write("hyperparameters.json", {k: str(v) for k, v in hyperparameters.items()})
        self._write(
            "resourceconfig.json",
            {"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"},
        )

    def _write(self, name, value):
        path = self.base / "input" / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))

    @property
    def model_dir(self):
        return self.base / "model"

    @property
    def output_data_dir(self):
        return self.base / "output" / "data"

    @property
    def failure_file(self):
        return self.base / "output" / "failure"

    @property
    def checkpoint_dir(self):
        return self.base / "checkpoints"

    def metrics(self):
        return json.loads((self.output_data_dir / "metrics.json").read_text())


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


def docker(*args, check=True, **kwargs):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, **kwargs)


def write_vec(model, path, digits=6):
    """A fastText model's vectors as fastText writes a .vec: an `N dim` header, then `word v1 .. vd ` lines
    (with fastText's trailing space)."""
    words = model.get_words()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {model.get_dimension()}\n")
        for word in words:
            f.write(word + " " + " ".join(f"{v:.{digits}f}" for v in model.get_word_vector(word)) + " \n")
    return path


# Small subword vectors from Facebook's fasttext package, quick to train, for tests that need a real fastText .bin.
SMALL_REFERENCE_VECTORS = dict(
    model="skipgram", dim=16, epoch=1, minCount=3, minn=3, maxn=5, lr=0.025, thread=1, verbose=0
)


def train_reference_vectors(corpus, model_path, attempts=5, supervised=False, **settings):
    """Subword vectors from Facebook's fasttext package (a classifier's, with `supervised`), saved to model_path and
    loaded back.

    The wheel's training is not deterministic and now and then ends in NaN; in long test sessions it did so
    five times in a row in one process while a fresh process succeeded, so every attempt runs in its own
    process."""
    import fasttext

    script = (
        "import json, sys, fasttext; "
        "train = fasttext.train_supervised if sys.argv[4] == 'True' else fasttext.train_unsupervised; "
        "train(sys.argv[1], **json.loads(sys.argv[3])).save_model(sys.argv[2])"
    )
    errors = []
    for _ in range(attempts):
        result = subprocess.run(
            [sys.executable, "-c", script, str(corpus), str(model_path), json.dumps(settings), str(supervised)],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            return fasttext.load_model(str(model_path))
        errors.append(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message")
        if "NaN" not in errors[-1]:
            break
    raise RuntimeError(f"fasttext training failed: {errors}")


SMALL_MODEL = {"epochs": 2, "batch_size": 32, "ngram_buckets": 5000, "embedding_dim": 16, "num_filters": 8}


SMALL_WORD_VECTORS = {"mode": "skipgram", "vector_dim": 16, "buckets": 5000, "epochs": 2, "min_count": 2}


def train_small_model(base, architecture="fasttext", rows=1200):
    """A small model trained in-process on the first rows of the train split; returns its model folder."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {"train.tsv": data_set().train_rows(rows)})
    fake.write_config(dict(SMALL_MODEL, architecture=architecture))
    return _train_in_process(fake)


def train_small_word_vectors(base, lines=1500):
    """Small subword vectors (the word-vector job, in-process) from the first lines of the corpus; returns their
    model folder."""
    fake = FakeSageMaker(base)
    fake.add_channel("train", {"corpus.txt": data_set().corpus_text().splitlines()[:lines]})
    fake.write_config(dict(SMALL_WORD_VECTORS, subwords="true"))
    return _train_in_process(fake)


def _train_in_process(fake):
    import pytest

    from headlines.cli.train import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
        patch.setenv("SM_NUM_GPUS", "0")
        assert main([]) == 0, (fake.base / "output" / "failure").read_text()
    return fake.model_dir


class ServeContainer:
    """One serving container (`docker run -d`) with a model folder mounted read-only (at mount_at: /opt/ml/model, or
    a multi-model endpoint's /opt/ml/models), on a free host port; docker_options go to `docker run` as they are."""

    def __init__(
        self, image, model_dir, env=None, command=("serve",), port=8080, mount_at="/opt/ml/model", docker_options=()
    ):
        self.image, self.model_dir, self.env, self.command, self.port = image, model_dir, env or {}, command, port
        self.mount_at, self.docker_options = mount_at, list(docker_options)
        self.name = f"headlines-serve-{os.getpid()}-{time.monotonic_ns()}"
        self.address = None

    def start(self):
        env = [item for key, value in self.env.items() for item in ("-e", f"{key}={value}")]
        docker(
            "run",
            "-d",
            "--name",
            self.name,
            "-p",
            f"127.0.0.1::{self.port}",
            *env,
            *self.docker_options,
            "-v",
            f"{self.model_dir}:{self.mount_at}:ro",
            self.image,
            *self.command,
        )
        host, port = docker("port", self.name, str(self.port)).stdout.split()[0].rsplit(":", 1)
        self.address = (host, int(port))
        return self

    def use_container_address(self):
        """Talk to the container at its own network address instead of the published port. Docker's userland proxy
        behind a published port costs more CPU per connection than a one-headline request does (measured, ours at
        concurrency 8: 1,100-1,200 requests/s through it, 1,700-2,000 direct); SageMaker's front end has no such
        proxy. The benchmarks' load runs use this, for every server they measure."""
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        self.address = (docker("inspect", "-f", networks, self.name).stdout.strip(), self.port)
        return self

    def url(self, path):
        return f"http://{self.address[0]}:{self.address[1]}{path}"

    def ping(self, timeout=2):
        try:
            with urllib.request.urlopen(self.url("/ping"), timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def wait_ready(self, timeout=60):
        """Polls /ping until it answers 200; fails with the logs when the container exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping() == 200:
                return self
            if self.state()["Status"] == "exited":
                break
            time.sleep(0.02)
        raise AssertionError(f"{self.name} did not become ready:\n{self.logs()[-4000:]}")

    def state(self):
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.name).stdout)

    def logs(self):
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def python(self, code):
        """Runs Python inside the container (the image has no ps or kill); returns its stdout."""
        return docker("exec", self.name, "python3", "-c", code).stdout

    def worker_pids(self):
        """Container PIDs of gunicorn's workers: the children of the master, PID 1."""
        code = (
            "import os\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try: fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()\n"
            "    except OSError: continue\n"
            "    if fields[1] == '1': print(pid)\n"
        )
        return sorted(int(pid) for pid in self.python(code).split())

    def wait_for_workers(self, count, timeout=30):
        """The worker PIDs once there are count of them (gunicorn spawns workers a moment apart)."""
        deadline = time.monotonic() + timeout
        while len(pids := self.worker_pids()) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pids) == count, f"{len(pids)} workers, expected {count}:\n{self.logs()[-3000:]}"
        return pids

    def remove(self):
        docker("rm", "-f", self.name, check=False)
