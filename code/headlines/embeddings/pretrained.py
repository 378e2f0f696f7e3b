"""Reading pretrained word vectors from an ``embeddings`` channel, or a word-vector model folder, with numpy alone:
the serving image has neither MXNet nor GluonNLP.

Supported (each may be gzip-compressed, or inside a .tar.gz such as BlazingText's model.tar.gz):
- fastText binary models (``.bin``, BlazingText ``vectors.bin`` with subwords): every word gets the vector
  fastText's ``get_word_vector`` gives, built from character n-grams when the word is unknown;
- word2vec / fastText text (``.vec``, BlazingText ``vectors.txt``): ``word v1 .. vd`` lines, an ``N d`` header
  line is recognised as a header;
- word2vec binary (a ``.bin`` without the fastText magic number): ``N d`` header, then word, space, d float32.
"""

import dataclasses
import logging
import os
import shutil
import tarfile
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

import numpy as np

from ..errors import JobError
from ..files import READ_ERRORS, is_gzip, list_files, open_binary
from ..text import char_ngram_buckets
from .fasttext_format import ENCODING, EOS, is_fasttext_binary, read_fasttext_binary

if TYPE_CHECKING:
    import gluonnlp

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".vec", ".txt")
BINARY_SUFFIXES = (".bin",)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# How each word of the vocabulary found its vector.
IN_VOCABULARY, FROM_SUBWORDS, MISSING = "in_vocabulary", "from_subwords", "missing"
_HASH_SPACE = 1 << 32  # char_ngram_buckets with this many buckets gives an n-gram's whole 32-bit hash


