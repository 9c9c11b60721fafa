"""Group health: metrics against hand-computed values on a tiny dataset, thresholds, ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError
from groupstats.analyses.health import (assess_health, group_day_health, group_week_health, lifecycle_stage,
                               load_thresholds)

TZ = "Asia/Shanghai"


def ts(text):
    return pd.Timestamp(text, tz=TZ)


@pytest.fixture(scope="module")
def tiny():
    """One group, an operator and four members over one week (Mon 2026-03-02 .. Sun 03-08).

    a, b, c joined 02-01; c leaves 03-04 12:00; d joins 03-05 10:00.
    Member messages: a x2 + b (red packet) on 03-02, a on 03-05, d on 03-06, a on 03-08;
    the operator posts on 03-02 10:00 (read by a and b within 24 h, by c after 25 h).
    Complaints by a and b on 03-05.
    """
    members = pd.DataFrame({
        "group_id": "g1", "member_id": ["o1", "a", "b", "c", "d"],
        "joined_at": [ts("2026-01-01 00:00"), ts("2026-02-01 09:00"), ts("2026-02-01 09:00"),
                      ts("2026-02-01 09:00"), ts("2026-03-05 10:00")],
        "left_at": [pd.NaT, pd.NaT, pd.NaT, ts("2026-03-04 12:00"), pd.NaT],
        "role": ["owner", "member", "member", "member", "member"]})
    msgs = [("m0", "o1", "2026-03-02 10:00", "text"), ("m1", "a", "2026-03-02 10:30", "text"),
            ("m2", "a", "2026-03-02 11:00", "text"), ("m3", "b", "2026-03-02 12:00", "red_packet"),
            ("m4", "a", "2026-03-05 09:00", "text"), ("m5", "d", "2026-03-06 20:00", "text"),
            ("m6", "a", "2026-03-08 23:00", "text")]
    messages = pd.DataFrame({"message_id": [m[0] for m in msgs], "group_id": "g1",
                             "member_id": [m[1] for m in msgs], "sent_at": [ts(m[2]) for m in msgs],
                             "msg_type": [m[3] for m in msgs]})
    groups = pd.DataFrame({"group_id": ["g1"], "created_at": [ts("2026-01-01 00:00")]})
    posts = pd.DataFrame({"post_id": ["p1"], "group_id": ["g1"], "posted_at": [ts("2026-03-02 10:00")],
                          "content_type": ["practical"], "member_id": ["o1"], "message_id": ["m0"]})
    events = pd.DataFrame({
        "group_id": "g1", "member_id": ["a", "b", "c", "a", "b"],
        "occurred_at": [ts("2026-03-02 10:30"), ts("2026-03-03 09:00"), ts("2026-03-03 11:00"),
                        ts("2026-03-05 15:00"), ts("2026-03-05 16:00")],
        "event_type": ["read", "read", "read", "complaint", "complaint"],
        "post_id": ["p1", "p1", "p1", None, None]})
    return Dataset.from_frames(messages=messages, members=members, groups=groups, posts=posts, events=events,
                               tz=TZ)


def test_daily_metrics_match_hand_computed(tiny):
    daily = group_day_health(tiny, silent_days=3)
    assert len(daily) == 7
    assert daily["n_members"].tolist() == [3, 3, 3, 3, 3, 3, 3]
    assert daily["n_messages"].tolist() == [3, 0, 0, 1, 1, 0, 1]
    assert daily["n_active_members"].tolist() == [2, 0, 0, 1, 1, 0, 1]
    # eligible: members in the group >= 3 days and present; silent: no message in the last 3 days
    assert daily["n_eligible_silent"].tolist() == [3, 3, 3, 2, 2, 2, 3]
    assert daily["n_silent"].tolist() == [1, 1, 1, 1, 1, 1, 1]
    assert daily["read_rate"].iloc[0] == pytest.approx(2 / 3)
    assert daily["n_complaints"].tolist() == [0, 0, 0, 2, 0, 0, 0]
    assert daily["age_days"].iloc[0] == 60
    assert daily["lifecycle_stage"].iloc[0] == "growth (31-90)"


def test_weekly_metrics_match_hand_computed(tiny):
    week = group_week_health(tiny, silent_days=3)
    assert len(week) == 1
    w = week.iloc[0]
    assert w["days"] == 7
    assert w["messages_per_day"] == pytest.approx(6 / 7)
    assert w["messages_per_member_day"] == pytest.approx(6 / 21)
    assert w["active_share"] == pytest.approx(5 / 21)
    assert w["read_rate"] == pytest.approx(2 / 3)
    assert (w["n_joins"], w["n_exits"]) == (1, 1)
    assert w["exit_rate"] == pytest.approx(1 / 3)
    assert w["exit_rate_30d"] == pytest.approx(1 / 3 * 30 / 7)
    assert w["silent_share"] == pytest.approx(7 / 18)
    assert w["complaint_rate"] == pytest.approx(2 / 3)
    assert w["max_daily_complaints"] == 2
    assert w["red_packets_per_day"] == pytest.approx(1 / 7)
    assert w["lifecycle_stage"] == "growth (31-90)"


def test_status_against_default_thresholds(tiny):
    result = assess_health(tiny)
    row = result.table.iloc[0]
    assert row["status_messages_per_day"] == "alert"        # 0.86 a day < 25
    assert row["status_messages_per_member_day"] == "ok"    # 0.286 >= 0.2
    assert row["status_read_rate"] == "warning"              # 0.667 in [0.65, 0.75)
    assert row["status_silent_share"] == "warning"           # 0.389 in (0.30, 0.40]
    assert row["status_max_daily_complaints"] == "ok"        # 2 <= 3
    assert row["status"] == "alert"
    assert "read_rate" in row["warnings"] and "messages_per_day" in row["alerts"]
    assert result.attention["group_id"].tolist() == ["g1"]
    d = result.to_dict()
    assert {"attention", "weeks", "thresholds", "status_counts"} <= set(d)


def test_edited_thresholds_change_status(tiny, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("silent_days: 3\nthresholds:\n  read_rate:\n    healthy: above\n    warning: 0.6\n"
                    "    alert: 0.5\n    source: mine\n  silent_share:\n    healthy: below\n    warning: null\n"
                    "    alert: 0.35\n", encoding="utf-8")
    result = assess_health(tiny, thresholds=path)
    row = result.table.iloc[0]
    assert row["status_read_rate"] == "ok" and row["status_silent_share"] == "alert"
    assert set(result.thresholds["thresholds"]) == {"read_rate", "silent_share"}


@pytest.mark.parametrize("body, words", [
    ("thresholds:\n  nonsense:\n    healthy: above\n    warning: 1\n", "unknown metric"),
    ("thresholds:\n  read_rate:\n    healthy: up\n    warning: 1\n", "healthy must be"),
    ("thresholds:\n  read_rate:\n    healthy: above\n    warning: 0.5\n    alert: 0.7\n", "must be below"),
    ("thresholds:\n  read_rate:\n    healthy: above\n", "neither a warning"),
    ("nothing: 1\n", "thresholds:"),
])
def test_bad_thresholds_file_gives_clear_error(tmp_path, body, words):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ParameterError, match=words):
        load_thresholds(path)


def test_default_thresholds_cite_playbook_articles():
    spec = load_thresholds()
    titles = ("维护微信群活跃度", "微信群怎么互动(群聊互动技巧)", "微信群如何经营和管理(微信群运营与管理)",
              "怎么弄微信群聊(创建微信群聊方法)")
    for metric, rule in spec["thresholds"].items():
        assert any(t in (rule["source"] or "") for t in titles), metric
    assert spec["thresholds"]["messages_per_day"]["warning"] == 50
    assert spec["thresholds"]["read_rate"]["warning"] == 0.75
    assert spec["thresholds"]["exit_rate_30d"]["warning"] == 0.08
    assert spec["thresholds"]["silent_share"]["alert"] == 0.40 and spec["silent_days"] == 3


def test_lifecycle_stage_boundaries():
    stages = lifecycle_stage([0, 30, 31, 90, 91, 180, 181, np.nan])
    assert list(stages) == ["launch (0-30)", "launch (0-30)", "growth (31-90)", "growth (31-90)",
                            "maturity (91-180)", "maturity (91-180)", "decline (181+)", None]


def test_sample_health_consistent_with_group_day_metrics(sample):
    result = assess_health(sample)
    weekly = result.weekly
    # per-week totals add up to the daily table's totals
    assert weekly["n_messages"].sum() == result.daily["n_messages"].sum()
    daily = result.daily
    g = daily.loc[daily["group_id"] == "g03"]
    manual = (g["n_silent"].sum() / g["n_eligible_silent"].sum())
    pooled = weekly.loc[weekly["group_id"] == "g03", ["n_silent", "n_eligible_silent"]].sum()
    assert pooled["n_silent"] / pooled["n_eligible_silent"] == pytest.approx(manual)
    assert result.attention["rank"].tolist() == list(range(1, 13))
    assert result.attention["score"].is_monotonic_decreasing


def test_group_health_notebook(batch_records):
    records = batch_records("group_health")  # executed once per session by `report all` (conftest)
    assert records["n_groups"] == 12
    assert set(records["status_counts"]) <= {"ok", "warning", "alert", "n/a"}
    assert len(records["attention"]) == 12


def test_lifecycle_summary_groups_weeks_by_stage(sample):
    from groupstats.analyses.health import assess_health

    health = assess_health(sample)
    summary = health.lifecycle_summary()
    assert summary["group_weeks"].sum() == len(health.weekly)
    for stage, row in summary.iterrows():
        weeks = health.weekly.loc[health.weekly["lifecycle_stage"] == stage]
        assert row["messages_per_day"] == pytest.approx(weeks["messages_per_day"].median())
        assert row["groups"] == weeks["group_id"].nunique()


def test_silent_counts_when_nobody_writes_after_the_first_silent_window():
    """Regression (6 of 14 real exports): every member wrote only on the day they joined, so no
    activity falls inside an eligibility span; `_silent_counts` indexed with an empty object array
    (IndexError). Now: members are eligible from join + 3 days and silent every day after."""
    members = pd.DataFrame({"group_id": "g1", "member_id": ["o", "a", "b"],
                            "joined_at": [ts("2026-01-05 08:00")] * 3, "role": ["owner", "member", "member"]})
    messages = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m4"], "group_id": "g1",
                             "member_id": ["o", "a", "b", "o"],
                             "sent_at": [ts("2026-01-05 09:00"), ts("2026-01-05 10:00"), ts("2026-01-05 11:00"),
                                         ts("2026-01-20 10:00")]})
    ds = Dataset.from_frames(members=members, messages=messages, tz=TZ)
    daily = group_day_health(ds, silent_days=3)
    assert len(daily) == 16
    assert daily["n_eligible_silent"].tolist() == [0, 0, 0] + [2] * 13   # a and b, from 01-08
    assert daily["n_silent"].tolist() == daily["n_eligible_silent"].tolist()
    assert daily["silent_share"].iloc[3:].eq(1.0).all() and daily["silent_share"].iloc[:3].isna().all()
    result = assess_health(ds)
    assert "silent_share" in result.to_frame().iloc[0]["latest_alerts"]


def test_silent_counts_when_every_member_is_an_operator():
    members = pd.DataFrame({"group_id": "g1", "member_id": ["o", "p"], "joined_at": [ts("2026-01-05 08:00")] * 2,
                            "role": ["owner", "admin"]})
    messages = pd.DataFrame({"message_id": ["m1", "m2"], "group_id": "g1", "member_id": ["o", "p"],
                             "sent_at": [ts("2026-01-05 09:00"), ts("2026-01-12 10:00")]})
    daily = group_day_health(Dataset.from_frames(members=members, messages=messages, tz=TZ))
    assert daily["n_eligible_silent"].eq(0).all() and daily["silent_share"].isna().all()
