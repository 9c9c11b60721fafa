"""Out-of-core derived tables and member features: DuckDB over Parquet.

The in-memory path (:func:`groupstats.load_dataset` then
:mod:`groupstats.tables.derived` / :mod:`groupstats.tables.features`) holds every message
in pandas; at tens of millions of messages that costs gigabytes of memory.
The functions here compute the same tables from a dataset folder of Parquet
files with DuckDB, which streams the messages through hash aggregations under
a ``memory_limit`` (spilling to disk if needed), so only the (much smaller)
results are held in memory. They return the same columns, dtypes, rows and
row order as their in-memory counterparts (tests/test_scale.py checks
equality on the sample data).

A table may be one file ``messages.parquet`` or a folder ``messages/`` of
Parquet files, e.g. partitioned by month (``messages/month=2026-01/*.parquet``,
hive style); partition columns are ignored.

==========================================  ===========================================
here                                        in memory
==========================================  ===========================================
:func:`member_day_activity`                 :func:`groupstats.tables.derived.member_day_activity`
:func:`group_day_metrics`                   :func:`groupstats.tables.derived.group_day_metrics`
:func:`post_outcomes`                       :func:`groupstats.tables.derived.post_outcomes`
:func:`member_features`                     :func:`groupstats.tables.features.member_features`
:func:`validate`                            the checks of :func:`groupstats.load_dataset`
==========================================  ===========================================

Example
-------
>>> from groupstats.tables import scale as scale
>>> activity = scale.member_day_activity("big_dataset/", memory_limit="512MB")  # doctest: +SKIP
>>> feats = scale.member_features("big_dataset/", cutoff="2026-10-01")       # doctest: +SKIP
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from groupstats.errors import DataValidationError, GroupstatsError, MissingTableError, ParameterError, Problem
from groupstats.data.schema import DEFAULT_TZ, OPERATOR_ROLES, TABLE_NAMES, TABLES

US_PER_DAY = 86_400_000_000
#: Evening hours as in :data:`groupstats.tables.derived.EVENING_HOURS` (kept literal to avoid importing pandas).
_EVENING = (19, 20, 21, 22)
_NIGHT = (0, 1, 2, 3, 4, 5)
_MIX_TYPES = ("text", "image", "sticker", "voice", "link")


class ParquetDataset:
    """A dataset folder read lazily through one DuckDB connection.

    Parameters
    ----------
    path : str or Path
        Dataset folder: ``name.parquet`` or a folder ``name/`` of Parquet files per table.
    tz : str, optional
        Dataset timezone (default: ``dataset.json``'s, else Asia/Shanghai).
    threads : int, optional
        DuckDB worker threads (default: DuckDB's choice, the number of cores).
    memory_limit : str, default "512MB"
        DuckDB memory limit; larger intermediate results spill to a temporary folder.
    """

    def __init__(self, path, tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB"):
        import duckdb

        self.path = Path(path)
        if not self.path.is_dir():
            raise GroupstatsError(f"Dataset folder {self.path} does not exist (or is not a folder).")
        meta_file = self.path / "dataset.json"
        self.metadata = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
        self.tz = tz or self.metadata.get("tz") or DEFAULT_TZ
        # spill to the system's temporary folder, never to the user's working directory
        spill = Path(tempfile.gettempdir()) / "groupstats-duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        config = {"memory_limit": memory_limit, "preserve_insertion_order": False,
                  "temp_directory": str(spill)}
        if threads:
            config["threads"] = int(threads)
        self.con = duckdb.connect(config=config)
        self.con.execute(f"SET TimeZone = '{_sql_text(self.tz)}'")
        self.con.execute("SET enable_progress_bar = false")
        self.files: dict[str, str] = {}
        for name in TABLE_NAMES:
            single = self.path / f"{name}.parquet"
            folder = self.path / name
            if single.exists():
                self.files[name] = f"read_parquet('{_sql_text(str(single))}')"
            elif folder.is_dir() and any(folder.rglob("*.parquet")):
                pattern = _sql_text(str(folder / "**" / "*.parquet"))
                self.files[name] = f"read_parquet('{pattern}', hive_partitioning = false)"
            elif (self.path / f"{name}.csv").exists():
                raise ParameterError(f"{self.path / (name + '.csv')} is CSV; the out-of-core path reads Parquet. "
                                     f"Convert with groupstats.load_dataset(path).save(path, 'parquet') or use "
                                     f"the in-memory functions.")
        for name in ("messages", "members"):
            if name not in self.files:
                raise MissingTableError(name, "the out-of-core path", str(self.path))
        self._columns: dict[str, list[str]] = {}
        self.cut_us: int | None = None

    # ---- table access -----------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.files

    def columns(self, name: str) -> list[str]:
        if name not in self._columns:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {self.files[name]}").fetchall()
            self._columns[name] = [r[0] for r in rows]
        return self._columns[name]

    def scan(self, name: str) -> str:
        """SQL expression reading table ``name`` (optional columns that are absent become NULL)."""
        spec = TABLES[name]
        have = set(self.columns(name))
        extra = []
        for col in spec.columns:
            if col not in have:
                default = spec.defaults.get(col)
                extra.append(f"{'NULL' if default is None else repr(default)} AS {col}")
        fill = [f"coalesce({col}, '{_sql_text(str(v))}') AS {col}" for col, v in spec.defaults.items() if col in have]
        replace = f" REPLACE ({', '.join(fill)})" if fill else ""
        return f"(SELECT *{replace}{''.join(', ' + e for e in extra)} FROM {self.files[name]})"

    def sql(self, query: str, params=None):
        return self.con.execute(query, params or [])

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- times ------------------------------------------------------------------------
    def timestamp_us(self, value) -> int:
        """Microseconds since the epoch of a date/time read in the dataset's timezone."""
        import pandas as pd

        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise GroupstatsError(f"Cannot read {value!r} as a date or time (use ISO format, "
                                  f"e.g. 2026-03-01 or 2026-03-01T18:00).") from exc
        ts = ts.tz_localize(self.tz) if ts.tzinfo is None else ts.tz_convert(self.tz)
        return int(ts.as_unit("ns").value // 1000)

    def local(self, column: str) -> str:
        """SQL for the naive local time of a timestamp column.

        When the zone's UTC offset is constant from 2000 to 2100 (e.g. Asia/Shanghai),
        times in that span are shifted by the offset with integer arithmetic, about
        four times faster than DuckDB's ICU time-zone conversion; other times (and
        zones with daylight saving) go through ``timezone()``.
        """
        icu = f"timezone('{_sql_text(self.tz)}', {column})"
        offset = self.fixed_offset_us
        if offset is None:
            return icu
        return (f"(CASE WHEN {column} >= TIMESTAMPTZ '2000-01-01 00:00:00+00' AND {column} < TIMESTAMPTZ "
                f"'2100-01-01 00:00:00+00' THEN make_timestamp(epoch_us({column}) + {offset}) ELSE {icu} END)")

    @property
    def fixed_offset_us(self) -> int | None:
        """The zone's UTC offset in microseconds if it is constant from 2000 to 2100, else None."""
        if not hasattr(self, "_fixed_offset"):
            import pandas as pd

            utc = pd.date_range("2000-01-01", "2100-01-01", freq="7D", tz="UTC")
            offsets = (utc.tz_convert(self.tz).tz_localize(None) - utc.tz_localize(None)).unique()
            self._fixed_offset = int(offsets[0].value // 1000) if len(offsets) == 1 else None
        return self._fixed_offset


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _open(path, tz=None, threads=None, memory_limit="512MB") -> tuple[ParquetDataset, bool]:
    if isinstance(path, ParquetDataset):
        return path, False
    return ParquetDataset(path, tz=tz, threads=threads, memory_limit=memory_limit), True


def _n_buckets(pq: ParquetDataset, rows_per_bucket: int = 16_000_000) -> int:
    """How many buckets of groups to process one at a time so each holds about ``rows_per_bucket`` rows."""
    n = pq.sql(f"SELECT count(*) FROM {pq.files['messages']}").fetchone()[0]
    if pq.has("events"):
        n = max(n, pq.sql(f"SELECT count(*) FROM {pq.files['events']}").fetchone()[0])
    return max(1, -(-int(n) // rows_per_bucket))


def _buckets(pq: ParquetDataset, cut_us: int | None, n: int):
    """Set the views to each bucket of groups in turn (all groups when ``n`` is 1).

    Every derived table here is computed within groups, so processing groups
    bucket by bucket gives exactly the same rows while DuckDB's hash tables
    hold only one bucket: this is what keeps 100M messages within the memory limit.
    """
    for b in range(n):
        _views(pq, cut_us, (n, b) if n > 1 else None)
        yield b
    _views(pq, cut_us)


def _views(pq: ParquetDataset, cut_us: int | None, bucket: tuple[int, int] | None = None) -> None:
    """Temporary views cut at ``cut_us`` (as :meth:`Dataset.as_of`): msgs, mem, ops, posts_c, events_c.

    With ``bucket = (n, b)`` only groups with ``hash(group_id) % n = b``.
    """
    pq.cut_us = cut_us
    bk = "" if bucket is None else f" AND hash(group_id) % {bucket[0]} = {bucket[1]}"
    cut = ("TRUE" if cut_us is None else f"epoch_us(sent_at) <= {cut_us}") + bk
    pq.sql(f"CREATE OR REPLACE TEMP VIEW msgs AS SELECT * FROM {pq.scan('messages')} WHERE {cut}")
    join_cut = ("TRUE" if cut_us is None else f"epoch_us(joined_at) <= {cut_us}") + bk
    left = "left_at" if cut_us is None else f"CASE WHEN epoch_us(left_at) > {cut_us} THEN NULL ELSE left_at END"
    pq.sql(f"""CREATE OR REPLACE TEMP VIEW mem AS
               SELECT * REPLACE ({left} AS left_at) FROM {pq.scan('members')} WHERE {join_cut}""")
    pq.sql(f"""CREATE OR REPLACE TEMP TABLE ops AS
               SELECT DISTINCT group_id, member_id FROM mem WHERE role IN {tuple(OPERATOR_ROLES)}""")
    if pq.has("posts"):
        pc = ("TRUE" if cut_us is None else f"epoch_us(posted_at) <= {cut_us}") + bk
        pq.sql(f"CREATE OR REPLACE TEMP VIEW posts_c AS SELECT * FROM {pq.scan('posts')} WHERE {pc}")
    if pq.has("events"):
        ec = ("TRUE" if cut_us is None else f"epoch_us(occurred_at) <= {cut_us}") + bk
        pq.sql(f"CREATE OR REPLACE TEMP VIEW events_c AS SELECT * FROM {pq.scan('events')} WHERE {ec}")


def _member_msgs_sql(pq: ParquetDataset, include_operators: bool = False) -> str:
    """Member messages (no system messages, no operators) with local date, hour and weekday."""
    anti = "" if include_operators else " ANTI JOIN ops USING (group_id, member_id)"
    lt = pq.local("sent_at")
    return f"""(SELECT m.*, CAST({lt} AS DATE) AS d, hour({lt}) AS h, isodow({lt}) AS dow,
                       epoch_us(sent_at) AS us
                FROM msgs m{anti} WHERE msg_type <> 'system')"""


def _date_col(frame, col: str = "date"):
    """DuckDB DATE -> naive datetime64[us] midnight, as :func:`groupstats.tables.derived.local_date` gives."""
    import pandas as pd

    frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame


def _str_cols(frame, cols):
    for col in cols:
        frame[col] = frame[col].astype("str")
    return frame


# ------------------------------------------------------------------------------------------
# member-day activity
# ------------------------------------------------------------------------------------------
def member_day_activity(path, as_of=None, include_operators: bool = False, tz: str | None = None,
                        threads: int | None = None, memory_limit: str = "512MB", out=None):
    """Out-of-core :func:`groupstats.tables.derived.member_day_activity` (same columns and rows).

    Parameters
    ----------
    path : str, Path or ParquetDataset
        Dataset folder of Parquet files.
    as_of : date/time, optional
        Use only data up to this time.
    memory_limit : str
        DuckDB memory limit, e.g. "1GB".
    out : str or Path, optional
        Write the table to this folder as Parquet (one sorted file per bucket of
        groups) instead of returning it: at 100M messages the table has ~66M
        rows, more than is reasonable to hold in pandas.

    Returns
    -------
    DataFrame, one row per (group_id, member_id, date) with activity; with ``out``,
    the number of rows written.
    """
    import numpy as np
    import pandas as pd

    pq, owned = _open(path, tz, threads, memory_limit)
    try:
        cut_us = None if as_of is None else pq.timestamp_us(as_of)
        _views(pq, cut_us)
        types = _event_types(pq, include_operators)
        if out is not None:
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            written = 0
            for b in _buckets(pq, cut_us, _n_buckets(pq)):
                query = _member_day_activity(pq, include_operators, types, sql_only=True)
                target = _sql_text(str(folder / f"part-{b:03d}.parquet"))
                pq.sql(f"COPY ({query} ORDER BY group_id, member_id, date) TO '{target}' (FORMAT parquet)")
                written += pq.sql(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
            return written
        parts = [_member_day_activity(pq, include_operators, types) for _ in _buckets(pq, cut_us, _n_buckets(pq))]
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        frame = frame.sort_values(["group_id", "member_id", "date"], kind="stable").reset_index(drop=True)
        _str_cols(frame, ["group_id", "member_id"])
        _date_col(frame)
        for col in frame.columns[3:]:
            frame[col] = frame[col].to_numpy().astype(np.int64)
        return frame
    finally:
        if owned:
            pq.close()


def _event_types(pq: ParquetDataset, include_operators: bool | None = None) -> list[str]:
    """Event types up to the cutoff; with ``include_operators`` given, in order of first appearance
    among those events (the column order pandas' ``unstack`` gives in the in-memory path)."""
    if not pq.has("events"):
        return []
    if include_operators is None:
        return sorted(r[0] for r in pq.sql("SELECT DISTINCT event_type FROM events_c").fetchall())
    source = pq.files["events"][:-1] + ", filename = true, file_row_number = true)"
    where = "TRUE" if pq.cut_us is None else f"epoch_us(occurred_at) <= {pq.cut_us}"
    anti = "" if include_operators else " ANTI JOIN ops USING (group_id, member_id)"
    rows = pq.sql(f"""SELECT event_type, min({{'f': filename, 'r': file_row_number}}) AS first
                      FROM (SELECT * FROM {source} WHERE {where}){anti}
                      GROUP BY event_type ORDER BY first""").fetchall()
    return [r[0] for r in rows]


def _member_day_activity(pq: ParquetDataset, include_operators: bool, types: list[str], sql_only: bool = False):
    msgs = _member_msgs_sql(pq, include_operators)
    evening = ", ".join(map(str, _EVENING))
    query = f"""SELECT group_id, member_id, d AS date, count(*) AS n_messages,
                       count(*) FILTER (msg_type = 'text') AS n_text,
                       count(reply_to) AS n_replies,
                       sum(coalesce(n_mentions, 0)) AS n_mentions,
                       count(*) FILTER (h IN ({evening})) AS n_evening
                FROM {msgs} GROUP BY ALL"""
    if types:
        anti = "" if include_operators else " ANTI JOIN ops USING (group_id, member_id)"
        pivot = ", ".join(f"count(*) FILTER (event_type = '{_sql_text(t)}') AS \"n_{_sql_text(t)}\"" for t in types)
        ev = f"""SELECT group_id, member_id, CAST({pq.local('occurred_at')} AS DATE) AS date, {pivot}
                 FROM events_c e{anti} GROUP BY ALL"""
        ev_cols = [f"n_{t}" for t in types]
        base = ["n_messages", "n_text", "n_replies", "n_mentions", "n_evening"]
        select = ", ".join([f"coalesce(a.{c}, 0) AS {c}" for c in base]
                           + [f"coalesce(e.\"{c}\", 0) AS \"{c}\"" for c in ev_cols])
        query = f"""SELECT group_id, member_id, date, {select}
                    FROM ({query}) a FULL OUTER JOIN ({ev}) e USING (group_id, member_id, date)"""
    return query if sql_only else pq.sql(query).df()


# ------------------------------------------------------------------------------------------
# group-day metrics
# ------------------------------------------------------------------------------------------
def group_day_metrics(path, as_of=None, start=None, end=None, tz: str | None = None, threads: int | None = None,
                      memory_limit: str = "512MB"):
    """Out-of-core :func:`groupstats.tables.derived.group_day_metrics` (same columns and rows).

    Messages and events are aggregated per (group, local date) in DuckDB; the
    membership counts come from the (small) members table.
    """
    import numpy as np
    import pandas as pd

    from groupstats.tables.derived import local_date, members_present_per_day

    pq, owned = _open(path, tz, threads, memory_limit)
    try:
        cut_us = None if as_of is None else pq.timestamp_us(as_of)
        _views(pq, cut_us)
        first_us, last_us = pq.sql("SELECT min(epoch_us(sent_at)), max(epoch_us(sent_at)) FROM msgs").fetchone()
        to_ts = lambda us: pd.Timestamp(us, unit="us", tz="UTC").tz_convert(pq.tz)  # noqa: E731
        first = to_ts(first_us)
        ds_end = to_ts(cut_us) if cut_us is not None else to_ts(last_us)
        start_ts = to_ts(pq.timestamp_us(start)) if start is not None else first
        end_ts = to_ts(pq.timestamp_us(end)) if end is not None else ds_end
        start_day = local_date(pd.Series([start_ts])).iloc[0]
        end_day = local_date(pd.Series([end_ts])).iloc[0]
        days = pd.date_range(start_day, end_day, freq="D")
        members_all = pq.sql("SELECT group_id, member_id, joined_at, left_at, role FROM mem").df()
        _str_cols(members_all, ["group_id", "member_id", "role"])
        for col in ("joined_at", "left_at"):
            members_all[col] = members_all[col].dt.tz_convert(pq.tz).dt.as_unit("us")
        group_ids = pd.Index(sorted(members_all["group_id"].unique()))
        grid = pd.MultiIndex.from_product([group_ids, days], names=["group_id", "date"])
        out = pd.DataFrame(index=grid)
        out["n_members"] = members_present_per_day(members_all, grid, pq.tz)
        members = members_all.loc[~members_all["role"].isin(OPERATOR_ROLES)]

        n_buckets = _n_buckets(pq)

        def run(query: str):
            parts = [pq.sql(query).df() for _ in _buckets(pq, cut_us, n_buckets)]
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

        def per_day(query: str, col: str) -> np.ndarray:
            frame = run(query)
            _str_cols(frame, ["group_id"])
            _date_col(frame)
            series = frame.set_index(["group_id", "date"])[col]
            return series.reindex(grid, fill_value=0).to_numpy().astype(np.int64)

        msgs = _member_msgs_sql(pq)
        agg = run(f"""SELECT group_id, d AS date, count(*) AS n_messages,
                             count(DISTINCT member_id) AS n_active_members,
                             count(*) FILTER (msg_type = 'red_packet') AS n_red_packets
                      FROM {msgs} GROUP BY ALL""")
        _str_cols(agg, ["group_id"])
        _date_col(agg)
        agg = agg.set_index(["group_id", "date"]).reindex(grid, fill_value=0)
        out["n_messages"] = agg["n_messages"].to_numpy().astype(np.int64)
        out["n_active_members"] = agg["n_active_members"].to_numpy().astype(np.int64)
        lt = pq.local("sent_at")
        out["n_operator_messages"] = per_day(
            f"""SELECT group_id, CAST({lt} AS DATE) AS date, count(*) AS n FROM msgs
                SEMI JOIN ops USING (group_id, member_id) WHERE msg_type <> 'system' GROUP BY ALL""", "n")
        out["n_red_packets"] = agg["n_red_packets"].to_numpy().astype(np.int64)
        joins = members.loc[members["joined_at"] >= first]
        out["n_joins"] = joins.groupby([joins["group_id"].to_numpy(), local_date(joins["joined_at"]).to_numpy()]
                                       ).size().reindex(grid, fill_value=0).to_numpy()
        exits = members.loc[members["left_at"].notna()]
        out["n_exits"] = exits.groupby([exits["group_id"].to_numpy(), local_date(exits["left_at"]).to_numpy()]
                                       ).size().reindex(grid, fill_value=0).to_numpy()
        if pq.has("posts"):
            out["n_posts"] = per_day(f"""SELECT group_id, CAST({pq.local('posted_at')} AS DATE) AS date,
                                         count(*) AS n FROM posts_c GROUP BY ALL""", "n")
        else:
            out["n_posts"] = 0
        if pq.has("events"):
            lo = pq.local("occurred_at")
            ev = run(f"""SELECT group_id, CAST({lo} AS DATE) AS date,
                                count(DISTINCT member_id) FILTER (event_type = 'read') AS n_readers,
                                count(*) FILTER (event_type = 'complaint') AS n_complaints
                         FROM events_c ANTI JOIN ops USING (group_id, member_id) GROUP BY ALL""")
            _str_cols(ev, ["group_id"])
            _date_col(ev)
            ev = ev.set_index(["group_id", "date"]).reindex(grid, fill_value=0)
            out["n_readers"] = ev["n_readers"].to_numpy().astype(np.int64)
            out["n_complaints"] = ev["n_complaints"].to_numpy().astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["active_share"] = np.where(out["n_members"] > 0, out["n_active_members"] / out["n_members"], np.nan)
            out["messages_per_member"] = np.where(out["n_members"] > 0, out["n_messages"] / out["n_members"],
                                                  np.nan)
        return out.reset_index()
    finally:
        if owned:
            pq.close()


# ------------------------------------------------------------------------------------------
# member features
# ------------------------------------------------------------------------------------------
def member_features(path, cutoff=None, windows=(7, 30, 90), normalise_within_group: bool = False,
                    tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB"):
    """Out-of-core :func:`groupstats.tables.features.member_features`: same rows, columns, values and ``attrs``.

    Messages and events are aggregated per member in DuckDB (one streaming pass
    each); only the per-member results (one row per present member) and the
    small members and posts tables are held in pandas.

    Parameters
    ----------
    path : str, Path or ParquetDataset
        Dataset folder of Parquet files.
    cutoff, windows, normalise_within_group
        As :func:`groupstats.tables.features.member_features`.
    memory_limit : str
        DuckDB memory limit.

    Returns
    -------
    DataFrame, one row per present non-operator (group_id, member_id), sorted by those keys.
    """
    import numpy as np
    import pandas as pd

    from groupstats.tables.derived import _count_up_to
    from groupstats.errors import InsufficientDataError
    from groupstats.tables.features import KEY_COLUMNS, _check_windows, _ratio, _trend_windows, finish_features

    windows = _check_windows(windows)
    wmax = windows[-1]
    recent_w, long_w = _trend_windows(windows)
    pq, owned = _open(path, tz, threads, memory_limit)
    try:
        if cutoff is None:
            last = pq.sql(f"SELECT max(epoch_us(sent_at)) FROM {pq.files['messages']}").fetchone()[0]
            if last is None:
                raise InsufficientDataError("The dataset has no messages, so there is no default cutoff; "
                                            "pass cutoff=... (a date).")
            cut_us = int(last)
        else:
            cut_us = pq.timestamp_us(cutoff)
        _views(pq, cut_us)
        tzname = pq.tz
        cut = pd.Timestamp(cut_us, unit="us", tz="UTC").tz_convert(tzname)
        cut_date = pd.Timestamp(cut.tz_localize(None)).normalize()
        # present non-operator memberships (small): keys and all their rows
        pq.sql("""CREATE OR REPLACE TEMP TABLE keys AS
                  SELECT DISTINCT group_id, member_id FROM mem ANTI JOIN ops USING (group_id, member_id)
                  WHERE left_at IS NULL AND role NOT IN ('owner', 'admin')""")
        rows = pq.sql("""SELECT group_id, member_id, epoch_us(joined_at) AS join_us,
                                epoch_us(left_at) AS left_us
                         FROM mem SEMI JOIN keys USING (group_id, member_id)
                         WHERE role NOT IN ('owner', 'admin')""").df()
        keys = pq.sql("SELECT group_id, member_id FROM keys").df()
        _str_cols(keys, KEY_COLUMNS)
        keys = keys.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
        if keys.empty:
            first = pq.sql(f"SELECT min(epoch_us(sent_at)) FROM {pq.files['messages']}").fetchone()[0]
            first_ts = None if first is None else pd.Timestamp(first, unit="us", tz="UTC").tz_convert(tzname)
            raise InsufficientDataError(
                f"No (non-operator) member is present at the cutoff {cut}"
                + (f"; the data start at {first_ts:%Y-%m-%d %H:%M}" if first_ts is not None else "")
                + ". Choose a later cutoff.")
        n = len(keys)
        key_index = pd.MultiIndex.from_frame(keys)

        def code(frame) -> np.ndarray:
            probe = pd.MultiIndex.from_arrays([frame["group_id"].astype("str").to_numpy(),
                                               frame["member_id"].astype("str").to_numpy()])
            return np.asarray(key_index.get_indexer(probe), dtype=np.int64)

        first_us = pq.sql("SELECT min(epoch_us(sent_at)) FROM msgs").fetchone()[0]
        first_data = cut if first_us is None else pd.Timestamp(first_us, unit="us", tz="UTC").tz_convert(tzname)
        first_data_date = pd.Timestamp(first_data.tz_localize(None)).normalize()
        missing: list[str] = []
        out = keys.copy()

        # ---- tenure and observable days ----------------------------------------------
        r_code = code(rows)
        join_us = rows["join_us"].to_numpy(dtype=np.int64)
        first_join_us = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_join_us, r_code, join_us)
        join_ts = pd.Series(pd.to_datetime(first_join_us, unit="us", utc=True)).dt.tz_convert(tzname)
        out["tenure_days"] = ((cut - join_ts) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        join_date = join_ts.dt.tz_localize(None).dt.normalize().to_numpy()
        start_date = np.maximum(join_date, np.datetime64(first_data_date))
        observed = ((np.datetime64(cut_date) - start_date) / np.timedelta64(1, "D")).astype(np.int64) + 1
        observed = np.maximum(observed, 1)
        out["observed_days"] = observed

        # ---- one pass over member messages: windows, profile, post replies -------------
        cut_day = f"DATE '{cut_date:%Y-%m-%d}'"
        # operators' and departed members' rows are dropped after aggregating (cheaper than a join per message)
        msgs = _member_msgs_sql(pq, include_operators=True)
        has_posts = pq.has("posts")
        win_msgs = ", ".join(f"sum(n) FILTER (age < {w}) AS m{w}" for w in sorted({*windows, recent_w, long_w}))
        win_days = ", ".join(f"count(*) FILTER (age < {w} AND n > 0) AS a{w}" for w in windows)
        evening = ", ".join(map(str, _EVENING))
        night = ", ".join(map(str, _NIGHT))
        mix = ", ".join(f"sum(t_{t}) AS t_{t}" for t in _MIX_TYPES)
        mix_day = ", ".join(f"count(*) FILTER (msg_type = '{t}') AS t_{t}" for t in _MIX_TYPES)
        query = f"""
            WITH day AS (
                SELECT group_id, member_id, ({cut_day} - d) AS age, count(*) AS n, max(us) AS last_us,
                       count(reply_to) AS replies, count(*) FILTER (coalesce(n_mentions, 0) > 0) AS mentions,
                       {mix_day},
                       count(*) FILTER (h IN ({evening})) AS evening, count(*) FILTER (h IN ({night})) AS night,
                       count(*) FILTER (dow >= 6) AS weekend
                FROM {msgs} m GROUP BY group_id, member_id, d)
            SELECT group_id, member_id, sum(n) AS n, max(last_us) AS last_us, sum(replies) AS replies,
                   sum(mentions) AS mentions, {mix}, sum(evening) AS evening, sum(night) AS night,
                   sum(weekend) AS weekend, {win_msgs}, {win_days}
            FROM day GROUP BY group_id, member_id"""
        n_buckets = _n_buckets(pq)

        def run(sql: str):
            parts = [pq.sql(sql).df() for _ in _buckets(pq, cut_us, n_buckets)]
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

        per = run(query)
        m_code = code(per)
        per, m_code = per.loc[m_code >= 0], m_code[m_code >= 0]

        def col(name, fill=0.0) -> np.ndarray:
            values = np.full(n, fill, dtype=float)
            values[m_code] = per[name].to_numpy(dtype=float, na_value=fill)
            return values

        for w in windows:
            out[f"messages_{w}d"] = col(f"m{w}").astype(np.int64)
        for w in windows:
            out[f"active_days_{w}d"] = col(f"a{w}").astype(np.int64)
        exposure_max = np.minimum(wmax, observed)
        out["messages_per_day"] = _ratio(out[f"messages_{wmax}d"], exposure_max)
        out["active_day_share"] = _ratio(out[f"active_days_{wmax}d"], exposure_max)
        recent_msgs, long_msgs = col(f"m{recent_w}"), col(f"m{long_w}")
        exp_recent = np.minimum(recent_w, observed)
        exp_earlier = np.minimum(long_w, observed) - exp_recent
        r_recent = _ratio(recent_msgs, exp_recent)
        r_earlier = _ratio(long_msgs - recent_msgs, exp_earlier)
        out["trend"] = _ratio(r_recent - r_earlier, r_recent + r_earlier)

        n_msgs = col("n").astype(np.int64)
        out["messages_total"] = n_msgs
        last_us = col("last_us", np.nan)
        out["recency_days"] = (float(cut_us) - last_us) / US_PER_DAY
        out["share_replies"] = _ratio(col("replies"), n_msgs)
        out["share_mentions"] = _ratio(col("mentions"), n_msgs)
        typed = np.zeros(n)
        for t in _MIX_TYPES:
            counts = col(f"t_{t}")
            typed += counts
            out[f"share_{t}"] = _ratio(counts, n_msgs)
        out["share_other"] = _ratio(n_msgs - typed, n_msgs)
        out["share_evening"] = _ratio(col("evening"), n_msgs)
        out["share_night"] = _ratio(col("night"), n_msgs)
        out["share_weekend"] = _ratio(col("weekend"), n_msgs)

        # ---- operator posts: posts present during each membership row -------------------
        n_posts = pq.sql("SELECT count(*) FROM posts_c").fetchone()[0] if has_posts else 0
        if n_posts:
            posts = pq.sql("SELECT group_id, epoch_us(posted_at) AS us FROM posts_c").df()
            codes, _ = pd.factorize(pd.concat([posts["group_id"].astype("str"), rows["group_id"].astype("str")],
                                              ignore_index=True))
            p_codes, m_g = codes[:len(posts)], codes[len(posts):]
            p_time = posts["us"].to_numpy(dtype=np.int64)
            end_us = rows["left_us"].fillna(cut_us).to_numpy(dtype=np.int64)
            upto_end = _count_up_to(p_codes, p_time, m_g, end_us, inclusive=True)
            before_join = _count_up_to(p_codes, p_time, m_g, join_us, inclusive=False)
            posts_present = np.bincount(r_code, weights=upto_end - before_join, minlength=n).astype(np.int64)
            replies = run("""SELECT group_id, member_id, count(*) AS n FROM msgs
                             WHERE reply_to IN (SELECT message_id FROM posts_c WHERE message_id IS NOT NULL)
                               AND msg_type <> 'system' GROUP BY ALL""")
            r_code_p = code(replies)
            post_replies = np.zeros(n, dtype=np.int64)
            post_replies[r_code_p[r_code_p >= 0]] = replies["n"].to_numpy()[r_code_p >= 0]
        else:
            posts_present = np.zeros(n, dtype=np.int64)
            post_replies = np.zeros(n, dtype=np.int64)
            missing.append("replies_per_post (no posts table)")
        out["posts_present"] = posts_present
        out["post_replies"] = post_replies
        out["replies_per_post"] = _ratio(post_replies, posts_present)

        # ---- events: distinct posts read / clicked, sign-in days -----------------------
        types_present = set(_event_types(pq))
        ev = None
        if types_present:
            lo = pq.local("occurred_at")
            on_posts = ("SEMI JOIN (SELECT DISTINCT post_id FROM posts_c) USING (post_id)" if has_posts
                        else "WHERE FALSE")
            ev = run(f"""
                WITH rc AS (
                    SELECT group_id, member_id, count(*) FILTER (event_type = 'read') AS reads,
                           count(*) FILTER (event_type = 'click') AS clicks
                    FROM (SELECT DISTINCT group_id, member_id, event_type, post_id FROM events_c
                          WHERE event_type IN ('read', 'click') AND post_id IS NOT NULL) x
                    {on_posts} GROUP BY ALL),
                si AS (SELECT group_id, member_id, count(DISTINCT CAST({lo} AS DATE)) AS sign_in
                       FROM events_c WHERE event_type = 'sign_in' AND {cut_day} - CAST({lo} AS DATE) < {wmax}
                       GROUP BY ALL)
                SELECT group_id, member_id, coalesce(reads, 0) AS reads, coalesce(clicks, 0) AS clicks,
                       coalesce(sign_in, 0) AS sign_in
                FROM rc FULL OUTER JOIN si USING (group_id, member_id)""")
            e_code = code(ev)
            ev, e_code = ev.loc[e_code >= 0], e_code[e_code >= 0]
        for kind, name, src in (("read", "read_rate", "reads"), ("click", "click_rate", "clicks")):
            if kind in types_present and has_posts:
                counts = np.zeros(n)
                counts[e_code] = ev[src].to_numpy(dtype=float)
                out[name] = np.minimum(_ratio(counts, posts_present), 1.0)
            else:
                out[name] = np.nan
                missing.append(f"{name} (no '{kind}' events" + ("" if has_posts else " or no posts table") + ")")
        sign_col = f"sign_in_days_{wmax}d"
        if "sign_in" in types_present:
            counts = np.zeros(n)
            counts[e_code] = ev["sign_in"].to_numpy(dtype=float)
            out[sign_col] = counts
        else:
            out[sign_col] = np.nan
            missing.append(f"{sign_col} (no 'sign_in' events)")

        return finish_features(out, cut, windows, (recent_w, long_w), missing, normalise_within_group)
    finally:
        if owned:
            pq.close()


# ------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------
def validate(path, tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB") -> dict:
    """Check a Parquet dataset against the data model without loading it into memory.

    The same rules as :func:`groupstats.load_dataset`: required columns present
    and non-empty, closed categories, non-negative counts, unique keys,
    references between tables (groups, senders' memberships, quoted messages,
    posts' messages, events' posts), ``left_at`` not before ``joined_at``,
    assignments ending after they start, and no overlapping memberships or
    assignments. Unparseable timestamps cannot occur (Parquet stores typed
    timestamps; a timestamp column of another type is reported).

    Returns
    -------
    dict
        Rows per table.

    Raises
    ------
    DataValidationError
        Naming the file, column, number of rows and (for single-file tables) the
        first row numbers of every problem.
    """
    pq, owned = _open(path, tz, threads, memory_limit)
    problems: list[Problem] = []
    try:
        names = [n for n in TABLE_NAMES if pq.has(n)]
        file = {n: str(pq.path / (f"{n}.parquet" if (pq.path / f"{n}.parquet").exists() else n)) for n in names}
        rows = {}
        for name in names:
            spec = TABLES[name]
            have = pq.columns(name)
            missing = [c for c in spec.required if c not in have]
            if missing:
                problems.append(Problem(file[name], ", ".join(missing),
                                        f"required column(s) missing; the file has: {', '.join(have)}"))
        if problems:
            raise DataValidationError(problems, header=f"{pq.path} is not a valid groupstats dataset "
                                                       f"({len(problems)} problem(s)):")
        for name in names:
            pq.sql(f"""CREATE OR REPLACE TEMP VIEW v_{name} AS
                       SELECT *, row_number() OVER () AS _row FROM {pq.scan(name)}""")
        for name in names:
            pq.sql(f"CREATE OR REPLACE TEMP VIEW r_{name} AS SELECT * FROM {pq.scan(name)}")

        # every rule of a table is one count in ONE scan of it; details only for rules that fail
        rules: dict[str, list[tuple[str | None, str, str, str | None]]] = {n: [] for n in names}
        types = {}
        for name in names:
            spec = TABLES[name]
            types[name] = dict(pq.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM r_{name})")
                               .fetchall())
            for col in spec.timestamps:
                if col in types[name] and not types[name][col].startswith("TIMESTAMP"):
                    problems.append(Problem(file[name], col, f"is {types[name][col]}, not a timestamp; write "
                                                             f"timestamps as Parquet timestamps (or use CSV and "
                                                             f"the in-memory loader)"))
            for col in spec.required:
                rules[name].append((col, f"{col} IS NULL", "empty values in a required column", None))
            for col, allowed in spec.categories.items():
                allowed_sql = ", ".join(f"'{_sql_text(a)}'" for a in allowed)
                rules[name].append((col, f"({col} IS NULL OR CAST({col} AS VARCHAR) NOT IN ({allowed_sql}))",
                                    f"unknown categories (allowed: {', '.join(allowed)}):", col))
            for col in spec.ints:
                if col in types[name]:
                    rules[name].append((col, f"{col} < 0", "negative counts", None))
        if pq.has("groups"):
            for name in ("members", "messages", "posts", "events", "assignments"):
                if pq.has(name):
                    rules[name].append(("group_id", "group_id NOT IN (SELECT group_id FROM r_groups)",
                                        "references to groups not in the groups table", None))
        # references to large tables: anti joins that hash the (small) distinct referencing values
        references = [("messages", "member_id", "(group_id, member_id)", "r_members", "(group_id, member_id)",
                       "senders with no row in members for that group"),
                      ("messages", "reply_to", "reply_to", "r_messages", "message_id",
                       "quotes a message_id that is not in messages")]
        if pq.has("posts"):
            references.append(("posts", "message_id", "message_id", "r_messages", "message_id",
                               "references to messages not in messages"))
        if pq.has("events"):
            references.append(("events", "post_id", "post_id", "r_posts" if pq.has("posts") else
                               "(SELECT NULL::VARCHAR AS post_id WHERE FALSE)", "post_id",
                               "references to posts not in posts" + ("" if pq.has("posts") else
                                                                     " (there is no posts table)")))
        rules["members"].append(("left_at", "left_at < joined_at", "left_at before joined_at", None))
        if pq.has("assignments"):
            rules["assignments"].append(("end_at", "end_at <= start_at", "end_at not after start_at", None))
        rows = {}
        for name in names:
            # NULL conditions (e.g. reply_to NULL) count as passing, as in the in-memory checks
            counts = ", ".join(f"count(*) FILTER (coalesce({cond}, FALSE))" for _, cond, _, _ in rules[name])
            values = pq.sql(f"SELECT count(*){', ' + counts if counts else ''} FROM r_{name}").fetchone()
            rows[name] = int(values[0])
            for (col, cond, message, examples), n_bad in zip(rules[name], values[1:]):
                if not n_bad:
                    continue
                where = f"coalesce({cond}, FALSE)"
                if examples:
                    found = sorted(str(r[0]) for r in pq.sql(
                        f"SELECT DISTINCT {examples} FROM r_{name} WHERE {where} LIMIT 5").fetchall())
                    message = message + " " + ", ".join(found)
                first = [int(r[0]) for r in pq.sql(
                    f"SELECT _row FROM v_{name} WHERE {where} ORDER BY _row LIMIT 10").fetchall()]
                problems.append(Problem(file[name], col, message, first, n_rows=int(n_bad)))
        for name, col, expr, target, target_expr, message in references:
            n_bad = pq.sql(f"""WITH q AS (SELECT {expr} AS k, count(*) AS n FROM r_{name}
                                         WHERE {col} IS NOT NULL GROUP BY ALL)
                               SELECT coalesce(sum(n), 0) FROM q ANTI JOIN (SELECT {target_expr} AS k
                               FROM {target}) t ON q.k = t.k""").fetchone()[0]
            if n_bad:
                first = [int(r[0]) for r in pq.sql(
                    f"""SELECT _row FROM v_{name} WHERE {col} IS NOT NULL AND {expr} NOT IN
                        (SELECT {target_expr} FROM {target} WHERE {target_expr} IS NOT NULL)
                        ORDER BY _row LIMIT 10""").fetchall()]
                problems.append(Problem(file[name], col, message, first, n_rows=int(n_bad)))
        for name in names:
            spec = TABLES[name]
            if spec.key:
                key = ", ".join(spec.key)
                n_dup = pq.sql(f"SELECT count(*) - count(DISTINCT ({key})) FROM r_{name}").fetchone()[0]
                if n_dup:
                    problems.append(Problem(file[name], key, "duplicate keys", n_rows=int(n_dup)))
        overlaps = [("members", "group_id, member_id", "joined_at", "left_at",
                     "memberships of one member in one group overlap (a rejoin must start after the previous "
                     "left_at)")]
        if pq.has("assignments"):
            overlaps.append(("assignments", "experiment_id, group_id", "start_at", "end_at",
                             "assignments overlap for one group and experiment"))
        for name, by, start, end, message in overlaps:
            n_bad = pq.sql(f"""SELECT count(*) FROM (
                SELECT {start}, lag({end}) OVER w AS prev_end, row_number() OVER w AS k FROM r_{name}
                WINDOW w AS (PARTITION BY {by} ORDER BY {start})) WHERE k > 1 AND (prev_end IS NULL
                OR {start} < prev_end)""").fetchone()[0]
            if n_bad:
                problems.append(Problem(file[name], f"{start}, {end}", message, n_rows=int(n_bad)))
        if problems:
            raise DataValidationError(problems, header=f"{pq.path} is not a valid groupstats dataset "
                                                       f"({len(problems)} problem(s)):")
        return rows
    finally:
        if owned:
            pq.close()


# ------------------------------------------------------------------------------------------
# post outcomes
# ------------------------------------------------------------------------------------------
def post_outcomes(path, window="2h", read_window="24h", as_of=None, exclude_red_packets=None,
                  tz: str | None = None, threads: int | None = None, memory_limit: str = "512MB"):
    """Out-of-core :func:`groupstats.tables.derived.post_outcomes` (same columns, rows, order and ``attrs``).

    Member messages are attributed to the latest post of their group with a
    DuckDB ``ASOF JOIN`` and counted per post; quote-replies, reads and clicks
    are joined to posts in DuckDB. Only the posts and members tables (small) are
    held in pandas.
    """
    import numpy as np
    import pandas as pd

    from groupstats.tables.derived import POST_OUTCOME_COLUMNS, _timedelta, count_members_present, local_date

    window = _timedelta(window, "window")
    read_window = _timedelta(read_window, "read_window")
    pq, owned = _open(path, tz, threads, memory_limit)
    try:
        cut_us = None if as_of is None else pq.timestamp_us(as_of)
        _views(pq, cut_us)
        if not pq.has("posts"):
            raise MissingTableError("posts", "post outcomes", str(pq.path))
        win_us = int(window / pd.Timedelta(microseconds=1))
        read_us = int(read_window / pd.Timedelta(microseconds=1))
        # posts in the in-memory order: by posted_at, ties in file order
        src = pq.files["posts"][:-1] + ", filename = true, file_row_number = true)"
        pcut = "TRUE" if cut_us is None else f"epoch_us(posted_at) <= {cut_us}"
        posts = pq.sql(f"""SELECT post_id, group_id, posted_at, content_type, member_id, message_id
                           FROM {src} WHERE {pcut} ORDER BY posted_at, filename, file_row_number""").df()
        _str_cols(posts, ["post_id", "group_id", "content_type", "member_id", "message_id"])
        posts["posted_at"] = posts["posted_at"].dt.tz_convert(pq.tz).dt.as_unit("us")
        out = pd.DataFrame({
            "post_id": posts["post_id"], "group_id": posts["group_id"], "posted_at": posts["posted_at"],
            "content_type": posts["content_type"], "operator_id": posts["member_id"],
            "hour": posts["posted_at"].dt.hour, "weekday": posts["posted_at"].dt.day_of_week,
            "date": local_date(posts["posted_at"]),
        })
        members = pq.sql("SELECT group_id, member_id, joined_at, left_at, role FROM mem").df()
        _str_cols(members, ["group_id", "member_id", "role"])
        for col in ("joined_at", "left_at"):
            members[col] = members[col].dt.tz_convert(pq.tz).dt.as_unit("us")
        out["n_present"] = count_members_present(members, posts["group_id"], posts["posted_at"])

        msgs = "(SELECT * FROM msgs m ANTI JOIN ops USING (group_id, member_id) WHERE msg_type <> 'system')"
        if exclude_red_packets is not None and exclude_red_packets is not False:
            quiet = _timedelta("10min" if exclude_red_packets is True else exclude_red_packets,
                               "exclude_red_packets")
            quiet_us = int(quiet / pd.Timedelta(microseconds=1))
            pq.sql("""CREATE OR REPLACE TEMP TABLE rp AS
                      SELECT group_id, epoch_us(sent_at) AS rp_us FROM msgs WHERE msg_type = 'red_packet'""")
            msgs = f"""(SELECT m.* FROM {msgs} m ASOF LEFT JOIN rp
                        ON m.group_id = rp.group_id AND epoch_us(m.sent_at) >= rp.rp_us
                        WHERE m.msg_type <> 'red_packet'
                          AND (rp.rp_us IS NULL OR epoch_us(m.sent_at) - rp.rp_us > {quiet_us}))"""
        pq.sql(f"CREATE OR REPLACE TEMP VIEW pmsgs AS {msgs}")
        # beyond ~16M rows, groups are processed in buckets (exact: a message is only ever
        # attributed to a post of its own group); the views msgs/pmsgs/events_c follow the bucket
        n_buckets = _n_buckets(pq)

        def run(sql: str):
            parts = [pq.sql(sql).df() for _ in _buckets(pq, cut_us, n_buckets)]
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

        resp = run(f"""
            SELECT p.post_id, count(*) AS responses, count(DISTINCT m.member_id) AS responders
            FROM (SELECT group_id, member_id, epoch_us(sent_at) AS us FROM pmsgs) m
            ASOF JOIN (SELECT group_id, post_id, epoch_us(posted_at) AS pus FROM posts_c) p
              ON m.group_id = p.group_id AND m.us >= p.pus
            WHERE m.us - p.pus <= {win_us} GROUP BY p.post_id""")
        _str_cols(resp, ["post_id"])
        resp = resp.set_index("post_id")
        out["responses"] = out["post_id"].map(resp["responses"]).fillna(0).astype("int64")
        out["responders"] = out["post_id"].map(resp["responders"]).fillna(0).astype("int64")
        rep = run(f"""
            SELECT p.post_id, count(*) AS replies FROM pmsgs m JOIN posts_c p ON m.reply_to = p.message_id
            WHERE epoch_us(m.sent_at) - epoch_us(p.posted_at) BETWEEN 0 AND {win_us}
            GROUP BY p.post_id""")
        _str_cols(rep, ["post_id"])
        out["replies"] = out["post_id"].map(rep.set_index("post_id")["replies"]).fillna(0).astype("int64")

        has_events = pq.has("events")
        if has_events:
            ev = run(f"""
                SELECT post_id, count(*) FILTER (event_type = 'read') AS readers,
                       count(*) FILTER (event_type = 'click') AS clickers
                FROM (SELECT DISTINCT e.post_id, e.member_id, e.event_type
                      FROM events_c e ANTI JOIN ops USING (group_id, member_id)
                      JOIN (SELECT post_id, posted_at FROM posts_c) p USING (post_id)
                      WHERE e.event_type IN ('read', 'click')
                        AND epoch_us(e.occurred_at) - epoch_us(p.posted_at) BETWEEN 0 AND {read_us})
                GROUP BY post_id""")
            _str_cols(ev, ["post_id"])
            ev = ev.set_index("post_id")
            for col in ("readers", "clickers"):
                out[col] = out["post_id"].map(ev[col]).fillna(0).astype("int64")
            with np.errstate(divide="ignore", invalid="ignore"):
                out["read_rate"] = np.where(out["n_present"] > 0, out["readers"] / out["n_present"], np.nan)
                out["click_rate"] = np.where(out["n_present"] > 0, out["clickers"] / out["n_present"], np.nan)
        else:
            for col in ("readers", "clickers", "read_rate", "click_rate"):
                out[col] = np.nan
        end_us = cut_us if cut_us is not None else pq.sql("SELECT max(epoch_us(sent_at)) FROM msgs").fetchone()[0]
        end = pd.Timestamp(end_us, unit="us", tz="UTC").tz_convert(pq.tz)
        out["complete"] = (out["posted_at"] + max(window, read_window if has_events else window)) <= end
        out.attrs.update({"window": str(window), "read_window": str(read_window),
                          "exclude_red_packets": None if exclude_red_packets is None else str(exclude_red_packets),
                          "has_events": has_events})
        return out.loc[:, list(POST_OUTCOME_COLUMNS)]
    finally:
        if owned:
            pq.close()
