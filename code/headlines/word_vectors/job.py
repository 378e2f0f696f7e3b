"""The embedding pre-training job (mode skipgram, cbow or batch_skipgram): BlazingText's word2vec step in the
training image.

    train channel -> Corpus (streamed) -> word counts -> Dictionary -> ExampleBuilder steps -> WordVectorModel
                  -> /opt/ml/model: vectors.txt, vectors.bin, eval.json (with an evaluation channel)
                  -> /opt/ml/output/data: metrics.json, word-map.png (the most frequent words, PCA to 2-D)

The model folder is what the classifier's `embeddings` channel reads, unchanged.
"""

import json
import logging
import math
import os
import time

import mxnet as mx
import numpy as np

from .. import contract
from ..devices import training_contexts
from ..embeddings.fasttext_format import write_fasttext_binary, write_text_vectors
from ..environment import check_channels
from ..errors import JobError
from ..files import publish, staging_folder, write_json
from ..hyperparameters import EmbeddingHyperparameters
from ..model_folder import EVALUATION_FILE, VECTORS_BINARY_FILE, VECTORS_TEXT_FILE
from .corpus import Corpus
from .dictionary import Dictionary
from .evaluation import evaluate_similarity
from .examples import ExampleBuilder
from .word2vec import WordVectorModel
from .word_map import WORD_MAP_FILE, plot_word_map, words_to_map

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PROGRESS_LOG_SECONDS = 10  # the issue asks for at most 30
# A loss this many times that of untrained vectors means the updates overshoot: stop rather than write garbage.
DIVERGED_LOSS_FACTOR = 10
# Distinct tokens kept while counting before the rarest are dropped (fastText prunes at 0.75 x 30M).
MAX_VOCABULARY_TYPES = 10_000_000


class ProgressLog:
    """words/s, share of the job done, ETA and the recent loss, every PROGRESS_LOG_SECONDS and after every epoch.
    A diverged loss ends the job: the vectors would be garbage."""

    def __init__(self, total_tokens, hyperparameters):
        self.total_tokens = total_tokens
        self.hp = hyperparameters
        # The loss a positive costs while output rows are zero, as they start: log 2 for it and each negative.
        self._untrained_loss = (1 + hyperparameters.negative_samples) * math.log(2)
        self.started = self._last = time.time()
        self.done = 0
        self._loss, self._positives = mx.nd.zeros((1,)), 0

    def add(self, tokens, loss, positives):
        self.done += tokens
        self._loss += loss.as_in_context(self._loss.context)
        self._positives += positives
        if time.time() - self._last >= PROGRESS_LOG_SECONDS:
            self.log()

    def log(self):
        now = time.time()
        elapsed = now - self.started
        speed = self.done / elapsed if elapsed > 0 else 0.0
        share = self.done / self.total_tokens
        eta = (self.total_tokens - self.done) / speed if speed else float("nan")
        loss = self._loss.asscalar() / max(1, self._positives)
        if not loss <= DIVERGED_LOSS_FACTOR * self._untrained_loss:  # NaN included
            raise JobError(
                f"Training diverged: the loss became {loss} after {self.done} words. Lower "
                f"learning_rate (now {self.hp.learning_rate}) or update_tokens (now "
                f"{self.hp.update_tokens}): a step sums the updates of all its words."
            )
        logger.info(
            "progress=%.1f%% words=%d words_per_second=%.0f loss=%.6f eta_seconds=%.0f",
            100 * share,
            self.done,
            speed,
            loss,
            eta,
        )
        self._loss, self._positives, self._last = mx.nd.zeros((1,)), 0, now


def _step_groups(corpus, dictionary, builder, group_size):
    """An epoch's steps, group_size at a time (one per device); the last group may be smaller."""
    group = []
    for ids, sentence in corpus.sentences(dictionary.token_to_id):
        for step in builder.steps(ids, sentence):
            group.append(step)
            if len(group) == group_size:
                yield group
                group = []
    if group:
        yield group


def _train(corpus, dictionary, model, hp):
    total = hp.epochs * dictionary.kept_tokens
    progress = ProgressLog(total, hp)
    builder = ExampleBuilder(dictionary, hp, np.random.default_rng(hp.seed))
    history = []
    for epoch in range(1, hp.epochs + 1):
        started, epoch_loss, epoch_positives, epoch_tokens = time.time(), mx.nd.zeros((1,), ctx=model.home), 0, 0
        for group in _step_groups(corpus, dictionary, builder, model.group_size):
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
        logger.info(
            "epoch=%d loss=%.6f words_per_second=%.0f epoch_seconds=%.3f",
            epoch,
            row["loss"],
            row["words_per_second"],
            seconds,
        )
    return history, time.time() - progress.started


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
        lambda start, stop: model.input_weights[start:stop].asnumpy(),
        lambda start, stop: model.output_weights[start:stop].asnumpy(),
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


def run(env, stop_signal, abort):
    """stop_signal: SIGTERM ends this job at once (there is no checkpoint to save: a rerun starts over).
    abort: unused; the word-vector job runs on one host."""
    started = time.time()
    hp = EmbeddingHyperparameters.from_strings(env.hyperparameters)
    logger.info("hyperparameters: %s", json.dumps(hp.as_dict()))
    channels = env.channel_dirs
    check_channels(channels, contract.EMBEDDING_JOB_CHANNELS)
    if len(env.hosts) > 1:
        raise JobError(
            f"mode={hp.mode} trains on one host; this job has {len(env.hosts)} ({', '.join(env.hosts)}). "
            f"Use instance_count=1 (one host with several GPUs is used in full)."
        )
    mx.random.seed(hp.seed)

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

    contexts = training_contexts(env.num_gpus)
    logger.info("devices: %s", ", ".join(str(c) for c in contexts))
    model = WordVectorModel(dictionary.input_rows, len(dictionary), hp.vector_dim, contexts, hp.seed)
    history, train_seconds = _train(corpus, dictionary, model, hp)
    words_per_second = hp.epochs * dictionary.kept_tokens / train_seconds
    logger.info("trained %d epochs in %.1f s: %.0f words/s", hp.epochs, train_seconds, words_per_second)

    evaluation = None
    if hp.evaluation and contract.EVALUATION_CHANNEL in channels:
        evaluation = evaluate_similarity(channels[contract.EVALUATION_CHANNEL], _vectors_lookup(model, dictionary))
    elif hp.evaluation:
        logger.info("evaluation: no '%s' channel, so no eval.json", contract.EVALUATION_CHANNEL)

    os.makedirs(env.model_dir, exist_ok=True)
    _write_outputs(env.model_dir, dictionary, model, hp, evaluation)
    metrics = {
        "mode": hp.mode,
        "hyperparameters": hp.as_dict(),
        "corpus_tokens": word_counts.tokens,
        "epoch_tokens": dictionary.kept_tokens,
        "vocabulary_size": len(dictionary),
        "devices": [str(c) for c in contexts],
        "history": history,
        "train_seconds": train_seconds,
        "words_per_second": words_per_second,
        "evaluation": evaluation,
        "job_seconds": time.time() - started,
    }
    os.makedirs(env.output_data_dir, exist_ok=True)
    metrics["word_map"] = _write_word_map(env.output_data_dir, dictionary, model, hp)
    write_json(os.path.join(env.output_data_dir, METRICS_FILE), metrics)
    logger.info("vectors written to %s in %.1f s", env.model_dir, time.time() - started)
    return metrics
