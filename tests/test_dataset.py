"""Loading, validating, saving and cutting datasets: every validation rule is exercised."""
from __future__ import annotations

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from groupstats import load_dataset
from groupstats.cli import main
from groupstats.data.dataset import Dataset
from groupstats.errors import DataValidationError, MissingTableError


def tiny_tables():
    """A minimal valid dataset: 1 group, 3 members (one owner), 4 messages, 1 post, events, assignments."""
    groups = pd.DataFrame({"group_id": ["g1"], "name": ["Group one"], "created_at": ["2026-01-01"]})
    members = pd.DataFrame({
        "group_id": ["g1", "g1", "g1"], "member_id": ["op", "a", "b"],
        "joined_at": ["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-02 08:00"],
        "left_at": [None, None, "2026-01-03 00:00"], "role": ["owner", "member", "member"],
    })
    messages = pd.DataFrame({
        "message_id": ["m1", "m2", "m3", "m4"], "group_id": ["g1"] * 4,
        "member_id": ["op", "a", "b", "a"],
        "sent_at": ["2026-01-02 09:00", "2026-01-02 09:10", "2026-01-02 09:20", "2026-01-02 12:00"],
        "msg_type": ["text", "text", "sticker", "text"], "reply_to": [None, "m1", None, None],
        "n_mentions": [0, 1, 0, 0], "text_len": [120, 8, 0, 30],
    })
    posts = pd.DataFrame({"post_id": ["p1"], "group_id": ["g1"], "posted_at": ["2026-01-02 09:00"],
                          "content_type": ["practical"], "member_id": ["op"], "message_id": ["m1"]})
    events = pd.DataFrame({"group_id": ["g1", "g1"], "member_id": ["a", "b"],
                           "occurred_at": ["2026-01-02 09:05", "2026-01-02 10:00"],
                           "event_type": ["read", "read"], "post_id": ["p1", "p1"]})
    assignments = pd.DataFrame({"experiment_id": ["e1", "e1"], "group_id": ["g1", "g1"], "arm": ["A", "B"],
                                "start_at": ["2026-01-01", "2026-01-02"], "end_at": ["2026-01-02", "2026-01-03"]})
    return dict(groups=groups, members=members, messages=messages, posts=posts, events=events,
                assignments=assignments)


def write_csv_dataset(folder, **changes):
    tables = tiny_tables()
    tables.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if frame is not None:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def problems_of(folder):
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    return info.value.problems, str(info.value)


def test_tiny_dataset_is_valid_and_typed(tmp_path):
    ds = load_dataset(write_csv_dataset(tmp_path / "ok"))
    assert len(ds.messages) == 4 and ds.tz == "Asia/Shanghai"
    assert str(ds.messages["sent_at"].dtype) == "datetime64[us, Asia/Shanghai]"
    # naive timestamps are read in the dataset's timezone
    assert ds.messages["sent_at"].iloc[0] == pd.Timestamp("2026-01-02 09:00", tz="Asia/Shanghai")
    assert ds.members.loc[ds.members.member_id == "b", "left_at"].notna().all()


def test_timezone_override_and_aware_timestamps(tmp_path):
    folder = write_csv_dataset(tmp_path / "tz")
    ds = load_dataset(folder, tz="Europe/Berlin")
    assert ds.messages["sent_at"].iloc[0] == pd.Timestamp("2026-01-02 09:00", tz="Europe/Berlin")
    msgs = tiny_tables()["messages"]
    msgs["sent_at"] = ["2026-01-02T01:00:00+00:00"] * 4
    ds2 = load_dataset(write_csv_dataset(tmp_path / "aware", messages=msgs))
    assert ds2.messages["sent_at"].iloc[0] == pd.Timestamp("2026-01-02 09:00", tz="Asia/Shanghai")


def test_extra_columns_are_kept_and_defaults_filled(tmp_path):
    members = tiny_tables()["members"].drop(columns=["role"]).assign(source_note=["x", "y", "z"])
    ds = load_dataset(write_csv_dataset(tmp_path / "extra", members=members))
    assert list(ds.members["source_note"]) == ["x", "y", "z"]
    assert set(ds.members["role"]) == {"member"}


