"""Local time, explicitly: the UTC offsets of a zone and local wall-clock microseconds, as expressions.

Timestamps are integer microseconds since the epoch (UTC) on every engine
(:meth:`Source.table <groupstats.engine.source.Source.table>`); the local day, hour and weekday are
computed from them with the zone's offsets, so no engine's session time zone or timestamp precision
can change a result.
"""
from __future__ import annotations

from functools import lru_cache

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
#: Local-time offsets are exact from this year on (zones with older transitions use the offset then).
_OFFSETS_FROM = "1990-01-01"
_OFFSETS_TO = "2100-01-01"


@lru_cache(maxsize=16)
def utc_offsets(tz: str) -> tuple[tuple[int, int], ...]:
    """((utc_us_from, offset_us), ...) of zone ``tz`` from 1990 to 2100, ascending.

    Transitions are located to the minute (every zone's are on whole minutes since 1990).
    """
    import numpy as np
    import pandas as pd

    days = pd.date_range(_OFFSETS_FROM, _OFFSETS_TO, freq="D", tz="UTC")
    off = (days.tz_convert(tz).tz_localize(None) - days.tz_localize(None)).as_unit("us").asi8
    out = [(int(days[0].value // 1000), int(off[0]))]
    for i in np.flatnonzero(off[1:] != off[:-1]):
        minutes = pd.date_range(days[i], days[i + 1], freq="min", tz="UTC")
        m_off = (minutes.tz_convert(tz).tz_localize(None) - minutes.tz_localize(None)).as_unit("us").asi8
        j = int(np.flatnonzero(m_off != m_off[0])[0])
        out.append((int(minutes[j].value // 1000), int(m_off[j])))
    return tuple(out)


def _parts(local) -> dict:
    day = local // US_PER_DAY
    return {"day": day, "hour": (local - day * US_PER_DAY) // US_PER_HOUR, "weekday": (day + 3) % 7}


def local_us(us, tz: str, offsets: tuple | None = None):
    """Local wall-clock microseconds of UTC microseconds ``us``: ``us`` plus the zone's offset then.

    A balanced tree of comparisons over the zone's transitions ``offsets`` (default: all of
    :func:`utc_offsets`; none for a zone such as Asia/Shanghai, ~8 levels for one with
    daylight saving over a century).
    """
    import ibis

    table = offsets or utc_offsets(tz)

    def offset(lo: int, hi: int):
        if hi - lo == 1:
            return ibis.literal(table[lo][1], type="int64")
        mid = (lo + hi) // 2
        return ibis.ifelse(us < table[mid][0], offset(lo, mid), offset(mid, hi))

    return us + offset(0, len(table))


def local_timestamp(value, tz: str):
    """A date/time (string, date, Timestamp) read in zone ``tz``: a naive one is local time there, an
    aware one is converted to it. Unreadable values are a :class:`~groupstats.errors.GroupstatsError`."""
    import pandas as pd

    from groupstats.errors import GroupstatsError

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise GroupstatsError(f"Cannot read {value!r} as a date or time (use ISO format, "
                              f"e.g. 2026-03-01 or 2026-03-01T18:00).") from exc
    if ts.tzinfo is not None:
        return ts.tz_convert(tz)
    try:
        return ts.tz_localize(tz)
    except ValueError as exc:  # a clock change: never guess which instant was meant
        if pd.isna(ts.tz_localize(tz, nonexistent="NaT", ambiguous=True)):
            raise GroupstatsError(f"{value!r} does not exist in {tz}: the clocks skip that hour at a "
                                  f"daylight-saving change. Give a time outside it.") from exc
        both = " or ".join(ts.tz_localize(tz, ambiguous=first).isoformat() for first in (True, False))
        raise GroupstatsError(f"{value!r} happens twice in {tz}: the clocks repeat that hour at a "
                              f"daylight-saving change. Give it with its UTC offset: {both}.") from exc


def to_us(ts) -> int:
    """Microseconds since the epoch of a tz-aware Timestamp."""
    import pandas as pd

    return int(pd.Timestamp(ts).as_unit("ns").value // 1000)
