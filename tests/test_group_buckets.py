"""Derived tables a bucket of groups at a time (groupstats.tables.group_buckets) equal the one-pass tables.

Large datasets run every per-group table on adjacent group_id ranges and concatenate the results.
Here the threshold is forced low so the bundled sample and a simulated community run in 2-4 buckets
(balanced by message count, or laid out by hand: an empty bucket, a bucket whose only group has
members but no messages, posts or events); each table must be identical (values, dtypes, order,
attrs) to the one computed in one pass: post outcomes, group-day metrics and member-day activity
(also cut ``as_of``), member features at one and several cutoffs, and member-day activity written
to Parquet per bucket.
"""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest

from groupstats.data.dataset import Dataset
from groupstats.data.simulate import simulate_community
from groupstats.engine import Source
from groupstats.tables import derived, features, group_buckets, scale

CUTS = ["2026-02-01", "2026-03-15T12:00", "2026-04-01"]


def tables(src, as_of, cuts=None):
    """Every bucketed table of ``src`` (a Source), fresh (no memo shared with another run): member features
    at ``cuts`` (one query with a segment per cutoff), or without them at ``as_of`` (a query of its own)."""
    return {
        "post_outcomes": derived.post_outcomes(src, exclude_red_packets="10min"),
        "group_day_metrics_as_of": derived.group_day_metrics(src, as_of=as_of),
        "member_day_activity_as_of": derived.member_day_activity(src, as_of=as_of),
        "member_features": (features.member_features_at(src, cuts) if cuts
                            else [features.member_features(src, cutoff=as_of)]),
    }


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        exp = expected[name] if isinstance(expected[name], list) else [expected[name]]
        new = got[name] if isinstance(got[name], list) else [got[name]]
        assert len(new) == len(exp)
        for g, e in zip(new, exp):
            assert len(e) > 0, name
            pd.testing.assert_frame_equal(g, e, check_exact=True, obj=name)
            assert g.attrs == e.attrs, name


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory):
    from groupstats import load_dataset
    from groupstats.paths import sample_data_path

    folder = tmp_path_factory.mktemp("sample") / "sample"
    load_dataset(sample_data_path()).save(folder)
    return folder


@pytest.fixture(scope="module")
def community():
    """A simulated community of 7 groups; group g03 keeps its members but loses its messages, posts and
    events (and every group gets a dataset-level reply to a post, as the simulation makes them)."""
    ds, _ = simulate_community(n_groups=7, days=45, seed=11, members_per_group=25)
    post_ids = ds.posts.loc[ds.posts["group_id"] == "g03", "post_id"]
    frames = {name: getattr(ds, name) for name in ("groups", "members", "messages", "posts", "events",
                                                   "assignments")}
    for name in ("messages", "posts", "events"):
        frames[name] = frames[name].loc[frames[name]["group_id"] != "g03"].reset_index(drop=True)
    frames["events"] = frames["events"].loc[~frames["events"]["post_id"].isin(post_ids)].reset_index(drop=True)
    return Dataset.from_frames(tz=ds.tz, **frames)


