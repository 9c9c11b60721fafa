"""The dataset checks that are aggregations (groupstats.tables.checks): one definition, run on a
folder read by the engine and on in-memory frames alike, naming file, column, rows and values."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.data.schema import TABLES
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


# ---- the id checks: exact whatever the hashes do ------------------------------------------------
def _break_ids(tables):
    """Duplicated message ids (one id on three rows, another on two) and references to messages no
    message has: a quote and a post's message_id."""
    m = tables["messages"].copy()
    m.loc[[30, 31], "message_id"] = m.loc[29, "message_id"]
    m.loc[101, "message_id"] = m.loc[100, "message_id"]
    m.loc[[30, 31, 101], "reply_to"] = None
    m.loc[7, "reply_to"] = "m_nowhere"
    m.loc[m.index[-1], "reply_to"] = "m_gone"
    posts = tables["posts"].copy()
    first = posts.index[posts["message_id"].notna()][0]
    posts.loc[first, "message_id"] = "m_unposted"
    return {**tables, "messages": m, "posts": posts}


@pytest.fixture(scope="module")
def broken_ids(frames, tmp_path_factory):
    tables = _break_ids(frames)
    return tables, _write(tmp_path_factory.mktemp("ids"), tables)


def _expected_id_problems(tables) -> dict:
    """What the id checks must report, counted with pandas: {(file, column, message): (rows, values)}."""
    m, posts = tables["messages"], tables["posts"]
    dup = m["message_id"].duplicated(keep=False)
    quoted = m["reply_to"].notna() & ~m["reply_to"].isin(m["message_id"])
    named = posts["message_id"].notna() & ~posts["message_id"].isin(m["message_id"])
    return {("messages", "message_id", "duplicate keys"): list(m.index[dup] + 1),
            ("messages", "reply_to", "quotes a message_id that is not in messages"): list(m.index[quoted] + 1),
            ("posts", "message_id", "references to messages not in messages"): list(posts.index[named] + 1)}


def _id_problems(problems) -> dict:
    out = {}
    for p in problems:
        key = (p.file.rsplit("/", 1)[-1].split(".")[0], p.column, p.message)
        out[key] = p.rows if len(p.rows) == p.n_rows else p.n_rows
    return out


@pytest.mark.parametrize("how", ["hashes sorted in memory", "keys aggregated by the engine",
                                 "every hash equal", "every hash equal, aggregated", "too many candidates"])
def test_id_checks_are_exact_whatever_the_hashes(broken_ids, monkeypatch, how):
    """Duplicates and references to missing messages are found exactly, with their rows, however
    the candidates are found: with every id hashed to one value (every row a candidate, as under
    hash collisions), by the engine's aggregation instead of sorting in memory, or with more
    candidate hashes than are checked one by one (then every id is checked)."""
    import ibis

    from groupstats.tables import message_ids

    tables, folder = broken_ids
    if "aggregated" in how:
        monkeypatch.setattr(message_ids, "HASHES_SORTED_IN_MEMORY", 0)
    if "equal" in how:
        monkeypatch.setattr(message_ids, "id_key", lambda src, column: ibis.literal(42, type="int64"))
    if how == "too many candidates":
        monkeypatch.setattr(message_ids, "DUP_KEYS_CHECKED", 1)
    found = _id_problems(_problems(lambda: scale.validate(folder)).problems)
    expected = _expected_id_problems(tables)
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert expected[("messages", "message_id", "duplicate keys")] == [30, 31, 32, 101, 102]
    assert len(expected[("messages", "reply_to", "quotes a message_id that is not in messages")]) == 2


def test_id_checks_same_problems_in_memory_and_with_colliding_hashes(broken_ids, monkeypatch):
    """The in-memory path (frames registered in DuckDB) reports the same id problems, and a constant
    hash changes nothing in the full problem list (values shown included)."""
    import ibis

    from groupstats.tables import message_ids

    tables, folder = broken_ids
    plain = sorted(map(_key, _problems(lambda: scale.validate(folder)).problems))
    memory = sorted(map(_key, _problems(lambda: Dataset.from_frames(tz=TZ, **tables)).problems))
    monkeypatch.setattr(message_ids, "id_key", lambda src, column: ibis.literal(42, type="int64"))
    colliding = sorted(map(_key, _problems(lambda: scale.validate(folder)).problems))
    assert plain == colliding
    assert [k for k in plain if k[1] == "duplicate keys"] == [k for k in memory if k[1] == "duplicate keys"]
    assert any("m_unposted" in str(k) for k in plain) and any("m_gone" in str(k) for k in plain)


# ---- both id checks in one scan of the ids (DuckDB, hashes sorted in memory) ---------------------
def _refs_balance(m, posts) -> tuple[int, int]:
    """(message rows whose id some reference names, distinct references): what the one scan compares."""
    refs = pd.concat([m["reply_to"], posts["message_id"]]).dropna()
    return int(m["message_id"].isin(set(refs)).sum()), refs.nunique()


def _unquoted_rows(m, posts, n: int) -> list:
    """``n`` rows that quote nothing and whose id nothing names."""
    named = set(pd.concat([m["reply_to"], posts["message_id"]]).dropna())
    free = m.index[m["reply_to"].isna() & ~m["message_id"].isin(named)]
    return list(free[:n])


