"""The word-vector job's training on GPU instances: the encoded corpus in blocks, each block's ExampleBuilder steps
one per GPU (WordVectorModel, MXNet), checkpoints between blocks (EpochLoop)."""

import logging

import mxnet as mx
import numpy as np

from ..devices import training_contexts
from ..training.checkpoints import CheckpointStore
from .epochs import WORD_VECTOR_CHECKPOINT_FILES, EpochLoop, load_state, new_state
from .examples import ExampleBuilder
from .word2vec import WordVectorModel

logger = logging.getLogger(__name__)

GPU_BLOCK_TOKENS = 1 << 20  # tokens read from the encoded corpus at a time


def _groups(steps, group_size):
    """A block's steps, group_size at a time (one per device); the last group may be smaller."""
    group = []
    for step in steps:
        group.append(step)
        if len(group) == group_size:
            yield group
            group = []
    if group:
        yield group


class GpuRun:
    def __init__(self, env, hp, dictionary, encoded, fingerprint, stop_signal):
        self.hp, self.encoded = hp, encoded
        self.store = CheckpointStore(env.checkpoint_dir, fingerprint + "/gpu", WORD_VECTOR_CHECKPOINT_FILES)
        state, arrays = load_state(self.store)
        self.state = state or new_state()
        mx.random.seed(hp.seed)
        self.contexts = training_contexts(env.num_gpus)
        logger.info("devices: %s", ", ".join(str(c) for c in self.contexts))
        self.model = WordVectorModel(dictionary.input_rows, len(dictionary), hp.vector_dim, self.contexts, hp.seed)
        rng = np.random.default_rng(hp.seed)
        if arrays:
            self.model.restore(arrays)
            rng.bit_generator.state = self.state["generator"]
        self.builder = ExampleBuilder(dictionary, hp, rng)
        self.blocks = encoded.block_lines(GPU_BLOCK_TOKENS)
        self.loop = EpochLoop(
            hp,
            self.state,
            len(self.blocks),
            "block",
            dictionary.kept_tokens,
            self.store,
            stop_signal,
            advice=f" or update_tokens (now {hp.update_tokens}): a step sums the updates of all its words",
        )

    def train_block(self, epoch, number):
        ids, sentence = self.encoded.block(*self.blocks[number])
        loss, positives, tokens = mx.nd.zeros((1,), ctx=self.model.home), 0, 0
        for group in _groups(self.builder.steps(ids, sentence), self.model.group_size):
            # fastText's schedule: the rate falls linearly from learning_rate to 0 over all the job's tokens.
            progress = self.loop.progress
            done = progress.done + tokens
            rate = self.hp.learning_rate * max(0.0, 1.0 - done / progress.total_tokens)
            loss += self.model.train_group(group, rate)
            tokens += sum(s.tokens for s in group)
            positives += sum(s.positives for s in group)
        return loss, positives, tokens

    def remember_generator(self, state):
        state["generator"] = self.builder.rng.bit_generator.state


def train_on_gpus(env, hp, dictionary, encoded, fingerprint, stop_signal):
    run = GpuRun(env, hp, dictionary, encoded, fingerprint, stop_signal)
    history = run.loop.run(run.train_block, run.model.snapshot, run.remember_generator)
    words_per_second = run.loop.progress.words_per_second
    logger.info("trained %d epochs: %.0f words/s", hp.epochs, words_per_second)
    training = {
        "engine": "mxnet",
        "devices": [str(c) for c in run.contexts],
        "history": history,
        "train_seconds": run.loop.progress.clock() - run.loop.progress.started,
        "words_per_second": words_per_second,
    }
    return run.model, training
