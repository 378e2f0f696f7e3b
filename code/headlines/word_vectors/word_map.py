"""The picture the workshop drew of its BlazingText vectors: the most frequent words on a 2-D map of their vectors,
written to /opt/ml/output/data so a person can see at a glance whether related words sit together."""

import re
from collections.abc import Iterable, Sequence

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # no display in a training container
import matplotlib.pyplot as plt  # noqa: E402

WORD_MAP_FILE = "word-map.png"
# Enough words to see neighbourhoods, few enough that their labels stay readable on one figure.
MAP_WORDS = 150
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
    """A scatter of the words at the 2-D PCA coordinates of their unit vectors, each labelled, saved as a PNG."""
    points = principal_components(unit_rows(vectors))
    figure, axis = plt.subplots(figsize=(14, 11))
    axis.scatter(points[:, 0], points[:, 1], s=8, color="tab:blue", alpha=0.6)
    for word, (x, y) in zip(words, points):
        axis.annotate(word, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=8)
    axis.set(title=title, xlabel="first principal component", ylabel="second principal component")
    axis.grid(alpha=0.2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
