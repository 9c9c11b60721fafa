"""Each group against its own recent history, for every judged metric."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError

#: A recent mean this many standard errors from the group's own earlier weeks counts as a change
#: beyond the group's usual week-to-week variation ("worse" / "better" in :func:`own_history`).
UNUSUAL_Z = 2.0


def own_history(weekly: pd.DataFrame, thresholds: dict, recent_weeks: int = 4,
                baseline_weeks: int | None = 8) -> pd.DataFrame:
    """Each group's recent level of every judged metric against its own earlier weeks.

    The recent window is the last ``recent_weeks`` weeks of the table, the baseline the
    ``baseline_weeks`` weeks before it (None: all earlier weeks). Means over a window weigh each
    week by its days, so a partial week at the edge of the data counts for what it holds.

    Parameters
    ----------
    weekly : DataFrame
        :func:`group_week_health` (group_id, week_start, days and the metrics).
    thresholds : dict
        :func:`load_thresholds`; its metrics are compared, and each metric's ``healthy``
        side says which direction of change is worse.
    recent_weeks, baseline_weeks : int

    Returns
    -------
    DataFrame, one row per (group_id, metric)
        healthy ('above'/'below'), before (baseline mean), now (recent mean), change
        (now - before), rel_change (now / before - 1; NaN when before is 0), n_baseline (weeks),
        sd_before (SD of the baseline's weekly values; when it is 0 or undefined, the median
        positive SD of the other groups for that metric), z (change / its standard error
        ``sd_before * sqrt(1 / recent weeks + 1 / n_baseline)``, weeks counted by their days),
        worsening (z signed so that positive is towards the unhealthy side) and verdict:
        ``worse`` / ``better`` when ``|z| >= UNUSUAL_Z`` on that side, ``steady`` otherwise, ``n/a``
        without a value in both windows.
    """
    if not isinstance(recent_weeks, (int, np.integer)) or recent_weeks < 1:
        raise ParameterError(f"recent_weeks must be a whole number >= 1, got {recent_weeks!r}.")
    if baseline_weeks is not None and (not isinstance(baseline_weeks, (int, np.integer)) or baseline_weeks < 1):
        raise ParameterError(f"baseline_weeks must be a whole number >= 1 or None, got {baseline_weeks!r}.")
    specs = thresholds["thresholds"]
    metrics = [m for m in specs if m in weekly]
    weeks = np.sort(weekly["week_start"].unique())
    recent = weeks[-recent_weeks:]
    earlier = weeks[:-recent_weeks] if len(weeks) > recent_weeks else weeks[:0]
    base = earlier if baseline_weeks is None else earlier[-baseline_weeks:]
    long = weekly.melt(id_vars=["group_id", "week_start", "days"], value_vars=metrics, var_name="metric")
    long = long.loc[np.isfinite(long["value"].to_numpy(float))]
    long["window"] = np.where(long["week_start"].isin(recent), "now",
                              np.where(long["week_start"].isin(base), "before", ""))
    long = long.loc[long["window"] != ""]
    long["wx"] = long["value"].astype(float) * long["days"]
    g = long.groupby(["group_id", "metric", "window"])
    agg = pd.DataFrame({"mean": g["wx"].sum() / g["days"].sum(), "days": g["days"].sum(),
                        "n": g.size(), "sd": g["value"].std(ddof=1)}).unstack("window")
    keys = pd.MultiIndex.from_product([sorted(weekly["group_id"].unique()), metrics], names=["group_id", "metric"])
    agg = agg.reindex(keys)

    def col(stat, window):
        return agg[(stat, window)] if (stat, window) in agg.columns else pd.Series(np.nan, index=agg.index)

    out = pd.DataFrame({"before": col("mean", "before"), "now": col("mean", "now"),
                        "n_baseline": col("n", "before").fillna(0).astype(int),
                        "sd_own": col("sd", "before"), "recent_days": col("days", "now")}, index=agg.index)
    out = out.reset_index()
    out["healthy"] = out["metric"].map({m: specs[m]["healthy"] for m in metrics})
    out["change"] = out["now"] - out["before"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_change"] = np.where(out["before"] != 0, out["now"] / out["before"] - 1, np.nan)
    positive = out["sd_own"].where(out["sd_own"] > 0)
    typical = positive.groupby(out["metric"]).transform("median")
    out["sd_before"] = positive.fillna(typical)
    n_recent = out["recent_days"] / 7
    with np.errstate(divide="ignore", invalid="ignore"):
        se = out["sd_before"] * np.sqrt(1 / n_recent + 1 / out["n_baseline"].where(out["n_baseline"] > 0))
        z = np.where(out["change"] == 0, 0.0, out["change"] / se)
    out["z"] = np.where(np.isfinite(out["change"]) & np.isfinite(se), z, np.nan)
    sign = np.where(out["healthy"] == "above", -1.0, 1.0)
    out["worsening"] = sign * out["z"]
    verdict = np.where(out["worsening"] >= UNUSUAL_Z, "worse", np.where(out["worsening"] <= -UNUSUAL_Z, "better",
                                                                         "steady"))
    out["verdict"] = np.where(np.isfinite(out["worsening"]), verdict, "n/a")
    out = out.drop(columns=["sd_own", "recent_days"])
    return out[["group_id", "metric", "healthy", "before", "now", "change", "rel_change", "n_baseline",
                "sd_before", "z", "worsening", "verdict"]]
