"""The generic CSV importer reads column-wise: the same rows, ids, times and notes as a row-by-row reading.

The reference below is the importer's former row loop (cell by cell with ``any_timestamp`` and
``clean_str``); random tables with every kind of cell the importer meets (epoch seconds and milliseconds,
fractions, ISO with and without zone, year-first slashes, month-first US dates, words, DST gaps and
overlaps, out-of-range years, empty cells, mapped, unmapped and upper-case types, joins and leaves,
duplicate rows, mentions) must give identical frames.
"""
from __future__ import annotations

import csv
import random

import numpy as np
import pandas as pd
import pytest

from groupstats.data.importers import generic_csv
from groupstats.data.importers.common import (any_timestamp, any_timestamps, clean_str, clean_strs,
                                              count_mentions, occurrence_ids)
from groupstats.data.importers.rows import RejectReason, RowSink, source_label
from groupstats.data.schema import MSG_TYPES
from groupstats.errors import GroupstatsError

TIMES = ["9224572296", "2025-03-01 09:00", "2025-03-01T09:00:05", "2025/03/01 09:00", "昨天", "",
         "1740877200", "1740877260000", "1740877200.5", "1740877260123.25", "-5", "99999999999999999999",
         "2025-03-30 02:30", "2025-10-26 02:30", "2025-03-01T09:00:00Z", "2025-03-01 09:00:00+05:30",
         "2025-03-01", "  2025-03-02 10:00 ", "1e9", "2025-13-01 09:00", "1989-01-01 00:00", "2101-01-01 00:00",
         "nan", "0", "1 Mar 2025 9:00", "2025-03-01 09:00:00.123456"]
TYPES = ["文本", "图片", "入群", "退群", "投票", "", "TEXT", "Image", "system", "撤回", "join"]
TEXTS = ["hi", "", "  ", "hello @u1 and @u2 ", "a\nb", "x" * 10, "@u1\u2005yo", "mail a@b.c"]
MAPPING = {"group": "grp", "member": "who", "time": "when", "type": "kind", "text": "body", "message_id": "id",
           "reply_to": "re", "name": "nick",
           "types": {"文本": "text", "图片": "image", "入群": "join", "退群": "leave", "撤回": "system"}}


def row_by_row(path, tz: str, spec: dict):
    """The former row loop of ``generic_csv.parse`` (reference)."""
    frame = generic_csv._read(path, spec)
    sink = RowSink(source_label(path))

    def column(key) -> pd.Series:
        if not spec.get(key):
            return pd.Series([None] * len(frame), index=frame.index, dtype="object")
        return pd.Series([clean_str(v) for v in frame[spec[key]].tolist()], index=frame.index, dtype="object")

    groups = column("group")
    if spec.get("group_value"):
        groups = pd.Series([str(spec["group_value"]) if g is None else g for g in groups], dtype="object")
    members, texts, types = column("member"), frame[spec["text"]] if spec.get("text") else None, column("type")
    ids, replies, names = column("message_id"), column("reply_to"), column("name")
    time_format, raw_times = spec.get("time_format"), frame[spec["time"]]
    unknown, pending = {}, []
    for i in range(len(frame)):
        row = i + 1
        sink.n_read += 1
        group, member = groups.iat[i], members.iat[i]
        text = None if texts is None else texts.iat[i]
        text = text if isinstance(text, str) and text.strip() else None
        raw = raw_times.iat[i]
        if time_format and isinstance(raw, str):
            try:
                ts = any_timestamp(pd.Timestamp(pd.to_datetime(raw.strip(), format=time_format)), tz)
            except (ValueError, TypeError):
                ts = None
        else:
            ts = any_timestamp(raw, tz)
        if group is None:
            sink.reject(row, RejectReason.MISSING_GROUP, member=member, text=text)
            continue
        if ts is None:
            sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, member=member, text=text)
            continue
        if member is None:
            sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=text)
            continue
        source_type, msg_type = types.iat[i], "text"
        if source_type is not None:
            msg_type = spec["types"].get(source_type) or (source_type.lower() if source_type.lower() in
                                                          (*MSG_TYPES, "join", "leave") else None)
            if msg_type is None:
                msg_type = "other"
                unknown[source_type] = unknown.get(source_type, 0) + 1
        if msg_type in ("join", "leave"):
            sink.event(row, group, member, ts, msg_type, "recorded", name=names.iat[i])
            continue
        pending.append(dict(row=row, group=group, member=member, sent_at=ts, msg_type=msg_type,
                            source_type=source_type, text=text if msg_type != "system" else None,
                            msg_id=ids.iat[i], reply=replies.iat[i], name=names.iat[i], key_text=text or ""))
    if pending:
        table = pd.DataFrame(pending)
        key = (table["group"] + "|" + table["member"] + "|" + table["sent_at"].astype(str) + "|"
               + table["source_type"].fillna("") + "|" + table["key_text"])
        table["msg_id"] = table["msg_id"].where(table["msg_id"].notna(), "row:" + occurrence_ids(key))
        for rec in table.to_dict("records"):
            text = rec["text"] if isinstance(rec["text"], str) else None
            sink.message(rec["row"], group=rec["group"], member=rec["member"], sent_at=rec["sent_at"],
                         msg_type=rec["msg_type"], source_type=rec["source_type"] if isinstance(
                             rec["source_type"], str) else None, source_msg_id=rec["msg_id"],
                         reply_to_source=rec["reply"] if isinstance(rec["reply"], str) else None, text=text,
                         text_len=len(text) if text else 0, n_mentions=count_mentions(text),
                         name=rec["name"] if isinstance(rec["name"], str) else None)
    notes = [generic_csv.unmapped_types_note(sink.source_file, spec.get("type"), unknown)] if unknown else []
    return sink.to_parsed(tz, groups={g: g for g in groups if g is not None}, notes=notes)


