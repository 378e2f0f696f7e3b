"""docs/serving.md's table of request limits is the code's: every limit's env var and default."""

import re

from headlines import contract
from headlines.environment import ServingEnvironment
from tests.support.repo import REPO


def _table():
    text = (REPO / "docs" / "serving.md").read_text(encoding="utf-8")
    table = text.split("| limit | env var | default | over it |", 1)[1].split("\n\n", 1)[0]
    return {
        name: (default, answer)
        for name, default, answer in re.findall(r"^\| [^|]+ \| `([A-Z_]+)` \| ([^|]+) \| ([^|]+) \|", table, flags=re.M)
    }


def _numbers(text):
    return [int(number.replace(",", "")) for number in re.findall(r"\d[\d,]*", text)]


def test_the_limits_table_is_the_codes():
    table = _table()
    real_time = ServingEnvironment.from_environ({}, cpu_count=1).limits
    batch = ServingEnvironment.from_environ({contract.BATCH_ENV: "true"}, cpu_count=1).limits
    assert set(table) == {
        contract.MAX_PAYLOAD_ENV,
        contract.MAX_INSTANCES_ENV,
        contract.MAX_HEADLINE_CHARS_ENV,
        contract.MAX_TOKEN_CHARS_ENV,
        contract.MAX_NEIGHBOURS_ENV,
    }
    assert _numbers(table[contract.MAX_PAYLOAD_ENV][0]) == [real_time.body_chars // 2**20, batch.body_chars // 2**20]
    assert _numbers(table[contract.MAX_INSTANCES_ENV][0]) == [
        contract.BYTES_PER_INSTANCE,
        real_time.instances,
        batch.instances,
    ]
    assert _numbers(table[contract.MAX_HEADLINE_CHARS_ENV][0]) == [real_time.headline_chars]
    assert _numbers(table[contract.MAX_TOKEN_CHARS_ENV][0]) == [real_time.token_chars]
    assert _numbers(table[contract.MAX_NEIGHBOURS_ENV][0]) == [real_time.neighbours]
    assert {answer.strip() for _, answer in table.values()} == {"413"}


def test_every_limit_is_read_from_its_env_var():
    environ = {
        contract.MAX_INSTANCES_ENV: "7",
        contract.MAX_HEADLINE_CHARS_ENV: "8",
        contract.MAX_TOKEN_CHARS_ENV: "9",
        contract.MAX_NEIGHBOURS_ENV: "10",
        contract.MAX_PAYLOAD_ENV: "2",
    }
    limits = ServingEnvironment.from_environ(environ, cpu_count=1).limits
    assert (limits.body_chars, limits.instances, limits.headline_chars, limits.token_chars, limits.neighbours) == (
        2 * 2**20,
        7,
        8,
        9,
        10,
    )
