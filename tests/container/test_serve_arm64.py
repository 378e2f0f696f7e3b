"""The Graviton serving image (scripts/images.py's serve-arm64: the serving Dockerfile built for linux/arm64), run on
this x86 machine under qemu (scripts/ensure-docker.sh --with-arm64). It must be an arm64 image within the serving
budget, answer /ping, take every request type with every response type, and answer what the amd64 image answers,
to 1e-5. The emulated timings it prints are a record, never asserted: emulation timings are not Graviton timings."""

import csv
import io
import json
import statistics
import time

import numpy as np
import pytest
import requests

from headlines.serving import codecs
from tests.support.containers import ServeContainer, docker
from tests.support.data import data_set
from tests.support.repo import load_script

IMAGES = load_script("images").IMAGES
DATA = data_set()
HEADLINES = DATA.headlines(40)
TIMED_REQUESTS = 30


@pytest.fixture(scope="module")
def pair(serve_image, serve_arm64_image, models):
    """architecture -> (the amd64 container, the arm64 container), both serving the same model."""
    started = {}
    for architecture in ("fasttext", "cnn"):
        started[architecture] = tuple(
            ServeContainer(image, models[architecture], docker_options=["--platform", platform]).start()
            for image, platform in ((serve_image, "linux/amd64"), (serve_arm64_image, "linux/arm64"))
        )
    yield {architecture: tuple(c.wait_ready(timeout=120) for c in both) for architecture, both in started.items()}
    for both in started.values():
        for container in both:
            container.remove()


def request_body(content_type):
    """HEADLINES in one request of that type."""
    if content_type == codecs.JSON:
        return json.dumps({"instances": HEADLINES, "top_k": 2})
    if content_type == codecs.JSONLINES:
        return "\n".join(json.dumps({"headline": headline}) for headline in HEADLINES)
    if content_type == codecs.CSV:
        rows = io.StringIO()
        csv.writer(rows).writerows([headline] for headline in HEADLINES)
        return rows.getvalue()
    return "\n".join(HEADLINES)


def fields(value):
    """The strings and the numbers of an answer, in order, whatever its shape."""
    if isinstance(value, dict):
        return [field for key in sorted(value) for field in [key, *fields(value[key])]]
    if isinstance(value, list):
        return [field for item in value for field in fields(item)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return [value]
    return [float(value)]


def answer_fields(response):
    assert response.status_code == 200, response.text
    kind = response.headers["Content-Type"].split(";")[0]
    if kind == codecs.JSON:
        return fields(response.json())
    if kind == codecs.JSONLINES:
        return fields([json.loads(line) for line in response.text.splitlines()])
    return fields(list(csv.reader(io.StringIO(response.text))))


def test_it_is_an_arm64_image_within_the_serving_budget(serve_arm64_image):
    architecture, size = docker(
        "image", "inspect", "-f", "{{.Architecture}} {{.Size}}", serve_arm64_image
    ).stdout.split()
    assert architecture == "arm64"
    assert int(size) <= IMAGES["serve-arm64"].budget_bytes
    machine = docker("run", "--rm", "--platform", "linux/arm64", "--entrypoint", "uname", serve_arm64_image, "-m")
    assert machine.stdout.strip() == "aarch64"
    print(f"serve-arm64: {int(size) / 1e6:.0f} MB uncompressed")


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
@pytest.mark.parametrize("content_type", codecs.REQUEST_TYPES)
def test_every_request_type_with_every_response_type_answers_as_the_amd64_image(pair, architecture, content_type):
    amd64, arm64 = pair[architecture]
    assert requests.get(arm64.url("/ping"), timeout=10).status_code == 200
    for accept in codecs.RESPONSE_TYPES:
        headers = {"Content-Type": content_type, "Accept": accept}
        body = request_body(content_type).encode()
        expected = answer_fields(requests.post(amd64.url("/invocations"), data=body, headers=headers, timeout=60))
        got = answer_fields(requests.post(arm64.url("/invocations"), data=body, headers=headers, timeout=60))
        assert [f for f in got if isinstance(f, str)] == [f for f in expected if isinstance(f, str)], accept
        numbers = [f for f in got if isinstance(f, float)], [f for f in expected if isinstance(f, float)]
        assert len(numbers[0]) == len(numbers[1]) >= len(HEADLINES), accept
        np.testing.assert_allclose(*numbers, atol=1e-5, err_msg=accept)


def test_emulated_latency_for_the_record(pair):
    """One-headline and 1,000-headline requests on both images, printed (pytest -s) for docs/images.md."""
    for architecture, both in pair.items():
        for container in both:
            single = []
            for headline in HEADLINES[:TIMED_REQUESTS]:
                started = time.perf_counter()
                requests.post(container.url("/invocations"), json={"instances": [headline]}, timeout=60)
                single.append(time.perf_counter() - started)
            started = time.perf_counter()
            response = requests.post(
                container.url("/invocations"), json={"instances": DATA.headlines(1000)}, timeout=120
            )
            batch = time.perf_counter() - started
            assert response.status_code == 200
            print(
                f"{architecture} {container.image}: one headline p50 "
                f"{statistics.median(single) * 1000:.1f} ms, 1,000 headlines {batch * 1000:.0f} ms"
            )
