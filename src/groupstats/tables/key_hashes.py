"""The engine's 64-bit hashes of keys, and the hashes seen more than once.

Two checks ask whether a key repeats across millions of rows: the message ids
(:mod:`groupstats.tables.message_ids`) and each member's (post, type) of the read and
click events (:func:`groupstats.tables.feature_counts.event_keys_distinct`). Both hash the
key in the engine (:func:`key_hash`): equal keys have equal hashes, so hashes that are all
distinct prove the keys distinct; a hash seen twice is only a candidate (a repeated key,
or two keys whose hashes collide), which the caller settles on the keys themselves. On
DuckDB the hashes are fetched and sorted in memory (:func:`repeated_hashes`), a fraction
of the cost of the engine's hash table of ~10M keys.
"""
from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _builtin(kind: str, arity: int):
    import ibis
    import ibis.expr.datatypes as dt

    name, out = ("hash", dt.uint64) if kind == "duckdb" else ("xxhash64", dt.int64)
    # the engine's own function, called as a builtin: Ibis's hash() casts DuckDB's unsigned hash to a
    # signed integer through a string of 64 bits (~0.15 s CPU per 10M ids)
    # (Ibis reads the arguments off the function's own signature)
    signature = {1: lambda a: None, 2: lambda a, b: None, 3: lambda a, b, c: None}[arity]
    return ibis.udf.scalar.builtin(signature, name=name, signature=((dt.string,) * arity, out))


def key_hash(kind: str, *columns):
    """Expression: the 64-bit hash of the text columns ``columns`` (one key, up to three columns) on
    engine ``kind``.

    DuckDB's ``hash`` (unsigned 64 bits) or Spark's ``xxhash64`` (signed 64 bits). A NULL column
    hashes to a value too (not NULL).
    """
    return _builtin(kind, len(columns))(*columns)


def _sorted(hashes: np.ndarray) -> np.ndarray:
    """``hashes`` (64-bit integers) sorted, in place when writeable (else a sorted copy)."""
    hashes = np.asarray(hashes)
    if hashes.dtype.itemsize != 8 or hashes.dtype.kind not in "iu":
        raise TypeError(f"64-bit integer hashes expected, got {hashes.dtype}")
    if hashes.flags.writeable:
        hashes.sort()
        return hashes
    return np.sort(hashes)


def repeated_hashes(hashes: np.ndarray) -> np.ndarray:
    """The distinct values seen more than once in ``hashes`` (a 1-d array of 64-bit integers), in
    ``hashes``' dtype; empty when all are distinct. Sorts ``hashes`` in place when it is writeable."""
    keys = _sorted(hashes)
    return np.unique(keys[1:][keys[1:] == keys[:-1]])


def any_repeated(hashes: np.ndarray) -> bool:
    """Whether some value of ``hashes`` (64-bit integers) is seen more than once. Sorts ``hashes`` in
    place when it is writeable."""
    keys = _sorted(hashes)
    return bool((keys[1:] == keys[:-1]).any())
