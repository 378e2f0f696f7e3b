"""The serving image on models the training image wrote: the hosting and batch-transform contract in Docker,
non-root workers, SIGTERM, fuzzed bodies and headers against the running container, a worker killed
under load, and a multi-model endpoint (under memory pressure too)."""

import http.client
import json
import shutil
import threading
import time

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headlines import contract
from headlines.classifier.mxnet_model import HeadlineModel
from headlines.environment import ServingEnvironment
from headlines.serving import multi_model
from tests.support.containers import ServeContainer, docker
from tests.support.data import data_set
from tests.support.fake_sagemaker import SMALL_MODEL, SMALL_WORD_VECTORS, FakeSageMaker
from tests.support.loadgen import http_request, run_load
from tests.support.responses import BackgroundInvocation, pings_beside_invocations

DATA = data_set()


@pytest.fixture(scope="module")
def word_vectors(cpu_image, tmp_path_factory):
    """The word-vector job's model folder, as the CPU training image writes it (subwords on)."""
    fake = FakeSageMaker(tmp_path_factory.mktemp("word-vectors"))
    fake.add_channel("train", {"corpus.txt": DATA.corpus_text().splitlines()[:1500]})
    fake.write_config(dict(SMALL_WORD_VECTORS, subwords="true"))
    result = docker("run", "--rm", "-v", f"{fake.base}:/opt/ml", cpu_image, "train", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    return fake.model_dir


@pytest.fixture
def serve(serve_image, models):
    started = []

    def start(architecture="fasttext", model_dir=None, **kwargs):
        container = ServeContainer(serve_image, model_dir or models[architecture], **kwargs).start()
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


@pytest.mark.parametrize("command", [("serve",), ()], ids=["serve", "no-command"])
def test_serve_command_and_no_command_both_serve(serve, command):
    container = serve(command=command).wait_ready()
    response = requests.get(container.url("/ping"), timeout=2)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("architecture", ["fasttext", "cnn"])
def test_predictions_equal_the_in_process_model(serve, models, architecture):
    container = serve(architecture).wait_ready()
    headlines = DATA.headlines(300)
    response = requests.post(container.url("/invocations"), json={"instances": headlines}, timeout=30)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    model = HeadlineModel.load(str(models[architecture]))
    expected = model.predict_proba(headlines)
    got = np.array([[p["probabilities"][label] for label in model.labels] for p in predictions])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [p["label"] for p in predictions] == [model.labels[i] for i in expected.argmax(axis=1)]
    csv_rows = requests.post(
        container.url("/invocations"),
        data="\n".join(headlines).encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "Accept": "text/csv"},
        timeout=30,
    ).text.splitlines()
    assert [row.split(",")[0] for row in csv_rows] == [p["label"] for p in predictions]


