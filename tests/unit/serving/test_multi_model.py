"""Multi-model endpoints in-process: the shared registry, the memory estimate and the /models routes (Flask test
client), with gunicorn's workers simulated as apps of their own on one registry folder."""

import errno
import json
import pathlib
import shutil
import struct
import threading

import numpy as np
import pytest

from headlines.classifier.mxnet_model import HeadlineModel
from headlines.environment import ServingEnvironment
from headlines.serving import multi_model
from headlines.serving.app import create_app
from headlines.serving.multi_model import Entry, Registry, WorkerModels
from headlines.serving.snapshots import WeightSnapshots
from headlines.serving.word_vectors import WordVectorPredictor
from tests.support.fake_sagemaker import train_small_model, train_small_word_vectors
from tests.support.responses import assert_json_error

HEADLINES = ["Fed raises interest rates again", "Kim Kardashian wedding photos", "Apple unveils new iPhone"]
PLENTY = 1 << 40


@pytest.fixture(scope="module", autouse=True)
def opt_ml(tmp_path_factory):
    """The simulated workers' /opt/ml (SAGEMAKER_BASE_DIR): they load models from its models folder only."""
    base = tmp_path_factory.mktemp("opt_ml")
    (base / "models").mkdir()
    Worker.environ = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_BASE_DIR": str(base)}
    return base


@pytest.fixture(scope="module")
def folders(opt_ml):
    """Model folders where SageMaker places them: a fasttext and a cnn classifier, and the word-vector job's
    vectors."""
    models = opt_ml / "models"
    return {
        "fasttext": str(train_small_model(models / "fasttext", "fasttext")),
        "cnn": str(train_small_model(models / "cnn", "cnn")),
        "vectors": str(train_small_word_vectors(models / "vectors")),
    }


@pytest.fixture
def registry():
    registry = Registry.create()
    yield registry
    registry.destroy()


class Worker:
    """One simulated gunicorn worker: its WorkerModels and its Flask test client."""

    environ = {"SAGEMAKER_MULTI_MODEL": "true"}  # and SAGEMAKER_BASE_DIR, from the opt_ml fixture

    def __init__(self, registry, pid, workers=2, available=lambda: PLENTY, **options):
        self.models = WorkerModels(registry, workers, available=available, pid=pid, **options)
        settings = ServingEnvironment.from_environ(self.environ, cpu_count=workers)
        self.client = create_app(settings, models=self.models).test_client()

    def load(self, name, url, **headers):
        return self.client.post("/models", json={"model_name": name, "url": url}, headers=headers)

    def invoke(self, name, body, **options):
        return self.client.post(
            f"/models/{name}/invoke", data=json.dumps(body), content_type="application/json", **options
        )


@pytest.fixture
def workers(registry):
    return Worker(registry, 101), Worker(registry, 102)


def _probabilities(response, labels):
    return np.array([[p["probabilities"][label] for label in labels] for p in response.get_json()["predictions"]])


def test_ping_is_200_with_no_model_and_invocations_points_to_the_invoke_route(workers):
    a, _ = workers
    response = a.client.get("/ping")
    assert response.status_code == 200 and response.data == b""
    assert_json_error(
        a.client.post("/invocations", json=HEADLINES), 404, "multi-model endpoint", "/models/<model_name>/invoke"
    )
    assert a.client.get("/models").get_json() == {"models": []}


def test_classifiers_of_both_architectures_and_word_vectors_side_by_side(workers, folders):
    a, b = workers
    for name, folder in folders.items():
        response = a.load(name, folder, **{"X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"})
        assert response.status_code == 200 and response.get_json() == {"modelName": name, "modelUrl": folder}
    for name in ("fasttext", "cnn"):
        model = HeadlineModel.load(folders[name])
        for worker in workers:  # b loads its own copy at its first invocation
            response = worker.invoke(name, {"instances": HEADLINES})
            assert response.status_code == 200, response.data
            np.testing.assert_allclose(
                _probabilities(response, model.labels), model.predict_proba(HEADLINES), atol=1e-5
            )
        csv = b.client.post(
            f"/models/{name}/invoke?top_k=2",
            data="\n".join(HEADLINES),
            content_type="text/plain",
            headers={"Accept": "text/csv"},
        )
        assert csv.mimetype == "text/csv" and [len(row.split(",")) for row in csv.data.decode().splitlines()] == [4] * 3
    words = {"instances": ["music", "film"], "configuration": {"neighbours": 2}}
    expected = WordVectorPredictor.load(folders["vectors"]).answer(words["instances"], 2)
    for worker in workers:
        assert worker.invoke("vectors", words).get_json() == json.loads(json.dumps(expected))
    assert_json_error(b.invoke("vectors", {"instances": ["music"]}, headers={"Accept": "text/csv"}), 406)
    assert_json_error(a.invoke("cnn", {"instances": []}), 400, "no headlines")


