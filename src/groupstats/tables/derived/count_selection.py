"""The counts a caller asks of a derived table, and the tables memoised on their source.

Post outcomes and group-day metrics compute each count by its own aggregation; a caller may ask
for some of them (``counts=``). A table computed once on a :class:`~groupstats.engine.Source` is
kept in ``Source.derived`` and cut to the counts asked by later callers.
"""
from __future__ import annotations

import pandas as pd

from groupstats.errors import ParameterError


def _counts_asked(counts, known: tuple, what: str) -> tuple:
    """The counts asked for, in the order of ``known`` (all of them for None); unknown names are a ParameterError."""
    if counts is None:
        return known
    asked = [counts] if isinstance(counts, str) else list(counts)
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise ParameterError(f"Unknown {what} count(s) {', '.join(map(repr, unknown))}; choose from "
                             f"{', '.join(known)}.")
    return tuple(c for c in known if c in asked)


def _memoised_counts(src, key: tuple, asked: tuple, subset, compute) -> pd.DataFrame:
    """The derived table ``key`` with the counts ``asked``, memoised on the source: cut by ``subset`` from a
    table with more counts already computed (e.g. all of them), else ``compute()``d by the engine."""
    if key + (asked,) not in src.derived:
        done = [k for k in src.derived if k[:-1] == key and set(asked) <= set(k[-1])]
        src.derived[key + (asked,)] = subset(src.derived[done[0]], asked) if done else compute()
    return _copy(src.derived[key + (asked,)])


def _counts_columns(frame: pd.DataFrame, asked: tuple, known: tuple, ratios: dict) -> pd.DataFrame:
    """``frame`` with only the counts ``asked`` of ``known``, and each ratio of ``ratios`` (name -> the counts it
    is made of) whose counts are all asked."""
    drop = [c for c in known if c not in asked]
    drop += [name for name, parts in ratios.items() if not set(parts) <= set(asked)]
    out = frame.loc[:, [c for c in frame.columns if c not in drop]]
    out.attrs = dict(frame.attrs)
    return out


def _copy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    return out