def test_execution_parameters_and_payload_limit_follow_the_batch_env(serve):
    container = serve(
        env={"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3"}
    ).wait_ready()
    assert requests.get(container.url("/execution-parameters"), timeout=2).json() == {
        "MaxConcurrentTransforms": 3,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 2,
    }
    body = ("Fed raises interest rates again\n" * 70000).encode()  # 2.1 MiB
    response = requests.post(
        container.url("/invocations"), data=body, headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert response.status_code == 413 and "limit of 2 MB" in response.json()["message"]


def test_bind_to_port_and_its_image_label(serve, serve_image):
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", serve_image).stdout)
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    container = serve(env={"SAGEMAKER_BIND_TO_PORT": "9090"}, port=9090).wait_ready()
    assert requests.get(container.url("/ping"), timeout=2).status_code == 200


def test_master_is_root_and_the_workers_are_not(serve):
    container = serve(env={"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}).wait_ready()
    container.wait_for_workers(3)
    rows = [
        line.split(None, 3)
        for line in docker("top", container.name, "-eo", "uid,pid,ppid,args").stdout.splitlines()[1:]
    ]
    master = [row for row in rows if row[0] == "0"]
    workers = [row for row in rows if row[2] == master[0][1]]
    assert len(master) == 1 and "serve" in master[0][3]
    assert len(workers) == 3 and all(row[0] != "0" for row in workers), rows
    model_server_uid = container.python("import pwd; print(pwd.getpwnam('model-server').pw_uid)").strip()
    assert {row[0] for row in workers} == {model_server_uid}


def test_workers_default_to_the_containers_cpu_quota_not_the_hosts_cores(serve):
    container = serve(docker_options=["--cpus", "1"]).wait_ready()  # on a machine of 2 cores or more
    assert "port 8080: 1 workers," in container.logs(), container.logs()[-3000:]
    assert len(container.wait_for_workers(1)) == 1


# How locked-down runtimes run a container: not root, a read-only root filesystem, only /tmp writable (and the
# /dev/shm tmpfs that Docker always mounts).
LOCKED_DOWN = ["--user", "12345:12345", "--read-only", "--tmpfs", "/tmp"]


def test_serves_as_a_non_root_user_on_a_read_only_filesystem(serve):
    container = serve(env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}, docker_options=LOCKED_DOWN).wait_ready()
    container.wait_for_workers(2)
    uids = [line.split()[0] for line in docker("top", container.name, "-eo", "uid,pid").stdout.splitlines()[1:]]
    assert len(uids) == 3 and set(uids) == {"12345"}, uids  # the master and both workers
    assert requests.get(container.url("/ping"), timeout=2).status_code == 200
    headlines = DATA.headlines(20)
    bodies = {
        "application/json": json.dumps({"instances": headlines}),
        "application/jsonlines": "\n".join(json.dumps(headline) for headline in headlines),
        "text/csv": "\n".join('"' + headline.replace('"', '""') + '"' for headline in headlines),
        "text/plain": "\n".join(headlines),
    }
    labels = {}
    for content_type, body in bodies.items():
        response = requests.post(
            container.url("/invocations"),
            data=body.encode(),
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200, (content_type, response.text)
        labels[content_type] = [prediction["label"] for prediction in response.json()["predictions"]]
    assert all(found == labels["application/json"] for found in labels.values()) and len(labels["text/plain"]) == 20
    assert requests.get(container.url("/execution-parameters"), timeout=2).json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }
    logs = container.logs()
    assert "Traceback" not in logs and "Read-only file system" not in logs and "Permission denied" not in logs, logs


def test_sigterm_finishes_the_request_in_flight_and_exits_in_time(serve):
    container = serve().wait_ready()
    body = "\n".join(DATA.headlines(80000)).encode()  # about 5 MB: seconds of work, under the 6 MB limit
    request = BackgroundInvocation(container.url("/invocations"), body)
    time.sleep(0.5)
    started = time.monotonic()
    docker("stop", "-t", "30", container.name)
    stopped_after = time.monotonic() - started
    request.join()
    print(f"docker stop took {stopped_after:.1f} s")
    assert stopped_after < 30
    assert container.state()["ExitCode"] == 0, container.logs()[-3000:]
    assert request.response.status_code == 200 and len(request.response.json()["predictions"]) == 80000
    # Sent before docker stop and answered after it: the request was in flight when SIGTERM came.
    assert request.answered_at > started, "the request was answered before SIGTERM: make it longer"


def test_without_a_model_ping_is_503_with_the_reason_and_the_server_stays_up(serve, tmp_path):
    container = serve(model_dir=tmp_path)
    deadline = time.monotonic() + 60
    while container.ping() != 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    response = requests.get(container.url("/ping"), timeout=2)
    assert response.status_code == 503 and "incomplete" in response.json()["message"]
    assert container.state()["Running"]


@pytest.mark.parametrize(
    "architecture, environ",
    [("fasttext", {}), ("cnn", {}), ("fasttext", {"SAGEMAKER_BATCH": "true"})],
    ids=["fasttext", "cnn", "batch-transform"],
)
def test_pings_answer_within_a_second_while_every_worker_runs_the_largest_request(serve, architecture, environ):
    """Two workers, four requests of the largest body the endpoint accepts (6 MB; 100 MB in a batch transform): both
    workers busy throughout and two requests waiting. Sync workers answered such pings after 8 s (fasttext) and 22 s
    (cnn). The endpoint's requests must all be answered; the batch transform's are minutes of work, and are not."""
    environ = {**environ, "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    container = serve(architecture, env=environ).wait_ready().use_container_address()
    body = DATA.headlines_body(ServingEnvironment.from_environ(environ).request_limit_bytes)
    # Requests still running when the test ends fail once the serve fixture removes the container.
    latencies, invocations = pings_beside_invocations(container.url(""), body)
    print(f"/ping while both workers ran {len(body) / 2**20:.0f} MB requests: max {max(latencies) * 1000:.0f} ms")
    assert max(latencies) <= 1
    assert len(latencies) >= 10, "the first request ended before 10 pings: make the requests longer"
    if "SAGEMAKER_BATCH" not in environ:
        outcomes = [invocation.join().outcome() for invocation in invocations]
        assert outcomes == [200] * 4


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_categories=["Cc"]), max_size=40)
CONTENT_TYPES = [
    "application/json",
    "application/jsonlines",
    "text/csv",
    "text/plain",
    "text/csv; charset=utf-8",
    "application/json; charset=latin-1",
    "application/x-jsonlines",
    "multipart/form-data",
    "",
]
ACCEPTS = ["", "*/*", "application/json", "text/csv", "application/jsonlines", "application/xml", "text/*;q=0.1"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["instances", "top_k", "headline", "text"]) | st.text(max_size=5), inner, max_size=3
        )
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def fuzz_target(serve_image, models):
    container = ServeContainer(serve_image, models["fasttext"]).start().wait_ready()
    yield container
    container.remove()


