"""A stand-in for the dist_sync kvstore that runtime/host_exchange.py drives, for unit tests of one host."""

import mxnet as mx
import numpy as np


class SummingKVStore:
    """What a dist_sync kvstore does for n workers that push in step. Without an optimizer, pull returns the sum of
    the pushes; with one (the `sgd` at rate 1 of HostExchange.hold_rows) the servers keep each key's value and
    subtract the summed pushes from it. The other workers' pushes are given: others(key, own pushed array, dense)
    -> their sum."""

    num_workers = 2
    rank = 0

    def __init__(self, others):
        self.others, self.stored, self.optimizer = others, {}, None

    def init(self, key, value):
        self.stored[key] = value.tostype("default").asnumpy()

    def set_optimizer(self, optimizer):
        assert optimizer.learning_rate == 1.0 and optimizer.wd == 0.0, "the stand-in only subtracts the pushes"
        self.optimizer = optimizer

    def push(self, key, value):
        own = value.tostype("default").asnumpy()
        total = own + self.others(key, own)
        self.stored[key] = self.stored[key] - total if self.optimizer else total

    def pull(self, key, out):
        out[:] = self.stored[key]

    def row_sparse_pull(self, key, out, row_ids):
        rows = row_ids.asnumpy().astype(np.int64)
        stored = self.stored[key]
        mx.nd.sparse.row_sparse_array((stored[rows], rows), shape=stored.shape).copyto(out)
