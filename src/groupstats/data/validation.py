"""Reading, coercing and validating the tables of a dataset.

Per-row rules (types, ISO 8601 timestamps, whole numbers) are checked here, while the raw
files are parsed and coerced; the rules that are aggregations (required values, categories,
non-negative counts, unique keys, references between tables, intervals and overlaps) have one
definition, as Ibis expressions in :mod:`groupstats.tables.checks`, run on the coerced frames
registered in DuckDB (:func:`~groupstats.tables.checks.check_frames`) as on a dataset folder.
:mod:`groupstats.data.dataset` builds the :class:`~groupstats.data.dataset.Dataset` from
the result of :func:`validate_tables`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import DataValidationError, GroupstatsError, Problem
from groupstats.data.schema import REQUIRED_TABLES, TABLE_NAMES, TABLES, TableSpec


# --------------------------------------------------------------------------------------
# reading and coercing
# --------------------------------------------------------------------------------------
def _table_file(folder: Path, name: str) -> Path | None:
    found = [p for p in (folder / f"{name}.parquet", folder / f"{name}.csv") if p.exists()]
    if len(found) > 1:
        raise DataValidationError([Problem(
            str(found[0].parent), None,
            f"both {name}.parquet and {name}.csv exist; keep one of them")])
    return found[0] if found else None


def _read_raw(path: Path) -> pd.DataFrame:
    csv_options = dict(dtype=str, keep_default_na=False, na_values=[""])
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            try:
                frame = pd.read_csv(path, encoding="utf-8-sig", **csv_options)
            except UnicodeDecodeError:  # UTF-16 or GBK/GB18030 (Excel in China): decode, else name the tries
                import io

                from groupstats.data.importers.common import read_text

                frame = pd.read_csv(io.StringIO(read_text(path)), **csv_options)
    except GroupstatsError as exc:
        raise DataValidationError([Problem(str(path), None, str(exc).removeprefix(f"{path.name}: "))]) from exc
    except Exception as exc:  # unreadable file: name it, say why
        raise DataValidationError([Problem(str(path), None, f"cannot be read: {exc}")]) from exc
    return frame.reset_index(drop=True)


def _as_id(series: pd.Series) -> pd.Series:
    """Identifiers are strings; integer ids read from Parquet become their decimal text."""
    if pd.api.types.is_float_dtype(series.dtype):
        # ids that went through a float column (NaN present): 12.0 -> "12"
        out = series.astype("Int64").astype("str")
    elif pd.api.types.is_string_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype):
        return series if series.dtype == "str" else series.astype("str")
    else:
        out = series.astype("str")
    return out.where(series.notna(), None).astype("str")


#: A UTC offset after a time of day (a date alone, 2026-01-05, ends in "-05" but has none).
_HAS_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _localise(parsed: pd.Series, tz: str) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert(tz)
    return parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")


def _parse_text_timestamps(text: pd.Series, tz: str, timestamp_format: str | None) -> pd.Series:
    """Text -> tz-aware timestamps: ISO 8601 only, or exactly ``timestamp_format`` if declared.

    Nothing is guessed: ``05/01/2026`` is NaT (an unparseable value) unless the format says
    which part is the day. ISO values with a UTC offset are converted to ``tz``; those without
    are local times in ``tz``.
    """
    if timestamp_format is not None:
        try:
            parsed = pd.to_datetime(text, format=timestamp_format, errors="coerce")
        except ValueError:  # several UTC offsets in one column
            parsed = pd.to_datetime(text, format=timestamp_format, errors="coerce", utc=True)
        return _localise(parsed, tz)
    out = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[us, {tz}]")
    aware = text.str.contains(_HAS_OFFSET, regex=True, na=False).to_numpy()
    if (~aware).any():
        naive = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
        out[~aware] = _localise(naive, tz).dt.as_unit("us")
    if aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True)
        out[aware] = parsed.dt.tz_convert(tz).dt.as_unit("us")
    return out


def _parse_timestamps(series: pd.Series, tz: str,
                      timestamp_format: str | None = None) -> tuple[pd.Series, np.ndarray]:
    """Parse to tz-aware microsecond timestamps in ``tz``; return (parsed, bad_row_mask).

    Columns already typed as timestamps (Parquet) are converted; text must be ISO 8601 unless
    ``timestamp_format`` (a strftime format such as ``'%d/%m/%Y %H:%M'``) is declared.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype):
        parsed = _localise(series, tz)
    else:
        parsed = _parse_text_timestamps(series.astype("str"), tz, timestamp_format)
    parsed = parsed.dt.as_unit("us")
    bad = (parsed.isna() & series.notna()).to_numpy(copy=True)
    return parsed, bad


def _timestamp_problem(file: str, col: str, series: pd.Series, bad: np.ndarray,
                       timestamp_format: str | None) -> Problem:
    """The problem of unparseable timestamps: which rows and values, and how to fix them."""
    rows = np.flatnonzero(bad)
    if timestamp_format is None:
        text = ("timestamps that are not ISO 8601 (write 2026-01-05 10:00 or 2026-01-05T10:00:00+08:00; "
                "for another form, declare it with --timestamp-format '%d/%m/%Y %H:%M' or "
                "\"timestamp_format\" in dataset.json: it is never guessed)")
    else:
        text = f"timestamps that do not match the declared format {timestamp_format!r}"
    return Problem(file, col, f"unparseable timestamp(s): {text}", rows + 1,
                   values=series.iloc[rows[:Problem.MAX_VALUES_SHOWN]].tolist())


