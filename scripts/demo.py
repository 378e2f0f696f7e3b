#!/usr/bin/env python3
"""`make demo`: the whole pipeline in SageMaker local mode with the SageMaker Python SDK v2, on this machine.

    1. data        demo headlines + text corpus made here (scripts/make_demo_data.py), or --data/--corpus
    2. embeddings  training job, mode=skipgram with subwords: fastText-style word vectors (vectors.bin)
    3. classifier  training job on the headlines, its embedding layer initialised from step 2's model.tar.gz
    4. endpoint    deploy the model, classify a few headlines (label + probability), delete the endpoint
    5. transform   batch transform over a file of headlines; prints where the output is

The terminal shows the steps, their results and timings; everything else (the SDK's compose files and notices, the
containers' logs) goes to demo-output/demo.log, whose last lines are shown when a step fails.

Uses `local_gpu` and the GPU training image when the machine has NVIDIA GPUs the image has code for (V100 to
L40S: the README's GPU table), `local` and the CPU image otherwise. Whatever happens, no container of ours is left
running at the end.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import launch_commands  # noqa: E402 - puts code/ on the path too
from headlines import gpu_support  # noqa: E402
from make_demo_data import write_demo_data, write_titles  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVE_IMAGE = "headlines-serve:cpu"
TRAIN_IMAGES = {"local": "headlines-train:cpu", "local_gpu": "headlines-train:gpu"}
EXAMPLE_HEADLINES = [
    "Stocks rally as inflation cools ahead of jobs data",
    "NASA launches new climate satellite",
    "The pop star announces world tour",
    "Health officials warn of measles outbreak",
    "Oil prices tumble on weak retail sales",
    "Google unveils faster processor for cloud service",
]
# Small and quick on a laptop CPU; the corpus is ~0.2 M words.
WORD_VECTOR_HYPERPARAMETERS = {
    "mode": "skipgram",
    "subwords": "true",
    "vector_dim": "50",
    "epochs": "5",
    "min_count": "2",
    "buckets": "200000",
}
CLASSIFIER_HYPERPARAMETERS = {"epochs": "5"}
STEPS = 5
LOG_FILE = "demo.log"
LOG_LINES_ON_FAILURE = 30


class Progress:
    """What the terminal shows: steps with their times, and results."""

    def __init__(self, terminal=None):
        self.started = time.time()
        self.terminal = terminal  # None: whatever sys.stdout is when it speaks

    def say(self, text):
        print(text, file=self.terminal or sys.stdout, flush=True)

    def step(self, number, title):
        self.say(f"\n==> [{number}/{STEPS}] {title}  (+{time.time() - self.started:.0f} s)")

    def note(self, text):
        self.say(f"    {text}")


@contextlib.contextmanager
def output_to_log(path):
    """Everything written to stdout and stderr, by this process and the processes it starts (docker-compose, the
    containers' logs the SDK streams), goes to `path`; yields a stream to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    with open(path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def log_tail(path, lines=LOG_LINES_ON_FAILURE):
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def _nvidia_smi(*args):
    try:
        result = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def choose_instance_type():
    """(instance type, why): local_gpu when the machine has NVIDIA GPUs and the GPU image has code for all of them.
    A driver too old to report compute capabilities (before R510) gets local_gpu: the job's start-up check
    decides."""
    if _nvidia_smi("-L") is None:
        return "local", "no NVIDIA GPU"
    listed = _nvidia_smi("--query-gpu=name,compute_cap", "--format=csv,noheader")
    for line in (listed or "").splitlines():
        name, capability = (part.strip() for part in line.rsplit(",", 1))
        major, minor = (int(part) for part in capability.split("."))
        if gpu_support.code_for((major, minor)) is None:
            return "local", f"{name} has compute capability {major}.{minor}, which the GPU image has no code for"
    return "local_gpu", "NVIDIA GPUs"


def image_exists(image):
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode == 0


def file_uri(path):
    return "file://" + os.path.abspath(path)


def read_metrics(job_dir):
    """metrics.json from a local-mode job's output.tar.gz (the job's /opt/ml/output/data)."""
    with tarfile.open(os.path.join(job_dir, "output.tar.gz")) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith("metrics.json")), None)
        return json.load(archive.extractfile(member)) if member else None


