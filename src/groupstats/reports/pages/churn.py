"""The churn report: the 30-day rule's verdict, members at risk apart from the already silent."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import CATALOGUE, fmt_date, fmt_num, fmt_pct, join, t

RULE_DAYS = 30  # the playbook's "30 days silent = churned"


def feature_words(name: str, lang: str) -> str:
    key = f"feature.{name}"
    return t(key, lang) if key in CATALOGUE else name.replace("_", " ")


def _segment(seg: str, lang: str) -> str:
    word = str(seg).split(" ", 1)[0]
    key = f"churn.segment.{word}"
    return t(key, lang) if key in CATALOGUE else str(seg)


def rule_row(gone, day: int = RULE_DAYS):
    """The return-curve row at ``day`` of the segment with most silences that long (None if none)."""
    c = gone.curve.curve
    at = c.loc[(c["d"] == day) & np.isfinite(c["p_return"])]
    if at.empty:
        return None
    return at.sort_values("n_at_risk", ascending=False).iloc[0]


def card(risk, gone, lang: str = "zh") -> ConclusionCard:
    within = gone.curve.within
    row = rule_row(gone)
    question = t("churn.question", lang, days=RULE_DAYS)
    if row is None:
        answer, key = "needs_more_data", t("churn.key_none", lang, days=RULE_DAYS)
    else:
        answer = ("contradicted" if row["ci_low"] > gone.level else "supported" if row["ci_high"] < gone.level
                  else "not_shown")
        key = t("churn.key", lang, days=RULE_DAYS, p=fmt_pct(row["p_return"], lang, digits=0),
                low=fmt_pct(row["ci_low"], lang, digits=0), high=fmt_pct(row["ci_high"], lang, digits=0),
                within=f"{within:g}", segment=_segment(row["segment"], lang), n=fmt_num(row["n_at_risk"], lang))
    thr = gone.thresholds.get(row["segment"]) if row is not None else None
    at_risk = split_members(risk)[1]
    n_high = int((at_risk["risk"] > 0.5).sum())
    nxt = (t("churn.next_contradicted", lang, days=RULE_DAYS) if answer == "contradicted" else
           t("churn.next_supported", lang, days=RULE_DAYS) if answer == "supported" else "")
    if thr is not None:
        nxt += t("churn.next_threshold", lang, thr=f"{thr:g}", level=fmt_pct(gone.level, lang, digits=0))
    nxt += t("churn.next_contact", lang, n=fmt_num(n_high, lang), horizon=risk.definition.horizon)
    caveat = ""
    if risk.backtest is not None:
        m = risk.backtest.metrics.set_index(["model", "population"])
        if (risk.model, "active") in m.index and ("recency", "active") in m.index:
            caveat = t("churn.caveat", lang, auc=f"{m.loc[(risk.model, 'active'), 'roc_auc']:.2f}",
                       auc_recency=f"{m.loc[('recency', 'active'), 'roc_auc']:.2f}")
    return ConclusionCard(question=question, answer=answer, key_number=key, next_step=nxt, caveat=caveat, lang=lang)


def split_members(risk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(already silent at least the rule's days, present and at risk), each sorted by risk."""
    s = risk.scores.sort_values("risk", ascending=False, kind="stable")
    silent = s["silent_days"] >= RULE_DAYS
    return s.loc[silent], s.loc[~silent]


def _drivers(row, lang: str) -> str:
    names = [row[c] for c in ("driver_1", "driver_2", "driver_3") if isinstance(row.get(c), str) and row.get(c)]
    return join([feature_words(n, lang) for n in names], lang)


