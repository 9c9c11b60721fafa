"""Out-of-core path (groupstats.tables.scale) against the in-memory derived tables and features.

Correctness only (no timings): the DuckDB functions must return exactly the
frames the in-memory functions return on the same data, with single-file and
month-partitioned Parquet, at several cutoffs, and validation must catch what
load_dataset catches.
"""
from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from groupstats.tables import derived as derived, features, scale
from groupstats.data.dataset import isin
from groupstats.errors import DataValidationError, InsufficientDataError
from groupstats.paths import sample_data_path


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """The sample dataset with messages and events partitioned by month (hive folders)."""
    src = sample_data_path()
    dst = tmp_path_factory.mktemp("partitioned")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    for name, ts in (("messages", "sent_at"), ("events", "occurred_at")):
        con.execute(f"""COPY (SELECT *, strftime({ts}, '%Y-%m') AS month FROM read_parquet('{src / name}.parquet'))
                        TO '{dst / name}' (FORMAT parquet, PARTITION_BY (month))""")
    for name in ("groups", "members", "posts", "assignments"):
        shutil.copy(src / f"{name}.parquet", dst / f"{name}.parquet")
    shutil.copy(src / "dataset.json", dst / "dataset.json")
    assert len(list((dst / "messages").glob("month=*"))) >= 4
    return dst


CUTOFFS = [None, "2026-03-01", "2026-02-14T18:30"]


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_member_features_identical(sample, cutoff):
    expected = features.member_features(sample, cutoff=cutoff)
    got = scale.member_features(sample_data_path(), cutoff=cutoff)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


def test_member_features_partitioned_windows_and_ranks(sample, partitioned):
    expected = features.member_features(sample, cutoff="2026-04-10", windows=(14, 60),
                                        normalise_within_group=True)
    got = scale.member_features(partitioned, cutoff="2026-04-10", windows=(14, 60), normalise_within_group=True)
    pd.testing.assert_frame_equal(got, expected)


def test_member_features_before_any_member_raises():
    with pytest.raises(InsufficientDataError):
        scale.member_features(sample_data_path(), cutoff="2020-01-01")


@pytest.mark.parametrize("as_of", [None, "2026-03-01"])
def test_member_day_activity_identical(sample, partitioned, as_of):
    expected = derived.member_day_activity(sample, as_of=as_of)
    pd.testing.assert_frame_equal(scale.member_day_activity(sample_data_path(), as_of=as_of), expected)
    pd.testing.assert_frame_equal(scale.member_day_activity(partitioned, as_of=as_of), expected)


