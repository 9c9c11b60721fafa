"""Derived tables of a dataset folder, computed by the engine without loading the folder into pandas.

Thin calls: every table has one definition (:mod:`groupstats.tables.derived`,
:mod:`groupstats.tables.features`, :mod:`groupstats.tables.checks`), which runs
on a :class:`~groupstats.engine.Source`. Here the source is a folder (one
``name.parquet``, a folder ``name/`` of Parquet files such as
``messages/month=2026-01/*.parquet``, or ``name.csv`` per table) read by the
engine: embedded DuckDB by default, streaming the messages through hash
aggregations under ``memory_limit`` and spilling to the system's temporary
folder; or Spark (``engine="spark"``). Only the results, one row per post,
member, member-day or group-day, come back as pandas frames.

Example
-------
>>> from groupstats.tables import scale
>>> activity = scale.member_day_activity("big_dataset/", memory_limit="1GB")  # doctest: +SKIP
>>> feats = scale.member_features("big_dataset/", cutoff="2026-10-01", engine="spark")  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path


def open_source(path, tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB",
                engine: str | None = None, spark_master: str | None = None):
    """The :class:`~groupstats.engine.Source` of a dataset folder (a Source is returned as it is)."""
    from groupstats.checks import check_scalar
    from groupstats.engine import Source

    if isinstance(path, Source):
        return path
    check_scalar(memory_limit, "memory_limit", typ=str)
    return Source.from_path(path, engine=engine, tz=tz, spark_master=spark_master, memory_limit=memory_limit,
                            threads=threads)


def member_day_activity(path, as_of=None, include_operators: bool = False, tz: str | None = None,
                        threads: int | None = None, memory_limit: str = "512MB", out=None,
                        engine: str | None = None, spark_master: str | None = None):
    """:func:`groupstats.tables.derived.member_day_activity` of a folder.

    With ``out`` (a folder), the table is written there as Parquet by the engine instead of
    being returned (at 100M messages it has ~66M rows): ``part-000.parquet``, or for a large
    dataset one file per bucket of groups (:mod:`groupstats.tables.group_buckets`), the files in
    order of the keys; returns the number of rows written.
    """
    from groupstats.tables import derived
    from groupstats.tables.group_buckets import group_buckets

    src = open_source(path, tz, threads, memory_limit, engine, spark_master)
    if out is None:
        return derived.member_day_activity(src, as_of=as_of, include_operators=include_operators)
    if as_of is not None:
        src = src.cut(src.timestamp_us(as_of))
    import ibis
    import pyarrow.parquet as pq

    types = derived.event_types(src, include_operators)  # global: every file has the same columns
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-[0-9][0-9][0-9].parquet"):  # an earlier run's files (maybe more buckets)
        stale.unlink()
    rows = 0
    for k, bucket in enumerate(group_buckets(src) or [None]):
        part = src if bucket is None else src.restrict_groups(*bucket)
        expr = derived.member_day_activity_expr(part, include_operators, types)
        expr = expr.mutate(date=ibis.date(1970, 1, 1) + expr.day.as_interval("D")).order_by(
            ["group_id", "member_id", "day"])
        target = folder / f"part-{k:03d}.parquet"
        src.engine.con.to_parquet(expr.drop("day").relocate("date", after="member_id"), str(target))
        rows += pq.ParquetFile(target).metadata.num_rows
    return rows


def group_day_metrics(path, as_of=None, start=None, end=None, tz: str | None = None, threads: int | None = None,
                      memory_limit: str = "512MB", engine: str | None = None, spark_master: str | None = None):
    """:func:`groupstats.tables.derived.group_day_metrics` of a folder."""
    from groupstats.tables import derived

    src = open_source(path, tz, threads, memory_limit, engine, spark_master)
    return derived.group_day_metrics(src, as_of=as_of, start=start, end=end)


def post_outcomes(path, window="2h", read_window="24h", as_of=None, exclude_red_packets=None,
                  tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB",
                  engine: str | None = None, spark_master: str | None = None):
    """:func:`groupstats.tables.derived.post_outcomes` of a folder."""
    from groupstats.tables import derived

    src = open_source(path, tz, threads, memory_limit, engine, spark_master)
    return derived.post_outcomes(src, window=window, read_window=read_window, as_of=as_of,
                                 exclude_red_packets=exclude_red_packets)


def member_features(path, cutoff=None, windows=(7, 30, 90), normalise_within_group: bool = False,
                    tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB",
                    engine: str | None = None, spark_master: str | None = None):
    """:func:`groupstats.tables.features.member_features` of a folder."""
    from groupstats.tables import features

    src = open_source(path, tz, threads, memory_limit, engine, spark_master)
    return features.member_features(src, cutoff=cutoff, windows=windows,
                                    normalise_within_group=normalise_within_group)


def validate(path, tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB",
             engine: str | None = None, spark_master: str | None = None) -> dict:
    """Check a dataset folder against the data model without loading it into pandas
    (:func:`groupstats.tables.checks.validate_source`); rows per table."""
    from groupstats.tables.checks import validate_source

    return validate_source(open_source(path, tz, threads, memory_limit, engine, spark_master))
