"""A worker's memory stays bounded under hostile requests: the encoder's caches keep only short tokens, in a fixed
count, whatever the requests send."""

import gc
import json
import os
import random
import string

import pytest

from headlines.environment import ServingEnvironment
from headlines.serving.app import create_app
from headlines.serving.loading import load_model
from tests.support.fake_sagemaker import train_small_model

REQUESTS = 1000
MAX_GROWTH = 50 * 2**20


def _rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    model = load_model(str(train_small_model(tmp_path_factory.mktemp("memory") / "opt_ml", "fasttext")))
    return create_app(ServingEnvironment.from_environ({}, cpu_count=1), model).test_client()


def test_rss_grows_at_most_50_mb_over_1000_hostile_requests(client):
    rng = random.Random(0)

    def token(length):
        return "".join(rng.choices(string.ascii_lowercase + "éü", k=length))

    def body():
        # 40 headlines of new tokens: the longest the caches keep (24 characters) and, at the token limit, 256.
        return json.dumps([f"{token(24)} {token(24)} {token(256)} {token(5)}" for _ in range(40)])

    assert client.post("/invocations", data=body(), content_type="application/json").status_code == 200
    before = _rss()
    for _ in range(REQUESTS):
        assert client.post("/invocations", data=body(), content_type="application/json").status_code == 200
    growth = _rss() - before
    print(f"\nRSS growth over {REQUESTS} hostile requests: {growth / 2**20:.1f} MB")
    assert growth <= MAX_GROWTH
