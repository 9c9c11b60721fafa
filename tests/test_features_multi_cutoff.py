"""Member features at many cutoffs in one engine pass equal member_features at each cutoff, exactly.

:func:`member_features_at` (and :func:`member_features_panel`, and churn's features) count the
messages once per (member, day, segment) and the events once per (member, post / day) for all
cutoffs; :func:`member_features` is the same expression with one cutoff. These tests compare the
two on the sample, on a simulated community and on a hand-made dataset full of edge cases
(messages at exactly a cutoff's midnight, a cutoff in the middle of a day between midnight ones,
two cutoffs on one day, a quote-reply sent before its post was posted, a read logged before its
post, rejoins, a member made admin later, a zone with daylight saving time).
"""
from __future__ import annotations

import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError
from groupstats.tables.features import member_features, member_features_at, member_features_panel


def assert_same(multi: list, cutoffs: list, ds, windows=(7, 30, 90)) -> None:
    """Each frame of ``multi`` equals member_features at its cutoff: rows, values (exactly), dtypes, attrs."""
    assert len(multi) == len(cutoffs)
    for cut, got in zip(cutoffs, multi):
        expected = member_features(ds, cutoff=cut, windows=windows)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert got.attrs.keys() == expected.attrs.keys()
        for key, value in expected.attrs.items():
            assert got.attrs[key] == value, (cut, key)


def test_sample_at_midnights_equals_one_cutoff_at_a_time(sample):
    # 2026-02-01 is before some members joined (they join up to 2026-04-09); 2026-05-05 is after the data
    cutoffs = ["2026-03-09", "2026-02-01", "2026-04-20", "2026-05-05"]
    multi = member_features_at(sample, cutoffs)
    assert_same(multi, cutoffs, sample)
    assert len({len(f) for f in multi}) > 1  # the members present differ between the cutoffs


def test_sample_with_short_windows_and_the_default_cutoff(sample):
    last = sample.messages["sent_at"].max()  # member_features' default cutoff, not a midnight
    cutoffs = ["2026-04-28", last, "2026-04-30 18:45"]
    multi = member_features_at(sample, cutoffs, windows=(2, 5))
    assert_same(multi, cutoffs, sample, windows=(2, 5))
    pd.testing.assert_frame_equal(multi[1], member_features(sample, windows=(2, 5)), check_exact=True)


def test_simulated_community_with_joins_leaves_posts_and_events(small_sim):
    ds, _ = small_sim
    assert ds.members["left_at"].notna().any() and ds.members["joined_at"].max() > pd.Timestamp("2026-01-10", tz=ds.tz)
    assert {"read", "click", "sign_in"} <= set(ds.events["event_type"])
    cutoffs = ["2026-01-10", "2026-02-07", "2026-02-14", "2026-03-06"]
    assert_same(member_features_at(ds, cutoffs), cutoffs, ds)
    assert_same(member_features_at(ds, cutoffs[:3], windows=(3, 10)), cutoffs[:3], ds, windows=(3, 10))
    ranks = member_features_at(ds, cutoffs[1:3], normalise_within_group=True)
    pd.testing.assert_frame_equal(ranks[1], member_features(ds, cutoffs[2], normalise_within_group=True),
                                  check_exact=True)


def edge_frames(tz: str, late_post: bool) -> dict:
    """One group around the cutoffs 2026-03-28/29/30 (2026-03-29 is a daylight-saving day in Berlin); with
    ``late_post`` the post p1 is posted at 11:00, after f quoted its message (10:30), else at 10:00."""
    def ts(values):
        return pd.Series(pd.to_datetime(values, format="ISO8601")).dt.tz_localize(tz, nonexistent="shift_forward")

    members = pd.DataFrame({
        "group_id": "g1",
        "member_id": ["o", "a", "b", "c", "c", "d", "e", "f"],
        "joined_at": ts(["2026-03-01", "2026-03-01", "2026-03-01", "2026-03-01", "2026-03-20", "2026-03-29 12:00",
                         "2026-03-01", "2026-03-01"]),
        "left_at": ts([None, None, "2026-03-29 00:00", "2026-03-10", None, None, None, None]),
        "role": ["owner", "member", "member", "member", "member", "member", "member", "member"],
    })
    # e becomes an admin on 2026-03-29 (a second membership row with that role)
    members = pd.concat([members, pd.DataFrame({
        "group_id": ["g1"], "member_id": ["e"], "joined_at": ts(["2026-03-29 06:00"]), "left_at": ts([None]),
        "role": ["admin"]})], ignore_index=True)
    messages = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(12)],
        "group_id": "g1",
        "member_id": ["o", "a", "a", "a", "b", "c", "a", "f", "a", "e", "d", "a"],
        "sent_at": ts(["2026-03-02 09:00", "2026-03-28 00:00", "2026-03-28 23:59:59", "2026-03-29 00:00",
                       "2026-03-29 00:00", "2026-03-21 08:00", "2026-03-29 10:00", "2026-03-29 10:30",
                       "2026-03-29 12:00", "2026-03-27 20:00", "2026-03-29 13:00", "2026-03-30 00:00"]),
        "msg_type": ["text", "text", "image", "sticker", "text", "voice", "link", "text", "text", "text", "text",
                     "text"],
        # m7 (10:30) quotes the post message m6
        "reply_to": [None, "m0", None, None, "m0", None, None, "m6", "m6", None, "m6", "m0"],
        "n_mentions": [0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0],
        "text_len": 10,
    })
    posts = pd.DataFrame({
        "post_id": ["p0", "p1", "p2"], "group_id": "g1",
        "posted_at": ts(["2026-03-02 09:00", "2026-03-29 11:00" if late_post else "2026-03-29 10:00",
                         "2026-03-30 00:00"]),
        "content_type": "practical", "member_id": "o", "message_id": ["m0", "m6", None],
    })
    events = pd.DataFrame({
        "group_id": "g1",
        "member_id": ["a", "a", "a", "b", "f", "f", "a", "a", "d", "a"],
        "occurred_at": ts(["2026-03-03 10:00", "2026-03-29 09:00", "2026-03-29 12:00", "2026-03-28 23:00",
                           "2026-03-29 00:00", "2026-03-29 00:00", "2026-03-28 08:00", "2026-03-29 00:00",
                           "2026-03-30 00:00", "2026-03-29 23:00"]),
        # a reads p1 at 09:00, before it is posted; sign-ins at exactly midnight
        "event_type": ["read", "read", "click", "read", "sign_in", "sign_in", "sign_in", "sign_in", "read",
                       "click"],
        "post_id": ["p0", "p1", "p1", "p0", None, None, None, None, "p2", "p0"],
    })
    return dict(members=members, messages=messages, posts=posts, events=events)


