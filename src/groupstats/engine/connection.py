"""Connections: an Ibis backend on embedded DuckDB (memory limit, spilling, threads) or Spark.

:func:`connect` opens one; :class:`Engine` holds it with what differs between engines (the epoch
microseconds function, registering frames, reading files, running an expression).
"""
from __future__ import annotations

import itertools
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

from groupstats.engine.execution import _duckdb_execute
from groupstats.engine.spark_session import _spark, _spark_ready

ENGINES = ("duckdb", "spark")
_names = itertools.count()
# Ibis 12 reads a pandas option that pandas 3 deprecates; nothing for our users to act on
warnings.filterwarnings("ignore", message=".*future.infer_string.*")
# Ibis 12 calls DuckDB's fetch_arrow_table, which DuckDB 1.4+ deprecates; printed on every CLI run otherwise
warnings.filterwarnings("ignore", message=".*fetch_arrow_table.*", category=DeprecationWarning)


class Engine:
    """One Ibis connection and what differs between engines (only ``epoch_us`` so far).

    Attributes
    ----------
    kind : {"duckdb", "spark"}
    con : ibis backend
    """

    def __init__(self, kind: str, con, spark=None):
        self.kind = kind
        self.con = con
        self.spark = spark
        self._epoch_us = _epoch_us_function(kind)

    def epoch_us(self, column):
        """Integer microseconds since 1970-01-01 UTC of a timestamp column."""
        return self._epoch_us(column)

    def register(self, frame, name: str | None = None):
        """An Ibis table over an in-memory pandas frame (DuckDB scans it in place; Spark copies it)."""
        name = name or f"gs_frame_{next(_names)}"
        if self.kind == "duckdb":
            self.con.con.register(name, frame)
            return self.con.table(name)
        return self.con.create_table(name, self.spark.createDataFrame(_spark_ready(frame)), temp=True,
                                     overwrite=True)

    def unregister(self, name: str) -> None:
        try:
            if self.kind == "duckdb":
                self.con.con.unregister(name)
            else:
                self.spark.catalog.dropTempView(name)
        except Exception:  # the connection may be gone at interpreter exit
            pass

    def read(self, path: Path | str, kind: str):
        """An Ibis table over a Parquet file or folder of Parquet files, or a CSV file."""
        path = str(path)
        if kind == "csv":  # parsed once (text is slow to re-read for every table)
            table = self.con.read_csv(path)
            if self.kind == "duckdb":
                return self.con.create_table(f"gs_csv_{next(_names)}", table, temp=True)
            return table.cache()
        if self.kind == "duckdb" and not path.endswith(".parquet"):
            return self.con.read_parquet(f"{path}/**/*.parquet", hive_partitioning=False)
        if self.kind == "duckdb":  # row numbers of a single file, for validation messages
            return self.con.read_parquet(path, file_row_number=True)
        return self.con.read_parquet(path)

    def execute(self, expr):
        """Run an expression; a pandas DataFrame (or scalar)."""
        if self.kind == "duckdb":
            return _duckdb_execute(self.con, expr)
        return expr.execute()


def connect(engine: str = "duckdb", spark_master: str | None = None, memory_limit: str = "512MB",
            threads: int | None = None) -> Engine:
    """Open an engine.

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        Embedded DuckDB (default), or Spark for data that outgrow one machine.
    spark_master : str, optional
        Spark only: ``local[2]`` (default), ``spark://host:7077``, or a Spark Connect URL
        ``sc://host:15002``.
    memory_limit : str, default "512MB"
        DuckDB only: larger intermediate results spill to the system's temporary folder.
    threads : int, optional
        DuckDB worker threads (default: the number of cores).
    """
    from groupstats.checks import check_scalar

    check_scalar(engine, "engine", typ=str, in_=ENGINES)
    check_scalar(spark_master, "spark_master", typ=str, none_ok=True)
    check_scalar(threads, "threads", typ=int, ge=1, none_ok=True)
    if engine == "duckdb":
        import ibis

        spill = Path(tempfile.gettempdir()) / "groupstats-duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        # results are ordered explicitly where order matters; without insertion order DuckDB streams
        # aggregations with far less memory (and spills less)
        config = {"memory_limit": memory_limit, "temp_directory": str(spill), "preserve_insertion_order": False}
        if threads:
            config["threads"] = int(threads)
        con = ibis.duckdb.connect(**config)
        con.raw_sql("SET TimeZone = 'UTC'")
        try:
            con.raw_sql("SET enable_progress_bar = false")
        except Exception:  # a Jupyter kernel without ipywidgets refuses the setting (reports run there)
            pass
        return Engine("duckdb", con)
    return Engine("spark", *_spark(spark_master or "local[2]"))


def _epoch_us_function(kind: str):
    import ibis
    import ibis.expr.datatypes as dt

    name = "epoch_us" if kind == "duckdb" else "unix_micros"
    return ibis.udf.scalar.builtin(lambda x: None, name=name, signature=((dt.timestamp,), dt.int64))


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The process's embedded DuckDB, shared by every in-memory dataset."""
    return connect("duckdb")
