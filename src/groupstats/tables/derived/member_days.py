"""Member-day activity: one row per (group, member, local date) on which the member did something.

One Ibis aggregation of the member messages and events per local day
(:func:`member_day_activity_expr`), run on the dataset's engine a bucket of groups at a time where
the data are large; :func:`member_day_activity` shapes the result in pandas.
"""
from __future__ import annotations

import pandas as pd

from groupstats.checks import check_scalar
from groupstats.tables.derived.inputs import _source, day_to_date
from groupstats.tables.group_buckets import by_group_buckets

EVENING_HOURS = (19, 20, 21, 22)
ACTIVITY_KEYS = ("group_id", "member_id", "date")


def event_types(src, include_operators: bool = True) -> list[str]:
    """Event types in the (cut) events table, sorted; [] without events.

    With the operators' events (the default), read off :meth:`Source.first_event_us_by_type
    <groupstats.engine.Source.first_event_us_by_type>` when that is memoised (an analysis at several cutoffs
    groups the uncut events once for all of them)."""
    if not src.has("events"):
        return []
    first = src.first_event_us_by_type(compute=False) if include_operators else None
    if first is not None:
        return sorted(t for t, us in first.items() if src.cut_us is None or (us is not None and us <= src.cut_us))
    ev = src.table("events")
    if not include_operators:
        ev = ev.anti_join(src.operators(), ["group_id", "member_id"])
    return sorted(str(t) for t in src.execute(ev.select("event_type").distinct())["event_type"].dropna())


def member_day_activity_expr(src, include_operators: bool = False, types: list[str] | None = None):
    """Expression: one row per (group_id, member_id, day) with activity (see :func:`member_day_activity`)."""
    import ibis

    msgs = src.with_local(src.member_messages(include_operators), "sent_us")
    act = msgs.group_by(["group_id", "member_id", "day"]).aggregate(
        n_messages=msgs.sent_us.count(), n_text=msgs.sent_us.count(where=msgs.msg_type == "text"),
        n_replies=msgs.reply_to.count(), n_mentions=msgs.n_mentions.fill_null(0).sum().cast("int64"),
        n_evening=msgs.sent_us.count(where=msgs.hour.isin(EVENING_HOURS)))
    if types is None:
        types = event_types(src, include_operators)
    if not types:
        return act
    ev = src.table("events")
    if not include_operators:
        ev = ev.anti_join(src.operators(), ["group_id", "member_id"])
    ev = src.with_local(ev, "occurred_us")
    ev = ev.group_by(["group_id", "member_id", "day"]).aggregate(
        **{f"n_{t}": ev.event_type.count(where=ev.event_type == t) for t in types})
    both = act.outer_join(ev, ["group_id", "member_id", "day"])
    keys = {k: ibis.coalesce(both[k], both[f"{k}_right"]) for k in ("group_id", "member_id", "day")}
    counts = {c: both[c].fill_null(0) for c in
              ["n_messages", "n_text", "n_replies", "n_mentions", "n_evening", *[f"n_{t}" for t in types]]}
    return both.select(**keys, **counts)


def _activity_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["group_id", "member_id", "day"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"group_id": frame["group_id"].astype("str"), "member_id": frame["member_id"].astype("str"),
                        "date": day_to_date(frame["day"])})
    for col in frame.columns:
        if col.startswith("n_"):
            out[col] = frame[col].to_numpy().astype("int64")
    return out


def member_day_activity(ds, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """One row per (group_id, member_id, date) with any activity.

    Columns: group_id, member_id, date, n_messages (non-system messages),
    n_text, n_replies (messages quoting another), n_mentions, n_evening
    (messages sent 19:00-22:59 local), and one ``n_<event_type>`` column per
    event type found in ``events`` (e.g. n_read, n_sign_in; in alphabetical
    order), zero where none. Days with events but no messages have n_messages = 0.
    Operators are excluded unless ``include_operators``. Sorted by the keys.

    ``ds`` is a Dataset, a dataset folder or a :class:`groupstats.engine.Source`.
    """
    check_scalar(include_operators, "include_operators", typ=bool)
    src = _source(ds, as_of)
    types = event_types(src, include_operators)  # global: every bucket of groups has the same columns
    return _activity_frame(by_group_buckets(src, lambda b: b.execute(member_day_activity_expr(b, include_operators,
                                                                                               types))))
