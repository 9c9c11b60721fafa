"""Churn-only tables: activity, activity days, churn features, labels and silence spells, one Ibis definition each.

The churn analysis (:mod:`groupstats.analyses.churn`) builds on
:func:`groupstats.tables.features.member_features` and on the expressions here,
which run on the dataset's engine (:class:`~groupstats.engine.Source`: embedded
DuckDB by default, Spark too). Only their aggregated results come back to pandas:
one row per (cutoff, member), per member label, or per silence spell.

*Activity* is what counts as "not silent" (:class:`~groupstats.analyses.churn.ChurnDefinition`):
member messages (no system messages) and/or events of chosen types, never the
operators' (owner/admin in any membership row of the group). An *activity day* is a
local calendar date with at least one activity, day numbers counting days since
1970-01-01 in the dataset's timezone.

Several cutoffs at once
-----------------------
Churn models need the same features at a handful of cutoffs (training, calibration,
evaluation, scoring). :func:`churn_activity_counts` and :func:`churn_label_flags`
compute all of them at once: conditional aggregates per cutoff, or a join with a small
table of cutoffs restricted to the days near each; features at a cutoff use only activity
days strictly before its date, labels only activity in ``(cut, cut + horizon]``.
"""
from __future__ import annotations

KEYS = ("group_id", "member_id")
US_PER_DAY = 86_400_000_000


def activity_expr(src, activity):
    """Expression: (group_id, member_id, at_us) of every non-operator activity of the kinds in ``activity``.

    ``"message"`` is a member message (system messages excluded); any other kind is an
    ``event_type`` of the events table.
    """
    parts = []
    if "message" in activity:
        m = src.member_messages()
        parts.append(m.select("group_id", "member_id", at_us=m.sent_us))
    kinds = [a for a in activity if a != "message"]
    if kinds:
        ev = src.require("events", f"churn defined by {', '.join(kinds)} events")
        ev = ev.filter(ev.event_type.isin(kinds)).anti_join(src.operators(), list(KEYS))
        parts.append(ev.select("group_id", "member_id", at_us=ev.occurred_us))
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)
    return out


def event_days_expr(src, event_type: str):
    """Expression: distinct (group_id, member_id, day) with a non-operator event of ``event_type``."""
    ev = src.table("events")
    ev = ev.filter(ev.event_type == event_type).anti_join(src.operators(), list(KEYS))
    ev = src.with_local(ev.select("group_id", "member_id", "occurred_us"), "occurred_us")
    return ev.select("group_id", "member_id", "day").distinct()


def activity_days_expr(src, activity):
    """Expression: one row per (group_id, member_id, day) with activity: ``first_us``, ``last_us``
    (first and last activity time that day, UTC microseconds)."""
    act = src.with_local(activity_expr(src, activity), "at_us")
    return act.group_by([*KEYS, "day"]).aggregate(first_us=act.at_us.min(), last_us=act.at_us.max())


def cutoff_table(cuts: dict):
    """A small table of cutoffs: ``cut_id`` and one int64 column per entry of ``cuts`` (lists of equal length)."""
    import ibis
    import pandas as pd

    frame = pd.DataFrame({"cut_id": range(len(next(iter(cuts.values()))))})
    for name, values in cuts.items():
        frame[name] = pd.Series(values, dtype="int64")
    frame["cut_id"] = frame["cut_id"].astype("int64")
    return ibis.memtable(frame)


def churn_activity_counts(src, activity, cut_days, windows, half: int, with_reads: bool):
    """Per cutoff and member, the counts the churn-only features are made from (a pandas frame).

    For each cutoff (local day number ``cut_days[k]``, i.e. its local midnight), over the
    member's activity days strictly before that date, with ``age`` = cutoff day - activity
    day (1 = the day before):

    - ``last_us`` (last activity time), ``first_age`` / ``last_age`` (age of the first / last
      activity day), ``n_days`` (activity days);
    - ``a<W>``: activity days with age <= W, for each W in ``windows``;
    - ``recent`` / ``earlier``: activity days with age <= ``half`` / in (half, 2 half];
    - with ``with_reads``, ``r_recent`` / ``r_earlier``: the same two counts of days with a
      ``read`` event (0 for members without one).

    One row per (cut_id, group_id, member_id) with any activity before the cutoff. Three
    queries on the engine, none with more rows than the activity days: the history up to each
    cutoff as conditional aggregates over the (cached) activity days
    (:func:`churn_history_expr`), the windowed counts over the days within the longest window
    before some cutoff (:func:`churn_window_expr`), and the read days likewise.
    """
    import pandas as pd

    cut_days = [int(c) for c in cut_days]
    days = activity_days_expr(src, activity).cache()
    try:
        hist = src.execute(churn_history_expr(days, cut_days))
        win = src.execute(churn_window_expr(days, cut_days, windows, half))
    finally:
        _drop_cache(days)
    parts = []
    for k, c in enumerate(cut_days):
        n = hist[f"n{k}"].to_numpy(dtype="int64", na_value=0)
        rows = hist.loc[n > 0]
        parts.append(pd.DataFrame({
            "cut_id": k, "group_id": rows["group_id"].to_numpy(), "member_id": rows["member_id"].to_numpy(),
            "last_us": rows[f"u{k}"].to_numpy(dtype="int64"), "first_age": c - rows["first_day"].to_numpy(dtype="int64"),
            "last_age": c - rows[f"l{k}"].to_numpy(dtype="int64"), "n_days": n[n > 0]}))
    out = pd.concat(parts, ignore_index=True)
    counts = [*[f"a{w}" for w in windows], "recent", "earlier"]
    out = out.merge(win, on=["cut_id", *KEYS], how="left")
    if with_reads:
        reads = src.execute(churn_window_expr(event_days_expr(src, "read"), cut_days, (), half, prefix="r_"))
        out = out.merge(reads, on=["cut_id", *KEYS], how="outer")
        counts += ["r_recent", "r_earlier"]
    for col in counts:
        out[col] = out[col].fillna(0).astype("int64")
    return out


