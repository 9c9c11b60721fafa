"""The group-health report: card, thresholds vs groups, change vs own history, every alert."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import fmt_num, fmt_pct, join, t
from groupstats.reports.tables import translate_metric

#: A threshold that puts more than this share of group-weeks in alert says little about a group.
MOST = 0.5
RATE_METRICS = {"read_rate", "exit_rate_30d", "silent_share", "complaint_rate", "active_share"}


def _fmt_metric(metric: str, value, lang: str) -> str:
    return fmt_pct(value, lang) if metric in RATE_METRICS else fmt_num(value, lang)


def threshold_summary(result) -> pd.DataFrame:
    """Per metric: warning/alert levels, share of group-weeks in alert, groups in alert in the last week."""
    table = result.table
    last = table["week_start"].max()
    rows = []
    for metric, spec in result.thresholds["thresholds"].items():
        col = f"status_{metric}"
        if col not in table:
            continue
        alert = table[col] == "alert"
        rows.append({"metric": metric, "direction": spec["healthy"], "warning": spec["warning"],
                     "alert": spec["alert"], "share_alert": float(alert.mean()),
                     "groups_alert_last": int(alert[table["week_start"] == last].sum()),
                     "n_groups": int(table["group_id"].nunique()), "source": spec.get("source", "")})
    return pd.DataFrame(rows).sort_values("share_alert", ascending=False, kind="stable").reset_index(drop=True)


def change_ranking(result, metric: str = "messages_per_day", recent: int | None = None) -> pd.DataFrame:
    """Groups ranked by the change of ``metric``: mean of the last ``recent`` weeks vs the weeks before."""
    recent = recent or result.recent_weeks
    w = result.weekly.sort_values("week_start")
    weeks = np.sort(w["week_start"].unique())
    now = w.loc[w["week_start"].isin(weeks[-recent:])].groupby("group_id")[metric].mean()
    before = w.loc[w["week_start"].isin(weeks[:-recent])].groupby("group_id")[metric].mean()
    out = pd.DataFrame({"now": now, "before": before})
    out["change"] = out["now"] / out["before"] - 1
    out = out.reset_index().sort_values("change", kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def card(result, lang: str = "zh") -> ConclusionCard:
    table = result.table
    n = len(table)
    n_alert = int((table["status"] == "alert").sum())
    summary = threshold_summary(result)
    top = summary.iloc[0]
    most = summary.loc[summary["share_alert"] > MOST, "metric"].tolist()
    ranking = change_ranking(result)
    falling = ranking.loc[ranking["change"] < 0].head(3)
    question = t("health.question", lang)
    key = t("health.key", lang, n_alert=fmt_num(n_alert, lang), n=fmt_num(n, lang),
            share=fmt_pct(n_alert / n if n else np.nan, lang, digits=0),
            metric=translate_metric(top["metric"], lang), share_metric=fmt_pct(top["share_alert"], lang, digits=0))
    if most:
        answer = "contradicted"
        nxt = t("health.next_most", lang, metrics=join([translate_metric(m, lang) for m in most], lang))
    elif n_alert:
        answer = "supported"
        nxt = t("health.next_some", lang)
    else:
        answer = "supported"
        nxt = t("health.next_none", lang)
    if len(falling):
        nxt += t("health.next_falling", lang, groups=join(
            [f"{g}({fmt_pct(c, lang, digits=0, signed=True)})" if lang == "zh" else f"{g} ({fmt_pct(c, lang, digits=0, signed=True)})"
             for g, c in zip(falling["group_id"], falling["change"])], lang))
    caveat = t("health.caveat", lang)
    return ConclusionCard(question=question, answer=answer, key_number=key, next_step=nxt, caveat=caveat, lang=lang)


def show_thresholds(result, page) -> None:
    lang = page.lang
    summary = threshold_summary(result)
    summary["name"] = [translate_metric(m, lang) for m in summary["metric"]]
    summary["rule"] = [t(f"health.rule.{d}" if w is not None and pd.notna(w) else f"health.rule_alert.{d}", lang,
                         warning=_fmt_metric(m, w, lang), alert=_fmt_metric(m, a, lang))
                       for m, d, w, a in zip(summary["metric"], summary["direction"], summary["warning"], summary["alert"])]
    summary["groups_last"] = [f"{g} / {n}" for g, n in zip(summary["groups_alert_last"], summary["n_groups"])]
    page.table(summary, [("name", "health.col.metric", "text"), ("rule", "health.col.rule", "text"),
                         ("share_alert", "health.col.share_alert", "pct"),
                         ("groups_last", "health.col.groups_last", "text"), ("source", "health.col.source", "text")])
    for row in summary.itertuples(index=False):
        if row.share_alert > MOST:
            page.warn(t("health.flags_most", lang, metric=row.name, share=fmt_pct(row.share_alert, lang, digits=0)))


def group_positions(result) -> pd.DataFrame:
    """Each group's mean over the last weeks per metric, with its status against the threshold."""
    from groupstats.analyses.health import _judge

    weeks = np.sort(result.weekly["week_start"].unique())[-result.recent_weeks:]
    recent = result.weekly.loc[result.weekly["week_start"].isin(weeks)]
    metrics = [m for m in result.thresholds["thresholds"] if m in recent]
    means = recent.groupby("group_id")[metrics].mean()
    out = means.reset_index()
    for m in metrics:
        out[f"status_{m}"] = _judge(means[m].to_numpy(float), result.thresholds["thresholds"][m])
    return out


