"""File handling every job shares, in one place: reading files that may be gzip-compressed whatever their name,
listing a channel's data files, writing JSON, and writing a set of outputs so that they appear all at once or not at
all. Standard library only."""

import contextlib
import fcntl
import gzip
import io
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
# Outputs are written into this folder inside their destination and moved out of it only when all are written, so a
# job that fails half-way never leaves files that look finished.
STAGING_DIR = ".incomplete"
# What reading a damaged or truncated gzip file raises: a truncated stream, a bad header or CRC, bad deflate data.
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)
# What reading any file may raise: the above, and the operating system's errors.
READ_ERRORS = (OSError, *GZIP_ERRORS)


def is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: str) -> gzip.GzipFile | io.BufferedReader:
    """Open a file for reading bytes, gunzipping it when it starts with the gzip magic (whatever its name)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def open_text(path: str) -> io.TextIOWrapper:
    """open_binary() as UTF-8 text; undecodable bytes raise UnicodeDecodeError, newlines are kept as they are."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="strict", newline="")


def list_files(folder: str) -> list[str]:
    """Data files below a channel folder in a fixed order (a folder's files by name, then its subfolders by name);
    hidden files and folders (.ipynb_checkpoints, .DS_Store) are skipped."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, name) for name in sorted(files) if not name.startswith("."))
    return found


def write_json(path: str, value: Any) -> None:
    """Readable JSON (indented, UTF-8 as is); sets and tuples become lists."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False, default=list)


@contextlib.contextmanager
def exclusive_lock(path: str) -> Iterator[None]:
    """Holds an exclusive flock on the file at path (made if missing) for the with block: one holder at a time, be
    it another process or another thread."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def staging_folder(folder: str) -> str:
    """A fresh, empty staging folder inside `folder`, for outputs that publish() will move into `folder`."""
    staging = os.path.join(folder, STAGING_DIR)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    return staging


def publish(folder: str) -> list[str]:
    """The last step of writing outputs: move every file of `folder`'s staging folder into `folder`; returns their
    names."""
    staging = os.path.join(folder, STAGING_DIR)
    names = sorted(os.listdir(staging))
    for name in names:
        os.replace(os.path.join(staging, name), os.path.join(folder, name))
    os.rmdir(staging)
    return names


def discard_staging(folder: str) -> None:
    """After a failure: remove whatever was staged in `folder`."""
    shutil.rmtree(os.path.join(folder, STAGING_DIR), ignore_errors=True)
