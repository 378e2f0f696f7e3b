"""fastText's files, read and written here only: `vectors.txt` (word2vec text) and `vectors.bin` (a fastText binary
model, version 12 as fastText 0.9 writes it, that Facebook's `fasttext.load_model` opens), as BlazingText writes
them.

The binary layout is fastText's FastText::saveModel (src/fasttext.cc): magic and version, Args::save,
Dictionary::save, then the input and output matrices, each preceded by a quantised flag and its int64 shape. It is
read here with numpy alone, so that the serving image, which has neither MXNet nor GluonNLP, serves the vectors.
"""

import dataclasses
import mmap
import os
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO, Protocol, TypeAlias

import numpy as np

from ..errors import JobError

if TYPE_CHECKING:
    from ..hyperparameters import WordVectorHyperparameters

FASTTEXT_MAGIC = 793712314  # fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32
FASTTEXT_VERSION = 12
# fastText's words are bytes; decoded with surrogateescape, bytes that are not UTF-8 survive the round trip.
ENCODING, DECODE_ERRORS = "utf-8", "surrogateescape"
EOS = "</s>"  # fastText's end of a line: a word of the dictionary, without character n-grams
_LOSS_NEGATIVE_SAMPLING = 2  # fastText's loss_name::ns
_MODEL_CODES = {"cbow": 1, "skipgram": 2, "batch_skipgram": 2}  # model_name::cbow, ::sg
_MODEL_SUPERVISED = 3  # model_name::sup
_WORD_ENTRY, _LABEL_ENTRY = 0, 1  # entry_type::word, ::label
_LR_UPDATE_RATE = 100  # fastText's default; stored, unused by a trained model
_ROWS_PER_WRITE = 65536
# The binary's fixed-size parts, little-endian as fastText writes them on x86 and ARM.
_SIGNATURE = struct.Struct("<ii")  # magic, version
# Args::save: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t
_ARGS = struct.Struct("<12id")
_DICTIONARY_HEADER = struct.Struct("<iiiqq")  # size nwords nlabels ntokens pruneidx_size
_ENTRY_TAIL = struct.Struct("<qb")  # after a word's NUL: its count and entry type
_MATRIX_HEADER = struct.Struct("<?qq")  # quantised, rows, columns
_HEAD_BYTES = _SIGNATURE.size + _ARGS.size + _DICTIONARY_HEADER.size  # up to the dictionary's entries
_FLOAT_BYTES = 4
# fastText sets no limit, but its default is 6 and n-grams longer than a word add nothing: a larger maxn is garbage,
# and would make the tuple of n-gram lengths too long to build.
_MAX_CHAR_NGRAM = 1000
# Dictionary::load decodes nothing; words that are not UTF-8 get U+FFFD here, as GluonNLP gave them, rather than
# surrogates, which the UTF-8 hashing of their character n-grams could not encode.
_READ_ERRORS = "replace"


class WordDictionary(Protocol):
    """What write_fasttext_binary writes of the word-vector job's dictionary (word_vectors.dictionary.Dictionary,
    a floor above this package)."""

    words: list[str]  # descending count
    counts: np.ndarray  # of each word
    total_tokens: int  # every token of the corpus, kept or not: fastText's ntokens
    char_ngrams: tuple[int, ...]
    buckets: int

    @property
    def input_rows(self) -> int: ...

    def __len__(self) -> int: ...