def test_the_list_and_a_models_entry_agree_in_every_worker(workers, folders):
    a, b = workers
    a.load("cnn", folders["cnn"])
    b.load("fasttext", folders["fasttext"])
    listed = [
        {"modelName": "cnn", "modelUrl": folders["cnn"]},
        {"modelName": "fasttext", "modelUrl": folders["fasttext"]},
    ]
    for worker in workers:
        assert worker.client.get("/models").get_json() == {"models": listed}
        assert worker.client.get("/models/cnn").get_json() == listed[0]
        assert_json_error(worker.client.get("/models/nothing"), 404, "nothing is not loaded")


def test_the_list_comes_in_pages_of_limit_models(workers, registry):
    a, _ = workers
    names = [f"model-{i:02d}" for i in range(7)]
    for name in reversed(names):
        assert registry.add(Entry(name, f"/opt/ml/models/{name}/model", name, 1, 1))
    pages, token = [], None
    while True:
        query = {"limit": 3} | ({"next_page_token": token} if token else {})
        page = a.client.get("/models", query_string=query).get_json()
        pages.append([model["modelName"] for model in page["models"]])
        token = page.get("nextPageToken")
        if token is None:
            break
        registry.remove(names[0])  # a model unloaded between pages moves no other model across a page boundary
    assert pages == [names[:3], names[3:6], names[6:]]
    assert len(a.client.get("/models").get_json()["models"]) == 6  # at most 100 a page by default
    assert "nextPageToken" not in a.client.get("/models", query_string={"limit": 6}).get_json()


@pytest.mark.parametrize(
    "query,fragment",
    [
        ({"limit": 0}, "limit must be a whole number from 1 to 100"),
        ({"limit": 101}, "from 1 to 100"),
        ({"limit": "ten"}, "from 1 to 100"),
        ({"next_page_token": "not a token!"}, "is not a nextPageToken this endpoint gave"),
    ],
)
def test_bad_list_parameters_are_a_400(workers, query, fragment):
    assert_json_error(workers[0].client.get("/models", query_string=query), 400, fragment)


def test_a_loaded_name_is_a_409_in_every_worker(workers, folders):
    a, b = workers
    assert a.load("m", folders["cnn"]).status_code == 200
    for worker in workers:
        assert_json_error(worker.load("m", folders["fasttext"]), 409, "m is already loaded")
    assert b.client.get("/models/m").get_json()["modelUrl"] == folders["cnn"]


def test_of_two_registrations_of_one_name_exactly_one_wins(registry):
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(registry.add(Entry("m", f"/m/{i}", str(i), 1, 1))))
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]
    assert [entry.name for entry in registry.entries()] == ["m"]


@pytest.mark.parametrize(
    "body,fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1]", "The body is a list"),
        ('{"url": "/opt/ml/models/m/model"}', '"model_name" must be 1 to 1024 printable characters'),
        ('{"model_name": "a/b", "url": "/opt/ml/models/m/model"}', 'without "/"'),
        ('{"model_name": "a\\nb", "url": "/opt/ml/models/m/model"}', "printable characters"),
        ('{"model_name": "a\\u001b[31m", "url": "/opt/ml/models/m/model"}', "printable characters"),
        ('{"model_name": " a", "url": "/opt/ml/models/m/model"}', "not starting with a space"),
        ('{"model_name": "\\ud800", "url": "/opt/ml/models/m/model"}', "printable characters"),
        ('{"model_name": "%s", "url": "/opt/ml/models/m/model"}' % ("m" * 1025), "1 to 1024"),
        ('{"model_name": "m", "url": "/opt/ml/models/m\\u0000/model"}', '"url" must be'),
        ("[" * 100_000, "nested too deep"),
        ('{"model_name": "m"}', '"url" must be the model folder\'s absolute path'),
        ('{"model_name": "m", "url": "models/m/model"}', "absolute path"),
    ],
)
def test_bad_load_bodies_are_a_400(workers, body, fragment):
    assert_json_error(workers[0].client.post("/models", data=body, content_type="application/json"), 400, fragment)


