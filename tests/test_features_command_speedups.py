"""What ``groupstats features`` no longer spends time on gives the same answers: the message range
read from the stored timestamps (Parquet statistics) equals the one of the canonical table, and the
console script's lazily imported Ibis compilers compile the same SQL and still import by name."""
from __future__ import annotations

import subprocess
import sys

from groupstats.engine import Source, connect


def test_message_range_from_the_stored_timestamps_equals_the_canonical_tables(sample_path, sample):
    folder = Source.from_path(sample_path, engine=connect("duckdb"))
    in_memory = Source.from_dataset(sample)
    for src in (folder, in_memory):
        fast = src.message_range_us()
        m = src.table("messages")  # the canonical table: microseconds of every message, then the extremes
        row = src.execute(m.aggregate(lo=m.sent_us.min(), hi=m.sent_us.max())).iloc[0]
        assert fast == (int(row["lo"]), int(row["hi"]))
        assert src.cut(fast[1] + 1).message_range_us() == fast  # the cut's own query: the same range
    cut = folder.cut(folder.message_range_us()[1] - 86_400_000_000)
    assert cut.message_range_us()[1] <= folder.message_range_us()[1] - 86_400_000_000


LAZY = """
import sys
from groupstats.cli import lazy_compilers
lazy_compilers.install()
import ibis
from groupstats.engine import connect
print(connect("duckdb").execute(ibis.memtable({"g": ["a", "b", "a"], "x": [1, 2, 3]}).group_by("g").aggregate(
    s=ibis._.x.sum()).order_by("g")).to_dict("list"))
t = ibis.table({"g": "string", "x": "int64"}, name="t")
print(repr(ibis.to_sql(t.group_by("g").aggregate(s=t.x.sum()).order_by("g"), dialect="duckdb")))
print(sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("ibis.backends.sql.compilers.")))
from ibis.backends.sql.compilers import PySparkCompiler
import ibis.backends.sql.compilers as compilers
print(PySparkCompiler.__name__, type(compilers.duckdb.compiler).__name__, "TrinoCompiler" in compilers.__all__)
"""


def test_lazy_ibis_compilers_compile_the_same_and_import_by_name():
    """In a fresh interpreter with the lazy compilers: the same result and SQL as here (every compiler
    imported), only the compilers used are imported, and every name still imports."""
    import ibis

    out = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, check=True).stdout
    result, sql, loaded, names = out.splitlines()
    t = ibis.table({"g": "string", "x": "int64"}, name="t")
    assert result == "{'g': ['a', 'b'], 's': [4, 2]}"
    assert sql == repr(ibis.to_sql(t.group_by("g").aggregate(s=t.x.sum()).order_by("g"), dialect="duckdb"))
    assert "duckdb" in loaded and "bigquery" not in loaded and "trino" not in loaded
    assert names == "PySparkCompiler DuckDBCompiler True"
