"""The embedding pre-training job (mode skipgram, cbow or batch_skipgram): BlazingText's word2vec step in the
training image.

    train channel -> Corpus (streamed) -> word counts -> Dictionary -> EncodedCorpus (token ids, a scratch file)
                  -> CPU: CpuEngine (compiled kernels, all cores; several hosts through the parameter servers)
                     GPU: ExampleBuilder steps -> WordVectorModel (MXNet, every GPU)
                  -> /opt/ml/model: vectors.txt, vectors.bin, eval.json (with an evaluation channel)
                  -> /opt/ml/output/data: metrics.json, word-map.png (the most frequent words, PCA to 2-D)

The model folder is what the classifier's `embeddings` channel reads, unchanged. CPU jobs checkpoint to
/opt/ml/checkpoints every `checkpoint_seconds` and on SIGTERM, and resume from there.
"""

import hashlib
import json
import logging
import os
import tempfile
import time

import numpy as np

from .. import contract
from ..embeddings.fasttext_format import write_fasttext_binary, write_text_vectors
from ..environment import check_channels
from ..errors import JobError, TrainingInterrupted
from ..files import publish, staging_folder, write_json
from ..hyperparameters import EmbeddingHyperparameters
from ..model_folder import EVALUATION_FILE, VECTORS_BINARY_FILE, VECTORS_TEXT_FILE
from ..training.checkpoints import CheckpointStore
from ..training.distributed import Cluster, train_as_worker
from .corpus import Corpus
from .dictionary import Dictionary
from .engine import CpuEngine
from .evaluation import evaluate_similarity
from .progress import ProgressLog
from .rounds import chunk_lines, learning_rates, rounds_per_epoch
from .word_map import WORD_MAP_FILE, plot_word_map, words_to_map

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
GPU_BLOCK_TOKENS = 1 << 20  # tokens read from the encoded corpus at a time by the MXNet path
# Distinct tokens kept while counting before the rarest are dropped (fastText prunes at 0.75 x 30M).
MAX_VOCABULARY_TYPES = 10_000_000
WORD_VECTOR_CHECKPOINT_FILES = {"weights_file": "word-vectors-{}.npz"}
DISTRIBUTED_KVSTORE = "dist_sync"  # CPU hosts: the engine's weights are numpy arrays on each host
# Settings that do not change what a job learns: a job resumed with other values continues the same training.
NOT_IN_FINGERPRINT = ("checkpoint_seconds",)


def _cpu_threads():
    return len(os.sched_getaffinity(0))


def _check_hosts(env, hp):
    if len(env.hosts) == 1:
        return
    if env.num_gpus:
        raise JobError(
            f"mode={hp.mode} on GPU instances trains on one host (every GPU of it); this job has "
            f"{len(env.hosts)}. Use instance_count=1, or CPU instances for several hosts."
        )
    if hp.subwords:
        raise JobError(
            f"subwords=true trains on one host: its input matrix has {hp.buckets} n-gram rows, which every "
            f"host would send to the others after every round. Use instance_count=1, or subwords=false."
        )


def run(env, stop_signal, abort):
    """Train on this host, or with the other CPU hosts of the job: `abort(reason)` ends this process when another
    host fails (see Cluster)."""
    started = time.time()
    hp = EmbeddingHyperparameters.from_strings(env.hyperparameters)
    logger.info("hyperparameters: %s", json.dumps(hp.as_dict()))
    channels = env.channel_dirs
    check_channels(channels, contract.EMBEDDING_JOB_CHANNELS)
    _check_hosts(env, hp)
    with Cluster(env.hosts, env.current_host, abort) as cluster:
        if not cluster.is_distributed:
            return _run(env, hp, channels, cluster, None, stop_signal, started)
        return train_as_worker(
            DISTRIBUTED_KVSTORE, lambda kvstore: _run(env, hp, channels, cluster, kvstore, stop_signal, started)
        )


def _read_corpus(channels, hp, started):
    corpus = Corpus.from_channel(contract.TRAIN_CHANNEL, channels[contract.TRAIN_CHANNEL])
    word_counts = corpus.count_words(MAX_VOCABULARY_TYPES)
    dictionary = Dictionary.from_counts(word_counts, hp.min_count, hp.char_ngrams, hp.buckets)
    logger.info(
        "corpus: %d file(s), %d tokens, %d distinct; vocabulary: %d words with min_count=%d "
        "(%d tokens an epoch); %d n-gram buckets; counted in %.1f s",
        len(corpus.files),
        word_counts.tokens,
        len(word_counts.counts),
        len(dictionary),
        hp.min_count,
        dictionary.kept_tokens,
        dictionary.buckets,
        time.time() - started,
    )
    return corpus, word_counts, dictionary


