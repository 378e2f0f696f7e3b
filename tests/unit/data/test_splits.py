"""code/headlines/data/splits.py: the validation split (by story where there are stories, else stratified) and each
host's shard of the training rows."""

import collections

import pytest

from headlines.data.formats import Example
from headlines.data.splits import shard, split_validation


def test_group_split_keeps_stories_together_and_is_seeded():
    examples = [Example(f"t{i}", "ab"[i % 2], f"s{i // 3}") for i in range(300)]
    train, validation = split_validation(examples, 0.1, seed=1)
    assert {e.group for e in train}.isdisjoint({e.group for e in validation})
    assert 30 <= len(validation) <= 33 and len(train) + len(validation) == 300
    assert split_validation(examples, 0.1, seed=1) == (train, validation)
    assert split_validation(examples, 0.1, seed=2) != (train, validation)


def test_stratified_split_without_groups():
    examples = [Example(f"t{i}", "a" if i < 200 else "b") for i in range(220)]
    train, validation = split_validation(examples, 0.1, seed=0)
    counts = collections.Counter(e.label for e in validation)
    assert counts == {"a": 20, "b": 2}
    assert len(train) == 198


def test_rare_label_keeps_one_example_in_train():
    examples = [Example("x", "a")] * 10 + [Example("y", "b"), Example("z", "b"), Example("w", "c")]
    train, validation = split_validation(examples, 0.5, seed=0)
    assert {e.label for e in train} == {"a", "b", "c"}


@pytest.mark.parametrize("rows,workers", [(10, 2), (11, 2), (100, 3)])
def test_shards_are_equal_disjoint_and_cover_all_but_the_remainder(rows, workers):
    examples = [Example(text=str(i), label="b") for i in range(rows)]
    shards = [shard(examples, rank, workers, seed=1) for rank in range(workers)]
    assert {len(s) for s in shards} == {rows // workers}
    texts = [e.text for s in shards for e in s]
    assert len(set(texts)) == len(texts) == rows - rows % workers
