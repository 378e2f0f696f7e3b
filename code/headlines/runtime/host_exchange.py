"""Arrays summed over the hosts of a job through MXNet's parameter servers (the `dist_sync` kvstore that
distributed.py starts, with no optimizer on the servers: a pull returns the sum of the hosts' pushes). The CPU
engines of both jobs exchange their weights this way; first every host checks that the others set out from the
same vocabulary and settings, or the rows they add up would mean different things. An array of which only some
leading rows are in use (add_row_blocks, sum_rows) is held as keys of a block of rows each, and only the blocks in
use travel.

Weights of which a round reads and changes only some rows (the word-vector job's) are held by the servers instead
(hold_rows): each host pushes its changed rows as a row-sparse array, the servers add every host's to the weights
(MXNet's own `sgd` update at rate 1 on the negated change, lazy: only the pushed rows), and a host reads the rows
it needs with row_sparse_pull. Without an optimizer the servers do not sum row-sparse pushes: a pull returned
other rows' sums (MXNet 1.9.1, two servers)."""

import hashlib

import mxnet as mx
import numpy as np
import numpy.typing as npt

from ..errors import JobError
from .distributed import KVStore

FINGERPRINT_KEY = "fingerprint"
FINGERPRINT_PARTS = 8  # 16-bit parts of a SHA-256 prefix: exact in float32, and in their sum over hosts