def test_a_url_that_is_not_a_model_folder_is_a_4xx_that_says_why(workers, opt_ml):
    a, _ = workers
    assert_json_error(a.load("m", str(opt_ml / "models" / "missing")), 404, "no model folder at")
    (opt_ml / "models" / "text").mkdir()
    (opt_ml / "models" / "text" / "readme.txt").write_text("not a model")
    assert_json_error(
        a.load("m", str(opt_ml / "models" / "text")),
        422,
        "does not hold a model this image serves",
        "model-symbol.json",
    )
    assert a.client.get("/models").get_json() == {"models": []}


def test_a_url_outside_the_models_folder_is_the_same_404_whether_it_exists_or_not(workers, folders, opt_ml, tmp_path):
    a, _ = workers
    (tmp_path / "readme.txt").write_text("not a model")
    (opt_ml / "models" / "elsewhere").symlink_to(tmp_path)
    outside = [str(tmp_path), str(tmp_path / "missing"), "/", "/etc", folders["cnn"] + "/../../../..", str(opt_ml)]
    messages = set()
    for url in outside + [str(opt_ml / "models" / "elsewhere")]:
        response = a.load("m", url)
        assert_json_error(response, 404, "no model folder at", "in " + str(opt_ml / "models"))
        messages.add(response.get_json()["message"].replace(f"at {url} in", "at URL in"))
    assert len(messages) == 1
    assert a.client.get("/models").get_json() == {"models": []}


def test_the_estimate_is_the_weights_once_and_the_other_files_per_worker(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "model-0000.params").write_bytes(b"x" * 1000)
    (tmp_path / "vocabulary.json").write_bytes(b"x" * 100)
    (tmp_path / "sub" / "b.json").write_bytes(b"x" * 24)
    assert multi_model.estimate(str(tmp_path)) == (1000, 124 * multi_model.COPY_FACTOR)


def _need(folder, workers):
    shared, copy = multi_model.estimate(folder)
    return shared + workers * (copy + multi_model.PASS_RESERVE)


def test_a_model_that_does_not_fit_in_every_worker_is_a_507(registry, folders):
    need = _need(folders["cnn"], 3)
    short = Worker(registry, 101, workers=3, available=lambda: need - 1)
    assert_json_error(short.load("m", folders["cnn"]), 507, "needs an estimated", "in each of 3 workers")
    assert short.client.get("/models").get_json() == {"models": []}
    assert Worker(registry, 102, workers=3, available=lambda: need).load("m", folders["cnn"]).status_code == 200


def test_loaded_models_weights_and_the_copies_workers_have_yet_to_load_count_as_used(registry, folders):
    available = PLENTY
    a, b = (Worker(registry, pid, available=lambda: available) for pid in (101, 102))
    assert a.load("fasttext", folders["fasttext"]).status_code == 200
    weights, copy = multi_model.estimate(folders["fasttext"])
    available = _need(folders["cnn"], 2) + weights + copy - 1  # enough once b holds its copy of fasttext
    assert_json_error(a.load("cnn", folders["cnn"]), 507, "of loaded models' weights", "that workers have yet to load")
    assert b.invoke("fasttext", HEADLINES).status_code == 200  # b's copy: nothing is promised any more
    available -= copy
    assert_json_error(a.load("cnn", folders["cnn"]), 507)
    available += 1
    assert a.load("cnn", folders["cnn"]).status_code == 200


@pytest.mark.parametrize("failure", [MemoryError(), OSError(errno.ENOMEM, "Cannot allocate memory")])
def test_running_out_of_memory_while_loading_is_a_507(registry, folders, failure):
    def loader(url, copies):
        raise failure

    worker = Worker(registry, 101, loader=loader)
    assert_json_error(worker.load("m", folders["cnn"]), 507, "ran out of memory")
    assert registry.entries() == [] and registry.copy_counts() == {}


def test_a_model_that_fails_to_load_is_a_500_with_the_reason(registry, folders, caplog):
    def loader(url, copies):
        raise RuntimeError("the params file is corrupt")

    assert_json_error(Worker(registry, 101, loader=loader).load("m", folders["cnn"]), 500, "corrupt")
    assert "loading model m" in caplog.text


def test_unknown_models_are_404_for_invoke_describe_and_unload(workers):
    a, _ = workers
    assert_json_error(a.invoke("nothing", HEADLINES), 404, "nothing is not loaded")
    assert_json_error(a.client.get("/models/nothing"), 404)
    assert_json_error(a.client.delete("/models/nothing"), 404)


