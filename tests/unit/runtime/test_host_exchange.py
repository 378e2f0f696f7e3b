"""HostExchange's row blocks: an array whose leading rows are summed over the hosts through keys of a block of rows
each, under the exchange's namespace; only the blocks that hold those rows travel."""

import numpy as np

from headlines.runtime.host_exchange import HostExchange
from tests.support.kvstore import SummingKVStore


def _exchange(namespace):
    """One of two hosts whose peer pushes what this one does; the keys each push names, in order."""
    kvstore = SummingKVStore(lambda key, own: own)
    initialised, pushed = [], []
    real_init, real_push = kvstore.init, kvstore.push
    kvstore.init = lambda key, value: (initialised.append((key, value.shape)), real_init(key, value))
    kvstore.push = lambda key, value: (pushed.append(key), real_push(key, value))
    exchange = HostExchange(kvstore, "", "", namespace=namespace)
    initialised.clear()
    pushed.clear()
    return exchange, initialised, pushed


def test_the_servers_hold_a_key_a_block_the_last_one_the_rows_left_under_the_namespace():
    exchange, initialised, _ = _exchange("refit/")
    exchange.add_row_blocks("embedding", (10, 3), np.float16, 4)
    assert initialised == [("refit/embedding/0", (4, 3)), ("refit/embedding/1", (4, 3)), ("refit/embedding/2", (2, 3))]
    assert exchange.outbox("embedding").shape == (10, 3) and exchange.outbox("embedding").dtype == np.float16


def test_the_leading_rows_are_summed_and_only_their_blocks_travel():
    exchange, _, pushed = _exchange("")
    exchange.add_row_blocks("embedding", (10, 3), np.float16, 4)
    outbox = exchange.outbox("embedding")
    outbox[:] = np.arange(30, dtype=np.float16).reshape(10, 3)
    total = exchange.sum_rows("embedding", 5)
    assert pushed == ["embedding/0", "embedding/1"]
    np.testing.assert_array_equal(total[:5], 2 * outbox[:5])
    assert exchange.bytes_exchanged == 2 * 8 * 3 * 2
    pushed.clear()
    exchange.sum_rows("embedding", 10)
    assert pushed == ["embedding/0", "embedding/1", "embedding/2"]
    assert exchange.bytes_exchanged == 2 * 8 * 3 * 2 + 2 * 10 * 3 * 2
    pushed.clear()
    exchange.sum_rows("embedding", 0)
    assert pushed == []
