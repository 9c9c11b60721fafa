"""The churn-only features, labels and silence spells (Ibis expressions run by the engine) equal a
straightforward per-member computation written for this test: Python dates of each member's activity,
no day numbers, no joins, no windows. Small simulated communities in two time zones (one with a
daylight-saving change inside the windows), several seeds, cutoffs and activity definitions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.analyses import churn as churn
from groupstats.data.dataset import Dataset
from groupstats.data.simulate import simulate_community

OPERATORS = ("owner", "admin")
KEYS = ["group_id", "member_id"]


def _activity(ds, activity) -> dict:
    """{(group, member): sorted list of tz-aware activity times}, operators excluded."""
    ops = {tuple(r) for r in ds.members.loc[ds.members["role"].isin(OPERATORS), KEYS].itertuples(index=False)}
    times: dict = {}
    if "message" in activity:
        m = ds.messages.loc[ds.messages["msg_type"] != "system"]
        for g, u, t in zip(m["group_id"], m["member_id"], m["sent_at"]):
            times.setdefault((g, u), []).append(t)
    kinds = [a for a in activity if a != "message"]
    if kinds:
        e = ds.events.loc[ds.events["event_type"].isin(kinds)]
        for g, u, t in zip(e["group_id"], e["member_id"], e["occurred_at"]):
            times.setdefault((g, u), []).append(t)
    return {k: sorted(v) for k, v in times.items() if k not in ops}


def _present(ds, cut) -> list:
    ops = {tuple(r) for r in ds.members.loc[ds.members["role"].isin(OPERATORS), KEYS].itertuples(index=False)}
    out = set()
    for r in ds.members.itertuples(index=False):
        if r.joined_at <= cut and (pd.isna(r.left_at) or r.left_at > cut) and r.role not in OPERATORS:
            out.add((r.group_id, r.member_id))
    return sorted(out - ops)


def _reference_features(ds, cut, activity, windows=(7, 14, 28), half=14) -> pd.DataFrame:
    acts = _activity(ds, activity)
    reads = _activity(ds, ("read",))
    first_message = ds.messages["sent_at"].min()
    data_start = pd.Timestamp(first_message.date()).tz_localize(ds.tz)
    rows = []
    for g, u in _present(ds, cut):
        before = [t for t in acts.get((g, u), []) if t.date() < cut.date()]
        days = sorted({t.date() for t in before})
        ages = [(cut.date() - d).days for d in days]
        joined = min(r.joined_at for r in ds.members.itertuples(index=False)
                     if (r.group_id, r.member_id) == (g, u) and r.joined_at <= cut and r.role not in OPERATORS)
        row = {"group_id": g, "member_id": u}
        if before:
            row["silent_days"] = (cut - before[-1]).total_seconds() / 86400
        else:
            row["silent_days"] = max((cut - max(joined, data_start)).total_seconds() / 86400, 0.0)
        row["never_active"] = float(not before)
        for w in windows:
            row[f"act_days_{w}d"] = float(sum(a <= w for a in ages))
        row[f"act_trend_{half}d"] = float(sum(a <= half for a in ages) - sum(half < a <= 2 * half for a in ages))
        row["act_repeat_days"] = float(max(len(days) - 1, 0))
        row["act_age_days"] = float(max(ages)) if ages else np.nan
        row["act_span_days"] = float(max(ages) - min(ages)) if ages else np.nan
        read_ages = [(cut.date() - d).days for d in {t.date() for t in reads.get((g, u), []) if t.date() < cut.date()}]
        row[f"read_days_{half}d"] = float(sum(a <= half for a in read_ages))
        row[f"read_trend_{half}d"] = float(sum(a <= half for a in read_ages)
                                           - sum(half < a <= 2 * half for a in read_ages))
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_labels(ds, cut, horizon, activity) -> pd.DataFrame:
    acts = _activity(ds, activity)
    stop, start = cut + pd.Timedelta(days=horizon), cut - pd.Timedelta(days=horizon)
    rows = []
    for g, u in _present(ds, cut):
        times = acts.get((g, u), [])
        last = max((r for r in ds.members.itertuples(index=False) if (r.group_id, r.member_id) == (g, u)
                    and r.role not in OPERATORS and r.joined_at <= cut), key=lambda r: r.joined_at)
        rows.append({"group_id": g, "member_id": u, "silent": not any(cut < t <= stop for t in times),
                     "left": bool(pd.notna(last.left_at) and last.left_at <= stop),
                     "active_before": any(start < t <= cut for t in times)})
    return pd.DataFrame(rows)


def _reference_spells(ds, activity) -> pd.DataFrame:
    acts = _activity(ds, activity)
    last_date = (ds.messages["sent_at"].max()).date()  # the last observed day
    rows = []
    for (g, u), times in sorted(acts.items()):
        days = sorted({t.date() for t in times})
        memberships = [r for r in ds.members.itertuples(index=False)
                       if (r.group_id, r.member_id) == (g, u) and r.role not in OPERATORS]
        left_at = max(memberships, key=lambda r: r.joined_at).left_at if memberships else pd.NaT
        for i, d in enumerate(days):
            if i + 1 < len(days):
                end, returned, left = days[i + 1], True, False
            elif pd.notna(left_at) and left_at.date() >= d:
                end, returned, left = left_at.date(), False, True
            else:
                end, returned, left = last_date, False, False
            rows.append({"group_id": g, "member_id": u, "start": pd.Timestamp(d), "duration": float((end - d).days),
                         "returned": returned, "left": left})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module", params=[("Asia/Shanghai", "2026-01-05", 11), ("Europe/Berlin", "2026-02-23", 12)],
                ids=["shanghai", "berlin_dst"])
def community(request):
    tz, start, seed = request.param
    ds, _ = simulate_community(n_groups=3, days=70, seed=seed, members_per_group=25, tz=tz, start=start)
    return ds


@pytest.mark.parametrize("offset,activity", [(30, ("message",)), (36, ("message", "read")), (44, ("message",))])
def test_churn_features_equal_a_per_member_computation(community, offset, activity):
    ds = community
    cut = churn.data_start_day(ds) + pd.Timedelta(days=offset)  # berlin: 2026-03-29 (DST) inside the windows
    cut = cut.tz_localize(None).normalize().tz_localize(ds.tz)
    got = churn.churn_features(ds, cut, activity=activity)
    expected = _reference_features(ds, cut, activity)
    assert len(got) == len(expected) > 20
    got = got.set_index(KEYS).loc[[tuple(k) for k in expected[KEYS].to_numpy()], expected.columns[2:]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.iloc[:, 2:].reset_index(drop=True),
                                  check_exact=False, rtol=1e-12, atol=1e-9)
    assert expected["never_active"].between(0, 1).all() and expected["act_days_28d"].gt(0).any()
    assert expected["read_days_14d"].gt(0).any()


@pytest.mark.parametrize("horizon,activity", [(14, ("message",)), (21, ("message", "read"))])
def test_churn_labels_equal_a_per_member_computation(community, horizon, activity):
    ds = community
    cut = churn.data_start_day(ds) + pd.Timedelta(days=35)
    cut = cut.tz_localize(None).normalize().tz_localize(ds.tz)
    got = churn.churn_labels(ds, cut, horizon, "either", activity)
    expected = _reference_labels(ds, cut, horizon, activity)
    pd.testing.assert_frame_equal(got[[*KEYS, "silent", "left", "active_before"]].reset_index(drop=True), expected)
    assert got["churned"].equals(got["silent"] | got["left"])
    assert expected["active_before"].any() and not expected["silent"].all()
    assert expected["silent"].any() or "read" in activity  # reads keep nearly everyone active


def test_silence_spells_equal_a_per_member_computation(community):
    got = churn.silence_spells(community)
    expected = _reference_spells(community, ("message",))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)
    assert expected["returned"].any() and (~expected["returned"]).any()


def test_activity_days_before_the_first_message_count(community):
    """Events can precede the first message: with reads as activity, read days before the first message's
    date count as activity days (the churn counts take them apart from the day masks)."""
    ds = community
    first = ds.messages["sent_at"].min()
    members = ds.members.loc[~ds.members["role"].isin(OPERATORS)]
    post = ds.posts.iloc[0]
    early = pd.DataFrame({"group_id": post["group_id"], "member_id": members.loc[
        members["group_id"] == post["group_id"], "member_id"].iloc[:2].tolist(), "post_id": post["post_id"]})
    early = pd.concat([early.assign(occurred_at=first - pd.Timedelta(days=d)) for d in (3, 5)], ignore_index=True)
    events = pd.concat([ds.events, early.assign(event_type="read")[ds.events.columns.intersection(
        [*early.columns, "event_type"])]], ignore_index=True)
    for col in ds.events.columns.difference(events.columns):
        events[col] = None
    events["occurred_at"] = events["occurred_at"].astype(ds.events["occurred_at"].dtype)
    ds = Dataset(messages=ds.messages, members=ds.members, groups=ds.groups, posts=ds.posts,
                 events=events[ds.events.columns], tz=ds.tz)
    cut = churn.data_start_day(ds) + pd.Timedelta(days=30)
    cut = cut.tz_localize(None).normalize().tz_localize(ds.tz)
    got = churn.churn_features(ds, cut, activity=("message", "read"))
    expected = _reference_features(ds, cut, ("message", "read"))
    got = got.set_index(KEYS).loc[[tuple(k) for k in expected[KEYS].to_numpy()], expected.columns[2:]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.iloc[:, 2:].reset_index(drop=True),
                                  check_exact=False, rtol=1e-12, atol=1e-9)
    keys = expected.set_index(KEYS).index
    early_members = expected.set_index(KEYS).loc[[k for k in ((post["group_id"], m) for m in early["member_id"].unique())
                                                  if k in keys]]
    assert len(early_members) and (early_members["act_age_days"] >= 33).all()  # a read before the messages