def channel_folder(path, output, name):
    """Local mode mounts the folder of a file:// channel, not the file: a single file is copied into a folder of
    its own, so nothing else beside it becomes input."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist")
    if os.path.isdir(path):
        return path
    folder = os.path.join(output, "data", name)
    os.makedirs(folder, exist_ok=True)
    shutil.copy(path, folder)
    return folder


def prepare_data(args, output, progress):
    """Returns (headlines, test or None, corpus, transform input file)."""
    progress.step(1, "Data")
    generated = write_demo_data(os.path.join(output, "data")) if not (args.data and args.corpus) else None
    transform_input = os.path.join(output, "data", "transform-input", "headlines.txt")
    os.makedirs(os.path.dirname(transform_input), exist_ok=True)
    if args.data:
        headlines, test = channel_folder(args.data, output, "your-headlines"), None
        progress.note(f"headlines: {headlines} (yours; any format the training image reads)")
        with open(transform_input, "w", encoding="utf-8") as sink:
            sink.writelines(title + "\n" for title in EXAMPLE_HEADLINES)
    else:
        headlines, test = os.path.dirname(generated["train"]), os.path.dirname(generated["test"])
        write_titles(generated["test"], transform_input)
        progress.note(f"made {generated['train']} and {generated['test']} (UCI newsCorpora layout, split by story)")
    corpus = channel_folder(args.corpus, output, "your-corpus") if args.corpus else os.path.dirname(generated["corpus"])
    progress.note(f"text corpus for the word vectors: {corpus}")
    return headlines, test, corpus, transform_input


def run(args, output, progress):
    instance_type, why = choose_instance_type()
    train_image = TRAIN_IMAGES[instance_type]
    if not image_exists(train_image) or not image_exists(SERVE_IMAGE):
        raise SystemExit(
            f"Build the images first: {train_image} and {SERVE_IMAGE} (make images"
            f"{' images-gpu' if instance_type == 'local_gpu' else ''})"
        )
    progress.say(
        f"SageMaker local mode: instance type {instance_type} ({why}), images {train_image} and "
        f"{SERVE_IMAGE}; everything goes to {output}, the full log to {os.path.join(output, LOG_FILE)}"
    )

    headlines, test, corpus, transform_input = prepare_data(args, output, progress)

    progress.step(2, "Pre-train word vectors (training job, mode=skipgram, subwords)")
    embeddings = launch_commands.train(
        train_image,
        instance_type,
        {"train": file_uri(corpus)},
        file_uri(os.path.join(output, "jobs", "embeddings")),
        WORD_VECTOR_HYPERPARAMETERS,
    )
    progress.note(f"vectors in {embeddings['model_data']} ({embeddings['seconds']} s)")

    progress.step(3, "Train the headline classifier on them (training job, mode=supervised)")
    channels = {"train": file_uri(headlines), "embeddings": embeddings["model_data"]}
    if test:
        channels["test"] = file_uri(test)
    classifier_dir = os.path.join(output, "jobs", "classifier")
    classifier = launch_commands.train(
        train_image, instance_type, channels, file_uri(classifier_dir), CLASSIFIER_HYPERPARAMETERS
    )
    metrics = read_metrics(classifier_dir)
    if metrics:
        for row in metrics["history"]:
            progress.note(f"epoch {row['epoch']}: validation accuracy {row['validation_accuracy']:.3f}")
        shown = "test" if metrics.get("test") else "validation"
        progress.note(
            f"{shown} accuracy {metrics[shown]['accuracy']:.4f} (chance: {1 / len(metrics['labels']):.2f})"
            f"; pretrained vectors for {metrics['embedding_coverage']['token_coverage']:.1%} of tokens"
        )
    progress.note(f"model in {classifier['model_data']} ({classifier['seconds']} s)")

    progress.step(4, "Deploy to a local endpoint and classify headlines")
    result = launch_commands.predict(SERVE_IMAGE, classifier["model_data"], "local", EXAMPLE_HEADLINES)
    for headline, prediction in zip(EXAMPLE_HEADLINES, result["predictions"]["predictions"]):
        progress.note(f"{prediction['label_name']:<24} {prediction['probability']:.3f}  {headline}")
    progress.note(f"endpoint up in {result['deploy_seconds']} s, deleted")

    progress.step(5, "Batch transform over a file of headlines")
    transform_dir = os.path.join(output, "transform")
    transform = launch_commands.transform(
        SERVE_IMAGE, classifier["model_data"], "local", file_uri(transform_input), file_uri(transform_dir)
    )
    output_file = os.path.join(transform_dir, os.path.basename(transform_input) + ".out")
    with open(output_file, encoding="utf-8") as f:
        lines = f.readlines()
    progress.note(
        f"{len(lines)} predictions (JSON Lines, one per input line) in {output_file} "
        f"({transform['seconds']} s); first: {lines[0].strip()[:100]}"
    )
    progress.say(f"\nDone in {time.time() - progress.started:.0f} s. The full log: {os.path.join(output, LOG_FILE)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPO, "demo-output"), help="where everything goes")
    parser.add_argument("--data", help="your headlines (file or folder, any supported format) instead of the demo's")
    parser.add_argument(
        "--corpus",
        help="plain text (file or folder) for the word vectors instead of the "
        "demo's (text8 from scripts/download_public_data.py, say)",
    )
    args = parser.parse_args(argv)
    output = os.path.abspath(args.output)
    if os.path.exists(output):
        shutil.rmtree(output)
    os.makedirs(output)
    log = os.path.join(output, LOG_FILE)
    images = [SERVE_IMAGE, *TRAIN_IMAGES.values()]
    already_running = set(launch_commands.running_containers(images))
    try:
        with output_to_log(log) as terminal:
            run(args, output, Progress(terminal))
        return 0
    except Exception as e:  # noqa: BLE001 - reported in one line, with the log's end
        print(f"\nThe demo failed: {type(e).__name__}: {e}\nLast lines of {log}:\n{log_tail(log)}", file=sys.stderr)
        return 1
    finally:
        # The SDK deletes endpoints and stops jobs it ran to the end; a failure or Ctrl-C half way can leave
        # its docker-compose containers running.
        left = [name for name in launch_commands.running_containers(images) if name not in already_running]
        if left:
            launch_commands.remove_containers(left)
            print(f"removed containers left running: {', '.join(left)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
