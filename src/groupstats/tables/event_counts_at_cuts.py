"""The event counts of :func:`groupstats.tables.feature_counts.member_feature_counts` at several cutoffs.

Each read, click and sign-in is reduced by the engine to the *segment* in which it becomes known (how many
cutoffs come before it, :func:`groupstats.tables.feature_counts.segment`), a few rows per member; then, in
numpy on those rows (:func:`counts_from_segments`), the reads and clicks known at each cutoff and the sign-in
days in its window, returned as an in-memory table (a join with the cutoffs and two aggregations in the
engine before, 1.8M and 3.1M rows at 10M messages). The filtering of the events (kinds, posts known) is
:func:`groupstats.tables.feature_counts._event_counts`'s, shared with one cutoff.
"""
from __future__ import annotations


def event_counts_at_cuts(ev, cuts_us, cut_days, cuts, wmax: int, with_reads: bool, with_sign_in: bool,
                         events_distinct: bool, known_us, sign_day, post):
    """Expression: per (cut_id, group_id, member_id) with events, ``reads`` / ``clicks`` (distinct posts
    read / clicked, of posts known at the cutoff) and ``sign_in`` (days with a sign-in in the last ``wmax``
    days up to the cutoff's date), at each of the ascending ``cuts_us``.

    ``ev``: the events counted (filtered by :func:`groupstats.tables.feature_counts._event_counts`), with
    ``_posted_us`` when ``with_reads`` and the local ``day`` when ``with_sign_in``; ``known_us``: when a read
    or click and its post are both known; ``sign_day``: a sign-in's local day (NULL for other events);
    ``post``: the post of a read or click (NULL for sign-ins); ``events_distinct``: no member read or
    clicked a post twice (:func:`groupstats.tables.feature_counts.event_keys_distinct`).

    The engine computes the segments (executed here), numpy the counts (:func:`counts_from_segments`).
    """
    import ibis

    from groupstats.tables.feature_counts import KEY_COLUMNS, segment

    null = ibis.null("int64")
    read_rows = None
    if with_reads and events_distinct:
        # no member read (or clicked) a post twice: each read or click is its own (member, post) key,
        # known from its own time (no grouping by (member, post), which cost most of the churn panel)
        rc = ev.filter(ev.event_type.isin(("read", "click")))
        seg = segment(ibis.greatest(rc.occurred_us, rc._posted_us), cuts_us)
        rc = rc.select(*KEY_COLUMNS, day=null, _r=ibis.ifelse(rc.event_type == "read", seg, null),
                       _c=ibis.ifelse(rc.event_type == "click", seg, null), _s=null)
        read_rows = rc.group_by([*KEY_COLUMNS, "day", "_r", "_c", "_s"]).aggregate(_n=rc.count())
        with_reads_grouped = False
        ev = ev.filter(ev.event_type == "sign_in")
    else:
        with_reads_grouped = with_reads
    # when each was first known
    first = {}
    for kind, name in ((("read", "_read"), ("click", "_click")) if with_reads_grouped else ()) + (
            (("sign_in", "_sign_in"),) if with_sign_in else ()):
        first[name] = (known_us if kind != "sign_in" else ev.occurred_us).min(where=ev.event_type == kind)
    if first:
        ev = ev.group_by([*KEY_COLUMNS, sign_day.name("day"), post.name("_post")]).aggregate(**first)
        # the segment each became known in; sign-in days keep their day for the windows
        ev = ev.select(*KEY_COLUMNS, "day",
                       _r=segment(ev._read, cuts_us) if with_reads_grouped else null,
                       _c=segment(ev._click, cuts_us) if with_reads_grouped else null,
                       _s=segment(ev._sign_in, cuts_us) if with_sign_in else null)
        ev = ev.group_by([*KEY_COLUMNS, "day", "_r", "_c", "_s"]).aggregate(_n=ev.count())
        ev = ev if read_rows is None else ev.union(read_rows)
    else:
        ev = read_rows
    return ibis.memtable(counts_from_segments(ev.to_pyarrow(), cut_days, wmax, with_reads, with_sign_in))


def counts_from_segments(ev, cut_days, wmax: int, with_reads: bool, with_sign_in: bool):
    """The table of :func:`event_counts_at_cuts` (a pyarrow Table) from ``ev``, the executed rows (group_id,
    member_id, day, _r, _c, _s, _n) of the segments in which reads, clicks (``day`` NULL) and sign-in days
    become known, as the engine would join and aggregate them with the cutoffs:

    - reads / clicks at cutoff k: the ``_n`` of the rows with ``_r`` / ``_c`` <= k (cumulative sums over
      the segments of each member), NULL where none; a row where either has some;
    - sign-in days at cutoff k: the ``_n`` of the rows of a day in its last ``wmax`` days (its date
      included) with ``_s`` <= k, NULL where none;

    one row per (cut_id, group_id, member_id) with either (an outer join of the two).
    """
    import numpy as np
    import pyarrow as pa

    from groupstats.tables.churn_features import running_sum
    from groupstats.tables.feature_counts import KEY_COLUMNS
    from groupstats.tables.member_numbers import number_members_in_table

    n_cuts = len(cut_days)
    member, first_row = number_members_in_table(ev)
    size = len(first_row) * n_cuts

    def values(name):  # float64, NaN for NULL
        return ev.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    n, day = values("_n"), values("day")
    found = {}  # name: (sums over cut x member, whether any row)
    if with_reads:
        rows = np.isnan(day)
        for name, seg in (("reads", values("_r")), ("clicks", values("_c"))):
            ok = rows & ~np.isnan(seg)
            at = member[ok] * n_cuts + seg[ok].astype(np.int64)
            total = running_sum(at, n[ok], len(first_row), n_cuts).ravel()
            some = running_sum(at, np.ones(len(at)), len(first_row), n_cuts).ravel() > 0
            found[name] = (total, some)
    if with_sign_in:
        rows = ~np.isnan(day)
        seg = values("_s")
        total, some = np.zeros(size), np.zeros(size, bool)
        for k, cd in enumerate(cut_days):
            ok = rows & (day > cd - wmax) & (day <= cd) & (seg <= k)  # (NaN compares False)
            at = member[ok] * n_cuts + k
            total += np.bincount(at, weights=n[ok], minlength=size)
            some |= np.bincount(at, minlength=size) > 0
        found["sign_in"] = (total, some)
    present = np.zeros(size, bool)
    for _, some in found.values():
        present |= some
    pick = np.flatnonzero(present)
    out_member, out_cut = np.divmod(pick, n_cuts)
    columns = {"cut_id": pa.array(out_cut.astype(np.int64))}
    take = pa.array(first_row[out_member])
    for k in KEY_COLUMNS:
        columns[k] = ev.column(k).take(take)
    for name, (total, some) in found.items():
        columns[name] = pa.array(np.rint(total[pick]).astype(np.int64), mask=~some[pick])
    return pa.table(columns)