def _follow(worker, stop):
    while not stop.wait(0.01):
        worker.models.follow()


def test_an_unload_answers_once_every_worker_dropped_its_copy(workers, folders, registry):
    a, b = workers
    assert a.load("m", folders["fasttext"]).status_code == 200
    assert b.invoke("m", HEADLINES).status_code == 200
    entry = registry.get("m")
    assert registry.holders(entry) == {101, 102}
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(b, stop))
    follower.start()
    try:
        response = a.client.delete("/models/m")
    finally:
        stop.set()
        follower.join()
    assert response.status_code == 200 and response.get_json() == {"modelName": "m", "modelUrl": folders["fasttext"]}
    assert registry.holders(entry) == set() and registry.copy_counts() == {}
    for worker in workers:
        assert_json_error(worker.invoke("m", HEADLINES), 404)
        assert worker.client.get("/models").get_json() == {"models": []}


def test_a_model_loaded_again_under_its_name_replaces_every_workers_copy(registry, folders):
    a, b = (Worker(registry, pid, unload_wait=0) for pid in (101, 102))  # b follows only when it is asked
    cnn = HeadlineModel.load(folders["cnn"])
    assert a.load("m", folders["fasttext"]).status_code == 200
    assert b.invoke("m", HEADLINES).status_code == 200  # b holds a copy of the fasttext model
    assert a.client.delete("/models/m").status_code == 200
    assert a.load("m", folders["cnn"]).status_code == 200
    for worker in (a, b):
        response = worker.invoke("m", {"instances": HEADLINES})
        np.testing.assert_allclose(_probabilities(response, cnn.labels), cnn.predict_proba(HEADLINES), atol=1e-5)
    assert sum(registry.copy_counts().values()) == 2  # b dropped its copy of the fasttext model


def test_a_worker_that_exits_holds_no_copies(registry):
    entry = Entry("m", "/opt/ml/models/m/model", "1", 1, 1)
    registry.add(entry)
    registry.hold(entry, 101)
    registry.hold(entry, 102)
    registry.forget_worker(101)
    assert registry.holders(entry) == {102}


def test_the_registry_lives_in_shared_memory_and_is_removed_at_exit():
    registry = Registry.create()
    assert registry.folder.startswith("/dev/shm/")
    registry.destroy()
    with pytest.raises(FileNotFoundError):
        registry.entries()


def test_a_weights_file_with_a_negative_dimension_is_a_422(workers, folders, opt_ml):
    broken = opt_ml / "models" / "negative" / "model"
    shutil.copytree(folders["cnn"], broken)
    params = broken / "model-0000.params"
    data = bytearray(params.read_bytes())
    data[36:44] = struct.pack("<q", -1)  # the first array's first dimension: after the list's and array's headers
    params.write_bytes(bytes(data))
    assert_json_error(workers[0].load("m", str(broken)), 422, "model-0000.params is not a valid parameters file")


def test_workers_map_one_copy_of_a_loaded_models_weights_and_the_unload_removes_it(registry, folders, tmp_path):
    snapshots = WeightSnapshots(str(tmp_path))
    a, b = Worker(registry, 101, snapshots=snapshots), Worker(registry, 102, snapshots=snapshots)
    for name in ("fasttext", "vectors"):
        assert a.load(name, folders[name]).status_code == 200
        assert b.invoke(name, {"instances": ["rates"]}).status_code == 200  # b's copy, from the same files
    copied = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    ids = {entry.name: entry.id for entry in registry.entries()}
    assert copied == sorted([".lock", f"{ids['fasttext']}/model-0000.params", f"{ids['vectors']}/vectors.bin"])
    for name in ("fasttext", "vectors"):
        assert a.client.delete(f"/models/{name}").status_code == 200
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lock"]


def test_a_model_that_fails_to_load_leaves_no_copies(registry, folders, tmp_path):
    broken = pathlib.Path(folders["cnn"]).parent.parent / "broken" / "model"  # in the models folder
    shutil.copytree(folders["cnn"], broken)
    (broken / "model-0000.params").write_bytes(b"not MXNet")
    snapshots = WeightSnapshots(str(tmp_path / "snapshots"))
    (tmp_path / "snapshots").mkdir()
    try:
        assert_json_error(Worker(registry, 101, snapshots=snapshots).load("m", str(broken)), 422, "model-0000.params")
    finally:
        shutil.rmtree(broken.parent)
    assert sorted(path.name for path in (tmp_path / "snapshots").iterdir()) == [".lock"]