def test_one_scan_spares_the_anti_join_when_ids_are_distinct_and_every_reference_exists(frames, tmp_path,
                                                                                        monkeypatch):
    from groupstats.tables import message_ids

    named, distinct = _refs_balance(frames["messages"], frames["posts"])
    assert distinct > 100 and named == distinct  # valid references, many of them
    folder = _write(tmp_path / "valid", frames)

    def anti_join(*args, **kwargs):
        raise AssertionError("the anti join ran")

    monkeypatch.setattr(message_ids, "dangling_references", anti_join)
    scale.validate(folder)  # no problem, and no anti join
    Dataset.from_frames(tz=TZ, **frames)


@pytest.mark.parametrize("where", ["a quote", "a post", "both"])
def test_one_scan_sends_a_missing_reference_to_the_anti_join(frames, tmp_path, where):
    """Distinct ids, references missing: fewer ids named than distinct references; the anti join then
    counts them and the problems name their rows (as pandas finds them)."""
    m, posts = frames["messages"].copy(), frames["posts"].copy()
    if where in ("a quote", "both"):
        m.loc[_unquoted_rows(m, posts, 1)[0], "reply_to"] = "m_nowhere"
    if where in ("a post", "both"):
        posts.loc[posts.index[posts["message_id"].isna()][0], "message_id"] = "m_unposted"
    tables = {**frames, "messages": m, "posts": posts}
    named, distinct = _refs_balance(m, posts)
    assert named == distinct - (2 if where == "both" else 1)
    found = _id_problems(_problems(lambda: scale.validate(_write(tmp_path / "f", tables))).problems)
    expected = {k: v for k, v in _expected_id_problems(tables).items() if v}
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert sum(len(v) for v in expected.values()) == (2 if where == "both" else 1)


def test_repeated_ids_cannot_hide_a_missing_reference(frames, tmp_path):
    """A quoted id copied onto two more rows adds two to the ids named; with two quotes of missing ids
    the counts balance, as if every reference existed. The repeated hashes send the check to the anti
    join, which finds both quotes (and the repeated ids)."""
    m, posts = frames["messages"].copy(), frames["posts"].copy()
    quoted = m["reply_to"].dropna().iloc[0]
    free = _unquoted_rows(m, posts, 4)
    m.loc[free[:2], "message_id"] = quoted
    m.loc[free[2], "reply_to"], m.loc[free[3], "reply_to"] = "m_nowhere", "m_gone"
    tables = {**frames, "messages": m}
    named, distinct = _refs_balance(m, posts)
    assert named == distinct  # the trap: the counts alone would pass
    found = _id_problems(_problems(lambda: scale.validate(_write(tmp_path / "f", tables))).problems)
    expected = _expected_id_problems(tables)
    assert len(expected[("messages", "reply_to", "quotes a message_id that is not in messages")]) == 2
    assert len(expected[("messages", "message_id", "duplicate keys")]) == 3
    assert {k: v for k, v in found.items() if k in expected and expected[k]} == {
        k: v for k, v in expected.items() if v}


def test_references_counted_per_key_equal_a_count_per_row(frames, tmp_path):
    """On messages and events the reference rules are looked up once per distinct key and weighted
    by its rows, and closed categories screened on their distinct values: the counts equal pandas'
    per-row counts (several keys, several rows each)."""
    m = frames["messages"].copy()
    m.loc[[10, 12, 300], "msg_type"] = ["telegram", "fax", "telegram"]
    m.loc[13, "msg_type"] = None  # empty: the default type, allowed
    m.loc[[4, 5, 200], "group_id"] = "grp_nowhere"          # one missing group on three rows...
    m.loc[[6, 7], "member_id"] = "u_stranger"               # ...and an unknown sender on two rows of two groups
    m.loc[8, "group_id"] = "grp_elsewhere"
    ev = frames["events"].copy()
    ev.loc[[2, 3, 9], "post_id"] = ["p_missing", "p_missing", "p_other"]
    tables = {**frames, "messages": m, "events": ev}
    problems = _problems(lambda: scale.validate(_write(tmp_path / "refs", tables))).problems
    by = {(p.file.rsplit("/", 1)[-1], p.column, p.message): p for p in problems}
    groups = set(frames["groups"]["group_id"])
    pairs = set(zip(frames["members"]["group_id"], frames["members"]["member_id"]))
    group_p = by[("messages.parquet", "group_id", "references to groups not in the groups table")]
    assert group_p.n_rows == int((~m["group_id"].isin(groups)).sum()) == 4
    assert group_p.rows == [5, 6, 9, 201]
    sender_p = by[("messages.parquet", "member_id", "senders with no row in members for that group")]
    expected = [i + 1 for i, pair in enumerate(zip(m["group_id"], m["member_id"])) if pair not in pairs]
    assert sender_p.n_rows == len(expected) and sender_p.rows == expected[:len(sender_p.rows)]
    post_p = by[("events.parquet", "post_id", "references to posts not in posts")]
    assert post_p.n_rows == 3 and post_p.rows == [3, 4, 10]
    kinds = by[("messages.parquet", "msg_type", "unknown categories fax, telegram (allowed: "
                + ", ".join(TABLES["messages"].categories["msg_type"]) + ")")]
    assert kinds.n_rows == 3 and kinds.rows == [11, 13, 301]