def churn_history_expr(days, cut_days):
    """Expression: per member, their activity days' history before each cutoff, one column set per cutoff k:
    ``n<k>`` (activity days before cutoff day ``cut_days[k]``), ``l<k>`` (the last of them), ``u<k>`` (their
    last activity time), and ``first_day`` (first activity day)."""
    aggs = {"first_day": days.day.min()}
    for k, c in enumerate(cut_days):
        before = days.day < c
        aggs.update({f"n{k}": days.day.count(where=before), f"l{k}": days.day.max(where=before),
                     f"u{k}": days.last_us.max(where=before)})
    return days.group_by(list(KEYS)).aggregate(**aggs)


def churn_window_expr(days, cut_days, windows, half: int, prefix: str = ""):
    """Expression: per cutoff and member, days (of ``days``: group_id, member_id, day) with age <= W for each
    W of ``windows``, and with age <= ``half`` (``recent``) and in (half, 2 half] (``earlier``); ages 1 (the day
    before the cutoff) to the longest window only, so each day meets the few cutoffs it is near."""
    span = max([*windows, 2 * half])
    cuts = cutoff_table({"cut_day": list(cut_days)})
    d = days.filter((days.day < max(cut_days)) & (days.day >= min(cut_days) - span))
    j = d.join(cuts, [d.day < cuts.cut_day, d.day >= cuts.cut_day - span])
    age = j.cut_day - j.day
    return j.group_by(["cut_id", *KEYS]).aggregate(
        **{f"a{w}": j.day.count(where=age <= w) for w in windows},
        **{f"{prefix}recent": j.day.count(where=age <= half),
           f"{prefix}earlier": j.day.count(where=(age > half) & (age <= 2 * half))})


def _drop_cache(table) -> None:
    try:
        table.release()
    except Exception:  # noqa: BLE001 - a backend without explicit release frees it with the connection
        pass


def churn_label_flags(src, activity, cut_us, horizon_us: int):
    """Expression: per cutoff and member, whether there was activity after and before the cutoff.

    ``after``: any activity in ``(cut, cut + horizon]``; ``before``: any in
    ``(cut - horizon, cut]`` (times in UTC microseconds, ``horizon_us`` the horizon's length).
    One row per (cut_id, group_id, member_id) with activity in either window.
    """
    cut_us = [int(c) for c in cut_us]
    cuts = cutoff_table({"cut_us": cut_us, "lo_us": [c - horizon_us for c in cut_us],
                         "hi_us": [c + horizon_us for c in cut_us]})
    act = activity_expr(src, activity)
    j = act.join(cuts, [act.at_us > cuts.lo_us, act.at_us <= cuts.hi_us])
    return j.group_by(["cut_id", *KEYS]).aggregate(after=j.at_us.count(where=j.at_us > j.cut_us),
                                                   before=j.at_us.count(where=j.at_us <= j.cut_us))


def silence_spell_days(src, activity):
    """Expression: each activity day with the member's next one (``next_day``, NULL for the last),
    ordered by group_id, member_id, day: the starts of the silence spells."""
    import ibis

    days = activity_days_expr(src, activity).select(*KEYS, "day")
    w = ibis.window(group_by=[days.group_id, days.member_id], order_by=days.day)
    return days.mutate(next_day=days.day.lead().over(w)).order_by([*KEYS, "day"])


def first_silence_candidates(src, activity, begin_day: int, horizon: int, n_days: int):
    """Expression: activity days from which a silence of ``horizon`` days starts, after ``begin_day``.

    Days are relative to ``begin_day`` (``p`` = 0 on it); a member active on day p and next on
    day q (NULL: never again) is silent on days p + 1 .. p + horizon when q > p + horizon, a
    silence confirmed only if p + horizon <= ``n_days`` - 1 (the last observed day). Returns
    (group_id, member_id, p) of those days, and per member with any activity from
    ``begin_day`` on, their first such day ``first_p`` (a row with p NULL).
    """
    import ibis

    days = activity_days_expr(src, activity)
    d = days.filter(days.day >= begin_day).select(*KEYS, p=days.day - begin_day)
    w = ibis.window(group_by=[d.group_id, d.member_id], order_by=d.p)
    d = d.mutate(next_p=d.p.lead().over(w))
    ok = (d.next_p.isnull() | (d.next_p > d.p + horizon)) & (d.p + horizon <= n_days - 1)
    cands = d.filter(ok).select(*KEYS, "p", first_p=ibis.null("int64"))
    first = d.group_by(list(KEYS)).aggregate(first_p=d.p.min())
    return cands.union(first.select(*KEYS, p=ibis.null("int64"), first_p=first.first_p))