FUZZ_EXAMPLES = 1200
fuzzed = []


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300).map(str.encode),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.lists(st.text(max_size=30), max_size=5).map(lambda lines: "\n".join(lines).encode()),
    ),
    # Mostly real types, so most bodies reach the parsers; sometimes anything.
    content_type=st.one_of(st.sampled_from(CONTENT_TYPES), st.sampled_from(CONTENT_TYPES[:4]), HEADER_TEXT),
    accept=st.one_of(st.sampled_from(ACCEPTS), st.sampled_from(ACCEPTS[:5]), HEADER_TEXT),
    query=st.sampled_from(["", "?top_k=2", "?top_k=0", "?top_k=x", "?top_k=99"])
    | HEADER_TEXT.map(lambda q: "?" + requests.utils.quote(q, safe="=&")),
)
def test_fuzzed_bodies_and_headers_never_make_a_5xx(fuzz_target, body, content_type, accept, query):
    # http.client, not requests: it sends odd header values (leading spaces, Latin-1) as they are.
    connection = http.client.HTTPConnection(*fuzz_target.address, timeout=10)
    try:
        connection.request(
            "POST", "/invocations" + query, body=body, headers={"Content-Type": content_type, "Accept": accept}
        )
        response = connection.getresponse()
        content = response.read()
    finally:
        connection.close()
    fuzzed.append(response.status)
    assert response.status < 500, (response.status, content)
    if response.status != 200:
        assert json.loads(content)["message"]


def test_after_fuzzing_the_server_is_healthy_and_no_worker_died(fuzz_target):
    assert len(fuzzed) >= 1000, "run the fuzz test first (same module)"
    statuses = {status: fuzzed.count(status) for status in sorted(set(fuzzed))}
    print(f"{len(fuzzed)} fuzzed requests: {statuses}")
    assert fuzz_target.ping() == 200
    logs = fuzz_target.logs()
    assert "Traceback" not in logs and "Worker exiting" not in logs and "SIGKILL" not in logs, logs[-3000:]


def test_a_worker_killed_under_load_is_replaced(serve):
    container = serve(env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}).wait_ready()
    before = container.wait_for_workers(2)
    request = http_request("localhost", "/invocations", json.dumps({"instances": DATA.headlines(1)}).encode())
    outcome = {}
    load = threading.Thread(target=lambda: outcome.update(result=run_load(container.address, request, 8, 6)))
    load.start()
    time.sleep(2)
    container.python(f"import os, signal; os.kill({before[0]}, signal.SIGKILL)")
    load.join()
    result = outcome["result"]
    print(
        f"kill -9 of worker {before[0]} during a 6 s load at concurrency 8: {result.completed} requests "
        f"answered, {result.failed} failed {result.failures}"
    )
    after = container.wait_for_workers(2)
    assert before[0] not in after
    assert result.failed <= 8, result.failures  # at most the connections the killed worker held
    assert container.ping() == 200
    again = run_load(container.address, request, 8, 2)
    assert again.failed == 0 and again.completed > 0