def _coerce(frame: pd.DataFrame, spec: TableSpec, file: str, tz: str,
            problems: list[Problem], timestamp_format: str | None = None,
            unparsed: dict | None = None) -> pd.DataFrame:
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        problems.append(Problem(file, ", ".join(missing),
                                f"required column(s) missing; the file has: {', '.join(map(str, frame.columns))}"))
        return frame
    frame = frame.copy()
    for col, default in spec.defaults.items():
        if col not in frame.columns:
            frame[col] = default
        else:
            frame[col] = frame[col].fillna(default)
    for col in spec.ids + spec.strings + tuple(spec.categories):
        if col in frame.columns:
            frame[col] = _as_id(frame[col])
        else:  # optional column absent: present but empty, so analyses can rely on it
            frame[col] = pd.Series(None, index=frame.index, dtype="str")
    for col in spec.timestamps:
        if col in frame.columns:
            parsed, bad = _parse_timestamps(frame[col], tz, timestamp_format)
            if bad.any():
                problems.append(_timestamp_problem(file, col, frame[col], bad, timestamp_format))
                if unparsed is not None:  # empty now: the required-value rule does not report them again
                    unparsed[(spec.name, col)] = np.flatnonzero(bad)
            frame[col] = parsed
        elif col not in spec.required:
            frame[col] = pd.Series(pd.NaT, index=frame.index, dtype=f"datetime64[us, {tz}]")
    for col in spec.ints:
        if col in frame.columns:
            numbers = pd.to_numeric(frame[col], errors="coerce")
            bad = (numbers.isna() & frame[col].notna()).to_numpy(copy=True)
            bad |= (numbers.notna() & (numbers != np.round(numbers))).to_numpy()
            if bad.any():
                problems.append(Problem(file, col, "values that are not whole numbers",
                                        np.flatnonzero(bad) + 1, values=_values_at(frame, col, bad)))
            frame[col] = numbers.round().astype("Int64")
        else:
            frame[col] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    return frame


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _values_at(frame: pd.DataFrame, columns, rows) -> list:
    """The offending values a problem shows: ``frame[columns]`` at the first few ``rows``.

    ``rows`` is a boolean mask or 0-based positions; several columns give tuples.
    """
    positions = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=int)
    positions = positions[:Problem.MAX_VALUES_SHOWN]
    if isinstance(columns, str):
        return [None if pd.isna(v) else v for v in frame[columns].iloc[positions].tolist()]
    picked = frame[list(columns)].iloc[positions]
    return [tuple(None if pd.isna(v) else v for v in row) for row in picked.itertuples(index=False)]


def isin(values: pd.Series, allowed) -> np.ndarray:
    """Boolean mask: which of ``values`` are in ``allowed`` (Series, array or set), vectorised.

    pandas' ``Series.isin`` on its default Arrow-backed ``str`` dtype converts
    every allowed value to a Python object one by one; with millions of ids
    (``reply_to`` against ``message_id``) that dominates loading. This does the
    same lookup with one Arrow hash join. Missing values match missing values,
    as in pandas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(allowed, (set, frozenset)):
        allowed = list(allowed)
    try:
        left = pa.array(values, from_pandas=True)
        right = pa.array(allowed if not isinstance(allowed, pd.Series) else allowed, from_pandas=True)
        if not (pa.types.is_string(left.type) or pa.types.is_large_string(left.type)):
            return np.asarray(values.isin(allowed))
        right = right.cast(left.type)
        return pc.is_in(left, value_set=right).to_numpy(zero_copy_only=False).astype(bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return np.asarray(values.isin(allowed))


def validate_tables(raw: dict[str, pd.DataFrame | None], files: dict[str, str], tz: str,
                    validate: bool, path: Path | None,
                    timestamp_format: str | None = None) -> dict[str, pd.DataFrame]:
    """Coerce every table to the data model and (with ``validate``) check it.

    Returns the coerced tables by name; raises :class:`DataValidationError` listing every
    problem (file, column, rows, offending values).
    """
    problems: list[Problem] = []
    for name in REQUIRED_TABLES:
        if raw.get(name) is None:
            where = str(path) if path else "the dataset"
            problems.append(Problem(where, None, f"required table '{name}' is missing "
                                                 f"(expected {name}.parquet or {name}.csv)"))
    tables: dict[str, pd.DataFrame] = {}
    checkable: list[str] = []
    unparsed: dict = {}
    for name in TABLE_NAMES:
        frame = raw.get(name)
        if frame is None:
            continue
        n_before = len(problems)
        frame = _coerce(frame.reset_index(drop=True), TABLES[name], files[name], tz, problems,
                        timestamp_format=timestamp_format, unparsed=unparsed)
        if len(problems) == n_before or all(c in frame.columns for c in TABLES[name].required):
            checkable.append(name)
        tables[name] = frame
    if validate and checkable:
        # the aggregation rules (required values, categories, counts, keys, references, intervals)
        # have one definition, in the engine: groupstats.tables.checks; references are checked once
        # the rows pass
        from groupstats.tables.checks import check_frames

        problems += check_frames(tables, files, tz, checkable, references="never" if problems else "if_clean",
                                 skip_rows=unparsed)
    if problems:
        raise DataValidationError(problems, header=(
            f"{path or 'The dataset'} is not a valid groupstats dataset ({len(problems)} problem(s)):"))
    return tables
