"""Opening a dataset folder: :func:`load_dataset`, the one place where the engine is chosen.

Two ways, same tables:

- **Out of core** (a folder whose tables are all Parquet with zone-aware timestamps, as
  groupstats writes them): the engine (DuckDB, or Spark) reads the files, validates them with
  the aggregation rules of :mod:`groupstats.tables.checks`, and computes every derived table;
  each table is read into pandas on first use only (:class:`~groupstats.data.dataset.Deferred`):
  a command whose analysis runs on the engine reads none.
- **In memory** (CSV tables, text or naive timestamps, ids stored as floats: whatever needs
  the pandas parsing rules of :mod:`groupstats.data.validation`): every table is read, coerced
  and validated in pandas, and the engine scans the frames in place.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from groupstats.data.schema import DEFAULT_TZ, REQUIRED_TABLES, TABLE_NAMES, TABLES
from groupstats.errors import DataValidationError, GroupstatsError, Problem

METADATA_FILE = "dataset.json"
#: :func:`load_dataset_checking` checks a Parquet folder meanwhile up to this many messages; beyond,
#: first (a second DuckDB connection with its own memory limit would raise the peak).
CHECKS_MEANWHILE_UP_TO = 30_000_000


def build_dataset(raw: dict, files: dict[str, str], tz: str, validate: bool, metadata: dict,
                  path: Path | None, timestamp_format: str | None = None):
    """Coerce (and with ``validate`` check) raw frames into an in-memory Dataset."""
    from groupstats.data.dataset import Dataset
    from groupstats.data.validation import validate_tables

    tables = validate_tables(raw, files, tz, validate, path, timestamp_format=timestamp_format)
    return Dataset(tz=tz, path=path, metadata=metadata, **tables)


def load_dataset(path: str | os.PathLike, tz: str | None = None, validate: bool = True,
                 tables: list[str] | None = None, timestamp_format: str | None = None,
                 engine: str = "duckdb", spark_master: str | None = None):
    """Open and validate the dataset in folder ``path`` (see :func:`load_dataset_checking` for
    checks that run while the dataset is used).

    Parameters
    ----------
    path : str or Path
        Folder with one ``name.parquet`` or ``name.csv`` per table (for Parquet, also a folder
        ``name/`` of Parquet files, e.g. partitioned by month).
    tz : str, optional
        Timezone for naive timestamps and for the output; default: the one in
        ``dataset.json`` if any, else ``Asia/Shanghai``.
    validate : bool, default True
        Check every rule of the data model (raise :class:`DataValidationError`
        naming the file, column and rows of each problem). For a Parquet folder the
        checks run in the engine.
    tables : list of str, optional
        Open only these tables (plus the required ones).
    timestamp_format : str, optional
        strftime format of timestamps written as text in another form than ISO 8601, e.g.
        ``'%d/%m/%Y %H:%M'``; default: ``"timestamp_format"`` in ``dataset.json`` if any. Without
        one, text timestamps must be ISO 8601: day/month forms such as ``05/01/2026 10:00`` are
        reported as unparseable (file, column, rows and values), never guessed.
    engine : {"duckdb", "spark"}, default "duckdb"
        Where this dataset's derived tables (:mod:`groupstats.tables`) and, for a Parquet
        folder, its validation run: the embedded DuckDB, or Spark (see :mod:`groupstats.engine`
        and docs/scaling.md). Chosen here, once: every analysis of the dataset uses it.
    spark_master : str, optional
        With ``engine="spark"``: ``local[2]`` (default), ``spark://host:7077`` or ``sc://host:15002``.

    Returns
    -------
    Dataset
        Bound to its engine (:attr:`Dataset.source <groupstats.data.dataset.Dataset.source>`). For
        a Parquet folder, each table is read into pandas only when used.
    """
    return _load(path, tz, validate, tables, timestamp_format, engine, spark_master, meanwhile=False)[0]


def load_dataset_checking(path: str | os.PathLike, tz: str | None = None, validate: bool = True,
                          tables: list[str] | None = None, timestamp_format: str | None = None,
                          engine: str = "duckdb", spark_master: str | None = None,
                          checks_on_idle_cores: bool = False):
    """:func:`load_dataset`, with the checks of a Parquet folder on DuckDB running meanwhile.

    The checks run in a background thread on a DuckDB connection of their own while the caller
    computes on the dataset (the engine's work and the caller's Python work overlap on the
    cores); every other dataset (CSV, Spark, more than :data:`CHECKS_MEANWHILE_UP_TO` messages)
    is checked before this returns, as by :func:`load_dataset`.

    ``checks_on_idle_cores``: the checks run at the lowest priority (their thread and their DuckDB
    connection's worker threads at nice 19), so they take the cores the caller leaves idle (its
    imports, its single-threaded Python stretches, its output). Once the caller waits for them they
    are back at the normal priority on every core, so that other programs cannot starve them; where
    this process may not raise a priority again (:mod:`groupstats.engine.thread_priority`), they run
    at the normal priority throughout. Measured on the many-groups shape (2026-12-06, paired runs):
    ``churn`` 1.1-1.6 s less, ``features`` 3% less wall time. On one DuckDB thread instead,
    ``features`` was slower (its checks left alone at the end ran on one core); ``churn`` was the same.

    Returns
    -------
    (Dataset, PendingValidation)
        Use the second as a context manager around the work on the dataset, and use the results
        only after leaving it: it waits for the checks and raises their
        :class:`~groupstats.errors.DataValidationError`, in place of any error of the work (which
        invalid data may cause).

    Example
    -------
    >>> ds, checks = load_dataset_checking("data/sample")      # doctest: +SKIP
    >>> with checks:                                            # doctest: +SKIP
    ...     features = member_features(ds)
    """
    return _load(path, tz, validate, tables, timestamp_format, engine, spark_master,
                 meanwhile=True, on_idle_cores=checks_on_idle_cores)


class PendingValidation:
    """The checks of a dataset, running in a background thread (or none: already done).

    Leaving it as a context manager (or :meth:`wait`) waits for them and raises their error.

    ``check`` is called in that thread with this object; on idle cores it calls :meth:`lower_priority`
    first. Waiting for the checks (or their end) puts their threads back to the normal priority.
    """

    def __init__(self, check=None):
        import threading

        self._error: BaseException | None = None
        self._thread = None
        self._lock = threading.Lock()
        self._waited = False
        self._lowered = None
        if check is not None:
            def run():
                try:
                    check(self)
                except Exception as exc:  # reported by wait(), in the caller's thread
                    self._error = exc
                finally:
                    self._restore_priority()

            self._thread = threading.Thread(target=run, name="groupstats-checks", daemon=True)
            self._thread.start()

    def lower_priority(self) -> bool:
        """Lower the calling thread (the checks') to the lowest priority, unless the caller waits for the
        checks already or this process could not raise it again (:mod:`groupstats.engine.thread_priority`);
        threads it starts next inherit it. Returns whether it did."""
        from groupstats.engine import thread_priority

        if not thread_priority.can_restore():
            return False
        with self._lock:
            if self._waited:
                return False
            self._lowered = thread_priority.LoweredPriority()
            return True

    def _restore_priority(self, waited: bool = False) -> None:
        with self._lock:
            self._waited = self._waited or waited
            if self._lowered is not None:
                self._lowered.restore()

    def _join(self) -> None:
        if self._thread is not None:
            self._restore_priority(waited=True)  # the caller waits: the checks get their share again
            self._thread.join()

    def wait(self) -> None:
        """Wait for the checks; raise their error (DataValidationError naming every problem)."""
        self._join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "PendingValidation":
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        self._join()
        if self._error is not None:
            raise self._error from exc
        return False


def _load(path, tz, validate, tables, timestamp_format, engine, spark_master, meanwhile: bool,
          on_idle_cores: bool = False):
    from groupstats.checks import check_scalar
    from groupstats.data.validation import _read_raw, _table_file
    from groupstats.engine import ENGINES

    check_scalar(engine, "engine", typ=str, in_=ENGINES)
    check_scalar(spark_master, "spark_master", typ=str, none_ok=True)
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
    engine_spec = {"engine": engine, "spark_master": spark_master}
    parquet = _engine_readable(folder, wanted)
    if parquet is not None:
        return _open_out_of_core(folder, parquet, tz, validate, metadata, engine_spec, meanwhile, on_idle_cores)
    raw, files = {}, {}
    for name in TABLE_NAMES:
        file = _table_file(folder, name) if name in wanted else None
        files[name] = str(file) if file else str(folder / f"{name}.*")
        if file is not None:
            raw[name] = _read_raw(file)
    ds = build_dataset(raw, files, tz, validate, metadata, path=folder, timestamp_format=timestamp_format)
    ds.engine_spec = engine_spec
    return ds, PendingValidation()


def _check_tz(tz: str) -> None:
    try:
        pd.Timestamp("2020-01-01").tz_localize(tz)
    except Exception as exc:
        raise GroupstatsError(f"Unknown timezone {tz!r}; use an IANA name such as 'Asia/Shanghai'.") from exc


# --------------------------------------------------------------------------------------
# out of core
# --------------------------------------------------------------------------------------
def _parquet_of(folder: Path, name: str) -> Path | None:
    single, sub = folder / f"{name}.parquet", folder / name
    if single.is_file():
        return single
    if sub.is_dir() and any(sub.rglob("*.parquet")):
        return sub
    return None


def _schema(path: Path):
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    if path.is_file():
        return pq.read_schema(path)
    return pads.dataset(path, format="parquet", partitioning=None).schema


def _engine_readable(folder: Path, wanted) -> dict[str, Path] | None:
    """The Parquet file (or folder) of each wanted table, if the engine reads them exactly as pandas
    would: no CSV table, timestamps stored as zone-aware timestamps, ids and counts not as floats.
    None otherwise (the in-memory loader then applies the parsing rules)."""
    import pyarrow as pa

    out = {}
    for name in TABLE_NAMES:
        if name not in wanted:
            continue
        if (folder / f"{name}.csv").exists():
            return None
        path = _parquet_of(folder, name)
        if path is None:
            continue
        try:
            schema = _schema(path)
        except Exception:  # unreadable: the in-memory loader names the file and the reason
            return None
        spec = TABLES[name]
        for field in schema:
            kind = field.type
            if field.name in spec.timestamps and not (pa.types.is_timestamp(kind) and kind.tz):
                return None
            if field.name in (*spec.ids, *spec.strings, *spec.ints, *spec.categories) and (
                    pa.types.is_floating(kind) or pa.types.is_timestamp(kind)):
                return None
        out[name] = path
    return out


def _read_parquet(path: Path, name: str, tz: str) -> pd.DataFrame:
    """Table ``name`` read into pandas and coerced to the data model (already validated)."""
    from groupstats.data.validation import _coerce, _read_raw

    if path.is_file():
        frame = _read_raw(path)
    else:
        import pyarrow.dataset as pads

        frame = pads.dataset(path, format="parquet", partitioning=None).to_table().to_pandas()
    problems: list[Problem] = []
    frame = _coerce(frame, TABLES[name], str(path), tz, problems)
    if problems:
        raise DataValidationError(problems)
    return frame


def _n_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _open_out_of_core(folder: Path, parquet: dict[str, Path], tz: str, validate: bool, metadata: dict,
                      engine_spec: dict, meanwhile: bool = False, on_idle_cores: bool = False):
    from groupstats.data.dataset import Dataset, Deferred
    from groupstats.engine import Source

    missing = [n for n in REQUIRED_TABLES if n not in parquet]
    if missing:
        raise DataValidationError([Problem(str(folder), None, f"required table '{name}' is missing "
                                                              f"(expected {name}.parquet or {name}.csv)")
                                   for name in missing], header=(
            f"{folder} is not a valid groupstats dataset ({len(missing)} problem(s)):"))
    src = Source.from_path(folder, engine=engine_spec["engine"], tz=tz, spark_master=engine_spec["spark_master"])
    src.raw = {name: table for name, table in src.raw.items() if name in parquet}
    pending = PendingValidation()
    if (validate and meanwhile and engine_spec["engine"] == "duckdb"
            and _n_rows(parquet["messages"]) <= CHECKS_MEANWHILE_UP_TO):
        pending = PendingValidation(lambda pending: _validate_folder(
            folder, parquet, tz, lower_priority=pending.lower_priority if on_idle_cores else None))
    elif validate:
        from groupstats.tables.checks import validate_source

        validate_source(src)
    ds = Dataset(tz=tz, path=folder, metadata=metadata, engine_spec=engine_spec)
    for name, path in parquet.items():
        # every table is read into pandas on first use only: the derived tables run on the engine
        # (reading members, groups, posts and assignments up front cost ~0.15 s per command at 10M)
        ds._tables[name] = Deferred(lambda path=path, name=name: _read_parquet(path, name, tz),
                                    rows=_n_rows(path))
    return ds.bind(src), pending


def _validate_folder(folder: Path, parquet: dict[str, Path], tz: str, lower_priority=None) -> None:
    """The checks of the Parquet tables ``parquet`` of ``folder`` on a DuckDB connection of their own
    (closed after), as :func:`_open_out_of_core` runs them on the dataset's. ``lower_priority`` (on idle
    cores: :meth:`PendingValidation.lower_priority`) is called before the connection opens, so that
    DuckDB's worker threads, which it starts then, inherit the priority (see :func:`load_dataset_checking`)."""
    from groupstats.engine import Source, connect
    from groupstats.tables.checks import validate_source

    if lower_priority is not None:
        lower_priority()
    engine = connect("duckdb")
    try:
        src = Source.from_path(folder, engine=engine, tz=tz)
        src.raw = {name: table for name, table in src.raw.items() if name in parquet}
        validate_source(src)
    finally:
        engine.con.disconnect()
