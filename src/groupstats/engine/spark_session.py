"""The Spark session: local mode, a ``spark://`` master or Spark Connect, always on UTC session time.

Spark is optional (``pip install 'groupstats[spark]'``); nothing here imports pyspark until a Spark
engine is opened.
"""
from __future__ import annotations

from functools import lru_cache

from groupstats.errors import GroupstatsError


@lru_cache(maxsize=4)
def _spark(master: str):
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise GroupstatsError("The Spark engine needs pyspark: pip install 'groupstats[spark]'.") from exc
    builder = SparkSession.builder
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = (builder.master(master).config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "2").config("spark.default.parallelism", "2")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    spark = (builder.appName("groupstats").config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.ansi.enabled", "false").getOrCreate())
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    if not master.startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(spark), spark


def _spark_ready(frame):
    """A pandas frame Spark can take: microsecond UTC timestamps, plain strings and nullable ints."""
    import pandas as pd

    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.as_unit("us")
        elif pd.api.types.is_string_dtype(s.dtype):
            s = s.astype(object).where(s.notna(), None)
        elif isinstance(s.dtype, pd.Int64Dtype):
            s = s.astype(object).where(s.notna(), None)
        out[col] = s
    return pd.DataFrame(out)
