"""What the training loop asks of the code that takes its optimizer steps (mxnet_steps.py: gluon's Trainer on any
devices and hosts; cpu/steps.py: the fasttext architecture compiled for one CPU host), and the encoded rows both
read."""

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

import mxnet as mx
import numpy as np

from ..runtime.host_exchange import sharing_ndarray
from ..text import TextEncoder

ENCODE_CHUNK = 10_000  # headlines encoded at a time


@dataclasses.dataclass
class EncodedSet:
    """A data set's headlines as embedding rows end to end (int32: 4 bytes an id, where lists of Python ints took
    ~36), where each headline's start, and their label ids."""

    ids: np.ndarray
    starts: np.ndarray  # one more than the headlines: headline i is ids[starts[i] : starts[i + 1]]
    labels: np.ndarray

    @classmethod
    def encode(cls, encoder: TextEncoder, texts: list[str], labels: np.ndarray) -> "EncodedSet":
        """The texts encoded ENCODE_CHUNK at a time: the encoder's int64 ids of a whole large set would double the
        peak memory."""
        pieces, sizes = [], []
        for start in range(0, len(texts), ENCODE_CHUNK):
            ids, counts = encoder.flat_ids(texts[start : start + ENCODE_CHUNK])
            pieces.append(ids.astype(np.int32))
            sizes.append(counts)
        starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(sizes) if sizes else np.zeros(0, np.int64), out=starts[1:])
        return cls(np.concatenate(pieces) if pieces else np.zeros(0, np.int32), starts, labels)

    def __len__(self) -> int:
        return len(self.labels)

    def gather(self, indices: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the headlines `indices` end to end, and how many each has (TextEncoder.pad_flat's input)."""
        rows = [self.ids[self.starts[i] : self.starts[i + 1]] for i in indices]
        ids = np.concatenate(rows) if rows else np.zeros(0, np.int32)
        return ids, np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))

    def span(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids of headlines start..stop-1 end to end, and how many each has (TextEncoder.pad_flat's input)."""
        return self.ids[self.starts[start] : self.starts[stop]], np.diff(self.starts[start : stop + 1])


def write_parameter(parameter: Any, values: np.ndarray | mx.nd.NDArray) -> None:
    """Writes values into every device's copy of a Gluon parameter, through an operator: on CPU, oneDNN may hold a
    convolution weight in its own layout after inference, which a plain copy (and so Parameter.set_data) refuses
    as a destination. A C-contiguous float32 numpy array is read where it lies, not copied into a new MXNet array
    first (the UCI embedding's 85 MB, every epoch), and the writes are waited for: the caller may change values
    next, and MXNet's operators run later, on its own threads."""
    if isinstance(values, mx.nd.NDArray):
        source = values
    elif values.dtype == np.float32 and values.flags.c_contiguous:
        source = sharing_ndarray(values)
    else:
        source = mx.nd.array(values, dtype=np.float32)
    for array in parameter.list_data():
        mx.nd.identity(source.as_in_context(array.context), out=array)
    for array in parameter.list_data():
        array.wait_to_read()


class Steps(Protocol):
    """Optimizer steps on the net's parameters. The net holds them whenever the loop reads or writes it: after
    publish(), until the next step; after writing the net, pull() gives them back to the steps."""

    name: str  # recorded in the checkpoint's fingerprint: one kind's optimizer state does not resume the other

    @property
    def bytes_exchanged(self) -> int:
        """Bytes this host has pushed to and pulled from the other hosts of the job (0 on one host)."""

    def begin(self, train: EncodedSet) -> None:
        """Prepares to step through `train`'s rows (once per fit)."""

    def step(self, indices: np.ndarray, seed: int) -> tuple[float, int]:
        """One update from train's rows `indices`, drawing anything random (dropout) from `seed`; returns their
        summed loss and how many were predicted right."""

    def set_learning_rate(self, rate: float) -> None:
        """The rate of the following steps (before the embedding's multiplier)."""

    def freeze_embedding(self, frozen: bool) -> None:
        """While frozen, steps leave the embedding rows where they are (their optimizer state still moves)."""

    def publish(self) -> None:
        """Leaves the current parameters in the net."""

    def pull(self) -> None:
        """Takes the parameters the net holds now."""

    def save_states(self, path: str) -> None:
        """Writes the optimizer's state (with its step count) to `path`."""

    def load_states(self, path: str) -> None:
        """Reads what save_states wrote."""


class HostScoring(Protocol):
    """How the hosts of a job share the validation set at an epoch's end: each scores its part, and the parts'
    scores (confusion matrix, summed loss) are added up, so every host reads the same report."""

    def scored_rows(self, rows: int) -> tuple[int, int]:
        """The first and last-plus-one row this host scores of a `rows`-row set."""

    def add_scores(self, scores: np.ndarray) -> np.ndarray:
        """The sum over the hosts of each host's float64 scores of its rows (every host calls it)."""


class OneHostScoring:
    """A job of one host (or steps that do not share: MXNet's) scores every row itself."""

    def scored_rows(self, rows: int) -> tuple[int, int]:
        return 0, rows

    def add_scores(self, scores: np.ndarray) -> np.ndarray:
        return scores
