"""The word-vector job's training on GPU instances: ExampleBuilder steps from the encoded corpus, one step per
GPU, WordVectorModel (MXNet) adding them up."""

import logging
import time

import mxnet as mx
import numpy as np

from ..devices import training_contexts
from .examples import ExampleBuilder
from .progress import ProgressLog, log_epoch
from .word2vec import WordVectorModel

logger = logging.getLogger(__name__)

GPU_BLOCK_TOKENS = 1 << 20  # tokens read from the encoded corpus at a time


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


def train_on_gpus(env, hp, dictionary, encoded):
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
        log_epoch(row)
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
