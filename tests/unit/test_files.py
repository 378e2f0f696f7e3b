"""code/headlines/files.py: the one home of the file handling every job shares."""

import gzip
import json
import os
import re
import threading

import pytest

from headlines import files
from tests.support.repo import REPO

PACKAGE = REPO / "code" / "headlines"


def test_gzip_is_recognised_by_its_magic_whatever_the_name(tmp_path):
    packed, plain = tmp_path / "headlines.tsv", tmp_path / "plain.gz"
    packed.write_bytes(gzip.compress("Zürich\r\nrow\n".encode()))
    plain.write_text("not compressed\n", encoding="utf-8")
    assert files.is_gzip(packed) and not files.is_gzip(plain)
    with files.open_text(packed) as f:
        assert f.read() == "Zürich\r\nrow\n"  # newlines kept as they are
    with files.open_binary(plain) as f:
        assert f.read() == b"not compressed\n"


def test_open_text_refuses_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Zürich".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError), files.open_text(path) as f:
        f.read()


def test_a_truncated_gzip_file_raises_one_of_the_read_errors(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"x" * 10_000)[:30])
    with pytest.raises(files.READ_ERRORS), files.open_binary(path) as f:
        f.read()


@pytest.mark.parametrize("at", [10, 100], ids=["block header", "deflate data"])
def test_a_gzip_file_with_damaged_deflate_data_raises_one_of_the_read_errors(tmp_path, at):
    """zlib.error (invalid block type, invalid distance too far back), not only EOFError and BadGzipFile."""
    data = gzip.compress(b"".join(b"Headline %d\tb\n" % i for i in range(1000)), mtime=0)
    path = tmp_path / "damaged.gz"
    path.write_bytes(data[:at] + b"\xff" * 8 + data[at + 8 :])
    with pytest.raises(files.READ_ERRORS), files.open_binary(path) as f:
        f.read()


def test_list_files_in_a_fixed_order_without_hidden_files_and_folders(tmp_path):
    for name in ("b.tsv", "a/c.tsv", ".DS_Store", ".ipynb_checkpoints/a.tsv", "a/.hidden"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert files.list_files(tmp_path) == [str(tmp_path / "b.tsv"), str(tmp_path / "a" / "c.tsv")]


def test_write_json_is_readable_utf8_and_takes_sets(tmp_path):
    path = tmp_path / "metrics.json"
    files.write_json(path, {"name": "Zürich", "hosts": {"algo-1"}})
    assert "Zürich" in path.read_text(encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == {"name": "Zürich", "hosts": ["algo-1"]}


def test_staged_outputs_appear_all_at_once_and_a_failure_leaves_none(tmp_path):
    stale = files.staging_folder(tmp_path)
    (tmp_path / files.STAGING_DIR / "left-over").write_text("from a failed job")
    staging = files.staging_folder(tmp_path)  # fresh: nothing left over
    assert staging == stale and os.listdir(staging) == []
    for name in ("b.bin", "a.txt"):
        (tmp_path / files.STAGING_DIR / name).write_text(name)
    assert sorted(os.listdir(tmp_path)) == [files.STAGING_DIR]  # nothing in place before publish
    assert files.publish(tmp_path) == ["a.txt", "b.bin"]
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin"]
    files.staging_folder(tmp_path)
    files.discard_staging(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin"]


@pytest.mark.parametrize(
    "pattern", [r"gzip\.open\(", r"GZIP_MAGIC\s*=", r"\"\.incomplete\"", r"json\.dump\(", r"os\.walk\("]
)
def test_no_other_module_writes_its_own_file_helper(pattern):
    """A checkpoint's state.json is the one exception: written to a temporary name and renamed, atomically."""
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "files.py" and re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    assert found == (["runtime/checkpoints.py"] if pattern == r"json\.dump\(" else [])


def test_exclusive_lock_has_one_holder_at_a_time(tmp_path):
    path = str(tmp_path / "lock")
    order = []

    def take():
        with files.exclusive_lock(path):
            order.append("other")

    with files.exclusive_lock(path):
        other = threading.Thread(target=take)
        other.start()
        other.join(timeout=0.3)
        order.append("first")  # the other thread is still waiting
    other.join(timeout=5)
    assert order == ["first", "other"]
