"""The churn report: the 30-day rule's verdict, members at risk apart from the already silent."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import CATALOGUE, fmt_date, fmt_num, fmt_pct, join, t

RULE_DAYS = 30  # the playbook's "30 days silent = churned"
ALL = "all"  # the segment of the all-members curve
#: Activity levels in reading order (the curve's segments are labelled "none (…)", "low (…)", …).
SEGMENT_ORDER = ("all", "none", "low", "medium", "high")


def feature_words(name: str, lang: str) -> str:
    key = f"feature.{name}"
    return t(key, lang) if key in CATALOGUE else name.replace("_", " ")


def _segment(seg: str, lang: str) -> str:
    word = str(seg).split(" ", 1)[0]
    key = f"churn.segment.{word}"
    return t(key, lang) if key in CATALOGUE else str(seg)


def all_members_return(ds, level: float = 0.2, within: float = 60, as_of=None, days=range(1, 181)):
    """The return curve of all members together (one segment, ``"all"``), computed as the playbook
    audit computes it for its rule ``silent_30d_churned``, so that the page and the audit quote the
    same 30-day figure (:func:`groupstats.analyses.churn.how_long_is_gone`)."""
    from groupstats.analyses.churn import how_long_is_gone

    keys = ds.members[["group_id", "member_id"]].drop_duplicates().assign(segment=ALL)
    return how_long_is_gone(ds, within=within, days=days, level=level, segments=keys, as_of=as_of)


def rule_row(gone, day: int = RULE_DAYS):
    """The return-curve row at ``day``: the all-members segment when the curve has it, else the
    segment with most silences that long (None if none)."""
    c = gone.curve.curve
    at = c.loc[(c["d"] == day) & np.isfinite(c["p_return"])]
    if at.empty:
        return None
    if (at["segment"] == ALL).any():
        return at.loc[at["segment"] == ALL].iloc[0]
    return at.sort_values("n_at_risk", ascending=False).iloc[0]


def card(risk, gone, lang: str = "zh") -> ConclusionCard:
    """The card of the churn result (:meth:`ChurnRiskResult.conclusion_card`) with the return curve ``gone``
    (the report passes :func:`all_members_return`, the playbook audit's population)."""
    return risk.conclusion_card(lang, silence=gone, rule_days=RULE_DAYS)


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


def _order(segments) -> list:
    rank = {w: i for i, w in enumerate(SEGMENT_ORDER)}
    return sorted(segments, key=lambda seg: rank.get(str(seg).split(" ", 1)[0], len(rank)))


def _curves(gone, overall):
    """(result, segment) pairs: all members first (when given), then the activity levels in order."""
    pairs = [(overall, ALL)] if overall is not None else []
    return pairs + [(gone, seg) for seg in _order(gone.curve.curve["segment"].unique())]


def plot_return(gone, lang: str, overall=None):
    """Return curves with their 95% bands, the level, the data's threshold and the 30-day rule:
    all members (``overall``, :func:`all_members_return`) in black, then by activity level."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.8))
    for i, (res, seg) in enumerate(_curves(gone, overall)):
        c = res.curve.curve
        part = c.loc[(c["segment"] == seg) & np.isfinite(c["p_return"])]
        if part.empty:
            continue
        colour = "black" if seg == ALL else f"C{i}"
        ax.plot(part["d"], 100 * part["p_return"], color=colour, lw=2.2 if seg == ALL else 1.3,
                label=_segment(seg, lang))
        ax.fill_between(part["d"], 100 * part["ci_low"], 100 * part["ci_high"], alpha=0.12, color=colour)
        thr = res.thresholds.get(seg)
        if thr is not None:
            ax.axvline(thr, color=colour, ls=":", lw=1.2,
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


def threshold_rows(gone, overall=None) -> pd.DataFrame:
    """One row per curve (all members first, then the activity levels in order): segment, n_spells,
    the rule's row (p_return, ci_low, ci_high at ``RULE_DAYS``; NaN when too few were silent that
    long), threshold (the suggested one, None if the curve never falls below the level), last_day
    (the longest silence the curve could estimate) and level."""
    rows = []
    for res, seg in _curves(gone, overall):
        c = res.curve.curve
        part = c.loc[(c["segment"] == seg) & np.isfinite(c["p_return"])]
        at = part.loc[part["d"] == RULE_DAYS]
        rows.append({"segment": seg, "n_spells": res.curve.n_spells.get(str(seg)),
                     "p_return": at["p_return"].iloc[0] if len(at) else np.nan,
                     "ci_low": at["ci_low"].iloc[0] if len(at) else np.nan,
                     "ci_high": at["ci_high"].iloc[0] if len(at) else np.nan,
                     "threshold": res.thresholds.get(seg), "last_day": part["d"].max() if len(part) else np.nan,
                     "level": res.level})
    return pd.DataFrame(rows)


def show_thresholds(gone, page, overall=None) -> None:
    """The table under the return curve: per curve its silences, the rule's chance with interval,
    and the suggested threshold (or how far the curve could be estimated)."""
    lang = page.lang
    tab = threshold_rows(gone, overall)
    tab["seg"] = [_segment(s, lang) for s in tab["segment"]]
    tab["rule"] = ["–" if not np.isfinite(p) else
                   f"{fmt_pct(p, lang)}({fmt_pct(lo, lang)}–{fmt_pct(hi, lang)})" if lang == "zh" else
                   f"{fmt_pct(p, lang)} ({fmt_pct(lo, lang)} to {fmt_pct(hi, lang)})"
                   for p, lo, hi in zip(tab["p_return"], tab["ci_low"], tab["ci_high"])]
    tab["thr"] = [f"{v:g}" if v is not None and pd.notna(v) else
                  t("churn.never_until", lang, dmax=f"{d:g}", level=fmt_pct(level, lang, digits=0))
                  if np.isfinite(d) else "–" for v, d, level in zip(tab["threshold"], tab["last_day"], tab["level"])]
    within = f"{gone.curve.within:g}"
    page.table(tab, [("seg", "churn.col.segment", "text"), ("n_spells", "churn.col.spells", "int"),
                     ("rule", t("churn.col.return_rule", lang, days=RULE_DAYS, within=within), "text"),
                     ("thr", "churn.col.threshold", "text")])
    if overall is not None:
        page.caption("churn.segments_note")