def test_the_word_vector_jobs_model_is_served_as_the_workshop_asked_it(serve, word_vectors):
    import fasttext

    container = serve(model_dir=word_vectors).wait_ready()
    words = ["music", "film", "zorblaxianism"]
    body = {"instances": words, "configuration": {"neighbours": 3}}
    response = requests.post(container.url("/invocations"), json=body, timeout=30)
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [row["word"] for row in rows] == words
    assert [row["source"] for row in rows] == ["in_vocabulary", "in_vocabulary", "from_subwords"]
    reference = fasttext.load_model(str(word_vectors / "vectors.bin"))
    for row in rows:
        np.testing.assert_allclose(row["vector"], reference.get_word_vector(row["word"]), atol=1e-5)
        assert len(row["neighbours"]) == 3 and row["word"] not in [n["word"] for n in row["neighbours"]]


# Multi-model endpoints: SageMaker runs the image with SAGEMAKER_MULTI_MODEL=true, places each model's files in
# /opt/ml/models/<model_name>/model and loads, invokes and unloads them through the /models routes.
MODELS_DIR = f"{contract.DEFAULT_BASE_DIR}/{contract.MULTI_MODEL_DIR}"
MULTI_MODEL = {contract.MULTI_MODEL_ENV: "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}


def _place_models(root, folders):
    """folders: {model name: model folder}, copied to root/<name>/model as SageMaker lays them out."""
    for name, folder in folders.items():
        shutil.copytree(folder, root / name / "model")
    return root


def _load(container, name):
    body = {"model_name": name, "url": f"{MODELS_DIR}/{name}/model"}
    headers = {contract.TARGET_MODEL_HEADER: f"{name}.tar.gz"}
    return requests.post(container.url("/models"), json=body, headers=headers, timeout=60)


def _invoke(container, name, headlines):
    return requests.post(container.url(f"/models/{name}/invoke"), json={"instances": headlines}, timeout=30)


def test_multi_model_endpoint_loads_invokes_lists_unloads_and_reloads(serve, serve_image, models, tmp_path):
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", serve_image).stdout)
    assert labels[contract.MULTI_MODEL_LABEL] == "true"
    root = _place_models(tmp_path / "models", {"ft": models["fasttext"], "cnn": models["cnn"]})
    container = serve(model_dir=root, mount_at=MODELS_DIR, env=MULTI_MODEL).wait_ready()  # healthy with no model
    assert requests.get(container.url("/models"), timeout=2).json() == {"models": []}
    for name in ("ft", "cnn"):
        assert _load(container, name).json() == {"modelName": name, "modelUrl": f"{MODELS_DIR}/{name}/model"}
    assert _load(container, "ft").status_code == 409
    headlines = DATA.headlines(50)
    for name, architecture in (("ft", "fasttext"), ("cnn", "cnn")):
        model = HeadlineModel.load(str(models[architecture]))
        for _ in range(6):  # a connection each: both workers answer, the second with the copy it loads lazily
            response = _invoke(container, name, headlines)
            assert response.status_code == 200, response.text
            got = [[p["probabilities"][label] for label in model.labels] for p in response.json()["predictions"]]
            np.testing.assert_allclose(got, model.predict_proba(headlines), atol=1e-5)
    first = requests.get(container.url("/models"), params={"limit": 1}, timeout=2).json()
    second = requests.get(
        container.url("/models"), params={"limit": 1, "next_page_token": first["nextPageToken"]}, timeout=2
    ).json()
    assert [page["models"][0]["modelName"] for page in (first, second)] == ["cnn", "ft"]
    assert "nextPageToken" not in second
    assert requests.get(container.url("/models/ft"), timeout=2).json()["modelUrl"] == f"{MODELS_DIR}/ft/model"
    assert requests.delete(container.url("/models/ft"), timeout=30).status_code == 200
    assert _invoke(container, "ft", headlines).status_code == 404
    assert requests.get(container.url("/models/ft"), timeout=2).status_code == 404
    assert [m["modelName"] for m in requests.get(container.url("/models"), timeout=2).json()["models"]] == ["cnn"]
    assert _load(container, "ft").status_code == 200  # loaded again after its unload
    assert _invoke(container, "ft", headlines).status_code == 200
    assert requests.post(container.url("/invocations"), json=headlines, timeout=2).status_code == 404
    logs = container.logs()
    assert "target model 'ft.tar.gz'" in logs and logs.count("dropped its copy of model ft") >= 1
    assert "Traceback" not in logs, logs[-3000:]


@pytest.fixture(scope="module")
def large_model(cpu_image, tmp_path_factory):
    """A fasttext model with 64 MB of weights (10^6 n-gram buckets x 16), so that memory limits are easy to place."""
    fake = FakeSageMaker(tmp_path_factory.mktemp("large"))
    fake.add_channel("train", {"train.tsv": DATA.train_rows(1200)})
    fake.write_config(dict(SMALL_MODEL, ngram_buckets=1_000_000, epochs=1))
    result = docker("run", "--rm", "-v", f"{fake.base}:/opt/ml", cpu_image, "train", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    return fake.model_dir


def test_multi_model_endpoint_answers_507_when_a_third_copy_does_not_fit_and_keeps_serving(
    serve, large_model, tmp_path
):
    """The limit is set once two copies are loaded, from what the container reports it has left: its idle
    footprint differs from machine to machine, the estimate of the third copy does not."""
    root = _place_models(tmp_path / "models", {name: large_model for name in ("m1", "m2", "m3")})
    limit = 1024 * 2**20
    container = serve(
        model_dir=root,
        mount_at=MODELS_DIR,
        env=MULTI_MODEL,
        docker_options=["--memory", str(limit), "--memory-swap", str(limit)],
    ).wait_ready()
    for name in ("m1", "m2"):
        assert _load(container, name).status_code == 200
        assert _invoke(container, name, DATA.headlines(10)).status_code == 200
    workers = container.wait_for_workers(2)
    weights, copy = multi_model.estimate(str(root / "m3" / "model"))
    need = weights + 2 * copy
    available = int(container.python("from headlines.serving.memory import available_bytes; print(available_bytes())"))
    # Leave the third copy half of what it needs, beyond the loaded weights and the requests' reserve of both workers.
    limit -= available - 2 * weights - 2 * multi_model.PASS_RESERVE - need // 2
    docker("update", "--memory", str(limit), "--memory-swap", str(limit), container.name)
    response = _load(container, "m3")
    assert response.status_code == 507, response.text
    assert "needs an estimated" in response.json()["message"]
    for name in ("m1", "m2"):
        assert _invoke(container, name, DATA.headlines(10)).status_code == 200
    # SageMaker's answer to a 507: unload the least recently used model, then load again, until the load fits.
    unloaded = []
    while (response := _load(container, "m3")).status_code == 507 and len(unloaded) < 2:
        unloaded.append(["m1", "m2"][len(unloaded)])
        assert requests.delete(container.url(f"/models/{unloaded[-1]}"), timeout=30).status_code == 200
    assert response.status_code == 200, response.text
    print(f"507 for a third copy; m3 loaded after unloading {unloaded}")
    assert _invoke(container, "m3", DATA.headlines(10)).status_code == 200
    assert container.wait_for_workers(2) == workers and not container.state()["OOMKilled"]
    assert "SIGKILL" not in container.logs(), container.logs()[-3000:]


def test_multi_model_endpoint_as_a_non_root_user_on_a_read_only_filesystem(serve, models, tmp_path):
    root = _place_models(tmp_path / "models", {"ft": models["fasttext"]})
    container = serve(model_dir=root, mount_at=MODELS_DIR, env=MULTI_MODEL, docker_options=LOCKED_DOWN).wait_ready()
    assert _load(container, "ft").status_code == 200
    for _ in range(4):  # a connection each: both workers answer, one with the copy it loads lazily
        assert _invoke(container, "ft", DATA.headlines(5)).status_code == 200
    assert requests.delete(container.url("/models/ft"), timeout=30).status_code == 200
    assert _invoke(container, "ft", DATA.headlines(5)).status_code == 404
    logs = container.logs()
    assert "Traceback" not in logs and "Read-only file system" not in logs and "Permission denied" not in logs, logs
