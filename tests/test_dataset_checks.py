"""The dataset checks that are aggregations (groupstats.tables.checks): one definition, run on a
folder read by the engine and on in-memory frames alike, naming file, column, rows and values."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.errors import DataValidationError
from groupstats.paths import sample_data_path
from groupstats.tables import scale

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def frames():
    """A valid part of the sample's tables as stored (read with pyarrow, not through groupstats):
    its first 4,000 messages, the posts (their message_id kept where that message is among them)
    and the first 3,000 events on those posts."""
    folder = sample_data_path()
    t = {name: pd.read_parquet(folder / f"{name}.parquet")
         for name in ("groups", "members", "messages", "posts", "events", "assignments")}
    m = t["messages"].sort_values("sent_at", kind="stable").iloc[:4000].reset_index(drop=True)
    m.loc[~m["reply_to"].isin(m["message_id"]), "reply_to"] = None
    posts = t["posts"].copy()
    posts.loc[~posts["message_id"].isin(m["message_id"]), "message_id"] = None
    ev = t["events"]
    ev = ev.loc[ev["post_id"].isna() | ev["post_id"].isin(posts["post_id"])].iloc[:3000].reset_index(drop=True)
    return {**t, "messages": m, "posts": posts, "events": ev}


@pytest.fixture(scope="module")
def found(frames, tmp_path_factory):
    """Per kind of breakage: (problems of the folder read by the engine, of the same frames in memory)."""
    out = {}
    for kind, breaker in (("rows", _break_rows), ("references", _break_references)):
        tables = breaker(frames)
        folder = _write(tmp_path_factory.mktemp(kind), tables)
        out[kind] = (_problems(lambda: scale.validate(folder)), _problems(lambda: Dataset.from_frames(tz=TZ, **tables)))
    return out


def _write(folder, tables):
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    shutil.copy(sample_data_path() / "dataset.json", folder / "dataset.json")
    return folder


def _problems(fn):
    with pytest.raises(DataValidationError) as info:
        fn()
    return info.value


def _key(p):
    return (p.column, p.message, p.n_rows, tuple(p.rows), tuple(map(str, p.values or ())))


def _break_rows(tables):
    m = tables["messages"].copy()
    m.loc[9, "msg_type"] = "telegram"
    m.loc[11, "n_mentions"] = -3
    m.loc[[30, 31], "message_id"] = m.loc[29, "message_id"]  # three rows share one id
    m.loc[30:31, "reply_to"] = None
    return {**tables, "messages": m}


def _break_references(tables):
    m = tables["messages"].copy()
    m.loc[4, "group_id"] = "grp_nowhere"
    m.loc[7, "reply_to"] = "m_nowhere"
    mem = tables["members"].copy()
    mem.loc[3, "left_at"] = mem.loc[3, "joined_at"] - pd.Timedelta("1D")
    ev = tables["events"].copy()
    ev.loc[2, "post_id"] = "p_missing"
    return {**tables, "messages": m, "members": mem, "events": ev}


@pytest.mark.parametrize("kind", ["rows", "references"])
def test_folder_and_in_memory_report_the_same_problems(found, kind):
    """One definition: a folder read by the engine and the same tables in memory give the same
    problems (column, message, count, first rows and values)."""
    folder, memory = found[kind]
    assert sorted(map(_key, folder.problems)) == sorted(map(_key, memory.problems))
    assert len(folder.problems) == (3 if kind == "rows" else 5)


def test_out_of_core_problems_show_values_with_rows(found, frames):
    """Issue 12: the engine's checks show up to five offending values with their rows."""
    text = str(found["references"][0])
    assert "messages.parquet, column 'group_id': references to groups not in the groups table: " \
           "group_id 'grp_nowhere' (row 5)" in text
    assert "reply_to 'm_nowhere' (row 8)" in text and "post_id 'p_missing' (row 3)" in text
    assert "senders with no row in members for that group: member_id" in text
    joined = frames["members"].loc[3, "joined_at"].tz_convert(TZ)
    assert f"(joined_at, left_at) ('{joined}', '{joined - pd.Timedelta('1D')}') (row 4)" in text


def test_duplicate_ids_counted_exactly_with_their_rows(found, frames):
    text = str(found["rows"][0])
    line = next(line for line in text.splitlines() if "duplicate keys" in line)
    same = frames["messages"].loc[29, "message_id"]
    assert f"message_id '{same}' (row 30), message_id '{same}' (row 31), message_id '{same}' (row 32)" in line
    assert next(p for p in found["rows"][0].problems if p.message == "duplicate keys").n_rows == 3
    assert "unknown categories telegram (allowed:" in text and "n_mentions '-3' (row 12)" in text


def test_partitioned_folder_shows_values_without_row_numbers(tmp_path, frames):
    folder = _write(tmp_path / "p", _break_references(frames))
    (folder / "messages.parquet").unlink()
    broken = _break_references(frames)["messages"].assign(month=lambda m: m["sent_at"].dt.strftime("%Y-%m"))
    broken.to_parquet(folder / "messages", partition_cols=["month"], index=False)
    problems = _problems(lambda: scale.validate(folder)).problems
    group = next(p for p in problems if "groups not in the groups table" in p.message and p.file.endswith("messages"))
    assert group.rows == [] and group.n_rows == 1 and group.values == ["grp_nowhere"]
    assert "(1 row(s)): group_id 'grp_nowhere'" in str(group)


def test_unparseable_timestamps_are_not_reported_again_as_empty(frames):
    """Per-row format checks stay at parsing; the required-value rule skips the rows they reported."""
    m = frames["messages"].iloc[:50].copy()
    text = m["sent_at"].dt.strftime("%Y-%m-%d %H:%M").astype(object)
    text.iloc[1], text.iloc[2] = "05/01/2026 10:00", None
    m["sent_at"] = text
    members = frames["members"]
    problems = _problems(lambda: Dataset.from_frames(tz=TZ, messages=m, members=members)).problems
    unparsed = next(p for p in problems if "unparseable" in p.message)
    empty = next(p for p in problems if "empty values" in p.message)
    assert unparsed.rows == [2] and empty.rows == [3] and empty.column == "sent_at"
    assert not any("references" in p.message or "senders" in p.message for p in problems)
