"""The content-mix report: the experiment's card, compliance of the treated groups in the experiment
period only, the weekly metric by arm with a legend and readable dates."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import content_type_name, fmt_date, fmt_num, fmt_p, fmt_p_eq, fmt_pct, mix_text, t
from groupstats.reports.tables import translate_metric


def arm_name(arm: str, lang: str) -> str:
    """An arm in the page's language: control, a preset mix by its shares ('干货 30%, 轻互动 50%, …'),
    any other arm id as it is."""
    if arm == "control":
        return t("mix.control", lang)
    from groupstats.analyses.content_mix import mix_presets

    preset = mix_presets().get(str(arm))
    return mix_text(preset.shares, lang) if preset is not None else str(arm)


def card(exp, lang: str = "zh") -> ConclusionCard:
    row = exp.comparisons.iloc[0]
    metric = translate_metric(exp.metric, lang)
    sig = bool(row["significant"])
    answer = ("supported" if sig and row["rel_diff"] > 0 else "contradicted" if sig else "not_shown")
    more = row["rel_diff"] >= 0
    key = t("mix.key_more" if more else "mix.key_less", lang, arm=arm_name(row["arm"], lang), metric=metric,
            pct=fmt_pct(abs(row["rel_diff"]), lang, digits=0), low=fmt_pct(row["rel_ci_low"], lang, digits=0, signed=True),
            high=fmt_pct(row["rel_ci_high"], lang, digits=0, signed=True), p=fmt_p_eq(row["p_adjusted"]))
    nxt = t("mix.next_" + answer, lang, arm=arm_name(row["arm"], lang))
    caveat = t("mix.caveat", lang, mde=fmt_pct(row["mde_rel"], lang, digits=0), groups=int(len(exp.groups)))
    return ConclusionCard(question=t("mix.question", lang, arm=arm_name(row["arm"], lang), metric=metric),
                          answer=answer, key_number=key, next_step=nxt, caveat=caveat, lang=lang)


def experiment_period(ds, experiment_id: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    a = ds.assignments.loc[ds.assignments["experiment_id"] == experiment_id]
    return a["start_at"].min(), a["end_at"].max()


def show_effect(exp, page) -> None:
    lang = page.lang
    comp = exp.comparisons.copy()
    comp["label"] = [arm_name(a, lang) for a in comp["arm"]]
    comp["interval"] = [f"{fmt_pct(lo, lang, signed=True)} – {fmt_pct(hi, lang, signed=True)}"
                        for lo, hi in zip(comp["rel_ci_low"], comp["rel_ci_high"])]
    page.table(comp, [("label", "mix.col.arm", "text"), ("arm_mean", "mix.col.arm_mean", "num"),
                      ("control_mean", "mix.col.control_mean", "num"), ("rel_diff", "ab.col.rel_diff", "pct_signed"),
                      ("interval", "word.ci_adjusted", "text"), ("p_adjusted", "ab.col.p_adjusted", "p"),
                      ("mde_rel", "ab.col.mde", "pct")])
    page.caption("mix.effect_note", metric=translate_metric(exp.metric, lang))


def plot_by_arm(exp, lang: str):
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from groupstats.analyses.content_mix import MIX_METRICS

    num, den, _ = MIX_METRICS[exp.metric]
    weekly = exp.weekly.groupby(["arm", "week_start"])[[num, den]].sum()
    ratio = (weekly[num] / weekly[den]).rename("value").reset_index()
    fig, ax = plt.subplots(figsize=(10, 4))
    for arm, sub in ratio.groupby("arm"):
        ax.plot(sub["week_start"], sub["value"], marker="o", ms=3, label=arm_name(arm, lang))
    start = exp.weekly.loc[exp.weekly["period"] == "post", "week_start"].min()
    ax.axvline(start, color="black", lw=0.8, ls="--", label=t("mix.fig.start", lang))
    ax.xaxis.set_major_locator(mdates.MonthLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_ylabel(translate_metric(exp.metric, lang))
    ax.set_title(t("mix.fig.by_arm", lang, metric=translate_metric(exp.metric, lang)))
    ax.legend(title=t("mix.col.arm", lang), loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig


def treated_compliance(ds, exp, target_mix: str):
    """check_compliance for the treated groups in the experiment period only: (result, table)."""
    from groupstats.analyses.content_mix import check_compliance

    start, end = experiment_period(ds, exp.experiment_id)
    result = check_compliance(ds, target_mix, start=start.date(), end=(end - pd.Timedelta(days=1)).date())
    treated = exp.groups.loc[exp.groups["arm"] != exp.comparison.control, "group_id"]
    table = result.table.loc[result.table["group_id"].isin(treated)]
    return result, table, start, end


def show_compliance(table: pd.DataFrame, result, page, start, end, tz) -> None:
    lang = page.lang
    by_group = table.groupby("group_id").agg(weeks=("week_start", "size"), posts=("n_posts", "sum"),
                                             tv=("tv_distance", "mean"), excess=("excess_tv", "mean"),
                                             consistent=("consistent", "mean")).reset_index()
    by_group = by_group.sort_values("excess", ascending=False, kind="stable")
    page.say(t("mix.compliance_sentence", lang, target=mix_text(result.target.shares, lang), start=fmt_date(start, tz),
               end=fmt_date(end - pd.Timedelta(days=1), tz), groups=len(by_group),
               share=fmt_pct(table["consistent"].mean() if len(table) else np.nan, lang)))
    page.table(by_group, [("group_id", "col.group", "text"), ("weeks", "mix.col.weeks", "int"),
                          ("posts", "ab.col.posts", "int"), ("tv", "mix.col.tv", "pct"),
                          ("excess", "mix.col.excess", "pct_signed"), ("consistent", "mix.col.consistent", "pct")])
    page.caption("mix.compliance_note")


def plot_compliance(table: pd.DataFrame, lang: str):
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    for group, sub in table.groupby("group_id"):
        ax.plot(sub["week_start"], 100 * sub["excess_tv"], marker="o", ms=3, lw=1, label=str(group))
    ax.axhline(0, color="black", lw=0.8)
    ax.xaxis.set_major_locator(mdates.MonthLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_ylabel(t("mix.fig.excess", lang))
    ax.set_title(t("mix.fig.compliance", lang))
    ax.legend(title=t("col.group", lang), loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def show_observational(obs, page) -> None:
    lang = page.lang
    f = obs.to_frame().copy()
    f["arm"] = [content_type_name(a, lang) for a in f["arm"]]
    f["interval"] = [f"{fmt_pct(lo, lang, signed=True)} – {fmt_pct(hi, lang, signed=True)}"
                     for lo, hi in zip(f["rel_ci_low"], f["rel_ci_high"])]
    cols = [("arm", "mix.col.type", "text"), ("rel_diff", "ab.col.rel_diff", "pct_signed"),
            ("interval", "word.ci_adjusted", "text")]
    if "p_adjusted" in f:
        cols.append(("p_adjusted", "ab.col.p_adjusted", "p"))
    page.table(f, cols)
    page.caption("mix.observational_note",
                 control=content_type_name(obs.to_frame()["control"].iloc[0], lang) if "control" in f else "")
