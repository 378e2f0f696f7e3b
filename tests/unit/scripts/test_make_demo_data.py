"""scripts/make_demo_data.py: the generated data is seeded, split by story and reads as UCI."""

import collections

from headlines.data.formats import read_channel
from tests.support.repo import load_script

make_demo_data = load_script("make_demo_data")


def test_demo_data_is_seeded_split_by_story_and_reads_as_uci(tmp_path):
    first = make_demo_data.write_demo_data(tmp_path / "a")
    second = make_demo_data.write_demo_data(tmp_path / "b")
    for name in first:
        assert open(first[name], "rb").read() == open(second[name], "rb").read()

    train, train_report = read_channel("train", str(tmp_path / "a" / "headlines"), 0.0)
    test, test_report = read_channel("test", str(tmp_path / "a" / "headlines-test"), 0.0)
    assert train_report.formats == {"uci": 1} and train_report.bad_rows == 0 and test_report.bad_rows == 0
    assert not {e.group for e in train} & {e.group for e in test}
    assert len(train) > 3000 and len(test) > 800
    shares = collections.Counter(e.label for e in train)
    assert set(shares) == {"b", "e", "m", "t"} and min(shares.values()) > 0.2 * len(train)
    assert sum(len(line.split()) for line in open(first["corpus"], encoding="utf-8")) > 150_000
