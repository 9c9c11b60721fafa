"""What an analysis at several cutoffs computes once for all of them equals what each cutoff computes alone.

- :meth:`Source.first_message_us` at a cut, read off the uncut range, equals the first message up to the
  cut (``message_range_us()[0]`` of a fresh cut);
- :meth:`Source.first_event_us_by_type` gives the event types at every cut, as the distinct types of the events up
  to it do;
- the sign-in days of the cutoffs announced by :func:`expect_sign_in_cutoffs`, counted in one pass, equal
  those counted at each cutoff alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.engine import Source
from groupstats.tables import feature_counts
from groupstats.tables.derived.member_days import event_types
from groupstats.tables.features import member_features_at

US_PER_HOUR = 3_600_000_000


def ds_source(ds) -> Source:
    """The source a dataset's derived tables are computed on (bound to it once made)."""
    return ds.source


def fresh(src: Source, cut_us) -> Source:
    """``src``'s tables cut at ``cut_us`` with nothing memoised (no derived tables, no cached range)."""
    out = Source(src.engine, src.raw, src.tz, src.where, cut_us, src.in_memory)
    out._keepalive = src
    return out


def distinct_types(src: Source) -> list[str]:
    ev = src.table("events")
    return sorted(str(t) for t in src.execute(ev.select("event_type").distinct())["event_type"].dropna())


def cuts_around(src: Source, rng: np.random.Generator, n: int) -> list[int]:
    lo, hi = src.message_range_us()
    picks = rng.integers(lo - 48 * US_PER_HOUR, hi + 48 * US_PER_HOUR, n).tolist()
    return [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, *picks]


@pytest.mark.parametrize("seed", [1, 4])
def test_first_message_at_a_cut_equals_the_first_message_up_to_it(seed, sample, small_sim):
    rng = np.random.default_rng(seed)
    for ds in (sample, small_sim[0]):
        whole = ds_source(ds)
        for cut in cuts_around(whole, rng, 12):
            want = fresh(whole, cut).message_range_us()[0]
            assert whole.cut(cut).first_message_us() == want
            assert fresh(whole, cut).first_message_us() == want  # (its own memo of the uncut range)
        assert whole.first_message_us() == whole.message_range_us()[0]
    # before the first message there is none
    whole = ds_source(sample)
    assert whole.cut(whole.message_range_us()[0] - 1).first_message_us() is None


def test_first_message_of_a_folder_at_a_cut():
    from pathlib import Path

    whole = Source.from_path(Path(__file__).resolve().parents[1] / "data" / "sample")
    rng = np.random.default_rng(9)
    for cut in cuts_around(whole, rng, 6):
        assert whole.cut(cut).first_message_us() == fresh(whole, cut).message_range_us()[0]


def late_types_frames() -> dict:
    """Two groups; 'task' events start on 03-05 and 'complaint' events exist in group g2 only, from 03-08."""
    t = pd.Timestamp
    members = pd.DataFrame({"group_id": ["g1", "g1", "g2", "g2"], "member_id": ["a", "b", "c", "d"],
                            "joined_at": [t("2026-03-01 08:00")] * 4, "role": ["member"] * 4})
    messages = pd.DataFrame({"message_id": ["m1", "m2", "m3"], "group_id": ["g1", "g2", "g2"],
                             "member_id": ["a", "c", "d"],
                             "sent_at": [t("2026-03-01 09:00"), t("2026-03-04 10:00"), t("2026-03-09 11:00")]})
    events = pd.DataFrame({
        "group_id": ["g1", "g1", "g2", "g1", "g2", "g2"], "member_id": ["a", "b", "c", "a", "d", "c"],
        "occurred_at": [t("2026-03-01 10:00"), t("2026-03-02 00:00"), t("2026-03-03 12:00"),
                        t("2026-03-05 00:00"), t("2026-03-08 07:30"), t("2026-03-09 08:00")],
        "event_type": ["sign_in", "sign_in", "sign_in", "task", "complaint", "task"]})
    return {"members": members, "messages": messages, "events": events}


