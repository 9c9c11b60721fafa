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
    # the smallest detectable effect of EACH comparison, labelled and formatted as in the effects table
    from groupstats.reports.pages.ab import comparison_labels

    for card, lang in ((zh, "zh"), (en, "en")):
        for label, mde in zip(comparison_labels(comp, lang), comp["mde_rel"]):
            assert f"{label} ±{fmt_pct(mde, lang)}" in card.caveat
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
    from groupstats.reports.pages.health import MOST, threshold_summary

    card = health_result.conclusion_card("zh")
    summary = threshold_summary(health_result)
    n_alert = int((health_result.table["status"] == "alert").sum())
    assert f"{n_alert:,}" in card.key_number
    assert (card.answer == "contradicted") == bool((summary["share_alert"] > MOST).any())
    assert t("metric.read_rate", "zh") in card.next_step
    shares = {m: float((health_result.table[f"status_{m}"] == "alert").mean()) for m in summary["metric"]}
    assert dict(zip(summary["metric"], summary["share_alert"])) == pytest.approx(shares)
    # the next step names the groups that moved furthest from their own history
    worse = health_result.history.loc[health_result.history["verdict"] == "worse"]
    first = worse.sort_values("worsening", ascending=False).iloc[0]
    assert first["group_id"] in card.next_step and t(f"metric.{first['metric']}", "zh") in card.next_step


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


# --------------------------------------------------------------- health: each group against its own history
def test_own_history_matches_a_hand_computation(health_result):
    """Recent weeks (weighted by their days) against the 8 weeks before, for every judged metric."""
    from groupstats.analyses.health import UNUSUAL_Z

    h, w = health_result.history, health_result.weekly
    assert set(h["metric"]) == set(health_result.thresholds["thresholds"])
    assert len(h) == w["group_id"].nunique() * len(health_result.thresholds["thresholds"])
    weeks = np.sort(w["week_start"].unique())
    recent, base = weeks[-4:], weeks[:-4][-8:]
    for group, metric in (("g00", "read_rate"), ("g07", "complaint_rate"), ("g11", "messages_per_day"),
                          ("g03", "exit_rate_30d")):
        sub = w.loc[w["group_id"] == group]
        r, b = sub.loc[sub["week_start"].isin(recent)], sub.loc[sub["week_start"].isin(base)]
        now = np.average(r[metric], weights=r["days"])
        before = np.average(b[metric], weights=b["days"])
        se = b[metric].std(ddof=1) * np.sqrt(1 / (r["days"].sum() / 7) + 1 / len(b))
        row = h.loc[(h["group_id"] == group) & (h["metric"] == metric)].iloc[0]
        assert row["now"] == pytest.approx(now) and row["before"] == pytest.approx(before)
        assert row["z"] == pytest.approx((now - before) / se)
        sign = -1 if health_result.thresholds["thresholds"][metric]["healthy"] == "above" else 1
        expected = "worse" if sign * row["z"] >= UNUSUAL_Z else "better" if sign * row["z"] <= -UNUSUAL_Z else "steady"
        assert row["verdict"] == expected


def test_own_history_flags_a_planted_drop_and_ranks_by_change():
    """Synthetic weeks: one group's read rate drops in the last 4 weeks, one's rises, one stays; a
    group far below the threshold but steady is not ranked above the one that changed."""
    import pandas as pd

    from groupstats.analyses.health import own_history

    rng = np.random.default_rng(3)
    weeks = pd.date_range("2026-01-05", periods=12, freq="7D")
    level = {"drop": 0.80, "rise": 0.70, "steady": 0.70, "low": 0.30}
    rows = []
    for g, base in level.items():
        noise = rng.normal(0, 0.01, len(weeks))
        shift = np.where(np.arange(len(weeks)) >= 8, {"drop": -0.08, "rise": 0.08}.get(g, 0.0), 0.0)
        rows += [{"group_id": g, "week_start": wk, "days": 7, "read_rate": base + n + s}
                 for wk, n, s in zip(weeks, noise, shift)]
    weekly = pd.DataFrame(rows)
    spec = {"thresholds": {"read_rate": {"healthy": "above", "warning": 0.75, "alert": 0.65}}}
    h = own_history(weekly, spec, recent_weeks=4, baseline_weeks=8).set_index("group_id")
    assert h.loc["drop", "verdict"] == "worse" and h.loc["rise", "verdict"] == "better"
    assert h.loc["steady", "verdict"] == "steady" and h.loc["low", "verdict"] == "steady"
    assert h.loc["drop", "change"] == pytest.approx(-0.08, abs=0.02)
    # direction follows the threshold: the same drop in a 'below is healthy' metric is better
    spec_below = {"thresholds": {"read_rate": {"healthy": "below", "warning": 0.75, "alert": 0.65}}}
    assert own_history(weekly, spec_below, 4, 8).set_index("group_id").loc["drop", "verdict"] == "better"


