"""Group-day metrics: one row per (group, local date) over the observation window, zeros included.

The counts are Ibis aggregations per local day on a grid of every group's days
(:func:`group_day_counts`); members present per day are a running count over membership times
(:func:`members_present_per_day`). They run on the dataset's engine a bucket of groups at a time
where the data are large; :func:`group_day_metrics` shapes the result in pandas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.tables.derived.count_selection import _counts_asked, _counts_columns, _memoised_counts
from groupstats.tables.derived.inputs import _source
from groupstats.tables.group_buckets import by_group_buckets
from groupstats.tables.in_memory import _int_us, local_date

GROUP_DAY_COUNTS = ("n_messages", "n_active_members", "n_operator_messages", "n_red_packets", "n_joins",
                    "n_exits", "n_posts")
#: Every count column of :func:`group_day_metrics`, in its order (n_readers, n_complaints only with events).
GROUP_DAY_COLUMNS = ("n_members", "n_messages", "n_active_members", "n_operator_messages", "n_red_packets",
                     "n_joins", "n_exits", "n_posts", "n_readers", "n_complaints")


def _group_day_asked(counts) -> tuple:
    """The group-day counts asked for, in :data:`GROUP_DAY_COLUMNS` order (all of them for None)."""
    return _counts_asked(counts, GROUP_DAY_COLUMNS, "group-day")


def group_day_counts(src, grid, first_us: int, with_events: bool, counts=None):
    """Expression: counts per (group_id, day) of ``grid`` (a table group_id, day, start_us, end_us).

    ``counts``: the columns of :data:`GROUP_DAY_COLUMNS` to compute (default all); the others are
    neither computed nor returned.
    """
    asked = set(_group_day_asked(counts))

    def per_day(table, time_col, **aggs):
        aggs = {k: v for k, v in aggs.items() if k in asked}
        if not aggs:
            return None
        t = src.with_local(table, time_col)
        return t.group_by(["group_id", "day"]).aggregate(**{k: v(t) for k, v in aggs.items()})

    msgs = src.member_messages()
    parts = [per_day(msgs, "sent_us", n_messages=lambda t: t.sent_us.count(),
                     n_active_members=lambda t: t.member_id.nunique(),
                     n_red_packets=lambda t: t.sent_us.count(where=t.msg_type == "red_packet"))]
    allm = src.table("messages")
    ops = allm.filter(allm.msg_type != "system").semi_join(src.operators(), ["group_id", "member_id"])
    parts.append(per_day(ops, "sent_us", n_operator_messages=lambda t: t.sent_us.count()))
    mem = src.non_operator_members()
    parts.append(per_day(mem.filter(mem.joined_us >= first_us), "joined_us", n_joins=lambda t: t.joined_us.count()))
    parts.append(per_day(mem.filter(mem.left_us.notnull()), "left_us", n_exits=lambda t: t.left_us.count()))
    if src.has("posts"):
        parts.append(per_day(src.table("posts"), "posted_us", n_posts=lambda t: t.posted_us.count()))
    if with_events:
        ev = src.table("events").anti_join(src.operators(), ["group_id", "member_id"])
        parts.append(per_day(ev, "occurred_us",
                             n_readers=lambda t: t.member_id.nunique(where=t.event_type == "read"),
                             n_complaints=lambda t: t.occurred_us.count(where=t.event_type == "complaint")))
    if "n_members" in asked:
        parts.insert(0, members_present_per_day(src, grid))
    out = grid.select("group_id", "day")
    for part in parts:
        if part is not None:
            out = out.left_join(part, ["group_id", "day"]).drop("group_id_right", "day_right")
    return out.mutate(**{c: out[c].fill_null(0) for c in out.columns if c.startswith("n_")})


def members_present_per_day(src, grid):
    """Expression: (group_id, day, n_members), the non-operator memberships present at some time of each
    day of ``grid`` (group_id, day, start_us, end_us): joined before the day ends and not left before
    it starts.

    That is (memberships joined before the end) - (memberships left before the start), since a
    membership never leaves before it joins (a rule of the data model); each is a running count over
    the group's membership times and day bounds in time order (bounds first at equal times), a window
    every engine runs, instead of a join of every membership with every day of its group. Rows that
    break the rule (left before joined: not in a validated dataset) are counted by that join.
    """
    import ibis

    mem = src.non_operator_members()
    inverted = mem.left_us.notnull() & (mem.left_us < mem.joined_us)
    ok = mem.filter(~inverted)
    i64 = "int64"

    def before(bound, times, name):
        """Per grid day, the memberships of ``times`` (group_id, t) strictly before ``grid[bound]``."""
        points = grid.select("group_id", day=grid.day.cast(i64), t=grid[bound].cast(i64),
                             member=ibis.literal(0, type=i64))
        rows = times.select("group_id", day=ibis.null(i64), t=times.t.cast(i64), member=ibis.literal(1, type=i64))
        stream = points.union(rows)
        w = ibis.window(group_by=stream.group_id, order_by=[stream.t, stream.member], rows=(None, 0))
        stream = stream.mutate(**{name: stream.member.sum().over(w)})
        return stream.filter(stream.member == 0).select("group_id", "day", name)

    joined = before("end_us", ok.select("group_id", t=ok.joined_us), "n_joined")
    left_rows = ok.filter(ok.left_us.notnull())
    left = before("start_us", left_rows.select("group_id", t=left_rows.left_us), "n_left")
    bad = mem.filter(inverted)
    odd = grid.join(bad, [grid.group_id == bad.group_id, bad.joined_us < grid.end_us, bad.left_us >= grid.start_us])
    odd = odd.group_by(["group_id", "day"]).aggregate(n_odd=odd.joined_us.count())
    out = joined.join(left, ["group_id", "day"])
    out = out.left_join(odd, ["group_id", "day"]).drop("group_id_right", "day_right")
    return out.select("group_id", "day", n_members=out.n_joined - out.n_left + out.n_odd.fill_null(0))


def group_day_metrics(ds, as_of=None, start=None, end=None, counts=None) -> pd.DataFrame:
    """One row per (group_id, date) over the observation window, zeros included.

    Columns: group_id, date, n_members (non-operator members present at some
    time that day), n_messages (member messages), n_operator_messages,
    n_active_members (distinct members who sent a message), active_share,
    messages_per_member, n_joins, n_exits, n_posts, n_red_packets, and, where
    ``events`` exist, n_readers (distinct readers that day), n_complaints.

    ``ds`` is a Dataset, a dataset folder or a :class:`groupstats.engine.Source`.

    ``counts`` (optional): compute only these count columns (of :data:`GROUP_DAY_COLUMNS`); the
    others are left out, and active_share / messages_per_member are there only with n_members and
    n_active_members / n_messages. Each count group is its own aggregation in the engine, so an
    analysis that needs member messages and members present does not count distinct members or
    scan the events. Default: all. The values are those of the whole table.
    """
    asked = _group_day_asked(counts)
    src = _source(ds, as_of)
    first_us, _ = src.message_range_us()
    start_us = src.timestamp_us(start) if start is not None else first_us
    end_us = src.timestamp_us(end) if end is not None else src.end_us()
    key = ("group_day_metrics", src.cut_us, start_us, end_us)
    return _memoised_counts(src, key, asked, _group_day_columns,
                            lambda: _group_day_metrics(src, first_us, start_us, end_us, asked))


def _group_day_columns(frame: pd.DataFrame, asked: tuple) -> pd.DataFrame:
    """``frame`` (group-day metrics) with only the counts ``asked`` (and the ratios they allow)."""
    return _counts_columns(frame, asked, GROUP_DAY_COLUMNS, {"active_share": ("n_members", "n_active_members"),
                                                             "messages_per_member": ("n_members", "n_messages")})


def _group_day_metrics(src, first_us, start_us: int, end_us: int, asked: tuple = GROUP_DAY_COLUMNS) -> pd.DataFrame:
    import ibis

    start_ts, end_ts = src.to_timestamp(start_us), src.to_timestamp(end_us)
    days = pd.date_range(local_date(pd.Series([start_ts])).iloc[0], local_date(pd.Series([end_ts])).iloc[0],
                         freq="D")
    mem = src.table("members")
    group_ids = sorted(str(g) for g in src.execute(mem.select("group_id").distinct())["group_id"])
    grid = pd.MultiIndex.from_product([pd.Index(group_ids, dtype="str"), days], names=["group_id", "date"])
    day_start = pd.Series(days).dt.tz_localize(src.tz, nonexistent="shift_forward", ambiguous=False)
    day_end = pd.Series(days + pd.Timedelta(days=1)).dt.tz_localize(src.tz, nonexistent="shift_forward",
                                                                    ambiguous=False)
    per_day = pd.DataFrame({"day": days.values.astype("datetime64[D]").astype("int64"),
                            "start_us": _int_us(day_start), "end_us": _int_us(day_end)})
    grid_frame = pd.DataFrame({"group_id": np.repeat(np.asarray(group_ids, dtype=object), len(days)),
                               "day": np.tile(per_day["day"].to_numpy(), len(group_ids)),
                               "start_us": np.tile(per_day["start_us"].to_numpy(), len(group_ids)),
                               "end_us": np.tile(per_day["end_us"].to_numpy(), len(group_ids))})
    has_events = src.has("events")
    grid_t = ibis.memtable(grid_frame)
    counts = by_group_buckets(src, lambda b: b.execute(group_day_counts(
        b, b.in_groups(grid_t), first_us if first_us is not None else 0, has_events, asked)))
    counts = counts.set_index(["group_id", "day"]).reindex(
        pd.MultiIndex.from_arrays([grid_frame["group_id"], grid_frame["day"]]))
    out = pd.DataFrame(index=grid)
    cols = [c for c in GROUP_DAY_COLUMNS if c in asked and (has_events or c not in ("n_readers", "n_complaints"))]
    for col in cols:
        out[col] = counts[col].fillna(0).to_numpy().astype("int64") if col in counts else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if "n_members" in asked and "n_active_members" in asked:
            out["active_share"] = np.where(out["n_members"] > 0, out["n_active_members"] / out["n_members"],
                                           np.nan)
        if "n_members" in asked and "n_messages" in asked:
            out["messages_per_member"] = np.where(out["n_members"] > 0, out["n_messages"] / out["n_members"],
                                                  np.nan)
    return out.reset_index()