def test_member_day_activity_with_operators(sample):
    expected = derived.member_day_activity(sample, include_operators=True)
    got = scale.member_day_activity(sample_data_path(), include_operators=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["n_messages"].sum() > scale.member_day_activity(sample_data_path())["n_messages"].sum()


@pytest.mark.parametrize("as_of,start,end", [(None, None, None), ("2026-03-01", None, None),
                                             (None, "2026-02-01", "2026-02-20")])
def test_group_day_metrics_identical(sample, partitioned, as_of, start, end):
    expected = derived.group_day_metrics(sample, as_of=as_of, start=start, end=end)
    got = scale.group_day_metrics(partitioned, as_of=as_of, start=start, end=end)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("kwargs", [{}, {"window": "30min", "read_window": "6h"}, {"as_of": "2026-03-01"},
                                    {"exclude_red_packets": "10min"}])
def test_post_outcomes_identical(sample, partitioned, kwargs):
    if not hasattr(scale, "post_outcomes"):
        pytest.fail("scale.post_outcomes is missing")
    expected = derived.post_outcomes(sample, **kwargs)
    got = scale.post_outcomes(partitioned, **kwargs)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


def test_fixed_offset_arithmetic_matches_timezone_conversion():
    """The integer shift used for fixed-offset zones gives the ICU local time."""
    pq = scale.ParquetDataset(sample_data_path())
    assert pq.fixed_offset_us == 8 * 3600 * 1_000_000
    same = pq.sql(f"""SELECT count(*) FILTER ({pq.local('sent_at')} <> timezone('Asia/Shanghai', sent_at)),
                             count(*) FROM {pq.files['messages']}""").fetchone()
    assert same[0] == 0 and same[1] > 0
    assert scale.ParquetDataset(sample_data_path(), tz="Europe/Berlin").fixed_offset_us is None


def test_dst_zone_matches_in_memory(sample, tmp_path):
    """A zone with daylight saving goes through DuckDB's time-zone conversion: still identical."""
    from groupstats.data.dataset import load_dataset

    berlin = load_dataset(sample_data_path(), tz="Europe/Berlin")
    berlin.save(tmp_path / "berlin")
    pd.testing.assert_frame_equal(scale.member_day_activity(tmp_path / "berlin"),
                                  derived.member_day_activity(berlin))
    pd.testing.assert_frame_equal(scale.member_features(tmp_path / "berlin", cutoff="2026-03-29T12:00"),
                                  features.member_features(berlin, cutoff="2026-03-29T12:00"))


def test_validate_counts_rows(sample):
    rows = scale.validate(sample_data_path())
    assert rows == {name: len(table) for name, table in sample.tables.items()}


def _broken_copy(tmp_path, sample, **edits):
    tables = {name: t.copy() for name, t in sample.tables.items()}
    for name, fn in edits.items():
        tables[name] = fn(tables[name])
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    shutil.copy(sample_data_path() / "dataset.json", folder / "dataset.json")
    return folder


@pytest.mark.parametrize("edit,needle", [
    ({"messages": lambda m: pd.concat([m, m.iloc[[5]]], ignore_index=True)}, "duplicate keys"),
    ({"messages": lambda m: m.assign(msg_type=np.where(np.arange(len(m)) == 3, "telegram", m["msg_type"]))},
     "unknown categories"),
    ({"messages": lambda m: m.assign(reply_to=np.where(np.arange(len(m)) == 7, "m_nowhere", m["reply_to"]))},
     "quotes a message_id that is not in messages"),
    ({"messages": lambda m: m.assign(member_id=np.where(np.arange(len(m)) == 9, "u_ghost", m["member_id"]))},
     "senders with no row in members"),
    ({"members": lambda m: m.assign(left_at=m["left_at"].where(np.arange(len(m)) != 4,
                                                               m["joined_at"] - pd.Timedelta("1D")))},
     "left_at before joined_at"),
    ({"events": lambda e: e.assign(post_id=e["post_id"].where(np.arange(len(e)) != 2, "p_missing"))},
     "references to posts not in posts"),
    ({"messages": lambda m: m.assign(n_mentions=np.where(np.arange(len(m)) == 11, -1, m["n_mentions"]))},
     "negative counts"),
])
def test_validate_finds_what_load_dataset_finds(sample, tmp_path, edit, needle):
    from groupstats.data.dataset import load_dataset

    folder = _broken_copy(tmp_path, sample, **edit)
    with pytest.raises(DataValidationError) as in_memory:
        load_dataset(folder)
    with pytest.raises(DataValidationError) as out_of_core:
        scale.validate(folder)
    assert needle in str(in_memory.value)
    assert needle in str(out_of_core.value)
    mem_rows = [p.rows for p in in_memory.value.problems if needle in p.message]
    ooc_rows = [p.rows for p in out_of_core.value.problems if needle in p.message]
    if mem_rows[0] and ooc_rows[0] and needle != "duplicate keys":
        assert mem_rows[0] == ooc_rows[0]


def test_fast_isin_matches_pandas():
    rng = np.random.default_rng(0)
    values = pd.Series(np.where(rng.random(500) < 0.1, None, rng.integers(0, 50, 500).astype(str)), dtype="str")
    for allowed in (pd.Series(rng.integers(0, 30, 40).astype(str), dtype="str"), {"1", "2", "49"},
                    pd.Series(["3", None], dtype="str"), []):
        np.testing.assert_array_equal(isin(values, allowed), np.asarray(values.isin(allowed)))


def test_cli_features_engines_agree(tmp_path):
    from groupstats.cli import main

    assert main(["features", "sample", "--out", str(tmp_path / "a.parquet"), "--cutoff", "2026-03-15"]) == 0
    assert main(["features", "sample", "--out", str(tmp_path / "b.parquet"), "--cutoff", "2026-03-15",
                 "--engine", "memory"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))


def test_bucketed_processing_identical(sample, partitioned, monkeypatch):
    """Large datasets are processed in buckets of groups; force 3 buckets on the sample."""
    monkeypatch.setattr(scale, "_n_buckets", lambda pq, rows_per_bucket=0: 3)
    pd.testing.assert_frame_equal(scale.member_features(partitioned, cutoff="2026-03-20"),
                                  features.member_features(sample, cutoff="2026-03-20"))
    pd.testing.assert_frame_equal(scale.member_day_activity(partitioned), derived.member_day_activity(sample))
    pd.testing.assert_frame_equal(scale.group_day_metrics(partitioned), derived.group_day_metrics(sample))
    pd.testing.assert_frame_equal(scale.post_outcomes(partitioned, exclude_red_packets=True),
                                  derived.post_outcomes(sample, exclude_red_packets=True))


def test_member_day_activity_to_parquet(sample, tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "_n_buckets", lambda pq, rows_per_bucket=0: 2)
    n = scale.member_day_activity(sample_data_path(), out=tmp_path / "mda")
    written = pd.read_parquet(tmp_path / "mda")
    expected = derived.member_day_activity(sample)
    assert n == len(expected) == len(written)
    written = written.sort_values(["group_id", "member_id", "date"]).reset_index(drop=True)
    for col in expected.columns[3:]:
        np.testing.assert_array_equal(written[col].to_numpy(), expected[col].to_numpy())
    np.testing.assert_array_equal(written["member_id"].astype(str).to_numpy(), expected["member_id"].to_numpy())