def test_parquet_round_trip_stores_microseconds_with_zone(tmp_path):
    ds = load_dataset(write_csv_dataset(tmp_path / "csv"))
    out = ds.save(tmp_path / "pq")
    field = pq.read_schema(out / "messages.parquet").field("sent_at")
    assert str(field.type) == "timestamp[us, tz=Asia/Shanghai]"
    again = load_dataset(out)
    pd.testing.assert_frame_equal(again.messages, ds.messages)
    pd.testing.assert_frame_equal(again.members, ds.members)
    # CSV round trip too
    ds.save(tmp_path / "csv2", format="csv")
    pd.testing.assert_frame_equal(load_dataset(tmp_path / "csv2").messages, ds.messages)


@pytest.mark.parametrize("table,change,column,fragment,shown", [
    ("messages", lambda f: f.drop(columns=["sent_at"]), "sent_at", "required column", None),
    ("messages", lambda f: f.assign(sent_at=["2026-01-02 09:00", "not a time", "2026-01-02 09:20",
                                             "2026-01-02 12:00"]), "sent_at", "unparseable timestamp",
     "sent_at 'not a time' (row 2)"),
    ("messages", lambda f: f.assign(message_id=["m1", "m1", "m3", "m4"],
                                    reply_to=[None, None, None, None]), "message_id", "duplicate keys",
     "message_id 'm1' (row 1), message_id 'm1' (row 2)"),
    ("messages", lambda f: f.assign(msg_type=["text", "txt", "sticker", "text"]), "msg_type", "unknown categories",
     "msg_type 'txt' (row 2)"),
    ("members", lambda f: f.assign(role=["owner", "boss", "member"]), "role", "unknown categories",
     "role 'boss' (row 2)"),
    ("messages", lambda f: f.assign(n_mentions=[0, -1, 0, 0]), "n_mentions", "negative counts",
     "n_mentions '-1' (row 2)"),
    ("messages", lambda f: f.assign(text_len=[0, 1.5, 0, 0]), "text_len", "whole numbers",
     "text_len '1.5' (row 2)"),
    ("members", lambda f: f.assign(left_at=[None, "2025-12-01", "2026-01-03"]), "left_at", "before joined_at",
     "(joined_at, left_at) ('2026-01-01 00:00:00+08:00', '2025-12-01 00:00:00+08:00') (row 2)"),
    ("members", lambda f: pd.concat([f, f.iloc[[1]].assign(joined_at="2026-01-01 12:00")]), "joined_at",
     "overlap", "(group_id, member_id, joined_at, left_at) ('g1', 'a', '2026-01-01 12:00:00+08:00', empty) (row 4)"),
    ("members", lambda f: pd.concat([f, f.iloc[[1]]]), "joined_at", "duplicate keys",
     "(group_id, member_id, joined_at) ('g1', 'a', '2026-01-01 00:00:00+08:00') (row 2)"),
    ("assignments", lambda f: f.assign(start_at=["2026-01-01", "2026-01-01 12:00"]), "start_at", "overlap",
     "('e1', 'g1', '2026-01-01 12:00:00+08:00', '2026-01-03 00:00:00+08:00') (row 2)"),
    ("assignments", lambda f: f.assign(end_at=["2025-12-31", "2026-01-03"]), "end_at", "not after start_at",
     "(start_at, end_at) ('2026-01-01 00:00:00+08:00', '2025-12-31 00:00:00+08:00') (row 1)"),
    ("messages", lambda f: f.assign(group_id=["g1", "g1", "g9", "g1"]), "group_id", "groups not in the groups",
     "group_id 'g9' (row 3)"),
    ("messages", lambda f: f.assign(reply_to=[None, "m99", None, None]), "reply_to", "not in messages",
     "reply_to 'm99' (row 2)"),
    ("messages", lambda f: f.assign(member_id=["op", "a", "zz", "a"]), "member_id", "no row in members",
     "member_id 'zz' (row 3)"),
    ("posts", lambda f: f.assign(message_id=["m77"]), "message_id", "not in messages", "message_id 'm77' (row 1)"),
    ("events", lambda f: f.assign(post_id=["p1", "p404"]), "post_id", "posts not in posts", "post_id 'p404' (row 2)"),
])
def test_each_validation_rule_names_file_column_rows_and_values(tmp_path, table, change, column, fragment, shown):
    tables = tiny_tables()
    folder = write_csv_dataset(tmp_path / "bad", **{table: change(tables[table])})
    problems, text = problems_of(folder)
    matching = [p for p in problems if fragment in p.message]
    assert matching, text
    problem = matching[0]
    assert problem.file.endswith(f"{table}.csv")
    assert column in (problem.column or "")
    if fragment != "required column":
        assert problem.rows, text  # offending rows are named
        assert shown in str(problem), str(problem)  # ... with their values
        assert problem.to_dict()["values"], problem.to_dict()
    assert f"{table}.csv" in text and column in text


