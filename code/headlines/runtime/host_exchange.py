"""Arrays summed over the hosts of a job through MXNet's parameter servers (the `dist_sync` kvstore that
distributed.py starts, with no optimizer on the servers: a pull returns the sum of the hosts' pushes). The CPU
engines of both jobs exchange their weights this way; first every host checks that the others set out from the
same vocabulary and settings, or the rows they add up would mean different things."""

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
        total = mx.nd.zeros(array.shape, dtype=array.dtype)
        self.kvstore.push(key, mx.nd.array(array, dtype=array.dtype))
        self.kvstore.pull(key, out=total)
        self.bytes_exchanged += 2 * array.nbytes
        return total.asnumpy()
