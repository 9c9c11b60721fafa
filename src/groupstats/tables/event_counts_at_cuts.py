"""The event counts of :func:`groupstats.tables.feature_counts.member_feature_counts` at several cutoffs.

Each read, click and sign-in is reduced to the *segment* in which it becomes known (how many cutoffs come
before it, :func:`groupstats.tables.feature_counts.segment`); then, on tables of a few rows per member,
the reads and clicks known at each cutoff and the sign-in days in its window. The filtering of the events
(kinds, posts known) is :func:`groupstats.tables.feature_counts._event_counts`'s, shared with one cutoff.
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
    """
    import ibis

    from groupstats.tables.feature_counts import KEY_COLUMNS, _window_days, segment

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
    parts = []
    if with_reads:
        r = ev.filter(ev.day.isnull())
        r = r.join(cuts, (r._r <= cuts.cut_id) | (r._c <= cuts.cut_id))
        parts.append(r.group_by(["cut_id", *KEY_COLUMNS]).aggregate(
            reads=r._n.sum(where=r._r <= r.cut_id).cast("int64"),
            clicks=r._n.sum(where=r._c <= r.cut_id).cast("int64")))
    if with_sign_in:
        s = ev.filter(ev.day.notnull())
        span = _window_days(cut_days, wmax)
        s = s.join(span, "day")
        s = s.filter(s._s <= s.cut_id)
        parts.append(s.group_by(["cut_id", *KEY_COLUMNS]).aggregate(sign_in=s._n.sum().cast("int64")))
    if len(parts) == 1:
        return parts[0]
    a, b = parts
    return a.outer_join(b, ["cut_id", *KEY_COLUMNS]).select(
        **{k: ibis.coalesce(a[k], b[k]) for k in ("cut_id", *KEY_COLUMNS)}, reads=a.reads, clicks=a.clicks,
        sign_in=b.sign_in)
