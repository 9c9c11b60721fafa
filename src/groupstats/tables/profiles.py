"""When members talk: messages by local hour of day and weekday.

Both tables are one Ibis aggregation over the member messages, run on the dataset's engine
like the other derived tables (:mod:`groupstats.tables.derived`); only the 48 or 168 counts
come back to pandas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.checks import check_scalar

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekday_hour_counts(src, include_operators: bool = False):
    """Expression: member messages per local (weekday, hour) (Mon = 0), cells with messages only."""
    msgs = src.with_local(src.member_messages(include_operators), "sent_us")
    return msgs.group_by(["weekday", "hour"]).aggregate(messages=msgs.sent_us.count())


def _counts(ds, as_of, include_operators: bool) -> tuple:
    from groupstats.tables.derived import _source

    check_scalar(include_operators, "include_operators", typ=bool)
    src = _source(ds, as_of)
    counts = src.execute(weekday_hour_counts(src, include_operators))
    grid = np.zeros((7, 24), dtype=np.int64)
    grid[counts["weekday"].to_numpy(dtype=np.int64), counts["hour"].to_numpy(dtype=np.int64)] = \
        counts["messages"].to_numpy(dtype=np.int64)
    return src, grid


def hourly_profile(ds, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """Messages by hour of day (local time), on weekdays and at weekends.

    ``ds`` is a Dataset, a dataset folder or a :class:`groupstats.engine.Source`.

    Returns
    -------
    DataFrame of shape (48, 4)
        day_type ("weekday" / "weekend"), hour (0-23), messages (non-system
        messages; operators only if ``include_operators``), share (of the
        day type's messages).
    """
    _, grid = _counts(ds, as_of, include_operators)
    messages = np.concatenate([grid[:5].sum(axis=0), grid[5:].sum(axis=0)])
    out = pd.DataFrame({"day_type": np.repeat(["weekday", "weekend"], 24), "hour": np.tile(np.arange(24, dtype=np.int32), 2),
                        "messages": messages})
    totals = out.groupby("day_type")["messages"].transform("sum")
    out["share"] = np.where(totals > 0, out["messages"] / totals.where(totals > 0, 1), np.nan)
    return out


def weekday_hour_activity(ds, as_of=None, include_operators: bool = False) -> pd.DataFrame:
    """Average messages per day in each (weekday, hour) cell, in local time.

    Counts non-system messages (operators only if ``include_operators``) in
    each weekday and hour, divided by how many days of that weekday the
    observation window has (first to last message, or the cutoff).

    Returns
    -------
    DataFrame of shape (7, 24)
        Index: weekday names Mon..Sun; columns: hours 0..23.
    """
    src, counts = _counts(ds, as_of, include_operators)
    first_us, _ = src.message_range_us()
    first = src.to_timestamp(first_us).tz_localize(None).normalize()
    last = src.to_timestamp(src.end_us()).tz_localize(None).normalize()
    days = pd.date_range(first, last, freq="D")
    n_days = pd.Series(days.day_of_week).value_counts().reindex(range(7), fill_value=0).to_numpy()
    per_day = counts / np.where(n_days > 0, n_days, np.nan)[:, None]
    return pd.DataFrame(per_day, index=pd.Index(WEEKDAY_NAMES, name="weekday"),
                        columns=pd.Index(range(24), name="hour"))
