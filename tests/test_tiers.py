"""Rule-based tiers: presets with playbook sources, hand-checked assignments, own files, missing events."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score
from test_features import TZ, tiny, tiny_frames

from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError
from groupstats.analyses.tiers import assign_tiers, compare_tiers_segments, list_presets, load_preset

PLAYBOOK_TITLES = {"微信群如何经营和管理(微信群运营与管理)", "微信群怎么互动(群聊互动技巧)", "怎么弄微信群聊(创建微信群聊方法)",
                   "维护微信群活跃度", "微信社区运营价值重构"}


def test_presets_ship_and_cite_their_article():
    assert {"activity", "points", "rfm"} <= set(list_presets())
    for name in list_presets():
        spec = load_preset(name)
        assert spec["source"] in PLAYBOOK_TITLES
    points = load_preset("points")
    assert points["points"] == {"sign_in": 5, "valid_message": 20, "task": 300}
    assert [r["min"] for r in points["ladder"]] == [0, 500, 2000] and points["min_text_len"] == 5
    activity = load_preset("activity")
    conds = {t["name"]: t["all"] for t in activity["tiers"]}
    assert {"metric": "days_since_interaction", "op": ">=", "value": 30} in conds["churned"]
    assert {"metric": "interactions_per_week", "op": ">=", "value": 3} in conds["active"]
    assert {"metric": "interactions_per_month", "op": "<", "value": 2} in conds["silent"]
    assert {"metric": "daily_activity_rank_in_group", "op": ">", "value": 0.8} in conds["core"]


def test_activity_tiers_by_hand():
    res = assign_tiers(tiny(), "activity", cutoff="2026-02-01")
    got = res.assignments.set_index("member_id")
    # a: 3 messages in 23 observed days = 0.91 a week, 3.9 a month, 3 active days -> none of the rules
    assert got.loc["a", "tier"] == "casual"
    assert got.loc["a", "interactions_per_week"] == pytest.approx(3 / 23 * 7)
    # b: never wrote; observed 23 days (< 30, so not churned); 0 a month -> silent
    assert got.loc["b", "tier"] == "silent"
    assert got.loc["b", "days_since_interaction"] == pytest.approx(23)
    later = assign_tiers(tiny(), "activity", cutoff="2026-02-20").assignments.set_index("member_id")
    assert later.loc["b", "tier"] == "churned"  # 42 observed days without a message
    frame = res.to_frame()
    assert list(frame["tier"]) == ["core", "active", "casual", "silent", "churned"]
    assert frame["members"].sum() == 2


def test_points_ladder_and_missing_event_types(tmp_path):
    res = assign_tiers(tiny(), "points", cutoff="2026-02-01")
    a = res.assignments.set_index("member_id").loc["a"]
    # 2 sign-in days x 5 + 2 valid messages (text, >= 5 characters: m1 12, m3 8) x 20; no task events
    assert (a["sign_in_days"], a["valid_messages"], a["task_count"], a["points"]) == (2, 2, 0, 50)
    assert a["tier"] == "newcomer"
    assert any(n.startswith("task points") for n in res.notes)
    assert "could not be counted" in res.conclusion()
    # own file: cheaper ladder and a longer minimum message length
    spec = load_preset("points")
    spec.update(name="mine", min_text_len=10, ladder=[{"name": "low", "min": 0}, {"name": "high", "min": 30}],
                order=["high", "low"])
    spec.pop("origin")
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    mine = assign_tiers(tiny(), str(path), cutoff="2026-02-01").assignments.set_index("member_id")
    assert mine.loc["a", "points"] == 30 and mine.loc["a", "tier"] == "high"  # only m1 is >= 10 characters
    assert mine.loc["b", "tier"] == "low"
    # no events table at all: sign-in and task points are named as not counted
    frames = tiny_frames()
    bare = Dataset.from_frames(tz=TZ, members=frames["members"], messages=frames["messages"])
    notes = assign_tiers(bare, "points", cutoff="2026-02-01").notes
    assert len(notes) == 2 and all("no events table" in n for n in notes)


def test_bad_presets_say_what_is_wrong(tmp_path):
    with pytest.raises(ParameterError, match="Unknown tier preset"):
        load_preset("nope")
    bad = {"name": "x", "kind": "rules", "order": ["a", "b"], "default": "b",
           "tiers": [{"name": "a", "all": [{"metric": "messages_7d", "op": "=>", "value": 1}]}]}
    with pytest.raises(ParameterError, match="op '=>'"):
        load_preset(bad)
    bad["tiers"][0]["all"][0]["op"] = ">="
    bad["order"] = ["a"]
    with pytest.raises(ParameterError, match="order"):
        load_preset(bad)
    bad["order"] = ["a", "b"]
    bad["tiers"][0]["all"][0]["metric"] = "charisma"
    with pytest.raises(ParameterError, match="unknown metric"):
        assign_tiers(tiny(), bad, cutoff="2026-02-01")
    with pytest.raises(ParameterError, match="does not exist"):
        load_preset(str(tmp_path / "missing.yaml"))


def test_rfm_preset_on_simulation(small_sim):
    ds, truth = small_sim
    res = assign_tiers(ds, "rfm")
    tiers = res.assignments
    assert set(tiers["tier"]) <= set(res.order)
    # rules are applied in order: every dormant member has 30+ days without interaction, and no
    # member with 30+ days is in another tier
    dormant = tiers["days_since_interaction"] >= 30
    assert (tiers.loc[dormant, "tier"] == "dormant").all()
    assert (tiers.loc[tiers["tier"] == "growing", "interactions_per_day"] >= 3).all()


def test_compare_tiers_segments():
    t = np.array(["a", "a", "b", "b", "c", "c"])
    s = np.array(["x", "x", "y", "y", "y", "z"])
    comp = compare_tiers_segments(t, s, tier_order=["c", "b", "a"])
    assert comp.ari == pytest.approx(adjusted_rand_score(t, s))
    assert list(comp.crosstab.index) == ["c", "b", "a"]
    assert comp.crosstab.loc["a", "x"] == 2 and comp.crosstab.to_numpy().sum() == 6
    assert "a -> mostly x (100%)" in comp.conclusion()
    with pytest.raises(ParameterError):
        compare_tiers_segments(t, s[:3])
