"""Posting slots: named clock windows of the day, in the dataset's timezone.

The default scheme is the playbook's three windows, from the article
"微信群怎么互动(群聊互动技巧)" ("早高峰(7-9点)-午间(12-14点)-晚高峰(19-21点)"):

=========  =============
morning    07:00 - 09:00
noon       12:00 - 14:00
evening    19:00 - 21:00
off_peak   every other minute of the day
=========  =============

Windows are half-open ``[start, end)`` in local clock minutes; a window whose
end is before its start wraps over midnight (``22:00-01:00``). Windows must not
overlap.

Example
-------
>>> from groupstats.analyses.slots import parse_slots
>>> scheme = parse_slots("morning=07-09,noon=12-14,evening=19:30-21:30")
>>> scheme.label_hours([8, 13, 20, 3])
array(['morning', 'noon', 'evening', 'off_peak'], dtype=object)
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError

#: Label of minutes outside every named slot.
OFF_PEAK = "off_peak"

#: Default slots (local time), from the article "微信群怎么互动(群聊互动技巧)":
#: morning peak 7-9, noon 12-14, evening peak 19-21.
DEFAULT_SLOTS: dict[str, tuple[str, str]] = {
    "morning": ("07:00", "09:00"),
    "noon": ("12:00", "14:00"),
    "evening": ("19:00", "21:00"),
}

_MINUTES_PER_DAY = 24 * 60
_TIME = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*$")


def _minute_of_day(text, what: str) -> int:
    """'07', '7', '07:30', 7 or 7.5 -> minutes after midnight (0..1440)."""
    if isinstance(text, (int, np.integer)):
        hours, minutes = int(text), 0
    elif isinstance(text, float):
        hours, minutes = int(text), int(round((text - int(text)) * 60))
    else:
        match = _TIME.match(str(text))
        if not match:
            raise ParameterError(f"{what} {text!r} is not a clock time; write e.g. '07', '07:30' or 19.")
        hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    value = hours * 60 + minutes
    if not (0 <= minutes < 60 and 0 <= value <= _MINUTES_PER_DAY):
        raise ParameterError(f"{what} {text!r} is outside the day (00:00 to 24:00).")
    return value


@dataclass(frozen=True)
class Slot:
    """One named window ``[start, end)`` of local clock minutes (wraps if end < start)."""

    name: str
    start_minute: int
    end_minute: int

    def contains(self, minutes: np.ndarray) -> np.ndarray:
        """Boolean mask of minutes-of-day inside the window; shape of ``minutes``."""
        minutes = np.asarray(minutes)
        if self.start_minute <= self.end_minute:
            return (minutes >= self.start_minute) & (minutes < self.end_minute)
        return (minutes >= self.start_minute) | (minutes < self.end_minute)

    @property
    def length_minutes(self) -> int:
        return (self.end_minute - self.start_minute) % _MINUTES_PER_DAY or _MINUTES_PER_DAY

    def __str__(self) -> str:
        def fmt(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"
        return f"{self.name} {fmt(self.start_minute)}-{fmt(self.end_minute)}"


@dataclass(frozen=True)
class SlotScheme:
    """A set of non-overlapping named slots; other minutes are ``off_peak``.

    Attributes
    ----------
    slots : tuple of Slot
    """

    slots: tuple

    @property
    def names(self) -> list[str]:
        """Slot names in definition order (``off_peak`` not included)."""
        return [s.name for s in self.slots]

    def __contains__(self, name) -> bool:
        return name in self.names or name == OFF_PEAK

    def slot(self, name: str) -> Slot:
        for s in self.slots:
            if s.name == name:
                return s
        raise ParameterError(f"Unknown slot {name!r}; the slots are {', '.join(self.names)} "
                             f"(and {OFF_PEAK}).")

    def label_minutes(self, minutes) -> np.ndarray:
        """Slot name of each minute-of-day; object array of the input's shape."""
        minutes = np.asarray(minutes)
        out = np.full(minutes.shape, OFF_PEAK, dtype=object)
        for s in self.slots:
            out[s.contains(minutes)] = s.name
        return out

    def label_hours(self, hours) -> np.ndarray:
        """Slot name of each whole hour (its first minute)."""
        return self.label_minutes(np.asarray(hours) * 60)

    def label(self, times: pd.Series) -> np.ndarray:
        """Slot name of each tz-aware timestamp (local clock of its own timezone).

        Parameters
        ----------
        times : Series of datetime64[us, tz], shape (n,)

        Returns
        -------
        ndarray of str (object), shape (n,)
        """
        times = pd.Series(times)
        minutes = (times.dt.hour * 60 + times.dt.minute).to_numpy()
        return self.label_minutes(minutes)

    def in_slot(self, times: pd.Series, arms) -> np.ndarray:
        """True where each time falls inside the slot named by its arm.

        Arms that are not slot names (e.g. ``control``) are never inside.
        """
        labels = self.label(times)
        return labels == np.asarray(arms, dtype=object)

    def to_dict(self) -> dict:
        return {s.name: str(s).split(" ", 1)[1] for s in self.slots}

    def __str__(self) -> str:
        return ", ".join(str(s) for s in self.slots) + f"; other minutes {OFF_PEAK}"


