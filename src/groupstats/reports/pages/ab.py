"""The posting-time A/B report: card, design (with the slot windows), effects, figures."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import fmt_date, fmt_num, fmt_p, fmt_p_eq, fmt_pct, join, slot_name, t
from groupstats.reports.tables import translate_metric


def _window(result, arm: str) -> str:
    slots = (result.summary or {}).get("slots") or {}
    return str(slots.get(arm, "")).replace("-", "–")


def arm_label(result, arm: str, lang: str) -> str:
    """'晚间(19:00–21:00)' / 'evening (19:00–21:00)'; arms that are not slots stay as they are."""
    window = _window(result, arm)
    name = slot_name(arm, lang)
    if not window:
        return name
    return f"{name}({window})" if lang == "zh" else f"{name} ({window})"


def _by_time(result, frame: pd.DataFrame, column: str = "arm") -> pd.DataFrame:
    """Rows in the order of the day (by their slot's window; arms without a window last)."""
    key = [_window(result, a) or "~" for a in frame[column]]
    return frame.iloc[sorted(range(len(frame)), key=lambda i: key[i])]


def comparison_labels(comp: pd.DataFrame, lang: str) -> list[str]:
    """'晚间 对比 早间' / 'evening vs morning' for each comparison row (the effects table's first column)."""
    return [f"{slot_name(a, lang)} vs {slot_name(c, lang)}" if lang == "en" else
            f"{slot_name(a, lang)} 对比 {slot_name(c, lang)}" for a, c in zip(comp["arm"], comp["control"])]


def card(result, lang: str = "zh") -> ConclusionCard:
    """The conclusion of a slot experiment (``SlotExperimentResult``)."""
    comp = result.comparisons
    metric = translate_metric(result.metric, lang)
    control = arm_label(result, result.control, lang)
    question = t("ab.question", lang, metric=metric, control=control)
    sig = comp.loc[comp["significant"].astype(bool)]
    best = (sig if len(sig) else comp).sort_values("rel_diff", ascending=False).iloc[0]
    if len(sig) and (sig["rel_diff"] > 0).any():
        answer = "supported"
        best = sig.sort_values("rel_diff", ascending=False).iloc[0]
    elif len(sig):
        answer = "contradicted"
    else:
        answer = "not_shown"
    more = best["rel_diff"] >= 0
    key = t("ab.key_more" if more else "ab.key_less", lang, arm=arm_label(result, best["arm"], lang),
            metric=metric, control=slot_name(result.control, lang), pct=fmt_pct(abs(best["rel_diff"]), lang, digits=0),
            low=fmt_pct(best["rel_ci_low"], lang, digits=0, signed=True),
            high=fmt_pct(best["rel_ci_high"], lang, digits=0, signed=True), p=fmt_p_eq(best["p_adjusted"]))
    if answer == "supported":
        nxt = t("ab.next_supported", lang, arm=arm_label(result, best["arm"], lang))
    elif answer == "contradicted":
        nxt = t("ab.next_contradicted", lang, control=control)
    else:
        nxt = t("ab.next_not_shown", lang)
    # each comparison's MDE, labelled and formatted as in the effects table (show_effects)
    ordered = _by_time(result, comp)  # in the effects table's order
    mdes = [f"{label} ±{fmt_pct(m, lang)}" for label, m in zip(comparison_labels(ordered, lang), ordered["mde_rel"])]
    caveat = t("ab.caveat", lang, mdes=join(mdes, lang))
    compliance = (result.summary or {}).get("compliance")
    if compliance is not None and np.isfinite(compliance):
        caveat += t("ab.caveat_compliance", lang, share=fmt_pct(compliance, lang, digits=0))
    if not result.srm["ok"]:
        answer = "needs_more_data"
        caveat = t("ab.srm_bad", lang, p=fmt_p_eq(result.srm["p_value"])) + caveat
    return ConclusionCard(question=question, answer=answer, key_number=key, next_step=nxt, caveat=caveat, lang=lang)


def show_design(result, page, tz: str | None = None) -> None:
    lang = page.lang
    s = result.summary
    page.say(t("ab.design_sentence", lang, design=t(f"ab.design.{result.design}", lang), groups=s["n_groups"],
               periods=s["n_periods"], posts=fmt_num(s["n_posts"], lang), start=fmt_date(s["start"], tz),
               end=fmt_date(s["end"], tz), control=arm_label(result, result.control, lang)))
    arms = _by_time(result, result.arms.merge(result.compliance[["arm", "n_posts"]], on="arm", how="left"))
    arms["slot"] = [slot_name(a, lang) for a in arms["arm"]]
    arms["window"] = [_window(result, a) or "–" for a in arms["arm"]]
    alloc = (s.get("allocation") or {})
    arms["allocated"] = [alloc.get(a) for a in arms["arm"]]
    page.table(arms, [("slot", "ab.col.slot", "text"), ("window", "ab.col.window", "text"),
                      ("allocated", "ab.col.allocated", "int"), ("n_posts", "ab.col.posts", "int"),
                      ("n_clusters", "ab.col.groups", "int"), ("compliance", "ab.col.compliance", "pct")])
    srm = result.srm
    page.say(t("ab.srm_ok" if srm["ok"] else "ab.srm_bad", lang, p=fmt_p_eq(srm["p_value"])))


def show_effects(result, page) -> None:
    lang = page.lang
    comp = _by_time(result, result.comparisons.copy())
    comp["label"] = comparison_labels(comp, lang)
    comp["interval"] = [f"{fmt_pct(lo, lang, signed=True)} – {fmt_pct(hi, lang, signed=True)}"
                        for lo, hi in zip(comp["rel_ci_low"], comp["rel_ci_high"])]
    comp["verdict"] = [t("verdict.supported" if s else "verdict.not_shown", lang) for s in comp["significant"]]
    page.table(comp, [("label", "ab.col.comparison", "text"), ("arm_mean", "ab.col.arm_mean", "num"),
                      ("control_mean", "ab.col.control_mean", "num"), ("rel_diff", "ab.col.rel_diff", "pct_signed"),
                      ("interval", "word.ci_adjusted", "text"), ("p_adjusted", "ab.col.p_adjusted", "p"),
                      ("mde_rel", "ab.col.mde", "pct"), ("verdict", "card.answer", "text")])
    page.caption("ab.means_note", metric=translate_metric(result.metric, lang))


def plot_effects(result, lang: str):
    import matplotlib.pyplot as plt

    comp = result.comparisons
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(comp) + 1.6))
    pos = np.arange(len(comp))
    for i, row in enumerate(comp.itertuples(index=False)):
        color = "tab:red" if bool(row.significant) else "tab:gray"
        ax.errorbar(100 * row.rel_diff, i, xerr=[[100 * (row.rel_diff - row.rel_ci_low)],
                                                 [100 * (row.rel_ci_high - row.rel_diff)]],
                    fmt="o", color=color, capsize=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(pos)
    ax.set_yticklabels([arm_label(result, a, lang) for a in comp["arm"]])
    ax.set_xlabel(t("ab.fig.xlabel", lang, metric=translate_metric(result.metric, lang),
                    control=slot_name(result.control, lang)))
    ax.set_ylim(-0.6, len(comp) - 0.4)
    ax.set_title(t("ab.fig.title", lang, metric=translate_metric(result.metric, lang),
                   control=slot_name(result.control, lang)), fontsize=10)
    fig.tight_layout()
    return fig


def plot_heatmap(heat: pd.DataFrame, lang: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    days = [t(f"weekday.{i}", lang) for i in range(7)]
    heat = heat.copy()
    if len(heat.index) == 7:
        heat.index = days
    fig, ax = plt.subplots(figsize=(11, 3.4))
    sns.heatmap(heat, cmap="mako_r", ax=ax, cbar_kws={"label": t("ab.fig.heat_cbar", lang)})
    ax.set_xlabel(t("ab.fig.heat_x", lang))
    ax.tick_params(axis="y", rotation=0)
    ax.set_ylabel("")
    ax.set_title(t("ab.fig.heat_title", lang))
    fig.tight_layout()
    return fig
