"""Canonical datasets: load, validate, save, and cut at a date.

A dataset is a folder holding one file per table, ``name.parquet`` or
``name.csv`` (see :mod:`groupstats.data.schema`). ``messages`` and ``members`` are
required. An optional ``dataset.json`` holds metadata (timezone, source,
notes such as "silent members are missing") written by importers.

Timestamps are timezone-aware: naive timestamps are read in the dataset's
timezone (default ``Asia/Shanghai``) and all timestamps are converted to it.
Parquet written by groupstats stores timestamps at microsecond precision with
their zone. Extra columns are kept.

Example
-------
>>> from groupstats import load_dataset
>>> ds = load_dataset("data/sample")            # doctest: +SKIP
>>> ds.messages.head()                          # doctest: +SKIP
>>> early = ds.as_of("2026-03-01")              # only rows up to the cutoff
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import DataValidationError, GroupstatsError, MissingTableError, Problem
from groupstats.results import Result
from groupstats.data.schema import (DEFAULT_TZ, OPERATOR_ROLES, REQUIRED_TABLES, TABLE_NAMES, TABLES,
                     TableSpec)

METADATA_FILE = "dataset.json"


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


# --------------------------------------------------------------------------------------
# the dataset object
# --------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """One community dataset: a DataFrame per table, validated.

    Attributes
    ----------
    messages, members : DataFrame
        Required tables.
    groups, posts, events, assignments : DataFrame or None
        Optional tables; ``None`` when the dataset does not have them.
    tz : str
        The dataset's timezone; every timestamp column is in it.
    path : Path or None
        The folder it was loaded from.
    cutoff : Timestamp or None
        Set by :meth:`as_of`: no row of this dataset is later than it.
    metadata : dict
        Contents of ``dataset.json`` (source, notes from the importer...).
    """

    messages: pd.DataFrame
    members: pd.DataFrame
    groups: pd.DataFrame | None = None
    posts: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    tz: str = DEFAULT_TZ
    path: Path | None = None
    cutoff: pd.Timestamp | None = None
    metadata: dict = field(default_factory=dict)
    #: Where derived tables are computed: {"engine": "duckdb"|"spark", "spark_master": ...} (see load_dataset).
    engine_spec: dict | None = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_frames(cls, tz: str = DEFAULT_TZ, validate: bool = True, metadata: dict | None = None,
                    **tables: pd.DataFrame | None) -> "Dataset":
        """Build (and by default validate) a dataset from in-memory DataFrames."""
        unknown = set(tables) - set(TABLE_NAMES)
        if unknown:
            raise GroupstatsError(f"Unknown table(s) {sorted(unknown)}; tables are {', '.join(TABLE_NAMES)}.")
        files = {name: f"<{name} table>" for name in TABLE_NAMES}
        return _build(tables, files, tz, validate, metadata or {}, path=None)

    # -- access ------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame | None:
        return getattr(self, name)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        return {n: getattr(self, n) for n in TABLE_NAMES if getattr(self, n) is not None}

    def require(self, name: str, needed_for: str) -> pd.DataFrame:
        """Return table ``name`` or raise :class:`MissingTableError` saying what needs it."""
        table = getattr(self, name)
        if table is None:
            raise MissingTableError(name, needed_for, str(self.path) if self.path else None)
        return table

    @property
    def operators(self) -> pd.DataFrame:
        """(group_id, member_id) pairs whose role is owner or admin in any membership row."""
        ops = self.members.loc[self.members["role"].isin(OPERATOR_ROLES), ["group_id", "member_id"]]
        return ops.drop_duplicates().reset_index(drop=True)

    def operator_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of rows of ``frame`` (group_id, member_id) sent by the group's operators."""
        ops = self.operators
        if ops.empty:
            return np.zeros(len(frame), dtype=bool)
        # operators are few: an Arrow hash lookup of member ids first (a MultiIndex of 10M
        # Arrow-string pairs costs seconds), the exact (group, member) check on those rows only
        out = isin(frame["member_id"], ops["member_id"])
        if out.any():
            keys = pd.MultiIndex.from_frame(frame.loc[out, ["group_id", "member_id"]])
            out[out] = np.asarray(keys.isin(pd.MultiIndex.from_frame(ops)))
        return out

    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last message time."""
        sent = self.messages["sent_at"]
        return sent.min(), sent.max()

    @property
    def start(self) -> pd.Timestamp:
        return self.date_range()[0]

    @property
    def end(self) -> pd.Timestamp:
        """End of observation: the cutoff if set, else the last message time."""
        return self.cutoff if self.cutoff is not None else self.date_range()[1]

    def timestamp(self, value) -> pd.Timestamp:
        """Interpret a date/time (string, date, Timestamp) in the dataset's timezone."""
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise GroupstatsError(f"Cannot read {value!r} as a date or time (use ISO format, "
                                  f"e.g. 2026-03-01 or 2026-03-01T18:00).") from exc
        return ts.tz_localize(self.tz) if ts.tzinfo is None else ts.tz_convert(self.tz)

    # -- cutting -----------------------------------------------------------------------
    def as_of(self, cutoff) -> "Dataset":
        """The dataset as it was known at ``cutoff``: no row with a later time.

        Messages, events and posts after the cutoff are dropped; memberships
        that start after it are dropped, and ``left_at`` after it becomes empty
        (at the cutoff the member had not left yet); assignments starting after
        it are dropped and those running across it end at it. Every derived
        table of :mod:`groupstats.tables.derived` computed on the result uses only
        information available at the cutoff, which is what predictive analyses
        need to avoid leakage.
        """
        cut = self.timestamp(cutoff)
        if self.cutoff is not None and cut > self.cutoff:
            cut = self.cutoff
        messages = self.messages.loc[self.messages["sent_at"] <= cut]
        members = self.members.loc[self.members["joined_at"] <= cut].copy()
        members.loc[members["left_at"] > cut, "left_at"] = pd.NaT
        out = Dataset(messages=messages.reset_index(drop=True), members=members.reset_index(drop=True),
                      tz=self.tz, path=self.path, cutoff=cut, metadata=dict(self.metadata),
                      engine_spec=self.engine_spec)
        if self.groups is not None:
            created = self.groups["created_at"]
            out.groups = self.groups.loc[created.isna() | (created <= cut)].reset_index(drop=True)
        if self.posts is not None:
            out.posts = self.posts.loc[self.posts["posted_at"] <= cut].reset_index(drop=True)
        if self.events is not None:
            out.events = self.events.loc[self.events["occurred_at"] <= cut].reset_index(drop=True)
        if self.assignments is not None:
            assignments = self.assignments.loc[self.assignments["start_at"] <= cut].copy()
            assignments.loc[assignments["end_at"] > cut, "end_at"] = cut
            out.assignments = assignments.reset_index(drop=True)
        return out

    # -- saving ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, format: str = "parquet") -> Path:
        """Write every table to ``path`` as Parquet (default) or CSV.

        Parquet stores timestamps at microsecond precision with their zone.
        CSV writes ISO 8601 timestamps with their UTC offset.
        """
        if format not in ("parquet", "csv"):
            raise GroupstatsError(f"format must be 'parquet' or 'csv', not {format!r}")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            other = folder / f"{name}.{'csv' if format == 'parquet' else 'parquet'}"
            if other.exists():
                other.unlink()
            if format == "parquet":
                _write_parquet(table, folder / f"{name}.parquet")
            else:
                out = table.copy()
                for col in out.columns:
                    if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                        out[col] = out[col].map(lambda t: t.isoformat() if not pd.isna(t) else "")
                out.to_csv(folder / f"{name}.csv", index=False)
        meta = dict(self.metadata)
        meta["tz"] = self.tz
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        return folder

    def summary(self) -> "DatasetSummary":
        """Rows per table, date range, number of groups and members."""
        return DatasetSummary(self)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={len(t):,}" for n, t in self.tables.items())
        where = f" from {self.path}" if self.path else ""
        return f"<Dataset{where}: {parts}; tz={self.tz}>"


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = table.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(out[col].dtype):
            out[col] = out[col].dt.as_unit("us")
    arrow = pa.Table.from_pandas(out, preserve_index=False)
    pq.write_table(arrow, path, compression="zstd", coerce_timestamps="us", allow_truncated_timestamps=True)


