"""The group-health report: card, thresholds vs groups, change vs own history, every alert."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.analyses.health import LIFECYCLE_STAGES, UNUSUAL_Z
from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import fmt_num, fmt_pct, join, t
from groupstats.reports.tables import translate_metric

#: A threshold that puts more than this share of group-weeks in alert says little about a group.
MOST = 0.5
#: Fewest groups with which "does a threshold separate groups?" can be asked at all.
MIN_GROUPS = 3
RATE_METRICS = {"read_rate", "exit_rate_30d", "silent_share", "complaint_rate", "active_share", "exit_rate",
                "join_rate", "join_rate_30d"}


def _fmt_metric(metric: str, value, lang: str) -> str:
    return fmt_pct(value, lang) if metric in RATE_METRICS else fmt_num(value, lang)


#: Small counts whose change reads better as a difference than as a ratio (0.3 -> 2.3 is not "+664%").
ABSOLUTE_METRICS = {"max_daily_complaints", "red_packets_per_day", "n_members"}


def fmt_change(metric: str, before, now, lang: str) -> str:
    """A change against the group's own history: percentage points (one decimal) for shares and
    rates, a difference for small counts, a relative change otherwise (a difference when the
    earlier level was 0)."""
    if not (np.isfinite(before) and np.isfinite(now)):
        return "–"
    if metric in RATE_METRICS:
        pts = f"{100 * (now - before):+.1f}"
        return t("health.pp", lang, v="0.0" if pts in ("+0.0", "-0.0") else pts)
    if metric in ABSOLUTE_METRICS or before == 0:
        return fmt_num(now - before, lang, signed=True)
    return fmt_pct(now / before - 1, lang, digits=0, signed=True)


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


def card(result, lang: str = "zh") -> ConclusionCard:
    table = result.table
    n = len(table)
    n_alert = int((table["status"] == "alert").sum())
    summary = threshold_summary(result)
    top = summary.iloc[0]
    n_groups = int(table["group_id"].nunique())
    most = summary.loc[summary["share_alert"] > MOST, "metric"].tolist() if n_groups >= MIN_GROUPS else []
    hist = result.history
    worse = hist.loc[hist["verdict"] == "worse"].sort_values("worsening", ascending=False, kind="stable") \
        .drop_duplicates("group_id").head(3)
    question = t("health.question", lang)
    key = t("health.key", lang, n_alert=fmt_num(n_alert, lang), n=fmt_num(n, lang),
            share=fmt_pct(n_alert / n if n else np.nan, lang, digits=0),
            metric=translate_metric(top["metric"], lang), share_metric=fmt_pct(top["share_alert"], lang, digits=0))
    if n_groups < MIN_GROUPS:  # one or two groups: whether a threshold separates groups cannot be judged
        answer = "needs_more_data"
        nxt = t("health.next_few_groups", lang, n=n_groups) + t("health.next_some" if n_alert else "health.next_none",
                                                                  lang)
    elif most:
        answer = "contradicted"
        nxt = t("health.next_most", lang, metrics=join([translate_metric(m, lang) for m in most], lang))
    elif n_alert:
        answer = "supported"
        nxt = t("health.next_some", lang)
    else:
        answer = "supported"
        nxt = t("health.next_none", lang)
    if len(worse):
        items = []
        for r in worse.itertuples(index=False):
            what = f"{translate_metric(r.metric, lang)} {fmt_change(r.metric, r.before, r.now, lang)}"
            items.append(f"{r.group_id}({what})" if lang == "zh" else f"{r.group_id} ({what})")
        nxt += t("health.next_worse", lang, groups=join(items, lang))
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
        if row.share_alert > MOST and summary["n_groups"].iloc[0] >= MIN_GROUPS:
            page.warn(t("health.flags_most", lang, metric=row.name, share=fmt_pct(row.share_alert, lang, digits=0)))


def group_positions(result) -> pd.DataFrame:
    """Each group's mean over the last weeks per metric, with its status against the threshold."""
    from groupstats.analyses.health import _judge

    weeks = np.sort(result.weekly["week_start"].unique())[-result.recent_weeks:]
    recent = result.weekly.loc[result.weekly["week_start"].isin(weeks)]
    metrics = [m for m in result.thresholds["thresholds"] if m in recent]
    # a day's maximum is judged by the largest of the weeks, every other metric by the mean
    means = recent.groupby("group_id")[metrics].agg({m: "max" if m.startswith("max_") else "mean" for m in metrics})
    out = means.reset_index()
    for m in metrics:
        out[f"status_{m}"] = _judge(means[m].to_numpy(float), result.thresholds["thresholds"][m])
    return out


def show_positions(result, page) -> None:
    lang = page.lang
    pos = group_positions(result)
    metrics = [m for m in result.thresholds["thresholds"] if m in pos]
    for m in metrics:
        pos[f"cell_{m}"] = [f"{_fmt_metric(m, v, lang)} · {t('status.' + s, lang)}"
                            for v, s in zip(pos[m], pos[f"status_{m}"])]
    cols = [("group_id", "col.group", "text")] + [(f"cell_{m}", f"metric.{m}", "text") for m in metrics]
    page.table(pos, cols)
    page.caption("health.positions_note", weeks=result.recent_weeks)


