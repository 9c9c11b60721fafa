"""Post outcomes: one row per operator post with the members' reaction to it.

The counts are one Ibis expression (:func:`post_outcome_counts`), run on the dataset's engine a
bucket of groups at a time where the data are large (:mod:`groupstats.tables.group_buckets`); the
reaction window attributes each member message to the latest earlier post of its group by a join
on time buckets (:func:`attributed_messages`), not an as-of join. :func:`post_outcomes` shapes
the small result in pandas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.tables.derived.count_selection import _counts_asked, _counts_columns, _memoised_counts
from groupstats.tables.derived.inputs import _source, _timedelta, _us, day_to_date
from groupstats.tables.group_buckets import by_group_buckets

POST_OUTCOME_COLUMNS = ("post_id", "group_id", "posted_at", "content_type", "operator_id", "hour", "weekday",
                        "date", "n_present", "replies", "responses", "responders", "readers", "clickers",
                        "read_rate", "click_rate", "complete")
#: The reaction counts of :func:`post_outcomes`, each computed by its own aggregation.
POST_OUTCOME_COUNTS = ("n_present", "replies", "responses", "responders", "readers", "clickers")


def without_red_packet_bursts(src, msgs, quiet_us: int):
    """``msgs`` without red packets and messages within ``quiet_us`` after a red packet in their group.

    "Last red packet at or before this message in its group" is a running maximum over the
    group's messages in time order (red packets first at equal times), a window every engine runs.
    """
    import ibis

    allm = src.table("messages")
    rp = allm.filter(allm.msg_type == "red_packet").select(
        "group_id", t_us=allm.sent_us, rp_us=allm.sent_us, order=ibis.literal(0),
        member_id=ibis.null("string"), msg_type=ibis.null("string"), reply_to=ibis.null("string"))
    m = msgs.select("group_id", t_us=msgs.sent_us, rp_us=ibis.null("int64"), order=ibis.literal(1),
                    member_id=msgs.member_id, msg_type=msgs.msg_type, reply_to=msgs.reply_to)
    stream = rp.union(m)
    w = ibis.window(group_by=stream.group_id, order_by=[stream.t_us, stream.order], rows=(None, 0))
    stream = stream.mutate(last_rp=stream.rp_us.max().over(w))
    keep = (stream.order == 1) & (stream.msg_type != "red_packet") & (
        stream.last_rp.isnull() | (stream.t_us - stream.last_rp > quiet_us))
    out = stream.filter(keep)
    return out.select("group_id", "member_id", "msg_type", "reply_to", sent_us=out.t_us)


def attributed_messages(posts, msgs, window_us: int):
    """Member messages attributed to the latest post of their group at or before them, within ``window_us``.

    Not an as-of join (wrong results on some engines, absent on Spark), and not a window over every
    message either (sorting all messages by group and time was most of the cost): the latest post at
    or before a message, if it is at most ``window_us`` before it, is the one post of the group with
    ``posted <= sent < next post's time`` and ``sent - posted <= window_us``. Such a post lies in the
    message's time bucket of width ``window_us`` or the bucket before, so an equi-join on (group,
    bucket) finds it; each message matches at most one post (posts at the same time: the last by
    post_id, as the sequence orders them).

    Returns a table (group_id, seq, member_id): ``seq`` numbers the group's posts by
    (posted time, post_id), as :func:`post_sequence` does.
    """
    import ibis

    def bucket(us):  # exact integer bucket on any engine (no float division of microseconds)
        return ((us - us % window_us) / window_us).cast("int64")

    w = ibis.window(group_by=posts.group_id, order_by=[posts.posted_us, posts.post_id])
    p = posts.select("group_id", "seq", post_us=posts.posted_us, next_us=posts.posted_us.lead().over(w))
    p = p.mutate(bucket=bucket(p.post_us))
    p = p.union(p.mutate(bucket=p.bucket + 1))  # each post in its own bucket and the next one
    m = msgs.select("member_id", m_group=msgs.group_id, t_us=msgs.sent_us)
    m = m.mutate(m_bucket=bucket(m.t_us))
    j = m.join(p, [m.m_group == p.group_id, m.m_bucket == p.bucket])
    j = j.filter((j.post_us <= j.t_us) & (j.next_us.isnull() | (j.t_us < j.next_us))
                 & (j.t_us - j.post_us <= window_us))
    return j.select("group_id", "member_id", "seq")


def post_sequence(posts):
    """Posts with ``seq``: their order within the group by (posted time, post_id), from 1."""
    import ibis

    w = ibis.window(group_by=posts.group_id, order_by=[posts.posted_us, posts.post_id])
    return posts.mutate(seq=ibis.row_number().over(w).cast("int64"))


def present_at(src, points, time_col: str, key: str):
    """Non-operator memberships present at each point: joined at or before it, not yet left.

    ``points`` has group_id, ``key`` and the int64 time ``time_col``; returns (``key``, n_present)
    for points with at least one member present.
    """
    m = src.non_operator_members()
    j = points.join(m, [points.group_id == m.group_id, m.joined_us <= points[time_col],
                        m.left_us.isnull() | (m.left_us > points[time_col])])
    return j.group_by(key).aggregate(n_present=j[key].count())


def _post_counts_asked(counts) -> tuple:
    """The reaction counts asked for, in :data:`POST_OUTCOME_COUNTS` order (all of them for None)."""
    return _counts_asked(counts, POST_OUTCOME_COUNTS, "post outcome")


def post_outcome_counts(src, window_us: int, read_window_us: int, quiet_us: int | None = None,
                        counts=None):
    """Expression: one row per post with its members' reaction counts (see :func:`post_outcomes`).

    ``counts``: the columns of :data:`POST_OUTCOME_COUNTS` to compute (default all); each part is
    its own aggregation, so the ones not asked for are not computed (reads and clicks scan every
    event, responses every member message).
    """
    asked = _post_counts_asked(counts)
    posts = post_sequence(src.require("posts", "post outcomes"))
    msgs = src.member_messages()
    if quiet_us is not None and {"responses", "responders", "replies"} & set(asked):
        msgs = without_red_packet_bursts(src, msgs, quiet_us)
    parts = []
    if {"responses", "responders"} & set(asked):
        att = attributed_messages(posts, msgs, window_us)
        resp = att.group_by(["group_id", "seq"]).aggregate(responses=att.member_id.count(),
                                                           responders=att.member_id.nunique())
        parts.append(resp.join(posts.select("group_id", "seq", "post_id"), ["group_id", "seq"]).select(
            "post_id", "responses", "responders"))
    if "replies" in asked:
        pq = posts.filter(posts.message_id.notnull()).select("post_id", p_group=posts.group_id,
                                                             message_id=posts.message_id, p_us=posts.posted_us)
        q = msgs.filter(msgs.reply_to.notnull())
        # a quote counts for a post of its own group (references stay within a group; this also
        # keeps the table the same when it is computed a bucket of groups at a time)
        q = q.join(pq, [q.group_id == pq.p_group, q.reply_to == pq.message_id])
        delay = q.sent_us - q.p_us
        q = q.filter((delay >= 0) & (delay <= window_us))
        parts.append(q.group_by("post_id").aggregate(replies=q.post_id.count()))
    if "n_present" in asked:
        parts.append(present_at(src, posts.select("group_id", "post_id", "posted_us"), "posted_us", "post_id"))
    out = posts.select("post_id")
    for part in parts:
        out = out.left_join(part, "post_id").drop("post_id_right")
    if src.has("events") and {"readers", "clickers"} & set(asked):
        ev = src.table("events")
        ev = ev.filter(ev.event_type.isin(("read", "click")) & ev.post_id.notnull())
        ev = ev.anti_join(src.operators(), ["group_id", "member_id"])
        pp = posts.select("post_id", p_group=posts.group_id, p_us=posts.posted_us)
        ev = ev.join(pp, [ev.post_id == pp.post_id, ev.group_id == pp.p_group])
        lag = ev.occurred_us - ev.p_us
        ev = ev.filter((lag >= 0) & (lag <= read_window_us)).select("post_id", "member_id", "event_type").distinct()
        ev = ev.group_by("post_id").aggregate(readers=ev.event_type.count(where=ev.event_type == "read"),
                                              clickers=ev.event_type.count(where=ev.event_type == "click"))
        out = out.left_join(ev, "post_id").drop("post_id_right")
    return out


def post_outcomes(ds, window="2h", read_window="24h", as_of=None,
                  exclude_red_packets=None, counts=None) -> pd.DataFrame:
    """One row per post: the members' reaction to it.

    Parameters
    ----------
    ds : Dataset, dataset folder or :class:`groupstats.engine.Source`
        Needs ``posts``; reads and clicks need ``events`` (NaN without it).
    window : duration, default "2h"
        Response window after each post for replies, responses and responders.
    read_window : duration, default "24h"
        Window for reads and clicks.
    as_of : date/time, optional
        Use only data up to this time; posts whose windows run past it have
        ``complete = False``.
    exclude_red_packets : duration or None
        If set (e.g. ``"10min"``), red-packet messages and member messages
        within this time after a red packet in the same group do not count
        as responses or replies (red-packet bursts are not reactions to posts).
    counts : sequence of str, optional
        Compute only these reaction counts (of :data:`POST_OUTCOME_COUNTS`: n_present,
        replies, responses, responders, readers, clickers); the columns of the others are left
        out, and read_rate / click_rate are there only with readers / clickers and n_present.
        Each count is its own aggregation in the engine, so an analysis that needs replies does
        not scan the events. Default: all. The values are those of the whole table.

    Returns
    -------
    DataFrame of shape (n_posts, ...), posts ordered by (posted_at, post_id), with columns
        post_id, group_id, posted_at, content_type, operator_id, hour, weekday, date,
        n_present (non-operator members present at posting time),
        replies (member quote-replies to the post within the window),
        responses (member messages in the group within the window, each
        attributed to the latest post before it), responders (distinct members
        among responses), readers / clickers (distinct members with a ``read``
        / ``click`` event on the post within ``read_window``), read_rate and
        click_rate (over n_present), complete.
    """
    window = _timedelta(window, "window")
    read_window = _timedelta(read_window, "read_window")
    quiet = None
    if exclude_red_packets is not None and exclude_red_packets is not False:
        quiet = _timedelta("10min" if exclude_red_packets is True else exclude_red_packets, "exclude_red_packets")
    asked = _post_counts_asked(counts)
    src = _source(ds, as_of)
    key = ("post_outcomes", src.cut_us, _us(window), _us(read_window), None if quiet is None else _us(quiet))
    return _memoised_counts(src, key, asked, _post_outcome_columns,
                            lambda: _post_outcomes(src, window, read_window, quiet, exclude_red_packets, asked))


def _post_outcome_columns(frame: pd.DataFrame, asked: tuple) -> pd.DataFrame:
    """``frame`` (post outcomes) with only the reaction counts ``asked`` (and the rates they allow)."""
    return _counts_columns(frame, asked, POST_OUTCOME_COUNTS,
                           {"read_rate": ("n_present", "readers"), "click_rate": ("n_present", "clickers")})


def _post_outcomes(src, window: pd.Timedelta, read_window: pd.Timedelta, quiet, exclude_red_packets,
                   asked: tuple = POST_OUTCOME_COUNTS) -> pd.DataFrame:
    posts_t = src.with_local(src.require("posts", "post outcomes"), "posted_us")
    posts = src.execute(posts_t.select("post_id", "group_id", "posted_us", "content_type", "member_id",
                                       "hour", "weekday", "day"))
    posts = posts.sort_values(["posted_us", "post_id"], kind="stable").reset_index(drop=True)
    counts = by_group_buckets(src, lambda b: b.execute(post_outcome_counts(
        b, _us(window), _us(read_window), None if quiet is None else _us(quiet), asked)))
    counts = counts.set_index("post_id").reindex(posts["post_id"])
    posted = pd.Series(pd.to_datetime(posts["posted_us"].to_numpy(dtype="int64"), unit="us", utc=True),
                       name="posted_at").dt.tz_convert(src.tz)
    out = pd.DataFrame({
        "post_id": posts["post_id"].astype("str"), "group_id": posts["group_id"].astype("str"),
        "posted_at": posted, "content_type": posts["content_type"].astype("str"),
        "operator_id": posts["member_id"].astype("str"),
        "hour": posts["hour"].to_numpy(dtype="int32"), "weekday": posts["weekday"].to_numpy(dtype="int32"),
        "date": day_to_date(posts["day"]),
    })
    for col in ("n_present", "responses", "responders", "replies"):
        if col in asked:
            out[col] = counts[col].fillna(0).to_numpy().astype("int64")
    has_events = src.has("events")
    if has_events:
        for col in ("readers", "clickers"):
            if col in asked:
                out[col] = counts[col].fillna(0).to_numpy().astype("int64")
        with np.errstate(divide="ignore", invalid="ignore"):
            for rate, col in (("read_rate", "readers"), ("click_rate", "clickers")):
                if col in asked and "n_present" in asked:
                    out[rate] = np.where(out["n_present"] > 0, out[col] / out["n_present"], np.nan)
    else:
        for col in ("readers", "clickers", "read_rate", "click_rate"):
            out[col] = np.nan
    end = src.to_timestamp(src.end_us())
    out["complete"] = (out["posted_at"] + max(window, read_window if has_events else window)) <= end
    out.attrs.update({"window": str(window), "read_window": str(read_window),
                      "exclude_red_packets": None if exclude_red_packets is None else str(exclude_red_packets),
                      "has_events": has_events})
    return _post_outcome_columns(out.loc[:, [c for c in POST_OUTCOME_COLUMNS if c in out]], asked)
