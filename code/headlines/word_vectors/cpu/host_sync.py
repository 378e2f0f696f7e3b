"""One set of word vectors on several hosts, through MXNet's parameter servers (the `dist_sync` kvstore the
classifier uses, started by runtime/distributed.py).

After every round each host pushes what its round changed in the weights (the delta since the last
synchronisation); the servers sum the hosts' deltas, and every host pulls the sum and adds it to the weights of
the last synchronisation. Each host's updates reach the others a round late, as Hogwild threads see each other's a
moment late: the sum, not the mean, so a word's updates count the same on two hosts as on one.
"""

import hashlib
import logging

import mxnet as mx
import numpy as np
import numpy.typing as npt

from ...errors import JobError
from ...runtime.distributed import KVStore
from .engine import CpuEngine

logger = logging.getLogger(__name__)

WEIGHT_KEYS = ("input_weights", "output_weights")
FINGERPRINT_KEY = "fingerprint"
FINGERPRINT_PARTS = 8  # 16-bit parts of a SHA-256 prefix: exact in float32, and in their sum over hosts


def fingerprint_parts(text: str) -> npt.NDArray[np.float32]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.frombuffer(digest[: 2 * FINGERPRINT_PARTS], dtype=np.uint16).astype(np.float32)


class WeightSync:
    def __init__(self, kvstore: KVStore, engine: CpuEngine, fingerprint: str) -> None:
        self.kvstore = kvstore
        self.engine = engine
        self.bytes_exchanged = 0
        self._agree(fingerprint)
        self._last: dict[str, npt.NDArray[np.float32]] = {}  # the weights at the last synchronisation
        for key in WEIGHT_KEYS:
            weights = getattr(engine, key)
            self._last[key] = weights.copy()
            kvstore.init(key, mx.nd.zeros(weights.shape))

    def _agree(self, fingerprint: str) -> None:
        """Every host must have built the same vocabulary from the same text, or the rows would mean different
        words: each pushes a fingerprint, and the sum must be the number of hosts times its own."""
        own = fingerprint_parts(fingerprint)
        total = mx.nd.zeros(own.shape)
        self.kvstore.init(FINGERPRINT_KEY, mx.nd.zeros(own.shape))
        self.kvstore.push(FINGERPRINT_KEY, mx.nd.array(own))
        self.kvstore.pull(FINGERPRINT_KEY, out=total)
        if not np.array_equal(total.asnumpy(), own * self.kvstore.num_workers):
            raise JobError(
                "The hosts of this job read different text or settings, so their vocabularies differ: every host "
                "needs the whole corpus (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same "
                "hyperparameters; each trains on its own share of it."
            )

    def sync(self) -> None:
        for key in WEIGHT_KEYS:
            weights, last = getattr(self.engine, key), self._last[key]
            summed = mx.nd.zeros(weights.shape)
            self.kvstore.push(key, mx.nd.array(weights - last))
            self.kvstore.pull(key, out=summed)
            last += summed.asnumpy()
            weights[:] = last
            self.bytes_exchanged += 2 * weights.nbytes  # pushed and pulled