# A matrix the writer reads in row blocks: an array, or rows(start, stop) -> the array of those rows.
RowSource: TypeAlias = np.ndarray | Callable[[int, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class FastTextInput:
    """What fastText's getWordVector reads of a binary model: the words, the input matrix and the n-gram settings."""

    words: list[str]  # the dictionary's words (its labels left out), in file order: word i's own row is i
    matrix: np.ndarray  # (len(words) + buckets, dim) float32, memory-mapped read-only from the file
    char_ngrams: tuple[
        int, ...
    ]  # the lengths of the character n-grams a word's vector averages (minn..maxn); () for none
    buckets: int  # n-gram rows, after the words' rows


@dataclasses.dataclass(frozen=True)
class _Head:
    """The sizes before the dictionary's entries (signature, Args, dictionary header), checked."""

    dim: int
    buckets: int
    char_ngrams: tuple[int, ...]
    nwords: int
    nlabels: int
    pruned: int  # pruneidx_size: -1, unless fastText's quantize pruned the n-gram rows


def is_fasttext_binary(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return len(head) == 4 and struct.unpack("<i", head)[0] == FASTTEXT_MAGIC


def read_fasttext_binary(path: str, name: str) -> FastTextInput:
    """The input side of a fastText binary model (FastText::loadModel up to the input matrix), or a JobError naming
    `name` that says what is wrong.

    The input matrix is memory-mapped, not read: about 800 MB with 2 million buckets of dimension 100, it then sits
    once in the page cache however many serving workers map it, and only the rows that requests touch are read.
    Quantised models (.ftz) are refused: their input is a product-quantised code book, not rows of floats.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = _read_head(f.read(_HEAD_BYTES), file_size, name)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            words, offset = _read_dictionary(data, head, name)
            offset += 2 * 4 * max(head.pruned, 0)  # pruneidx: int32 pairs, used by quantised models only
            if offset + _MATRIX_HEADER.size > file_size:
                raise JobError(f"Embeddings file {name} is truncated: it ends after its dictionary.")
            quantised, rows, columns = _MATRIX_HEADER.unpack_from(data, offset)
    if quantised:
        raise JobError(
            f"Embeddings file {name} is a quantised fastText model (.ftz, from fastText's quantize): its vectors "
            f"are compressed codes, which are not read here; use the .bin it was quantised from."
        )
    if head.pruned >= 0:  # fastText refuses it too: only quantize prunes, and only quantised rows match the pruning
        raise JobError(f"Embeddings file {name} has a pruned dictionary but is not quantised: it is not valid.")
    if (rows, columns) != (head.nwords + head.buckets, head.dim):
        raise JobError(
            f"Embeddings file {name} has an input matrix of {rows} x {columns}; its header announces "
            f"{head.nwords} words + {head.buckets} buckets = {head.nwords + head.buckets} rows of dimension "
            f"{head.dim}."
        )
    offset += _MATRIX_HEADER.size
    needed = rows * columns * _FLOAT_BYTES
    if offset + needed > file_size:
        raise JobError(
            f"Embeddings file {name} is truncated: its header announces {head.nwords} words and "
            f"{head.buckets} n-gram buckets of dimension {head.dim} ({needed} bytes of vectors from byte "
            f"{offset}), but the file has {file_size} bytes."
        )
    matrix = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(rows, columns))
    return FastTextInput(words, matrix, head.char_ngrams, head.buckets)


def _read_head(data: bytes, file_size: int, name: str) -> _Head:
    if len(data) < _HEAD_BYTES:
        raise JobError(f"Embeddings file {name} is truncated: it ends inside its header ({file_size} bytes).")
    magic, version = _SIGNATURE.unpack_from(data)
    args = _ARGS.unpack_from(data, _SIGNATURE.size)
    size, nwords, nlabels, _, pruned = _DICTIONARY_HEADER.unpack_from(data, _SIGNATURE.size + _ARGS.size)
    dim, model, buckets, minn, maxn = args[0], args[7], args[8], args[9], args[10]
    if magic != FASTTEXT_MAGIC or version > FASTTEXT_VERSION:
        raise JobError(
            f"Embeddings file {name} is not a fastText binary model of version {FASTTEXT_VERSION} or older "
            f"(magic number {magic}, version {version})."
        )
    if version == 11 and model == _MODEL_SUPERVISED:
        maxn = 0  # fastText's own rule: version-11 supervised models had no character n-grams
    if (
        dim <= 0
        or min(buckets, nwords, nlabels) < 0
        or size != nwords + nlabels
        or maxn > _MAX_CHAR_NGRAM
        or (maxn >= max(minn, 1) and not buckets)
    ):
        raise JobError(
            f"Embeddings file {name} is not a valid fastText binary model: its header announces dim={dim}, "
            f"bucket={buckets}, minn={minn}, maxn={maxn}, and a dictionary of {size} entries: {nwords} words and "
            f"{nlabels} labels."
        )
    char_ngrams = tuple(range(max(minn, 1), maxn + 1))  # computeSubwords: n from 1 to maxn, at least minn
    return _Head(dim, buckets, char_ngrams, nwords, nlabels, pruned)


def _read_dictionary(data: mmap.mmap, head: _Head, name: str) -> tuple[list[str], int]:
    """The words of Dictionary::save's entries (NUL-terminated word, int64 count, int8 type), and where the entries
    end. fastText lists its words first, then its labels; labels are not words."""
    words: list[str] = []
    types, offset = bytearray(), _HEAD_BYTES
    entries = head.nwords + head.nlabels
    for _ in range(entries):
        end = data.find(b"\0", offset)
        next_entry = end + 1 + _ENTRY_TAIL.size
        if end < 0 or next_entry > len(data):
            raise JobError(
                f"Embeddings file {name} is truncated: it ends inside its dictionary, after {len(types)} of the "
                f"{entries} entries its header announces."
            )
        if len(types) < head.nwords:
            words.append(data[offset:end].decode(ENCODING, _READ_ERRORS))
        types.append(data[next_entry - 1])  # the entry's type, its last byte
        offset = next_entry
    if types != bytes([_WORD_ENTRY]) * head.nwords + bytes([_LABEL_ENTRY]) * head.nlabels:
        raise JobError(
            f"Embeddings file {name} is not a valid fastText binary model: its dictionary does not list its "
            f"{head.nwords} words, then its {head.nlabels} labels, as its header announces."
        )
    return words, offset


def write_text_vectors(path: str, words: Sequence[str], vectors: np.ndarray) -> None:
    """word2vec text: an `N dim` header, then `word v1 ... vdim` per word, in the order given."""
    with open(path, "w", encoding=ENCODING, errors=DECODE_ERRORS, newline="\n") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, vector in zip(words, vectors):
            f.write(word + " " + " ".join(f"{value:.6g}" for value in vector) + "\n")


def write_fasttext_binary(
    path: str,
    dictionary: WordDictionary,
    hyperparameters: "WordVectorHyperparameters",
    input_matrix: RowSource,
    output_matrix: RowSource,
) -> None:
    """input_matrix: (words + buckets, dim); output_matrix: (words, dim); both readable in row blocks (numpy, or
    a callable rows(start, stop) -> array so a 2-million-row matrix is never copied whole)."""
    hp = hyperparameters
    minn, maxn = (min(dictionary.char_ngrams), max(dictionary.char_ngrams)) if dictionary.char_ngrams else (0, 0)
    with open(path, "wb") as f:
        f.write(_SIGNATURE.pack(FASTTEXT_MAGIC, FASTTEXT_VERSION))
        f.write(
            _ARGS.pack(
                hp.vector_dim,
                hp.window_size,
                hp.epochs,
                hp.min_count,
                hp.negative_samples,
                1,
                _LOSS_NEGATIVE_SAMPLING,
                _MODEL_CODES[hp.mode],
                dictionary.buckets,
                minn,
                maxn,
                _LR_UPDATE_RATE,
                hp.sampling_threshold,
            )
        )
        f.write(_DICTIONARY_HEADER.pack(len(dictionary), len(dictionary), 0, dictionary.total_tokens, -1))
        for word, count in zip(dictionary.words, dictionary.counts):
            f.write(word.encode(ENCODING, DECODE_ERRORS) + b"\0" + _ENTRY_TAIL.pack(int(count), _WORD_ENTRY))
        for matrix, rows in ((input_matrix, dictionary.input_rows), (output_matrix, len(dictionary))):
            f.write(_MATRIX_HEADER.pack(False, rows, hp.vector_dim))
            _write_rows(f, matrix, rows)


def _write_rows(f: BinaryIO, matrix: RowSource, rows: int) -> None:
    for start in range(0, rows, _ROWS_PER_WRITE):
        stop = min(rows, start + _ROWS_PER_WRITE)
        block = matrix(start, stop) if callable(matrix) else matrix[start:stop]
        f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