@pytest.mark.parametrize(("tz", "late_post"), [("Asia/Shanghai", False), ("Europe/Berlin", True)])
def test_edge_cases_at_midnights_in_day_cutoffs_and_shared_days(tz, late_post, monkeypatch):
    from groupstats.tables import features

    ds = Dataset.from_frames(tz=tz, validate=False, **edge_frames(tz, late_post))
    # midnights, times inside 2026-03-29 (p1 posted at 10:00 or 11:00), a microsecond after a midnight, one
    # before anyone spoke; in Berlin (and with the reply before its post) those around the daylight-saving change
    cutoffs = ["2026-03-28", "2026-03-29", "2026-03-29 10:45", "2026-03-29 11:00", "2026-03-29 12:00",
               "2026-03-30", "2026-03-30 00:00:00.000001", "2026-03-25"]
    if late_post:
        cutoffs = cutoffs[1:4]
    passes = []
    counts = features.count_member_features
    monkeypatch.setattr(features, "count_member_features", lambda src, cuts, *a: passes.append(cuts) or
                        counts(src, cuts, *a))
    at = dict(zip(cutoffs, member_features_at(ds, cutoffs)))
    # one pass for all cutoffs; with a reply sent before its post, then one per cutoff (exact, slower)
    assert len(passes) == (1 + len(cutoffs) if late_post else 1) and len(passes[0]) == len(cutoffs)
    assert_same(list(at.values()), cutoffs, ds)
    if not late_post:
        assert_same(member_features_at(ds, cutoffs, windows=(1, 2)), cutoffs, ds, windows=(1, 2))
    a29 = at["2026-03-29"].set_index("member_id").loc["a"]
    # the message at exactly the cutoff's midnight counts (and its day is an active day)
    assert a29["messages_total"] == 3 and a29["messages_7d"] == 3 and a29["active_days_7d"] == 2
    # e is an operator from 2026-03-29 06:00 on
    assert "e" in set(at["2026-03-29"]["member_id"]) and "e" not in set(at["2026-03-29 11:00"]["member_id"])
    # f's quote-reply (10:30) and a's read (09:00) of p1 count once p1 is posted
    f = at["2026-03-29 10:45"].set_index("member_id").loc["f", "post_replies"]
    a = at["2026-03-29 10:45"].set_index("member_id").loc["a"]
    assert f == (0 if late_post else 1) and a["read_rate"] * a["posts_present"] == (1 if late_post else 2)
    assert at["2026-03-29 11:00"].set_index("member_id").loc["f", "post_replies"] == 1


def test_panel_is_the_multi_cutoff_features_stacked(small_sim):
    ds, _ = small_sim
    cutoffs = ["2024-01-01", "2026-02-01", "2026-02-20", "2026-02-01"]
    panel = member_features_panel(ds, cutoffs)
    assert panel.attrs["skipped"] == ["2024-01-01"]
    for cut in ("2026-02-01", "2026-02-20"):
        one = member_features(ds, cut)
        got = panel.loc[panel["cutoff"] == one.attrs["cutoff"]].drop(columns="cutoff")
        assert len(got) == 2 * len(one) if cut == "2026-02-01" else len(got) == len(one)
        pd.testing.assert_frame_equal(got.iloc[:len(one)].reset_index(drop=True), one, check_exact=True)
    with pytest.raises(InsufficientDataError, match="No .*member is present at the cutoff"):
        member_features_at(ds, ["2026-02-01", "2024-01-01"])
