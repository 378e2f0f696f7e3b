"""scripts/download_public_data.py against a local HTTP server serving small archives made here: download,
unpack, the UCI story split, skipping what is there, and clear errors for a missing URL or a file that is not a
zip archive."""

import functools
import http.server
import threading
import zipfile

import pytest

from headlines.data.formats import read_channel
from tests.support.data import data_set
from tests.support.repo import load_script

download_public_data = load_script("download_public_data")


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _archives(root):
    rows = data_set().train_rows(600)
    with zipfile.ZipFile(root / "NewsAggregatorDataset.zip", "w") as archive:
        archive.writestr("newsCorpora.csv", "\n".join(rows + ["a malformed row"]) + "\n")
        archive.writestr("2pageSessions.csv", "unused\n")
    with zipfile.ZipFile(root / "text8.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", " anarchism originated as a term of abuse" * 1000)
    return rows


def test_downloads_unpack_and_split_by_story(server, tmp_path, capsys):
    root, url = server
    rows = _archives(root)
    dest = tmp_path / "data"
    argv = ["--dest", str(dest), "--uci-url", f"{url}/NewsAggregatorDataset.zip", "--text8-url", f"{url}/text8.zip"]
    assert download_public_data.main(argv) == 0
    train = (dest / "uci" / "train" / "newsCorpora-train.tsv").read_text(encoding="utf-8").splitlines()
    test = (dest / "uci" / "test" / "newsCorpora-test.tsv").read_text(encoding="utf-8").splitlines()
    assert sorted(train + test) == sorted(rows) and train and test
    stories = lambda lines: {line.split("\t")[5] for line in lines}  # noqa: E731
    assert not stories(train) & stories(test)
    assert (dest / "text8" / "train" / "text8").read_text() == " anarchism originated as a term of abuse" * 1000
    assert "1 malformed rows dropped" in capsys.readouterr().out
    examples, report = read_channel("train", str(dest / "uci" / "train"), 0.0)  # the classifier reads it as is
    assert len(examples) == len(train) and dict(report.formats) == {"uci": 1}
    assert not list(dest.glob("*.part")) and not list(dest.rglob("*.part"))

    (root / "text8.zip").unlink()  # a rerun downloads nothing
    assert download_public_data.main(argv) == 0
    assert "present, skipped" in capsys.readouterr().out


def test_missing_url_and_non_zip_fail_clearly(server, tmp_path, capsys):
    root, url = server
    (root / "not-a-zip.zip").write_text("<html>maintenance</html>")
    dest = tmp_path / "data"
    assert download_public_data.main(["--dest", str(dest), "--uci-url", f"{url}/nothing.zip"]) == 1
    error = capsys.readouterr().err
    assert "Cannot download" in error and "404" in error
    assert download_public_data.main(["--dest", str(dest), "--uci-url", f"{url}/not-a-zip.zip"]) == 1
    assert "is not a zip archive" in capsys.readouterr().err
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.tsv"))