def test_sample_in_balanced_buckets_is_the_one_pass_table(sample_folder, monkeypatch):
    expected = tables(Source.from_path(sample_folder), "2026-03-01T09:30", CUTS)
    n_messages = Source.from_path(sample_folder).execute(Source.from_path(sample_folder).raw["messages"].count())
    monkeypatch.setattr(group_buckets, "BUCKET_ABOVE_MESSAGES", 1000)
    monkeypatch.setattr(group_buckets, "MESSAGES_PER_BUCKET", n_messages // 2 + 1)
    src = Source.from_path(sample_folder)
    buckets = group_buckets.group_buckets(src)
    assert len(buckets) == 2 and buckets[0][0] is None and buckets[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(buckets, buckets[1:]))  # adjacent ranges
    assert_same(tables(src, "2026-03-01T09:30", CUTS), expected)


@pytest.fixture(scope="module")
def community_tables(community):
    """(as_of, cutoffs, the one-pass tables) of the simulated community."""
    start = community.messages["sent_at"].min()
    as_of = (start + pd.Timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    cuts = [(start + pd.Timedelta(days=d)).strftime("%Y-%m-%dT%H:%M") for d in (12, 25.3, 40)]
    expected = tables(Source.from_dataset(community), as_of)
    expected["member_features_at"] = features.member_features_at(Source.from_dataset(community), cuts)
    assert (expected["group_day_metrics_as_of"]["group_id"] == "g03").any()
    assert all((f["group_id"] == "g03").any() for f in expected["member_features_at"])
    return as_of, cuts, expected


def run_in(layout, monkeypatch):
    """Make every table run in the buckets ``layout``; the list of buckets restricted to."""
    monkeypatch.setattr(group_buckets, "group_buckets", lambda src, *a: None if src.groups else layout)
    seen = []
    restrict = Source.restrict_groups
    monkeypatch.setattr(Source, "restrict_groups", lambda self, lo, hi: seen.append((lo, hi)) or restrict(self, lo, hi))
    return seen


def test_simulated_community_in_buckets_is_the_one_pass_table(community, community_tables, monkeypatch):
    # the middle bucket's only group (g03) has members but no messages, posts or events
    layout = [(None, "g03"), ("g03", "g04"), ("g04", None)]
    as_of, cuts, expected = community_tables
    seen = run_in(layout, monkeypatch)
    expected = {k: v for k, v in expected.items() if k != "member_features_at"}
    assert_same(tables(Source.from_dataset(community), as_of), expected)
    assert set(seen) == set(layout)


def test_an_empty_bucket_changes_nothing(community, community_tables, monkeypatch):
    as_of, cuts, expected = community_tables
    seen = run_in([(None, "a"), ("a", None)], monkeypatch)  # no group id sorts before "a"
    src = Source.from_dataset(community)
    got = {"post_outcomes": derived.post_outcomes(src, exclude_red_packets="10min"),
           "member_features_at": features.member_features_at(src, cuts)}
    assert_same(got, {k: expected[k] for k in got})
    assert set(seen) == {(None, "a"), ("a", None)}


def test_member_day_activity_written_per_bucket(community, tmp_path, monkeypatch):
    folder = tmp_path / "community"
    community.save(folder)
    expected = derived.member_day_activity(Source.from_path(folder))
    assert scale.member_day_activity(folder, out=tmp_path / "one") == len(expected)
    monkeypatch.setattr(group_buckets, "BUCKET_ABOVE_MESSAGES", 10)
    monkeypatch.setattr(group_buckets, "MESSAGES_PER_BUCKET", len(community.messages) // 4 + 1)
    (tmp_path / "buckets").mkdir()
    (tmp_path / "buckets" / "part-007.parquet").write_bytes(b"stale")  # an earlier run's file goes
    assert scale.member_day_activity(folder, out=tmp_path / "buckets") == len(expected)
    files = sorted((tmp_path / "buckets").glob("*.parquet"))
    n_buckets = len(group_buckets.group_buckets(Source.from_path(folder)))
    assert n_buckets >= 3 and [f.name for f in files] == [f"part-{k:03d}.parquet" for k in range(n_buckets)]
    for written in (sorted((tmp_path / "one").glob("*.parquet")), files):
        got = pd.concat([pq.read_table(f).to_pandas() for f in written], ignore_index=True)
        assert list(got.columns) == list(expected.columns)
        # files in key order: their concatenation is the sorted table
        pd.testing.assert_frame_equal(got.astype(expected.dtypes.to_dict()), expected)


def test_buckets_balanced_and_off_when_small_restricted_or_spark(community, monkeypatch):
    src = Source.from_dataset(community)
    n = len(community.messages)
    assert group_buckets.group_buckets(src) is None  # below the default threshold
    assert group_buckets.group_buckets(src, above=n) is None
    buckets = group_buckets.group_buckets(src, above=n - 1, per_bucket=n // 3 + 1)
    assert len(buckets) == 3
    per_group = community.messages.groupby("group_id").size()
    sizes = [per_group[(per_group.index >= (lo or "")) & ((hi is None) | (per_group.index < (hi or "")))].sum()
             for lo, hi in buckets]
    assert sum(sizes) == n and max(sizes) < n * 2 / 3  # every message once; no bucket takes most
    assert group_buckets.group_buckets(src.restrict_groups(*buckets[0]), above=0) is None
    spark = SimpleNamespace(engine=SimpleNamespace(kind="spark"), groups=None, has=lambda name: True)
    assert group_buckets.group_buckets(spark, above=0) is None
    calls = []
    assert group_buckets.by_group_buckets(spark, lambda s: calls.append(s) or "whole", above=0) == "whole"
    assert calls == [spark]


def test_restricted_source_keeps_the_whole_data_range_and_cut(community):
    src = Source.from_dataset(community).cut(Source.from_dataset(community).timestamp_us("2026-02-01"))
    part = src.restrict_groups("g05", None)
    assert part.message_range_us() == src.message_range_us()
    assert part.cut_us == src.cut_us and part.cut(None).cut_us == src.cut_us
    later = part.cut(src.cut_us - 86_400_000_000)
    assert later.groups == ("g05", None) and later.message_range_us() == src.cut(later.cut_us).message_range_us()
    groups = set(part.execute(part.table("messages").select("group_id").distinct())["group_id"])
    assert groups == {"g05", "g06"}
    assert part.restrict_groups(None, "g06").groups == ("g05", "g06")