@pytest.mark.parametrize("seed", [2, 8])
def test_event_types_at_every_cut_from_one_grouping(seed, sample, small_sim):
    late = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **late_types_frames())
    rng = np.random.default_rng(seed)
    for ds in (late, sample, small_sim[0]):
        whole = ds_source(ds)
        whole.derived.clear()
        assert whole.first_event_us_by_type(compute=False) is None
        first = whole.first_event_us_by_type()
        assert whole.cut(whole.message_range_us()[1]).first_event_us_by_type(compute=False) is first  # shared
        for cut in cuts_around(whole, rng, 10):
            want = distinct_types(fresh(whole, cut))
            assert event_types(whole.cut(cut)) == want  # read off the memo
            assert event_types(fresh(whole, cut)) == want  # the distinct query (no memo)
        assert event_types(whole) == distinct_types(whole)
    # the late types appear exactly at their first event
    whole = ds_source(late)
    at = whole.timestamp_us
    assert event_types(whole.cut(at("2026-03-04 23:59:59.999999"))) == ["sign_in"]
    assert event_types(whole.cut(at("2026-03-05 00:00"))) == ["sign_in", "task"]
    assert event_types(whole.cut(at("2026-03-08 07:30"))) == ["complaint", "sign_in", "task"]
    assert event_types(whole.restrict_groups(None, "g2")) == ["sign_in", "task"]  # (per range of groups)


def sign_in_edges_frames(rng: np.random.Generator) -> dict:
    """Members signing in at random times over 40 days, and on the cutoffs' own midnights (counted at that
    cutoff: the cut keeps a time equal to it) and a microsecond after them."""
    t0 = pd.Timestamp("2026-03-01 00:00")
    n_members = 12
    members = pd.DataFrame({"group_id": [f"g{i % 3}" for i in range(n_members)],
                            "member_id": [f"u{i}" for i in range(n_members)],
                            "joined_at": [t0] * n_members, "role": ["member"] * n_members})
    times = t0 + pd.to_timedelta(rng.integers(0, 40 * 24 * 3600, 300), unit="s")
    edges = [t0 + pd.Timedelta(days=d) for d in (15, 22, 30)]
    times = times.append(pd.DatetimeIndex(edges + [e + pd.Timedelta(microseconds=1) for e in edges]))
    who = rng.integers(0, n_members, len(times))
    events = pd.DataFrame({"group_id": members["group_id"].to_numpy()[who],
                           "member_id": members["member_id"].to_numpy()[who],
                           "occurred_at": times, "event_type": "sign_in"})
    messages = pd.DataFrame({"message_id": [f"m{i}" for i in range(n_members)],
                             "group_id": members["group_id"], "member_id": members["member_id"],
                             "sent_at": t0 + pd.Timedelta(hours=1)})
    messages.loc[0, "sent_at"] = t0 + pd.Timedelta(days=40)
    return {"members": members, "messages": messages, "events": events}


def counted_sign_in_queries(monkeypatch) -> list:
    calls: list = []
    real = feature_counts.sign_in_day_words

    def counting(src, cut_day, wmax, cuts=None):
        calls.append(None if cuts is None else len(cuts))
        return real(src, cut_day, wmax, cuts)

    monkeypatch.setattr(feature_counts, "sign_in_day_words", counting)
    return calls


