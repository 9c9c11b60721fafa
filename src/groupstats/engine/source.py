"""The tables of one dataset on an engine (:class:`Source`), and :func:`source_of` that binds a dataset to one.

A :class:`Source` is an in-memory :class:`~groupstats.data.dataset.Dataset` (DuckDB scans the pandas
frames in place, no copy) or a folder of Parquet / CSV files (read by the engine, never loaded into
pandas; Spark reads any path it can: local, HDFS, S3). Timestamps become integer microseconds since the
epoch (UTC) once, in :meth:`Source.table`; local day, hour and weekday come from
:mod:`groupstats.engine.local_time`.
"""
from __future__ import annotations

import json
import weakref
from pathlib import Path

from groupstats.data.schema import DEFAULT_TZ, OPERATOR_ROLES, TABLE_NAMES, TABLES
from groupstats.engine.connection import Engine, _names, connect, default_engine
from groupstats.engine.local_time import US_PER_DAY, _parts, local_timestamp, local_us, to_us, utc_offsets
from groupstats.errors import GroupstatsError, MissingTableError


class Source:
    """The canonical tables of one dataset on an engine, optionally cut at a time.

    :meth:`table` gives each table with its schema's columns (defaults filled,
    absent optional columns as NULL) and every timestamp ``x_at`` replaced by
    ``x_us``, int64 microseconds since the epoch (UTC). With ``cut_us`` set, rows
    after the cutoff are dropped and later ``left_at`` become NULL, as
    :meth:`Dataset.as_of <groupstats.data.dataset.Dataset.as_of>` does.
    """

    def __init__(self, engine: Engine, raw: dict, tz: str, where: str, cut_us: int | None = None,
                 in_memory: bool = False):
        self.engine = engine
        self.raw = raw
        self.tz = tz
        self.where = where
        self.cut_us = cut_us
        self.in_memory = in_memory
        self._cache: dict = {}
        #: Derived tables already computed on these tables (any cut), by (name, cut, parameters):
        #: shared by every cut of this source, so an analysis that looks at several dates reuses them.
        self.derived: dict = {}
        #: (lo, hi): only groups with ``lo <= group_id < hi`` (None: unbounded), see :meth:`restrict_groups`.
        self.groups: tuple | None = None
        self._whole: Source | None = None

    # ---- construction -----------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds, engine: Engine | None = None) -> "Source":
        """The tables of an in-memory dataset (DuckDB scans the frames in place)."""
        engine = engine or default_engine()
        raw, names = {}, []
        for name, frame in ds.tables.items():
            table_name = f"gs_{name}_{next(_names)}"
            raw[name] = engine.register(frame, table_name)
            names.append(table_name)
        src = cls(engine, raw, ds.tz, str(ds.path) if ds.path else "the dataset",
                  cut_us=None if ds.cutoff is None else to_us(ds.cutoff), in_memory=True)
        weakref.finalize(src, _unregister, engine, names)
        return src

    @classmethod
    def from_path(cls, path, engine: Engine | str | None = None, tz: str | None = None,
                  spark_master: str | None = None, memory_limit: str = "512MB",
                  threads: int | None = None) -> "Source":
        """The tables of a dataset folder: ``name.parquet``, a folder ``name/`` of Parquet files
        (e.g. partitioned by month), or ``name.csv`` per table; read by the engine, not by pandas."""
        if engine is None or isinstance(engine, str):
            engine = (default_engine() if (engine in (None, "duckdb") and memory_limit == "512MB"
                                           and threads is None)
                      else connect(engine or "duckdb", spark_master, memory_limit, threads))
        folder = Path(path)
        if not folder.is_dir():
            raise GroupstatsError(f"Dataset folder {folder} does not exist (or is not a folder).")
        meta_file = folder / "dataset.json"
        metadata = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
        raw = {}
        for name in TABLE_NAMES:
            single, sub, csv = folder / f"{name}.parquet", folder / name, folder / f"{name}.csv"
            if single.exists():
                raw[name] = engine.read(single.resolve(), "parquet")
            elif sub.is_dir() and any(sub.rglob("*.parquet")):
                raw[name] = engine.read(sub.resolve(), "parquet")
            elif csv.exists():
                raw[name] = engine.read(csv.resolve(), "csv")
        for name in ("messages", "members"):
            if name not in raw:
                raise MissingTableError(name, "every analysis", str(folder))
        src = cls(engine, raw, tz or metadata.get("tz") or DEFAULT_TZ, str(folder))
        src.path = folder
        return src

    def cut(self, cut_us: int | None) -> "Source":
        """The same tables as known at ``cut_us`` (and no later than an existing cutoff)."""
        if cut_us is not None and self.cut_us is not None:
            cut_us = min(cut_us, self.cut_us)
        if self._whole is not None:  # the whole data's cut decides range and offsets, then the same groups
            return self._whole.cut(cut_us).restrict_groups(*self.groups)
        out = Source(self.engine, self.raw, self.tz, self.where, cut_us if cut_us is not None else self.cut_us,
                     self.in_memory)
        out.path = getattr(self, "path", None)
        out.derived = self.derived
        if "offsets" in self._cache:
            out._cache["offsets"] = self._cache["offsets"]
        rng = self._cache.get("range")
        if rng is not None and (out.cut_us == self.cut_us or (rng[1] is not None and out.cut_us is not None
                                                              and out.cut_us >= rng[1])):
            out._cache["range"] = rng  # the same cut, or a cut after the last message, keeps every message
        out._keepalive = self  # in-memory frames stay registered while a cut of them lives
        return out

    def restrict_groups(self, lo: str | None = None, hi: str | None = None) -> "Source":
        """The same tables with only the groups ``lo <= group_id < hi`` (None: unbounded), to run a per-group
        table a bucket of groups at a time (:mod:`groupstats.tables.group_buckets`). The first and last message
        time, the zone's offsets and the cut stay the whole data's; derived tables are memoised apart. A range,
        not a list of ids: adjacent ranges put every row of every table in one bucket, and DuckDB skips the
        Parquet row groups whose group_id statistics lie outside it.
        """
        whole = self._whole if self._whole is not None else self
        if self.groups is not None:  # a restriction of a restriction: the intersection
            lo = self.groups[0] if lo is None else (lo if self.groups[0] is None else max(lo, self.groups[0]))
            hi = self.groups[1] if hi is None else (hi if self.groups[1] is None else min(hi, self.groups[1]))
        whole.offsets()
        rng = whole.message_range_us()
        out = Source(self.engine, self.raw, self.tz, self.where, whole.cut_us, self.in_memory)
        out.path = getattr(whole, "path", None)
        out.groups = (lo, hi)
        out._whole = whole
        out._cache["offsets"] = whole._cache["offsets"]
        out._cache["range"] = rng
        out._keepalive = whole
        return out

    def in_groups(self, table):
        """``table`` (with a group_id column) without the groups outside :meth:`restrict_groups`' range."""
        if self.groups is None:
            return table
        lo, hi = self.groups
        if lo is not None:
            table = table.filter(table.group_id >= lo)
        if hi is not None:
            table = table.filter(table.group_id < hi)
        return table

    # ---- tables -----------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.raw

    def require(self, name: str, needed_for: str):
        if name not in self.raw:
            raise MissingTableError(name, needed_for, self.where)
        return self.table(name)

    def table(self, name: str):
        """Table ``name`` with its schema's columns, timestamps as ``*_us`` int64, cut if set."""
        if name in self._cache:
            return self._cache[name]
        import ibis

        t = self.raw[name]
        spec = TABLES[name]
        have = set(t.columns)
        cols = {}
        for col in spec.columns:
            if col in spec.timestamps:
                target = col[:-3] + "_us" if col.endswith("_at") else col + "_us"
                if col in have:
                    value = t[col]
                    if not value.type().is_timestamp():
                        value = value.cast("timestamp")
                    cols[target] = self.engine.epoch_us(value)
                else:
                    cols[target] = ibis.null("int64")
                continue
            default = spec.defaults.get(col)
            if col in have:
                value = t[col]
                if col in spec.ints:
                    value = value.cast("int64")
                elif not value.type().is_string():
                    value = value.cast("string")
                cols[col] = value if default is None else value.fill_null(default)
            else:
                cols[col] = ibis.literal(default, type="string") if default is not None else \
                    ibis.null("int64" if col in spec.ints else "string")
        if "file_row_number" in have:
            cols["file_row_number"] = t["file_row_number"]
        out = t.select(**cols)
        if self.cut_us is not None:
            c = self.cut_us
            if name == "messages":
                out = out.filter(out.sent_us <= c)
            elif name == "members":
                out = out.filter(out.joined_us <= c).mutate(
                    left_us=ibis.ifelse(out.left_us > c, ibis.null("int64"), out.left_us))
            elif name == "posts":
                out = out.filter(out.posted_us <= c)
            elif name == "events":
                out = out.filter(out.occurred_us <= c)
            elif name == "assignments":
                out = out.filter(out.start_us <= c).mutate(end_us=ibis.least(out.end_us, c))
        if "group_id" in out.columns:
            out = self.in_groups(out)
        self._cache[name] = out
        return out

    # ---- shared pieces of the definitions --------------------------------------------
    def operators(self):
        """(group_id, member_id) of owners and admins in any membership row."""
        m = self.table("members")
        return m.filter(m.role.isin(OPERATOR_ROLES)).select("group_id", "member_id").distinct()

    def non_operator_members(self):
        """Membership rows whose role is not an operator's (the engine's twin of
        :func:`groupstats.data.dataset.non_operator_members`)."""
        m = self.table("members")
        return m.filter(~m.role.isin(OPERATOR_ROLES))

    def member_messages(self, include_operators: bool = False):
        """Messages that are not system messages, without the operators' unless asked."""
        m = self.table("messages")
        m = m.filter(m.msg_type != "system")
        if not include_operators:
            m = m.anti_join(self.operators(), ["group_id", "member_id"])
        return m

    def local_parts(self, us) -> dict:
        """Local day number (days since 1970-01-01), hour (0-23) and weekday (Mon = 0) of ``us``.

        Expressions that repeat the offset lookup; on a table prefer :meth:`with_local`, which
        computes the local time once per row.
        """
        return _parts(local_us(us, self.tz, self.offsets()))

    def offsets(self) -> tuple:
        """The zone's UTC offsets (see :func:`utc_offsets`) from a year before the first message to a
        year after the last; times outside that span take the offset at its nearest end."""
        if "offsets" not in self._cache:
            table = utc_offsets(self.tz)
            if len(table) > 1 and self.raw.get("messages") is not None:
                trimmed = None
                if self.cut_us is not None and self._whole is None and "range" not in self._cache:
                    # at a cut, the last message lies between the first (known without a query) and the cut:
                    # when the span's two extremes give the same table, so does the last message (no query)
                    lo = self.first_message_us()
                    if lo is None:  # no message up to the cut: the whole table, as for an empty range
                        trimmed = table
                    elif _trim_offsets(table, lo, lo) == _trim_offsets(table, lo, self.cut_us):
                        trimmed = _trim_offsets(table, lo, lo)
                if trimmed is None:
                    lo, hi = self.message_range_us()
                    trimmed = table if lo is None else _trim_offsets(table, lo, hi)
                table = trimmed
            self._cache["offsets"] = table
        return self._cache["offsets"]

    def with_local(self, table, us_col: str):
        """``table`` with ``day``, ``hour`` and ``weekday`` (local) of its ``us_col`` column."""
        table = table.mutate(_local_us=local_us(table[us_col], self.tz, self.offsets()))
        return table.mutate(**_parts(table._local_us)).drop("_local_us")

    def scalar(self, expr):
        """A Python scalar (None for NULL)."""
        value = self.engine.execute(expr)
        try:
            import pandas as pd

            return None if pd.isna(value) else value
        except (TypeError, ValueError):
            return value

    def execute(self, expr):
        return self.engine.execute(expr)

    # ---- times -------------------------------------------------------------------------
    def timestamp_us(self, value) -> int:
        """Microseconds since the epoch of a date/time read in the dataset's timezone."""
        return to_us(local_timestamp(value, self.tz))

    def to_timestamp(self, us):
        import pandas as pd

        return pd.Timestamp(int(us), unit="us", tz="UTC").tz_convert(self.tz)

    def message_range_us(self) -> tuple[int | None, int | None]:
        """(first, last) message time in microseconds, after the cut."""
        if "range" not in self._cache:
            raw = self.raw["messages"]
            if (self.cut_us is None and self.groups is None and "sent_at" in raw.columns
                    and raw.sent_at.type().is_timestamp()):
                # microseconds of the extreme timestamps, the same numbers: DuckDB reads them from the
                # Parquet statistics (0.015 s instead of 0.33 s at 10M messages)
                us = self.engine.epoch_us
                row = self.execute(raw.aggregate(lo=us(raw.sent_at.min()), hi=us(raw.sent_at.max())))
            else:
                m = self.table("messages")
                row = self.execute(m.aggregate(lo=m.sent_us.min(), hi=m.sent_us.max()))
            lo, hi = row["lo"].iloc[0], row["hi"].iloc[0]
            import pandas as pd

            self._cache["range"] = (None if pd.isna(lo) else int(lo), None if pd.isna(hi) else int(hi))
        return self._cache["range"]

    def first_message_us(self) -> int | None:
        """First message time in microseconds, after the cut (``message_range_us()[0]``), without a pass over
        the messages at a cut: the messages up to a cut are those of the uncut tables up to it, so their first
        is the uncut first if that is not after the cut, else there is none. The uncut range is memoised with
        the derived tables (shared by every cut; DuckDB reads it from the Parquet statistics)."""
        if "range" in self._cache or self.cut_us is None or self._whole is not None:
            return self.message_range_us()[0]
        key = ("message_range", None, self.groups)
        if key not in self.derived:
            self.derived[key] = self.uncut().message_range_us()
        first = self.derived[key][0]
        return first if first is not None and first <= self.cut_us else None

    def first_post_us(self) -> int | None:
        """First post time in microseconds, after the cut (None: no timed post up to it), read off the uncut
        posts table: its first post if that is not after the cut. Memoised with the derived tables (shared by
        every cut)."""
        key = ("first_post_us", self.groups)
        if key not in self.derived:
            posts = self.uncut().table("posts")
            first = self.scalar(posts.posted_us.min())
            self.derived[key] = None if first is None else int(first)
        first = self.derived[key]
        return first if first is not None and (self.cut_us is None or first <= self.cut_us) else None

    def first_event_us_by_type(self, compute: bool = True) -> dict | None:
        """Per event type of the uncut events table (of this source's groups), the time of its first event in
        UTC microseconds (None if none of its events has a time), memoised with the derived tables (shared by
        every cut): the types in the events up to a cut are those whose first event is not after it. With
        ``compute=False``: the memo, or None if it is not there yet."""
        import pandas as pd

        key = ("event_type_first_us", self.groups)
        if key not in self.derived:
            if not compute:
                return None
            if not self.has("events"):
                return {}
            ev = self.uncut().table("events")
            found = self.execute(ev.group_by("event_type").aggregate(_first=ev.occurred_us.min()))
            self.derived[key] = {str(t): (None if pd.isna(f) else int(f))
                                 for t, f in zip(found["event_type"], found["_first"]) if not pd.isna(t)}
        return self.derived[key]

    def uncut(self) -> "Source":
        """The same tables (and groups) with no cut: every row of the raw tables. Derived tables memoised on
        it are shared with this source's."""
        if self.cut_us is None:
            return self
        if self._whole is not None:
            return self._whole.uncut().restrict_groups(*self.groups)
        out = Source(self.engine, self.raw, self.tz, self.where, None, self.in_memory)
        out.path = getattr(self, "path", None)
        out.derived = self.derived
        out._keepalive = self
        return out

    def end_us(self) -> int | None:
        """End of observation: the cutoff if set, else the last message time."""
        return self.cut_us if self.cut_us is not None else self.message_range_us()[1]


