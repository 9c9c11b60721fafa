"""Each format's hand-written fixture imports into a valid dataset whose counts add up."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from groupstats import load_dataset
from groupstats.cli import main
from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.importers import RejectReason, SkipReason, import_chats
from groupstats.data.importers.pseudonyms import Pseudonymiser
from importers_helpers import FIXTURES, IMPORTS, run_import

REJECT_CODES = {r.code for r in RejectReason}
SKIP_CODES = {r.code for r in SkipReason}


@pytest.fixture
def salt(tmp_path):
    return tmp_path / "salt.key"


def _check_counts(report, out):
    assert report.read == report.imported + report.n_rejected + report.n_skipped
    assert set(report.rejected) <= REJECT_CODES
    assert set(report.skipped) <= SKIP_CODES
    rejected = pd.read_csv(out / "rejected.csv", dtype=str)
    assert len(rejected) == report.n_rejected
    assert rejected["reason"].value_counts().to_dict() == report.rejected
    assert rejected["source_row"].astype(int).ge(1).all()
    meta = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert meta["importer"]["counts"]["read"] == report.read


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_fixture_imports_and_validates(fmt, tmp_path, salt, capsys):
    out = tmp_path / "out"
    report = run_import(fmt, out, salt)
    _check_counts(report, out)
    ds = load_dataset(out)
    assert len(ds.messages) == report.n_messages > 0
    assert main(["validate", str(out), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "valid groupstats dataset" in printed and "Silent members are missing" in printed
    assert ds.messages["member_id"].str.startswith("u_").all()
    assert ds.messages["group_id"].str.startswith("g_").all()


def _ids(salt, *raw):
    pseudo = Pseudonymiser(salt)
    return [pseudo.one("member", r) for r in raw]


def test_wechatmsg_details(tmp_path, salt):
    out = tmp_path / "out"
    report = run_import("wechatmsg", out, salt)
    # 26 rows + 11 in the later export, 7 of which overlap the first export
    assert (report.read, report.imported, report.skipped) == (37, 25, {"duplicate": 7})
    assert report.rejected == {"invalid_value": 1, "missing_sender": 1, "missing_timestamp": 1,
                               "system_without_member": 1, "unresolved_name": 1}
    ds = load_dataset(out)
    zs, ls, ww, zl, qq = _ids(salt, "wxid_zs001", "wxid_ls002", "wxid_ww003", "wxid_zl004", "wxid_qq005")
    members = ds.members.set_index("member_id")
    assert members.loc[ls, "joined_how"] == "invite"
    assert members.loc[ww, "joined_how"] == "qr_code"
    assert members.loc[ls, "joined_at"] == pd.Timestamp("2025-03-01 09:00", tz="Asia/Shanghai")
    # removed 16 min 40 s after the group's start; his millisecond timestamp was read as such
    assert members.loc[zl, "left_at"] == pd.Timestamp("2025-03-01 09:16:40", tz="Asia/Shanghai")
    assert ds.messages.loc[ds.messages["member_id"] == zl, "sent_at"].iloc[0] == pd.Timestamp(
        "2025-03-01 09:15", tz="Asia/Shanghai")
    assert members.loc[qq, "joined_at_source"] == "first_seen"
    msgs = ds.messages
    system = msgs.loc[msgs["msg_type"] == "system"]
    assert sorted(system["source_type"].str.split(":").str[1]) == ["pat", "recall", "recall", "recall"]
    assert (system["text_len"] == 0).all()
    quote = msgs.loc[msgs["source_type"] == "49/57"].iloc[0]
    quoted = msgs.loc[msgs["message_id"] == quote["reply_to"]].iloc[0]
    assert quoted["member_id"] == ww and quoted["text_len"] == len("第一行\n第二行\n第三行")
    assert msgs.loc[(msgs["member_id"] == ls) & (msgs["msg_type"] == "text"), "n_mentions"].max() == 1
    assert set(msgs["msg_type"]) >= {"text", "image", "sticker", "red_packet", "link", "file", "voice", "other"}
    # StrTime fallback (no CreateTime) is local time
    assert (msgs["sent_at"] == pd.Timestamp("2025-03-01 09:32", tz="Asia/Shanghai")).sum() == 1


def test_wecom_details(tmp_path, salt):
    out = tmp_path / "out"
    report = run_import("wecom", out, salt)
    assert report.skipped == {"one_to_one_chat": 1, "not_a_message": 1, "empty_line": 1}
    assert report.rejected == {"malformed_row": 1, "missing_sender": 1, "missing_timestamp": 1,
                               "invalid_value": 1}
    ds = load_dataset(out)
    assert ds.members["group_id"].nunique() == 2
    c2, silent = _ids(salt, "wmEXTcustomer02", "wmEXTsilent09")
    m = ds.members.set_index("member_id")
    assert m.loc[c2, "left_at"] == pd.Timestamp("2025-03-01 09:45", tz="Asia/Shanghai")
    assert silent in m.index  # added by the member-change file, never wrote
    # milliseconds stay exact, seconds are accepted
    assert (ds.messages["sent_at"] == pd.Timestamp("2025-03-01 09:01:00.123", tz="Asia/Shanghai")).sum() == 1
    assert (ds.messages["sent_at"] == pd.Timestamp("2025-03-01 09:06:40", tz="Asia/Shanghai")).sum() == 1
    assert (ds.messages["msg_type"] == "system").sum() == 1  # the recall


def test_telegram_details(tmp_path, salt):
    out = tmp_path / "out"
    report = run_import("telegram", out, salt)
    assert report.skipped == {"not_a_group": 3, "duplicate": 1}
    ds = load_dataset(out)
    olga, ivan, maria, pavel, lena = _ids(salt, "user1000001", "user2000002", "user3000003", "user4000004",
                                          "user5000005")
    m = ds.members.set_index("member_id")
    assert m.loc[maria, "joined_how"] == "link" and pd.notna(m.loc[maria, "left_at"])
    assert m.loc[pavel, "joined_how"] == "invite"
    assert m.loc[lena, "joined_how"] == "request"
    assert m.loc[olga, "joined_how"] == "created"
    msgs = ds.messages
    replies = msgs.loc[msgs["reply_to"].notna()]
    assert len(replies) == 2  # 104 -> 102 and 119 -> 118; 112 quotes a message outside the export
    assert replies["reply_to"].isin(msgs["message_id"]).all()
    assert msgs.loc[msgs["member_id"] == ivan, "n_mentions"].max() == 1
    assert "1 quote-reply(ies) quote a message that is not in the export" in " ".join(ds.metadata["notes"])


def test_whatsapp_locales_and_date_order(tmp_path, salt):
    out = tmp_path / "out"
    report = run_import("whatsapp", out, salt)
    ds = load_dataset(out)
    assert report.rejected == {"system_without_member": 3, "missing_timestamp": 1}
    anna, bernd, phone, sam, you, maria, jin = _ids(salt, "Anna Schmidt", "Bernd Müller", "+49 151 23456789",
                                                    "Sam Green", "(you)", "Maria Lopez", "Jin Park")
    m = ds.members.set_index("member_id")
    assert m.loc[phone, "joined_how"] == "link"
    assert m.loc[phone, "left_at"] == pd.Timestamp("2016-08-14 07:06", tz="Asia/Shanghai")  # removed
    assert m.loc[bernd, "left_at"] == pd.Timestamp("2016-08-15 19:00", tz="Asia/Shanghai")  # left
    assert m.loc[sam, "left_at"] == pd.Timestamp("2019-01-20 10:05", tz="Asia/Shanghai")  # "You removed"
    assert m.loc[jin, "left_at"] == pd.Timestamp("2019-01-14 08:00", tz="Asia/Shanghai")
    msgs = ds.messages
    # iOS 12-hour clock with seconds: 12:01:13 AM is just after midnight
    assert (msgs["sent_at"] == pd.Timestamp("2019-01-09 00:01:13", tz="Asia/Shanghai")).sum() == 1
    multi = msgs.loc[msgs["sent_at"] == pd.Timestamp("2016-08-06 13:25", tz="Asia/Shanghai"), "text_len"].iloc[0]
    assert multi == len("Super, ich bin dabei.\nBringe Wasser mit.\nUnd Bananen 🍌")
    assert (msgs["msg_type"] == "system").sum() == 3  # two deletions, one subject change
    # the ambiguous file (every date <= 12) follows --date-order: 2/3/19 is 3 February with mdy
    assert (msgs["sent_at"] == pd.Timestamp("2019-02-03 12:31", tz="Asia/Shanghai")).sum() == 1


def test_whatsapp_ambiguous_dates_need_date_order(tmp_path, salt):
    garden = IMPORTS / "whatsapp" / "WhatsApp Chat with Garden Swap.txt"
    with pytest.raises(ParameterError, match="--date-order"):
        import_chats("whatsapp", [garden], tmp_path / "out", salt_file=salt)
    report = import_chats("whatsapp", [garden], tmp_path / "dmy", salt_file=salt, date_order="dmy")
    ds = load_dataset(tmp_path / "dmy")
    assert report.n_rejected == 1
    assert (ds.messages["sent_at"] == pd.Timestamp("2019-03-02 12:31", tz="Asia/Shanghai")).sum() == 1
    # a file whose dates decide the order ignores nothing: day 14 means day-first
    german = IMPORTS / "whatsapp" / "WhatsApp Chat mit Laufgruppe Nord.txt"
    import_chats("whatsapp", [german], tmp_path / "de", salt_file=salt)
    assert load_dataset(tmp_path / "de").messages["sent_at"].dt.month.isin([8]).all()


def test_csv_mapping_on_command_line(tmp_path, salt, capsys):
    src = tmp_path / "export.csv"
    src.write_text("who,when,what\nann,2025-01-05 08:00,hello\nbob,2025-01-05 08:01,hi ann\n"
                   "ann,,no time\n", encoding="utf-8")
    code = main(["import", "csv", str(src), "--out", str(tmp_path / "out"), "--salt-file", str(salt),
                 "--map", "member=who", "--map", "time=when", "--map", "text=what",
                 "--map", "group_value=Club", "--json"])
    assert code == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["read"], counts["imported"], counts["rejected"]) == (3, 2, 1)
    assert counts["rejected_by_reason"] == {"missing_timestamp": 1}
    report = run_import("csv", tmp_path / "yaml", salt)
    assert report.rejected == {"missing_group": 1, "missing_sender": 1, "missing_timestamp": 1}
    ds = load_dataset(tmp_path / "yaml")
    assert ds.messages["reply_to"].notna().sum() == 1
    assert ds.members["left_at"].notna().sum() == 1  # the 退群 row


def test_cli_prints_counts_and_errors(tmp_path, salt, capsys):
    out = tmp_path / "out"
    spec = FIXTURES["wecom"]
    code = main(["import", "wecom", *map(str, spec["inputs"]), "--out", str(out), "--salt-file", str(salt),
                 "--member-changes", str(spec["options"]["member_changes"]), "--lang", "en"])
    captured = capsys.readouterr()
    assert code == 0
    assert "read 24 rows: imported 17, rejected 4, skipped 3" in captured.out
    assert "skipped one_to_one_chat: 1" in captured.out
    assert "Keep it safe" in captured.err  # salt created on first use, with a warning
    assert main(["import", "nosuch", str(spec["inputs"][0]), "--out", str(out)]) == 2
    assert "Unknown format" in capsys.readouterr().err


def test_old_wechatmsg_export_without_sender_is_explained(tmp_path, salt):
    old = tmp_path / "old.csv"
    old.write_text("localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime\n"
                   "1,5,1,0,0,1740790800,2,hi,2025-03-01 09:00:00\n", encoding="utf-8-sig")
    with pytest.raises(GroupstatsError, match="no Sender column"):
        import_chats("wechatmsg", [old], tmp_path / "out", salt_file=salt)


def test_reasons_are_documented():
    doc = (IMPORTS.parents[2] / "docs" / "importing.md").read_text(encoding="utf-8")
    for code in REJECT_CODES | SKIP_CODES:
        assert f"`{code}`" in doc, code
