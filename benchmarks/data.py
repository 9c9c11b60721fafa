"""Simulated benchmark datasets, cached as Parquet under ``benchmarks/data/``.

A dataset of N million messages is built from independent simulated chunks of
about one million messages each (``simulate_community`` with
``CHUNK_GROUPS`` groups over ``DAYS`` days), so memory stays bounded while
generating. Ids are prefixed with the chunk number (``c03g012``,
``c03u00042``, ``c03m0001234`` ...), so the concatenation is a valid
groupstats dataset (every group is a separate community; experiments are
per group). Each table is one Parquet file with one row group per chunk.

:func:`partition_by_month` rewrites ``messages`` (and ``events``) as a hive
partitioned folder ``messages/month=YYYY-MM/*.parquet`` for the out-of-core
path; :func:`replicate` makes a larger dataset out of relabelled copies of a
smaller one (used for the 100M-message run, where simulating would take too
long on 2 cores).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CHUNK_GROUPS = 40
DAYS = 365
MEMBERS_PER_GROUP = 100.0
SEED = 20261121
TABLES = ("groups", "members", "messages", "posts", "events", "assignments")
_ID_COLUMNS = {
    "groups": ("group_id",),
    "members": ("group_id", "member_id"),
    "messages": ("message_id", "group_id", "member_id", "reply_to"),
    "posts": ("post_id", "group_id", "member_id", "message_id"),
    "events": ("group_id", "member_id", "post_id"),
    "assignments": ("group_id",),
}


#: The many-groups shape: 2,150 groups x 60 days, ~174k memberships (10 chunks of 215 groups).
MANY_GROUPS = {"chunks": 10, "chunk_groups": 215, "days": 60, "members_per_group": 85.0}


def dataset_dir(millions: int) -> Path:
    return DATA_DIR / f"sim_{millions}m"


def ensure_many_groups(log=print) -> Path:
    """Return the folder of the many-groups dataset (2,150 groups x 60 days), generating it if needed.

    Many small groups over a short window: per-group work (as-of attribution, members present,
    group-day grids) dominates here, unlike the 40-groups-per-chunk, 365-day datasets.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from groupstats.data.simulate import simulate_community

    folder = DATA_DIR / "sim_many_groups"
    done = folder / "COMPLETE"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    n_messages, n_members = 0, 0
    start = time.perf_counter()
    try:
        for chunk in range(MANY_GROUPS["chunks"]):
            ds, _ = simulate_community(MANY_GROUPS["chunk_groups"], MANY_GROUPS["days"], seed=SEED + 1000 + chunk,
                                       members_per_group=MANY_GROUPS["members_per_group"], events=True)
            prefix = f"c{chunk:03d}"
            for name in TABLES:
                table = pa.Table.from_pandas(getattr(ds, name), preserve_index=False)
                for col in _ID_COLUMNS[name]:
                    i = table.schema.get_field_index(col)
                    values = pc.binary_join_element_wise(pa.scalar(prefix), table.column(col).cast(pa.string()), "")
                    table = table.set_column(i, col, values)
                table = table.replace_schema_metadata(None)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema, compression="zstd")
                writers[name].write_table(table.cast(writers[name].schema), row_group_size=1 << 20)
            n_messages += len(ds.messages)
            n_members += len(ds.members)
            log(f"  chunk {chunk + 1}: {n_messages:,} messages, {n_members:,} memberships "
                f"({time.perf_counter() - start:.0f} s)")
    finally:
        for w in writers.values():
            w.close()
    (folder / "dataset.json").write_text(json.dumps({
        "tz": "Asia/Shanghai", "source": "groupstats simulator (benchmarks, many groups)", "seed": SEED + 1000,
        **MANY_GROUPS, "n_groups": MANY_GROUPS["chunks"] * MANY_GROUPS["chunk_groups"],
        "n_memberships": n_members, "n_messages": n_messages}, indent=2))
    done.write_text(f"{n_messages}\n")
    return folder


