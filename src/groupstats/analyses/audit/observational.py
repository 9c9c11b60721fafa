"""The descriptive rules: silence and churn, the core 20%, points tiers, health thresholds and
the lifecycle. They describe the data (no intervention is claimed), so the data themselves can
support or contradict them; each uses an existing analysis and reports an interval.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.reports.i18n import fmt_interval, fmt_num, fmt_p_eq, fmt_pct, t
from groupstats.analyses.audit.rules import make_row
from groupstats.stats.intervals import cluster_mean_ci, cluster_ratio_ci
from groupstats.data.dataset import non_operator_members

__all__ = ["silent_row", "core_row", "points_row", "health_row", "lifecycle_row"]


def _verdict_from_interval(low, high, supported_if, threshold=0.0) -> str:
    """'supported' / 'contradicted' / 'not_shown' from an interval and the side the claim needs."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not_shown"
    if supported_if == "above":
        return "supported" if low > threshold else "contradicted" if high < threshold else "not_shown"
    return "supported" if high < threshold else "contradicted" if low > threshold else "not_shown"


def _compare(frame, **kwargs):
    from groupstats.stats.compare import compare_arms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_arms(frame, correction="none", **kwargs).comparisons


# ------------------------------------------------------------------------------------------
def silent_row(ds, rules: dict, lang: str, cache=None) -> dict:
    """P(speaks again within ``within_days`` | silent ``silent_days``) and the data's own threshold."""
    from groupstats.analyses.churn import how_long_is_gone

    spec = rules["rules"]["silent_30d_churned"]
    d0, within, level = int(spec["silent_days"]), float(spec["within_days"]), float(spec["gone_below"])
    tv = {"within": f"{within:g}", "level": fmt_pct(level, lang)}
    keys = ds.members[["group_id", "member_id"]].drop_duplicates().assign(segment="all")
    try:
        compute = lambda: how_long_is_gone(ds, within=within, days=range(1, 181), level=level,  # noqa: E731
                                           segments=keys)
        res = cache.memo(("silence", within, level), compute) if cache is not None else compute()
    except GroupstatsError as exc:
        return make_row("silent_30d_churned", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.silent.none", lang, error=str(exc)), test_values=tv)
    curve = res.curve.curve
    at = curve.loc[curve["d"] == d0]
    threshold = res.thresholds.get("all")
    confident = res.thresholds_confident.get("all")
    estimable = curve.loc[np.isfinite(curve["p_return"].to_numpy(float)), "d"]
    dmax = f"{estimable.max():g}" if len(estimable) else "0"
    thr_text = (t("audit.silent.threshold", lang, d=f"{threshold:g}", level=fmt_pct(level, lang))
                if threshold is not None else t("audit.silent.no_threshold", lang, level=fmt_pct(level, lang),
                                                 dmax=dmax))
    if confident is not None:
        thr_text += " " + t("audit.silent.confident", lang, d=f"{confident:g}")
    if at.empty or not np.isfinite(at["p_return"].iloc[0]):
        return make_row("silent_30d_churned", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.silent.too_short", lang, d=d0, within=f"{within:g}") + " " + thr_text,
                        test_values=tv, suggested_threshold_days=threshold)
    r = at.iloc[0]
    verdict = _verdict_from_interval(r["ci_low"], r["ci_high"], "below", level)
    reason = t(f"audit.silent.{verdict}", lang, d=d0, within=f"{within:g}", p=fmt_pct(r["p_return"], lang),
               ci=fmt_interval(r["ci_low"], r["ci_high"], lang, signed=False), level=fmt_pct(level, lang),
               n=fmt_num(r["n_at_risk"], lang)) + " " + thr_text
    if verdict == "not_shown":
        reason += " " + t("audit.settle.silent", lang)
    return make_row("silent_30d_churned", rules, lang, evidence="observational", verdict=verdict, reason=reason,
                    estimate=r["p_return"], ci_low=r["ci_low"], ci_high=r["ci_high"], unit_key="audit.unit.prob",
                    test_values=tv, suggested_threshold_days=threshold, confident_threshold_days=confident)


# ------------------------------------------------------------------------------------------
def top_share_table(ds, top: float = 0.2, min_members: int = 5) -> pd.DataFrame:
    """Per group and calendar month: members present, share of member messages sent by the top
    ``top`` of them, and the share of those top members who are again in the top next month.

    Only months fully inside the data (all of them if fewer than two are) count. Members
    present = joined before the month's end and not left before its start (operators excluded).
    """
    from groupstats.tables.derived import local_date, member_messages

    msgs = member_messages(ds)
    month = local_date(msgs["sent_at"]).dt.to_period("M")
    counts = (pd.DataFrame({"group_id": msgs["group_id"].to_numpy(), "member_id": msgs["member_id"].to_numpy(),
                            "month": month.to_numpy()})
              .groupby(["group_id", "month", "member_id"]).size().rename("n").reset_index())
    first, last = local_date(pd.Series([ds.start])).iloc[0], local_date(pd.Series([ds.end])).iloc[0]
    months = pd.period_range(first.to_period("M"), last.to_period("M"), freq="M")
    full = [m for m in months if m.start_time >= first and m.end_time.normalize() <= last]
    use = full if len(full) >= 2 else list(months)
    members = non_operator_members(ds.members)
    tz = ds.tz
    frames = []
    for m in use:  # a handful of months: vectorised within each
        start = pd.Timestamp(m.start_time).tz_localize(tz)
        end = pd.Timestamp(m.end_time).tz_localize(tz)
        present = members.loc[(members["joined_at"] <= end) & (members["left_at"].isna() | (members["left_at"] >= start)),
                              ["group_id", "member_id"]].drop_duplicates()
        frames.append(present.assign(month=m))
    if not frames:
        return pd.DataFrame(columns=["group_id", "month", "n_members", "top_share", "stability"])
    pres = pd.concat(frames, ignore_index=True)
    pres = pres.merge(counts, on=["group_id", "month", "member_id"], how="left").fillna({"n": 0})
    pres["n_members"] = pres.groupby(["group_id", "month"])["member_id"].transform("size")
    pres = pres.sort_values(["group_id", "month", "n", "member_id"], ascending=[True, True, False, True],
                            kind="stable")
    pres["rank"] = pres.groupby(["group_id", "month"]).cumcount() + 1
    pres["k"] = np.ceil(top * pres["n_members"]).astype(int)
    pres["top"] = (pres["rank"] <= pres["k"]) & (pres["n"] > 0)
    g = pres.groupby(["group_id", "month"])
    table = pd.DataFrame({"n_members": g.size(), "n_messages": g["n"].sum(),
                          "top_messages": pres.loc[pres["top"]].groupby(["group_id", "month"])["n"].sum()})
    table["top_messages"] = table["top_messages"].fillna(0)
    table["top_share"] = np.where(table["n_messages"] > 0, table["top_messages"] / table["n_messages"], np.nan)
    # stability: of month m's top members still present in m+1, the share in m+1's top
    tops = pres.loc[pres["top"], ["group_id", "month", "member_id"]]
    nxt = pres[["group_id", "month", "member_id", "top"]].assign(month=pres["month"] - 1)
    follow = tops.merge(nxt, on=["group_id", "month", "member_id"], how="inner")
    stab = follow.groupby(["group_id", "month"])["top"].mean()
    table["stability"] = stab.reindex(table.index)
    table = table.reset_index()
    return table.loc[table["n_members"] >= min_members].reset_index(drop=True)


def core_row(ds, rules: dict, lang: str, cache=None) -> dict:
    spec = rules["rules"]["core_top20"]
    top, min_share, min_stab = float(spec["top_share"]), float(spec["min_message_share"]), float(spec["min_stability"])
    tv = {"share": fmt_pct(min_share, lang), "stab": fmt_pct(min_stab, lang)}
    alpha = rules["alpha"]
    compute = lambda: top_share_table(ds, top, int(spec.get("min_members", 5)))  # noqa: E731
    table = cache.memo(("top_share", top, spec.get("min_members", 5)), compute) if cache is not None else compute()
    per_group = table.groupby("group_id")[["top_share", "stability"]].mean()
    share = cluster_mean_ci(per_group["top_share"], alpha)
    stab = cluster_mean_ci(per_group["stability"], alpha)
    if share["n_clusters"] < 2 or stab["n_clusters"] < 2:
        return make_row("core_top20", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.core.too_short", lang), test_values=tv)
    v_share = _verdict_from_interval(share["ci_low"], share["ci_high"], "above", min_share)
    v_stab = _verdict_from_interval(stab["ci_low"], stab["ci_high"], "above", min_stab)
    verdict = ("supported" if v_share == v_stab == "supported" else
               "contradicted" if "contradicted" in (v_share, v_stab) else "not_shown")
    reason = t("audit.core.reason", lang, share=fmt_pct(share["estimate"], lang),
               share_ci=fmt_interval(share["ci_low"], share["ci_high"], lang, signed=False),
               stab=fmt_pct(stab["estimate"], lang), stab_ci=fmt_interval(stab["ci_low"], stab["ci_high"], lang, signed=False),
               groups=share["n_clusters"], months=int(table["month"].nunique()), min_share=fmt_pct(min_share, lang),
               min_stab=fmt_pct(min_stab, lang))
    if verdict == "not_shown":
        reason += " " + t("audit.settle.core", lang)
    return make_row("core_top20", rules, lang, evidence="observational", verdict=verdict, reason=reason,
                    estimate=share["estimate"], ci_low=share["ci_low"], ci_high=share["ci_high"],
                    unit_key="audit.unit.share_messages", test_values=tv,
                    stability=stab["estimate"], stability_ci_low=stab["ci_low"], stability_ci_high=stab["ci_high"])


# ------------------------------------------------------------------------------------------
def points_row(ds, rules: dict, lang: str, cache=None) -> dict:
    """Points tiers at ``end - horizon``; member messages in the following ``horizon`` days by tier."""
    from groupstats.analyses.tiers import assign_tiers, load_preset
    from groupstats.tables.derived import member_messages

    spec = rules["rules"]["points_tiers"]
    horizon = int(spec["horizon_days"])
    tv = {"days": horizon}
    alpha = rules["alpha"]
    end = ds.end
    cutoff = (end - pd.Timedelta(days=horizon)).normalize()
    if cutoff <= ds.start + pd.Timedelta(days=14):
        return make_row("points_tiers", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.points.too_short", lang, days=horizon), test_values=tv)
    preset = load_preset(spec.get("preset", "points"))
    ladder = [r["name"] for r in sorted(preset["ladder"], key=lambda r: r["min"])]
    try:
        compute = lambda: assign_tiers(ds, spec.get("preset", "points"), cutoff=cutoff).assignments  # noqa: E731
        tiers = cache.memo(("tiers", spec.get("preset", "points"), cutoff), compute) if cache is not None else compute()
    except GroupstatsError as exc:
        return make_row("points_tiers", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.points.failed", lang, error=str(exc)), test_values=tv)
    msgs = member_messages(ds)
    later = msgs.loc[(msgs["sent_at"] >= cutoff) & (msgs["sent_at"] < cutoff + pd.Timedelta(days=horizon))]
    future = later.groupby(["group_id", "member_id"]).size().rename("future_messages")
    frame = tiers[["group_id", "member_id", "tier"]].join(future, on=["group_id", "member_id"]).fillna(
        {"future_messages": 0})
    counts = frame["tier"].value_counts()
    groups_per_tier = frame.groupby("tier")["group_id"].nunique()
    ok = [name for name in ladder if counts.get(name, 0) >= 5 and groups_per_tier.get(name, 0) >= 2]
    if len(ok) < len(ladder) or frame["group_id"].nunique() < 3:
        return make_row("points_tiers", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.points.empty", lang, counts=", ".join(f"{n}: {counts.get(n, 0)}" for n in ladder)),
                        test_values=tv)
    pairs = []
    for lower, upper in zip(ladder[:-1], ladder[1:]):
        sub = frame.loc[frame["tier"].isin([lower, upper])]
        c = _compare(sub, arm="tier", metric="future_messages", kind="mean", control=lower, cluster="group_id",
                     alpha=alpha).iloc[0]
        pairs.append({"lower": lower, "upper": upper, "rel": float(c["rel_diff"]), "rel_low": float(c["rel_ci_low"]),
                      "rel_high": float(c["rel_ci_high"]), "p_value": float(c["p_value"]),
                      "lower_mean": float(c["control_mean"]), "upper_mean": float(c["arm_mean"])})
    verdicts = [_verdict_from_interval(p["rel_low"], p["rel_high"], "above") for p in pairs]
    verdict = ("supported" if all(v == "supported" for v in verdicts) else
               "contradicted" if "contradicted" in verdicts else "not_shown")
    binding = min(pairs, key=lambda p: p["rel"])
    parts = "; ".join(t("audit.points.pair", lang, upper=p["upper"], lower=p["lower"], um=fmt_num(p["upper_mean"], lang),
                        lm=fmt_num(p["lower_mean"], lang), est=fmt_pct(p["rel"], lang, signed=True),
                        ci=fmt_interval(p["rel_low"], p["rel_high"], lang), p=fmt_p_eq(p["p_value"])) for p in pairs)
    reason = t("audit.points.reason", lang, cutoff=f"{cutoff:%Y-%m-%d}", days=horizon,
               counts=", ".join(f"{n} {counts.get(n, 0)}" for n in ladder), pairs=parts)
    if verdict == "not_shown":
        reason += " " + t("audit.settle.points", lang)
    return make_row("points_tiers", rules, lang, evidence="observational", verdict=verdict, reason=reason,
                    estimate=binding["rel"], ci_low=binding["rel_low"], ci_high=binding["rel_high"],
                    unit_key="audit.unit.rel_activity", test_values=tv, comparisons=pairs)


# ------------------------------------------------------------------------------------------
def _window_sums(wk: pd.DataFrame, cols, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group-week, sums of ``cols`` over the k weeks before and the k weeks after (NaN if incomplete)."""
    before, after = {}, {}
    g = wk.groupby("group_id")
    for c in cols:
        cs = g[c].cumsum()
        prev = cs - wk[c]                       # sum up to w - 1
        before[c] = prev - cs.groupby(wk["group_id"]).shift(k + 1).fillna(0)   # weeks w-k .. w-1
        after[c] = cs.groupby(wk["group_id"]).shift(-k) - cs                   # weeks w+1 .. w+k
    pos = g.cumcount()
    n = g["group_id"].transform("size")
    full_before = pos >= k
    full_after = pos < n - k
    b = pd.DataFrame(before).where(full_before)
    a = pd.DataFrame(after).where(full_after)
    return b, a


def health_row(ds, rules: dict, lang: str, cache=None) -> dict:
    from groupstats.analyses.health import _judge, group_week_health, load_thresholds

    spec = rules["rules"]["health_thresholds"]
    k = int(spec["following_weeks"])
    tv = {"weeks": k}
    alpha = rules["alpha"]
    th = load_thresholds(None)
    wk = cache.week_health() if cache is not None else group_week_health(ds, silent_days=th["silent_days"])
    wk = wk.loc[wk["days"] == 7].sort_values(["group_id", "week_start"], kind="stable").reset_index(drop=True)
    if wk.empty or wk["group_id"].nunique() < 3:
        return make_row("health_thresholds", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.health.too_short", lang), test_values=tv)
    before, after = _window_sums(wk, ["n_messages", "member_days"], k)
    with np.errstate(divide="ignore", invalid="ignore"):
        before_rate = before["n_messages"] / before["member_days"]
    expected = after["member_days"] * before_rate
    details = []
    any_flag = np.zeros(len(wk), dtype=bool)
    any_valid = np.zeros(len(wk), dtype=bool)
    for metric, lv in th["thresholds"].items():
        if metric not in wk:
            continue
        status = _judge(wk[metric].to_numpy(float), lv)
        valid = status != "n/a"
        flagged = np.isin(status, ("warning", "alert"))
        entry = {"metric": metric, "source": lv.get("source"), "warning": lv["warning"], "alert": lv["alert"],
                 "healthy": lv["healthy"]}
        if valid.sum() == 0:
            entry.update(verdict="not_testable", share_flagged=None)
            details.append(entry)
            continue
        any_flag |= flagged & valid
        any_valid |= valid
        sh = cluster_ratio_ci(flagged[valid].astype(float), np.ones(valid.sum()), wk["group_id"].to_numpy()[valid], alpha)
        entry.update(share_flagged=sh["estimate"], share_ci_low=sh["ci_low"], share_ci_high=sh["ci_high"])
        prev_ok = pd.Series(status).groupby(wk["group_id"]).shift(1).to_numpy() == "ok"
        crossing = prev_ok & flagged
        stay = prev_ok & (status == "ok")
        use = (crossing | stay) & np.isfinite(expected.to_numpy()) & (expected.to_numpy() > 0)
        n_cross = int((crossing & use).sum())
        entry["n_crossings"] = n_cross
        if n_cross < int(spec.get("min_crossings", 5)) or wk.loc[use, "group_id"].nunique() < 3:
            entry["verdict"] = "not_testable"
            details.append(entry)
            continue
        frame = pd.DataFrame({"group_id": wk["group_id"].to_numpy()[use], "after": after["n_messages"].to_numpy()[use],
                              "expected": expected.to_numpy()[use], "crossing": np.where(crossing[use], "yes", "no")})
        try:
            c = _compare(frame, arm="crossing", metric="after", kind="ratio", denominator="expected", control="no",
                         cluster="group_id", alpha=alpha).iloc[0]
        except GroupstatsError:
            entry["verdict"] = "not_testable"
            details.append(entry)
            continue
        entry.update(rel=float(c["rel_diff"]), rel_ci_low=float(c["rel_ci_low"]), rel_ci_high=float(c["rel_ci_high"]),
                     p_value=float(c["p_value"]),
                     verdict=_verdict_from_interval(c["rel_ci_low"], c["rel_ci_high"], "below"))
        details.append(entry)
    testable = [d for d in details if d["verdict"] != "not_testable"]
    overall = cluster_ratio_ci(any_flag[any_valid].astype(float), np.ones(any_valid.sum()),
                               wk["group_id"].to_numpy()[any_valid], alpha) if any_valid.any() else None
    if not testable:
        verdict = "not_testable"
    elif all(d["verdict"] == "supported" for d in testable):
        verdict = "supported"
    elif all(d["verdict"] == "contradicted" for d in testable):
        verdict = "contradicted"
    else:
        verdict = "not_shown"
    parts = []
    for d in details:
        name = t(f"metric.{d['metric']}", lang) if f"metric.{d['metric']}" in _CATALOGUE() else d["metric"]
        if d.get("share_flagged") is None:
            parts.append(t("audit.health.no_data", lang, metric=name))
        elif "rel" in d:
            parts.append(t("audit.health.part", lang, metric=name, share=fmt_pct(d["share_flagged"], lang),
                           n=d["n_crossings"], est=fmt_pct(d["rel"], lang, signed=True),
                           ci=fmt_interval(d["rel_ci_low"], d["rel_ci_high"], lang),
                           verdict=t(f"verdict.{d['verdict']}", lang)))
        else:
            parts.append(t("audit.health.part_few", lang, metric=name, share=fmt_pct(d["share_flagged"], lang),
                           n=d.get("n_crossings", 0)))
    reason = t("audit.health.reason", lang, weeks=k, n=len(wk)) + " " + "; ".join(parts) + "."
    if verdict in ("not_testable", "not_shown"):
        reason += " " + t("audit.health.need", lang, weeks=k)
    return make_row("health_thresholds", rules, lang, evidence="observational", verdict=verdict, reason=reason,
                    estimate=overall["estimate"] if overall else None, ci_low=overall["ci_low"] if overall else None,
                    ci_high=overall["ci_high"] if overall else None, unit_key="audit.unit.share_weeks",
                    test_values=tv, details=details)


def _CATALOGUE():
    from groupstats.reports.i18n import CATALOGUE

    return CATALOGUE


# ------------------------------------------------------------------------------------------
def lifecycle_row(ds, rules: dict, lang: str, cache=None) -> dict:
    from groupstats.analyses.health import group_week_health

    spec = rules["rules"]["lifecycle_decline"]
    b1, b2, b3 = (int(x) for x in spec["stages"])
    labels = [f"0-{b1}", f"{b1 + 1}-{b2}", f"{b2 + 1}-{b3}", f"{b3 + 1}+"]
    alpha = rules["alpha"]
    wk = cache.week_health() if cache is not None else group_week_health(ds)
    wk = wk.loc[(wk["days"] == 7) & (wk["member_days"] > 0) & wk["age_days"].notna()].reset_index(drop=True)
    idx = np.searchsorted(np.array([b1, b2, b3], float), wk["age_days"].to_numpy(float), side="left")
    wk["stage"] = np.array(labels, dtype=object)[idx]
    wk["week"] = wk["week_start"].astype(str)
    before, after = labels[2], labels[3]
    crossing_groups = wk.groupby("group_id")["stage"].agg(lambda s: {before, after} <= set(s))
    n_cross = int(crossing_groups.sum())
    counts = wk["stage"].value_counts()
    if n_cross < 2 or counts.get(before, 0) == 0 or counts.get(after, 0) == 0:
        return make_row("lifecycle_decline", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.lifecycle.need", lang, n=n_cross, b=b3))
    try:
        comp = _compare(wk, arm="stage", metric="messages_per_member_day", kind="mean", control=before,
                        cluster="group_id", fixed_effects=["group_id", "week"], alpha=alpha)
    except GroupstatsError as exc:
        return make_row("lifecycle_decline", rules, lang, evidence="observational", verdict="not_testable",
                        reason=t("audit.lifecycle.need", lang, n=n_cross, b=b3) + f" ({exc})")
    r = comp.loc[comp["arm"].astype(str) == after].iloc[0]
    verdict = _verdict_from_interval(r["rel_ci_low"], r["rel_ci_high"], "below")
    reason = t("audit.lifecycle.reason", lang, after=after, before=before, est=fmt_pct(r["rel_diff"], lang, signed=True),
               ci=fmt_interval(r["rel_ci_low"], r["rel_ci_high"], lang), p=fmt_p_eq(r["p_value"]), n=n_cross,
               groups=int(wk["group_id"].nunique()),
               counts=", ".join(f"{s}: {int(counts.get(s, 0))}" for s in labels))
    if verdict == "not_shown":
        reason += " " + t("audit.settle.lifecycle", lang, b=b3)
    return make_row("lifecycle_decline", rules, lang, evidence="observational", verdict=verdict, reason=reason,
                    estimate=r["rel_diff"], ci_low=r["rel_ci_low"], ci_high=r["rel_ci_high"], unit_key="audit.unit.rel",
                    p_value=float(r["p_value"]), groups_crossing=n_cross)
