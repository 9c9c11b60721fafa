"""What a table's Parquet statistics prove for every row: no empty values in a column, no negative numbers.

A Parquet file records, per row group and column, how many values are NULL and the smallest and
largest value (pyarrow, pandas, DuckDB and Spark write them). The dataset checks
(:mod:`groupstats.tables.checks`) skip a row rule that these numbers prove holds on every row: a
required column with no NULL in any row group of any file of the table, a count column whose
smallest value is not negative. Where a statistic is missing (a writer that records none, a row
group without it, a column absent from a file) nothing is proved and the rule is counted on the
rows, as before. Reading the footers costs milliseconds; counting the NULLs of ~10M unique message
ids costs ~0.4 s CPU (the column is decoded for it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: What a rule asks of one column: ``(NO_NULLS, column)`` or ``(NOT_NEGATIVE, column)``.
NO_NULLS = "no_nulls"
NOT_NEGATIVE = "not_negative"


@dataclass(frozen=True)
class ColumnStatistics:
    """One column over every row group of every file of a table.

    ``nulls``: NULL values (None: not recorded somewhere); ``min``: the smallest non-NULL value
    where every row group with a value records it (None: unknown, or every value NULL).
    """

    rows: int
    nulls: int | None
    min: object | None


def table_files(src, name: str) -> list[Path] | None:
    """The Parquet files DuckDB reads for table ``name`` of a folder :class:`~groupstats.engine.Source`
    (``name.parquet``, or every ``*.parquet`` under ``name/`` as the engine globs them); None for any
    other source (in-memory frames, CSV, Spark, a cut or a bucket of groups)."""
    path = getattr(src, "path", None)
    if (path is None or src.engine.kind != "duckdb" or src.cut_us is not None or src.groups is not None
            or src.in_memory):
        return None
    single, folder = Path(path) / f"{name}.parquet", Path(path) / name
    if single.is_file():
        return [single]
    if not folder.is_dir():
        return None
    pattern = str(folder.resolve()) + "/**/*.parquet"  # Engine.read's glob, expanded by DuckDB itself
    files = [Path(row[0]) for row in src.engine.con.con.execute("SELECT file FROM glob(?)", [pattern]).fetchall()]
    return files or None


def table_statistics(files: list[Path]) -> dict[str, ColumnStatistics]:
    """Per top-level column present in every file: its statistics over all row groups (footers only)."""
    import pyarrow.parquet as pq

    out: dict[str, ColumnStatistics] = {}
    for i, file in enumerate(files):
        meta = pq.ParquetFile(file).metadata
        found: dict[str, ColumnStatistics] = {}
        paths = [meta.schema.column(j).path for j in range(meta.num_columns)]
        for j, column in enumerate(paths):
            if "." in column or paths.count(column) > 1:  # nested: not a column of the data model
                continue
            found[column] = _column(meta, j)
        if i:
            found = {c: _combine(out[c], s) for c, s in found.items() if c in out}
        out = found
    return out


def _column(meta, j: int) -> ColumnStatistics:
    rows, nulls, low = 0, 0, None
    known_min = True  # the smallest value is known only as a whole number recorded in every row group with values
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        rows += group.num_rows
        stats = group.column(j).statistics
        if stats is None or not stats.has_null_count:
            nulls, known_min = None, False
            continue
        if nulls is not None:
            nulls += stats.null_count
        if stats.null_count == group.num_rows:
            continue
        if not stats.has_min_max or not _whole(stats.min):
            known_min = False
        else:
            low = stats.min if low is None else min(low, stats.min)
    return ColumnStatistics(rows, nulls, low if known_min else None)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _combine(a: ColumnStatistics, b: ColumnStatistics) -> ColumnStatistics:
    nulls = None if a.nulls is None or b.nulls is None else a.nulls + b.nulls
    if a.min is not None and b.min is not None:
        low = min(a.min, b.min)
    elif a.min is None and a.nulls == a.rows:  # a all NULL: b's
        low = b.min
    elif b.min is None and b.nulls == b.rows:
        low = a.min
    else:
        low = None
    return ColumnStatistics(a.rows + b.rows, nulls, low)


def proved(statistics: dict[str, ColumnStatistics] | None, proof: tuple[str, str] | None) -> bool:
    """Whether ``statistics`` (:func:`table_statistics`) prove ``proof`` (``(NO_NULLS, column)`` or
    ``(NOT_NEGATIVE, column)``) for every row."""
    if not statistics or proof is None:
        return False
    kind, column = proof
    stats = statistics.get(column)
    if stats is None or stats.nulls is None:
        return False
    if kind == NO_NULLS:
        return stats.nulls == 0
    if kind == NOT_NEGATIVE:
        if stats.nulls == stats.rows:  # every value NULL: none negative
            return True
        return _whole(stats.min) and stats.min >= 0
    return False
