"""Posting-slot definitions."""
import numpy as np
import pandas as pd
import pytest

from groupstats.errors import ParameterError
from groupstats.analyses.slots import DEFAULT_SLOTS, OFF_PEAK, parse_slots


def test_default_slots_label_every_hour():
    scheme = parse_slots()
    labels = scheme.label_hours(np.arange(24))
    expected = np.full(24, OFF_PEAK, dtype=object)
    expected[[7, 8]] = "morning"
    expected[[12, 13]] = "noon"
    expected[[19, 20]] = "evening"
    assert list(labels) == list(expected)
    assert scheme.names == list(DEFAULT_SLOTS)


def test_minutes_string_spec_and_wrap_over_midnight():
    scheme = parse_slots("late=22:30-01:00,lunch=11:45-12:15")
    minutes = np.array([22 * 60 + 29, 22 * 60 + 30, 0, 59, 60, 11 * 60 + 45, 12 * 60 + 15])
    assert list(scheme.label_minutes(minutes)) == [OFF_PEAK, "late", "late", "late", OFF_PEAK, "lunch",
                                                   OFF_PEAK]
    assert scheme.slot("late").length_minutes == 150


def test_label_uses_local_clock_and_in_slot():
    times = pd.Series(pd.to_datetime(["2026-03-02 07:59", "2026-03-02 09:00", "2026-03-02 19:30"])
                      ).dt.tz_localize("Asia/Shanghai")
    scheme = parse_slots({"morning": ("07", "09"), "evening": (19, 21)})
    assert list(scheme.label(times)) == ["morning", OFF_PEAK, "evening"]
    assert list(scheme.in_slot(times, ["morning", "morning", "noon"])) == [True, False, False]
    # the same instants seen from UTC are other clock times
    assert list(scheme.label(times.dt.tz_convert("UTC"))) == [OFF_PEAK, OFF_PEAK, OFF_PEAK]


@pytest.mark.parametrize("spec, fragment", [
    ("a=07-09,b=08-10", "overlap"),
    ("a=07-07", "empty"),
    ("a=25-26", "outside"),
    ("morning:07-09", "malformed"),
    ({"off_peak": ("01", "02")}, "off_peak"),
])
def test_bad_slot_specs_are_clear(spec, fragment):
    with pytest.raises(ParameterError, match=fragment):
        parse_slots(spec)
