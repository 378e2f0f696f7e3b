"""A stand-in for the dist_sync kvstore that runtime/host_exchange.py drives, for unit tests of one host."""


class SummingKVStore:
    """What a dist_sync kvstore without an optimizer does for n workers that push in step: pull returns the sum
    of the pushes. The other workers' pushes are given: others(key, own pushed array) -> their sum."""

    num_workers = 2

    def __init__(self, others):
        self.others, self.stored = others, {}

    def init(self, key, value):
        self.stored[key] = value.asnumpy()

    def push(self, key, value):
        self.stored[key] = value.asnumpy() + self.others(key, value.asnumpy())

    def pull(self, key, out):
        out[:] = self.stored[key]
