"""Group health: group-day and group-week metrics judged against editable thresholds.

:func:`group_day_health` and :func:`group_week_health` compute, per group, the activity
and membership metrics playbooks talk about (operators excluded throughout):

===========================  =======================================================================
column                       definition
===========================  =======================================================================
n_messages                   member messages (no system messages, no operators)
n_members                    members present at some time of the day (week: mean over days)
messages_per_day             n_messages / days
messages_per_member_day      n_messages / member-days present
n_active_members             members who sent a message that day
active_share                 active member-days / member-days present
read_rate                    readers within 24 h summed over the period's posts / members present
                             summed over those posts
n_joins, n_exits             memberships starting / ending
join_rate, exit_rate         joins / exits over n_members
exit_rate_30d, join_rate_30d exits (joins) in the trailing 4 weeks over their mean n_members,
                             scaled to 30 days (weekly table only; NaN while those weeks hold fewer
                             than 7 days: scaling less than a week to 30 days is extrapolation)
silent_share                 among members in the group for at least ``silent_days`` days, the share
                             who sent nothing in the last ``silent_days`` days (week: pooled over days)
n_complaints, complaint_rate ``complaint`` events; over n_members
max_daily_complaints         most complaints on one day of the week
n_red_packets                red-packet messages; red_packets_per_day
age_days, lifecycle_stage    days since the group was created (``groups.created_at``, else its first
                             join) at the start of the period; stage 0-30 launch, 31-90 growth,
                             91-180 maturity, 181+ decline ("怎么弄微信群聊(创建微信群聊方法)")
===========================  =======================================================================

:func:`assess_health` judges every group-week against the thresholds of a YAML file (default
``presets/health_thresholds.yaml``, each threshold citing its playbook article), marks it
ok / warning / alert, and ranks the groups that need attention. :func:`own_history` sets each
group's recent weeks against its own earlier weeks, for every judged metric, so that groups can
be ranked by change as well as by level (a threshold that flags nearly every group says little;
a group that is worse than its own usual says more).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import group_day_metrics, local_date, member_day_activity, post_outcomes
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.paths import PRESETS_DIR
from groupstats.results import Result, to_jsonable
from groupstats.data.dataset import non_operator_members

__all__ = ["group_day_health", "group_week_health", "load_thresholds", "assess_health", "HealthResult",
           "own_history", "lifecycle_stage", "HEALTH_METRICS", "LIFECYCLE_STAGES", "DEFAULT_THRESHOLDS_FILE",
           "UNUSUAL_Z"]

DEFAULT_THRESHOLDS_FILE = PRESETS_DIR / "health_thresholds.yaml"

#: Metrics of the weekly table that a thresholds file may judge.
HEALTH_METRICS = ("messages_per_day", "messages_per_member_day", "active_share", "read_rate", "exit_rate",
                  "exit_rate_30d", "join_rate", "join_rate_30d", "silent_share", "complaint_rate",
                  "max_daily_complaints", "red_packets_per_day", "n_members")

#: Lifecycle stages by group age in days, from "怎么弄微信群聊(创建微信群聊方法)" (八、生命周期管理与迭代:
#: 启动期 0-30 天, 成长期 31-90 天, 成熟期 91-180 天, 衰退期 180 天后).
LIFECYCLE_STAGES = (("launch (0-30)", 30), ("growth (31-90)", 90), ("maturity (91-180)", 180),
                    ("decline (181+)", np.inf))

STATUS_ORDER = {"n/a": -1, "ok": 0, "warning": 1, "alert": 2}

#: Fewest days of trailing weeks from which a rate is scaled to 30 days (exit_rate_30d, join_rate_30d).
MIN_DAYS_30D = 7

#: A recent mean this many standard errors from the group's own earlier weeks counts as a change
#: beyond the group's usual week-to-week variation ("worse" / "better" in :func:`own_history`).
UNUSUAL_Z = 2.0


def lifecycle_stage(age_days) -> np.ndarray:
    """Lifecycle stage label for ages in days (NaN or negative -> None)."""
    age = np.asarray(age_days, dtype=float)
    out = np.full(age.shape, None, dtype=object)
    lower = -0.5
    for label, upper in LIFECYCLE_STAGES:
        out[(age > lower) & (age <= upper)] = label
        lower = upper
    return out


def _created_dates(ds: Dataset) -> pd.Series:
    """Local creation date per group: groups.created_at, else the group's first join."""
    first_join = local_date(ds.members.groupby("group_id")["joined_at"].min())
    if ds.groups is not None and ds.groups["created_at"].notna().any():
        created = local_date(ds.groups.set_index("group_id")["created_at"]).dropna()
        first_join.update(created)
    return first_join