def show_members(risk, page, n: int = 20) -> None:
    lang = page.lang
    silent, active = split_members(risk)
    page.say(t("churn.split_sentence", lang, n=fmt_num(len(risk.scores), lang), date=fmt_date(risk.scoring_cutoff),
               silent=fmt_num(len(silent), lang), days=RULE_DAYS, active=fmt_num(len(active), lang),
               high=fmt_num(int((active["risk"] > 0.5).sum()), lang)))
    page.heading("churn.h.at_risk", level=3, n=n)
    top = active.head(n).copy()
    top["drivers"] = [_drivers(r, lang) for _, r in top.iterrows()]
    page.table(top, [("group_id", "col.group", "text"), ("member_id", "col.member", "text"),
                     ("risk", "churn.col.risk", "pct"), ("silent_days", "churn.col.silent_days", "days"),
                     ("drivers", "churn.col.drivers", "text")])
    page.caption("churn.drivers_note")
    page.heading("churn.h.silent", level=3)
    by_group = silent.groupby("group_id").agg(n=("member_id", "size"), median=("silent_days", "median"),
                                              longest=("silent_days", "max")).reset_index()
    page.table(by_group, [("group_id", "col.group", "text"), ("n", "churn.col.n_silent", "int"),
                          ("median", "churn.col.median_silent", "days"), ("longest", "churn.col.longest", "days")])


def show_backtest(risk, page) -> None:
    lang = page.lang
    bt = risk.backtest
    if bt is None:
        page.text("churn.no_backtest")
        return
    m = bt.metrics.copy()
    m["model_name"] = [t(f"churn.model.{x}", lang) if f"churn.model.{x}" in CATALOGUE else x for x in m["model"]]
    m["pop"] = [t(f"churn.pop.{x}", lang) for x in m["population"]]
    page.say(t("churn.backtest_sentence", lang, cutoff=fmt_date(bt.cutoffs["evaluation"]),
               horizon=bt.definition.horizon))
    page.table(m, [("model_name", "churn.col.model", "text"), ("pop", "churn.col.population", "text"),
                   ("n", "col.n", "int"), ("base_rate", "churn.col.base_rate", "pct"),
                   ("roc_auc", "churn.col.roc_auc", "num"), ("brier", "churn.col.brier", "num"),
                   ("capture_10", "churn.col.capture_10", "pct")])
    page.caption("churn.backtest_note")


def plot_return(gone, lang: str):
    """Return curves with their 95% bands, the level, the data's threshold and the 30-day rule."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.6))
    c = gone.curve.curve
    for seg, part in c.groupby("segment", sort=False):
        part = part.loc[np.isfinite(part["p_return"])]
        if part.empty:
            continue
        line, = ax.plot(part["d"], 100 * part["p_return"], label=_segment(seg, lang))
        ax.fill_between(part["d"], 100 * part["ci_low"], 100 * part["ci_high"], alpha=0.15, color=line.get_color())
        thr = gone.thresholds.get(seg)
        if thr is not None:
            ax.axvline(thr, color=line.get_color(), ls=":", lw=1.2,
                       label=t("churn.fig.threshold", lang, segment=_segment(seg, lang), thr=f"{thr:g}"))
    ax.axhline(100 * gone.level, color="grey", ls="--", lw=1, label=t("churn.fig.level", lang,
                                                                        level=fmt_pct(gone.level, lang, digits=0)))
    ax.axvline(RULE_DAYS, color="black", ls="--", lw=1, label=t("churn.fig.rule", lang, days=RULE_DAYS))
    ax.set_xlabel(t("churn.fig.x", lang))
    ax.set_ylabel(t("churn.fig.y", lang, within=f"{gone.curve.within:g}"))
    ax.set_ylim(0, 102)
    ax.set_title(t("churn.fig.title", lang, within=f"{gone.curve.within:g}"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def show_thresholds(gone, page) -> None:
    lang = page.lang
    tab = gone.threshold_table()
    tab["seg"] = [_segment(s, lang) for s in tab["segment"]]
    tab["thr"] = [t("churn.never", lang) if v is None or pd.isna(v) else f"{v:g}" for v in tab["suggested_threshold_days"]]
    page.table(tab, [("seg", "churn.col.segment", "text"), ("n_spells", "churn.col.spells", "int"),
                     ("thr", "churn.col.threshold", "text")])
