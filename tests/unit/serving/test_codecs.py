"""Response bodies written in pieces: the same bytes as one json.dumps call, never more than a thousand items a
call (a call holds the GIL that the /ping lookout needs, serving/worker.py)."""

import json

import pytest

from headlines.serving import codecs


@pytest.mark.parametrize("count", [0, 1, 999, 1000, 1001, 2500])
@pytest.mark.parametrize("key", [None, "predictions"])
def test_json_body_is_what_one_json_dumps_call_writes(count, key):
    items = [{"label": "é", "probability": i / 7, "probabilities": {"b": 0.5, "t": 0.5}} for i in range(count)]
    whole = items if key is None else {key: items}
    assert codecs.json_body(items, key) == json.dumps(whole, ensure_ascii=False).encode("utf-8")


def test_json_body_encodes_at_most_a_thousand_items_a_call(monkeypatch):
    sizes = []
    dumps = json.dumps

    def counted(value, **options):
        sizes.append(len(value))
        return dumps(value, **options)

    monkeypatch.setattr(codecs.json, "dumps", counted)
    codecs.json_body([{"word": "x", "vector": [0.5] * 3}] * 2500)
    assert sizes == [1000, 1000, 500]
