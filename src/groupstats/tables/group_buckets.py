"""Large datasets a bucket of groups at a time: one definition of each table, another way to run it.

Every derived table is per group: a post's outcomes, a group-day's metrics, a member-day's
activity and a member's features read only the rows of their own group (messages, members,
posts and events of that group; operators are operators of that group). So a table computed
on a :class:`~groupstats.engine.Source` restricted to some groups
(:meth:`~groupstats.engine.Source.restrict_groups`) has exactly the rows the whole table has for
those groups, and the whole table is the concatenation over buckets of groups that cover every
group once. :func:`by_group_buckets` runs a computation that way when the messages table has more
than :data:`BUCKET_ABOVE_MESSAGES` rows; below that it runs it once, as before.

Why: DuckDB's hash joins and aggregations over ~100M messages ran out of memory at the default
512 MB limit (and at 8 GB) because its optimiser underestimates the filtered message stream
and builds hash tables on the large side; a bucket of ~:data:`MESSAGES_PER_BUCKET` messages is
the size that runs comfortably within the limit.

- Buckets are adjacent ranges of group_id (``lo <= group_id < hi``, the first and last unbounded),
  balanced by message count (one aggregation of the messages by group), so every row of every
  table, including groups without messages, falls in exactly one bucket, and the engine skips the
  Parquet row groups whose group_id statistics lie outside a bucket.
- What is global stays global: first and last message time, the zone's offsets, the cutoff, the
  event types present, the grid of group-days; the callers compute them once on the whole source.
- References count within their group, as in every chat export: a message quoting a post
  (``reply_to``) or an event on a post (``post_id``) counts for a post of its own group only (the
  definitions join on the group too), so nothing crosses a bucket.
- Spark partitions the work itself: buckets are DuckDB's only.

Example
-------
>>> from groupstats.tables.group_buckets import by_group_buckets
>>> frame = by_group_buckets(src, lambda b: b.execute(expression_of(b)))   # doctest: +SKIP
"""
from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

#: Above this many rows in the messages table (all of it, whatever the cutoff), derived tables run a
#: bucket of groups at a time on DuckDB.
BUCKET_ABOVE_MESSAGES = 20_000_000
#: Target number of messages per bucket (10M messages run within DuckDB's default 512 MB).
MESSAGES_PER_BUCKET = 10_000_000


def group_buckets(src, above: int | None = None, per_bucket: int | None = None) -> list[tuple] | None:
    """The buckets of groups of ``src``: a list of ``(lo, hi)`` group_id ranges (None: unbounded), or None
    when the messages table has at most ``above`` rows (default :data:`BUCKET_ABOVE_MESSAGES`), the
    engine is not DuckDB, or ``src`` is already restricted to some groups.

    Each bucket holds about ``per_bucket`` messages (default :data:`MESSAGES_PER_BUCKET`); a group is
    never split. Decided once per dataset (memoised with the source's derived tables, every cut alike).
    """
    above = BUCKET_ABOVE_MESSAGES if above is None else int(above)
    per_bucket = MESSAGES_PER_BUCKET if per_bucket is None else int(per_bucket)
    if src.engine.kind != "duckdb" or src.groups is not None or not src.has("messages"):
        return None
    key = ("group_buckets", (above, per_bucket))  # last item a tuple, as the memo of derived tables expects
    if key not in src.derived:
        src.derived[key] = _buckets(src, above, per_bucket)
    return src.derived[key]


def _buckets(src, above: int, per_bucket: int) -> list[tuple] | None:
    raw = src.raw["messages"]
    total = int(src.execute(raw.count()))  # Parquet: from the files' metadata
    if total <= above:
        return None
    gid = raw.select(group_id=raw.group_id if raw.group_id.type().is_string() else raw.group_id.cast("string"))
    per_group = src.execute(gid.group_by("group_id").aggregate(n=gid.count()))
    per_group = per_group.dropna(subset=["group_id"])
    per_group = per_group.assign(group_id=per_group["group_id"].astype(str)).sort_values("group_id")
    n_buckets = max(1, math.ceil(total / max(1, per_bucket)))
    # a new bucket starts at the first group whose cumulative count passes the next multiple of total / n
    before = per_group["n"].cumsum().to_numpy() - per_group["n"].to_numpy()
    which = (before * n_buckets // max(1, total)).clip(0, n_buckets - 1)
    starts = [str(g) for g, first in zip(per_group["group_id"], pd.Series(which).diff().fillna(1).to_numpy())
              if first > 0][1:]
    if not starts:
        return None
    bounds = [None, *starts, None]
    return list(zip(bounds[:-1], bounds[1:]))


def by_group_buckets(src, compute: Callable, above: int | None = None,
                     per_bucket: int | None = None) -> pd.DataFrame:
    """``compute(src)``, or, for a large dataset, ``compute`` on each bucket of groups, concatenated.

    Parameters
    ----------
    src : Source
        The dataset's tables (any cut).
    compute : callable
        ``compute(source) -> DataFrame``: a per-group table of ``source`` (each row belongs to one group),
        from an expression built on ``source`` (e.g. ``lambda b: b.execute(expr(b))``). Anything that must
        be global (event types, a grid, the first message time) is computed by the caller beforehand.
    above, per_bucket : int, optional
        See :func:`group_buckets` (defaults :data:`BUCKET_ABOVE_MESSAGES`, :data:`MESSAGES_PER_BUCKET`).

    Returns
    -------
    DataFrame: the buckets' frames in bucket order (ascending group_id ranges), index 0..n-1. Its rows are
    those of ``compute(src)``, not necessarily in its order: callers sort or reindex as they did. A column
    whose dtype differs between buckets (an integer column that has NULLs in one bucket only) is float64.
    """
    buckets = group_buckets(src, above, per_bucket)
    if not buckets:
        return compute(src)
    frames = [compute(src.restrict_groups(lo, hi)) for lo, hi in buckets]
    return concat_buckets(frames)


def concat_buckets(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after the other, each column with one dtype (float64 where the buckets disagree
    on a numeric column, e.g. int64 without NULLs in one bucket and float64 with NaN in another)."""
    kept = [f for f in frames if len(f)] or frames[:1]
    columns = list(kept[0].columns)
    fixed = [f.loc[:, columns] for f in kept]
    if len(fixed) > 1:
        for col in columns:
            kinds = {str(f[col].dtype) for f in fixed}
            if len(kinds) > 1 and all(_numeric_or_null(f[col]) for f in fixed):
                for i, f in enumerate(fixed):
                    fixed[i] = f.assign(**{col: pd.to_numeric(f[col]).astype("float64")})
    out = pd.concat(fixed, ignore_index=True)
    out.attrs = dict(kept[0].attrs)
    return out


def _numeric_or_null(s: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return True
    return s.dtype == object and bool(s.isna().all())  # a column of NULLs only (Ibis gives objects then)
