"""Conclusion cards and page pieces built from analysis results on the sample, in both languages."""
from __future__ import annotations

import re

import numpy as np
import pytest

from groupstats.reports.i18n import fmt_pct, t


@pytest.fixture(scope="module")
def slot_result(sample):
    from groupstats.analyses.slot_experiment import analyse_slot_experiment

    return analyse_slot_experiment(sample, "slot_switchback", "replies")


@pytest.fixture(scope="module")
def health_result(sample):
    from groupstats.analyses.health import assess_health

    return assess_health(sample)


def test_slot_card_states_the_best_slot_with_its_interval(slot_result):
    comp = slot_result.comparisons
    zh, en = slot_result.conclusion_card("zh"), slot_result.conclusion_card("en")
    sig = comp.loc[comp["significant"].astype(bool)]
    best = comp.sort_values("rel_diff", ascending=False).iloc[0]
    # the verdict matches the intervals: supported only when a slot's interval lies above 0
    assert (zh.answer == "supported") == bool((sig["rel_ci_low"] > 0).any())
    assert zh.answer == en.answer
    windows = slot_result.summary["slots"]
    assert best["arm"] == "evening" and "晚间(19:00–21:00)" in zh.key_number
    assert f"evening ({windows['evening'].replace('-', '–')}) slot" in en.key_number
    assert "p < 0.001" in en.key_number or "p = 0." in en.key_number
    assert fmt_pct(abs(best["rel_diff"]), digits=0) in zh.key_number
    assert fmt_pct(best["rel_ci_low"], digits=0, signed=True) in zh.key_number
    assert fmt_pct(comp["mde_rel"].max(), digits=0) in zh.caveat         # the smallest detectable effect
    assert not re.search(r"[A-Za-z]{4,}", zh.question + zh.key_number + zh.next_step + zh.caveat)


def test_slot_card_not_shown_when_no_slot_differs(slot_result):
    import copy

    flat = copy.copy(slot_result)
    flat.comparison = copy.copy(slot_result.comparison)
    comps = slot_result.comparisons.copy()
    comps["significant"] = False
    flat.comparison.comparisons = comps
    card = flat.conclusion_card("en")
    assert card.answer == "not_shown" and "Do not change the posting time" in card.next_step


def test_health_card_says_when_thresholds_flag_most_groups(health_result):
    from groupstats.reports.pages.health import MOST, change_ranking, threshold_summary

    card = health_result.conclusion_card("zh")
    summary = threshold_summary(health_result)
    n_alert = int((health_result.table["status"] == "alert").sum())
    assert f"{n_alert:,}" in card.key_number
    assert (card.answer == "contradicted") == bool((summary["share_alert"] > MOST).any())
    assert t("metric.read_rate", "zh") in card.next_step
    shares = {m: float((health_result.table[f"status_{m}"] == "alert").mean()) for m in summary["metric"]}
    assert dict(zip(summary["metric"], summary["share_alert"])) == pytest.approx(shares)
    ranking = change_ranking(health_result)
    w = health_result.weekly
    weeks = np.sort(w["week_start"].unique())
    g = ranking["group_id"].iloc[0]
    now = w.loc[(w["group_id"] == g) & w["week_start"].isin(weeks[-4:]), "messages_per_day"].mean()
    before = w.loc[(w["group_id"] == g) & w["week_start"].isin(weeks[:-4]), "messages_per_day"].mean()
    assert ranking["change"].iloc[0] == pytest.approx(now / before - 1)
    assert ranking["change"].is_monotonic_increasing


def test_mix_card_matches_the_comparison(sample):
    from groupstats.analyses.content_mix import analyse_mix_experiment

    exp = analyse_mix_experiment(sample, "mix_policy")
    row = exp.comparisons.iloc[0]
    card = exp.conclusion_card("en")
    expected = "supported" if row["significant"] and row["rel_diff"] > 0 else (
        "contradicted" if row["significant"] else "not_shown")
    assert card.answer == expected
    assert fmt_pct(abs(row["rel_diff"]), digits=0) in card.key_number
    assert str(len(exp.groups)) in card.caveat
