"""The shorter ways to member features at one cutoff give exactly the features of the exact groupings.

:func:`groupstats.tables.feature_counts.count_member_features` counts active days and sign-in days in
windows as bits per member (no row per member and day), and reads / clicks as events once
:func:`event_keys_distinct` has shown that no member read or clicked a post twice. These tests compare
its features with those of the exact groupings (by (member, day) and by (member, post)), forced by
switching both shortcuts off, on the sample, on simulated communities of several shapes and windows
that straddle the bit words, and on data where a key repeats, where two keys' hashes collide (forced),
and where the hashes are too many to sort in memory (the engine counts them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.engine import source_of
from groupstats.tables import feature_counts
from groupstats.tables.features import member_features


def exact(monkeypatch):
    """Switch both shortcuts off: the exact groupings by (member, day) and (member, post)."""
    monkeypatch.setattr(feature_counts, "DAY_WORDS_UP_TO", 0)
    monkeypatch.setattr(feature_counts, "event_keys_distinct", lambda src: False)


def features_both_ways(ds, monkeypatch, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = member_features(ds, **kwargs)
    with monkeypatch.context() as m:
        exact(m)
        slow = member_features(ds, **kwargs)
    return fast, slow


def assert_same(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs


def test_sample_equal_to_the_exact_groupings(sample, monkeypatch):
    src = source_of(sample)
    assert feature_counts.event_keys_distinct(src.cut(src.message_range_us()[1]))  # the shortcut is taken
    for cutoff, windows in ((None, (7, 30, 90)), ("2026-03-15 12:30", (1, 7, 30)), ("2026-04-20", (2, 5))):
        fast, slow = features_both_ways(sample, monkeypatch, cutoff=cutoff, windows=windows)
        assert_same(fast, slow)
    assert fast["active_days_5d"].gt(1).any() and fast["sign_in_days_5d"].gt(1).any()
    assert fast["read_rate"].gt(0).any() and fast["click_rate"].gt(0).any()


@pytest.mark.parametrize(("seed", "groups", "days", "windows"), [
    (3, 6, 120, (7, 51, 52, 53)),         # windows at the edge of the first bit word
    (11, 4, 200, (1, 103, 104, 105)),     # and of the second; a one-day window
    (5, 8, 70, (30, 60)),
])
def test_simulated_communities_equal_to_the_exact_groupings(seed, groups, days, windows, monkeypatch):
    from groupstats.data.simulate import simulate_community

    ds, _ = simulate_community(n_groups=groups, days=days, seed=seed, members_per_group=30)
    assert {"read", "click", "sign_in"} <= set(ds.events["event_type"])
    for cutoff in (None, ds.messages["sent_at"].min() + pd.Timedelta(days=days * 2 // 3)):
        fast, slow = features_both_ways(ds, monkeypatch, cutoff=cutoff, windows=windows)
        assert_same(fast, slow)
        assert fast[f"active_days_{windows[-1]}d"].gt(windows[0]).any()
        assert fast["click_rate"].gt(0).any() and fast[f"sign_in_days_{windows[-1]}d"].gt(0).any()


def test_counts_of_the_bit_words():
    # days 0, 1, 51 (last bit of word 0), 52 (first of word 1), 103 before the cutoff's date
    frame = pd.DataFrame({"_a0": [(1 << 0) | (1 << 1) | (1 << 51), 0, np.nan],
                          "_a1": [(1 << 0) | (1 << 51), 1 << 51, np.nan]})
    assert feature_counts.count_day_bits(frame, "_a", 1).tolist() == [1, 0, 0]
    assert feature_counts.count_day_bits(frame, "_a", 51).tolist() == [2, 0, 0]
    assert feature_counts.count_day_bits(frame, "_a", 52).tolist() == [3, 0, 0]
    assert feature_counts.count_day_bits(frame, "_a", 53).tolist() == [4, 0, 0]
    assert feature_counts.count_day_bits(frame, "_a", 104).tolist() == [5, 1, 0]


def repeated_reads_frames(tz: str = "Asia/Shanghai") -> dict:
    """One group: a reads p1 twice and clicks it twice, b reads p1 and p2 once; sign-ins on two days."""
    def ts(values):
        return pd.Series(pd.to_datetime(values)).dt.tz_localize(tz)

    members = pd.DataFrame({"group_id": "g1", "member_id": ["o", "a", "b"],
                            "joined_at": ts(["2026-03-01"] * 3), "left_at": ts([None] * 3),
                            "role": ["owner", "member", "member"]})
    messages = pd.DataFrame({
        "message_id": ["m0", "m1", "m2", "m3", "m4"], "group_id": "g1", "member_id": ["o", "a", "b", "o", "b"],
        "sent_at": ts(["2026-03-02 09:00", "2026-03-02 10:00", "2026-03-03 11:00", "2026-03-04 09:00",
                       "2026-03-05 12:00"]),
        "msg_type": "text", "reply_to": [None, "m0", "m0", None, "m3"], "n_mentions": 0, "text_len": 5})
    posts = pd.DataFrame({"post_id": ["p1", "p2"], "group_id": "g1", "posted_at": ts(["2026-03-02 09:00",
                                                                                   "2026-03-04 09:00"]),
                          "content_type": "text", "member_id": "o", "message_id": ["m0", "m3"]})
    events = pd.DataFrame({
        "group_id": "g1", "member_id": ["a", "a", "a", "a", "b", "b", "a", "a", "b"],
        "occurred_at": ts(["2026-03-02 09:10", "2026-03-02 12:00", "2026-03-02 09:11", "2026-03-03 08:00",
                           "2026-03-03 10:00", "2026-03-04 10:00", "2026-03-02 08:00", "2026-03-04 08:00",
                           "2026-03-04 07:00"]),
        "event_type": ["read", "read", "click", "click", "read", "read", "sign_in", "sign_in", "sign_in"],
        "post_id": ["p1", "p1", "p1", "p1", "p1", "p2", None, None, None]})
    return {"members": members, "messages": messages, "posts": posts, "events": events}


def test_a_repeated_read_takes_the_exact_grouping(monkeypatch):
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **repeated_reads_frames())
    src = source_of(ds)
    assert not feature_counts.event_keys_distinct(src.cut(src.message_range_us()[1]))
    fast, slow = features_both_ways(ds, monkeypatch)
    assert_same(fast, slow)
    row = fast.set_index("member_id")
    # a read and clicked one post (of two present) although it has two of each event; b read both
    assert row.loc["a", "read_rate"] == 0.5 and row.loc["a", "click_rate"] == 0.5
    assert row.loc["b", "read_rate"] == 1.0 and row.loc["b", "click_rate"] == 0.0
    assert row.loc["a", "sign_in_days_90d"] == 2 and row.loc["b", "sign_in_days_90d"] == 1
    assert row.loc["a", "active_days_7d"] == 1 and row.loc["b", "active_days_7d"] == 2


def test_without_repeats_the_shortcut_counts_the_same(monkeypatch):
    frames = repeated_reads_frames()
    frames["events"] = frames["events"].drop(index=[1, 3]).reset_index(drop=True)  # no repeated key now
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **frames)
    src = source_of(ds).cut(source_of(ds).message_range_us()[1])
    assert feature_counts.event_keys_distinct(src)
    fast, slow = features_both_ways(ds, monkeypatch)
    assert_same(fast, slow)
    assert fast.set_index("member_id").loc["a", "click_rate"] == 0.5



def test_reads_of_unknown_posts_are_not_counted_by_the_shortcut(monkeypatch):
    """Reads and clicks of a post that is not in the posts table, or is another group's, count for nothing,
    on the shortcut (a semi join with the posts, sign-in days in a query of their own) as in the exact
    grouping."""
    frames = repeated_reads_frames()
    ev = frames["events"].drop(index=[1, 3]).reset_index(drop=True)  # no repeated key
    odd = pd.DataFrame({"group_id": "g1", "member_id": ["b", "b", "a"],  # p3 is a post of group g2
                        "occurred_at": ev["occurred_at"].iloc[[0, 1, 2]].to_numpy(),
                        "event_type": ["read", "click", "read"], "post_id": ["p9", "p9", "p3"]})
    frames["events"] = pd.concat([ev, odd], ignore_index=True)
    frames["posts"] = pd.concat([frames["posts"], frames["posts"].iloc[[0]].assign(post_id="p3", group_id="g2")],
                                ignore_index=True)
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **frames)
    src = source_of(ds).cut(source_of(ds).message_range_us()[1])
    assert feature_counts.event_keys_distinct(src)
    fast, slow = features_both_ways(ds, monkeypatch)
    assert_same(fast, slow)
    row = fast.set_index("member_id")
    assert row.loc["b", "read_rate"] == 1.0 and row.loc["b", "click_rate"] == 0.0
    assert row.loc["a", "read_rate"] == 0.5 and row.loc["a", "sign_in_days_90d"] == 2

def test_a_hash_collision_takes_the_exact_grouping(small_sim, monkeypatch):
    ds, _ = small_sim
    src = source_of(ds)
    src = src.cut(src.message_range_us()[1])
    assert feature_counts._event_keys_distinct(src)  # (computed, not memoised: the hash changes below)
    expected = member_features(ds)
    src.derived.clear()  # member_features memoised its proof on the source
    taken = []
    real = feature_counts.event_keys_distinct
    monkeypatch.setattr(feature_counts, "_event_key_hash", lambda src, ev: ev.occurred_us * 0 + 7)  # all collide
    monkeypatch.setattr(feature_counts, "event_keys_distinct", lambda src: taken.append(real(src)) or taken[-1])
    got = member_features(ds)
    assert taken == [False]
    assert_same(got, expected)


@pytest.mark.parametrize("repeated", [False, True])
def test_too_many_hashes_to_sort_are_counted_by_the_engine(repeated, monkeypatch):
    frames = repeated_reads_frames()
    if not repeated:
        frames["events"] = frames["events"].drop(index=[1, 3]).reset_index(drop=True)
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **frames)
    src = source_of(ds)
    src = src.cut(src.message_range_us()[1])
    sorted_in_memory = feature_counts._event_keys_distinct(src)
    monkeypatch.setattr(feature_counts, "EVENT_HASHES_SORTED_IN_MEMORY", 1)
    assert feature_counts._event_keys_distinct(src) == sorted_in_memory == (not repeated)


def test_the_proof_is_memoised_and_holds_at_earlier_cutoffs_only(monkeypatch):
    """A proof at a cutoff answers for every earlier cutoff (their events are a subset); a later cutoff, or a
    repeat found, is computed; and the answers are those computed afresh."""
    frames = repeated_reads_frames()  # a's second read of p1 is at 2026-03-02 12:00, its second click 03-03 08:00
    ds = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **frames)
    whole = source_of(ds)
    whole.derived.clear()
    computed = []
    real = feature_counts._event_keys_distinct
    monkeypatch.setattr(feature_counts, "_event_keys_distinct", lambda src: computed.append(src.cut_us) or real(src))
    early, late = (whole.timestamp_us(t) for t in ("2026-03-02 11:00", "2026-03-04 12:00"))
    assert feature_counts.event_keys_distinct(whole.cut(early)) is True
    assert feature_counts.event_keys_distinct(whole.cut(early - 3_600_000_000)) is True  # earlier: memoised
    assert computed == [early]
    assert feature_counts.event_keys_distinct(whole.cut(late)) is False  # later: computed, a repeat there
    assert feature_counts.event_keys_distinct(whole.cut(late)) is False
    assert computed == [early, late]
    for cut in (early - 3_600_000_000, early, late):  # the same answers as computed afresh
        assert feature_counts.event_keys_distinct(whole.cut(cut)) == real(whole.cut(cut))


def test_long_windows_take_the_day_grouping(small_sim, monkeypatch):
    ds, _ = small_sim
    monkeypatch.setattr(feature_counts, "DAY_WORDS_UP_TO", 52)
    fast, slow = features_both_ways(ds, monkeypatch, windows=(7, 53))
    assert_same(fast, slow)
    assert fast["active_days_53d"].gt(7).any()


@pytest.mark.parametrize("without", ["posts", "read and click events"])
def test_sign_in_days_alone_equal_to_the_exact_grouping(small_sim, monkeypatch, without):
    ds, _ = small_sim
    tables = dict(ds.tables)
    if without == "posts":
        del tables["posts"]
    else:
        tables["events"] = tables["events"][~tables["events"]["event_type"].isin(["read", "click"])]
    thin = Dataset.from_frames(tz=ds.tz, validate=False, **tables)
    checked = []
    monkeypatch.setattr(feature_counts, "event_keys_distinct", lambda src: checked.append(src) or True)
    fast = member_features(thin, windows=(7, 30))
    assert checked == []  # no read is counted: nothing to prove
    with monkeypatch.context() as m:
        exact(m)
        slow = member_features(thin, windows=(7, 30))
    assert_same(fast, slow)
    assert fast["sign_in_days_30d"].gt(1).any() and fast["read_rate"].isna().all()


def test_several_cutoffs_count_reads_as_events_exactly(sample, small_sim, monkeypatch):
    """At several cutoffs (one pass, as churn asks), reads and clicks counted as events once no key repeats
    equal the grouping by (member, post): on the sample, a simulated community, and data with a repeated
    read (which takes the grouping)."""
    from groupstats.tables.features import member_features_at

    sim, _ = small_sim
    repeated = Dataset.from_frames(tz="Asia/Shanghai", validate=False, **repeated_reads_frames())
    cases = [(sample, ["2026-01-20", "2026-02-01 18:30", "2026-03-15", "2026-04-01"]),
             (sim, [sim.messages["sent_at"].min() + pd.Timedelta(days=d) for d in (9, 20, 31)]),
             (repeated, ["2026-03-02 10:00", "2026-03-03 09:00", "2026-03-05"])]
    for ds, cuts in cases:
        taken = []
        real = feature_counts.event_keys_distinct
        with monkeypatch.context() as m:
            m.setattr(feature_counts, "event_keys_distinct", lambda src: taken.append(real(src)) or taken[-1])
            fast = member_features_at(ds, cuts)
        assert taken == [ds is not repeated]  # proven once for all the cutoffs; not with a repeated read
        with monkeypatch.context() as m:
            exact(m)
            slow = member_features_at(ds, cuts)
        for f, s in zip(fast, slow):
            assert_same(f, s)
        assert fast[-1]["read_rate"].gt(0).any()
    # b reads p1 after the second cutoff and p2 (posted later) before the third: counted from when known;
    # a read p1 (twice) by the first cutoff, and p2 never
    rows = [f.set_index("member_id") for f in fast]
    assert [r.loc["b", "read_rate"] for r in rows] == [0.0, 0.0, 1.0]
    assert [r.loc["a", "read_rate"] for r in rows] == [1.0, 1.0, 0.5]


def test_sign_in_words_in_the_expression_equal_those_counted_apart(sample):
    """One cutoff, day words, no repeats: sign-in days asked of the expression itself (``sign_ins_apart``
    False) come from the same words as the query the features command runs apart."""
    from groupstats.tables.derived import event_types

    src = source_of(sample)
    cut = src.message_range_us()[1]
    types = set(event_types(src.cut(cut)))
    assert "sign_in" in types
    apart = feature_counts.count_member_features(src, [cut], (7, 30, 90), 30, 90, types)
    inside = src.execute(feature_counts.member_feature_counts(src, [cut], (7, 30, 90), 30, 90, types,
                                                                day_words=True, events_distinct=True,
                                                                sign_ins_apart=False))
    inside["sign_in"] = feature_counts.count_day_bits(inside, "_s", 90)
    keys = list(feature_counts.KEY_COLUMNS)
    got = inside.sort_values(keys).reset_index(drop=True)
    want = apart.sort_values(keys).reset_index(drop=True)
    assert got[keys].equals(want[keys])
    assert np.array_equal(got["sign_in"].to_numpy(dtype=np.int64), want["sign_in"].to_numpy(dtype=np.int64))
    assert want["sign_in"].gt(1).any()