def test_health_page_shows_own_history_for_every_metric(batch_records, health_result):
    """The executed page (the session's report batch): an own-history column and a position column
    for every judged metric, a trend figure for every alerted metric, and the numbers are the
    analysis's."""
    import pandas as pd

    rec = batch_records("group_health")
    judged = list(health_result.thresholds["thresholds"])
    assert rec["judged_metrics"] == judged
    assert rec["history_metrics"] == judged
    assert rec["position_metrics"] == judged
    alerted = [m for m in judged if (health_result.table[f"status_{m}"] == "alert").any()]
    assert rec["alerted_metrics"] == alerted
    shown = pd.DataFrame(rec["own_history"]).set_index(["group_id", "metric"]).sort_index()
    mine = health_result.history.set_index(["group_id", "metric"]).sort_index()
    for col in ("before", "now", "z"):
        assert shown[col].to_numpy(float) == pytest.approx(mine[col].to_numpy(float), nan_ok=True)
    ranking = pd.DataFrame(rec["change_ranking"])
    assert ranking["worst_worsening"].is_monotonic_decreasing
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))


# --------------------------------------------------------------- monitor: the legend stays out of the data
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_monitor_legend_sits_outside_the_bands(lang):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from groupstats.analyses.monitor import MonitorResult
    from groupstats.reports.notebook import setup_plots

    setup_plots(lang)
    dates = pd.date_range("2026-01-26", periods=8, freq="7D")
    rows = [{"date": d, "arm": arm, "rel_diff": eff, "rel_low": eff - 0.6 / (i + 1) ** 0.5,
             "rel_high": eff + 0.6 / (i + 1) ** 0.5, "rel_low_fixed": eff - 0.2, "rel_high_fixed": eff + 0.2,
             "prob_better": 0.9} for i, d in enumerate(dates) for arm, eff in (("evening", 0.4), ("noon", 0.15))]
    res = MonitorResult(experiment="x", metric="replies", design="switchback", control="morning",
                        timeline=pd.DataFrame(rows), planned_start=pd.Timestamp("2026-01-05", tz="Asia/Shanghai"),
                        planned_end=pd.Timestamp("2026-03-23", tz="Asia/Shanghai"),
                        last_look=pd.Timestamp("2026-03-16", tz="Asia/Shanghai"), mde=0.1, alpha=0.05, n_opt=1000.0,
                        prior_sd=0.3, recommendation={"code": "continue", "arm": "evening", "days_left": 7})
    fig = res.plot(lang)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == 6        # band, line and fixed interval per arm
    renderer = fig.canvas.get_renderer()
    box, data = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.x0 >= data.x1                                           # right of the plotting area
    assert box.x1 <= fig.bbox.x1 + 1                                   # and not cut off by the figure
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------- churn page and audit: one 30-day figure
def test_churn_page_quotes_the_audits_30_day_return(batch_records):
    churn, audit = batch_records("churn_risk"), batch_records("playbook_audit")
    page, rule = churn["return_rule_all"], audit["silent_30d"]
    assert page["d"] == 30
    assert page["p_return"] == pytest.approx(rule["estimate"], rel=1e-12)
    assert page["ci_low"] == pytest.approx(rule["ci_low"], rel=1e-12)
    assert page["ci_high"] == pytest.approx(rule["ci_high"], rel=1e-12)
    assert churn["return_threshold_all"] == rule["suggested_threshold_days"]
    card = churn["card"]
    assert fmt_pct(page["p_return"], "zh", digits=0) in card["key_number"]
    assert t("churn.segment.all", "zh") in card["key_number"]          # the population is named
    level = 0.2                                                        # both notebooks' default
    expected = "contradicted" if page["ci_low"] > level else "supported" if page["ci_high"] < level else "not_shown"
    assert card["answer"] == expected