def history_table(result, lang: str) -> pd.DataFrame:
    """One row per group, ranked by change against its own history (see
    :meth:`~groupstats.analyses.health.HealthResult.change_ranking`): rank, group_id, worst (the
    metric that worsened most, in words, when one is worse than usual), n_worse, and
    ``hist_<metric>`` for every judged metric: the change, and its verdict when it is beyond the
    group's usual variation (``-4.2 个百分点 · 变差``)."""
    ranking = result.change_ranking()
    hist = result.history
    metrics = [m for m in result.thresholds["thresholds"] if m in set(hist["metric"])]
    # a verdict only where the change is beyond the group's usual variation: the cells that matter stand out
    cells = {(r.group_id, r.metric): fmt_change(r.metric, r.before, r.now, lang)
             + (f" · {t('health.history.' + r.verdict, lang)}" if r.verdict in ("worse", "better") else "")
             for r in hist.itertuples(index=False)}
    groups = list(ranking["group_id"]) + sorted(set(hist["group_id"]) - set(ranking["group_id"]))
    out = ranking.set_index("group_id").reindex(groups).reset_index()
    out["worst"] = [translate_metric(m, lang) if isinstance(m, str) and n > 0 else "–"
                    for m, n in zip(out["worst_metric"], out["n_worse"].fillna(0))]
    for m in metrics:
        out[f"hist_{m}"] = [cells.get((g, m), "–") for g in out["group_id"]]
    return out


def show_change(result, page) -> None:
    lang = page.lang
    if not result.change_ranking()["group_id"].size:
        # too few weeks: no group has a recent window and earlier weeks to compare it with
        n_weeks = int(result.weekly["week_start"].nunique())
        page.text("health.no_history", weeks=n_weeks, need=result.recent_weeks + 2)
        return
    table = history_table(result, lang)
    metrics = [c[len("hist_"):] for c in table.columns if c.startswith("hist_")]
    cols = [("rank", "health.col.rank", "int"), ("group_id", "col.group", "text"),
            ("worst", "health.col.worst_metric", "text"), ("n_worse", "health.col.n_worse", "int")]
    page.table(table, cols + [(f"hist_{m}", f"metric.{m}", "text") for m in metrics])
    base = result.baseline_weeks if result.baseline_weeks is not None else "…"
    page.caption("health.change_note", weeks=result.recent_weeks, base=base, z=f"{UNUSUAL_Z:g}")


def alerted_metrics(result) -> list[str]:
    return [m for m in result.thresholds["thresholds"]
            if f"status_{m}" in result.table and (result.table[f"status_{m}"] == "alert").any() and m in result.weekly]


def plot_metric(result, metric: str, lang: str, ncols: int = 6):
    """Small multiples of one metric per group with the playbook's warning/alert levels and alert weeks."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    groups = sorted(result.weekly["group_id"].unique())
    nrows = int(np.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.9 * nrows + 0.9), sharex=True, sharey=True,
                             squeeze=False)
    spec = result.thresholds["thresholds"][metric]
    scale = 100 if metric in RATE_METRICS else 1
    weeks = np.sort(result.weekly["week_start"].unique())
    recent = weeks[-result.recent_weeks:]
    earlier = weeks[:-result.recent_weeks]
    base = earlier if result.baseline_weeks is None else earlier[-result.baseline_weeks:]
    hist = result.history.loc[result.history["metric"] == metric].set_index("group_id")
    for ax, group in zip(axes.flat, groups):
        sub = result.weekly.loc[result.weekly["group_id"] == group]
        if len(base):
            ax.axvspan(recent[0], recent[-1], color="0.85", alpha=0.6, lw=0, zorder=0)
        if len(base) and group in hist.index and np.isfinite(hist.loc[group, "before"]):
            ax.plot([base[0], recent[-1]], [scale * hist.loc[group, "before"]] * 2, color="0.35", lw=1, ls=":")
        ax.plot(sub["week_start"], scale * sub[metric], color="tab:blue", lw=1.2)
        bad = result.table.loc[(result.table["group_id"] == group) & (result.table[f"status_{metric}"] == "alert"),
                               "week_start"]
        hit = sub.loc[sub["week_start"].isin(bad)]
        ax.scatter(hit["week_start"], scale * hit[metric], color="red", s=9, zorder=3)
        for level, color in (("warning", "orange"), ("alert", "red")):
            if spec[level] is not None:
                ax.axhline(scale * spec[level], color=color, ls="--", lw=0.8)
        ax.set_title(str(group), fontsize=9)
        if len(weeks) >= 9:  # two months or more: a tick per month
            ax.xaxis.set_major_locator(mdates.MonthLocator())
        else:  # a few weeks (e.g. a short export): a few ticks, never a crowd
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=4))
            if len(weeks) == 1:
                ax.set_xlim(weeks[0] - np.timedelta64(4, "D"), weeks[0] + np.timedelta64(10, "D"))
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
    if len(base):  # the own-history marks are drawn only when there are earlier weeks
        handles += [Line2D([], [], color="0.35", ls=":", lw=1,
                           label=t("health.fig.baseline", lang, base=result.baseline_weeks or len(base))),
                    Patch(color="0.85", alpha=0.6, label=t("health.fig.recent", lang, weeks=result.recent_weeks))]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
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
    order = {label: i for i, (label, _) in enumerate(LIFECYCLE_STAGES)}
    life = result.lifecycle_summary().reset_index()
    life = life.sort_values("lifecycle_stage", key=lambda s: s.map(order), kind="stable")
    page.table(life, [("lifecycle_stage", "col.stage", "stage"), ("group_weeks", "health.col.group_weeks", "int"),
                      ("groups", "ab.col.groups", "int"), ("messages_per_day", "metric.messages_per_day", "num"),
                      ("active_share", "metric.active_share", "pct"), ("read_rate", "metric.read_rate", "pct"),
                      ("exit_rate_30d", "metric.exit_rate_30d", "pct")])