def _build(raw: dict[str, pd.DataFrame | None], files: dict[str, str], tz: str, validate: bool,
           metadata: dict, path: Path | None, timestamp_format: str | None = None) -> Dataset:
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
    return Dataset(tz=tz, path=path, metadata=metadata, **tables)


def load_dataset(path: str | os.PathLike, tz: str | None = None, validate: bool = True,
                 tables: list[str] | None = None, timestamp_format: str | None = None,
                 engine: str = "duckdb", spark_master: str | None = None) -> Dataset:
    """Read and validate the dataset in folder ``path``.

    Parameters
    ----------
    path : str or Path
        Folder with one ``name.parquet`` or ``name.csv`` per table.
    tz : str, optional
        Timezone for naive timestamps and for the output; default: the one in
        ``dataset.json`` if any, else ``Asia/Shanghai``.
    validate : bool, default True
        Check every rule of the data model (raise :class:`DataValidationError`
        naming the file, column and rows of each problem).
    tables : list of str, optional
        Read only these tables (plus the required ones).
    timestamp_format : str, optional
        strftime format of timestamps written as text in another form than ISO 8601, e.g.
        ``'%d/%m/%Y %H:%M'``; default: ``"timestamp_format"`` in ``dataset.json`` if any. Without
        one, text timestamps must be ISO 8601: day/month forms such as ``05/01/2026 10:00`` are
        reported as unparseable (file, column, rows and values), never guessed.
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the derived tables (:mod:`groupstats.tables`) of this dataset are computed: the
        embedded DuckDB, scanning the frames in place, or Spark, reading the folder's files
        (see :mod:`groupstats.engine` and docs/scaling.md). Chosen here, once.
    spark_master : str, optional
        With ``engine="spark"``: ``local[2]`` (default), ``spark://host:7077`` or ``sc://host:15002``.

    Returns
    -------
    Dataset
    """
    from groupstats.checks import check_scalar
    from groupstats.engine import ENGINES

    check_scalar(engine, "engine", typ=str, in_=ENGINES)
    folder = Path(path)
    if not folder.is_dir():
        raise GroupstatsError(f"Dataset folder {folder} does not exist (or is not a folder).")
    metadata = {}
    meta_file = folder / METADATA_FILE
    if meta_file.exists():
        try:
            metadata = json.loads(meta_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataValidationError([Problem(str(meta_file), None, f"is not valid JSON: {exc}")]) from exc
    tz = tz or metadata.get("tz") or DEFAULT_TZ
    _check_tz(tz)
    timestamp_format = timestamp_format or metadata.get("timestamp_format") or None
    wanted = TABLE_NAMES if tables is None else tuple(dict.fromkeys([*REQUIRED_TABLES, *tables]))
    raw, files = {}, {}
    for name in TABLE_NAMES:
        file = _table_file(folder, name) if name in wanted else None
        files[name] = str(file) if file else str(folder / f"{name}.*")
        if file is not None:
            raw[name] = _read_raw(file)
    ds = _build(raw, files, tz, validate, metadata, path=folder, timestamp_format=timestamp_format)
    ds.engine_spec = {"engine": engine, "spark_master": spark_master}
    return ds


def _check_tz(tz: str) -> None:
    try:
        pd.Timestamp("2020-01-01").tz_localize(tz)
    except Exception as exc:
        raise GroupstatsError(f"Unknown timezone {tz!r}; use an IANA name such as 'Asia/Shanghai'.") from exc


def experiments_in(assignments: pd.DataFrame | None) -> pd.DataFrame:
    """The experiments an assignments table holds: one row per experiment_id.

    Columns: ``experiment_id``, ``arms`` (sorted, comma-separated), ``design`` (``switchback``
    when some group changes arm over time, else ``group-randomised``), ``n_groups``, ``start``
    (first ``start_at``) and ``end`` (last ``end_at``). Empty when there is no assignments table.
    """
    columns = ["experiment_id", "arms", "design", "n_groups", "start", "end"]
    if assignments is None or assignments.empty:
        return pd.DataFrame(columns=columns)
    by_exp = assignments.groupby("experiment_id", sort=True)
    arms_per_group = assignments.groupby(["experiment_id", "group_id"])["arm"].nunique()
    switchback = arms_per_group.gt(1).groupby(level="experiment_id").any()
    out = pd.DataFrame({
        "arms": by_exp["arm"].agg(lambda arms: ", ".join(sorted(pd.unique(arms.astype(str))))),
        "design": np.where(switchback.reindex(by_exp.size().index, fill_value=False),
                           "switchback", "group-randomised"),
        "n_groups": by_exp["group_id"].nunique(),
        "start": by_exp["start_at"].min(),
        "end": by_exp["end_at"].max(),
    })
    return out.rename_axis("experiment_id").reset_index()[columns]


class DatasetSummary(Result):
    """Rows per table, date range, groups and members of a dataset."""

    title = "Dataset summary"

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        start, end = dataset.date_range()
        self.start, self.end = start, end
        self.n_groups = int(dataset.members["group_id"].nunique())
        self.n_members = int(dataset.members["member_id"].nunique())
        self.rows = {name: len(t) for name, t in dataset.tables.items()}
        self.notes = list(dataset.metadata.get("notes", []))
        self.experiments = experiments_in(dataset.assignments)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"table": list(self.rows), "rows": list(self.rows.values())})

    def to_dict(self) -> dict:
        return {"path": str(self.dataset.path) if self.dataset.path else None, "tz": self.dataset.tz,
                "rows": self.rows, "start": self.start, "end": self.end, "n_groups": self.n_groups,
                "n_members": self.n_members, "notes": self.notes,
                "experiments": [dict(exp, arms=exp["arms"].split(", "))
                                for exp in self.experiments.to_dict(orient="records")]}

    def conclusion(self) -> str:
        text = (f"{self.n_groups} groups, {self.n_members} distinct members, messages from "
                f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} ({self.dataset.tz}).")
        missing = [n for n in TABLE_NAMES if n not in self.rows]
        if missing:
            text += f"\nTables not present (needed only by some analyses): {', '.join(missing)}."
        if len(self.experiments):
            text += f"\nExperiments in assignments ({len(self.experiments)}):"
            for exp in self.experiments.itertuples(index=False):
                text += (f"\n  {exp.experiment_id}: {exp.design}, arms {exp.arms}, {exp.n_groups} group(s), "
                         f"{exp.start:%Y-%m-%d} to {exp.end:%Y-%m-%d}")
        elif self.dataset.assignments is not None:
            text += "\nExperiments in assignments: none (the table is empty)."
        for note in self.notes:
            text += f"\nNote: {note}"
        return text
