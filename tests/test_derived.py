"""Derived tables checked against hand-computed values and brute force."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.tables import derived as derived
from groupstats.data.dataset import Dataset
from groupstats.errors import MissingTableError, ParameterError


def hand_dataset() -> Dataset:
    """One group, operator 'op', members a, b, c (c joins late, b leaves); two posts 1 h apart.

    Times (Asia/Shanghai), day 2026-01-02:
      09:00 op posts P1 (message m1)
      09:10 a quotes m1            -> reply to P1, response to P1
      09:20 b text                 -> response to P1
      09:50 a sticker              -> response to P1
      10:00 op posts P2 (message m5)
      10:05 b quotes m1 (P1)       -> reply to P1 (within 2h of P1) but a response of P2 (latest post)
      10:30 c joins (system msg)   -> not a member message
      10:40 c text                 -> response to P2
      13:00 a red_packet; 13:01 b text (burst); 13:30 b text
      next day 09:00 a text
    """
    members = pd.DataFrame({
        "group_id": "g1", "member_id": ["op", "a", "b", "c"],
        "joined_at": ["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 00:00", "2026-01-02 10:30"],
        "left_at": [None, None, "2026-01-02 20:00", None], "role": ["owner", "member", "member", "member"]})
    rows = [
        ("m1", "op", "2026-01-02 09:00", "text", None, 2),
        ("m2", "a", "2026-01-02 09:10", "text", "m1", 1),
        ("m3", "b", "2026-01-02 09:20", "text", None, 0),
        ("m4", "a", "2026-01-02 09:50", "sticker", None, 0),
        ("m5", "op", "2026-01-02 10:00", "link", None, 0),
        ("m6", "b", "2026-01-02 10:05", "text", "m1", 0),
        ("m7", "c", "2026-01-02 10:30", "system", None, 0),
        ("m8", "c", "2026-01-02 10:40", "text", None, 0),
        ("m9", "a", "2026-01-02 13:00", "red_packet", None, 0),
        ("m10", "b", "2026-01-02 13:01", "text", None, 0),
        ("m11", "b", "2026-01-02 13:30", "text", None, 0),
        ("m12", "a", "2026-01-03 09:00", "text", None, 0),
    ]
    messages = pd.DataFrame(rows, columns=["message_id", "member_id", "sent_at", "msg_type", "reply_to",
                                           "n_mentions"]).assign(group_id="g1")
    posts = pd.DataFrame({"post_id": ["P1", "P2"], "group_id": "g1",
                          "posted_at": ["2026-01-02 09:00", "2026-01-02 10:00"],
                          "content_type": ["practical", "interactive"], "member_id": "op",
                          "message_id": ["m1", "m5"]})
    events = pd.DataFrame({
        "group_id": "g1",
        "member_id": ["a", "a", "b", "op", "c", "a", "b"],
        "occurred_at": ["2026-01-02 09:01", "2026-01-02 11:00", "2026-01-02 09:30", "2026-01-02 09:02",
                        "2026-01-03 09:00", "2026-01-02 09:03", "2026-01-04 09:00"],
        "event_type": ["read", "read", "read", "read", "read", "click", "read"],
        "post_id": ["P1", "P1", "P1", "P1", "P2", "P1", "P2"]})
    return Dataset.from_frames(messages=messages, members=members, posts=posts, events=events)


def test_post_outcomes_by_hand():
    po = derived.post_outcomes(hand_dataset(), window="2h").set_index("post_id")
    # replies: quote-replies within 2 h of their post, whatever came in between
    assert po.loc["P1", "replies"] == 2 and po.loc["P2", "replies"] == 0
    # responses: member messages attributed to the latest post before them, within 2 h
    assert po.loc["P1", "responses"] == 3 and po.loc["P1", "responders"] == 2
    assert po.loc["P2", "responses"] == 2 and po.loc["P2", "responders"] == 2
    # members present (operators excluded): a, b at 09:00; c joined 10:30, after P2
    assert po.loc["P1", "n_present"] == 2 and po.loc["P2", "n_present"] == 2
    # readers: distinct non-operator members within 24 h (a twice, b; op excluded)
    assert po.loc["P1", "readers"] == 2 and po.loc["P1", "read_rate"] == 1.0
    assert po.loc["P1", "clickers"] == 1 and po.loc["P1", "click_rate"] == 0.5
    # P2: c read within 24h; b's read is after 24 h
    assert po.loc["P2", "readers"] == 1 and po.loc["P2", "read_rate"] == 0.5
    assert po.loc["P1", "hour"] == 9 and po.loc["P2", "content_type"] == "interactive"


def test_post_outcomes_window_and_red_packets():
    ds = hand_dataset()
    short = derived.post_outcomes(ds, window="15min").set_index("post_id")
    assert short.loc["P1", "responses"] == 1 and short.loc["P2", "responses"] == 1
    with pytest.raises(ParameterError, match="window"):
        derived.post_outcomes(ds, window="soon")
    # a post at 13:00 would collect the red-packet burst; exclusion removes it
    posts = pd.concat([ds.posts, pd.DataFrame({
        "post_id": ["P3"], "group_id": ["g1"], "posted_at": [pd.Timestamp("2026-01-02 12:59", tz=ds.tz)],
        "content_type": ["lifestyle"], "member_id": ["op"], "message_id": [None]})], ignore_index=True)
    ds3 = Dataset.from_frames(messages=ds.messages, members=ds.members, posts=posts, events=ds.events)
    with_burst = derived.post_outcomes(ds3).set_index("post_id")
    without = derived.post_outcomes(ds3, exclude_red_packets="5min").set_index("post_id")
    assert with_burst.loc["P3", "responses"] == 3  # m9, m10, m11
    assert without.loc["P3", "responses"] == 1  # only m11 (30 min later)


def test_post_outcomes_as_of_marks_incomplete_and_ignores_later_rows():
    ds = hand_dataset()
    cut = derived.post_outcomes(ds, as_of="2026-01-02 09:15").set_index("post_id")
    assert list(cut.index) == ["P1"]
    assert cut.loc["P1", "responses"] == 1 and not cut.loc["P1", "complete"]
    assert cut.loc["P1", "readers"] == 1  # only a's 09:01 read is known at 09:15


def test_post_outcomes_needs_posts():
    ds = hand_dataset()
    no_posts = Dataset.from_frames(messages=ds.messages, members=ds.members)
    with pytest.raises(MissingTableError, match="posts"):
        derived.post_outcomes(no_posts)


def test_member_day_activity_by_hand():
    md = derived.member_day_activity(hand_dataset()).set_index(["member_id", "date"])
    day = pd.Timestamp("2026-01-02")
    assert md.loc[("a", day), "n_messages"] == 3  # m2, m4, m9
    assert md.loc[("a", day), "n_replies"] == 1 and md.loc[("a", day), "n_mentions"] == 1
    assert md.loc[("b", day), "n_messages"] == 4 and md.loc[("b", day), "n_text"] == 4
    assert md.loc[("a", pd.Timestamp("2026-01-03")), "n_messages"] == 1
    assert md.loc[("a", day), "n_read"] == 2 and md.loc[("a", day), "n_click"] == 1
    assert "op" not in md.index.get_level_values("member_id")  # operators excluded
    # a day with events only: b's read on 01-04
    assert md.loc[("b", pd.Timestamp("2026-01-04")), "n_messages"] == 0


def test_group_day_metrics_by_hand():
    gd = derived.group_day_metrics(hand_dataset()).set_index("date")
    d2, d3 = pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03")
    assert gd.loc[d2, "n_members"] == 3  # a, b, c (c joined, b left that day)
    assert gd.loc[d3, "n_members"] == 2  # a, c
    assert gd.loc[d2, "n_messages"] == 8 and gd.loc[d2, "n_active_members"] == 3
    assert gd.loc[d2, "n_operator_messages"] == 2 and gd.loc[d2, "n_posts"] == 2
    assert gd.loc[d2, "n_exits"] == 1 and gd.loc[d2, "n_joins"] == 1 and gd.loc[d2, "n_red_packets"] == 1
    assert gd.loc[d2, "active_share"] == pytest.approx(1.0)
    assert gd.loc[d3, "messages_per_member"] == pytest.approx(0.5)


def test_members_present_matches_brute_force(sample):
    rng = np.random.default_rng(0)
    posts = sample.posts.sample(200, random_state=1)
    counts = derived.members_present(sample, posts["group_id"], posts["posted_at"])
    members = sample.members.loc[sample.members.role == "member"]
    for (g, t), n in zip(zip(posts["group_id"], posts["posted_at"]), counts):
        m = members.loc[members.group_id == g]
        brute = ((m.joined_at <= t) & (m.left_at.isna() | (m.left_at > t))).sum()
        assert n == brute
    assert rng is not None


def test_derived_tables_as_of_use_no_later_information(sample):
    cutoff = "2026-03-01"
    full = derived.member_day_activity(sample)
    cut = derived.member_day_activity(sample, as_of=cutoff)
    assert cut["date"].max() < pd.Timestamp("2026-03-01")
    before = full.loc[full["date"] < pd.Timestamp("2026-03-01")].reset_index(drop=True)
    cols = ["group_id", "member_id", "date", "n_messages", "n_replies"]
    pd.testing.assert_frame_equal(cut[cols].reset_index(drop=True), before[cols])
    gd = derived.group_day_metrics(sample, as_of=cutoff)
    assert gd["date"].max() <= pd.Timestamp("2026-03-01")


def test_hourly_profile_by_hand():
    profile = derived.hourly_profile(hand_dataset()).set_index(["day_type", "hour"])
    # member messages on Friday 2026-01-02 at 9h: m2, m3, m4; 10h: m6, m8; 13h: m9, m10, m11;
    # Saturday 2026-01-03 at 9h: m12
    assert profile.loc[("weekday", 9), "messages"] == 3
    assert profile.loc[("weekday", 10), "messages"] == 2
    assert profile.loc[("weekday", 13), "messages"] == 3
    assert profile.loc[("weekend", 9), "messages"] == 1 and profile.loc[("weekend", 9), "share"] == 1.0
    assert profile.loc["weekday", "share"].sum() == pytest.approx(1.0)
    with_ops = derived.hourly_profile(hand_dataset(), include_operators=True).set_index(["day_type", "hour"])
    assert with_ops.loc[("weekday", 9), "messages"] == 4 and with_ops.loc[("weekday", 10), "messages"] == 3


def test_weekday_hour_activity_by_hand():
    heat = derived.weekday_hour_activity(hand_dataset())
    assert heat.shape == (7, 24)
    # window: Fri 2026-01-02 .. Sat 2026-01-03, one day of each; Friday 9h has m2, m3, m4
    assert heat.loc["Fri", 9] == 3 and heat.loc["Fri", 13] == 3 and heat.loc["Sat", 9] == 1
    assert np.isnan(heat.loc["Mon", 9])  # no Monday in the window
    assert np.nansum(heat.to_numpy()) == 9  # every member message counted once


def test_weekday_hour_activity_on_sample_matches_brute_force(sample):
    heat = derived.weekday_hour_activity(sample)
    msgs = derived.member_messages(sample)
    fri_20 = ((msgs.sent_at.dt.day_of_week == 4) & (msgs.sent_at.dt.hour == 20)).sum()
    first, last = sample.date_range()
    n_fridays = (pd.date_range(first.date(), last.date(), freq="D").day_of_week == 4).sum()
    assert heat.loc["Fri", 20] == pytest.approx(fri_20 / n_fridays)
