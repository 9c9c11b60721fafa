"""Judge every group-week against thresholds and rank the groups that need attention."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.analyses.health.metrics import group_day_health, group_week_health
from groupstats.analyses.health.own_history import own_history
from groupstats.analyses.health.result import HealthResult
from groupstats.analyses.health.thresholds import STATUS_ORDER, _judge, load_thresholds
from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError


def assess_health(ds: Dataset, thresholds=None, start=None, end=None, recent_weeks: int = 4,
                  baseline_weeks: int | None = 8) -> HealthResult:
    """Judge every group-week against thresholds and rank the groups needing attention.

    Parameters
    ----------
    ds : Dataset
    thresholds : path or dict, optional
        A thresholds YAML file, or the dict of :func:`load_thresholds`; default the shipped
        ``presets/health_thresholds.yaml``.
    start, end : date, optional
        Date range (inclusive).
    recent_weeks : int
        Weeks (the last ones of the range) over which groups are ranked.
    baseline_weeks : int or None
        Weeks before those that make a group's own history (:func:`own_history`; None: all).

    Returns
    -------
    HealthResult
    """
    if not isinstance(recent_weeks, (int, np.integer)) or recent_weeks < 1:
        raise ParameterError(f"recent_weeks must be a whole number >= 1, got {recent_weeks!r}.")
    spec = thresholds if isinstance(thresholds, dict) else load_thresholds(thresholds)
    daily = group_day_health(ds, silent_days=spec["silent_days"], start=start, end=end)
    weekly = group_week_health(ds, daily=daily)
    table = weekly[["group_id", "week_start", "days", "lifecycle_stage"]].copy()
    worst = np.full(len(weekly), -1)
    # per week, the metrics in alert / in warning, in the thresholds file's order ("a, b")
    alerts = np.full(len(weekly), "", dtype=object)
    warns = np.full(len(weekly), "", dtype=object)
    n_alert = np.zeros(len(weekly), dtype=int)
    n_warn = np.zeros(len(weekly), dtype=int)
    for metric, rule in spec["thresholds"].items():  # a loop over metrics, not rows
        status = _judge(weekly[metric].to_numpy(float), rule)
        table[f"status_{metric}"] = status
        worst = np.maximum(worst, pd.Series(status).map(STATUS_ORDER).to_numpy(dtype=int))
        for names, count, level in ((alerts, n_alert, "alert"), (warns, n_warn, "warning")):
            hit = status == level
            names[hit] = np.where(count[hit] > 0, names[hit] + ", " + metric, metric)
            count += hit
    levels = np.array(sorted(STATUS_ORDER, key=STATUS_ORDER.get), dtype=object)
    table.insert(4, "status", levels[worst - min(STATUS_ORDER.values())])
    table.insert(5, "alerts", alerts.astype(str))
    table.insert(6, "warnings", warns.astype(str))

    weeks = np.sort(table["week_start"].unique())
    in_recent = table["week_start"].isin(weeks[-recent_weeks:]).to_numpy()
    recent = table.loc[in_recent]
    latest = table.loc[table["week_start"] == weeks[-1]].set_index("group_id")
    recent = recent.assign(_points=2 * n_alert[in_recent] + n_warn[in_recent],
                           _alert=(recent["status"] == "alert").astype(int),
                           _warning=(recent["status"] == "warning").astype(int))
    att = recent.groupby("group_id").agg(alert_weeks=("_alert", "sum"), warning_weeks=("_warning", "sum"),
                                         score=("_points", "sum"))
    att["lifecycle_stage"] = latest["lifecycle_stage"].reindex(att.index)
    att["latest_week"] = weeks[-1]
    att["latest_status"] = latest["status"].reindex(att.index)
    att["latest_alerts"] = latest["alerts"].reindex(att.index).fillna("")
    att["latest_warnings"] = latest["warnings"].reindex(att.index).fillna("")
    att["_latest"] = att["latest_status"].map(STATUS_ORDER)
    att = att.reset_index().sort_values(["score", "_latest", "group_id"], ascending=[False, False, True],
                                        kind="stable").drop(columns="_latest")
    att.insert(0, "rank", np.arange(1, len(att) + 1))
    att = att[["rank", "group_id", "lifecycle_stage", "latest_week", "latest_status", "alert_weeks",
               "warning_weeks", "latest_alerts", "latest_warnings", "score"]].reset_index(drop=True)
    history = own_history(weekly, spec, int(recent_weeks), baseline_weeks)
    return HealthResult(weekly, daily, table, att, spec, int(recent_weeks), history, baseline_weeks)