def test_problem_shows_at_most_five_values_and_counts_the_rest(tmp_path):
    messages = tiny_tables()["messages"]
    many = pd.concat([messages] * 3, ignore_index=True).assign(
        message_id=[f"m{i}" for i in range(12)], reply_to=None, group_id=[f"grp_nowhere{i}" for i in range(12)])
    _, text = problems_of(write_csv_dataset(tmp_path / "many", messages=many))
    line = next(line for line in text.splitlines() if "groups not in the groups table" in line)
    assert "group_id 'grp_nowhere0' (row 1)" in line and "group_id 'grp_nowhere4' (row 5)" in line
    assert "grp_nowhere5" not in line and "and 7 more" in line


def test_required_table_missing_and_both_formats(tmp_path):
    folder = write_csv_dataset(tmp_path / "nomembers", members=None)
    _, text = problems_of(folder)
    assert "required table 'members'" in text
    folder = write_csv_dataset(tmp_path / "both")
    tiny = load_dataset(folder)
    tiny.save(tmp_path / "both_pq")
    shutil.copy(tmp_path / "both_pq" / "messages.parquet", folder / "messages.parquet")
    _, text = problems_of(folder)
    assert "both messages.parquet and messages.csv" in text


def test_validate_cli_succeeds_on_sample_and_fails_cleanly_on_broken_file(sample_path, tmp_path, capsys):
    assert main(["validate", str(sample_path), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "valid groupstats dataset" in out and "messages" in out and "groups" in out
    broken = write_csv_dataset(tmp_path / "broken",
                               messages=tiny_tables()["messages"].assign(sent_at=["x", "y", "z", "w"]))
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "messages.csv" in err and "sent_at" in err and "Traceback" not in err
    assert main(["validate", str(tmp_path / "does-not-exist")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_validate_json_summary(sample_path, capsys):
    import json

    assert main(["validate", str(sample_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_groups"] == 12 and summary["rows"]["messages"] > 10_000
    assert summary["start"] < summary["end"]


def test_as_of_drops_everything_after_the_cutoff(tmp_path):
    ds = load_dataset(write_csv_dataset(tmp_path / "cut"))
    cut = ds.as_of("2026-01-02 09:15")
    assert cut.messages["sent_at"].max() <= cut.cutoff
    assert list(cut.messages["message_id"]) == ["m1", "m2"]
    assert list(cut.events["member_id"]) == ["a"]
    # b joined before the cutoff and left after it: at the cutoff b had not left yet
    assert cut.members.loc[cut.members.member_id == "b", "left_at"].isna().all()
    # assignments running across the cutoff end at it; later ones are dropped
    assert (cut.assignments["end_at"] <= cut.cutoff).all()
    early = ds.as_of("2026-01-01 12:00")
    assert len(early.assignments) == 1 and "b" not in set(early.members.member_id)


def test_require_names_the_missing_table(tmp_path):
    folder = write_csv_dataset(tmp_path / "noposts", posts=None, events=None)
    ds = load_dataset(folder)
    with pytest.raises(MissingTableError, match="'posts' table is missing.*slot analysis"):
        ds.require("posts", "the slot analysis")


def test_from_frames_validates(small_sim):
    ds, _ = small_sim
    bad = ds.messages.copy()
    bad.loc[0, "msg_type"] = "telegram"
    with pytest.raises(DataValidationError, match="msg_type"):
        Dataset.from_frames(messages=bad, members=ds.members)


@pytest.mark.parametrize("encoding", ["gbk", "utf-16"])
def test_csv_tables_in_gbk_or_utf16_are_read(tmp_path, encoding):
    """Excel in China saves CSV as GBK; Windows tools write UTF-16 (was a bare codec error)."""
    folder = write_csv_dataset(tmp_path / encoding)
    groups = tiny_tables()["groups"].assign(name=["读书会一群"])
    groups.to_csv(folder / "groups.csv", index=False, encoding=encoding)
    ds = load_dataset(folder)
    assert ds.groups["name"].tolist() == ["读书会一群"]


def test_csv_in_an_unknown_encoding_names_the_encodings_tried(tmp_path):
    folder = write_csv_dataset(tmp_path / "bad")
    (folder / "groups.csv").write_bytes(b"group_id,name\ng1,\xff\xfe\xfd\x80\x81\n")
    _, text = problems_of(folder)
    assert "groups.csv" in text and "UTF-8" in text and "GB18030" in text and "UTF-16" in text
