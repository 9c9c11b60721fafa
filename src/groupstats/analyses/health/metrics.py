"""Health metrics per group-day and group-week (the tables every health judgement reads)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset, non_operator_members
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.tables.derived import group_day_metrics, local_date, member_day_activity, post_outcomes

#: Metrics of the weekly table that a thresholds file may judge.
HEALTH_METRICS = ("messages_per_day", "messages_per_member_day", "active_share", "read_rate", "exit_rate",
                  "exit_rate_30d", "join_rate", "join_rate_30d", "silent_share", "complaint_rate",
                  "max_daily_complaints", "red_packets_per_day", "n_members")

#: Lifecycle stages by group age in days, from "怎么弄微信群聊(创建微信群聊方法)" (八、生命周期管理与迭代:
#: 启动期 0-30 天, 成长期 31-90 天, 成熟期 91-180 天, 衰退期 180 天后).
LIFECYCLE_STAGES = (("launch (0-30)", 30), ("growth (31-90)", 90), ("maturity (91-180)", 180),
                    ("decline (181+)", np.inf))


#: Fewest days of trailing weeks from which a rate is scaled to 30 days (exit_rate_30d, join_rate_30d).
MIN_DAYS_30D = 7


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