def _fingerprint(hp, dictionary, hosts):
    """What a checkpoint (and every host of a job) must agree on: the settings, the vocabulary and its counts."""
    settings = {k: v for k, v in hp.as_dict().items() if k not in NOT_IN_FINGERPRINT}
    digest = hashlib.sha256(json.dumps([settings, hosts], sort_keys=True).encode())
    digest.update("\n".join(dictionary.words).encode("utf-8"))
    digest.update(dictionary.counts.tobytes())
    return digest.hexdigest()


def _run(env, hp, channels, cluster, kvstore, stop_signal, started):
    corpus, word_counts, dictionary = _read_corpus(channels, hp, started)
    with tempfile.TemporaryDirectory(prefix="word-vectors-") as scratch:
        encoded = corpus.encode(dictionary.token_to_id, os.path.join(scratch, "tokens.i32"))
        logger.info(
            "corpus encoded: %d tokens in %d lines, %.1f s", encoded.tokens, encoded.lines, time.time() - started
        )
        if env.num_gpus:
            model, training = _train_on_gpus(env, hp, dictionary, encoded)
        else:
            model, training = _train_on_cpus(env, hp, dictionary, encoded, cluster, kvstore, stop_signal)
    if not model.all_finite():
        raise JobError(
            f"Training diverged: the vectors overflowed (infinite or NaN values). Lower learning_rate (now "
            f"{hp.learning_rate})."
        )
    evaluation = None
    if hp.evaluation and contract.EVALUATION_CHANNEL in channels:
        evaluation = evaluate_similarity(channels[contract.EVALUATION_CHANNEL], _vectors_lookup(model, dictionary))
    elif hp.evaluation:
        logger.info("evaluation: no '%s' channel, so no eval.json", contract.EVALUATION_CHANNEL)
    metrics = {
        "mode": hp.mode,
        "hyperparameters": hp.as_dict(),
        "corpus_tokens": word_counts.tokens,
        "epoch_tokens": dictionary.kept_tokens,
        "vocabulary_size": len(dictionary),
        **training,
        "evaluation": evaluation,
    }
    if cluster.is_leader:
        os.makedirs(env.model_dir, exist_ok=True)
        _write_outputs(env.model_dir, dictionary, model, hp, evaluation)
        os.makedirs(env.output_data_dir, exist_ok=True)
        metrics["word_map"] = _write_word_map(env.output_data_dir, dictionary, model, hp)
        metrics["job_seconds"] = time.time() - started
        write_json(os.path.join(env.output_data_dir, METRICS_FILE), metrics)
        logger.info("vectors written to %s in %.1f s", env.model_dir, time.time() - started)
    else:
        logger.info("training done; %s writes the vectors", cluster.leader)
    return metrics


def _log_epoch(row):
    logger.info(
        "epoch=%d loss=%.6f words_per_second=%.0f epoch_seconds=%.3f",
        row["epoch"],
        row["loss"],
        row["words_per_second"],
        row["epoch_seconds"],
    )


