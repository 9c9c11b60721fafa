"""Member features: hand-checked values on a tiny dataset, no leakage, degenerate inputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.tables.features import (feature_columns, features_within_group, member_features,
                                 member_features_panel)

TZ = "Asia/Shanghai"


def _ts(values):
    return pd.Series(pd.to_datetime(values)).dt.tz_localize(TZ)


def tiny_frames(after_cutoff: bool = False) -> dict:
    """One group: operator o1; members a (talks), b (silent), c (left before the cutoff),
    d (joins after it). 2026-01-10 and 2026-01-31 are Saturdays."""
    members = pd.DataFrame({
        "group_id": ["g1"] * 5,
        "member_id": ["o1", "a", "b", "c", "d"],
        "joined_at": _ts(["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-20", "2026-02-05"]),
        "left_at": _ts([None, None, None, "2026-01-25", None]),
        "role": ["owner", "member", "member", "member", "member"],
    })
    messages = pd.DataFrame({
        "message_id": ["m0", "m1", "m2", "m3", "m4"],
        "group_id": "g1",
        "member_id": ["o1", "a", "a", "a", "c"],
        "sent_at": _ts(["2026-01-10 09:00", "2026-01-10 09:30", "2026-01-28 20:00", "2026-01-31 21:00",
                        "2026-01-21 12:00"]),
        "msg_type": ["text", "text", "image", "text", "text"],
        "reply_to": [None, "m0", None, None, None],
        "n_mentions": [0, 1, 0, 0, 0],
        "text_len": [100, 12, 0, 8, 6],
    })
    posts = pd.DataFrame({
        "post_id": ["p0", "p1"], "group_id": "g1", "posted_at": _ts(["2026-01-10 09:00", "2026-01-30 10:00"]),
        "content_type": "practical", "member_id": "o1", "message_id": ["m0", None],
    })
    events = pd.DataFrame({
        "group_id": "g1",
        "member_id": ["a", "a", "b", "a", "a"],
        "occurred_at": _ts(["2026-01-10 10:00", "2026-01-10 11:00", "2026-01-30 12:00", "2026-01-30 08:00",
                            "2026-01-31 08:00"]),
        "event_type": ["read", "read", "read", "sign_in", "sign_in"],
        "post_id": ["p0", "p0", "p1", None, None],
    })
    if after_cutoff:
        messages = pd.concat([messages, pd.DataFrame({
            "message_id": ["m5", "m6", "m7"], "group_id": "g1", "member_id": ["a", "b", "d"],
            "sent_at": _ts(["2026-02-03 10:00", "2026-02-04 22:00", "2026-02-06 09:00"]),
            "msg_type": ["text", "voice", "text"], "reply_to": ["m0", None, None], "n_mentions": [2, 0, 0],
            "text_len": [20, 0, 9]})], ignore_index=True)
        posts = pd.concat([posts, pd.DataFrame({
            "post_id": ["p2"], "group_id": "g1", "posted_at": _ts(["2026-02-02 10:00"]),
            "content_type": "ugc", "member_id": "o1", "message_id": [None]})], ignore_index=True)
        events = pd.concat([events, pd.DataFrame({
            "group_id": "g1", "member_id": ["a", "b", "b"],
            "occurred_at": _ts(["2026-02-02 11:00", "2026-02-02 08:00", "2026-02-02 12:00"]),
            "event_type": ["read", "sign_in", "click"], "post_id": ["p2", None, "p2"]})], ignore_index=True)
        members.loc[members["member_id"] == "b", "left_at"] = _ts(["2026-02-10"]).iloc[0]
    return dict(members=members, messages=messages, posts=posts, events=events)


def tiny(after_cutoff: bool = False) -> Dataset:
    return Dataset.from_frames(tz=TZ, **tiny_frames(after_cutoff))


def test_hand_checked_values():
    f = member_features(tiny(), cutoff="2026-02-01").set_index("member_id")
    assert list(f.index) == ["a", "b"]  # operator, leaver and later joiner excluded
    a, b = f.loc["a"], f.loc["b"]
    assert a["tenure_days"] == pytest.approx(31.0)
    assert a["observed_days"] == 23  # 2026-01-10 (first data) .. 2026-02-01
    assert a["recency_days"] == pytest.approx(3 / 24)  # 21:00 -> midnight
    assert (a["messages_total"], a["messages_7d"], a["messages_30d"], a["messages_90d"]) == (3, 2, 3, 3)
    assert (a["active_days_7d"], a["active_days_30d"]) == (2, 3)
    assert a["messages_per_day"] == pytest.approx(3 / 23)
    assert a["active_day_share"] == pytest.approx(3 / 23)
    assert np.isnan(a["trend"])  # the 30 days before the last 30 are unobserved
    assert a["share_replies"] == pytest.approx(1 / 3)
    assert a["share_mentions"] == pytest.approx(1 / 3)
    assert a["share_text"] == pytest.approx(2 / 3) and a["share_image"] == pytest.approx(1 / 3)
    assert a["share_sticker"] == 0 and a["share_other"] == 0
    assert a["share_evening"] == pytest.approx(2 / 3)
    assert a["share_night"] == 0
    assert a["share_weekend"] == pytest.approx(2 / 3)
    assert (a["posts_present"], a["post_replies"]) == (2, 1)
    assert a["replies_per_post"] == pytest.approx(0.5)
    assert a["read_rate"] == pytest.approx(0.5)  # p0 read twice counts once
    assert np.isnan(a["click_rate"])  # no click events at all
    assert a["sign_in_days_90d"] == 2
    # the silent member
    assert np.isnan(b["recency_days"]) and b["messages_total"] == 0 and np.isnan(b["share_text"])
    assert b["read_rate"] == pytest.approx(0.5) and b["sign_in_days_90d"] == 0
    assert any("click_rate" in m for m in f.attrs["missing"])
    assert list(f.reset_index().columns[2:]) == feature_columns()


def test_trend_with_short_windows():
    f = member_features(tiny(), cutoff="2026-02-01", windows=(7, 14)).set_index("member_id")
    # last 7 days: 2 messages / 7 days; the 7 days before: none -> trend +1
    assert f.loc["a", "trend"] == pytest.approx(1.0)
    assert np.isnan(f.loc["b", "trend"])
    assert "messages_14d" in f.columns and "sign_in_days_14d" in f.columns


def test_data_after_cutoff_do_not_change_features():
    before = member_features(tiny(False), cutoff="2026-02-01")
    after = member_features(tiny(True), cutoff="2026-02-01")
    pd.testing.assert_frame_equal(before, after)


def test_no_leakage_on_simulation(small_sim):
    ds, _ = small_sim
    cut = ds.timestamp("2026-02-10 13:00")
    full = member_features(ds, cutoff=cut)
    # rebuild the data by hand as they were known at the cutoff (independently of Dataset.as_of)
    members = ds.members.loc[ds.members["joined_at"] <= cut].copy()
    members.loc[members["left_at"] > cut, "left_at"] = pd.NaT
    msgs = ds.messages.loc[ds.messages["sent_at"] <= cut]
    known = Dataset.from_frames(
        tz=ds.tz, members=members, messages=msgs, posts=ds.posts.loc[ds.posts["posted_at"] <= cut],
        events=ds.events.loc[ds.events["occurred_at"] <= cut], validate=False)
    pd.testing.assert_frame_equal(full, member_features(known, cutoff=cut))
    later = member_features(ds, cutoff="2026-02-20")
    assert not later[["messages_total"]].equals(full[["messages_total"]])


def test_within_group_ranks(small_sim):
    ds, _ = small_sim
    raw = member_features(ds, cutoff="2026-02-15")
    ranks = member_features(ds, cutoff="2026-02-15", normalise_within_group=True)
    assert ranks.attrs["normalised"] and not raw.attrs["normalised"]
    assert ranks["messages_30d"].between(0, 1, inclusive="neither").all()
    # mid-percentiles by hand: (members below + half the members equal) / group size
    g = raw.groupby("group_id")["messages_30d"]
    below = g.transform(lambda s: s.apply(lambda v: (s < v).sum()))
    equal = g.transform(lambda s: s.apply(lambda v: (s == v).sum()))
    np.testing.assert_allclose(ranks["messages_30d"], (below + 0.5 * equal) / g.transform("size"))
    # a value shared by a whole group ranks 0.5
    flat = raw.assign(messages_30d=0)
    assert (features_within_group(flat)["messages_30d"] == 0.5).all()
    # never-active members rank as the least recent
    never = raw["recency_days"].isna()
    assert never.any()
    assert (ranks.loc[never, "recency_days"] >= ranks.loc[~never].groupby("group_id")["recency_days"]
            .transform("max").reindex(ranks.index).fillna(0)[never] - 1e-12).all()
    assert ranks.equals(features_within_group(raw))


def test_degenerate_inputs():
    with pytest.raises(InsufficientDataError, match="Choose a later cutoff"):
        member_features(tiny(), cutoff="2025-06-01")
    with pytest.raises(ParameterError):
        member_features(tiny(), cutoff="2026-02-01", windows=(0,))
    # no posts/events tables: those features are NaN and named in attrs["missing"]
    frames = tiny_frames()
    ds = Dataset.from_frames(tz=TZ, members=frames["members"], messages=frames["messages"])
    f = member_features(ds, cutoff="2026-02-01")
    assert f["read_rate"].isna().all() and f["sign_in_days_90d"].isna().all()
    assert (f["posts_present"] == 0).all()
    assert len(f.attrs["missing"]) == 4


def test_panel_stacks_cutoffs(small_sim):
    ds, _ = small_sim
    panel = member_features_panel(ds, ["2025-01-01", "2026-02-01", "2026-02-20"])
    assert panel["cutoff"].nunique() == 2 and len(panel.attrs["skipped"]) == 1
    one = member_features(ds, "2026-02-20")
    got = panel.loc[panel["cutoff"] == one.attrs["cutoff"]].drop(columns="cutoff").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, one, check_like=False)


def test_posts_present_counts_posts_at_the_membership_bounds_and_over_rejoins():
    """posts_present (a running count read at each membership's bounds) equals the brute-force count
    of posts with joined_at <= posted_at <= left_at (or the cutoff), summed over a member's
    memberships; posts exactly at a join or a leave count, as do several posts at one time."""
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2026-01-01", tz=TZ)
    hours = np.sort(rng.choice(24 * 40, size=60, replace=False))
    post_times = start + pd.to_timedelta(np.r_[hours, hours[:5]], unit="h")  # 5 times with two posts
    members, t = [], []
    for i in range(12):  # member k: memberships at post times (ties), some rejoin after leaving
        a, b = np.sort(rng.choice(len(hours), size=2, replace=False))
        left = start + pd.Timedelta(hours=int(hours[b])) if i % 3 else None
        members.append(("g1", f"u{i}", start + pd.Timedelta(hours=int(hours[a])), left))
        if left is not None and i % 2:
            members.append(("g1", f"u{i}", left + pd.Timedelta(hours=1), None))  # rejoin, still there
    members.append(("g1", "o1", start, None))
    mem = pd.DataFrame(members, columns=["group_id", "member_id", "joined_at", "left_at"]).assign(
        role=lambda f: np.where(f["member_id"] == "o1", "owner", "member"))
    mem["left_at"] = pd.to_datetime(mem["left_at"]).dt.tz_convert(TZ) if mem["left_at"].notna().any() else None
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(len(post_times))], "group_id": "g1",
                          "posted_at": post_times, "content_type": "practical", "member_id": "o1"})
    messages = pd.DataFrame({"message_id": ["m1"], "group_id": "g1", "member_id": "o1",
                             "sent_at": [start + pd.Timedelta(days=45)], "msg_type": "text"})
    ds = Dataset.from_frames(tz=TZ, members=mem, messages=messages, posts=posts)
    cutoff = start + pd.Timedelta(days=45)
    got = member_features(ds, cutoff=cutoff).set_index("member_id")["posts_present"]
    present = mem.groupby("member_id")["left_at"].apply(lambda s: s.isna().any())
    expected = {}
    for row in mem.itertuples():
        if row.member_id == "o1" or not present[row.member_id]:
            continue
        end = cutoff if pd.isna(row.left_at) else row.left_at
        n = int(((posts["posted_at"] >= row.joined_at) & (posts["posted_at"] <= end)).sum())
        expected[row.member_id] = expected.get(row.member_id, 0) + n
    assert expected and got.to_dict() == expected
    assert any(v > 0 for v in expected.values())
