"""The word-vector job's training on GPU instances: the encoded corpus in blocks, each block's ExampleBuilder steps
one per GPU (WordVectorModel, MXNet), checkpoints between blocks (EpochLoop)."""

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import mxnet as mx
import numpy as np

from ...runtime.checkpoints import CheckpointStore
from ...runtime.devices import training_contexts
from ...runtime.schedule import linear_decay
from ..epochs import WORD_VECTOR_CHECKPOINT_FILES, EpochLoop, load_state, new_state
from ..inputs import TrainingInputs
from .examples import ExampleBuilder, Step
from .word2vec import WordVectorModel

logger = logging.getLogger(__name__)

GPU_BLOCK_TOKENS = 1 << 20  # tokens read from the encoded corpus at a time


def _groups(steps: Iterable[Step], group_size: int) -> Iterator[list[Step]]:
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
    """The job's examples built block by block and trained on every GPU, with checkpoints between blocks."""

    def __init__(self, inputs: TrainingInputs) -> None:
        env, hp, dictionary, fingerprint = inputs.env, inputs.hp, inputs.dictionary, inputs.fingerprint
        self.hp, self.encoded = hp, inputs.encoded
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
        self.blocks = self.encoded.block_lines(GPU_BLOCK_TOKENS)
        self.loop = EpochLoop(
            hp,
            self.state,
            len(self.blocks),
            "block",
            dictionary.kept_tokens,
            self.store,
            inputs.stop_signal,
            advice=f" or update_tokens (now {hp.update_tokens}): a step sums the updates of all its words",
        )

    def train_block(self, epoch: int, number: int) -> tuple[Any, int, int]:
        """Block `number` of the corpus, one step per device at a time: (loss on the device, positives, tokens)."""
        ids, sentence = self.encoded.block(*self.blocks[number])
        loss, positives, tokens = mx.nd.zeros((1,), ctx=self.model.home), 0, 0
        for group in _groups(self.builder.steps(ids, sentence), self.model.group_size):
            progress = self.loop.progress
            rate = linear_decay(self.hp.learning_rate, progress.done + tokens, progress.total_tokens)
            loss += self.model.train_group(group, rate)
            tokens += sum(s.tokens for s in group)
            positives += sum(s.positives for s in group)
        return loss, positives, tokens

    def remember_generator(self, state: dict[str, Any]) -> None:
        """Keep the example generator's state in a checkpoint's state, so a resumed job draws the same examples."""
        state["generator"] = self.builder.rng.bit_generator.state


def train_on_gpus(inputs: TrainingInputs) -> tuple[WordVectorModel, dict[str, Any]]:
    """Returns the model (its weights are the vectors) and the metrics of the training."""
    run, hp = GpuRun(inputs), inputs.hp
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
