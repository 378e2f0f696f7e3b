"""Helpers shared by every test tier: paths to the shared data and a fake /opt/ml."""

import gzip
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
UCI_DIR = SHARED_DATA / "uci-news-aggregator"
WIKITEXT_DIR = SHARED_DATA / "wikitext2"


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

    def add_channel(self, name, files):
        """files: {relative name: list of lines or a source path}."""
        folder = self.base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in files.items():
            target = folder / file_name
            if isinstance(content, (str, os.PathLike)):
                target.write_bytes(pathlib.Path(content).read_bytes())
            else:
                write_lines(target, content, compress=file_name.endswith(".gz"))
        self.channels[name] = {"ContentType": "text/plain", "TrainingInputMode": "File",
                               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        self._write("inputdataconfig.json", self.channels)
        return folder

    def write_config(self, hyperparameters):
        self._write("hyperparameters.json", {k: str(v) for k, v in hyperparameters.items()})
        self._write("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"],
                                            "network_interface_name": "eth0"})

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


def uci_lines(path, limit=None):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:limit] if limit else lines


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


def train_reference_vectors(corpus, model_path, attempts=5, **settings):
    """Subword vectors from Facebook's fasttext package, saved to model_path and loaded back.

    The wheel's training is not deterministic and now and then ends in NaN; in long test sessions it did so
    five times in a row in one process while a fresh process succeeded, so every attempt runs in its own
    process."""
    import fasttext

    script = ("import json, sys, fasttext; "
              "fasttext.train_unsupervised(sys.argv[1], **json.loads(sys.argv[3])).save_model(sys.argv[2])")
    errors = []
    for _ in range(attempts):
        result = subprocess.run([sys.executable, "-c", script, str(corpus), str(model_path), json.dumps(settings)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            return fasttext.load_model(str(model_path))
        errors.append(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message")
        if "NaN" not in errors[-1]:
            break
    raise RuntimeError(f"fasttext training failed: {errors}")