def show_positions(result, page) -> None:
    lang = page.lang
    pos = group_positions(result)
    metrics = [m for m in result.thresholds["thresholds"] if m in pos and m != "max_daily_complaints"]
    for m in metrics:
        pos[f"cell_{m}"] = [f"{_fmt_metric(m, v, lang)} · {t('status.' + s, lang)}"
                            for v, s in zip(pos[m], pos[f"status_{m}"])]
    cols = [("group_id", "col.group", "text")] + [(f"cell_{m}", f"metric.{m}", "text") for m in metrics]
    page.table(pos, cols)
    page.caption("health.positions_note", weeks=result.recent_weeks)


def show_change(result, page) -> None:
    lang = page.lang
    ranking = change_ranking(result)
    page.table(ranking, [("rank", "health.col.rank", "int"), ("group_id", "col.group", "text"),
                         ("before", "health.col.before", "num"), ("now", "health.col.now", "num"),
                         ("change", "health.col.change", "pct_signed")])
    page.caption("health.change_note", weeks=result.recent_weeks)


def alerted_metrics(result) -> list[str]:
    return [m for m in result.thresholds["thresholds"]
            if f"status_{m}" in result.table and (result.table[f"status_{m}"] == "alert").any() and m in result.weekly]


def plot_metric(result, metric: str, lang: str, ncols: int = 6):
    """Small multiples of one metric per group with the playbook's warning/alert levels and alert weeks."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    groups = sorted(result.weekly["group_id"].unique())
    nrows = int(np.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.9 * nrows + 0.9), sharex=True, sharey=True,
                             squeeze=False)
    spec = result.thresholds["thresholds"][metric]
    scale = 100 if metric in RATE_METRICS else 1
    for ax, group in zip(axes.flat, groups):
        sub = result.weekly.loc[result.weekly["group_id"] == group]
        ax.plot(sub["week_start"], scale * sub[metric], color="tab:blue", lw=1.2)
        bad = result.table.loc[(result.table["group_id"] == group) & (result.table[f"status_{metric}"] == "alert"),
                               "week_start"]
        hit = sub.loc[sub["week_start"].isin(bad)]
        ax.scatter(hit["week_start"], scale * hit[metric], color="red", s=9, zorder=3)
        for level, color in (("warning", "orange"), ("alert", "red")):
            if spec[level] is not None:
                ax.axhline(scale * spec[level], color=color, ls="--", lw=0.8)
        ax.set_title(str(group), fontsize=9)
        ax.xaxis.set_major_locator(mdates.MonthLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    unit = " (%)" if scale == 100 else ""
    fig.suptitle(t("health.fig.title", lang, metric=translate_metric(metric, lang) + unit), fontsize=11)
    handles = [Line2D([], [], color="tab:blue", lw=1.2, label=t("health.fig.weekly", lang)),
               Line2D([], [], color="orange", ls="--", label=t("health.fig.warning", lang)),
               Line2D([], [], color="red", ls="--", label=t("health.fig.alert", lang)),
               Line2D([], [], color="red", marker="o", ls="", markersize=4, label=t("health.fig.alert_week", lang))]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    return fig


def show_alerts(result, page) -> None:
    table = result.table.loc[result.table["status"].isin(["warning", "alert"])].sort_values(
        ["week_start", "group_id"], ascending=[False, True], kind="stable")
    page.table(table, [("group_id", "col.group", "text"), ("week_start", "col.week", "date"),
                       ("lifecycle_stage", "col.stage", "stage"), ("status", "col.status", "status"),
                       ("alerts", "health.col.alerts", "metrics"), ("warnings", "health.col.warnings", "metrics")],
               tall=True)
    page.caption("health.alerts_note", n=fmt_num(len(table), page.lang))


def show_lifecycle(result, page) -> None:
    life = result.lifecycle_summary().reset_index()
    page.table(life, [("lifecycle_stage", "col.stage", "stage"), ("group_weeks", "health.col.group_weeks", "int"),
                      ("groups", "ab.col.groups", "int"), ("messages_per_day", "metric.messages_per_day", "num"),
                      ("active_share", "metric.active_share", "pct"), ("read_rate", "metric.read_rate", "pct"),
                      ("exit_rate_30d", "metric.exit_rate_30d", "pct")])