def _silent_counts(ds: Dataset, days: pd.DatetimeIndex, groups: pd.Index, silent_days: int) -> tuple:
    """(eligible, silent) member counts per group-day on the grid groups x days.

    Group positions come from ``Index.get_indexer`` and days are cast to integers, so the
    scatter-adds index with integer arrays even when no row is left (e.g. nobody wrote again
    after their first silent window: an empty frame's ``map`` would give an object array).
    """
    n_days = len(days)
    d0 = days[0]
    groups = pd.Index(groups)
    members = non_operator_members(ds.members)
    members = members.loc[members["group_id"].isin(groups)]
    join_day = ((local_date(members["joined_at"]) - d0).dt.days + silent_days).to_numpy()
    left = members["left_at"]
    last_day = np.where(left.notna(), (local_date(left) - d0).dt.days.to_numpy(dtype=float, na_value=np.nan),
                        n_days - 1)
    gi = groups.get_indexer(members["group_id"])
    first = np.clip(join_day, 0, n_days).astype(int)
    last = np.clip(last_day, -1, n_days - 1).astype(int)
    ok = first <= last
    diff = np.zeros((len(groups), n_days + 1))
    np.add.at(diff, (gi[ok], first[ok]), 1)
    np.add.at(diff, (gi[ok], last[ok] + 1), -1)
    eligible = np.cumsum(diff, axis=1)[:, :n_days]

    act = member_day_activity(ds)
    act = act.loc[(act["n_messages"] > 0) & act["group_id"].isin(groups), ["group_id", "member_id", "date"]]
    offsets = np.arange(silent_days)
    rep = act.loc[act.index.repeat(silent_days)].reset_index(drop=True)
    rep["day"] = (rep["date"] - d0).dt.days.to_numpy() + np.tile(offsets, len(act))
    rep = rep.loc[(rep["day"] >= 0) & (rep["day"] < n_days)].drop_duplicates(["group_id", "member_id", "day"])
    spans = pd.DataFrame({"group_id": members["group_id"].to_numpy(), "member_id": members["member_id"].to_numpy(),
                          "first": first, "last": last})
    rep = rep.merge(spans, on=["group_id", "member_id"])
    rep = rep.loc[(rep["day"] >= rep["first"]) & (rep["day"] <= rep["last"])]
    rep = rep.drop_duplicates(["group_id", "member_id", "day"])
    spoke = np.zeros((len(groups), n_days))
    np.add.at(spoke, (groups.get_indexer(rep["group_id"]), rep["day"].to_numpy(dtype=np.intp)), 1)
    return eligible, eligible - spoke