def ensure_dataset(millions: int, log=print) -> Path:
    """Return the folder of a cached ~``millions`` M-message dataset, generating it if needed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from groupstats.data.simulate import simulate_community

    folder = dataset_dir(millions)
    done = folder / "COMPLETE"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    n_messages, chunk = 0, 0
    start = time.perf_counter()
    target = millions * 1_000_000
    try:
        while n_messages < target * 0.9:
            ds, truth = simulate_community(CHUNK_GROUPS, DAYS, seed=SEED + chunk,
                                           members_per_group=MEMBERS_PER_GROUP, events=True)
            prefix = f"c{chunk:03d}"
            for name in TABLES:
                frame = getattr(ds, name)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                for col in _ID_COLUMNS[name]:
                    i = table.schema.get_field_index(col)
                    values = pc.binary_join_element_wise(pa.scalar(prefix), table.column(col).cast(pa.string()),
                                                         "")
                    table = table.set_column(i, col, values)
                table = table.replace_schema_metadata(None)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema,
                                                     compression="zstd")
                writers[name].write_table(table.cast(writers[name].schema), row_group_size=1 << 20)
            n_messages += len(ds.messages)
            chunk += 1
            log(f"  chunk {chunk}: {n_messages:,} messages ({time.perf_counter() - start:.0f} s)")
            del ds, truth
    finally:
        for w in writers.values():
            w.close()
    (folder / "dataset.json").write_text(json.dumps({
        "tz": "Asia/Shanghai", "source": "groupstats simulator (benchmarks)", "seed": SEED,
        "chunks": chunk, "chunk_groups": CHUNK_GROUPS, "days": DAYS, "n_messages": n_messages}, indent=2))
    done.write_text(f"{n_messages}\n")
    return folder


def partition_by_month(src: Path, dst: Path, threads: int = 2, memory_limit: str = "1GB") -> Path:
    """Copy dataset ``src`` to ``dst`` with messages and events partitioned by local month."""
    import shutil

    if (dst / "COMPLETE").exists():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    con = _connect(threads, memory_limit)
    for name, ts in (("messages", "sent_at"), ("events", "occurred_at")):
        if (dst / name).exists():
            shutil.rmtree(dst / name)
        con.execute(f"""COPY (SELECT *, strftime({ts}, '%Y-%m') AS month FROM read_parquet('{src / name}.parquet'))
                        TO '{dst / name}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month))""")
    for name in ("groups", "members", "posts", "assignments", "dataset.json"):
        file = src / (name if name.endswith(".json") else f"{name}.parquet")
        shutil.copy(file, dst / file.name)
    (dst / "COMPLETE").write_text("ok\n")
    return dst


def _connect(threads: int, memory_limit: str):
    """A DuckDB connection for copying benchmark data (Shanghai time, no progress bar), spilling to the
    system's temporary folder (DuckDB's default, ./.tmp, would be inside the repository)."""
    import tempfile

    import duckdb

    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "preserve_insertion_order": False,
                                 "temp_directory": str(Path(tempfile.gettempdir()) / "groupstats-bench-data")})
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("SET enable_progress_bar = false")
    return con


def replicate(src: Path, dst: Path, copies: int, threads: int = 2, memory_limit: str = "2GB",
              log=print) -> Path:
    """``copies`` relabelled copies of dataset ``src`` (ids prefixed ``rK_``), messages and events partitioned
    by month (``messages/month=YYYY-MM/rK_0.parquet``).

    One copy at a time (a partitioned write of all copies at once spilled gigabytes under a 1 GB limit),
    each copy's files written under a temporary name and renamed when complete, so an interrupted build
    resumes at the first copy not yet written.
    """
    if (dst / "COMPLETE").exists():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    con = _connect(threads, memory_limit)
    start = time.perf_counter()

    def relabelled(name: str, k) -> str:
        ids = _ID_COLUMNS[name]
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{src / name}.parquet')").fetchall()
        cols = [row[0] for row in described]
        select = ", ".join(
            (f"CASE WHEN {c} IS NULL THEN NULL ELSE 'r' || {k} || '_' || {c} END AS {c}" if c in ids else c)
            for c in cols)
        return f"SELECT {select} FROM read_parquet('{src / name}.parquet')"

    for name in ("groups", "members", "posts", "assignments"):
        if not (dst / f"{name}.parquet").exists():
            source = f"{relabelled(name, 'k')}, range({copies}) t(k)"  # the small tables: all copies at once
            con.execute(f"COPY ({source}) TO '{dst / name}.tmp.parquet' (FORMAT parquet, COMPRESSION zstd)")
            (dst / f"{name}.tmp.parquet").rename(dst / f"{name}.parquet")
        log(f"  replicated {name} ({time.perf_counter() - start:.0f} s)")
    for name, ts in (("messages", "sent_at"), ("events", "occurred_at")):
        for k in range(copies):
            marker = dst / f".{name}_r{k}_done"
            if marker.exists():
                continue
            for old in (dst / name).glob(f"month=*/r{k}_*.parquet"):  # a copy interrupted half-way
                old.unlink()
            con.execute(f"""COPY (SELECT *, strftime({ts}, '%Y-%m') AS month FROM ({relabelled(name, k)}))
                            TO '{dst / name}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month),
                                               FILENAME_PATTERN 'r{k}_{{i}}', OVERWRITE_OR_IGNORE)""")
            marker.write_text("ok\n")
            log(f"  replicated {name} copy {k + 1}/{copies} ({time.perf_counter() - start:.0f} s)")
    meta = json.loads((src / "dataset.json").read_text())
    meta.update({"n_messages": meta.get("n_messages", 0) * copies, "copies": copies,
                 "source": f"{copies} relabelled copies of {src.name}"})
    (dst / "dataset.json").write_text(json.dumps(meta, indent=2))
    for marker in dst.glob(".*_r*_done"):
        marker.unlink()
    (dst / "COMPLETE").write_text("ok\n")
    return dst
