"""The word-vector job's picture: which words, the PCA that places them, labels that never overlap (measured on
the map of the demo's own vectors), the PNG."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from headlines.cli.train import main
from headlines.word_vectors.cpu import training as cpu_training
from headlines.word_vectors.word_map import (
    MAP_WORDS,
    draw_word_map,
    label_boxes,
    overlap_area,
    plot_word_map,
    principal_components,
    unit_rows,
    words_to_map,
)
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.repo import load_script
from tests.support.word_vectors import read_text_vectors

pytestmark = pytest.mark.usefixtures("default_sigterm")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Of the demo map's 150 words, all are labelled (measured); a few may go unlabelled if the vectors change.
DEMO_LABELS_AT_LEAST = 135


def test_the_map_shows_the_most_frequent_words_that_have_letters():
    vocabulary = ["</s>", "the", ",", "1990", "of", "_", "café", "won't"] + [f"w{i}" for i in range(300)]
    words = words_to_map(vocabulary)
    assert words[:5] == ["the", "of", "café", "won't", "w0"]
    assert len(words) == MAP_WORDS and words_to_map(vocabulary, count=3) == ["the", "of", "café"]
    assert words_to_map(["</s>", ".", "42"]) == []


def test_principal_components_find_the_direction_the_vectors_spread_along():
    rng = np.random.default_rng(0)
    spread, direction = rng.normal(size=200), rng.normal(size=16)
    vectors = 5 + np.outer(spread, direction / np.linalg.norm(direction)) + 0.01 * rng.normal(size=(200, 16))
    points = principal_components(vectors)
    assert points.shape == (200, 2)
    assert abs(np.corrcoef(points[:, 0], spread)[0, 1]) > 0.999
    assert np.var(points[:, 1]) < 0.001 * np.var(points[:, 0])
    np.testing.assert_allclose(principal_components(vectors * 1.0), points)  # the signs are fixed


def test_the_map_compares_directions_so_one_long_vector_does_not_squeeze_the_rest():
    rows = unit_rows([[3.0, 4.0], [0.0, 0.0], [0.0, -0.5]])
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])


def test_plot_word_map_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    words = [f"word{i}" for i in range(30)]
    path = plot_word_map(words, rng.normal(size=(30, 8)), tmp_path / "word-map.png", "test map")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000


@pytest.fixture(scope="module")
def demo_map(tmp_path_factory):
    """The words and vectors the demo's word map shows: the job, in-process, on the demo's corpus
    (scripts/make_demo_data.py) with the demo's hyperparameters (scripts/demo.py), where every topic is a tight
    cluster. One thread, so that the vectors, and the map, are the same every run."""
    folder = tmp_path_factory.mktemp("demo")
    fake = FakeSageMaker(folder / "opt_ml")
    fake.add_channel("train", {"corpus.txt": load_script("make_demo_data").write_demo_data(folder)["corpus"]})
    fake.write_config(load_script("demo").WORD_VECTOR_HYPERPARAMETERS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGEMAKER_BASE_DIR", str(fake.base))
        patch.setenv("SM_NUM_GPUS", "0")
        patch.setattr(cpu_training, "cpu_threads", lambda: 1)
        assert main([]) == 0, fake.failure_file.read_text()
    vectors = read_text_vectors(fake.model_dir)
    words = words_to_map(vectors)
    return words, np.array([vectors[word] for word in words])


@pytest.fixture
def figures():
    """Figures a test draws, closed after it."""
    drawn = []
    yield drawn
    for figure in drawn:
        plt.close(figure)


def test_no_two_labels_overlap_on_the_demo_map(demo_map, figures, tmp_path):
    words, vectors = demo_map
    figure = draw_word_map(words, vectors, "demo")
    figures.append(figure)
    boxes = label_boxes(figure)
    assert len(words) == MAP_WORDS and DEMO_LABELS_AT_LEAST <= len(boxes) <= len(words)
    assert overlap_area(boxes) == 0
    axis = figure.axes[0]
    assert np.all(boxes[:, :2] >= axis.bbox.extents[:2]) and np.all(boxes[:, 2:] <= axis.bbox.extents[2:])
    labels = [text.get_text() for text in axis.texts if text.get_gid() == "word-label"]
    assert set(labels) <= set(words) and len(set(labels)) == len(labels)
    figure.savefig(tmp_path / "map.png")  # the saved picture is the one measured
    np.testing.assert_allclose(label_boxes(figure), boxes)


def test_the_check_sees_the_overlap_of_labels_drawn_at_their_points(demo_map, figures):
    """The mutant: the first map's labels, each just right of its point, pile up inside the topic clusters."""
    words, vectors = demo_map
    figure = draw_word_map(words, vectors, "demo", avoid_overlap=False)
    figures.append(figure)
    boxes = label_boxes(figure)
    assert len(boxes) == len(words)
    assert overlap_area(boxes) > 1000  # square pixels; measured about 40,000


def test_a_label_with_no_free_place_is_left_out_rather_than_overlapping(figures):
    rng = np.random.default_rng(2)
    words = [f"a-rather-long-word-{i}" for i in range(250)]
    figure = draw_word_map(words, rng.normal(size=(250, 8)), "crowded")
    figures.append(figure)
    boxes = label_boxes(figure)
    assert 50 < len(boxes) < len(words) and overlap_area(boxes) == 0


def test_the_map_is_the_same_every_time(figures):
    rng = np.random.default_rng(3)
    words, vectors = [f"word{i}" for i in range(80)], rng.normal(size=(80, 8))
    figures.extend(draw_word_map(words, vectors, "again") for _ in range(2))
    np.testing.assert_array_equal(label_boxes(figures[0]), label_boxes(figures[1]))


def test_overlap_area_adds_what_each_pair_of_boxes_shares():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [8, 0, 20, 2], [10, 20, 12, 30]], float)
    # first and second share 5 x 5, first and third 2 x 2, second and third nothing; the fourth is apart
    assert overlap_area(boxes) == 29
    assert overlap_area(np.array([[0, 0, 10, 10], [10, 0, 20, 10]], float)) == 0  # side by side
    assert overlap_area(np.empty((0, 4))) == 0
