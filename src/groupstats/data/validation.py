"""Reading, coercing and validating the tables of a dataset.

Per-row rules (types, ISO 8601 timestamps, whole numbers) are checked while the raw
files are coerced; table rules (required values, categories, keys) by pandera; and
cross-table rules (references, intervals, overlaps) by :func:`_check_references`.
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
            problems: list[Problem], timestamp_format: str | None = None) -> pd.DataFrame:
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


def _pandera_schema(spec: TableSpec):
    import pandera.pandas as pa

    columns = {}
    for col in spec.required:
        columns[col] = pa.Column(nullable=False, required=True)
    for col, allowed in spec.categories.items():
        columns[col] = pa.Column(checks=pa.Check.isin(list(allowed)), nullable=False, required=False)
    for col in spec.ints:
        columns[col] = pa.Column(checks=pa.Check.ge(0), nullable=True, required=False)
    unique = list(spec.key) if spec.key else None
    return pa.DataFrameSchema(columns, unique=unique, report_duplicates="all")


_CHECK_TEXT = {
    "not_nullable": "empty values in a required column",
    "isin": "unknown categories",
    "greater_than_or_equal_to": "negative counts",
    "field_uniqueness": "duplicate keys",
    "multiple_fields_uniqueness": "duplicate keys",
}


def _run_pandera(frame: pd.DataFrame, spec: TableSpec, file: str, problems: list[Problem]) -> None:
    import pandera.errors as pae

    try:
        _pandera_schema(spec).validate(frame, lazy=True)
    except pae.SchemaErrors as exc:
        cases = exc.failure_cases
        reported = {(p.column, r) for p in problems if p.file == file for r in p.rows}
        for (column, check), sub in cases.groupby(["column", "check"], dropna=False, sort=False):
            check_name = str(check).split("(")[0]
            rows = sorted({int(i) + 1 for i in sub["index"].dropna()})
            if check_name == "not_nullable":
                rows = [r for r in rows if (column, r) not in reported]
                if not rows:
                    continue
            text = _CHECK_TEXT.get(check_name, f"failed check {check}")
            if check_name == "isin":
                allowed = spec.categories.get(column, ())
                values = sorted({str(v) for v in sub["failure_case"]})[:5]
                text += f" {', '.join(values)} (allowed: {', '.join(allowed)})"
            positions = [r - 1 for r in rows]
            if "uniqueness" in check_name:
                column = ", ".join(spec.key)
                values = _values_at(frame, spec.key if len(spec.key) > 1 else spec.key[0], positions)
            elif not pd.isna(column) and column in frame.columns:
                values = _values_at(frame, column, positions)
            else:
                values = None
            problems.append(Problem(file, None if pd.isna(column) else str(column), text, rows, values=values))


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


def _rows_of(mask) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask)) + 1


def _check_references(tables: dict[str, pd.DataFrame], files: dict[str, str],
                      problems: list[Problem]) -> None:
    """Cross-table rules: known groups, messages, posts, members; intervals."""
    groups = tables.get("groups")
    members = tables.get("members")
    known_groups = set(groups["group_id"]) if groups is not None else None
    if known_groups is not None:
        for name in ("members", "messages", "posts", "events", "assignments"):
            table = tables.get(name)
            if table is not None and "group_id" in table:
                bad = ~isin(table["group_id"], known_groups)
                if bad.any():
                    problems.append(Problem(files[name], "group_id",
                                            "references to groups not in the groups table", _rows_of(bad),
                                            values=_values_at(table, "group_id", bad)))
    messages = tables.get("messages")
    if messages is not None and members is not None:
        member_keys = pd.MultiIndex.from_frame(members[["group_id", "member_id"]])
        msg_keys = pd.MultiIndex.from_frame(messages[["group_id", "member_id"]])
        bad = ~msg_keys.isin(member_keys)
        if bad.any():
            problems.append(Problem(files["messages"], "member_id",
                                    "senders with no row in members for that group", _rows_of(bad),
                                    values=_values_at(messages, "member_id", bad)))
        if "reply_to" in messages:
            bad = messages["reply_to"].notna() & ~isin(messages["reply_to"], messages["message_id"])
            if bad.any():
                problems.append(Problem(files["messages"], "reply_to",
                                        "quotes a message_id that is not in messages", _rows_of(bad),
                                        values=_values_at(messages, "reply_to", bad)))
    posts = tables.get("posts")
    if posts is not None and messages is not None and "message_id" in posts:
        bad = posts["message_id"].notna() & ~isin(posts["message_id"], messages["message_id"])
        if bad.any():
            problems.append(Problem(files["posts"], "message_id",
                                    "references to messages not in messages", _rows_of(bad),
                                    values=_values_at(posts, "message_id", bad)))
    events = tables.get("events")
    if events is not None and "post_id" in events:
        known_posts = set(posts["post_id"]) if posts is not None else set()
        bad = events["post_id"].notna() & ~isin(events["post_id"], known_posts)
        if bad.any():
            problems.append(Problem(files["events"], "post_id",
                                    "references to posts not in posts" + ("" if posts is not None else
                                                                          " (there is no posts table)"),
                                    _rows_of(bad), values=_values_at(events, "post_id", bad)))
    if members is not None:
        bad = members["left_at"].notna() & (members["left_at"] < members["joined_at"])
        if bad.any():
            problems.append(Problem(files["members"], "joined_at, left_at", "left_at before joined_at",
                                    _rows_of(bad), values=_values_at(members, ["joined_at", "left_at"], bad)))
        _check_overlaps(members, ["group_id", "member_id"], "joined_at", "left_at", files["members"],
                        "memberships of one member in one group overlap (a rejoin must start "
                        "after the previous left_at)", problems)
    assignments = tables.get("assignments")
    if assignments is not None:
        bad = assignments["end_at"] <= assignments["start_at"]
        if bad.any():
            problems.append(Problem(files["assignments"], "start_at, end_at", "end_at not after start_at",
                                    _rows_of(bad), values=_values_at(assignments, ["start_at", "end_at"], bad)))
        _check_overlaps(assignments, ["experiment_id", "group_id"], "start_at", "end_at",
                        files["assignments"],
                        "assignments overlap for one group and experiment", problems)


def _check_overlaps(frame: pd.DataFrame, by: list[str], start: str, end: str, file: str,
                    message: str, problems: list[Problem]) -> None:
    """Flag rows whose [start, end) interval starts before the previous one (same key) ends."""
    if frame.empty:
        return
    order = frame.sort_values([*by, start], kind="stable")
    same_key = np.ones(len(order), dtype=bool)
    for col in by:
        values = order[col].to_numpy()
        same_key[1:] &= values[1:] == values[:-1]
    same_key[0] = False
    prev_end = order[end].shift(1)
    open_ended = prev_end.isna()
    overlap = same_key & ((open_ended | (order[start] < prev_end)).to_numpy())
    if overlap.any():
        rows = np.sort(order.index.to_numpy()[overlap]) + 1
        problems.append(Problem(file, ", ".join([*by, start, end]), message, rows,
                                values=_values_at(frame, [*by, start, end], rows - 1)))


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
    for name in TABLE_NAMES:
        frame = raw.get(name)
        if frame is None:
            continue
        n_before = len(problems)
        frame = _coerce(frame.reset_index(drop=True), TABLES[name], files[name], tz, problems,
                        timestamp_format=timestamp_format)
        if len(problems) == n_before or all(c in frame.columns for c in TABLES[name].required):
            if validate:
                _run_pandera(frame, TABLES[name], files[name], problems)
        tables[name] = frame
    if validate and not problems:
        _check_references(tables, files, problems)
    if problems:
        raise DataValidationError(problems, header=(
            f"{path or 'The dataset'} is not a valid groupstats dataset ({len(problems)} problem(s)):"))
    return tables