def _random_table(path, rng: random.Random, n: int) -> None:
    rows = [[rng.choice(["g1", "g2", "", " g3 "]), rng.choice(["u1", "u2", "", "u3 ", "@x"]), rng.choice(TIMES),
             rng.choice(TYPES), rng.choice(TEXTS), rng.choice(["", "m1", "m2", f"m{i}"]), rng.choice(["", "m1"]),
             rng.choice(["", "Ann", "Bob"])] for i in range(n)]
    rows += rows[: n // 5]  # exact duplicates: occurrence ids must count them the same way
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["grp", "who", "when", "kind", "body", "id", "re", "nick"])
        writer.writerows(rows)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("options", [{}, {"group_value": "G0"}, {"time_format": "%Y-%m-%d %H:%M"},
                                     {"time_format": "%Y-%m-%d %H:%M:%S%z"}], ids=["plain", "group_value",
                                                                                    "time_format", "zoned_format"])
def test_column_wise_parse_equals_the_row_by_row_reading(tmp_path, seed, options):
    rng = random.Random(seed * 7919 + len(options))
    path = tmp_path / "table.csv"
    _random_table(path, rng, rng.randint(20, 80))
    spec = generic_csv.load_mapping({**MAPPING, **options})
    tz = ["Europe/Berlin", "Asia/Shanghai", "America/New_York", "UTC"][seed]
    expected, got = row_by_row(path, tz, spec), generic_csv.parse(path, tz, spec)
    for table in ("messages", "events", "rejected", "skipped"):
        pd.testing.assert_frame_equal(_plain(getattr(got, table)), _plain(getattr(expected, table)),
                                      check_dtype=False, obj=table)
    assert (got.read, got.groups, got.notes) == (expected.read, expected.groups, expected.notes)
    assert len(got.messages) + len(got.events) + len(got.rejected) > 0
    if not options.get("time_format"):  # the table holds every reason: the comparison covered each path
        reasons = {"missing_timestamp", "missing_sender"} | ({"missing_group"} if "group_value" not in options
                                                             else set())
        assert set(got.rejected["reason"]) == reasons


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Shanghai"])
def test_any_timestamps_equals_any_timestamp_cell_by_cell(tz):
    values = pd.Series(TIMES + [None, np.nan, " 1740877200 "], dtype="object")
    expected = [any_timestamp(v, tz) for v in values]
    got = any_timestamps(values, tz)
    assert [None if pd.isna(t) else t for t in got] == expected
    assert sum(t is not None for t in expected) >= 12  # most forms give a time
    numbers = pd.Series([1740877200, 1740877260000, 1740877200.5, -5.0, np.nan, 1e30, 9_224_572_296,
                         -9_224_572_296_000])  # beyond datetime64[ns]: no time, no error
    assert [None if pd.isna(t) else t for t in any_timestamps(numbers, tz)] == [any_timestamp(v, tz)
                                                                               for v in numbers]
    # a zoned and an unzoned non-ISO form in one column: still read as each cell alone reads
    mixed = pd.Series(["Mar 1 2025 09:00 +0800", "1 Mar 2025 9:00"], dtype="object")
    assert list(any_timestamps(mixed, tz)) == [any_timestamp(v, tz) for v in mixed]


def test_clean_strs_equals_clean_str():
    values = pd.Series([" a ", "", "  ", None, np.nan, "b", "\tc\n", "0"], dtype="object")
    assert list(clean_strs(values)) == [clean_str(v) for v in values]


@pytest.mark.parametrize("cells, declared", [
    (["13/01/2026 10:00", "14/01/2026 11:00"], "%d/%m/%Y %H:%M"),   # day first (13 > 12)
    (["01/13/2026 10:00", "2026-01-14 10:00"], "%m/%d/%Y %H:%M"),   # month first, mixed with ISO
    (["05.01.26 10:00"], None),                                     # either reading is a date
])
def test_day_month_dates_are_refused_unless_their_format_is_declared(tmp_path, cells, declared):
    """'05/01/2026' is never read silently as 1 May or 5 January (issue 12): without time_format the
    import stops, naming the file, column, rows and values, and the format that fixes it."""
    path = tmp_path / "chat.csv"
    pd.DataFrame({"grp": "g1", "who": "u1", "when": cells}).to_csv(path, index=False)
    spec = generic_csv.load_mapping({"group": "grp", "member": "who", "time": "when"})
    with pytest.raises(GroupstatsError) as caught:
        generic_csv.parse(path, "Asia/Shanghai", spec)
    message = str(caught.value)
    assert "chat.csv" in message and "'when'" in message and f"{cells[0]!r} (row 1)" in message
    assert (declared or "%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M") in message
    assert "2026-01-14" not in message  # the ISO row is not blamed
    if declared:  # declared, the same file imports with the stated order
        got = generic_csv.parse(path, "Asia/Shanghai", generic_csv.load_mapping(
            {"group": "grp", "member": "who", "time": "when", "time_format": declared}))
        first = got.messages["sent_at"].iloc[0].tz_convert("Asia/Shanghai")
        assert (first.month, first.day) == (1, 13)
