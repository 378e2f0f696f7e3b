"""The server's private copies of the weight files it maps: one copy per key however many workers ask, only the
files asked for, gone with discard; a copy stays whole when its original is rewritten in place."""

import concurrent.futures
import os

import pytest

from headlines.serving.snapshots import WeightSnapshots


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    (folder / "nested").mkdir(parents=True)
    (folder / "model-0000.params").write_bytes(b"weights" * 1000)
    (folder / "nested" / "vectors.bin").write_bytes(b"vectors")
    (folder / "vocabulary.json").write_text("{}")
    return folder


@pytest.fixture
def snapshots(tmp_path):
    snapshots = WeightSnapshots.create()
    yield snapshots
    snapshots.destroy()
    assert not os.path.exists(snapshots.folder)


def test_copies_hold_only_the_files_asked_for_and_survive_the_original_rewritten_in_place(snapshots, model_dir):
    folder = snapshots.copies("k", str(model_dir), ["model-0000.params", "nested/vectors.bin", "absent.bin"])
    assert sorted(
        os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names
    ) == [
        "model-0000.params",
        "nested/vectors.bin",
    ]
    with open(model_dir / "model-0000.params", "r+b") as original:  # as `cp other.params model-0000.params` does
        original.truncate(0)
    assert open(os.path.join(folder, "model-0000.params"), "rb").read() == b"weights" * 1000


def test_workers_asking_at_once_share_one_copy_per_key(snapshots, model_dir):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        folders = set(pool.map(lambda _: snapshots.copies("k", str(model_dir), ["model-0000.params"]), range(16)))
    assert len(folders) == 1
    inode = os.stat(os.path.join(folders.pop(), "model-0000.params")).st_ino
    again = snapshots.copies("k", str(model_dir), ["model-0000.params"])
    assert os.stat(os.path.join(again, "model-0000.params")).st_ino == inode  # not copied again
    assert snapshots.copies("other", str(model_dir), ["model-0000.params"]) != again


def test_discard_removes_a_keys_copies_and_a_later_load_copies_anew(snapshots, model_dir):
    folder = snapshots.copies("k", str(model_dir), ["model-0000.params"])
    mapped = open(os.path.join(folder, "model-0000.params"), "rb")  # a worker that still maps it
    snapshots.discard("k")
    assert not os.path.exists(folder) and mapped.read() == b"weights" * 1000
    mapped.close()
    assert os.path.isfile(
        os.path.join(snapshots.copies("k", str(model_dir), ["model-0000.params"]), "model-0000.params")
    )


@pytest.mark.parametrize("key", ["", "../x", ".lock", "a/b"])
def test_keys_that_are_not_plain_names_are_refused(snapshots, key):
    with pytest.raises(ValueError, match="snapshot key"):
        snapshots.copies(key, "/nowhere", [])


def test_copies_a_killed_worker_left_half_made_are_made_again(snapshots, model_dir):
    half = os.path.join(snapshots.folder, "k", ".incomplete")
    os.makedirs(half)
    with open(os.path.join(half, "model-0000.params"), "wb") as f:
        f.write(b"weig")
    folder = snapshots.copies("k", str(model_dir), ["model-0000.params"])
    assert os.listdir(folder) == ["model-0000.params"]
    assert open(os.path.join(folder, "model-0000.params"), "rb").read() == b"weights" * 1000
