"""The picture the workshop drew of its BlazingText vectors: the most frequent words on a 2-D map of their vectors,
written to /opt/ml/output/data so a person can see at a glance whether related words sit together."""

import re
from collections.abc import Iterable, Sequence

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # no display in a training container
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

WORD_MAP_FILE = "word-map.png"
# Enough words to see neighbourhoods, few enough that every label finds a free place: on the demo's map (four tight
# topic clusters) all 150 do, and the check of it is tests/unit/word_vectors/test_word_map.py.
MAP_WORDS = 150
FIGURE_INCHES = (14.0, 11.0)
DPI = 100  # placement is done in pixels of this resolution, and the PNG is saved at it
LABEL_FONT_SIZE = 8
LABEL_GID = "word-label"  # marks the word labels among the figure's texts (title and axis labels are texts too)
LABEL_PAD = 1.5  # pixels of clear space kept around each label, so that no two labels touch
POINT_HALF_SIDE = 2.5  # pixels: half the side of the square a word's marker covers, which labels keep off
# Distances (pixels) from its point at which a label is tried, nearest first. Words of a topic sit in a tight
# cluster, so most of its labels go around the cluster, up to about a sixth of the figure's width away.
RADII = (2.0, 8.0, 16.0, 26.0, 38.0, 52.0, 68.0, 86.0, 106.0, 128.0, 152.0, 178.0, 206.0)
LEADER_FROM = 10.0  # pixels: a label set further than this from its point gets a thin line to it
# A label hides the grid and the lines to other labels that pass under it (its box, not a margin around it).
_LABEL_BACKGROUND = {"boxstyle": "square,pad=0", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
Boxes = npt.NDArray[np.float64]  # rows of (x0, y0, x1, y1) in pixels
_HAS_LETTER = re.compile(r"[^\W\d_]")


def words_to_map(words: Iterable[str], count: int = MAP_WORDS) -> list[str]:
    """The first `count` words (the vocabulary is in descending frequency) that contain a letter: punctuation,
    numbers and fastText's end-of-sentence token say nothing on a map."""
    return [word for word in words if word != "</s>" and _HAS_LETTER.search(word)][:count]


def principal_components(vectors: np.ndarray, dimensions: int = 2) -> npt.NDArray[np.float64]:
    """vectors projected on their first principal components (PCA by SVD of the centred matrix). The sign of each
    component is fixed (its largest coordinate positive), so the same vectors always give the same map."""
    centred = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:dimensions]
    signs = np.sign(components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)])
    return centred @ (components * signs[:, None]).T