# --------------------------------------------------------------- health on short or small data
def test_health_card_on_one_group_needs_more_data(health_result):
    """With one group, 'does a threshold separate groups?' cannot be answered: not 'contradicted'."""
    from groupstats.analyses.health import HealthResult

    r = health_result
    keep = lambda frame: frame.loc[frame["group_id"] == "g00"].reset_index(drop=True)  # noqa: E731
    one = HealthResult(keep(r.weekly), keep(r.daily), keep(r.table), keep(r.attention), r.thresholds,
                       r.recent_weeks)
    for lang in ("zh", "en"):
        card = one.conclusion_card(lang)
        assert card.answer == "needs_more_data"
        assert t("health.next_few_groups", lang, n=1) in card.next_step
    assert r.conclusion_card("en").answer == "contradicted"             # twelve groups: judged as before


def test_thirty_day_rates_need_a_week_of_data(sample):
    """Three days of data: no exit rate scaled to 30 days (it would extrapolate 3 days x 10)."""
    from groupstats.analyses.health import group_week_health

    short = group_week_health(sample, end="2026-01-07")
    assert (short["days"] == 3).all()
    assert short["exit_rate_30d"].isna().all() and short["join_rate_30d"].isna().all()
    full = group_week_health(sample, end="2026-01-11")
    assert (full["days"] == 7).all() and full["exit_rate_30d"].notna().all()
    expected = full["n_exits"] / full["n_members"] * 30 / 7
    assert full["exit_rate_30d"].to_numpy() == pytest.approx(expected.to_numpy())


def test_churn_page_table_lists_all_members_first_then_activity_levels(batch_records):
    records = batch_records("churn_risk")["return_rows"]          # one dict per row of the table
    segments = [str(r["segment"]).split(" ", 1)[0] for r in records]
    assert segments[0] == "all"
    order = ["none", "low", "medium", "high"]
    assert segments[1:] == [s for s in order if s in segments[1:]]
    rule = batch_records("churn_risk")["return_rule_all"]
    assert records[0]["p_return"] == pytest.approx(rule["p_return"])
    for r in records:  # a curve that stops before day 30 has no 30-day figure, one that reaches it has
        p = r["p_return"]
        assert (p is None or not np.isfinite(p)) == (r["last_day"] < 30)


# --------------------------------------------------------------- A/B page: the caveat quotes the table's MDEs
def test_ab_page_caveat_quotes_each_comparisons_mde(batch_records):
    import pandas as pd

    from groupstats.reports.i18n import slot_name

    rec = batch_records("posting_time_ab")
    comp = pd.DataFrame(rec["comparisons"])
    caveat = rec["card"]["caveat"]
    assert len(comp) >= 2
    for row in comp.itertuples():
        label = f"{slot_name(row.arm, 'zh')} 对比 {slot_name(row.control, 'zh')}"
        assert f"{label} ±{fmt_pct(row.mde_rel, 'zh')}" in caveat


# --------------------------------------------------------------- audit page: labels in code type, one by one
def test_audit_zh_code_spans_hold_labels_not_numbers_or_chinese():
    import html as _html

    from groupstats.analyses.audit.run import html_text

    text = ("实验 slot_switchback: 组 evening(19-21 点) 对 组 morning(07-09 点) +42.1%(97.5% 区间 +27.7%–+58.9%,"
            "p < 0.001);经 Holm 校正。运行 groupstats mix DATA --experiment ID 或 groupstats audit DATA。")
    out = html_text(text, "zh")
    spans = re.findall(r"<code>(.*?)</code>", out)
    assert spans == ["slot_switchback", "evening", "morning", "Holm", "groupstats mix DATA --experiment ID",
                     "groupstats audit DATA"]
    assert _html.unescape(re.sub(r"</?code>", "", out)) == text          # nothing lost or added
    assert html_text(text, "en") == _html.escape(text)                   # English pages: plain text
