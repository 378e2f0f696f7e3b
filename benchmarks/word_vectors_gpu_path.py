"""The word-vector job's GPU path (MXNet), its two halves measured apart on this machine's CPU, WikiText-2 valid +
test lower-cased, min_count 5, BlazingText's other defaults, one core:

1. host side: ExampleBuilder.steps alone (sub-sampling, windows, negatives, subword rows; the corpus encoded to ids
   beforehand and not counted), words/s for each mode with and without subwords, at the default update_tokens
   and at the step sizes a GPU would take; and the same with the output-row dedupe that train_group does on the
   host before it launches a step;
2. device side: WordVectorModel.train_group on those steps in an MXNet CPU context, words/s, examples and ms a
   step. These are CPU timings of the device's work, not GPU timings: no GPU was measured here.

    make bench-gpu-path   (QUICK=1: the generated corpus, fewer sizes, shorter runs)
Writes bench-results/word_vectors_gpu_path.json.
"""

import os

# One core, set before numpy and MXNet start their thread pools: the host side is measured on one core, and the
# device side's CPU figures come from the same core.
CORE = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {CORE})
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")

import itertools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.harness import bench_data, corpus_files, full_or_quick, write_result  # noqa: E402
from headlines.hyperparameters import WordVectorHyperparameters  # noqa: E402
from headlines.word_vectors.corpus import Corpus  # noqa: E402
from headlines.word_vectors.dictionary import Dictionary  # noqa: E402
from headlines.word_vectors.gpu.examples import ExampleBuilder, unique_inverse  # noqa: E402
from headlines.word_vectors.gpu.training import GPU_BLOCK_TOKENS  # noqa: E402
from headlines.word_vectors.gpu.word2vec import WordVectorModel  # noqa: E402
from headlines.word_vectors.job import MAX_VOCABULARY_TYPES  # noqa: E402

DEFAULTS = WordVectorHyperparameters.from_strings({})
DEFAULT_UPDATE_TOKENS = DEFAULTS.update_tokens
# A GPU step should carry tens of thousands of examples: 16384 tokens make ~40k skipgram examples (~7k cbow and
# batch_skipgram ones), 65536 tokens ~145k skipgram and ~25k cbow examples (WikiText-2, default sub-sampling).
GPU_UPDATE_TOKENS = full_or_quick((16384, 65536), (16384,))
SIZES = (DEFAULT_UPDATE_TOKENS, *GPU_UPDATE_TOKENS)
MODES = [(mode, subwords) for mode in ("skipgram", "cbow", "batch_skipgram") for subwords in (False, True)]
HOST_PASSES = full_or_quick(3, 1)  # passes over the corpus the host side is timed on
DEVICE_SECONDS = full_or_quick(4.0, 0.5)  # device side: steps until this much train_group time has passed
DEVICE_MIN_STEPS = 2  # and at least this many steps
VECTOR_DIM = DEFAULTS.vector_dim


def hyperparameters(mode, subwords, update_tokens):
    return WordVectorHyperparameters.from_strings(
        {"mode": mode, "subwords": str(subwords).lower(), "update_tokens": str(update_tokens)}
    )


def encoded_corpus(data, folder):
    """The lower-cased corpus's dictionaries (with and without subwords) and its blocks of ids, as the job's GPU
    path reads them."""
    path = folder / "corpus.txt"
    path.write_text("".join(open(name, encoding="utf-8").read().lower() for name in corpus_files(data)))
    corpus = Corpus([str(path)])
    counts = corpus.count_words(MAX_VOCABULARY_TYPES)
    encoded = {}
    for subwords in (False, True):
        hp = hyperparameters("skipgram", subwords, DEFAULT_UPDATE_TOKENS)
        dictionary = Dictionary.from_counts(counts, hp.min_count, hp.char_ngrams, hp.buckets)
        ids = corpus.encode(dictionary.token_to_id, folder / f"encoded-{subwords}.bin")
        encoded[subwords] = dictionary, list(ids.blocks(GPU_BLOCK_TOKENS))  # the job's blocks
    return encoded