# -- CPU ------------------------------------------------------------------------------------------------------
class _CpuRun:
    """The CPU engine's epochs and rounds on this host, with checkpoints and synchronisation between rounds."""

    clock = staticmethod(time.monotonic)  # for the checkpoint interval

    def __init__(self, env, hp, dictionary, encoded, cluster, kvstore, stop_signal):
        self.hp, self.encoded, self.stop_signal = hp, encoded, stop_signal
        hosts, host = len(env.hosts), env.hosts.index(env.current_host)
        fingerprint = _fingerprint(hp, dictionary, list(env.hosts))
        # Checkpoints on one host only: several hosts would write theirs to the same S3 location, as for the
        # classifier.
        self.store = None
        if kvstore is None:
            self.store = CheckpointStore(env.checkpoint_dir, fingerprint, WORD_VECTOR_CHECKPOINT_FILES)
        self.state = self.store.load() if self.store else None
        threads = self.state["threads"] if self.state else _cpu_threads()
        self.engine = CpuEngine(dictionary, hp, threads, stream=host)
        self.rounds = rounds_per_epoch(encoded.tokens, hosts)
        self.bounds = chunk_lines(encoded.line_starts, host, hosts, threads, self.rounds)
        self.token_bounds = encoded.line_starts[self.bounds]
        host_tokens = int(self.token_bounds[:, -1].sum() - self.token_bounds[:, 0].sum())
        if self.state:
            with np.load(self.state["weights_file"]) as arrays:
                self.engine.restore(arrays)
            logger.info(
                "resuming at epoch %d, round %d of %d", self.state["epoch"] + 1, self.state["round"], self.rounds
            )
        else:
            self.state = {"epoch": 0, "round": 0, "threads": threads, "history": [], "running": None}
        self.progress = ProgressLog(
            hp.epochs * host_tokens, hp, done=self.state["epoch"] * host_tokens + self._running()["tokens"]
        )
        self.sync = None
        if kvstore is not None:
            from .host_sync import WeightSync  # imports MXNet: only jobs of several hosts need it

            self.sync = WeightSync(kvstore, self.engine, fingerprint)
        logger.info(
            "CPU engine: %d threads, %d rounds an epoch, %d of %d tokens on this host (%s of %d)",
            threads,
            self.rounds,
            host_tokens,
            encoded.tokens,
            env.current_host,
            hosts,
        )

    def _running(self):
        return self.state["running"] or {"tokens": 0, "loss": 0.0, "positives": 0, "seconds": 0.0}

    def train(self):
        last_checkpoint = self.clock()
        with self.stop_signal.checkpointing():
            while self.state["epoch"] < self.hp.epochs:
                running = self._running()
                round_started = time.time()
                loss, positives, tokens = self._round(self.state["epoch"], self.state["round"])
                running = {
                    "tokens": running["tokens"] + tokens,
                    "loss": running["loss"] + loss,
                    "positives": running["positives"] + positives,
                    "seconds": running["seconds"] + time.time() - round_started,
                }
                self.progress.add(tokens, loss, positives)
                self.state.update(round=self.state["round"] + 1, running=running)
                if self.state["round"] == self.rounds:
                    self._end_epoch(running)
                interval = self.hp.checkpoint_seconds
                if self.stop_signal.requested or (interval and self.clock() - last_checkpoint >= interval):
                    saved = self._save_checkpoint()
                    last_checkpoint = self.clock()
                    if self.stop_signal.requested:
                        raise TrainingInterrupted(saved)
        self.engine.close()
        return self.state["history"]

    def _round(self, epoch, number):
        chunks, tokens = [], 0
        for thread, (first, last) in enumerate(self.bounds[:, number : number + 2]):
            ids, line_starts = self.encoded.read(first, last)
            done = self.token_bounds[thread, number] - self.token_bounds[thread, 0]
            thread_tokens = self.token_bounds[thread, -1] - self.token_bounds[thread, 0]
            rates = learning_rates(self.hp.learning_rate, epoch, self.hp.epochs, done, len(ids), thread_tokens)
            chunks.append((ids, line_starts, *rates))
            tokens += len(ids)
        loss, positives = self.engine.train_round(chunks)
        if self.sync:
            self.sync.sync()
        return loss, positives, tokens

    def _end_epoch(self, running):
        self.progress.log()
        row = {
            "epoch": self.state["epoch"] + 1,
            "loss": running["loss"] / max(1, running["positives"]),
            "words_per_second": running["tokens"] / max(running["seconds"], 1e-9),
            "epoch_seconds": running["seconds"],
        }
        _log_epoch(row)
        self.state["history"].append(row)
        self.state.update(epoch=self.state["epoch"] + 1, round=0, running=None)

    def _save_checkpoint(self):
        if self.store is None:
            return None
        started = time.time()
        path = self.store.save({"weights_file": lambda path: _save_arrays(path, self.engine.snapshot())}, self.state)
        logger.info(
            "checkpoint: epoch %d, round %d of %d, written in %.1f s",
            self.state["epoch"] + 1,
            self.state["round"],
            self.rounds,
            time.time() - started,
        )
        return self.store.folder if path else None


def _save_arrays(path, arrays):
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to the name
        np.savez(f, **arrays)


def _train_on_cpus(env, hp, dictionary, encoded, cluster, kvstore, stop_signal):
    run = _CpuRun(env, hp, dictionary, encoded, cluster, kvstore, stop_signal)
    started = time.time()
    history = run.train()
    seconds = time.time() - started
    words_per_second = run.progress.words_per_second
    logger.info("trained %d epochs: %.0f words/s on this host", hp.epochs, words_per_second)
    training = {
        "engine": "cpu",
        "threads": run.engine.threads,
        "hosts": list(env.hosts),
        "history": history,
        "train_seconds": seconds,
        "words_per_second": words_per_second,
    }
    if run.sync:
        training["bytes_exchanged"] = run.sync.bytes_exchanged
        training["bytes_exchanged_per_epoch"] = run.sync.bytes_exchanged / hp.epochs
    return run.engine, training