@pytest.mark.parametrize(("seed", "windows"), [(0, (7, 30)), (3, (2, 16)), (6, (5, 52, 60))])
def test_sign_in_days_of_expected_cutoffs_in_one_pass(seed, windows, monkeypatch):
    rng = np.random.default_rng(seed)
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **sign_in_edges_frames(rng))
    whole = ds_source(ds)
    cuts = ["2026-03-31", "2026-03-23", "2026-03-16"]  # latest first, as churn's panel asks
    alone = [member_features_at(whole, [c], windows=windows)[0] for c in cuts]
    whole.derived.clear()
    calls = counted_sign_in_queries(monkeypatch)
    feature_counts.expect_sign_in_cutoffs(whole, [whole.timestamp_us(c) for c in cuts])
    together = [member_features_at(whole, [c], windows=windows)[0] for c in cuts]
    assert calls == [3]  # one pass for the three cutoffs
    assert whole.derived[("sign_in_days", None, windows[-1])] == {}  # each taken once asked
    column = f"sign_in_days_{windows[-1]}d"
    for a, b in zip(alone, together):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert together[0][column].gt(1).any()
    # another order: asked earliest first, each cutoff is counted at its own (the later ones' sign-ins are
    # not known at an earlier cut), with the same days
    whole.derived.clear()
    calls.clear()
    feature_counts.expect_sign_in_cutoffs(whole, [whole.timestamp_us(c) for c in cuts])
    reversed_order = [member_features_at(whole, [c], windows=windows)[0] for c in cuts[::-1]]
    assert calls == [None, None, None]
    for a, b in zip(alone, reversed_order[::-1]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_sign_in_at_the_cutoff_counts_there_and_a_microsecond_later_does_not(monkeypatch):
    frames = sign_in_edges_frames(np.random.default_rng(1))
    frames["events"] = frames["events"].iloc[-6:]  # only the edge sign-ins
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **frames)
    whole = ds_source(ds)
    cuts = ["2026-03-31", "2026-03-23", "2026-03-16"]
    feature_counts.expect_sign_in_cutoffs(whole, [whole.timestamp_us(c) for c in cuts])
    got = [member_features_at(whole, [c], windows=(3, 30))[0].set_index("member_id")["sign_in_days_30d"]
           for c in cuts]
    ev = frames["events"].assign(occurred_at=lambda f: f["occurred_at"].dt.tz_localize("Asia/Shanghai"))
    for cut, days in zip(cuts, got):
        stop = pd.Timestamp(cut, tz="Asia/Shanghai")
        seen = ev[ev["occurred_at"] <= stop]  # the midnight itself is known at the cutoff
        want = seen.groupby("member_id")["occurred_at"].apply(lambda s: s.dt.normalize().nunique())
        assert days[days > 0].sort_index().to_dict() == want.sort_index().to_dict()


@pytest.mark.parametrize("seed", [5, 12])
def test_posts_known_at_a_cut_from_the_first_post(seed, sample, small_sim):
    """Whether any post is known at a cut (features then say there is no posts table) is whether the first
    post is not after it: as counting the posts up to the cut says."""
    rng = np.random.default_rng(seed)
    for ds in (sample, small_sim[0]):
        whole = ds_source(ds)
        whole.derived.clear()
        first = whole.first_post_us()
        for cut in [first - 1, first, *cuts_around(whole, rng, 8)]:
            posts = fresh(whole, cut).table("posts")
            counted = whole.scalar(posts.posted_us.count())
            assert (counted > 0) == (whole.cut(cut).first_post_us() is not None)
            if cut <= whole.message_range_us()[0]:
                continue  # (no member has a message yet)
            missing = member_features_at(whole, [whole.to_timestamp(cut)])[0].attrs["missing"]
            assert any(m.startswith("replies_per_post") for m in missing) == (counted == 0)


@pytest.mark.parametrize(("tz", "seed"), [("Asia/Shanghai", 3), ("Europe/Berlin", 7), ("America/New_York", 11)])
def test_the_zone_offsets_at_a_cut_are_those_of_its_message_range(tz, seed):
    """At a cut the zone's offsets are trimmed to a year around its messages; when a year around the first
    message and around the cut give the same table, the last message's does too, and no query is run."""
    from groupstats.data.simulate import simulate_community
    from groupstats.engine.local_time import utc_offsets
    from groupstats.engine.source import _trim_offsets

    ds, _ = simulate_community(n_groups=3, days=400, seed=seed, members_per_group=8, tz=tz, start="2025-09-01")
    whole = ds_source(ds)
    rng = np.random.default_rng(seed)
    table = utc_offsets(tz)
    assert len(table) > 1  # (every one of these zones changed its offsets once)
    last = whole.message_range_us()[1]
    queried = 0
    for cut in cuts_around(whole, rng, 10):
        reference = fresh(whole, cut)
        lo, hi = reference.message_range_us()
        want = table if lo is None else _trim_offsets(table, lo, hi)
        got_source = whole.cut(cut)
        got = got_source.offsets()
        assert got == want
        queried += "range" in got_source._cache and cut < last  # (a cut after the last message has its range)
    # Shanghai has had one offset since 1991: never a query; the others change twice a year: the cuts more
    # than a few months after the first message need the last one
    assert (queried == 0) == (tz == "Asia/Shanghai")
