#!/usr/bin/env python3
"""Download the workshop's public data sets and lay them out as job channels (needs the internet):

    DEST/uci/train/newsCorpora-train.tsv   UCI News Aggregator, newsCorpora.csv layout, ~80 % of the stories
    DEST/uci/test/newsCorpora-test.tsv     the other stories (split by STORY: no near-duplicate crosses the split)
    DEST/text8/train/text8                 text8 (Wikipedia, 17M words, one line) for the word-vector job

    scripts/download_public_data.py [--dest data] [--uci-url URL] [--text8-url URL] [--force]

Downloads stream to a temporary file beside the destination and every output is moved into place only when it
is complete, so an interrupted run never leaves a file that looks done; a rerun skips what is there.
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile

UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00359/NewsAggregatorDataset.zip"
TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
UCI_MEMBER, TEXT8_MEMBER = "newsCorpora.csv", "text8"
UCI_COLUMNS, UCI_STORY = 8, 5
TEST_SHARE_PERCENT = 20
CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    pass


def download(url, target_dir):
    """Stream url into a temporary file in target_dir; return its path."""
    handle, path = tempfile.mkstemp(dir=target_dir, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink, urllib.request.urlopen(url, timeout=60) as response:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(CHUNK_BYTES):
                sink.write(chunk)
                done += len(chunk)
                if total:
                    print(f"\r  {url}: {done / 2**20:.1f} of {total / 2**20:.1f} MiB", end="", file=sys.stderr)
        print(file=sys.stderr)
        return path
    except (urllib.error.URLError, OSError) as e:
        os.remove(path)
        raise DownloadError(f"Cannot download {url}: {e}") from e


def _member(archive_path, url, name):
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile:
        raise DownloadError(f"{url} is not a zip archive.") from None
    matches = [m for m in archive.namelist() if os.path.basename(m) == name]
    if not matches:
        archive.close()
        raise DownloadError(f"{url} has no {name} (it has {', '.join(archive.namelist()[:10])}).")
    return archive, matches[0]


def _is_test_story(story):
    """A stable hash of the story id, not Python's salted hash(): the split is the same on every run."""
    return int(hashlib.sha1(story.encode("utf-8")).hexdigest(), 16) % 100 < TEST_SHARE_PERCENT


def split_uci(archive_path, url, train_path, test_path):
    """newsCorpora.csv -> train/test files by story; rows without the 8 columns are counted and dropped."""
    archive, member = _member(archive_path, url, UCI_MEMBER)
    counts = {"train": 0, "test": 0, "bad": 0}
    with (
        archive,
        archive.open(member) as source,
        open(train_path + ".part", "w", encoding="utf-8") as train,
        open(test_path + ".part", "w", encoding="utf-8") as test,
    ):
        for raw in source:
            columns = raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
            if len(columns) != UCI_COLUMNS:
                counts["bad"] += 1
                continue
            split = "test" if _is_test_story(columns[UCI_STORY]) else "train"
            (test if split == "test" else train).write("\t".join(columns) + "\n")
            counts[split] += 1
    if not counts["train"] or not counts["test"]:
        raise DownloadError(f"{url}: {UCI_MEMBER} has no rows in the newsCorpora layout ({counts['bad']} bad).")
    os.replace(train_path + ".part", train_path)
    os.replace(test_path + ".part", test_path)
    return counts


def extract_text8(archive_path, url, target):
    archive, member = _member(archive_path, url, TEXT8_MEMBER)
    with archive, archive.open(member) as source, open(target + ".part", "wb") as sink:
        shutil.copyfileobj(source, sink, CHUNK_BYTES)
    os.replace(target + ".part", target)
    return os.path.getsize(target)


def fetch(url, dest, outputs, unpack, force):
    """Download url and unpack it into outputs, unless they all exist."""
    if not force and all(os.path.exists(p) for p in outputs):
        print(f"{', '.join(outputs)}: present, skipped (--force downloads again)")
        return None
    for path in outputs:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    archive = download(url, dest)
    try:
        return unpack(archive, url, *outputs)
    finally:
        os.remove(archive)
        for path in outputs:  # what an unpacking cut short left behind
            if os.path.exists(path + ".part"):
                os.remove(path + ".part")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="data")
    parser.add_argument("--uci-url", default=UCI_URL)
    parser.add_argument("--text8-url", default=TEXT8_URL)
    parser.add_argument("--force", action="store_true", help="download and unpack again")
    args = parser.parse_args(argv)
    os.makedirs(args.dest, exist_ok=True)
    uci = [
        os.path.join(args.dest, "uci", "train", "newsCorpora-train.tsv"),
        os.path.join(args.dest, "uci", "test", "newsCorpora-test.tsv"),
    ]
    text8 = [os.path.join(args.dest, "text8", "train", "text8")]
    try:
        counts = fetch(args.uci_url, args.dest, uci, split_uci, args.force)
        if counts:
            print(
                f"UCI News Aggregator: {counts['train']} train and {counts['test']} test rows by story "
                f"({counts['bad']} malformed rows dropped) in {os.path.dirname(os.path.dirname(uci[0]))}"
            )
        size = fetch(args.text8_url, args.dest, text8, extract_text8, args.force)
        if size:
            print(f"text8: {size / 2**20:.1f} MiB in {text8[0]}")
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
