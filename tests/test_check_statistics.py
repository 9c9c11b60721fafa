"""Row rules proved by Parquet statistics (groupstats.tables.parquet_statistics): skipped only where the
files' statistics prove them; an empty key or a negative count is still reported, with or without
statistics, in a single file or a partitioned folder."""
from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from groupstats.errors import DataValidationError
from groupstats.paths import sample_data_path
from groupstats.tables import parquet_statistics as ps
from groupstats.tables import scale


def test_statistics_of_a_file_and_what_they_prove(tmp_path):
    table = pa.table({"a": pa.array([3, None, 5, 7], pa.int64()), "b": pa.array([1, 2, -4, 0], pa.int64()),
                      "c": pa.array(["x", "y", None, None]), "d": pa.array([None, None, None, None], pa.int64())})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    stats = ps.table_statistics([tmp_path / "t.parquet"])
    assert (stats["a"].rows, stats["a"].nulls, stats["a"].min) == (4, 1, 3)
    assert (stats["b"].nulls, stats["b"].min) == (0, -4)
    assert stats["c"].nulls == 2 and stats["c"].min is None  # text: no whole-number minimum
    assert ps.proved(stats, (ps.NO_NULLS, "b")) and not ps.proved(stats, (ps.NO_NULLS, "a"))
    assert ps.proved(stats, (ps.NOT_NEGATIVE, "a")) and not ps.proved(stats, (ps.NOT_NEGATIVE, "b"))
    assert ps.proved(stats, (ps.NOT_NEGATIVE, "d"))  # every value empty: none negative
    assert not ps.proved(stats, (ps.NO_NULLS, "missing")) and not ps.proved(None, (ps.NO_NULLS, "b"))
    pq.write_table(table, tmp_path / "bare.parquet", write_statistics=False)
    bare = ps.table_statistics([tmp_path / "bare.parquet"])
    assert not any(ps.proved(bare, (kind, col)) for kind in (ps.NO_NULLS, ps.NOT_NEGATIVE) for col in "abcd")
    both = ps.table_statistics([tmp_path / "t.parquet", tmp_path / "bare.parquet"])
    assert both["b"].rows == 8 and not ps.proved(both, (ps.NO_NULLS, "b"))


def _broken_sample(folder, statistics: bool, partitioned: bool = False):
    """The sample's members and first 3,000 messages, with an empty member_id (row 6) and a negative
    text_len (row 9) in messages."""
    folder.mkdir()
    for name in ("members.parquet", "dataset.json"):
        shutil.copy(sample_data_path() / name, folder / name)
    m = pd.read_parquet(sample_data_path() / "messages.parquet").iloc[:3000].copy()
    m.loc[~m["reply_to"].isin(m["message_id"]), "reply_to"] = None
    m.loc[5, "member_id"] = None
    m.loc[8, "text_len"] = -2
    if partitioned:
        m = m.assign(month=m["sent_at"].dt.strftime("%Y-%m"))
        m.to_parquet(folder / "messages", partition_cols=["month"], index=False)
    else:
        pq.write_table(pa.Table.from_pandas(m, preserve_index=False), folder / "messages.parquet",
                       write_statistics=statistics)
    return folder


def _row_problems(folder):
    with pytest.raises(DataValidationError) as info:
        scale.validate(folder)
    return sorted((p.column, p.message, p.n_rows, tuple(p.rows)) for p in info.value.problems
                  if p.message in ("empty values in a required column", "negative counts"))


def test_empty_keys_and_negative_counts_reported_with_or_without_statistics(tmp_path):
    with_stats = _row_problems(_broken_sample(tmp_path / "s", statistics=True))
    assert with_stats == [("member_id", "empty values in a required column", 1, (6,)),
                          ("text_len", "negative counts", 1, (9,))]
    assert _row_problems(_broken_sample(tmp_path / "n", statistics=False)) == with_stats


def test_empty_keys_and_negative_counts_reported_in_a_partitioned_folder(tmp_path):
    parts = _row_problems(_broken_sample(tmp_path / "p", statistics=True, partitioned=True))
    assert parts == [("member_id", "empty values in a required column", 1, ()),
                     ("text_len", "negative counts", 1, ())]  # several files: no row numbers


def test_valid_sample_rules_proved_by_statistics_skip_only_those(sample_path):
    from groupstats.engine import Source, connect
    from groupstats.tables.checks import _proved_by_statistics, rules

    src = Source.from_path(sample_path, engine=connect("duckdb"))
    names = list(src.raw)
    all_rules = rules(src, names)
    proved = {(all_rules[i].table, all_rules[i].key) for i in _proved_by_statistics(src, names, all_rules)}
    assert {("messages", "null:message_id"), ("messages", "null:member_id"), ("messages", "null:sent_at"),
            ("events", "null:occurred_at")} <= proved
    assert all(key.startswith(("null:", "negative:")) for _, key in proved)
    assert not _proved_by_statistics(src.cut(src.message_range_us()[1]), names, all_rules)  # a cut: rows differ
