"""Derived tables: the one place that turns raw tables into analysis units.

Every analysis reads these rather than recomputing them:

- :func:`post_outcomes`: one row per operator post, with the member reaction
  within a window after it (quote-replies, all member messages, distinct
  responders), reads and clicks and their rates over members present at
  posting time.
- :func:`member_day_activity`: one row per (group, member, local date) on
  which the member did something.
- :func:`group_day_metrics`: one row per (group, local date) over the whole
  observation window, zeros included.
- :func:`members_present`: how many (non-operator) members a group had at
  given times.

Conventions
-----------
*Member messages* are messages that are not ``system`` messages and were not
sent by one of the group's operators (role ``owner`` or ``admin``): member-level
metrics exclude operators. Dates are local calendar dates in the dataset's
timezone (naive ``datetime64``).

Every function takes ``as_of``: with it, the dataset is first cut with
:meth:`Dataset.as_of`, so only messages, events, joins and leaves up to the
cutoff are used. Predictive analyses rely on this to avoid leakage.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset, isin
from groupstats.errors import ParameterError
from groupstats.data.schema import OPERATOR_ROLES


def _cut(ds: Dataset, as_of) -> Dataset:
    return ds if as_of is None else ds.as_of(as_of)


def _timedelta(value, name: str) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{name} must be a duration such as '2h' or '30min', got {value!r}.") from exc
    if delta <= pd.Timedelta(0):
        raise ParameterError(f"{name} must be positive, got {value!r}.")
    return delta


def local_date(times: pd.Series) -> pd.Series:
    """Local calendar date (naive midnight) of tz-aware timestamps."""
    return times.dt.tz_localize(None).dt.normalize()


def member_messages(ds: Dataset, include_operators: bool = False) -> pd.DataFrame:
    """Messages sent by members: no system messages, no operators unless asked."""
    msgs = ds.messages
    keep = (msgs["msg_type"] != "system").to_numpy()
    if not include_operators:
        keep = keep & ~ds.operator_mask(msgs)
    return msgs.loc[keep]


# ------------------------------------------------------------------------------------------
# counting rows of the same group up to a time, vectorised with composite keys
# ------------------------------------------------------------------------------------------
def _int_us(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.as_unit("us").dt.tz_localize(None).to_numpy().astype("int64")


def _count_up_to(event_group: np.ndarray, event_time: np.ndarray, query_group: np.ndarray,
                 query_time: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """For each query, the number of events of the same group with time <= (or <) the query time.

    Groups are integer codes; times are int64. One sort and two ``searchsorted``
    calls, whatever the number of groups.
    """
    if len(event_time) == 0:
        return np.zeros(len(query_time), dtype=np.int64)
    tmin = min(event_time.min(), query_time.min() if len(query_time) else event_time.min())
    tmax = max(event_time.max(), query_time.max() if len(query_time) else event_time.max())
    span = int(tmax - tmin) + 3
    n_groups = int(max(event_group.max(), query_group.max() if len(query_group) else 0)) + 1
    if n_groups * span >= 2 ** 62:  # fall back to one pass per group
        out = np.zeros(len(query_time), dtype=np.int64)
        for g in np.unique(query_group):
            ev = np.sort(event_time[event_group == g])
            q = query_group == g
            out[q] = np.searchsorted(ev, query_time[q], side="right" if inclusive else "left")
        return out
    ev_key = np.sort(event_group.astype(np.int64) * span + (event_time - tmin + 1))
    q_key = query_group.astype(np.int64) * span + (query_time - tmin + 1)
    group_floor = query_group.astype(np.int64) * span
    upto = np.searchsorted(ev_key, q_key, side="right" if inclusive else "left")
    return upto - np.searchsorted(ev_key, group_floor, side="left")


def members_present(ds: Dataset, group_id: pd.Series | np.ndarray, at: pd.Series,
                    include_operators: bool = False) -> np.ndarray:
    """Number of members in each group at each time (joined at or before, not yet left).

    Parameters
    ----------
    group_id : array of shape (n,)
    at : Series of tz-aware timestamps, shape (n,)

    Returns
    -------
    ndarray of int, shape (n,)
    """
    return count_members_present(ds.members, group_id, at, include_operators=include_operators)


def _non_operators(members: pd.DataFrame) -> pd.DataFrame:
    return members.loc[~members["role"].isin(OPERATOR_ROLES)]


def count_members_present(members: pd.DataFrame, group_id, at: pd.Series,
                          include_operators: bool = False) -> np.ndarray:
    """:func:`members_present` on a members table (group_id, joined_at, left_at, role)."""
    if not include_operators:
        members = _non_operators(members)
    codes, uniques = pd.factorize(pd.concat([members["group_id"], pd.Series(np.asarray(group_id))],
                                            ignore_index=True))
    m_codes, q_codes = codes[:len(members)], codes[len(members):]
    q_time = _int_us(pd.Series(at).reset_index(drop=True))
    joined = _count_up_to(m_codes, _int_us(members["joined_at"]), q_codes, q_time)
    has_left = members["left_at"].notna().to_numpy()
    left = _count_up_to(m_codes[has_left], _int_us(members.loc[has_left, "left_at"]), q_codes, q_time)
    return joined - left


# ------------------------------------------------------------------------------------------
# post outcomes
# ------------------------------------------------------------------------------------------
POST_OUTCOME_COLUMNS = ("post_id", "group_id", "posted_at", "content_type", "operator_id", "hour", "weekday",
                        "date", "n_present", "replies", "responses", "responders", "readers", "clickers",
                        "read_rate", "click_rate", "complete")


def attribute_to_posts(messages: pd.DataFrame, posts: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """Attach to each message the latest post of its group at or before it, if within ``window``.

    A message counts toward at most one post: the latest one before it.
    Returns ``messages`` rows that fall in some post's window, with ``post_id``
    and ``posted_at`` added.
    """
    left = messages.sort_values("sent_at", kind="stable")
    right = posts[["post_id", "group_id", "posted_at"]].sort_values("posted_at", kind="stable")
    merged = pd.merge_asof(left, right, left_on="sent_at", right_on="posted_at", by="group_id",
                           direction="backward", allow_exact_matches=True)
    inside = merged["post_id"].notna() & (merged["sent_at"] - merged["posted_at"] <= window)
    return merged.loc[inside]


def red_packet_burst_mask(ds: Dataset, messages: pd.DataFrame, quiet: pd.Timedelta) -> np.ndarray:
    """True for red-packet messages and messages within ``quiet`` after a red packet in their group."""
    rp = ds.messages.loc[ds.messages["msg_type"] == "red_packet", ["group_id", "sent_at"]]
    is_rp = (messages["msg_type"] == "red_packet").to_numpy()
    if rp.empty:
        return is_rp
    rp = rp.rename(columns={"sent_at": "rp_at"}).sort_values("rp_at", kind="stable")
    probe = messages[["group_id", "sent_at"]].assign(_row=np.arange(len(messages))).sort_values("sent_at",
                                                                                                kind="stable")
    merged = pd.merge_asof(probe, rp, left_on="sent_at", right_on="rp_at", by="group_id", direction="backward")
    near = (merged["rp_at"].notna() & (merged["sent_at"] - merged["rp_at"] <= quiet)).to_numpy()
    out = np.zeros(len(messages), dtype=bool)
    out[merged["_row"].to_numpy()] = near
    return out | is_rp


def post_outcomes(ds: Dataset, window="2h", read_window="24h", as_of=None,
                  exclude_red_packets=None) -> pd.DataFrame:
    """One row per post: the members' reaction to it.

    Parameters
    ----------
    ds : Dataset
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

    Returns
    -------
    DataFrame of shape (n_posts, ...) with columns
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
    ds = _cut(ds, as_of)
    posts = ds.require("posts", "post outcomes").copy()
    msgs = member_messages(ds)
    if exclude_red_packets is not None and exclude_red_packets is not False:
        quiet = _timedelta("10min" if exclude_red_packets is True else exclude_red_packets, "exclude_red_packets")
        msgs = msgs.loc[~red_packet_burst_mask(ds, msgs, quiet)]
    posts = posts.sort_values("posted_at", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({
        "post_id": posts["post_id"], "group_id": posts["group_id"], "posted_at": posts["posted_at"],
        "content_type": posts["content_type"], "operator_id": posts["member_id"],
        "hour": posts["posted_at"].dt.hour, "weekday": posts["posted_at"].dt.day_of_week,
        "date": local_date(posts["posted_at"]),
    })
    out["n_present"] = members_present(ds, posts["group_id"], posts["posted_at"])

    attributed = attribute_to_posts(msgs[["group_id", "member_id", "sent_at"]], posts, window)
    by_post = attributed.groupby("post_id", sort=False)
    out["responses"] = out["post_id"].map(by_post.size()).fillna(0).astype("int64")
    out["responders"] = out["post_id"].map(by_post["member_id"].nunique()).fillna(0).astype("int64")

    quoting = msgs.loc[msgs["reply_to"].notna() & isin(msgs["reply_to"], posts["message_id"].dropna()),
                       ["reply_to", "sent_at"]]
    quoting = quoting.merge(posts[["message_id", "post_id", "posted_at"]], left_on="reply_to",
                            right_on="message_id", how="inner")
    delay = quoting["sent_at"] - quoting["posted_at"]
    quoting = quoting.loc[(delay >= pd.Timedelta(0)) & (delay <= window)]
    out["replies"] = out["post_id"].map(quoting.groupby("post_id").size()).fillna(0).astype("int64")

    if ds.events is not None:
        ev = ds.events.loc[ds.events["event_type"].isin(("read", "click")) & ds.events["post_id"].notna()]
        ev = ev.loc[~ds.operator_mask(ev)]
        ev = ev.merge(posts[["post_id", "posted_at"]], on="post_id", how="inner")
        lag = ev["occurred_at"] - ev["posted_at"]
        ev = ev.loc[(lag >= pd.Timedelta(0)) & (lag <= read_window)]
        distinct = ev.drop_duplicates(["post_id", "member_id", "event_type"])
        counts = distinct.groupby(["post_id", "event_type"]).size().unstack(fill_value=0)
        for kind, col in (("read", "readers"), ("click", "clickers")):
            series = counts[kind] if kind in counts else pd.Series(dtype="int64")
            out[col] = out["post_id"].map(series).fillna(0).astype("int64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out["read_rate"] = np.where(out["n_present"] > 0, out["readers"] / out["n_present"], np.nan)
            out["click_rate"] = np.where(out["n_present"] > 0, out["clickers"] / out["n_present"], np.nan)
    else:
        for col in ("readers", "clickers", "read_rate", "click_rate"):
            out[col] = np.nan
    end = ds.end
    out["complete"] = (out["posted_at"] + max(window, read_window if ds.events is not None else window)) <= end
    out.attrs.update({"window": str(window), "read_window": str(read_window),
                      "exclude_red_packets": None if exclude_red_packets is None else str(exclude_red_packets),
                      "has_events": ds.events is not None})
    return out.loc[:, list(POST_OUTCOME_COLUMNS)]


# ------------------------------------------------------------------------------------------
# member-day activity
# ------------------------------------------------------------------------------------------
EVENING_HOURS = (19, 20, 21, 22)


def member_day_activity(ds: Dataset, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """One row per (group_id, member_id, date) with any activity.

    Columns: group_id, member_id, date, n_messages (non-system messages),
    n_text, n_replies (messages quoting another), n_mentions, n_evening
    (messages sent 19:00-22:59 local), and one ``n_<event_type>`` column per
    event type found in ``events`` (e.g. n_read, n_sign_in), zero where none.
    Days with events but no messages have n_messages = 0.
    Operators are excluded unless ``include_operators``.
    """
    ds = _cut(ds, as_of)
    msgs = member_messages(ds, include_operators=include_operators)
    frame = pd.DataFrame({
        "group_id": msgs["group_id"].to_numpy(), "member_id": msgs["member_id"].to_numpy(),
        "date": local_date(msgs["sent_at"]).to_numpy(),
        "n_messages": 1,
        "n_text": (msgs["msg_type"] == "text").to_numpy().astype("int64"),
        "n_replies": msgs["reply_to"].notna().to_numpy().astype("int64"),
        "n_mentions": msgs["n_mentions"].fillna(0).to_numpy().astype("int64"),
        "n_evening": msgs["sent_at"].dt.hour.isin(EVENING_HOURS).to_numpy().astype("int64"),
    })
    keys = ["group_id", "member_id", "date"]
    activity = frame.groupby(keys, sort=False).sum()
    if ds.events is not None and len(ds.events):
        ev = ds.events
        if not include_operators:
            ev = ev.loc[~ds.operator_mask(ev)]
        ev_frame = pd.DataFrame({"group_id": ev["group_id"].to_numpy(), "member_id": ev["member_id"].to_numpy(),
                                 "date": local_date(ev["occurred_at"]).to_numpy(),
                                 "event_type": "n_" + ev["event_type"].astype("str").to_numpy()})
        ev_counts = ev_frame.groupby([*keys, "event_type"], sort=False).size().unstack(fill_value=0)
        activity = activity.join(ev_counts, how="outer")
    activity = activity.fillna(0).astype("int64").reset_index()
    return activity.sort_values(keys, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# group-day metrics
# ------------------------------------------------------------------------------------------
def members_present_per_day(members: pd.DataFrame, grid: pd.MultiIndex, tz: str) -> np.ndarray:
    """Non-operator members present at some time during each (group_id, local date) of ``grid``.

    Present during a day: joined before the day ends and not left before it starts.
    """
    members = _non_operators(members)
    g = grid.get_level_values("group_id")
    d = grid.get_level_values("date")
    day_start = pd.Series(d).dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    day_end_excl = pd.Series(d + pd.Timedelta(days=1)).dt.tz_localize(tz, nonexistent="shift_forward",
                                                                      ambiguous=False)
    codes, _ = pd.factorize(pd.concat([members["group_id"], pd.Series(np.asarray(g))], ignore_index=True))
    m_codes, q_codes = codes[:len(members)], codes[len(members):]
    joined_before_end = _count_up_to(m_codes, _int_us(members["joined_at"]), q_codes,
                                     _int_us(day_end_excl), inclusive=False)
    has_left = members["left_at"].notna().to_numpy()
    left_before_start = _count_up_to(m_codes[has_left], _int_us(members.loc[has_left, "left_at"]), q_codes,
                                     _int_us(day_start), inclusive=False)
    return joined_before_end - left_before_start


def group_day_metrics(ds: Dataset, as_of=None, start=None, end=None) -> pd.DataFrame:
    """One row per (group_id, date) over the observation window, zeros included.

    Columns: group_id, date, n_members (non-operator members present at some
    time that day), n_messages (member messages), n_operator_messages,
    n_active_members (distinct members who sent a message), active_share,
    messages_per_member, n_joins, n_exits, n_posts, n_red_packets, and, where
    ``events`` exist, n_readers (distinct readers that day), n_complaints.
    """
    ds = _cut(ds, as_of)
    first, last = ds.date_range()
    start_day = local_date(pd.Series([ds.timestamp(start) if start is not None else first])).iloc[0]
    end_day = local_date(pd.Series([ds.timestamp(end) if end is not None else ds.end])).iloc[0]
    days = pd.date_range(start_day, end_day, freq="D")
    group_ids = pd.Index(sorted(ds.members["group_id"].unique()))
    grid = pd.MultiIndex.from_product([group_ids, days], names=["group_id", "date"])
    out = pd.DataFrame(index=grid)

    out["n_members"] = members_present_per_day(ds.members, grid, ds.tz)
    members = _non_operators(ds.members)

    msgs = member_messages(ds)
    key_m = [msgs["group_id"].to_numpy(), local_date(msgs["sent_at"]).to_numpy()]
    per = msgs.groupby(key_m)
    out["n_messages"] = per.size().reindex(grid, fill_value=0).to_numpy()
    out["n_active_members"] = per["member_id"].nunique().reindex(grid, fill_value=0).to_numpy()
    ops = ds.messages.loc[ds.operator_mask(ds.messages) & (ds.messages["msg_type"] != "system").to_numpy()]
    out["n_operator_messages"] = ops.groupby([ops["group_id"].to_numpy(), local_date(ops["sent_at"]).to_numpy()]
                                             ).size().reindex(grid, fill_value=0).to_numpy()
    rp = msgs.loc[msgs["msg_type"] == "red_packet"]
    out["n_red_packets"] = rp.groupby([rp["group_id"].to_numpy(), local_date(rp["sent_at"]).to_numpy()]
                                      ).size().reindex(grid, fill_value=0).to_numpy()
    joins = members.loc[members["joined_at"] >= ds.start]
    out["n_joins"] = joins.groupby([joins["group_id"].to_numpy(), local_date(joins["joined_at"]).to_numpy()]
                                   ).size().reindex(grid, fill_value=0).to_numpy()
    exits = members.loc[members["left_at"].notna()]
    out["n_exits"] = exits.groupby([exits["group_id"].to_numpy(), local_date(exits["left_at"]).to_numpy()]
                                   ).size().reindex(grid, fill_value=0).to_numpy()
    if ds.posts is not None:
        posts = ds.posts
        out["n_posts"] = posts.groupby([posts["group_id"].to_numpy(), local_date(posts["posted_at"]).to_numpy()]
                                       ).size().reindex(grid, fill_value=0).to_numpy()
    else:
        out["n_posts"] = 0
    if ds.events is not None:
        ev = ds.events.loc[~ds.operator_mask(ds.events)]
        reads = ev.loc[(ev["event_type"] == "read").to_numpy()]
        out["n_readers"] = reads.groupby([reads["group_id"].to_numpy(), local_date(reads["occurred_at"]).to_numpy()]
                                         )["member_id"].nunique().reindex(grid, fill_value=0).to_numpy()
        complaints = ev.loc[(ev["event_type"] == "complaint").to_numpy()]
        out["n_complaints"] = complaints.groupby(
            [complaints["group_id"].to_numpy(), local_date(complaints["occurred_at"]).to_numpy()]
        ).size().reindex(grid, fill_value=0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["active_share"] = np.where(out["n_members"] > 0, out["n_active_members"] / out["n_members"], np.nan)
        out["messages_per_member"] = np.where(out["n_members"] > 0, out["n_messages"] / out["n_members"], np.nan)
    return out.reset_index()


# ------------------------------------------------------------------------------------------
# hour-of-day profile
# ------------------------------------------------------------------------------------------
def hourly_profile(ds: Dataset, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """Messages by hour of day (local time), on weekdays and at weekends.

    Returns
    -------
    DataFrame of shape (48, 4)
        day_type ("weekday" / "weekend"), hour (0-23), messages (non-system
        messages; operators only if ``include_operators``), share (of the
        day type's messages).
    """
    ds = _cut(ds, as_of)
    msgs = member_messages(ds, include_operators=include_operators)
    sent = msgs["sent_at"]
    day_type = np.where(sent.dt.day_of_week.to_numpy() >= 5, "weekend", "weekday")
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([day_type, sent.dt.hour.to_numpy()],
                                                          names=["day_type", "hour"])).groupby(level=[0, 1]).sum()
    grid = pd.MultiIndex.from_product([["weekday", "weekend"], range(24)], names=["day_type", "hour"])
    out = counts.reindex(grid, fill_value=0).rename("messages").reset_index()
    totals = out.groupby("day_type")["messages"].transform("sum")
    out["share"] = np.where(totals > 0, out["messages"] / totals.where(totals > 0, 1), np.nan)
    return out


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekday_hour_activity(ds: Dataset, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """Average messages per day in each (weekday, hour) cell, in local time.

    Counts non-system messages (operators only if ``include_operators``) in
    each weekday and hour, divided by how many days of that weekday the
    observation window has (first to last message, or the cutoff).

    Returns
    -------
    DataFrame of shape (7, 24)
        Index: weekday names Mon..Sun; columns: hours 0..23.
    """
    ds = _cut(ds, as_of)
    msgs = member_messages(ds, include_operators=include_operators)
    sent = msgs["sent_at"]
    counts = pd.crosstab(sent.dt.day_of_week.to_numpy(), sent.dt.hour.to_numpy())
    counts = counts.reindex(index=range(7), columns=range(24), fill_value=0)
    first, _ = ds.date_range()
    days = pd.date_range(local_date(pd.Series([first])).iloc[0], local_date(pd.Series([ds.end])).iloc[0], freq="D")
    n_days = pd.Series(days.day_of_week).value_counts().reindex(range(7), fill_value=0).to_numpy()
    per_day = counts.to_numpy() / np.where(n_days > 0, n_days, np.nan)[:, None]
    return pd.DataFrame(per_day, index=pd.Index(WEEKDAY_NAMES, name="weekday"),
                        columns=pd.Index(range(24), name="hour"))