def _trim_offsets(table: list, lo: int, hi: int) -> list:
    """The zone's offsets ``table`` (:func:`utc_offsets`) from a year before ``lo`` to a year after ``hi``
    (UTC microseconds), with the entry in force at the start."""
    year = 366 * US_PER_DAY
    inside = [i for i, (start, _) in enumerate(table) if lo - year <= start <= hi + year]
    first = max(0, (inside[0] if inside else next((i for i, (start, _) in enumerate(table) if start > hi),
                                                  len(table))) - 1)
    last = (inside[-1] + 1) if inside else first + 1
    return table[first:last]


def _unregister(engine: Engine, names: list[str]) -> None:
    for name in names:
        engine.unregister(name)


def source_of(ds, engine: Engine | None = None) -> Source:
    """The :class:`Source` of a dataset, a folder or a Source (returned as it is).

    A :class:`~groupstats.data.dataset.Dataset` is bound to its source when it is opened
    (:func:`~groupstats.data.loading.load_dataset`: the folder's files on the chosen engine) or
    on first use (:attr:`Dataset.source <groupstats.data.dataset.Dataset.source>`, which calls
    this): its frames scanned in place by the process's DuckDB, or, for a dataset opened with
    ``engine="spark"``, read by Spark from its folder when the frames are those of the files.
    """
    if isinstance(ds, Source):
        return ds
    if isinstance(ds, (str, Path)):
        return Source.from_path(ds, engine=engine)
    if engine is None:
        bound = ds._source
        if bound is not None:
            return bound
        if ds._make_source is not None:
            return ds.source
    spec = getattr(ds, "engine_spec", None) or {}
    if engine is None and spec.get("engine") == "spark":
        engine = connect("spark", spec.get("spark_master"))
        if ds.path is not None and _unchanged_on_disk(ds):
            # Spark reads the files itself (any path it can reach), cut as the dataset is
            src = Source.from_path(ds.path, engine=engine, tz=ds.tz)
            return src.cut(None if ds.cutoff is None else to_us(ds.cutoff))
    return Source.from_dataset(ds, engine)


def _unchanged_on_disk(ds) -> bool:
    """Whether the dataset's tables are those of its folder (same tables; Parquet row counts equal)."""
    folder = Path(ds.path)
    for name in TABLE_NAMES:
        table = getattr(ds, name)
        single, sub = folder / f"{name}.parquet", folder / name
        if table is None:
            if single.exists() or sub.is_dir():
                return False
            continue
        if not single.exists():
            return False
        import pyarrow.parquet as pq

        if pq.ParquetFile(single).metadata.num_rows != len(table) and ds.cutoff is None:
            return False
    return True