def parse_slots(spec=None) -> SlotScheme:
    """Build a :class:`SlotScheme` from a specification.

    Parameters
    ----------
    spec : None, SlotScheme, mapping or str
        ``None``: :data:`DEFAULT_SLOTS`. A mapping ``{name: (start, end)}`` with
        clock times such as ``"07:00"``, ``"7"`` or ``7``. A string
        ``"morning=07-09,noon=12:00-14:00"``.

    Raises
    ------
    ParameterError
        Malformed times, an empty or overlapping window, a reserved or
        duplicated name.
    """
    if isinstance(spec, SlotScheme):
        return spec
    if spec is None:
        spec = DEFAULT_SLOTS
    if isinstance(spec, str):
        items = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            if "=" not in part or "-" not in part.split("=", 1)[1]:
                raise ParameterError(f"Slot {part!r} is malformed; write name=start-end, e.g. "
                                     "'evening=19-21' or 'evening=19:30-21:00'.")
            name, window = part.split("=", 1)
            start, end = window.split("-", 1)
            if name.strip() in items:
                raise ParameterError(f"Slot {name.strip()!r} is defined twice.")
            items[name.strip()] = (start, end)
        spec = items
    if not isinstance(spec, Mapping) or not spec:
        raise ParameterError("Slots must be a non-empty mapping {name: (start, end)} or a string "
                             "like 'morning=07-09,noon=12-14,evening=19-21'.")
    slots = []
    for name, window in spec.items():
        name = str(name)
        if not name or name == OFF_PEAK:
            raise ParameterError(f"{OFF_PEAK!r} is the name of the minutes outside every slot; "
                                 "choose another slot name.")
        try:
            start, end = window
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"Slot {name!r} needs (start, end), got {window!r}.") from exc
        lo = _minute_of_day(start, f"Start of slot {name!r}")
        hi = _minute_of_day(end, f"End of slot {name!r}")
        if lo % _MINUTES_PER_DAY == hi % _MINUTES_PER_DAY:
            raise ParameterError(f"Slot {name!r} is empty or the whole day ({start}-{end}); give a "
                                 "window such as 19-21.")
        slots.append(Slot(name, lo % _MINUTES_PER_DAY, hi % _MINUTES_PER_DAY))
    covered = np.zeros(_MINUTES_PER_DAY, dtype=int)
    minutes = np.arange(_MINUTES_PER_DAY)
    for s in slots:
        covered += s.contains(minutes)
    if (covered > 1).any():
        first = int(np.flatnonzero(covered > 1)[0])
        raise ParameterError(f"Slots overlap (e.g. at {first // 60:02d}:{first % 60:02d}); each minute "
                             "may belong to one slot only.")
    return SlotScheme(tuple(slots))