class FastTextBinaryVectors:
    format = "fasttext-bin"

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        model = read_fasttext_binary(path, name)
        self._matrix, self._char_ngrams, self._buckets = model.matrix, model.char_ngrams, model.buckets
        self._ngram_offset = len(model.words)  # fastText's n-gram rows follow every listed word's row
        self.token_to_idx: dict[str, int] = {}
        for index, word in enumerate(model.words):
            self.token_to_idx.setdefault(word, index)  # words alike once decoded: the first, most frequent, wins
        self.dim = self._matrix.shape[1]

    @property
    def words(self) -> list[str]:
        """The listed words, in the file's order (descending count for fastText and BlazingText)."""
        return _in_row_order(self.token_to_idx)

    def lookup(self, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """fastText's get_word_vector: the mean of the word's own row (when listed) and its n-gram rows (none for
        fastText's end-of-sentence token), in fastText's float32 arithmetic: the rows added in order, the sum
        multiplied by 1/n rounded to float32. numpy's mean divides instead, and now and then differs in the last
        bit."""
        vectors = np.zeros((len(words), self.dim), dtype=np.float32)
        status: list[str] = []
        for i, word in enumerate(words):
            index = self.token_to_idx.get(word)
            rows: list[int] = [] if index is None else [index]
            if self._char_ngrams and word != EOS:
                buckets = char_ngram_buckets(word, self._char_ngrams, self._buckets)
                rows += [self._ngram_offset + bucket for bucket in buckets]
            if not rows:
                status.append(MISSING)
                continue
            status.append(IN_VOCABULARY if index is not None else FROM_SUBWORDS)
            vectors[i] = self._matrix[rows].sum(axis=0) * np.float32(1 / len(rows))
        return vectors, status

    def has_subwords(self, char_ngrams: Sequence[int]) -> bool:
        """Whether this model's character n-grams are the lengths `char_ngrams`: then its n-gram rows can be
        handed on to a model that hashes the same n-grams."""
        return bool(self._char_ngrams) and set(self._char_ngrams) == set(char_ngrams)

    def own_rows(self, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Each word's own input row (zeros for a word the model does not list), and how each was found: the
        part of a word's vector that is not its n-grams'."""
        vectors = np.zeros((len(words), self.dim), dtype=np.float32)
        status: list[str] = []
        for i, word in enumerate(words):
            index = self.token_to_idx.get(word)
            if index is not None:
                vectors[i] = self._matrix[index]
            status.append(IN_VOCABULARY if index is not None else FROM_SUBWORDS if word != EOS else MISSING)
        return vectors, status

    def ngram_rows(self, words: Iterable[str], buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """(bucket ids, rows): the model's row of every character n-gram of `words`, placed in the bucket
        (0..buckets-1) that a model of `buckets` buckets hashes the n-gram to; n-grams that share such a bucket
        but not this model's bucket share the mean of their rows."""
        pairs = {
            (full_hash % buckets, full_hash % self._buckets)
            for word in words
            if word != EOS
            for full_hash in char_ngram_buckets(word, self._char_ngrams, _HASH_SPACE)
        }
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        ordered = np.array(sorted(pairs), dtype=np.int64)
        rows = np.asarray(self._matrix[self._ngram_offset + ordered[:, 1]], dtype=np.float32)
        targets, starts = np.unique(ordered[:, 0], return_index=True)
        shared = np.diff(np.append(starts, len(ordered))).astype(np.float32)
        return targets, np.add.reduceat(rows, starts, axis=0) / shared[:, None]


class TextVectors:
    """word2vec text, read as GluonNLP's TokenEmbedding.from_file read it: lines split at single spaces once their
    trailing whitespace is stripped, a first line with one number after its first field taken for the `N d`
    header, the first of repeated words kept, lines that are not UTF-8 skipped."""

    format = "word2vec-text"

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        self.token_to_idx: dict[str, int] = {}
        rows: list[np.ndarray] = []
        undecodable = 0
        with open(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                try:
                    word, *fields = line.decode(ENCODING).rstrip().split(" ")
                except UnicodeDecodeError:
                    undecodable += 1
                    continue
                vector = self._vector(number, word, fields)
                if word in self.token_to_idx or (number == 1 and len(vector) == 1):
                    continue  # a repeated word, or the `N d` header
                if rows and len(vector) != len(rows[0]):
                    self._refuse(
                        number,
                        f'found vector of inconsistent dimension for token "{word}". '
                        f"expected dim: {len(rows[0])}, found: {len(vector)}",
                    )
                self.token_to_idx[word] = len(rows)
                rows.append(vector)
        if undecodable:
            logger.warning("embeddings: %s: skipped %d lines that are not UTF-8", name, undecodable)
        if not rows:
            raise JobError(f"Embeddings file {name} cannot be read as {self.format}: it holds no vectors.")
        self.matrix = np.vstack(rows)
        self.dim = self.matrix.shape[1]

    def _vector(self, number: int, word: str, fields: list[str]) -> np.ndarray:
        if not fields:
            self._refuse(number, f"unexpected data format (no numbers after {word!r})")
        try:
            return np.array([float(field) for field in fields], dtype=np.float32)
        except ValueError as e:
            self._refuse(number, str(e))

    def _refuse(self, number: int, problem: str) -> NoReturn:
        raise JobError(f"Embeddings file {self.name} is not valid word-vector text: line {number}: {problem}.")

    @property
    def words(self) -> list[str]:
        return _in_row_order(self.token_to_idx)

    def lookup(self, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        return _lookup_table(words, self.token_to_idx, self.matrix)


class Word2VecBinaryVectors:
    format = "word2vec-bin"

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        self.token_to_idx: dict[str, int] = {}
        rows: list[np.ndarray] = []
        with open(path, "rb") as f:
            header = f.readline().split()
            try:
                count, self.dim = int(header[0]), int(header[1])
            except (IndexError, ValueError):
                raise JobError(
                    f"Embeddings file {name} is neither a fastText binary model nor word2vec "
                    f"binary (no 'N dim' header)."
                ) from None
            for index in range(count):
                word = bytearray()
                while (char := f.read(1)) not in (b" ", b""):
                    if char != b"\n":
                        word += char
                data = f.read(4 * self.dim)
                if len(data) != 4 * self.dim:
                    raise JobError(
                        f"Embeddings file {name} ends after {index} of the {count} vectors its header announces."
                    )
                self.token_to_idx.setdefault(word.decode("utf-8", errors="replace"), index)
                rows.append(np.frombuffer(data, dtype="<f4"))
        self.matrix = np.vstack(rows) if rows else np.zeros((0, self.dim), np.float32)

    @property
    def words(self) -> list[str]:
        return _in_row_order(self.token_to_idx)

    def lookup(self, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        return _lookup_table(words, self.token_to_idx, self.matrix)


# What load_pretrained returns: each has name, format, dim, words and lookup(words) -> (vectors, how each was found).
PretrainedVectors: TypeAlias = FastTextBinaryVectors | TextVectors | Word2VecBinaryVectors


def _in_row_order(token_to_idx: dict[str, int]) -> list[str]:
    return sorted(token_to_idx, key=token_to_idx.__getitem__)


def _lookup_table(
    words: Sequence[str], token_to_idx: Mapping[str, int], matrix: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    vectors = np.zeros((len(words), matrix.shape[1]), dtype=np.float32)
    status: list[str] = []
    for i, word in enumerate(words):
        index = token_to_idx.get(word)
        if index is None:
            status.append(MISSING)
        else:
            vectors[i] = matrix[index]
            status.append(IN_VOCABULARY)
    return vectors, status


def _plain_copy(path: str, workdir: str) -> str:
    """Gunzip a compressed file into workdir; return the readable path."""
    if not is_gzip(path):
        return path
    target = os.path.join(workdir, os.path.basename(path).removesuffix(".gz"))
    try:
        with open_binary(path) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
    except READ_ERRORS as e:
        raise JobError(f"Embeddings file {path} is not a readable gzip file: {e}.") from e
    return target


def _extract_files(archive: tarfile.TarFile, target: str, path: str) -> None:
    """Only regular files and folders, only inside `target`. What tarfile's filter="data" does, which the
    images' Python (Debian bookworm's 3.11.2) predates."""
    root = os.path.realpath(target)
    for member in archive.getmembers():
        inside = os.path.realpath(os.path.join(root, member.name))
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, inside]) != root:
            raise JobError(
                f"Embeddings archive {path} holds {member.name!r}, which is not a plain file inside "
                f"the archive's folder; it is not unpacked."
            )
    archive.extractall(root)


def _expand_archives(files: Iterable[str], workdir: str) -> list[str]:
    expanded: list[str] = []
    for path in files:
        if path.endswith(ARCHIVE_SUFFIXES):
            target = os.path.join(workdir, os.path.basename(path) + ".d")
            try:
                with tarfile.open(path) as archive:
                    _extract_files(archive, target, path)
            except (tarfile.TarError, OSError) as e:
                raise JobError(f"Embeddings archive {path} cannot be unpacked: {e}.") from e
            expanded.extend(list_files(target))
        else:
            expanded.append(path)
    return expanded


def load_pretrained(folder: str, workdir: str) -> PretrainedVectors:
    """Load the vectors of an embeddings channel. A fastText binary wins over text vectors (it can build
    vectors for unseen words); files of other kinds (eval.json, ...) are ignored."""
    files = _expand_archives(list_files(folder), workdir)
    plain = {path: _plain_copy(path, workdir) for path in files}
    names = {path: path.removesuffix(".gz") for path in files}
    binaries = [p for p in files if names[p].endswith(BINARY_SUFFIXES)]
    texts = [p for p in files if names[p].endswith(TEXT_SUFFIXES)]
    fasttext = [p for p in binaries if is_fasttext_binary(plain[p])]
    word2vec = [p for p in binaries if p not in fasttext]
    for kind, candidates in (
        (FastTextBinaryVectors, fasttext),
        (TextVectors, texts),
        (Word2VecBinaryVectors, word2vec),
    ):
        if candidates:
            chosen = candidates[0]
            others = [os.path.basename(p) for p in files if p != chosen]
            logger.info(
                "embeddings: using %s (%s)%s", chosen, kind.format, f"; not using {', '.join(others)}" if others else ""
            )
            try:
                return kind(plain[chosen], chosen)
            except JobError:
                raise
            except Exception as e:  # a corrupt file may surface as any of struct's or numpy's errors
                raise JobError(
                    f"Embeddings file {chosen} cannot be read as {kind.format}: {type(e).__name__}: {e}."
                ) from e
    raise JobError(
        f"The embeddings channel ({folder}) holds no word vectors: expected a fastText .bin, a .vec "
        f"or vectors.txt file (optionally .gz), found {[os.path.basename(p) for p in files] or 'nothing'}."
    )


@dataclasses.dataclass(frozen=True)
class InitialEmbedding:
    """The classifier's starting embedding rows from pretrained vectors, and how well they cover the training text."""

    word_rows: np.ndarray  # (len(vocabulary), dim): row i for word i
    bucket_ids: np.ndarray  # n-gram buckets (0..buckets-1) whose starting rows the vectors decide
    bucket_rows: np.ndarray  # (len(bucket_ids), dim)
    coverage: dict[str, Any]


def build_embedding_matrix(
    vocabulary: "gluonnlp.Vocab",
    token_counts: Mapping[str, int],
    pretrained: PretrainedVectors,
    seed: int,
    unknown_token: str,
    padding_token: str,
    char_ngrams: Sequence[int] = (),
    ngram_buckets: int = 0,
) -> InitialEmbedding:
    """Starting rows for every vocabulary word, and for its words' n-gram buckets when the classifier hashes
    character n-grams (`char_ngrams` into `ngram_buckets`).

    With shared n-grams a classifier averages a word's own row with its n-gram rows, as fastText does, so each
    takes the model's own row and the mean is the model's vector for the word: listed words, and every word the
    labelled data or the serving requests bring, from its n-grams. Otherwise each word starts from its whole
    vector, and words the vectors do not cover (a text file lists only what it lists) try their lower-cased form,
    then get random normal vectors with the pretrained vectors' own standard deviation, so they sit at the same
    scale. A classifier with character n-grams still averages each word with them: there the word row holds the
    vector times the word's number of ids and its n-grams' buckets start at zero, so the mean is the vector, not
    a fraction of it lost among random rows.
    """
    words = list(vocabulary.idx_to_token)
    special = {unknown_token, padding_token}
    if isinstance(pretrained, FastTextBinaryVectors) and ngram_buckets and pretrained.has_subwords(char_ngrams):
        vectors, status = pretrained.own_rows(words)
        bucket_ids, bucket_rows = pretrained.ngram_rows((w for w in words if w not in special), ngram_buckets)
        scale, subword_buckets = None, len(bucket_ids)
    else:
        vectors, status, scale = _whole_word_rows(words, pretrained, seed)
        bucket_ids = _spread_over_ngrams(vectors, words, special, char_ngrams, ngram_buckets)
        # Every one of those buckets starts at zero: one shared zero row, not a (buckets, dim) array of them.
        bucket_rows = np.broadcast_to(np.zeros(pretrained.dim, dtype=np.float32), (len(bucket_ids), pretrained.dim))
        subword_buckets = 0
    for token in special:
        vectors[vocabulary[token]] = 0.0
    coverage = _coverage(words, status, token_counts, special)
    coverage.update(
        file=pretrained.name,
        format=pretrained.format,
        dim=pretrained.dim,
        fallback_std=scale,
        subword_buckets_initialised=subword_buckets,
    )
    return InitialEmbedding(vectors, bucket_ids, bucket_rows, coverage)


def _whole_word_rows(
    words: Sequence[str], pretrained: PretrainedVectors, seed: int
) -> tuple[np.ndarray, list[str], float]:
    """Each word's whole vector, its lower-cased form's, or a random one at the vectors' scale; the statuses and
    that scale."""
    vectors, status = pretrained.lookup(words)
    lowered = [i for i, (w, s) in enumerate(zip(words, status)) if s == MISSING and w.lower() != w]
    if lowered:
        lower_vectors, lower_status = pretrained.lookup([words[i].lower() for i in lowered])
        for row, i in enumerate(lowered):
            if lower_status[row] != MISSING:
                vectors[i], status[i] = lower_vectors[row], lower_status[row]
    found = np.array([s != MISSING for s in status])
    scale = float(vectors[found].std()) if found.any() else 0.1
    rng = np.random.RandomState(seed)
    vectors[~found] = rng.normal(0.0, scale, size=(int((~found).sum()), pretrained.dim)).astype(np.float32)
    return vectors, status, scale


def _spread_over_ngrams(
    rows: np.ndarray, words: Sequence[str], special: Container[str], char_ngrams: Sequence[int], buckets: int
) -> np.ndarray:
    """Multiplies each word's row by its number of ids (itself and its character n-grams), so that with those
    n-grams' buckets at zero the mean over its ids is the row it had; returns those buckets (none without n-grams)."""
    if not (char_ngrams and buckets):
        return np.zeros(0, dtype=np.int64)
    touched: set[int] = set()
    for i, word in enumerate(words):
        if word not in special:
            ngrams = char_ngram_buckets(word, char_ngrams, buckets)
            rows[i] *= 1 + len(ngrams)
            touched.update(ngrams)
    return np.array(sorted(touched), dtype=np.int64)


def _coverage(
    words: Sequence[str], status: Sequence[str], token_counts: Mapping[str, int], special: Container[str]
) -> dict[str, Any]:
    """How well the vectors cover the training text: its vocabulary words (the vectors' own words, which the
    vocabulary may hold too, cover themselves and are counted apart) and its running tokens."""
    types = {IN_VOCABULARY: 0, FROM_SUBWORDS: 0, MISSING: 0}
    tokens = {IN_VOCABULARY: 0, FROM_SUBWORDS: 0, MISSING: 0}
    for word, word_status in zip(words, status):
        if word in special or not token_counts.get(word):
            continue
        types[word_status] += 1
        tokens[word_status] += token_counts[word]
    total_types, total_tokens = sum(types.values()), sum(tokens.values())
    return {
        "vocabulary_types": total_types,
        "words_only_in_the_vectors": len(words) - total_types - sum(1 for word in words if word in special),
        "types_in_pretrained_vocabulary": types[IN_VOCABULARY],
        "types_from_subwords": types[FROM_SUBWORDS],
        "types_without_vector": types[MISSING],
        "type_coverage": (types[IN_VOCABULARY] + types[FROM_SUBWORDS]) / total_types if total_types else 0.0,
        "training_tokens": total_tokens,
        "token_coverage": (tokens[IN_VOCABULARY] + tokens[FROM_SUBWORDS]) / total_tokens if total_tokens else 0.0,
        "token_coverage_in_pretrained_vocabulary": tokens[IN_VOCABULARY] / total_tokens if total_tokens else 0.0,
    }
