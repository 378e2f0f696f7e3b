"""fastText's files, read and written here only: `vectors.txt` (word2vec text) and `vectors.bin` (a fastText binary
model, version 12 as fastText 0.9 writes it, that Facebook's `fasttext.load_model` and GluonNLP open), as
BlazingText writes them.

GluonNLP 0.10 reads the binary format (FasttextEmbeddingModel.load_fasttext_format) but cannot write it; the layout
below is fastText's FastText::saveModel: magic and version, Args::save, Dictionary::save, then the input and
output matrices, each preceded by a not-quantised flag and its int64 shape.
"""

import dataclasses
import struct

import numpy as np

from ..mxnet_compat import read_fasttext_args

FASTTEXT_MAGIC = 793712314  # fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32
FASTTEXT_VERSION = 12
# fastText's words are bytes; decoded with surrogateescape, bytes that are not UTF-8 survive the round trip.
ENCODING, DECODE_ERRORS = "utf-8", "surrogateescape"
_LOSS_NEGATIVE_SAMPLING = 2  # fastText's loss_name::ns
_MODEL_CODES = {"cbow": 1, "skipgram": 2, "batch_skipgram": 2}  # model_name::cbow, ::sg
_WORD_ENTRY = 0  # entry_type::word
_LR_UPDATE_RATE = 100  # fastText's default; stored, unused by a trained model
_ROWS_PER_WRITE = 65536


@dataclasses.dataclass(frozen=True)
class BinaryHeader:
    dim: int
    buckets: int
    max_char_ngram: int  # 0: no subwords
    words: int


def is_fasttext_binary(path):
    with open(path, "rb") as f:
        head = f.read(4)
    return len(head) == 4 and struct.unpack("<i", head)[0] == FASTTEXT_MAGIC


def read_header(path):
    """The sizes a fastText binary announces (Args::load through GluonNLP, then Dictionary's word count)."""
    with open(path, "rb") as f:
        dim, buckets, maxn = read_fasttext_args(f)
        _, words, _ = struct.unpack("<3i", f.read(12))
    return BinaryHeader(dim, buckets, maxn, words)


def write_text_vectors(path, words, vectors):
    """word2vec text: an `N dim` header, then `word v1 ... vdim` per word, in the order given."""
    with open(path, "w", encoding=ENCODING, errors=DECODE_ERRORS, newline="\n") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, vector in zip(words, vectors):
            f.write(word + " " + " ".join(f"{value:.6g}" for value in vector) + "\n")


def write_fasttext_binary(path, dictionary, hyperparameters, input_matrix, output_matrix):
    """input_matrix: (words + buckets, dim); output_matrix: (words, dim); both readable in row blocks (numpy, or
    a callable rows(start, stop) -> array so a 2-million-row matrix is never copied whole)."""
    hp = hyperparameters
    minn, maxn = (min(dictionary.char_ngrams), max(dictionary.char_ngrams)) if dictionary.char_ngrams else (0, 0)
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", FASTTEXT_MAGIC, FASTTEXT_VERSION))
        # Args::save: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t
        f.write(
            struct.pack(
                "<12id",
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
        # Dictionary::save: size nwords nlabels ntokens pruneidx_size, then each entry
        f.write(struct.pack("<iiiqq", len(dictionary), len(dictionary), 0, dictionary.total_tokens, -1))
        for word, count in zip(dictionary.words, dictionary.counts):
            f.write(word.encode(ENCODING, DECODE_ERRORS) + b"\0" + struct.pack("<qb", int(count), _WORD_ENTRY))
        for matrix, rows in ((input_matrix, dictionary.input_rows), (output_matrix, len(dictionary))):
            f.write(struct.pack("<?qq", False, rows, hp.vector_dim))
            _write_rows(f, matrix, rows)


def _write_rows(f, matrix, rows):
    for start in range(0, rows, _ROWS_PER_WRITE):
        stop = min(rows, start + _ROWS_PER_WRITE)
        block = matrix(start, stop) if callable(matrix) else matrix[start:stop]
        f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
