"""Word-similarity evaluation, as BlazingText's `evaluation` does on WordSim-353: Spearman's rank correlation
between human similarity scores and the cosine similarity of the two words' vectors, over the pairs the vectors
cover. Pair files: `word1 word2 score` per line (spaces, tabs or commas); lines whose score is not a number
(headers, comments) are skipped and counted."""

import logging
import os
from collections.abc import Callable, Sequence
from typing import TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

from ..errors import JobError
from ..files import list_files, open_text

logger = logging.getLogger(__name__)

PAIR_FIELDS = 3  # word1 word2 score

WordPair: TypeAlias = tuple[str, str, float]  # word1, word2, human score
# vectors_of(words) -> (a vector per word, whether the word has one): the vectors being evaluated.
VectorsLookup: TypeAlias = Callable[[Sequence[str]], tuple[np.ndarray, npt.NDArray[np.bool_]]]


class PairFileScores(TypedDict):
    """eval.json's entry for one pair file."""

    spearmans_rho: float | None  # None with fewer than two pairs covered
    total_pairs: int
    pairs_covered: int
    not_found: int
    coverage: float
    lines_skipped: int


def read_word_pairs(path: str) -> tuple[list[WordPair], int]:
    """(word1, word2, score) triples and the number of lines skipped."""
    pairs: list[WordPair] = []
    skipped = 0
    try:
        with open_text(path) as f:
            for line in f:
                fields = line.replace(",", " ").split()
                if not fields:
                    continue
                try:
                    if len(fields) != PAIR_FIELDS:
                        raise ValueError
                    pairs.append((fields[0], fields[1], float(fields[2])))
                except ValueError:
                    skipped += 1
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise JobError(f"Evaluation file {path} cannot be read as word pairs: {e}.") from e
    return pairs, skipped


def spearman_rho(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rho: Pearson's correlation of the ranks, ties sharing their average rank."""
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator else float("nan")


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    ordered = np.sort(values)
    for value in np.unique(ordered[1:][np.diff(ordered) == 0]):  # each tied value
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def evaluate_similarity(folder: str, vectors_of: VectorsLookup) -> dict[str, PairFileScores]:
    """Scores per pair file of the evaluation channel. vectors_of(words) -> (vectors, has_vector)."""
    files = list_files(folder)
    if not files:
        raise JobError(
            f"The evaluation channel ({folder}) has no files: expected word pairs with scores, "
            f"'word1 word2 score' per line (WordSim-353 layout)."
        )
    results: dict[str, PairFileScores] = {}
    for path in files:
        pairs, skipped = read_word_pairs(path)
        name = os.path.relpath(path, folder)
        if not pairs:
            raise JobError(f"Evaluation file {name} has no 'word1 word2 score' lines ({skipped} lines skipped).")
        words = sorted({w for a, b, _ in pairs for w in (a, b)})
        vectors, has_vector = vectors_of(words)
        norms = np.linalg.norm(vectors, axis=1)
        usable = dict(zip(words, has_vector & (norms > 0)))
        index = {w: i for i, w in enumerate(words)}
        covered = [(a, b, s) for a, b, s in pairs if usable[a] and usable[b]]
        cosines = [
            float(vectors[index[a]] @ vectors[index[b]] / (norms[index[a]] * norms[index[b]])) for a, b, _ in covered
        ]
        rho = spearman_rho(cosines, [s for _, _, s in covered]) if len(covered) > 1 else None
        results[name] = {
            "spearmans_rho": rho,
            "total_pairs": len(pairs),
            "pairs_covered": len(covered),
            "not_found": len(pairs) - len(covered),
            "coverage": len(covered) / len(pairs),
            "lines_skipped": skipped,
        }
        logger.info(
            "evaluation %s: spearman rho %s over %d of %d pairs",
            name,
            "n/a" if rho is None else f"{rho:.4f}",
            len(covered),
            len(pairs),
        )
    return results