def fingerprint_parts(text: str) -> npt.NDArray[np.float32]:
    """The first 16 bytes of text's SHA-256 as 8 float32 numbers, each below 2^16."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.frombuffer(digest[: 2 * FINGERPRINT_PARTS], dtype=np.uint16).astype(np.float32)


class HostExchange:
    def __init__(self, kvstore: KVStore, fingerprint: str, differ_reason: str, namespace: str = "") -> None:
        """Joins the exchange; raises JobError(differ_reason) unless every host pushed the same fingerprint. The
        servers' keys are `namespace` + each key: a second exchange over the same kvstore (a classifier's refit)
        needs a namespace of its own, since the servers treat a key's second init as an update."""
        self.kvstore = kvstore
        self.namespace = namespace
        self.hosts: int = kvstore.num_workers
        self.rank: int = kvstore.rank  # this host's place among them, 0 to hosts - 1
        self.bytes_exchanged = 0
        self._held: dict[str, tuple[int, ...]] = {}  # the keys whose weights the servers hold: their shapes
        self._buffers: dict[str, ExchangeBuffers] = {}  # the keys sum() adds up: what is pushed and pulled
        self._row_blocks: dict[str, RowBlockBuffers] = {}  # the arrays sum_rows() adds up, in blocks of rows
        self.require_same(FINGERPRINT_KEY, fingerprint, differ_reason)

    def require_same(self, key: str, text: str, differ_reason: str) -> None:
        """Raises JobError(differ_reason) unless every host passed the same text (each key once, on every host)."""
        own = fingerprint_parts(text)
        self.add_key(key, own.shape)
        total = self.sum(key, own, counted=False)
        if not np.array_equal(total, own * self.hosts):
            raise JobError(differ_reason)

    def add_key(self, key: str, shape: tuple[int, ...], dtype: type = np.float32) -> None:
        """Makes `key` an array of this shape and type that sum() can add up (every host adds the same keys)."""
        self.kvstore.init(self.namespace + key, mx.nd.zeros(shape, dtype=dtype))
        self._buffers[key] = ExchangeBuffers(shape, dtype)

    def add_row_blocks(self, key: str, shape: tuple[int, int], dtype: type, block_rows: int) -> None:
        """Makes `key` a (rows, dim) array of this type whose leading rows sum_rows() adds up, a key of the servers
        for each block_rows rows (every host adds the same keys)."""
        buffers = RowBlockBuffers(shape, block_rows, dtype)
        for block, pushed in enumerate(buffers.pushed):
            self.kvstore.init(f"{self.namespace}{key}/{block}", mx.nd.zeros(pushed.shape, dtype=dtype))
        self._row_blocks[key] = buffers

    def outbox(self, key: str) -> np.ndarray:
        """Where this host's array for `key` can be written in place, saving sum() a copy (for a key of row
        blocks: the whole array, its rows in blocks)."""
        return self._row_blocks[key].outgoing if key in self._row_blocks else self._buffers[key].outgoing

    def sum_rows(self, key: str, rows: int) -> np.ndarray:
        """The sum over the hosts of the first `rows` rows of the key's outbox: the blocks that hold them travel, the
        others stay (never more than the whole array); every host must call it with the same `rows`. The result is
        the key's receiving array, whose leading rows hold the sum: read them before the key's next sum."""
        self._require_sums()
        buffers = self._row_blocks[key]
        used = range(-(-rows // buffers.block_rows))
        for block in used:  # every push before the first pull: MXNet sends the blocks while the next are queued
            self.kvstore.push(f"{self.namespace}{key}/{block}", buffers.pushed[block])
        for block in used:
            self.kvstore.pull(f"{self.namespace}{key}/{block}", out=buffers.pulled[block])
        for block in used:
            buffers.pulled[block].wait_to_read()
        self.bytes_exchanged += 2 * buffers.outgoing[: len(used) * buffers.block_rows].nbytes
        return buffers.incoming

    def sum(self, key: str, array: np.ndarray, counted: bool = True) -> np.ndarray:
        """The sum over the hosts of the array each pushes under `key`, in its type (the key's); every host must
        call it. The result is the key's receiving buffer: read it before the key's next sum. bytes_exchanged
        counts the weights' exchanges, not the checks' and reports' (counted False)."""
        self._require_sums()
        buffers = self._buffers[key]
        if not np.shares_memory(array, buffers.outgoing):
            np.copyto(buffers.outgoing, array)
        self.kvstore.push(self.namespace + key, buffers.pushed)
        self.kvstore.pull(self.namespace + key, out=buffers.pulled)
        buffers.pulled.wait_to_read()
        if counted:
            self.bytes_exchanged += 2 * array.nbytes
        return buffers.incoming

    def _require_sums(self) -> None:
        """Raises unless the servers sum what the hosts push (no weights held, whose update would apply too)."""
        if self._held:
            raise RuntimeError("the servers hold weights (hold_rows): their update would apply to this sum too")

    def hold_rows(self, weights: dict[str, npt.NDArray[np.float32]]) -> None:
        """The servers hold these (rows, dim) float32 weights, the same on every host, from now on: add_rows
        changes them, rows reads them. Called once, after the last sum() (the servers' update applies to every
        key)."""
        for key, values in weights.items():
            all_rows = np.arange(len(values), dtype=np.int64)  # the servers refuse an initial value without rows
            self.kvstore.init(
                self.namespace + key, mx.nd.sparse.row_sparse_array((values, all_rows), shape=values.shape)
            )
            self._held[key] = values.shape
        self.kvstore.set_optimizer(mx.optimizer.SGD(learning_rate=1.0, wd=0.0, rescale_grad=1.0, lazy_update=True))

    def add_rows(self, key: str, rows: npt.NDArray[np.int64], change: npt.NDArray[np.float32]) -> None:
        """Adds this host's change of `rows` (sorted) to the weights the servers hold; every host calls it once a
        round for each key (the servers wait for every host's)."""
        if not len(rows):  # every host must push: an unchanged row 0 stands for none
            rows, change = np.zeros(1, np.int64), np.zeros((1, change.shape[1]), np.float32)
        self.kvstore.push(self.namespace + key, mx.nd.sparse.row_sparse_array((-change, rows), shape=self._held[key]))
        self.bytes_exchanged += len(rows) * row_bytes(change.shape[1])

    def rows(self, key: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The servers' values of `rows` (sorted): every host's changes added so far (a pull after this host's
        push waits until every host has pushed)."""
        if not len(rows):
            return np.empty((0, self._held[key][1]), np.float32)
        values = mx.nd.sparse.zeros("row_sparse", self._held[key])
        self.kvstore.row_sparse_pull(self.namespace + key, out=values, row_ids=mx.nd.array(rows, dtype=np.int64))
        self.bytes_exchanged += len(rows) * row_bytes(self._held[key][1])
        return values.data.asnumpy()


class ExchangeBuffers:
    def __init__(self, shape: tuple[int, ...], dtype: type) -> None:
        """A key's outgoing and incoming arrays, allocated once: numpy's, and MXNet's sharing their memory, so an
        epoch's exchange neither allocates (first writes to fresh pages cost as much as a copy) nor copies between
        numpy and MXNet (0.06 s an epoch for the UCI embedding's 21 M float16 values)."""
        self.outgoing: np.ndarray = np.zeros(shape, dtype)
        self.incoming: np.ndarray = np.zeros(shape, dtype)
        # Their contents change only between a sum's wait for its pull and the next push.
        self.pushed = sharing_ndarray(self.outgoing)
        self.pulled = sharing_ndarray(self.incoming)


class RowBlockBuffers:
    def __init__(self, shape: tuple[int, int], block_rows: int, dtype: type) -> None:
        """A key's outgoing and incoming arrays, allocated once, and MXNet's arrays sharing each block of their rows
        (as ExchangeBuffers, a block at a time): block_rows rows each, the last one the rows left."""
        self.block_rows = block_rows
        self.outgoing: np.ndarray = np.zeros(shape, dtype)
        self.incoming: np.ndarray = np.zeros(shape, dtype)
        blocks = [slice(start, start + block_rows) for start in range(0, shape[0], block_rows)]
        self.pushed = [sharing_ndarray(self.outgoing[block]) for block in blocks]
        self.pulled = [sharing_ndarray(self.incoming[block]) for block in blocks]


def sharing_ndarray(array: np.ndarray) -> mx.nd.NDArray:
    """An MXNet array over a C-contiguous numpy array's memory, no copy. from_numpy makes the array it wraps
    read-only, so it gets a view: the numpy array stays writable."""
    return mx.nd.from_numpy(array.view(), zero_copy=True)


def row_bytes(dim: int) -> int:
    """What a row of float32 weights costs on the wire: its values and its int64 index."""
    return dim * 4 + 8
