"""Holding out a validation set from train: grouped by story when stories are known, stratified otherwise."""

import collections
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from .formats import Example

T = TypeVar("T")


def split_validation(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Return (train, validation) lists. Seeded; near-duplicates (one story) never straddle the split."""
    rng = np.random.RandomState(seed)
    if all(example.group is not None for example in examples):
        return _split_by_group(examples, fraction, rng)
    return _split_stratified(examples, fraction, rng)


def _split_by_group(
    examples: Sequence[Example], fraction: float, rng: np.random.RandomState
) -> tuple[list[Example], list[Example]]:
    groups = sorted({example.group for example in examples if example.group is not None})  # every one has one here
    rng.shuffle(groups)
    sizes = collections.Counter(example.group for example in examples)
    target, held_out, taken = fraction * len(examples), set(), 0
    for group in groups:
        if taken >= target:
            break
        held_out.add(group)
        taken += sizes[group]
    if len(held_out) == len(groups):  # keep at least one story for training
        held_out.discard(groups[-1])
    train = [e for e in examples if e.group not in held_out]
    validation = [e for e in examples if e.group in held_out]
    return train, validation


def _split_stratified(
    examples: Sequence[Example], fraction: float, rng: np.random.RandomState
) -> tuple[list[Example], list[Example]]:
    by_label = collections.defaultdict(list)
    for index, example in enumerate(examples):
        by_label[example.label].append(index)
    held_out = set()
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        count = int(round(fraction * len(indices)))
        if len(indices) >= 2:
            count = min(max(count, 1), len(indices) - 1)
        else:
            count = 0
        held_out.update(indices[:count])
    train = [e for i, e in enumerate(examples) if i not in held_out]
    validation = [e for i, e in enumerate(examples) if i in held_out]
    return train, validation


def shard(examples: Sequence[T], rank: int, num_workers: int, seed: int) -> list[T]:
    """Worker `rank`'s share of train when every host has all of it: a seeded deal of the rows into
    `num_workers` equal hands (the n % num_workers left over are dropped), so every worker runs the same number
    of batches per epoch, which synchronous distributed training needs."""
    order = np.random.RandomState(seed).permutation(len(examples))
    size = len(examples) // num_workers
    return [examples[i] for i in order[rank::num_workers][:size]]
