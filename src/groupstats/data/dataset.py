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
from groupstats.data.validation import (  # noqa: F401  (re-exported: isin, _values_at, ...)
    _read_raw, _table_file, _values_at, isin, validate_tables)

METADATA_FILE = "dataset.json"


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
    tables = validate_tables(raw, files, tz, validate, path, timestamp_format=timestamp_format)
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
