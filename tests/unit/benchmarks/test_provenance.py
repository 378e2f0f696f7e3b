"""What traces a benchmark's figures to one build: the commit and dirty flag each record carries, the data's
hashes, the page's sentence on whether its sections share one commit, and the records copied beside the page."""

import json
import subprocess

from benchmarks import harness, report
from tests.support.data import generated_data


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").write_text("bench-results/\n")
    (repo / "code.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    return repo


def test_a_record_names_the_commit_and_whether_the_tree_differed_from_it(tmp_path):
    repo = _repo(tmp_path)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    (repo / "bench-results").mkdir()
    (repo / "bench-results" / "train.json").write_text("{}")  # ignored: what the benchmarks write
    assert harness.source_state(repo) == {"commit": head.strip(), "dirty": False}
    (repo / "code.py").write_text("x = 2\n")
    assert harness.source_state(repo) == {"commit": head.strip(), "dirty": True}
    _git(repo, "checkout", "-q", "code.py")
    (repo / "new.py").write_text("")
    assert harness.source_state(repo)["dirty"] is True
    assert harness.source_state(tmp_path / "elsewhere") == {"commit": None, "dirty": True}


def test_data_hashes_change_with_a_byte_of_the_data(tmp_path):
    data = generated_data()
    hashes = harness.data_hashes(data)
    assert set(hashes) == {f"{path.parent.name}/{path.name}" for path in (data.train, data.test, data.corpus)}
    copy = tmp_path / data.train.parent.name / data.train.name
    copy.parent.mkdir()
    copy.write_bytes(data.train.read_bytes().replace(b"a", b"b", 1))
    changed = harness.data_hashes(type(data)(data.source, copy, data.test, data.corpus))
    assert changed[f"{copy.parent.name}/{copy.name}"] != hashes[f"{copy.parent.name}/{copy.name}"]


def _record(commit, dirty=False):
    return {"provenance": {"commit": commit, "dirty": dirty}}


def test_the_page_says_when_its_sections_come_from_different_commits():
    one = report.commits_sentence([("Training", _record("a" * 40)), ("Serving", _record("a" * 40))])
    assert one == f"Every measured section comes from commit `{'a' * 12}`."
    two = report.commits_sentence([("Training", _record("a" * 40)), ("Serving", _record("b" * 40))])
    assert "2 builds" in two and f"`{'a' * 12}`: Training" in two and f"`{'b' * 12}`: Serving" in two
    dirty = report.commits_sentence([("Training", _record("a" * 40)), ("Serving", _record("a" * 40, dirty=True))])
    assert "2 builds" in dirty and "with uncommitted changes: Serving" in dirty
    assert "an unrecorded commit: Training" in report.commits_sentence(
        [("Training", {}), ("Serving", _record("a" * 40))]
    )


def test_the_records_of_the_page_are_copied_beside_it_and_no_others(tmp_path):
    results, published = tmp_path / "bench-results", tmp_path / "records"
    results.mkdir()
    published.mkdir()
    (results / "train-uci.json").write_bytes(b'{"b": 1,  "a": 2}\n')  # copied as it is, not re-serialised
    (results / "not-a-section.json").write_text("{}")
    (published / "images.json").write_text("{}")  # an earlier page's section, not measured this time
    report.publish_records(results, published)
    assert sorted(path.name for path in published.iterdir()) == ["train-uci.json"]
    assert (published / "train-uci.json").read_bytes() == (results / "train-uci.json").read_bytes()
    assert json.loads((published / "train-uci.json").read_text()) == {"b": 1, "a": 2}


def test_the_committed_page_is_its_committed_records_rendered_again(tmp_path):
    """docs/benchmarks.md byte for byte from docs/benchmarks/records/: a figure edited by hand, or a record changed
    without the page, fails here; and every record comes from one commit with nothing uncommitted."""
    assert report.page(report.PUBLISHED_RECORDS, tmp_path) == report.PAGE.read_text(encoding="utf-8")
    records = [json.loads(path.read_text()) for path in sorted(report.PUBLISHED_RECORDS.glob("*.json"))]
    assert records, "no records beside the page"
    assert len({record["provenance"]["commit"] for record in records}) == 1
    assert not any(record["provenance"]["dirty"] or record["quick"] for record in records)
