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

from groupstats.tables.member_numbers import number_members

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
    flags of :func:`churn_label_flags`, from two small aggregations of the activity (and one of the read
    events), with no conditional aggregate per cutoff.

    - Per (member, *segment*, *word*): the segment of an activity day is how many cutoff dates are not
      after it (day ``< cut_days[k]`` exactly when its segment is ``<= k``), its word ``(day - base) //``
      :data:`MASK_DAYS`; the aggregation gives the day bits (``bit_or`` of ``1 << (day - base) %``
      :data:`MASK_DAYS`), the last day and time and the first day. The last activity before each
      cutoff's date is then a running maximum over the segments, and the activity days before it and in
      each window are counted in pandas by ``popcount`` of the masks (:func:`_count_days`): no (member,
      day) table and no aggregate per cutoff (18 per-cutoff ``FILTER`` aggregates over every activity row
      cost ~4x more engine time at 10M messages).
    - Per (member, time segment) the activity count, the time segments cut at each flag cutoff and
      ``horizon_us`` before and after it: the activity in ``(c, c + h]`` and ``(c - h, c]`` is then a
      difference of running sums.

    Activity days before ``base`` (the first message's date, or the first cutoff's if earlier; only
    events can precede it) are counted directly (``count(distinct day)`` over those few rows).

    Returns
    -------
    (counts, flags): counts as :func:`churn_activity_counts`; flags as :func:`churn_label_flags`
    (``cut_id``, group_id, member_id, ``after``, ``before``; activities counted), None without
    ``flag_cuts_us``. Rows sorted by cutoff and keys.
    """
    import ibis
    import numpy as np
    import pandas as pd

    from groupstats.tables.feature_counts import bit_or_aggregate, edge_index, int64_one, local_day

    cut_days = [int(c) for c in cut_days]
    flag_cuts_us = [int(c) for c in flag_cuts_us]
    first_us = src.first_message_us()
    base = min(cut_days) if first_us is None else min(local_day(src, first_us), min(cut_days))
    stop = max(cut_days)
    act = src.with_local(activity_expr(src, activity), "at_us")
    order = sorted(set(cut_days))
    seg = edge_index(act.day, order, strict=True)
    inside = (act.day >= base) & (act.day < stop)  # the days the masks hold
    offset = ibis.ifelse(inside, act.day - base, 0)  # >= 0 on every row: engines shift every row
    one = int64_one(act.day)
    act = act.mutate(_seg=seg, _word=ibis.ifelse(inside, offset // MASK_DAYS, -1),
                     _bit=ibis.ifelse(inside, one << (offset % MASK_DAYS).cast("int32"), 0))
    rows = src.execute(act.group_by([*KEYS, "_seg", "_word"]).aggregate(
        _bits=bit_or_aggregate()(act._bit), _last_day=act.day.max(), _last_us=act.at_us.max(),
        _first_day=act.day.min()))
    reads = _read_day_rows(src, cut_days, half) if with_reads else None
    # one numbering of the members with activity or reads: the counts are arrays over it, no key merge
    keys, (member, *read_member) = number_members(rows, *([reads[0]] if with_reads else []))
    n_members, n_seg = len(keys), len(order) + 1
    segs = rows["_seg"].to_numpy(dtype=np.int64)
    at = member * n_seg + segs
    last_day = running_max(at, rows["_last_day"].to_numpy(dtype=np.int64), n_members, n_seg)
    last_us = running_max(at, rows["_last_us"].to_numpy(dtype=np.int64), n_members, n_seg)
    first_day = np.full(n_members, np.iinfo(np.int64).max)
    np.minimum.at(first_day, member, rows["_first_day"].to_numpy(dtype=np.int64))
    masks = _word_masks(member, rows["_word"].to_numpy(dtype=np.int64), rows["_bits"].to_numpy(dtype=np.int64),
                        range(base, stop, MASK_DAYS), n_members)
    n_early = _early_days(src, activity, base, keys) if tuple(activity) != ("message",) else \
        np.zeros(n_members, dtype=np.int64)  # (no member message precedes the first message's date)
    if with_reads:
        frame, lo, hi = reads
        read_masks = _word_masks(read_member[0], frame["_word"].to_numpy(dtype=np.int64),
                                 frame["_bits"].to_numpy(dtype=np.int64), range(lo, hi, MASK_DAYS), n_members)
    spans = {**{f"a{w}": (w, 0) for w in windows}, "recent": (half, 0), "earlier": (2 * half, half)}
    columns: dict = {}
    for k, c in enumerate(cut_days):
        s = order.index(c)  # segments <= s: the days before c
        n = n_early + _count_days(masks, base, None, c)
        active = n > 0
        part = {"last_us": last_us[:, s], "first_age": c - first_day, "last_age": c - last_day[:, s], "n_days": n}
        if with_reads:  # members with read days but no activity before c: a row, its activity columns NaN
            recent = _count_days(read_masks, lo, c - half, c)
            earlier = _count_days(read_masks, lo, c - 2 * half, c - half)
            sel = np.flatnonzero(active | ((recent + earlier) > 0))
            part = {name: np.where(active, values, np.nan)[sel] for name, values in part.items()}
        else:
            sel = np.flatnonzero(active)
            part = {name: values[sel] for name, values in part.items()}
        part = {"cut_id": np.full(len(sel), k, dtype=np.int64), "_member": sel, **part}
        for name, (far, near) in spans.items():  # days with age in (near, far]
            part[name] = _count_days(masks, base, c - far, c - near)[sel]
        if with_reads:
            part["r_recent"], part["r_earlier"] = recent[sel], earlier[sel]
        for name, values in part.items():
            columns.setdefault(name, []).append(values)
    columns = {name: np.concatenate(parts) for name, parts in columns.items()}
    at_member = columns.pop("_member")
    # (the keys' own text arrays, taken: no round trip through Python strings)
    out = pd.DataFrame({"cut_id": columns.pop("cut_id"), "group_id": keys["group_id"].array.take(at_member),
                        "member_id": keys["member_id"].array.take(at_member), **columns})
    flags = _flags(src, activity, flag_cuts_us, int(horizon_us)) if flag_cuts_us else None
    return out, flags


def _word_masks(member, words, bits, starts, n_members: int) -> list:
    """[(first day, int64 array over the members)]: the day bits of each mask word OR-ed per member."""
    import numpy as np

    masks = []
    for i, lo in enumerate(starts):
        word = np.zeros(n_members, dtype=np.int64)
        sel = words == i
        np.bitwise_or.at(word, member[sel], bits[sel])
        masks.append((lo, word))
    return masks


def running_sum(at, values, n_members: int, n_seg: int):
    """(members, segments) float64 array: per member, the sum of ``values`` over its rows whose segment is
    at most each segment (rows at ``member * n_seg + segment``); 0 where none."""
    import numpy as np

    total = np.bincount(at, weights=values, minlength=n_members * n_seg)
    return np.cumsum(total.reshape(n_members, n_seg), axis=1)


def running_max(at, values, n_members: int, n_seg: int):
    """(members, segments) array: per member, the maximum of ``values`` over its rows whose segment is
    at most each segment (rows at ``member * n_seg + segment``); the int64 minimum where none."""
    import numpy as np

    out = np.full(n_members * n_seg, np.iinfo(np.int64).min)
    np.maximum.at(out, at, values)
    return np.maximum.accumulate(out.reshape(n_members, n_seg), axis=1)


def _early_days(src, activity, base: int, keys):
    """Per member of ``keys``, the activity days before ``base`` (``count(distinct day)`` over those rows)."""
    import numpy as np

    act = src.with_local(activity_expr(src, activity), "at_us")
    act = act.filter(act.day < base)
    early = src.execute(act.group_by(list(KEYS)).aggregate(n_early=act.day.nunique()))
    pos = _positions(keys, early)
    out = np.zeros(len(keys), dtype=np.int64)
    out[pos[pos >= 0]] = early["n_early"].to_numpy(dtype=np.int64)[pos >= 0]
    return out


def _positions(keys, frame):
    """For each row of ``frame``, its position in ``keys`` (both with group_id, member_id), -1 if absent."""
    import pandas as pd

    return pd.MultiIndex.from_frame(keys[list(KEYS)]).get_indexer(pd.MultiIndex.from_frame(frame[list(KEYS)]))


def _flags(src, activity, flag_cuts_us: list, horizon_us: int):
    """The flags of :func:`churn_label_flags` at ``flag_cuts_us``: activities per (member, time segment),
    the segments cut at every ``c - h``, ``c`` and ``c + h``, then differences of running sums."""
    import numpy as np
    import pandas as pd

    from groupstats.tables.feature_counts import edge_index

    act = activity_expr(src, activity)
    bounds = sorted({c + d for c in flag_cuts_us for d in (-horizon_us, 0, horizon_us)})
    # segment i: the times in (bounds[i - 1], bounds[i]]; time <= bounds[j] exactly when its segment is <= j
    tseg = edge_index(act.at_us, bounds)
    act = act.mutate(_t=tseg)
    rows = src.execute(act.group_by([*KEYS, "_t"]).aggregate(_n=act.count()))
    keys, (member,) = number_members(rows)
    n_t = len(bounds) + 1
    counts = np.zeros(len(keys) * n_t, dtype=np.int64)
    np.add.at(counts, member * n_t + rows["_t"].to_numpy(dtype=np.int64), rows["_n"].to_numpy(dtype=np.int64))
    upto = np.cumsum(counts.reshape(len(keys), n_t), axis=1)  # activities at or before each bound
    parts = []
    for k, c in enumerate(flag_cuts_us):
        lo, mid, hi = (bounds.index(c - horizon_us), bounds.index(c), bounds.index(c + horizon_us))
        after, before = upto[:, hi] - upto[:, mid], upto[:, mid] - upto[:, lo]
        keep = (after > 0) | (before > 0)
        parts.append(pd.DataFrame({"cut_id": k, "group_id": keys["group_id"].array[keep],
                                   "member_id": keys["member_id"].array[keep],
                                   "after": after[keep], "before": before[keep]}))
    return pd.concat(parts, ignore_index=True)


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


def _read_day_rows(src, cut_days: list, half: int):
    """The days of non-operator ``read`` events in the ``2 half`` days before any of the cutoffs, as bits:
    ``(frame, lo, hi)``, the frame with one row per (member, mask word) (``_word``, ``_bits``: ``bit_or`` of
    ``1 << (day - lo) % MASK_DAYS``) for the days in ``[lo, hi)``."""
    from groupstats.tables.feature_counts import bit_or_aggregate, int64_one

    ev = src.table("events")
    ev = ev.filter(ev.event_type == "read").anti_join(src.operators(), list(KEYS))
    ev = src.with_local(ev.select("group_id", "member_id", "occurred_us"), "occurred_us")
    lo, hi = min(cut_days) - 2 * half, max(cut_days)
    ev = ev.filter((ev.day >= lo) & (ev.day < hi))
    offset = ev.day - lo
    ev = ev.mutate(_word=offset // MASK_DAYS, _bit=int64_one(ev.day) << (offset % MASK_DAYS).cast("int32"))
    return src.execute(ev.group_by([*KEYS, "_word"]).aggregate(_bits=bit_or_aggregate()(ev._bit))), lo, hi


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
