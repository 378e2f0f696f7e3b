"""One set of word vectors on several hosts, through MXNet's parameter servers (runtime/host_exchange.py).

After every round each host pushes what its round changed in the weights (the delta since the last
synchronisation); the servers sum the hosts' deltas, and every host pulls the sum and adds it to the weights of
the last synchronisation. Each host's updates reach the others a round late, as Hogwild threads see each other's a
moment late: the sum, not the mean, so a word's updates count the same on two hosts as on one.
"""

import numpy as np
import numpy.typing as npt

from ...runtime.distributed import KVStore
from ...runtime.host_exchange import HostExchange
from .engine import CpuEngine

WEIGHT_KEYS = ("input_weights", "output_weights")
DIFFERENT_TEXT = (
    "The hosts of this job read different text or settings, so their vocabularies differ: every host needs the "
    "whole corpus (S3DataDistributionType FullyReplicated, not ShardedByS3Key) and the same hyperparameters; each "
    "trains on its own share of it."
)


class WeightSync:
    def __init__(self, kvstore: KVStore, engine: CpuEngine, fingerprint: str) -> None:
        self.engine = engine
        self.exchange = HostExchange(kvstore, fingerprint, DIFFERENT_TEXT)
        self._last: dict[str, npt.NDArray[np.float32]] = {}  # the weights at the last synchronisation
        for key in WEIGHT_KEYS:
            weights = getattr(engine, key)
            self._last[key] = weights.copy()
            self.exchange.add_key(key, weights.shape)

    @property
    def bytes_exchanged(self) -> int:
        return self.exchange.bytes_exchanged

    def sync(self) -> None:
        for key in WEIGHT_KEYS:
            weights, last = getattr(self.engine, key), self._last[key]
            last += self.exchange.sum(key, weights - last)
            weights[:] = last