def host_side(dictionary, blocks, hp):
    """ExampleBuilder.steps over the encoded corpus, HOST_PASSES times; then the same steps' output-row dedupe."""
    started = time.perf_counter()
    builder = ExampleBuilder(dictionary, hp, np.random.default_rng(hp.seed))
    setup = time.perf_counter() - started
    tokens = examples = steps = 0
    dedupe = 0.0
    slots = np.zeros(len(dictionary), np.int64)
    started = time.perf_counter()
    for _ in range(HOST_PASSES):
        for ids, sentence in blocks:
            for step in builder.steps(ids, sentence):
                tokens, examples, steps = tokens + step.tokens, examples + step.examples, steps + 1
                dedupe -= time.perf_counter()
                unique_inverse(step.targets.reshape(-1), slots)
                dedupe += time.perf_counter()
    seconds = time.perf_counter() - started - dedupe
    return {
        "words_per_second": tokens / seconds,
        "with_output_rows_words_per_second": tokens / (seconds + dedupe),
        "examples_per_step": examples / steps,
        "steps": steps,
        "tokens": tokens,
        "seconds": seconds,
        "builder_setup_seconds": setup,
    }


def device_side(dictionary, blocks, hp):
    """train_group, one step a group (one device), on a fresh model: the first step warms up and is not counted,
    then steps until DEVICE_SECONDS of train_group have passed. Each step is built before its clock starts, and
    waited for before it stops. The rate is scaled down with the step size so that no run diverges."""
    model = WordVectorModel(dictionary.input_rows, len(dictionary), VECTOR_DIM, [mx.cpu()], seed=hp.seed)
    rate = hp.learning_rate * min(1.0, DEFAULT_UPDATE_TOKENS / hp.update_tokens)
    builder = ExampleBuilder(dictionary, hp, np.random.default_rng(hp.seed))
    # Epoch after epoch: a small corpus still gives the steps the clock needs.
    steps = (
        step for ids, sentence in itertools.cycle(blocks) for step in builder.steps(ids, sentence) if step.examples
    )
    model.train_group([next(steps)], rate).wait_to_read()
    tokens = examples = targets = positives = count = 0
    seconds, loss = 0.0, 0.0
    for step in steps:
        started = time.perf_counter()
        step_loss = model.train_group([step], rate)
        mx.nd.waitall()
        seconds += time.perf_counter() - started
        loss += step_loss.asscalar()
        tokens, examples, count = tokens + step.tokens, examples + step.examples, count + 1
        targets, positives = targets + step.targets.size, positives + step.positives
        if count >= DEVICE_MIN_STEPS and seconds >= DEVICE_SECONDS:
            break
    return {
        "words_per_second": tokens / seconds,
        "examples_per_step": examples / count,
        "targets_per_step": targets / count,
        "ms_per_step": 1000 * seconds / count,
        "steps": count,
        "tokens": tokens,
        "seconds": seconds,
        "learning_rate": rate,
        "loss_per_positive": loss / positives,
    }


def main():
    data = bench_data()
    with tempfile.TemporaryDirectory() as tmp:
        encoded = encoded_corpus(data, pathlib.Path(tmp))
    host, device = [], []
    for mode, subwords in MODES:
        dictionary, blocks = encoded[subwords]
        for update_tokens in SIZES:
            hp = hyperparameters(mode, subwords, update_tokens)
            key = {"mode": mode, "subwords": subwords, "update_tokens": update_tokens}
            host.append({**key, **host_side(dictionary, blocks, hp)})
            print(json.dumps(host[-1]), flush=True)
            device.append({**key, **device_side(dictionary, blocks, hp)})
            print(json.dumps(device[-1]), flush=True)
    dictionary, blocks = encoded[False]
    write_result(
        "word_vectors_gpu_path",
        "bench-gpu-path",
        f"the default update_tokens ({DEFAULT_UPDATE_TOKENS}), measured in the same run",
        data=data,
        core=CORE,
        corpus_tokens=sum(len(ids) for ids, _ in blocks),
        vocabulary=len(dictionary),
        block_tokens=GPU_BLOCK_TOKENS,
        default_update_tokens=DEFAULT_UPDATE_TOKENS,
        gpu_update_tokens=list(GPU_UPDATE_TOKENS),
        host_passes=HOST_PASSES,
        vector_dim=VECTOR_DIM,
        mxnet=mx.__version__,
        host=host,
        device_on_cpu=device,
        device_note=(
            "device side timed in an MXNet CPU context on one core: CPU timings of the device's work, not GPU "
            "timings; no GPU was measured"
        ),
    )


if __name__ == "__main__":
    main()
