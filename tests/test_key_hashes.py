"""The shared 64-bit key hashes (groupstats.tables.key_hashes): the engine's own hash function, and the
search for hashes seen more than once, with the same answer as a plain count of the values, for unsigned
hashes (also at and above 2**63) and signed ones."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from groupstats.tables.key_hashes import any_repeated, key_hash, repeated_hashes

TOP = 2**64 - 1


def _counted(values) -> list[int]:
    """The values seen more than once, by counting them (the reference)."""
    return sorted(v for v, n in Counter(int(x) for x in values).items() if n > 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repeated_hashes_equal_a_count_of_the_values(seed):
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, 50_000, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 50_000,
                                                                                            dtype=np.uint64)
    planted = rng.choice(len(hashes), 40, replace=False)
    hashes[planted[20:]] = hashes[planted[:20]]  # 20 values repeated, on both sides of 2**63
    hashes[:3] = [TOP, 2**63, 2**63 - 1]
    hashes[3:6] = [TOP, 2**63, 2**63 - 1]
    expected = _counted(hashes)
    assert len(expected) >= 23
    found = repeated_hashes(hashes.copy())
    assert found.dtype == np.uint64
    assert sorted(int(v) for v in found) == expected
    assert any_repeated(hashes.copy())
    distinct = np.unique(hashes)
    assert len(repeated_hashes(distinct.copy())) == 0 and not any_repeated(distinct.copy())


def test_repeated_hashes_of_signed_and_read_only_arrays():
    signed = np.array([-1, 5, -(2**63), 5, -1, 7], dtype=np.int64)
    assert repeated_hashes(signed.copy()).tolist() == [-1, 5]
    frozen = np.array([TOP, 3, TOP], dtype=np.uint64)
    frozen.flags.writeable = False
    assert repeated_hashes(frozen).tolist() == [TOP]
    assert frozen.tolist() == [TOP, 3, TOP]  # a read-only array is left as it is
    assert not any_repeated(np.zeros(0, dtype=np.uint64)) and not any_repeated(np.array([TOP], dtype=np.uint64))
    with pytest.raises(TypeError):
        repeated_hashes(np.array([1, 1], dtype=np.int32))


def test_key_hash_is_duckdbs_own_hash():
    """One, two and three text columns hash as DuckDB's ``hash`` does in SQL (unsigned 64 bits)."""
    import ibis

    from groupstats.engine import connect

    engine = connect("duckdb")
    t = ibis.memtable({"a": ["x", "y", None], "b": ["p", "q", "r"], "c": ["read", "click", "read"]})
    got = engine.execute(t.select(h1=key_hash("duckdb", t.a), h2=key_hash("duckdb", t.a, t.b),
                                  h3=key_hash("duckdb", t.a, t.b, t.c)))
    sql = engine.con.con.execute("SELECT hash(a), hash(a, b), hash(a, b, c) FROM (VALUES ('x', 'p', 'read'), "
                                 "('y', 'q', 'click'), (NULL, 'r', 'read')) v(a, b, c)").fetchall()
    assert [tuple(int(v) for v in row) for row in got[["h1", "h2", "h3"]].itertuples(index=False)] == sql
    assert len({row[2] for row in sql}) == 3
