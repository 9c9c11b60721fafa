"""The result of :func:`groupstats.analyses.health.assess_health`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.analyses.health.metrics import HEALTH_METRICS
from groupstats.analyses.health.own_history import own_history
from groupstats.errors import ParameterError
from groupstats.results import Result, to_jsonable


class HealthResult(Result):
    """Health of every group-week against thresholds, and the groups that need attention.

    Attributes
    ----------
    weekly : DataFrame
        Metrics per group-week (:func:`group_week_health`).
    daily : DataFrame
        Metrics per group-day (:func:`group_day_health`).
    table : DataFrame
        One row per group-week: group_id, week_start, days, lifecycle_stage, status (worst over
        metrics), alerts, warnings (comma-separated metric names), and status_<metric>.
    attention : DataFrame
        Groups ranked by need of attention over the last ``recent_weeks`` weeks: rank, group_id,
        lifecycle_stage, latest_week, latest_status, alert_weeks, warning_weeks, latest_alerts,
        latest_warnings, score (over those weeks, 2 points per metric in alert and 1 per metric in
        warning in each week).
    thresholds : dict
        As returned by :func:`load_thresholds`.
    history : DataFrame
        Every group's recent weeks against its own earlier weeks, per judged metric
        (:func:`own_history`).
    """

    title = "Group health: groups ranked by need of attention"

    def __init__(self, weekly, daily, table, attention, thresholds, recent_weeks, history=None,
                 baseline_weeks: int | None = 8):
        self.weekly = weekly
        self.daily = daily
        self.table = table
        self.attention = attention
        self.thresholds = thresholds
        self.recent_weeks = recent_weeks
        self.baseline_weeks = baseline_weeks
        self.history = history if history is not None else own_history(weekly, thresholds, recent_weeks,
                                                                       baseline_weeks)

    def change_ranking(self) -> pd.DataFrame:
        """Groups ranked by how far they moved from their own history towards the unhealthy side.

        Returns
        -------
        DataFrame, one row per group: rank, group_id, worst_metric (the metric that worsened most,
        in standard errors of the group's own week-to-week variation), worst_worsening (that
        value; positive = worse), n_worse (metrics with verdict ``worse``), n_better; ranked by
        worst_worsening, largest first.
        """
        h = self.history.loc[np.isfinite(self.history["worsening"].to_numpy(float))]
        if h.empty:
            return pd.DataFrame(columns=["rank", "group_id", "worst_metric", "worst_worsening", "n_worse",
                                         "n_better"])
        worst = h.sort_values(["group_id", "worsening"], ascending=[True, False], kind="stable") \
            .drop_duplicates("group_id")
        counts = h.groupby("group_id")["verdict"].agg(n_worse=lambda v: int((v == "worse").sum()),
                                                      n_better=lambda v: int((v == "better").sum()))
        out = worst[["group_id", "metric", "worsening"]].rename(
            columns={"metric": "worst_metric", "worsening": "worst_worsening"}).merge(counts.reset_index(),
                                                                                       on="group_id")
        out = out.sort_values(["worst_worsening", "group_id"], ascending=[False, True], kind="stable")
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return out.reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        return self.attention.copy()

    def to_dict(self) -> dict:
        metrics = list(self.thresholds["thresholds"])
        cols = ["group_id", "week_start", "days", "lifecycle_stage", "status", "alerts", "warnings", *metrics]
        weeks = self.table.merge(self.weekly, on=["group_id", "week_start"], suffixes=("", "_w"))
        return to_jsonable({
            "thresholds_file": self.thresholds["file"], "silent_days": self.thresholds["silent_days"],
            "thresholds": self.thresholds["thresholds"], "recent_weeks": self.recent_weeks,
            "status_counts": self.table["status"].value_counts().to_dict(),
            "attention": self.attention, "weeks": weeks[[c for c in cols if c in weeks]],
            "baseline_weeks": self.baseline_weeks, "own_history": self.history})

    #: the ranking for people (header key, kind of value)
    text_columns = (("rank", "health.col.rank", "int"), ("group_id", "col.group", "text"),
                    ("lifecycle_stage", "col.stage", "stage"), ("latest_week", "col.week", "date"),
                    ("latest_status", "col.status", "status"), ("alert_weeks", "field.alert_weeks", "int"),
                    ("warning_weeks", "field.warning_weeks", "int"), ("latest_alerts", "health.col.alerts", "metrics"),
                    ("latest_warnings", "health.col.warnings", "metrics"), ("score", "field.score", "int"))

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("healthres.title", self._lang(lang))

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import join, t
        from groupstats.reports.tables import format_value

        lang = self._lang(lang)
        table = self.table
        counts = table["status"].value_counts()
        lines = [t("healthres.counts", lang, n=len(table), thresholds=len(self.thresholds["thresholds"]),
                   file=Path(self.thresholds["file"]).name, ok=counts.get("ok", 0),
                   warning=counts.get("warning", 0), alert=counts.get("alert", 0))]
        need = self.attention.loc[self.attention["score"] > 0]
        if len(need):
            items = []
            for r in need.head(5).itertuples():
                item = t("healthres.group", lang, group=r.group_id, alerts=r.alert_weeks, warnings=r.warning_weeks)
                if r.latest_alerts:
                    item += t("healthres.now", lang, metrics=format_value(r.latest_alerts, "metrics", lang))
                items.append(item + t("healthres.close", lang))
            lines.append(t("healthres.attention", lang, weeks=self.recent_weeks, groups=t("healthres.sep", lang).join(items)))
        else:
            lines.append(t("healthres.none", lang, weeks=self.recent_weeks))
        by_metric = {m: int((table[f"status_{m}"] == "alert").sum()) for m in self.thresholds["thresholds"]}
        common = [t("healthres.metric_count", lang, metric=format_value(m, "metrics", lang), n=n)
                  for m, n in sorted(by_metric.items(), key=lambda kv: -kv[1]) if n > 0][:3]
        if common:
            lines.append(t("healthres.frequent", lang, metrics=join(common, lang)))
        worse = self.history.loc[self.history["verdict"] == "worse"].sort_values("worsening", ascending=False)
        if len(worse):  # against the group's own history (own_history), not a threshold
            from groupstats.reports.pages.health import fmt_change

            items = [t("healthres.worse_item", lang, group=r.group_id, metric=format_value(r.metric, "metrics", lang),
                       change=fmt_change(r.metric, r.before, r.now, lang)) for r in worse.head(5).itertuples()]
            lines.append(t("healthres.worse", lang, weeks=self.recent_weeks, base=self.baseline_weeks or "…",
                           groups=t("healthres.sep", lang).join(items)))
        return "\n".join(lines)

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import health

        return health.card(self, lang)

    def lifecycle_summary(self) -> pd.DataFrame:
        """Median weekly health by lifecycle stage (group age 0-30, 31-90, 91-180, 181+ days).

        Returns
        -------
        DataFrame indexed by lifecycle_stage with group_weeks, groups and the medians of
        messages_per_day, active_share, read_rate and exit_rate_30d.
        """
        return self.weekly.groupby("lifecycle_stage").agg(
            group_weeks=("group_id", "size"), groups=("group_id", "nunique"),
            messages_per_day=("messages_per_day", "median"), active_share=("active_share", "median"),
            read_rate=("read_rate", "median"), exit_rate_30d=("exit_rate_30d", "median"))

    def plot_trends(self, metric: str = "messages_per_day", ncols: int = 4):
        """Small multiples: one panel per group with the weekly ``metric``; thresholds dashed
        (warning orange, alert red), alert weeks marked in red.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt

        if metric not in self.weekly:
            raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(HEALTH_METRICS)}.")
        groups = sorted(self.weekly["group_id"].unique())
        nrows = int(np.ceil(len(groups) / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2 * nrows), sharex=True, sharey=True,
                                 squeeze=False)
        spec = self.thresholds["thresholds"].get(metric)
        status_col = f"status_{metric}"
        for ax, group in zip(axes.flat, groups):
            sub = self.weekly.loc[self.weekly["group_id"] == group]
            ax.plot(sub["week_start"], sub[metric], color="tab:blue", lw=1.2)
            if spec is not None and status_col in self.table:
                bad = self.table.loc[(self.table["group_id"] == group) & (self.table[status_col] == "alert"),
                                     "week_start"]
                hit = sub.loc[sub["week_start"].isin(bad)]
                ax.scatter(hit["week_start"], hit[metric], color="red", s=10, zorder=3)
                for level, color in (("warning", "orange"), ("alert", "red")):
                    if spec[level] is not None:
                        ax.axhline(spec[level], color=color, ls="--", lw=0.8)
            ax.set_title(str(group), fontsize=9)
            ax.xaxis.set_major_locator(mdates.MonthLocator())
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
            ax.tick_params(axis="x", labelsize=7)
        for ax in list(axes.flat)[len(groups):]:
            ax.set_visible(False)
        fig.suptitle(f"{metric} per week, by group")
        fig.tight_layout()
        return fig
