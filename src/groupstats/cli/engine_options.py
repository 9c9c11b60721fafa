"""``--engine`` and ``--spark-master``: the options of every command that computes derived tables."""
from __future__ import annotations

import typer


def _engine_callback(value: str) -> str:
    from groupstats.engine import ENGINES

    if value not in ENGINES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINES)}, not {value!r}.")
    return value


def engine_option():
    return typer.Option("duckdb", "--engine", callback=_engine_callback,
                        help="Where derived tables are computed: duckdb (embedded, the default) or spark "
                             "(pip install 'groupstats[spark]'; see docs/scaling.md). Same tables either way.")


def spark_master_option():
    return typer.Option(None, "--spark-master",
                        help="With --engine spark: local[2] (default), spark://host:7077, or a Spark Connect "
                             "URL such as sc://host:15002.")