# -- GPU ------------------------------------------------------------------------------------------------------
def _step_groups(encoded, builder, group_size, block_tokens):
    """An epoch's steps, group_size at a time (one per device); the last group may be smaller."""
    group = []
    for ids, sentence in encoded.blocks(block_tokens):
        for step in builder.steps(ids, sentence):
            group.append(step)
            if len(group) == group_size:
                yield group
                group = []
    if group:
        yield group


def _train_on_gpus(env, hp, dictionary, encoded):
    import mxnet as mx  # the GPU path only: MXNet's import costs seconds

    from ..devices import training_contexts
    from .examples import ExampleBuilder
    from .word2vec import WordVectorModel

    mx.random.seed(hp.seed)
    contexts = training_contexts(env.num_gpus)
    logger.info("devices: %s", ", ".join(str(c) for c in contexts))
    model = WordVectorModel(dictionary.input_rows, len(dictionary), hp.vector_dim, contexts, hp.seed)
    total = hp.epochs * dictionary.kept_tokens
    progress = ProgressLog(
        total, hp, advice=f" or update_tokens (now {hp.update_tokens}): a step sums the updates of all its words"
    )
    builder = ExampleBuilder(dictionary, hp, np.random.default_rng(hp.seed))
    history = []
    for epoch in range(1, hp.epochs + 1):
        started, epoch_loss, epoch_positives, epoch_tokens = time.time(), mx.nd.zeros((1,), ctx=model.home), 0, 0
        for group in _step_groups(encoded, builder, model.group_size, GPU_BLOCK_TOKENS):
            # fastText's schedule: the rate falls linearly from learning_rate to 0 over all the job's tokens.
            loss = model.train_group(group, hp.learning_rate * max(0.0, 1.0 - progress.done / total))
            tokens, positives = sum(s.tokens for s in group), sum(s.positives for s in group)
            epoch_loss += loss
            epoch_positives += positives
            epoch_tokens += tokens
            progress.add(tokens, loss, positives)
        progress.log()
        seconds = time.time() - started
        row = {
            "epoch": epoch,
            "loss": float(epoch_loss.asscalar()) / max(1, epoch_positives),
            "words_per_second": epoch_tokens / seconds,
            "epoch_seconds": seconds,
        }
        history.append(row)
        _log_epoch(row)
    words_per_second = progress.words_per_second
    logger.info("trained %d epochs: %.0f words/s", hp.epochs, words_per_second)
    training = {
        "engine": "mxnet",
        "devices": [str(c) for c in contexts],
        "history": history,
        "train_seconds": time.time() - progress.started,
        "words_per_second": words_per_second,
    }
    return model, training


def _vectors_lookup(model, dictionary):
    """For evaluation: a word's vector from the vocabulary or its n-grams, else its lower-cased form's."""

    def vectors_of(words):
        known = dictionary.token_to_id
        candidates = [w.lower() if w not in known and w.lower() in known else w for w in words]
        vectors = model.word_vectors(dictionary, candidates)
        return vectors, np.array([len(dictionary.rows_of(w)) > 0 for w in candidates])

    return vectors_of


def _write_outputs(model_dir, dictionary, model, hp, evaluation):
    """Written to a staging folder, then moved into place: a failed job never leaves vectors that look done."""
    staging = staging_folder(model_dir)
    write_text_vectors(
        os.path.join(staging, VECTORS_TEXT_FILE), dictionary.words, model.word_vectors(dictionary, dictionary.words)
    )
    write_fasttext_binary(
        os.path.join(staging, VECTORS_BINARY_FILE),
        dictionary,
        hp,
        model.input_rows,
        model.output_rows,
    )
    if evaluation is not None:
        write_json(os.path.join(staging, EVALUATION_FILE), evaluation)
    publish(model_dir)


def _write_word_map(output_data_dir, dictionary, model, hp):
    """The workshop's picture of its vectors; None when the vocabulary has no word to show."""
    words = words_to_map(dictionary.words)
    if not words:
        logger.info("word map: no word with a letter in the vocabulary, so no %s", WORD_MAP_FILE)
        return None
    title = f"The {len(words)} most frequent words, mode={hp.mode}, {hp.vector_dim} dimensions, PCA"
    plot_word_map(words, model.word_vectors(dictionary, words), os.path.join(output_data_dir, WORD_MAP_FILE), title)
    return WORD_MAP_FILE
