"""Where derived tables are computed: an Ibis connection to DuckDB (default) or Spark.

Every derived table of :mod:`groupstats.tables` is written once, as an Ibis
expression over the canonical tables (:class:`Source`). This package holds what
differs between engines and nothing else, a module per concern:

- :mod:`~groupstats.engine.connection`: :func:`connect` opens an embedded DuckDB
  (memory limit, spilling to the system's temporary folder, threads) or a Spark
  session, always with UTC session time; :class:`Engine` registers frames, reads
  files and runs expressions on it.
- :mod:`~groupstats.engine.spark_session`: the Spark session (``local[2]``, a
  ``spark://`` master, or a Spark Connect URL ``sc://host:15002``).
- :mod:`~groupstats.engine.execution`: DuckDB's results to pandas through Arrow.
- :mod:`~groupstats.engine.source`: :class:`Source` binds the tables of one dataset
  to an engine: an in-memory :class:`~groupstats.data.dataset.Dataset` (DuckDB scans
  the pandas frames in place, no copy) or a folder of Parquet / CSV files (read by
  the engine, never loaded into pandas; Spark reads any path it can: local, HDFS, S3).
- :mod:`~groupstats.engine.local_time`: timestamps become integer microseconds since
  the epoch (UTC) once, in :meth:`Source.table`; the local day, hour and weekday are
  computed explicitly from them with the dataset's UTC offsets
  (:meth:`Source.local_parts`), so no engine's session time zone or timestamp
  precision can change a result.

Everything is importable from here (``from groupstats.engine import Source``).

Example
-------
>>> from groupstats.engine import Source
>>> src = Source.from_path("data/sample")                         # doctest: +SKIP
>>> src = Source.from_path("data/sample", engine="spark", spark_master="local[2]")  # doctest: +SKIP
"""
from __future__ import annotations

from groupstats.engine.connection import ENGINES, Engine, connect, default_engine
from groupstats.engine.execution import _duckdb_execute, _integer_sums_as_int64  # noqa: F401 (tests import them)
from groupstats.engine.local_time import US_PER_DAY, US_PER_HOUR, local_timestamp, local_us, to_us, utc_offsets
from groupstats.engine.source import Source, source_of

__all__ = ["ENGINES", "Engine", "Source", "US_PER_DAY", "US_PER_HOUR", "connect", "default_engine",
           "local_timestamp", "local_us", "source_of", "to_us", "utc_offsets"]