def group_day_health(ds: Dataset, silent_days: int = 3, start=None, end=None) -> pd.DataFrame:
    """Health metrics per (group_id, date), zeros included.

    Parameters
    ----------
    ds : Dataset
    silent_days : int
        N of the silent share (members silent for N days).
    start, end : date, optional
        Date range (inclusive); default the whole dataset.

    Returns
    -------
    DataFrame, one row per group-day
        The columns of :func:`groupstats.tables.derived.group_day_metrics` plus messages_per_day,
        messages_per_member_day, n_readers_posts, post_reach, read_rate, n_eligible_silent,
        n_silent, silent_share, join_rate, exit_rate, complaint_rate, age_days, lifecycle_stage.
    """
    if not isinstance(silent_days, (int, np.integer)) or silent_days < 1:
        raise ParameterError(f"silent_days must be a whole number >= 1, got {silent_days!r}.")
    gd = group_day_metrics(ds, start=start, end=end)
    if gd.empty:
        raise InsufficientDataError("No group-days in the selected range; widen start/end.")
    if "n_complaints" not in gd:
        gd["n_complaints"] = 0
    days = pd.DatetimeIndex(sorted(gd["date"].unique()))
    groups = pd.Index(sorted(gd["group_id"].unique()))
    gd = gd.set_index(["group_id", "date"]).reindex(pd.MultiIndex.from_product([groups, days],
                                                                               names=["group_id", "date"]))
    gd = gd.reset_index()
    gd["messages_per_day"] = gd["n_messages"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = gd["n_members"].to_numpy(float)
        gd["messages_per_member_day"] = np.where(n > 0, gd["n_messages"] / n, np.nan)
        gd["join_rate"] = np.where(n > 0, gd["n_joins"] / n, np.nan)
        gd["exit_rate"] = np.where(n > 0, gd["n_exits"] / n, np.nan)
        gd["complaint_rate"] = np.where(n > 0, gd["n_complaints"] / n, np.nan)
    # read rate of the day's posts
    gd["n_readers_posts"] = np.nan
    gd["post_reach"] = 0
    if ds.posts is not None and ds.has("events") and len(ds.posts):
        po = post_outcomes(ds)
        agg = po.groupby(["group_id", "date"]).agg(r=("readers", "sum"), reach=("n_present", "sum"))
        key = pd.MultiIndex.from_frame(gd[["group_id", "date"]])
        gd["n_readers_posts"] = agg["r"].reindex(key).fillna(0).to_numpy(float)
        gd["post_reach"] = agg["reach"].reindex(key).fillna(0).to_numpy().astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        gd["read_rate"] = np.where(gd["post_reach"] > 0, gd["n_readers_posts"] / gd["post_reach"], np.nan)
    eligible, silent = _silent_counts(ds, days, groups, int(silent_days))
    gd["n_eligible_silent"] = eligible.ravel().astype("int64")
    gd["n_silent"] = silent.ravel().astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        gd["silent_share"] = np.where(eligible.ravel() > 0, silent.ravel() / eligible.ravel(), np.nan)
    created = _created_dates(ds)
    age = (gd["date"] - gd["group_id"].map(created)).dt.days
    gd["age_days"] = age.astype("float")
    gd["lifecycle_stage"] = pd.Series(lifecycle_stage(gd["age_days"]), dtype="str")
    gd.attrs["silent_days"] = int(silent_days)
    return gd


def group_week_health(ds: Dataset, silent_days: int = 3, start=None, end=None,
                      daily: pd.DataFrame | None = None) -> pd.DataFrame:
    """Health metrics per (group_id, week_start); weeks start on Monday (local time).

    See the module docstring for the columns. Partial weeks at the edges of the range have
    ``days < 7``; per-day metrics use the days present.
    """
    gd = daily if daily is not None else group_day_health(ds, silent_days=silent_days, start=start, end=end)
    gd = gd.assign(week_start=gd["date"] - pd.to_timedelta(gd["date"].dt.day_of_week, unit="D"))
    wk = gd.groupby(["group_id", "week_start"], as_index=False).agg(
        days=("date", "size"), n_messages=("n_messages", "sum"), member_days=("n_members", "sum"),
        n_members=("n_members", "mean"), active_member_days=("n_active_members", "sum"),
        n_readers_posts=("n_readers_posts", lambda s: s.sum(min_count=1)), post_reach=("post_reach", "sum"),
        n_joins=("n_joins", "sum"), n_exits=("n_exits", "sum"), n_eligible_silent=("n_eligible_silent", "sum"),
        n_silent=("n_silent", "sum"), n_complaints=("n_complaints", "sum"),
        max_daily_complaints=("n_complaints", "max"), n_red_packets=("n_red_packets", "sum"),
        n_posts=("n_posts", "sum"), age_days=("age_days", "first"))

    def ratio(num, den):
        num, den = np.asarray(num, float), np.asarray(den, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.nan)

    wk["messages_per_day"] = ratio(wk["n_messages"], wk["days"])
    wk["messages_per_member_day"] = ratio(wk["n_messages"], wk["member_days"])
    wk["active_share"] = ratio(wk["active_member_days"], wk["member_days"])
    wk["read_rate"] = ratio(wk["n_readers_posts"], wk["post_reach"])
    wk["join_rate"] = ratio(wk["n_joins"], wk["n_members"])
    wk["exit_rate"] = ratio(wk["n_exits"], wk["n_members"])
    roll = wk.groupby("group_id")[["n_exits", "n_joins", "days", "n_members"]].rolling(4, min_periods=1)
    sums = roll.sum().reset_index(level=0, drop=True).sort_index()
    means = roll.mean().reset_index(level=0, drop=True).sort_index()
    window_days = sums["days"].to_numpy(dtype=float)
    enough = window_days >= MIN_DAYS_30D
    wk["exit_rate_30d"] = np.where(enough, ratio(sums["n_exits"], means["n_members"]) * 30 / window_days, np.nan)
    wk["join_rate_30d"] = np.where(enough, ratio(sums["n_joins"], means["n_members"]) * 30 / window_days, np.nan)
    wk["silent_share"] = ratio(wk["n_silent"], wk["n_eligible_silent"])
    wk["complaint_rate"] = ratio(wk["n_complaints"], wk["n_members"])
    wk["red_packets_per_day"] = ratio(wk["n_red_packets"], wk["days"])
    wk["lifecycle_stage"] = pd.Series(lifecycle_stage(wk["age_days"]), dtype="str")
    wk.attrs["silent_days"] = gd.attrs.get("silent_days", silent_days)
    return wk


# ------------------------------------------------------------------------------------------
# thresholds
# ------------------------------------------------------------------------------------------
def load_thresholds(path=None) -> dict:
    """Read and check a thresholds YAML file (default: the shipped defaults).

    Returns
    -------
    dict with keys ``silent_days`` (int), ``thresholds`` ({metric: {healthy, warning, alert,
    source, note}}) and ``file``.
    """
    import yaml

    file = Path(path) if path is not None else DEFAULT_THRESHOLDS_FILE
    if not file.exists():
        raise ParameterError(f"Thresholds file {file} does not exist; copy {DEFAULT_THRESHOLDS_FILE} and edit it.")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"Thresholds file {file} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("thresholds"), dict):
        raise ParameterError(f"Thresholds file {file} needs a 'thresholds:' section mapping metric names to "
                             f"levels (see {DEFAULT_THRESHOLDS_FILE}).")
    silent_days = raw.get("silent_days", 3)
    if not isinstance(silent_days, int) or silent_days < 1:
        raise ParameterError(f"{file}: silent_days must be a whole number >= 1, got {silent_days!r}.")
    out = {}
    for metric, spec in raw["thresholds"].items():
        if metric not in HEALTH_METRICS:
            raise ParameterError(f"{file}: unknown metric {metric!r}; metrics that can be judged: "
                                 f"{', '.join(HEALTH_METRICS)}.")
        if not isinstance(spec, dict):
            raise ParameterError(f"{file}: {metric} needs 'healthy', 'warning' and/or 'alert' entries.")
        healthy = spec.get("healthy")
        if healthy not in ("above", "below"):
            raise ParameterError(f"{file}: {metric}.healthy must be 'above' or 'below', got {healthy!r}.")
        levels = {}
        for level in ("warning", "alert"):
            value = spec.get(level)
            if value is not None and not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ParameterError(f"{file}: {metric}.{level} must be a number or empty, got {value!r}.")
            levels[level] = None if value is None else float(value)
        if levels["warning"] is None and levels["alert"] is None:
            raise ParameterError(f"{file}: {metric} has neither a warning nor an alert level.")
        w, a = levels["warning"], levels["alert"]
        if w is not None and a is not None and ((healthy == "above" and a > w) or (healthy == "below" and a < w)):
            raise ParameterError(f"{file}: {metric}: with healthy '{healthy}' the alert level ({a:g}) must be "
                                 f"{'below' if healthy == 'above' else 'above'} the warning level ({w:g}).")
        out[metric] = {"healthy": healthy, **levels, "source": spec.get("source"), "note": spec.get("note")}
    return {"silent_days": silent_days, "thresholds": out, "file": str(file)}


def _judge(values: np.ndarray, spec: dict) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    status = np.where(np.isnan(v), "n/a", "ok").astype(object)
    w, a = spec["warning"], spec["alert"]
    if spec["healthy"] == "above":
        if w is not None:
            status[~np.isnan(v) & (v < w)] = "warning"
        if a is not None:
            status[~np.isnan(v) & (v < a)] = "alert"
    else:
        if w is not None:
            status[~np.isnan(v) & (v > w)] = "warning"
        if a is not None:
            status[~np.isnan(v) & (v > a)] = "alert"
    return status


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
    alerts = [[] for _ in range(len(weekly))]
    warns = [[] for _ in range(len(weekly))]
    for metric, rule in spec["thresholds"].items():
        status = _judge(weekly[metric].to_numpy(float), rule)
        table[f"status_{metric}"] = status
        worst = np.maximum(worst, np.vectorize(STATUS_ORDER.get)(status))
        for i in np.flatnonzero(status == "alert"):
            alerts[i].append(metric)
        for i in np.flatnonzero(status == "warning"):
            warns[i].append(metric)
    inverse = {v: k for k, v in STATUS_ORDER.items()}
    table.insert(4, "status", [inverse[int(w)] for w in worst])
    table.insert(5, "alerts", [", ".join(a) for a in alerts])
    table.insert(6, "warnings", [", ".join(w) for w in warns])

    weeks = np.sort(table["week_start"].unique())
    recent = table.loc[table["week_start"].isin(weeks[-recent_weeks:])]
    latest = table.loc[table["week_start"] == weeks[-1]].set_index("group_id")
    n_alerts = recent["alerts"].map(lambda s: len(s.split(", ")) if s else 0)
    n_warnings = recent["warnings"].map(lambda s: len(s.split(", ")) if s else 0)
    recent = recent.assign(_points=2 * n_alerts + n_warnings)
    att = recent.groupby("group_id").agg(alert_weeks=("status", lambda s: int((s == "alert").sum())),
                                         warning_weeks=("status", lambda s: int((s == "warning").sum())),
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
