"""A local time a daylight-saving change skips or repeats is refused with a clear error, never guessed."""
from __future__ import annotations

import pandas as pd
import pytest

from groupstats.engine.local_time import local_timestamp
from groupstats.errors import GroupstatsError

BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(("value", "words"), [
    ("2026-03-29 02:30", "does not exist in Europe/Berlin"),  # 02:00-03:00 skipped
    ("2026-10-25 02:30", "happens twice in Europe/Berlin"),  # 02:00-03:00 repeated
])
def test_skipped_or_repeated_local_time_is_refused(value, words):
    with pytest.raises(GroupstatsError) as caught:
        local_timestamp(value, BERLIN)
    message = str(caught.value)
    assert words in message and repr(value) in message
    if "twice" in words:  # both readings are offered, and each is accepted as given
        offered = [local_timestamp(text, BERLIN) for text in ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00")]
        assert all(t.isoformat() in message for t in offered)
        assert offered[1] - offered[0] == pd.Timedelta(hours=1)


def test_ordinary_and_offset_times_read_as_before():
    assert local_timestamp("2026-03-29 03:30", BERLIN) == pd.Timestamp("2026-03-29 01:30", tz="UTC")
    assert local_timestamp("2026-10-25T02:30+01:00", BERLIN) == pd.Timestamp("2026-10-25 01:30", tz="UTC")
    assert local_timestamp("2026-03-01", "Asia/Shanghai") == pd.Timestamp("2026-02-28 16:00", tz="UTC")


def test_dataset_and_engine_refuse_it_the_same_way(sample_path):
    from groupstats import load_dataset
    from groupstats.engine import source_of

    ds = load_dataset(sample_path, tz=BERLIN)
    for read in (ds.timestamp, source_of(ds).timestamp_us):
        with pytest.raises(GroupstatsError, match="does not exist in Europe/Berlin"):
            read("2026-03-29 02:30")