def unit_rows(vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Each vector scaled to length 1 (zero vectors stay zero): the map shows directions, which cosine similarity
    compares, so that one long vector cannot squeeze every other word into a corner."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


def plot_word_map(words: Sequence[str], vectors: npt.ArrayLike, path: str, title: str) -> str:
    """The word map saved as a PNG at path (the word-vector job's picture of its vectors)."""
    figure = draw_word_map(words, vectors, title)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def draw_word_map(words: Sequence[str], vectors: npt.ArrayLike, title: str, avoid_overlap: bool = True) -> Figure:
    """A scatter of the words at the 2-D PCA coordinates of their unit vectors, labelled so that no two labels
    overlap: a word whose label finds no free place keeps its point, in grey, without a label. avoid_overlap=False
    puts every label just right of its point, as the first map did (the tests' example of unreadable labels)."""
    points = principal_components(unit_rows(vectors))
    figure, axis = _empty_map(points, title)
    texts = [
        axis.text(x, y, word, fontsize=LABEL_FONT_SIZE, ha="left", va="bottom", gid=LABEL_GID, bbox=_LABEL_BACKGROUND)
        for word, (x, y) in zip(words, points)
    ]
    labelled = _place_labels(figure, axis, texts, axis.transData.transform(points), avoid_overlap)
    colours = np.where(labelled, "tab:blue", "0.6")
    axis.scatter(points[:, 0], points[:, 1], s=8, c=list(colours), alpha=0.8, zorder=3)
    return figure


def _empty_map(points: npt.NDArray[np.float64], title: str) -> tuple[Figure, Axes]:
    """The figure and its axes with their final limits and layout, so that data-to-pixel positions no longer move
    while labels are placed."""
    figure, axis = plt.subplots(figsize=FIGURE_INCHES, dpi=DPI)
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.05 * np.maximum(high - low, 1e-9)
    axis.set(xlim=(low[0] - margin[0], high[0] + margin[0]), ylim=(low[1] - margin[1], high[1] + margin[1]))
    axis.set(title=title, xlabel="first principal component", ylabel="second principal component")
    axis.grid(alpha=0.2)
    figure.tight_layout()
    return figure, axis


def _place_labels(
    figure: Figure, axis: Axes, texts: Sequence[Text], pixels: npt.NDArray[np.float64], avoid: bool
) -> list[bool]:
    """Each label in turn (most frequent word first) at the nearest candidate place that stays inside the axes and
    clear of every other point and of the labels placed before it; a label with no such place is removed. Returns
    which words are labelled. (Keeping labels off the lines to other labels too was tried: on the demo's map it left
    a seventh of the words unlabelled and drew longer lines, for thin grey lines that do not hide a word.)"""
    renderer = _renderer(figure)
    inside = np.array(axis.bbox.extents)
    points = _squares(pixels, POINT_HALF_SIDE)
    placed = np.empty((0, 4))
    leaders: list[npt.NDArray[np.float64]] = []
    labelled: list[bool] = []
    for index, (text, pixel) in enumerate(zip(texts, pixels)):
        extent = text.get_window_extent(renderer)
        candidates = _candidate_boxes(pixel, extent.width, extent.height, RADII if avoid else ())
        if avoid:
            obstacles = np.vstack([np.delete(points, index, axis=0), placed])
            candidates = candidates[_free(candidates, inside, obstacles)]
        labelled.append(len(candidates) > 0)
        if not labelled[-1]:
            text.remove()
            continue
        box = candidates[0]
        x, y = axis.transData.inverted().transform(box[:2] - (extent.x0, extent.y0) + pixel)
        text.set_position((x, y))
        placed = np.vstack([placed, box])
        if _distance(pixel, box) > LEADER_FROM:
            leaders.append(np.array([pixel, np.clip(pixel, box[:2], box[2:])]))
    _draw_leaders(axis, leaders)
    return labelled


def _squares(centres: npt.NDArray[np.float64], half_side: float) -> Boxes:
    """Boxes of the given half side around the centres: what the words' markers cover."""
    return np.hstack([centres - half_side, centres + half_side])


def _candidate_boxes(pixel: npt.NDArray[np.float64], width: float, height: float, radii: Sequence[float]) -> Boxes:
    """Boxes of the label's size around its point, ring by ring outwards (8 directions on the near rings, 16 on
    the far ones, each ring starting to the right); with no radii only the first map's place, just right of and
    above the point."""
    offsets = [np.array([4.0, 3.0])]
    for radius in radii:
        angles = np.linspace(0, 2 * np.pi, 8 if radius < 20 else 16, endpoint=False)
        directions = np.column_stack([np.cos(angles), np.sin(angles)])
        square = directions / np.max(np.abs(directions), axis=1, keepdims=True)
        centres = radius * directions + square * (width / 2, height / 2)
        offsets.extend(centres - (width / 2, height / 2))
    lower_left = pixel + np.array(offsets)
    return np.hstack([lower_left, lower_left + (width, height)])


def _free(candidates: Boxes, inside: npt.NDArray[np.float64], obstacles: Boxes) -> npt.NDArray[np.bool_]:
    """Which candidate boxes lie inside the axes and, with LABEL_PAD to spare, touch no obstacle."""
    within = np.all(candidates[:, :2] >= inside[:2] + LABEL_PAD, axis=1) & np.all(
        candidates[:, 2:] <= inside[2:] - LABEL_PAD, axis=1
    )
    padded = candidates + (-LABEL_PAD, -LABEL_PAD, LABEL_PAD, LABEL_PAD)
    return within & ~np.any(_intersections(padded, obstacles) > 0, axis=1)


def _intersections(boxes: Boxes, others: Boxes) -> npt.NDArray[np.float64]:
    """The area each box shares with each of the others (a len(boxes) x len(others) matrix)."""
    low = np.maximum(boxes[:, None, :2], others[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    return np.prod(np.clip(high - low, 0, None), axis=2)


def _distance(pixel: npt.NDArray[np.float64], box: npt.NDArray[np.float64]) -> float:
    """How far the point is from the nearest edge of its label's box (0 inside it): whether it needs a line."""
    return float(np.linalg.norm(pixel - np.clip(pixel, box[:2], box[2:])))


def _draw_leaders(axis: Axes, leaders: Sequence[npt.NDArray[np.float64]]) -> None:
    """Thin grey lines from points to labels set away from them, so that each label still names its point."""
    if leaders:
        segments = [axis.transData.inverted().transform(leader) for leader in leaders]
        axis.add_collection(LineCollection(segments, colors="0.55", linewidths=0.5, alpha=0.7, zorder=1))


def label_boxes(figure: Figure) -> Boxes:
    """The pixel boxes (x0, y0, x1, y1) of the word labels as drawn, read back from the figure's text artists, so
    that a check measures what a reader sees."""
    renderer = _renderer(figure)
    texts = [text for axis in figure.axes for text in axis.texts if text.get_gid() == LABEL_GID]
    extents = [text.get_window_extent(renderer).extents for text in texts]
    return np.array(extents, dtype=np.float64).reshape(-1, 4)


def _renderer(figure: Figure) -> RendererAgg:
    """The renderer that measures texts as the PNG draws them (the map's figures are Agg's)."""
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        raise TypeError(f"the word map draws with Agg, not {type(canvas).__name__}")
    return canvas.get_renderer()


def overlap_area(boxes: Boxes) -> float:
    """The total area (pixels squared) that pairs of boxes share: 0 when no two labels overlap."""
    shared = np.triu(_intersections(boxes, boxes), k=1)
    return float(shared.sum())
