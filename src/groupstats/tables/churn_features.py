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
evaluation, scoring). :func:`churn_counts_and_flags` computes the counts and the label flags
of all of them in one aggregation of the activity per member: conditional aggregates per
cutoff, and each member's activity days as bit masks counted per window in pandas;
:func:`churn_label_flags` alone joins the activity with a small table of cutoffs. Features at
a cutoff use only activity days strictly before its date, labels only activity in
``(cut, cut + horizon]``.
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

    One row per (cut_id, group_id, member_id) with any activity before the cutoff, and with
    ``with_reads`` also one per cutoff and member with a read day in the ``2 half`` days before
    it (their other columns NaN). See :func:`churn_counts_and_flags` for how it is computed.
    """
    return churn_counts_and_flags(src, activity, cut_days, windows, half, with_reads)[0]


#: Days per bit-mask column of :func:`churn_counts_and_flags` (bits 0-62 of a 64-bit integer).
MASK_DAYS = 63


def churn_counts_and_flags(src, activity, cut_days, windows, half: int, with_reads: bool, flag_cuts_us=(),
                           horizon_us: int | None = None):
    """:func:`churn_activity_counts` and, for the cutoffs ``flag_cuts_us`` (UTC microseconds), the label
    flags of :func:`churn_label_flags`, from one aggregation of the activity per member (and one of the
    read events).

    Each member's activity days are a set of bits (day - first day of the data, in
    :data:`MASK_DAYS`-day 64-bit masks, ``bit_or`` in the engine): the days before a cutoff and in each
    window are then counted in pandas by ``popcount`` of the masks, so no (member, day) table is
    built. The last activity before each cutoff and the flags are conditional aggregates in the same
    pass. Activity days before the first message's date (events can precede it) are counted
    directly (``count(distinct day)`` over those few rows).

    Returns
    -------
    (counts, flags): counts as :func:`churn_activity_counts`; flags as :func:`churn_label_flags`
    (``cut_id``, group_id, member_id, ``after``, ``before``; activities counted), None without
    ``flag_cuts_us``.
    """
    import numpy as np
    import pandas as pd

    from groupstats.tables.feature_counts import local_day

    cut_days = [int(c) for c in cut_days]
    flag_cuts_us = [int(c) for c in flag_cuts_us]
    first_us = src.message_range_us()[0]
    base = min(cut_days) if first_us is None else min(local_day(src, first_us), min(cut_days))
    act = src.with_local(activity_expr(src, activity), "at_us")
    aggs = {"first_day": act.day.min(), "n_early": act.day.nunique(where=act.day < base)}
    for k, c in enumerate(cut_days):
        before = act.day < c
        aggs.update({f"l{k}": act.day.max(where=before), f"u{k}": act.at_us.max(where=before)})
    for k, c in enumerate(flag_cuts_us):
        aggs[f"fa{k}"] = act.at_us.count(where=(act.at_us > c) & (act.at_us <= c + int(horizon_us)))
        aggs[f"fb{k}"] = act.at_us.count(where=(act.at_us > c - int(horizon_us)) & (act.at_us <= c))
    aggs.update(_day_masks(act, base, max(cut_days)))
    hist = src.execute(_with_zero_masks(act.group_by(list(KEYS)).aggregate(**aggs)))
    masks = _masks_of(hist)
    n_early = hist["n_early"].to_numpy(dtype="int64", na_value=0)
    spans = {**{f"a{w}": (w, 0) for w in windows}, "recent": (half, 0), "earlier": (2 * half, half)}
    parts = []
    for k, c in enumerate(cut_days):
        n = n_early + _count_days(masks, base, None, c)
        rows = n > 0
        part = {"cut_id": k, "group_id": hist["group_id"].to_numpy()[rows],
                "member_id": hist["member_id"].to_numpy()[rows],
                "last_us": hist[f"u{k}"].to_numpy(dtype="int64", na_value=0)[rows],
                "first_age": c - hist["first_day"].to_numpy(dtype="int64")[rows],
                "last_age": c - hist[f"l{k}"].to_numpy(dtype="int64", na_value=0)[rows], "n_days": n[rows]}
        for name, (far, near) in spans.items():  # days with age in (near, far]
            part[name] = _count_days(masks, base, c - far, c - near)[rows]
        parts.append(pd.DataFrame(part))
    out = pd.concat(parts, ignore_index=True)
    if with_reads:
        reads = _read_day_counts(src, cut_days, half)
        out = out.merge(reads, on=["cut_id", *KEYS], how="outer")
        for col in [*spans, "r_recent", "r_earlier"]:
            out[col] = out[col].fillna(0).astype("int64")
    flags = None
    if flag_cuts_us:
        flag_parts = []
        for k in range(len(flag_cuts_us)):
            after = hist[f"fa{k}"].to_numpy(dtype="int64", na_value=0)
            before = hist[f"fb{k}"].to_numpy(dtype="int64", na_value=0)
            keep = (after > 0) | (before > 0)
            flag_parts.append(pd.DataFrame({"cut_id": k, "group_id": hist["group_id"].to_numpy()[keep],
                                            "member_id": hist["member_id"].to_numpy()[keep],
                                            "after": after[keep], "before": before[keep]}))
        flags = pd.concat(flag_parts, ignore_index=True)
    return out, flags


def _day_masks(table, base: int, stop: int, prefix: str = "m") -> dict:
    """Aggregates: ``<prefix><i>`` = ``bit_or`` of ``1 << (day - base - i * MASK_DAYS)`` over the rows whose
    ``day`` is in ``[base + i * MASK_DAYS, ...)`` and before ``stop`` (NULL if none)."""
    from groupstats.tables.feature_counts import bit_or_aggregate

    bit_or = bit_or_aggregate()
    one = table.day * 0 + 1  # a 64-bit 1 (day is int64) in every engine: a literal 1 is a 32-bit INT in SQL
    out = {}
    for i, lo in enumerate(range(base, stop, MASK_DAYS)):
        inside = (table.day >= lo) & (table.day < min(lo + MASK_DAYS, stop))
        shift = (table.day - lo).clip(lower=0, upper=MASK_DAYS - 1).cast("int32")  # engines shift every row
        out[f"{prefix}{i}_{lo}"] = bit_or(one << shift, where=inside)
    return out


def _with_zero_masks(table):
    """The masks of :func:`_day_masks` with NULL as 0 (no day), in the engine: a NULL would make the
    column float and lose the high bits."""
    import ibis

    cols = [c for c in table.columns if _mask_start(c) is not None]
    return table.mutate(**{c: ibis.coalesce(table[c], 0) for c in cols}) if cols else table


def _mask_start(name: str):
    """The first day of a mask column ``m<i>_<day>`` / ``r<i>_<day>``, else None."""
    head, _, day = name.partition("_")
    if head[:1] in ("m", "r") and head[1:].isdigit() and day.lstrip("-").isdigit():
        return int(day)
    return None


def _masks_of(frame, prefix: str = "m") -> list:
    """[(first day, int64 array)] of the mask columns ``<prefix><i>_<day>`` of an executed frame."""
    import numpy as np

    return [(_mask_start(c), frame[c].to_numpy(dtype=np.int64)) for c in frame.columns
            if c.startswith(prefix) and _mask_start(c) is not None]


def _count_days(masks: list, base: int, start, stop: int):
    """Per row, the days set in ``masks`` in ``[start, stop)`` (``start`` None: from the first)."""
    import numpy as np

    n = np.zeros(len(masks[0][1]) if masks else 0, dtype=np.int64)
    for lo, bits in masks:
        a = 0 if start is None else min(max(start - lo, 0), MASK_DAYS)
        b = min(max(stop - lo, 0), MASK_DAYS)
        if b <= a:
            continue
        window = np.int64(((1 << b) - 1) ^ ((1 << a) - 1))
        n += np.bitwise_count(bits & window).astype(np.int64)
    return n


def _read_day_counts(src, cut_days: list, half: int):
    """Per cutoff and member with a non-operator ``read`` event on a day in the ``2 half`` days before it:
    ``r_recent`` (read days with age <= half) and ``r_earlier`` (age in (half, 2 half]); one aggregation of
    the read events per member with the days as bit masks (:func:`_day_masks`)."""
    import pandas as pd

    ev = src.table("events")
    ev = ev.filter(ev.event_type == "read").anti_join(src.operators(), list(KEYS))
    ev = src.with_local(ev.select("group_id", "member_id", "occurred_us"), "occurred_us")
    lo, hi = min(cut_days) - 2 * half, max(cut_days)
    ev = ev.filter((ev.day >= lo) & (ev.day < hi))
    frame = src.execute(_with_zero_masks(ev.group_by(list(KEYS)).aggregate(**_day_masks(ev, lo, hi, prefix="r"))))
    masks = _masks_of(frame, prefix="r")
    parts = []
    for k, c in enumerate(cut_days):
        recent, earlier = _count_days(masks, lo, c - half, c), _count_days(masks, lo, c - 2 * half, c - half)
        rows = (recent + earlier) > 0
        parts.append(pd.DataFrame({"cut_id": k, "group_id": frame["group_id"].to_numpy()[rows],
                                   "member_id": frame["member_id"].to_numpy()[rows],
                                   "r_recent": recent[rows], "r_earlier": earlier[rows]}))
    return pd.concat(parts, ignore_index=True)


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
