"""The simulator: reproducible, plants what it says it plants, scales linearly."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from groupstats.tables import derived as derived
from groupstats.cli import main
from groupstats.errors import ParameterError
from groupstats.data.simulate import simulate_community


def test_same_seed_same_data_other_seed_other_data():
    a, truth_a = simulate_community(n_groups=4, days=21, seed=3, members_per_group=30)
    b, truth_b = simulate_community(n_groups=4, days=21, seed=3, members_per_group=30)
    c, _ = simulate_community(n_groups=4, days=21, seed=4, members_per_group=30)
    for name in ("messages", "members", "posts", "events", "assignments", "groups"):
        pd.testing.assert_frame_equal(a.table(name), b.table(name))
    assert truth_a == truth_b
    assert len(a.messages) != len(c.messages) or not a.messages["sent_at"].equals(c.messages["sent_at"])


def test_planted_structure_is_visible(small_sim):
    ds, truth = small_sim
    members = pd.DataFrame(truth["members"])
    activity = derived.member_day_activity(ds).groupby("member_id")["n_messages"].sum()
    members["messages"] = members["member_id"].map(activity).fillna(0)
    by_tier = members.loc[members.tier != "operator"].groupby("tier")["messages"].median()
    assert by_tier["core"] > by_tier["active"] > by_tier["casual"] > by_tier["silent"]
    # evening-heavy: 19-22h carry more messages than 07-10h
    hours = ds.messages["sent_at"].dt.hour
    assert (hours.between(19, 22)).sum() > 1.5 * (hours.between(7, 10)).sum()
    # strong group differences: messages per member differ several-fold between groups
    # strong group differences, driven by the planted group multipliers
    per_member = ds.messages.groupby("group_id").size() / ds.members.groupby("group_id").size()
    planted_rate = members.groupby("group_id")["rate"].sum() / members.groupby("group_id").size()
    assert np.corrcoef(per_member[planted_rate.index], planted_rate)[0, 1] > 0.9
    assert per_member.std() / per_member.mean() > 0.2
    # faders leave: every member with left_at is a planted leaver
    left = set(ds.members.loc[ds.members.left_at.notna(), "member_id"])
    leavers = set(members.loc[members.leaves, "member_id"])
    assert left and left <= leavers


def test_switchback_design_is_balanced_and_posts_follow_it(small_sim):
    ds, truth = small_sim
    sw = ds.assignments.loc[ds.assignments.experiment_id == "slot_switchback"]
    counts = sw.groupby("arm").size()
    assert set(counts.index) == {"morning", "noon", "evening"}
    assert counts.max() - counts.min() <= len(sw.group_id.unique())
    # each post's clock time lies in its arm's slot for about slot_compliance of posts
    posts = ds.posts.merge(sw, on="group_id")
    posts = posts.loc[(posts.posted_at >= posts.start_at) & (posts.posted_at < posts.end_at)]
    slot = {"morning": (7, 9), "noon": (12, 14), "evening": (19, 21)}
    hour = posts.posted_at.dt.hour
    inside = np.array([slot[a][0] <= h < slot[a][1] for a, h in zip(posts.arm, hour)])
    assert abs(inside.mean() - truth["slot_experiment"]["compliance"]) < 0.05
    assert truth["slot_experiment"]["itt_rel_effect"]["evening"] > 0.2


def test_planted_slot_effect_shows_in_replies():
    ds, truth = simulate_community(n_groups=20, days=84, seed=11, members_per_group=60, events=False)
    po = derived.post_outcomes(ds)
    sw = ds.assignments.loc[ds.assignments.experiment_id == "slot_switchback"]
    po = pd.merge_asof(po.sort_values("posted_at"), sw.sort_values("start_at")[["group_id", "start_at", "arm"]],
                       left_on="posted_at", right_on="start_at", by="group_id")
    ratio = po.groupby("arm")["replies"].mean()
    expected = truth["slot_experiment"]["itt_rate_ratio"]
    assert ratio["evening"] / ratio["morning"] == pytest.approx(expected["evening"], rel=0.12)


def test_planted_mix_effect_shows_in_member_messages():
    ds, truth = simulate_community(n_groups=30, days=60, seed=5, members_per_group=50, events=False,
                                   group_activity_sigma=0.0, member_rate_sigma=0.2, fade_share=0.0,
                                   tier_shares={"core": 0.0, "active": 1.0, "casual": 0.0, "silent": 0.0})
    gd = derived.group_day_metrics(ds)
    start = ds.start.tz_localize(None).normalize() + pd.Timedelta(days=truth["mix_experiment"]["start_day"])
    treated = set(truth["mix_experiment"]["treated_groups"])
    exp = gd.loc[gd.date >= start]
    by_arm = exp.groupby(exp.group_id.isin(treated))[["n_messages", "n_members"]].sum()
    rate = by_arm["n_messages"] / by_arm["n_members"]
    pre = gd.loc[gd.date < start]
    pre_arm = pre.groupby(pre.group_id.isin(treated))[["n_messages", "n_members"]].sum()
    pre_rate = pre_arm["n_messages"] / pre_arm["n_members"]
    did = (rate[True] / rate[False]) / (pre_rate[True] / pre_rate[False])
    assert did == pytest.approx(1 + truth["mix_experiment"]["rel_effect"]["messages_per_member_day"], abs=0.05)


def test_scale_grows_linearly_with_groups_and_days():
    small, t1 = simulate_community(n_groups=10, days=30, seed=3, members_per_group=50, events=False)
    large, t2 = simulate_community(n_groups=40, days=60, seed=3, members_per_group=50, events=False)
    ratio = len(large.messages) / len(small.messages)
    assert 5 < ratio < 12  # 8x groups-days, with group-level noise
    assert t2["n_messages"] == len(large.messages)


def test_bad_parameters_are_rejected():
    with pytest.raises(ParameterError, match="n_groups"):
        simulate_community(n_groups=1)
    with pytest.raises(ParameterError, match="days"):
        simulate_community(days=3)


def test_simulate_cli_writes_a_valid_dataset_and_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--groups", "3", "--days", "14", "--seed", "2",
                 "--format", "csv", "--members", "20"]) == 0
    assert (out / "messages.csv").exists() and (out / "truth.json").exists()
    truth = json.loads((out / "truth.json").read_text())
    assert truth["config"]["seed"] == 2
    assert main(["validate", str(out), "--lang", "en"]) == 0
    assert "valid groupstats dataset" in capsys.readouterr().out
