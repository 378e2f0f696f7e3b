"""The text corpus of the word-vector job, streamed from the `train` channel as fastText and BlazingText read it,
then encoded once into a file of token ids that every epoch reads a chunk at a time.

Files are read in fixed-size blocks (gzip or plain, any name), never a line at a time: text8, the workshop's
corpus, is one 100 MB line. Tokens are runs of non-whitespace bytes; every newline is the token `</s>`
(fastText's EOS), and a sentence ends after `</s>` or after MAX_SENTENCE_TOKENS tokens. Memory stays bounded by
the block size and the vocabulary, whatever the corpus size.
"""

import collections
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Self

import numpy as np
import numpy.typing as npt

from ..embeddings.fasttext_format import DECODE_ERRORS, ENCODING, EOS
from ..errors import JobError
from ..files import READ_ERRORS, list_files, open_binary

MAX_SENTENCE_TOKENS = 1024  # fastText's MAX_LINE_SIZE
BLOCK_BYTES = 1 << 20
# A "token" longer than this is a file that is not text (or has no whitespace at all): fail, do not buffer it.
MAX_TOKEN_BYTES = 1 << 16
_WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\v", b"\f")
TOKEN_DTYPE = np.int32


def _token_blocks(path: str) -> Iterator[list[str]]:
    """Lists of tokens, block by block, with EOS for every newline; a block never ends inside a token."""
    carry = b""
    try:
        with open_binary(path) as f:
            while block := f.read(BLOCK_BYTES):
                data = carry + block
                cut = max(data.rfind(space) for space in _WHITESPACE)
                if cut < 0:
                    if len(data) > MAX_TOKEN_BYTES:
                        raise JobError(
                            f"Corpus file {path} has a run of {len(data)} bytes without whitespace: "
                            f"expected text with tokens separated by spaces or newlines."
                        )
                    carry = data
                    continue
                carry = data[cut + 1 :]
                yield _tokens(data[: cut + 1])
            if carry:
                yield _tokens(carry)
    except READ_ERRORS as e:
        raise JobError(f"Corpus file {path} cannot be read: {e}.") from e


def _tokens(data: bytes) -> list[str]:
    lines = data.decode(ENCODING, DECODE_ERRORS).split("\n")
    tokens: list[str] = []
    for line in lines[:-1]:
        tokens.extend(line.split())
        tokens.append(EOS)
    tokens.extend(lines[-1].split())
    return tokens


@dataclasses.dataclass
class WordCounts:
    counts: collections.Counter[str]
    tokens: int
    min_count_applied: int  # raised above 1 when the vocabulary had to be pruned while counting


class Corpus:
    def __init__(self, files: list[str]) -> None:
        self.files = files

    @classmethod
    def from_channel(cls, channel: str, folder: str) -> Self:
        files = list_files(folder)
        if not files:
            raise JobError(
                f"Channel '{channel}' ({folder}) has no files: expected plain text, one or many files, gzip allowed."
            )
        return cls(files)

    def token_blocks(self) -> Iterator[list[str]]:
        for path in self.files:
            yield from _token_blocks(path)

    def count_words(self, max_types: int) -> WordCounts:
        """Word counts over the whole corpus. Like fastText, when the vocabulary outgrows max_types the
        rarest words are dropped and the count a word needs to be kept rises, so memory stays bounded."""
        counts: collections.Counter[str] = collections.Counter()
        tokens, threshold = 0, 1
        for block in self.token_blocks():
            counts.update(block)
            tokens += len(block)
            while len(counts) > max_types:
                threshold += 1
                counts = collections.Counter({w: c for w, c in counts.items() if c >= threshold})
        if not tokens:
            raise JobError(f"The corpus ({len(self.files)} file(s)) holds no tokens.")
        return WordCounts(counts, tokens, threshold)

    def sentences(
        self, token_to_id: Mapping[str, int]
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """(ids, sentence_ids) arrays per block: the in-vocabulary tokens (what fastText counts as words
        processed), and for each a sentence number that changes after EOS and every MAX_SENTENCE_TOKENS
        tokens. A context window never crosses a sentence, nor a block."""
        eos_id = token_to_id.get(EOS, -1)
        get = token_to_id.get
        for block in self.token_blocks():
            ids = np.fromiter((get(token, -1) for token in block), dtype=np.int64, count=len(block))
            ids = ids[ids >= 0]
            ends = ids == eos_id
            starts = np.concatenate(([0], ends[:-1].astype(np.int64)))
            sentence = np.cumsum(starts)
            position = np.arange(len(ids)) - np.searchsorted(sentence, sentence)  # index within its sentence
            sentence = sentence * (len(ids) // MAX_SENTENCE_TOKENS + 1) + position // MAX_SENTENCE_TOKENS
            yield ids, sentence

    def encode(self, token_to_id: Mapping[str, int], path: str) -> "EncodedCorpus":
        """Writes the in-vocabulary token ids to `path` and returns the EncodedCorpus: tokenising and looking
        words up is done once, not in every epoch as fastText does."""
        line_starts: list[npt.NDArray[np.int64]] = []
        offset = 0
        with open(path, "wb") as f:
            for ids, sentence in self.sentences(token_to_id):
                if not len(ids):
                    continue
                ids.astype(TOKEN_DTYPE).tofile(f)
                line_starts.append(offset + np.flatnonzero(np.diff(sentence, prepend=sentence[0] - 1)))
                offset += len(ids)
        line_starts.append(np.array([offset]))
        return EncodedCorpus(path, np.concatenate(line_starts).astype(np.int64))


@dataclasses.dataclass
class EncodedCorpus:
    """In-vocabulary token ids in a file, and where each line (sentence) starts: line i is
    tokens[line_starts[i]:line_starts[i + 1]]. Reading a range of lines costs memory for those lines only."""

    path: str
    line_starts: npt.NDArray[np.int64]  # one more than there are lines

    @property
    def tokens(self) -> int:
        return int(self.line_starts[-1])

    @property
    def lines(self) -> int:
        return len(self.line_starts) - 1

    def read(self, first_line: int, last_line: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """(ids, line starts from 0) of lines first_line..last_line - 1."""
        start, stop = int(self.line_starts[first_line]), int(self.line_starts[last_line])
        ids = np.fromfile(
            self.path, dtype=TOKEN_DTYPE, count=stop - start, offset=start * np.dtype(TOKEN_DTYPE).itemsize
        )
        return ids, self.line_starts[first_line : last_line + 1] - start

    def block_lines(self, block_tokens: int) -> list[tuple[int, int]]:
        """(first line, last line + 1) of blocks of about block_tokens tokens each, whole lines."""
        bounds: list[tuple[int, int]] = []
        line = 0
        while line < self.lines:
            end = np.searchsorted(self.line_starts, self.line_starts[line] + block_tokens, "right") - 1
            last = min(max(line + 1, int(end)), self.lines)
            bounds.append((line, last))
            line = last
        return bounds

    def block(self, first_line: int, last_line: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(ids, sentence numbers) of the lines: the MXNet path's input."""
        ids, starts = self.read(first_line, last_line)
        return ids.astype(np.int64), np.repeat(np.arange(last_line - first_line), np.diff(starts))

    def blocks(self, block_tokens: int) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        for first, last in self.block_lines(block_tokens):
            yield self.block(first, last)
