"""Arrays summed over the hosts of a job through MXNet's parameter servers (the `dist_sync` kvstore that
distributed.py starts, with no optimizer on the servers: a pull returns the sum of the hosts' pushes). The CPU
engines of both jobs exchange their weights this way; first every host checks that the others set out from the
same vocabulary and settings, or the rows they add up would mean different things.

Weights whose rounds change only some rows (the word-vector job's) are held by the servers instead (hold_rows):
each host pushes its changed rows as a row-sparse array, the servers add every host's to the weights (MXNet's own
`sgd` update at rate 1 on the negated change, lazy: only the pushed rows), and each host pulls the rows any host
changed. Which rows those are, a host learns from a dense count a row (4 bytes a row, against 4 x dim for the row's
values). Without an optimizer the servers do not sum row-sparse pushes: a pull returned other rows' sums (MXNet
1.9.1, two servers)."""

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
    def __init__(self, kvstore: KVStore, fingerprint: str, differ_reason: str) -> None:
        """Joins the exchange; raises JobError(differ_reason) unless every host pushed the same fingerprint."""
        self.kvstore = kvstore
        self.hosts: int = kvstore.num_workers
        self.bytes_exchanged = 0
        # Per key the servers hold: how many times any host changed each row (float32: exact up to 2^24, some
        # 2.7e11 tokens x epochs at 2^14 tokens a host and round).
        self._counts: dict[str, npt.NDArray[np.float32]] = {}
        self.require_same(FINGERPRINT_KEY, fingerprint, differ_reason)

    def require_same(self, key: str, text: str, differ_reason: str) -> None:
        """Raises JobError(differ_reason) unless every host passed the same text (each key once, on every host).
        Its bytes are not counted in bytes_exchanged, which counts the weights'."""
        own = fingerprint_parts(text)
        self.add_key(key, own.shape)
        counted = self.bytes_exchanged
        total = self.sum(key, own)
        self.bytes_exchanged = counted
        if not np.array_equal(total, own * self.hosts):
            raise JobError(differ_reason)

    def add_key(self, key: str, shape: tuple[int, ...], dtype: type = np.float32) -> None:
        """Makes `key` an array of this shape and type that sum() can add up (every host adds the same keys)."""
        self.kvstore.init(key, mx.nd.zeros(shape, dtype=dtype))

    def sum(self, key: str, array: np.ndarray) -> np.ndarray:
        """The sum over the hosts of the array each pushes under `key`, in its type (the key's); every host must
        call it."""
        if self._counts:
            raise RuntimeError("the servers hold weights (hold_rows): their update would apply to this sum too")
        total = mx.nd.zeros(array.shape, dtype=array.dtype)
        self.kvstore.push(key, mx.nd.array(array, dtype=array.dtype))
        self.kvstore.pull(key, out=total)
        self.bytes_exchanged += 2 * array.nbytes
        return total.asnumpy()

    def hold_rows(self, weights: dict[str, npt.NDArray[np.float32]]) -> None:
        """The servers hold these (rows, dim) float32 weights, the same on every host, from now on, and add_rows
        changes them; called once, after the last sum() (the servers' update applies to every key)."""
        for key, values in weights.items():
            all_rows = np.arange(len(values), dtype=np.int64)  # the servers refuse an initial value without rows
            self.kvstore.init(key, mx.nd.sparse.row_sparse_array((values, all_rows), shape=values.shape))
            self.kvstore.init(counts_key(key), mx.nd.zeros(len(values), dtype=np.float32))
            self._counts[key] = np.zeros(len(values), np.float32)
        self.kvstore.set_optimizer(mx.optimizer.SGD(learning_rate=1.0, wd=0.0, rescale_grad=1.0, lazy_update=True))

    def add_rows(
        self, key: str, rows: npt.NDArray[np.int64], change: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Adds this host's change of `rows` (sorted) to the weights the servers hold, as every host does at once:
        returns the rows any host changed (sorted) and their new values."""
        counts = self._counts[key]
        changed_here = np.zeros(len(counts), np.float32)
        changed_here[rows] = -1.0  # the update subtracts: the servers' count of a row grows by one a host
        totals = mx.nd.zeros(len(counts), dtype=np.float32)
        self.kvstore.push(counts_key(key), mx.nd.array(changed_here, dtype=np.float32))
        self.kvstore.pull(counts_key(key), out=totals)
        totals_now = totals.asnumpy()
        changed = np.flatnonzero(totals_now != counts)
        counts[:] = totals_now
        self.bytes_exchanged += 2 * counts.nbytes
        if not len(changed):  # no host changed a row (every host knows it): nothing to add
            return changed, np.empty((0, change.shape[1]), np.float32)
        shape = (len(counts), change.shape[1])
        self.kvstore.push(key, mx.nd.sparse.row_sparse_array((-change, rows), shape=shape))
        values = mx.nd.sparse.zeros("row_sparse", shape)
        self.kvstore.row_sparse_pull(key, out=values, row_ids=mx.nd.array(changed, dtype=np.int64))
        row_bytes = change.shape[1] * 4 + 8  # a row's float32 values and its int64 index
        self.bytes_exchanged += (len(rows) + len(changed)) * row_bytes
        return changed, values.data.asnumpy()


def counts_key(key: str) -> str:
    """The key of the count of changes of each row of `key`'s weights."""
    return f"{key}/changes"
