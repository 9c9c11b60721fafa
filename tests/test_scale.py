"""Dataset folders read by the engine (groupstats.tables.scale) against in-memory datasets.

Correctness only (no timings): each table has one definition; read from a folder
(single-file and month-partitioned Parquet) it must give exactly the frame it gives
on the same data loaded into pandas, at several cutoffs; local days and hours must be
the zone's wall clock, across daylight-saving changes; validation in the engine must
catch what load_dataset catches.
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


CUTOFFS = [None, "2026-02-14T18:30"]


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


@pytest.mark.parametrize("as_of,start,end", [("2026-03-01", None, None), (None, "2026-02-01", "2026-02-20")])
def test_group_day_metrics_identical(sample, partitioned, as_of, start, end):
    expected = derived.group_day_metrics(sample, as_of=as_of, start=start, end=end)
    got = scale.group_day_metrics(partitioned, as_of=as_of, start=start, end=end)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("kwargs", [{"window": "30min", "read_window": "6h", "as_of": "2026-03-01"},
                                    {"exclude_red_packets": "10min"}])
def test_post_outcomes_identical(sample, partitioned, kwargs):
    if not hasattr(scale, "post_outcomes"):
        pytest.fail("scale.post_outcomes is missing")
    expected = derived.post_outcomes(sample, **kwargs)
    got = scale.post_outcomes(partitioned, **kwargs)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_local_parts_match_pandas_wall_clock(tz):
    """Local day, hour and weekday computed from UTC microseconds equal pandas' tz conversion,
    including the hours around daylight-saving changes (Lord Howe shifts by 30 minutes)."""
    import ibis

    from groupstats.engine import Source, default_engine

    rng = np.random.default_rng(7)
    utc = pd.date_range("2024-01-01", "2027-01-01", freq="7D", tz="UTC")
    transitions = utc.tz_convert(tz).tz_localize(None) - utc.tz_localize(None)
    around = pd.DatetimeIndex(pd.date_range("2025-03-01", "2025-11-30", freq="20min", tz="UTC"))
    times = around.append(pd.DatetimeIndex(pd.to_datetime(rng.integers(1.5e15, 1.9e15, 2000), unit="us", utc=True)))
    us = times.as_unit("us").asi8
    frame = pd.DataFrame({"us": us})
    src = Source(default_engine(), {}, tz, "test")
    t = ibis.memtable(frame)
    parts = src.local_parts(t.us)
    got = src.execute(t.select("us", **parts)).sort_values("us").reset_index(drop=True)
    local = pd.Series(pd.to_datetime(got["us"], unit="us", utc=True)).dt.tz_convert(tz)
    expected_day = local.dt.tz_localize(None).dt.normalize().values.astype("datetime64[D]").astype("int64")
    np.testing.assert_array_equal(got["day"].to_numpy(), expected_day)
    np.testing.assert_array_equal(got["hour"].to_numpy(), local.dt.hour.to_numpy())
    np.testing.assert_array_equal(got["weekday"].to_numpy(), local.dt.day_of_week.to_numpy())
    assert len(transitions.unique()) >= (1 if tz == "Asia/Shanghai" else 2)


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


ROW_RULES = [  # rules of single rows and keys: (edit, message)
    ({"messages": lambda m: pd.concat([m, m.iloc[[5]]], ignore_index=True)}, "duplicate keys"),
    ({"messages": lambda m: m.assign(msg_type=np.where(np.arange(len(m)) == 3, "telegram", m["msg_type"]))},
     "unknown categories"),
    ({"messages": lambda m: m.assign(n_mentions=np.where(np.arange(len(m)) == 11, -1, m["n_mentions"]))},
     "negative counts"),
]
REFERENCE_RULES = [  # rules between rows and tables (checked in memory only when the row rules pass)
    ({"messages": lambda m: m.assign(reply_to=np.where(np.arange(len(m)) == 7, "m_nowhere", m["reply_to"]))},
     "quotes a message_id that is not in messages"),
    ({"messages": lambda m: m.assign(member_id=np.where(np.arange(len(m)) == 9, "u_ghost", m["member_id"]))},
     "senders with no row in members"),
    ({"members": lambda m: m.assign(left_at=m["left_at"].where(np.arange(len(m)) != 4,
                                                               m["joined_at"] - pd.Timedelta("1D")))},
     "left_at before joined_at"),
    ({"events": lambda e: e.assign(post_id=e["post_id"].where(np.arange(len(e)) != 2, "p_missing"))},
     "references to posts not in posts"),
]


@pytest.mark.parametrize("rules", [ROW_RULES, REFERENCE_RULES], ids=["rows", "references"])
def test_validate_finds_what_load_dataset_finds(sample, tmp_path, rules):
    """Several broken rules in one folder: the engine's checks report each, on the same rows."""
    from groupstats.data.dataset import load_dataset

    edits: dict = {}
    for edit, _ in rules:
        for name, fn in edit.items():
            edits[name] = (lambda f, g: (lambda t: g(f(t))))(edits[name], fn) if name in edits else fn
    folder = _broken_copy(tmp_path, sample, **edits)
    with pytest.raises(DataValidationError) as in_memory:
        load_dataset(folder)
    with pytest.raises(DataValidationError) as out_of_core:
        scale.validate(folder)
    for _, needle in rules:
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


def test_cli_features_folder_and_memory_agree(tmp_path, sample):
    from groupstats.cli import main

    assert main(["features", "sample", "--out", str(tmp_path / "a.parquet"), "--cutoff", "2026-03-15"]) == 0
    got = pd.read_parquet(tmp_path / "a.parquet")
    expected = features.member_features(sample, cutoff="2026-03-15")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


def test_member_day_activity_to_parquet(sample, tmp_path):
    n = scale.member_day_activity(sample_data_path(), out=tmp_path / "mda")
    written = pd.read_parquet(tmp_path / "mda")
    expected = derived.member_day_activity(sample)
    assert n == len(expected) == len(written)
    written["date"] = written["date"].astype("datetime64[us]")
    pd.testing.assert_frame_equal(written[expected.columns].reset_index(drop=True), expected, check_dtype=False)


def test_csv_folder_identical(sample, tmp_path):
    """A folder of CSV files (ISO timestamps with offsets) gives the same tables as the Parquet one."""
    small = sample.as_of("2026-01-25")
    small.cutoff = None  # a dataset of its own, not a view of the sample at a cutoff
    small.save(tmp_path / "csv", format="csv")
    pd.testing.assert_frame_equal(scale.post_outcomes(tmp_path / "csv"), derived.post_outcomes(small))
    pd.testing.assert_frame_equal(scale.member_features(tmp_path / "csv", cutoff="2026-01-20"),
                                  features.member_features(small, cutoff="2026-01-20"))
