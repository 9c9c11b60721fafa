"""The group-week table of a mix-policy experiment, group-level sums and each group's dose (how far its
mix moved toward its arm's mix)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.data.dataset import non_operator_members
from groupstats.tables.derived import group_day_metrics, local_date, post_outcomes
from groupstats.errors import ParameterError

from groupstats.analyses.content_mix.targets import (MIX_METRICS, MixTarget, apply_mapping, mix_presets,
                                                     parse_mix)


# ======================================================================================
# mix-policy experiments
# ======================================================================================
def _experiment_assignments(ds: Dataset, experiment_id: str) -> pd.DataFrame:
    assignments = ds.require("assignments", "the content-mix experiment analysis")
    rows = assignments.loc[assignments["experiment_id"] == experiment_id]
    if rows.empty:
        known = sorted(assignments["experiment_id"].unique())
        raise ParameterError(f"Experiment {experiment_id!r} is not in the assignments table; experiments "
                             f"present: {', '.join(known) or '(none)'}.")
    arms_per_group = rows.groupby("group_id")["arm"].nunique()
    if (arms_per_group > 1).any():
        raise ParameterError(
            f"Experiment {experiment_id!r} gives some groups more than one arm "
            f"({', '.join(arms_per_group.index[arms_per_group > 1][:5])}), so it is not group-randomised; "
            "analyse a switchback design with groupstats.stats.compare.compare_arms and fixed effects instead.")
    return rows.groupby("group_id", as_index=False).agg(arm=("arm", "first"), start_at=("start_at", "min"),
                                                         end_at=("end_at", "max"))


#: What each metric of :data:`MIX_METRICS` is built from: group-day counts, distinct active members per
#: week, distinct members present per week, and post outcome counts.
_METRIC_INPUTS = {
    "messages_per_member_day": {"group_day": ("n_messages", "n_members")},
    "active_share": {"active": True, "present": True},
    "replies_per_post": {"posts": ("replies",)},
    "read_rate": {"posts": ("readers", "n_present")},
}


def _metric_list(metrics) -> list:
    if metrics is None:
        return list(MIX_METRICS)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in metrics if m not in MIX_METRICS]
    if unknown:
        raise ParameterError(f"Unknown metric(s) {', '.join(map(repr, unknown))}; choose from "
                             f"{', '.join(MIX_METRICS)}.")
    return [m for m in MIX_METRICS if m in metrics]


def mix_experiment_table(ds: Dataset, experiment_id: str, read_window="24h", reply_window="2h",
                         complete_posts_only: bool = False, metrics=None) -> pd.DataFrame:
    """Group-week outcomes of a group-randomised experiment, pre- and post-period.

    Weeks are counted from each group's assignment start (week 0 starts on the local date
    of ``start_at``); negative weeks form the pre-period (before the assignment), weeks
    inside ``[start_at, end_at)`` the experiment period.

    Returns
    -------
    DataFrame, one row per (group_id, week)
        group_id, arm, week, week_start, period ("pre" / "post"), days, n_messages,
        member_days, n_active, n_present, n_posts, replies, readers, post_reach, and the four
        metrics of :data:`MIX_METRICS` as ratios (NaN where the denominator is 0).

    Group-day counts, distinct active members and post outcomes are computed on the dataset's
    engine (:mod:`groupstats.tables.derived`); with ``complete_posts_only`` the posts whose reply or
    read window runs past the end of the data are left out (an analysis as of a date).

    ``metrics`` (optional, names of :data:`MIX_METRICS`): compute only what these metrics are built
    from (e.g. member messages and member-days for ``messages_per_member_day``: no post outcomes, no
    distinct members); the other metrics and their numerator and denominator columns are left out.
    The columns computed are those of the whole table. Default: all four metrics.
    """
    metrics = _metric_list(metrics)
    needs = [_METRIC_INPUTS[m] for m in metrics]
    gd_counts = tuple(c for n in needs for c in n.get("group_day", ()))
    post_counts = tuple(c for n in needs for c in n.get("posts", ()))
    assign = _experiment_assignments(ds, experiment_id)
    assign = assign.assign(start_date=local_date(assign["start_at"]),
                           end_date=local_date(assign["end_at"] - pd.Timedelta(microseconds=1)))
    start_of = assign.set_index("group_id")["start_date"]
    end_of = assign.set_index("group_id")["end_date"]

    def week_of(groups: pd.Series, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        start = groups.map(start_of)
        end = groups.map(end_of)
        days = (dates.to_numpy() - start.to_numpy()) / np.timedelta64(1, "D")
        inside = start.notna().to_numpy() & (dates <= end).to_numpy()
        week = np.floor(np.where(inside, days, np.nan) / 7)
        return week, inside

    gd = group_day_metrics(ds, counts=gd_counts)
    gd = gd.loc[gd["group_id"].isin(start_of.index)].reset_index(drop=True)
    week, inside = week_of(gd["group_id"], gd["date"])
    gd = gd.assign(week=week).loc[inside]
    sums = {"n_messages": ("n_messages", "sum"), "member_days": ("n_members", "sum")} if gd_counts else {}
    base = gd.groupby(["group_id", "week"], as_index=False).agg(days=("date", "size"), **sums)

    # distinct active members per group-week (in the engine)
    act = _active_per_week(ds, assign) if any(n.get("active") for n in needs) else None

    # distinct members present at some time in the group-week (operators excluded)
    members = non_operator_members(ds.members)
    members = members.loc[members["group_id"].isin(start_of.index)]
    grid = base[["group_id", "week"]].copy()
    grid["week_start"] = grid["group_id"].map(start_of) + pd.to_timedelta(grid["week"] * 7, unit="D")
    grid["week_end"] = (grid["week_start"] + pd.Timedelta(days=7)).where(
        grid["week_start"] + pd.Timedelta(days=7) <= grid["group_id"].map(end_of) + pd.Timedelta(days=1),
        grid["group_id"].map(end_of) + pd.Timedelta(days=1))
    if any(n.get("present") for n in needs):
        pairs = members[["group_id", "member_id", "joined_at", "left_at"]].merge(grid, on="group_id")
        tz = ds.tz
        ws = pairs["week_start"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
        we = pairs["week_end"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
        present = (pairs["joined_at"] < we) & (pairs["left_at"].isna() | (pairs["left_at"] >= ws))
        pres = pairs.loc[present].groupby(["group_id", "week"])["member_id"].nunique().rename("n_present")
    else:
        pres = None

    # posts: replies within the reply window, readers within the read window
    if post_counts and ds.posts is not None and len(ds.posts):
        po = post_outcomes(ds, window=reply_window, read_window=read_window, counts=post_counts)
        if complete_posts_only:
            po = po.loc[po["complete"]]
        po = po.loc[po["group_id"].isin(start_of.index)]
        pweek, pinside = week_of(po["group_id"], po["date"])
        po = po.assign(week=pweek).loc[pinside]
        by_week = po.groupby(["group_id", "week"])
        po_agg = by_week.size().rename("n_posts").to_frame()
        if "replies" in po:
            po_agg["replies"] = by_week["replies"].sum()
        if "readers" in po:
            po_agg["readers"] = by_week["readers"].sum(min_count=1)
            po_agg["post_reach"] = by_week["n_present"].sum()
    elif post_counts:
        po_agg = pd.DataFrame(columns=["n_posts", "replies", "readers", "post_reach"])
    else:
        po_agg = None
    out = base.merge(grid[["group_id", "week", "week_start"]], on=["group_id", "week"])
    for part in (act, pres, po_agg):
        if part is not None:
            out = out.join(part, on=["group_id", "week"])
    for col in ("n_active", "n_present", "n_posts", "replies", "post_reach"):
        if col in out:
            out[col] = out[col].fillna(0).astype("int64")
    if not ds.has("events"):
        out["readers"] = np.nan
    elif "readers" in out:
        out["readers"] = out["readers"].fillna(0).astype(float)
    out["week"] = out["week"].astype("int64")
    out["arm"] = out["group_id"].map(assign.set_index("group_id")["arm"]).astype("str")
    out["period"] = np.where(out["week"] < 0, "pre", "post")
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in metrics:
            num, den, _ = MIX_METRICS[name]
            out[name] = np.where(out[den] > 0, out[num] / out[den], np.nan)
    inputs = {c for m in metrics for c in MIX_METRICS[m][:2]}
    cols = ["group_id", "arm", "week", "week_start", "period", "days",
            *[c for c in ("n_messages", "member_days", "n_active", "n_present", "n_posts", "replies", "readers",
                          "post_reach") if c in inputs], *metrics]
    return out[cols].sort_values(["group_id", "week"], kind="stable").reset_index(drop=True)


def _active_per_week(ds: Dataset, assign: pd.DataFrame) -> pd.Series:
    """Distinct members with a message in each (group, week) of the experiment's groups, weeks counted
    from each group's start date and ending on its end date: one aggregation on the dataset's engine."""
    import ibis

    src = ds.source
    days = pd.DataFrame({"group_id": assign["group_id"].astype(object).to_numpy(),
                         "start_day": assign["start_date"].to_numpy().astype("datetime64[D]").astype("int64"),
                         "end_day": assign["end_date"].to_numpy().astype("datetime64[D]").astype("int64")})
    msgs = src.with_local(src.member_messages(), "sent_us")
    groups = ibis.memtable(days)
    j = msgs.join(groups, "group_id")
    j = j.filter(j.day <= j.end_day)
    j = j.mutate(week=((j.day - j.start_day) / 7.0).floor().cast("int64"))
    counts = src.execute(j.group_by(["group_id", "week"]).aggregate(n_active=j.member_id.nunique()))
    index = pd.MultiIndex.from_arrays([counts["group_id"].astype("str").to_numpy(),
                                       counts["week"].to_numpy(dtype=float)], names=["group_id", "week"])
    return pd.Series(counts["n_active"].to_numpy(dtype="int64"), index=index, name="n_active")


def _group_level(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per group: post- and pre-period sums and ratios of ``metric``."""
    num, den, _ = MIX_METRICS[metric]
    parts = []
    for period in ("post", "pre"):
        sub = table.loc[table["period"] == period].groupby("group_id")[[num, den]].sum()
        sub.columns = [f"{period}_num", f"{period}_den"]
        parts.append(sub)
    arms = table.groupby("group_id")["arm"].first()
    out = pd.concat([arms, *parts], axis=1).reset_index()
    for col in ("post_num", "post_den", "pre_num", "pre_den"):
        out[col] = out[col].fillna(0.0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["post_ratio"] = np.where(out["post_den"] > 0, out["post_num"] / out["post_den"], np.nan)
        out["pre_ratio"] = np.where(out["pre_den"] > 0, out["pre_num"] / out["pre_den"], np.nan)
    return out


def _mix_dose(ds: Dataset, assign: pd.DataFrame, arms: list, control, arm_targets: dict | None,
              mapping: dict) -> tuple[pd.DataFrame, dict, list]:
    """Compliance view: per group, how far the realised post-period mix moved from the control
    mix toward its arm's mix (dose 0 = control mix, 1 = the arm's mix)."""
    notes = []
    posts = ds.posts
    if posts is None or posts.empty:
        return pd.DataFrame(), {}, ["No posts table: no compliance view."]
    presets = mix_presets()
    cats_all = sorted(set(apply_mapping(posts["content_type"], mapping)))
    date = local_date(posts["posted_at"])
    starts = posts["group_id"].map(assign.set_index("group_id")["start_at"])
    ends = posts["group_id"].map(assign.set_index("group_id")["end_at"])
    in_post = ((posts["posted_at"] >= starts) & (posts["posted_at"] < ends)).to_numpy()
    in_pre = (posts["posted_at"] < starts).to_numpy()
    labels = apply_mapping(posts["content_type"], mapping).to_numpy()
    frame = pd.DataFrame({"group_id": posts["group_id"].to_numpy(), "category": labels, "date": date.to_numpy()})

    targets: dict = {}
    sources: dict = {}
    for a in arms:
        spec = (arm_targets or {}).get(a, presets.get(str(a)))
        if spec is not None:
            targets[a] = parse_mix(spec)
            sources[a] = targets[a].name
    if control not in targets:
        if in_pre.any():
            pre = frame.loc[in_pre, "category"].value_counts(normalize=True)
            targets[control] = MixTarget({str(k): float(v) for k, v in pre.items()}, name="pre-period mix")
            sources[control] = "realised pre-period mix of all groups (status quo)"
        else:
            notes.append(f"No target mix for control arm {control!r} and no pre-period: no compliance view.")
            return pd.DataFrame(), {}, notes
    cats = sorted(set(cats_all) | {c for t in targets.values() for c in t.categories})
    counts = (frame.loc[in_post].groupby(["group_id", "category"]).size().unstack(fill_value=0)
              .reindex(columns=cats, fill_value=0))
    shares = counts.div(counts.sum(axis=1), axis=0)
    arm_of = assign.set_index("group_id")["arm"]
    out = pd.DataFrame({"group_id": shares.index, "arm": arm_of.reindex(shares.index).to_numpy(),
                        "n_posts": counts.sum(axis=1).to_numpy()})
    c_vec = targets[control].vector(cats)
    summary = {"targets": {str(a): t.compact() for a, t in targets.items()}, "target_sources": sources,
               "arms": {}}
    for a in arms:
        if a not in targets:
            notes.append(f"No target mix for arm {a!r} (not a preset name; pass arm_targets): no dose for it.")
            continue
        t_vec = targets[a].vector(cats)
        own = shares.to_numpy()
        out[f"tv_to_{a}"] = 0.5 * np.abs(own - t_vec[None, :]).sum(axis=1)
        if a == control:
            continue
        axis = t_vec - c_vec
        norm = axis @ axis
        if norm <= 0:
            notes.append(f"Arm {a!r} has the same target mix as the control: no dose.")
            continue
        out[f"dose_{a}"] = (own - c_vec[None, :]) @ axis / norm
        in_arm = out["arm"] == str(a)
        in_ctl = out["arm"] == str(control)
        first_stage = float(out.loc[in_arm, f"dose_{a}"].mean() - out.loc[in_ctl, f"dose_{a}"].mean())
        summary["arms"][str(a)] = {"mean_dose_arm": float(out.loc[in_arm, f"dose_{a}"].mean()),
                                   "mean_dose_control": float(out.loc[in_ctl, f"dose_{a}"].mean()),
                                   "first_stage": first_stage,
                                   "mean_tv_to_own_target": float(out.loc[in_arm, f"tv_to_{a}"].mean())}
    return out, summary, notes
