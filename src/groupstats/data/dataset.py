"""Canonical datasets: the :class:`Dataset` object, cut at a date, saved.

A dataset is a folder holding one file per table, ``name.parquet`` or
``name.csv`` (see :mod:`groupstats.data.schema`). ``messages`` and ``members`` are
required. An optional ``dataset.json`` holds metadata (timezone, source,
notes such as "silent members are missing") written by importers.
:func:`~groupstats.data.loading.load_dataset` opens one (re-exported here).

Timestamps are timezone-aware: naive timestamps are read in the dataset's
timezone (default ``Asia/Shanghai``) and all timestamps are converted to it.
Parquet written by groupstats stores timestamps at microsecond precision with
their zone. Extra columns are kept.

One engine per dataset
----------------------
A dataset is bound to the engine that computes its derived tables
(:attr:`Dataset.source`, a :class:`groupstats.engine.Source`): the embedded DuckDB
scanning the in-memory frames in place, or, for a dataset opened from a folder of
Parquet files, DuckDB or Spark reading the files out of core. The big tables
(``messages``, ``events``) of such a folder are *deferred*: read into pandas only
when a pandas computation asks for them (``ds.messages``), never for the derived
tables. :meth:`Dataset.as_of` is cheap either way: the small tables are cut at
once, the big ones when first read, and the derived tables run on the engine with
the cut applied there.

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
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError, MissingTableError
from groupstats.data.schema import DEFAULT_TZ, OPERATOR_ROLES, TABLE_NAMES
from groupstats.data.validation import (  # noqa: F401  (re-exported: isin, _values_at, ...)
    _read_raw, _table_file, _values_at, isin, validate_tables)

#: Tables read into pandas only when asked for, for a dataset opened from a Parquet folder.
DEFERRED_TABLES = ("messages", "events")
#: Timestamp column by which :meth:`Dataset.as_of` cuts each table with one.
_CUT_COLUMN = {"messages": "sent_at", "posts": "posted_at", "events": "occurred_at"}


class Deferred:
    """A table not in memory yet: ``load()`` reads it (once; the dataset keeps the frame)."""

    __slots__ = ("load", "rows")

    def __init__(self, load, rows: int | None = None):
        self.load = load
        self.rows = rows  #: number of rows when known without reading (Parquet metadata)


def _table_property(name: str, doc: str):
    def get(self):
        value = self._tables.get(name)
        if isinstance(value, Deferred):
            value = self._tables[name] = value.load()
        return value

    def set(self, value):
        self._tables[name] = value
        self._unbind()  # the engine's tables no longer describe this dataset

    return property(get, set, doc=doc)


# --------------------------------------------------------------------------------------
# the dataset object
# --------------------------------------------------------------------------------------
class Dataset:
    """One community dataset: a DataFrame per table, validated, bound to an engine.

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
    engine_spec : dict or None
        Where derived tables are computed: ``{"engine": "duckdb"|"spark", "spark_master": ...}``
        (see :func:`~groupstats.data.loading.load_dataset`).
    source : groupstats.engine.Source
        The engine's view of these tables (built on first use), on which every derived table of
        :mod:`groupstats.tables` runs.
    """

    messages = _table_property("messages", "Every chat message (DataFrame; read on first use if deferred).")
    members = _table_property("members", "One row per membership (DataFrame).")
    groups = _table_property("groups", "One row per group (DataFrame or None).")
    posts = _table_property("posts", "Operator posts (DataFrame or None).")
    events = _table_property("events", "Engagement events (DataFrame or None; read on first use if deferred).")
    assignments = _table_property("assignments", "Experiment assignments (DataFrame or None).")

    def __init__(self, messages=None, members=None, groups=None, posts=None, events=None, assignments=None,
                 tz: str = DEFAULT_TZ, path: Path | None = None, cutoff: pd.Timestamp | None = None,
                 metadata: dict | None = None, engine_spec: dict | None = None):
        self._tables: dict = {"messages": messages, "members": members, "groups": groups, "posts": posts,
                              "events": events, "assignments": assignments}
        self.tz = tz
        self.path = path
        self.cutoff = cutoff
        self.metadata = {} if metadata is None else metadata
        self.engine_spec = engine_spec
        self._source = None
        self._make_source = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_frames(cls, tz: str = DEFAULT_TZ, validate: bool = True, metadata: dict | None = None,
                    **tables: pd.DataFrame | None) -> "Dataset":
        """Build (and by default validate) a dataset from in-memory DataFrames."""
        from groupstats.data.loading import build_dataset

        unknown = set(tables) - set(TABLE_NAMES)
        if unknown:
            raise GroupstatsError(f"Unknown table(s) {sorted(unknown)}; tables are {', '.join(TABLE_NAMES)}.")
        files = {name: f"<{name} table>" for name in TABLE_NAMES}
        return build_dataset(tables, files, tz, validate, metadata or {}, path=None)

    # -- the engine ----------------------------------------------------------------------
    @property
    def source(self):
        """The :class:`~groupstats.engine.Source` of this dataset on its engine (see the module doc)."""
        if self._source is None:
            if self._make_source is not None:
                self._source = self._make_source()
            else:
                from groupstats.engine import source_of

                self._source = source_of(self)
        return self._source

    def bind(self, source) -> "Dataset":
        """Use ``source`` (a :class:`~groupstats.engine.Source` over the same tables) for derived tables."""
        self._source, self._make_source = source, None
        return self

    def _unbind(self) -> None:
        self._source = self._make_source = None

    # -- access ------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame | None:
        return getattr(self, name)

    @property
    def table_names(self) -> list[str]:
        """The names of the tables present, without reading deferred ones."""
        return [n for n in TABLE_NAMES if self._tables.get(n) is not None]

    def has(self, name: str) -> bool:
        """Whether table ``name`` is present (without reading it)."""
        return self._tables.get(name) is not None

    def is_loaded(self, name: str) -> bool:
        """Whether table ``name`` is present and held in pandas (not deferred)."""
        return isinstance(self._tables.get(name), pd.DataFrame)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name (reads deferred tables; see :attr:`table_names`)."""
        return {n: getattr(self, n) for n in self.table_names}

    def n_rows(self, name: str) -> int:
        """Rows of table ``name`` (0 if absent), counted by the engine if the table is deferred."""
        value = self._tables.get(name)
        if value is None:
            return 0
        if isinstance(value, pd.DataFrame):
            return len(value)
        if value.rows is not None:
            return int(value.rows)
        src = self.source
        return int(src.execute(src.table(name).count()))

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
        """First and last message time (from the engine when the messages are deferred)."""
        if not self.is_loaded("messages"):
            src = self.source
            lo, hi = src.message_range_us()
            return (pd.NaT if lo is None else src.to_timestamp(lo), pd.NaT if hi is None else src.to_timestamp(hi))
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
        from groupstats.engine.local_time import local_timestamp

        return local_timestamp(value, self.tz)

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

        Cheap: members, groups, posts and assignments are cut at once; messages and events
        when first read; derived tables run on this dataset's engine with the cut applied there.
        """
        cut = self.timestamp(cutoff)
        if self.cutoff is not None and cut > self.cutoff:
            cut = self.cutoff
        out = Dataset(tz=self.tz, path=self.path, cutoff=cut, metadata=dict(self.metadata),
                      engine_spec=self.engine_spec)
        for name in self.table_names:
            if name in DEFERRED_TABLES:
                out._tables[name] = Deferred(lambda name=name: _cut_table(name, getattr(self, name), cut))
            else:
                out._tables[name] = _cut_table(name, getattr(self, name), cut)

        def make_source():
            from groupstats.engine import to_us

            return self.source.cut(to_us(cut))

        out._make_source = make_source
        return out

    # -- saving ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, format: str = "parquet") -> Path:
        """Write every table to ``path`` as Parquet (default) or CSV.

        Parquet stores timestamps at microsecond precision with their zone.
        CSV writes ISO 8601 timestamps with their UTC offset.
        """
        if format not in ("parquet", "csv"):
            raise GroupstatsError(f"format must be 'parquet' or 'csv', not {format!r}")
        tables = self.tables  # read deferred tables before writing over their files
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
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
        from groupstats.data.summary import DatasetSummary

        return DatasetSummary(self)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={self.n_rows(n):,}" for n in self.table_names)
        where = f" from {self.path}" if self.path else ""
        return f"<Dataset{where}: {parts}; tz={self.tz}>"


def non_operator_members(members: pd.DataFrame) -> pd.DataFrame:
    """Membership rows whose role is not an operator's (:data:`~groupstats.data.schema.OPERATOR_ROLES`):
    the members that member-level counts (present, joined, left) are about. The engine's twin is
    :meth:`groupstats.engine.Source.non_operator_members`."""
    return members.loc[~members["role"].isin(OPERATOR_ROLES).to_numpy()]


def _cut_table(name: str, frame: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """Table ``name`` as known at ``cut`` (see :meth:`Dataset.as_of`)."""
    if name in _CUT_COLUMN:
        return frame.loc[frame[_CUT_COLUMN[name]] <= cut].reset_index(drop=True)
    if name == "members":
        members = frame.loc[frame["joined_at"] <= cut].copy()
        members.loc[members["left_at"] > cut, "left_at"] = pd.NaT
        return members.reset_index(drop=True)
    if name == "groups":
        created = frame["created_at"]
        return frame.loc[created.isna() | (created <= cut)].reset_index(drop=True)
    if name == "assignments":
        assignments = frame.loc[frame["start_at"] <= cut].copy()
        assignments.loc[assignments["end_at"] > cut, "end_at"] = cut
        return assignments.reset_index(drop=True)
    return frame


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = table.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(out[col].dtype):
            out[col] = out[col].dt.as_unit("us")
    arrow = pa.Table.from_pandas(out, preserve_index=False)
    pq.write_table(arrow, path, compression="zstd", coerce_timestamps="us", allow_truncated_timestamps=True)


from groupstats.data.loading import METADATA_FILE, _check_tz, build_dataset as _build, load_dataset  # noqa: E402,F401
from groupstats.data.summary import DatasetSummary, experiments_in  # noqa: E402,F401
