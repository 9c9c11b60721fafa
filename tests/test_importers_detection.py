"""import auto, refusals naming the importer that fits, WeChat layouts, encodings, Telegram and CSV details."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from groupstats import load_dataset
from groupstats.cli import main
from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.importers import import_chats
from groupstats.data.importers.common import decode_bytes
from groupstats.data.importers.pseudonyms import Pseudonymiser
from groupstats.data.importers.detect import detect
from importers_helpers import IMPORTS

MEMOTRACE = IMPORTS / "memotrace" / "统计学习群.csv"
PYWXDUMP = IMPORTS / "pywxdump" / "2233445566@chatroom_0_5000.csv"
#: hand-written fixture -> the importer auto must pick
AUTO = {
    "wechatmsg/读书会群.csv": "wechatmsg", "memotrace/统计学习群.csv": "wechatmsg",
    "pywxdump/2233445566@chatroom_0_5000.csv": "pywxdump", "wecom/archive.jsonl": "wecom",
    "telegram/result.json": "telegram", "telegram/single_chat.json": "telegram",
    "whatsapp/WhatsApp Chat - Book Club.txt": "whatsapp", "whatsapp_locales/it_ios.txt": "whatsapp",
    "whatsapp_locales/zh_android.txt": "whatsapp", "csv/chat_log.csv": "csv",
}


@pytest.fixture
def salt(tmp_path):
    return tmp_path / "salt.key"


@pytest.mark.parametrize("rel", sorted(AUTO))
def test_detect_fixture_formats(rel):
    assert detect(IMPORTS / rel).format == AUTO[rel]


@pytest.mark.parametrize("content, name, what", [
    ("[2019-12-24, 12:23] Jane Doe: Hello John!\n[2020-01-17, 21:49] John Doe: Hello\n", "signal.txt", "Signal"),
    ('{"guild": {"id": "0"}, "channel": {"id": "1"}, "messages": []}', "discord.json", "Discord"),
    ('{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "timestamp_ms": 1}]}', "fb.json",
     "Messenger"),
    ("<!DOCTYPE html><html><head><title>Exported Data</title></head><body>Telegram</body></html>",
     "messages.html", "Telegram Desktop HTML"),
    ("just some notes\nwithout any structure\n", "notes.txt", "unknown format"),
    ("who,when,what\nann,2025-01-05 08:00,hi\n", "table.csv", "--map member=COLUMN"),
])
def test_auto_refuses_what_it_cannot_import(tmp_path, salt, capsys, content, name, what):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code = main(["import", "auto", str(path), "--out", str(tmp_path / "out"), "--salt-file", str(salt)])
    err = capsys.readouterr().err
    assert code == 2 and what in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


#: WhatsApp (iOS style) with ISO dates, the same header shape as a Signal text export
ISO_WHATSAPP = {
    "lrm_notice": ("[2021-03-04, 09:15] Book Club: \u200eMessages and calls are end-to-end encrypted. No one "
                   "outside of this chat, not even WhatsApp, can read or listen to them.\n"
                   "[2021-03-04, 09:15] Anna: Hello\n[2021-03-04, 09:16] Ben: Hi Anna\n"),
    "system_line": ("[2021-03-04, 09:15] Anna: Hello\n[2021-03-04, 09:16] Ben: Hi Anna\n"
                    "[2021-03-05, 10:00] Carl joined using this group's invite link\n"
                    "[2021-03-05, 10:02] Carl: Hello all\n[2021-03-06, 18:30] Ben left\n"),
    "placeholder": ("[2021-03-04, 09:15] Anna: Hello\n[2021-03-04, 09:16] Ben: <Media omitted>\n"
                    "[2021-03-04, 09:17] Anna: Thanks\n"),
}


@pytest.mark.parametrize("case", sorted(ISO_WHATSAPP))
def test_iso_dated_whatsapp_is_not_taken_for_signal(tmp_path, salt, capsys, case):
    """`[YYYY-MM-DD, HH:MM] Name:` headers are Signal's and also an iOS WhatsApp form: a line only WhatsApp
    writes (U+200E mark, a system line, a media placeholder) decides for WhatsApp; without one, Signal, with a
    pointer to `import whatsapp`."""
    path = tmp_path / "chat.txt"
    path.write_text(ISO_WHATSAPP[case], encoding="utf-8")
    assert detect(path).format == "whatsapp"
    code = main(["import", "auto", str(path), "--out", str(tmp_path / "out"), "--salt-file", str(salt), "--json"])
    counts = json.loads(capsys.readouterr().out)
    lines = ISO_WHATSAPP[case].count("\n")
    assert code == 0 and counts["read"] == lines
    ds = load_dataset(tmp_path / "out")
    if case == "lrm_notice":  # the notice is rejected (about nobody), the two messages imported
        assert counts["imported"] == 2 and counts["rejected_by_reason"] == {"system_without_member": 1}
    if case == "system_line":  # a join and a leave: 3 members, one left, 3 messages
        assert len(ds.messages) == 3 and len(ds.members) == 3
        assert ds.members["left_at"].notna().sum() == 1
    if case == "placeholder":  # "<Media omitted>" does not say which medium: other
        assert sorted(ds.messages["msg_type"]) == ["other", "text", "text"]
    # the same text without any WhatsApp-only line stays a Signal refusal that names the way out
    plain = tmp_path / "plain.txt"
    plain.write_text("[2021-03-04, 09:15] Anna: Hello\n[2021-03-04, 09:16] Ben: Hi Anna\n", encoding="utf-8")
    assert detect(plain).format is None and "Signal" in detect(plain).what
    code = main(["import", "auto", str(plain), "--out", str(tmp_path / "out2"), "--salt-file", str(salt)])
    err = capsys.readouterr().err
    assert code == 2 and "Signal" in err and "groupstats import whatsapp" in err
    code = main(["import", "whatsapp", str(plain), "--out", str(tmp_path / "out3"), "--salt-file", str(salt)])
    assert code == 0


@pytest.mark.parametrize("named, rel, fits", [
    ("whatsapp", "telegram/result.json", "telegram"), ("telegram", "wechatmsg/读书会群.csv", "wechatmsg"),
    ("wechatmsg", "pywxdump/2233445566@chatroom_0_5000.csv", "pywxdump"),
    ("pywxdump", "memotrace/统计学习群.csv", "wechatmsg"), ("wecom", "whatsapp_locales/fr_android.txt", "whatsapp"),
    ("telegram", "wecom/archive.jsonl", "wecom"),
])
def test_named_format_refusal_names_the_importer_that_fits(tmp_path, salt, named, rel, fits):
    with pytest.raises(ParameterError, match=rf"use `groupstats import {fits}`"):
        import_chats(named, [IMPORTS / rel], tmp_path / "out", salt_file=salt)


def test_auto_imports_mixed_formats_in_one_run(tmp_path, salt, capsys):
    inputs = [MEMOTRACE, PYWXDUMP, IMPORTS / "whatsapp_locales" / "de_ios.txt"]
    code = main(["import", "auto", *map(str, inputs), "--out", str(tmp_path / "out"), "--salt-file", str(salt),
                 "--json"])
    counts = json.loads(capsys.readouterr().out)
    assert code == 0 and counts["groups"] == 3
    assert counts["read"] == counts["imported"] + counts["rejected"] + counts["skipped"]
    for file, c in counts["per_file"].items():
        assert c["read"] == c["imported"] + c["rejected"] + c["skipped"], file
    assert counts["per_file"]["de_ios.txt"] == {"read": 10, "imported": 10, "rejected": 0, "skipped": 0,
                                                "members": 4, "leavers": 2}
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text(encoding="utf-8"))
    assert meta["importer"]["format"] == "pywxdump+wechatmsg+whatsapp"


def test_memotrace_csv(tmp_path, salt):
    report = import_chats("wechatmsg", [MEMOTRACE], tmp_path / "out", salt_file=salt)
    assert (report.read, report.imported) == (17, 15)
    assert report.rejected == {"missing_timestamp": 1, "system_without_member": 1}  # 4/1/2025 8:15 is not declared
    ds = load_dataset(tmp_path / "out")
    pseudo = Pseudonymiser(salt)
    chen, zhou, wu = (pseudo.one("member", n) for n in ("陈老师", "周同学", "吴同学"))
    members = ds.members.set_index("member_id")
    assert members.loc[zhou, "joined_how"] == "invite"
    assert members.loc[wu, "left_at"] == pd.Timestamp("2025-04-01 08:14", tz="Asia/Shanghai")
    assert members.loc[chen, "joined_at_source"] == "first_seen"
    msgs = ds.messages
    by_type = msgs.groupby("source_type")["msg_type"].first().to_dict()
    assert by_type == {"文本": "text", "图片": "image", "表情包": "sticker", "引用消息": "text", "分享链接": "link",
                       "语音": "voice", "文件": "file", "红包": "red_packet", "系统消息:recall": "system",
                       "拍一拍:pat": "system", "视频号": "link", "新类型": "other"}
    assert msgs.loc[msgs["source_type"] == "引用消息", "text_len"].iloc[0] == len("同意")  # quote stripped
    assert msgs.loc[(msgs["member_id"] == zhou) & (msgs["source_type"] == "文本"), "n_mentions"].iloc[0] == 1
    assert any("新类型 (1)" in n for n in ds.metadata["notes"])


def test_memotrace_group_is_the_chat_not_the_file_name(tmp_path, salt):
    renamed = tmp_path / "backup.csv"
    renamed.write_bytes(MEMOTRACE.read_bytes())
    import_chats("wechatmsg", [MEMOTRACE], tmp_path / "out", salt_file=salt)
    again = import_chats("wechatmsg", [renamed], tmp_path / "out", salt_file=salt)
    assert again.imported == 0 and again.skipped == {"already_imported": 15}
    other = tmp_path / "other" / MEMOTRACE.name
    other.parent.mkdir()
    other.write_text(MEMOTRACE.read_text(encoding="utf-8-sig").replace("7001", "8001"), encoding="utf-8-sig")
    import_chats("wechatmsg", [other], tmp_path / "out", salt_file=salt)
    assert load_dataset(tmp_path / "out").messages["group_id"].nunique() == 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gbk", "gb18030"])
def test_pywxdump_older_layout_in_every_encoding(tmp_path, salt, encoding):
    folder = tmp_path / encoding
    folder.mkdir()
    src = folder / PYWXDUMP.name
    src.write_bytes(PYWXDUMP.read_text(encoding="utf-8").encode(encoding))
    (folder / "users.json").write_bytes((IMPORTS / "pywxdump" / "users.json").read_bytes())
    report = import_chats("auto", [src], tmp_path / "out", salt_file=salt)
    assert (report.read, report.imported) == (11, 9)
    assert report.rejected == {"missing_sender": 1, "missing_timestamp": 1}  # talker 未知; CreateTime 昨天
    ds = load_dataset(tmp_path / "out")
    pseudo = Pseudonymiser(salt)
    zheng, me = pseudo.one("member", "wxid_zheng01"), pseudo.one("member", "(self)")
    members = ds.members.set_index("member_id")
    assert members.loc[zheng, "joined_how"] == "invite"  # "林主任"邀请"郑会员": names from users.json
    assert members.loc[zheng, "left_at"] == pd.Timestamp("2025-05-02 19:09", tz="Asia/Shanghai")
    assert me in members.index
    # the spreadsheet form 2025/5/2 19:08 is one of the declared forms
    assert (ds.messages["sent_at"] == pd.Timestamp("2025-05-02 19:08", tz="Asia/Shanghai")).sum() == 1
    assert set(ds.messages["msg_type"]) == {"text", "image", "sticker", "mini_program"}


def test_pywxdump_current_layout_one_to_one_chat(tmp_path, salt):
    src = tmp_path / "wxid_friend_0_5000.csv"
    src.write_text("id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n"
                   "1,11,文本,0,wxid_friend,wxid_friend,你好,,2024-10-04 11:42:00\n"
                   "2,12,文本,1,我,wxid_friend,你好呀,,2024-10-04 11:43:00\n"
                   "3,13,语音,0,wxid_friend,wxid_friend,语音时长：3秒,,2024-10-04 11:44:00\n", encoding="utf-8")
    report = import_chats("pywxdump", [src], tmp_path / "out", salt_file=salt)
    assert report.imported == 3 and report.n_members == 2
    assert any("one-to-one chat" in n for n in report.notes)


def test_undecodable_file_names_the_encodings_tried(tmp_path, salt, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,MsgSvrID,type_name\n1,\xff\xfe\x80,\x80\n")
    code = main(["import", "pywxdump", str(bad), "--out", str(tmp_path / "out"), "--salt-file", str(salt)])
    err = capsys.readouterr().err
    assert code == 2 and "UTF-8" in err and "UTF-16" in err and "GB18030" in err and "Traceback" not in err
    with pytest.raises(GroupstatsError, match="GB18030"):
        decode_bytes(b"caf\xe9\n", "x.txt")
    assert decode_bytes("群聊".encode("gbk"), "x") == "群聊"


def test_generic_csv_note_lists_values_counts_and_mapping_lines(tmp_path, salt):
    src = tmp_path / "log.csv"
    rows = ["who,when,kind"] + [f"u{i % 3},2025-01-05 08:{i:02d},{'文本' if i < 5 else '图片' if i < 7 else 'text'}"
                                for i in range(9)]
    src.write_text("\n".join(rows) + "\n", encoding="gbk")
    report = import_chats("csv", [src], tmp_path / "out", salt_file=salt,
                          mapping={"member": "who", "time": "when", "type": "kind", "group_value": "g"})
    note = next(n for n in report.notes if "not in the mapping" in n)
    assert "(文本: 5, 图片: 2)" in note
    assert "types:\n      文本: other\n      图片: other" in note


def test_telegram_create_group_without_members_and_channel_posts(tmp_path, salt):
    chat = {"name": "Club", "type": "private_supergroup", "id": 777, "messages": [
        {"id": 1, "type": "service", "date": "2024-01-01T10:00:00", "date_unixtime": "1704103200",
         "actor": "Olga", "actor_id": "user1", "action": "create_group", "title": "Club", "text": ""},
        {"id": 2, "type": "message", "date": "2024-01-01T10:01:00", "date_unixtime": "1704103260",
         "from": "Club", "from_id": "channel777", "text": "Welcome post"},
        {"id": 3, "type": "message", "date": "2024-01-01T10:02:00", "date_unixtime": "1704103320",
         "from": "Ivan", "from_id": "user2", "text": "hi"}]}
    src = tmp_path / "result.json"
    src.write_text(json.dumps(chat), encoding="utf-8")
    report = import_chats("auto", [src], tmp_path / "out", salt_file=salt)
    assert report.imported == 3
    ds = load_dataset(tmp_path / "out")
    pseudo = Pseudonymiser(salt)
    members = ds.members.set_index("member_id")
    assert members.loc[pseudo.one("member", "user1"), "joined_how"] == "created"
    assert members.loc[pseudo.one("member", "channel777"), "role"] == "admin"
    assert members.loc[pseudo.one("member", "user2"), "role"] == "member"


def test_auto_reads_an_iphone_zip(tmp_path, salt):
    import zipfile

    archive = tmp_path / "WhatsApp Chat - Laufen.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("_chat.txt", (IMPORTS / "whatsapp_locales" / "de_ios.txt").read_text(encoding="utf-8"))
    assert detect(archive).format == "whatsapp"
    report = import_chats("auto", [archive], tmp_path / "out", salt_file=salt)
    assert (report.read, report.imported, report.n_leavers) == (10, 10, 2)


def test_memotrace_excel_export(tmp_path, salt):
    rows = pd.read_csv(MEMOTRACE, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    book = tmp_path / "统计学习群.xlsx"
    with pd.ExcelWriter(book) as writer:  # MemoTrace's XLSX: 聊天记录 first, then 成员信息
        rows.to_excel(writer, sheet_name="聊天记录", index=False)
        pd.DataFrame({"wxid": ["x"]}).to_excel(writer, sheet_name="成员信息", index=False)
    assert detect(book).format == "wechatmsg"
    from_excel = import_chats("auto", [book], tmp_path / "xlsx", salt_file=salt)
    from_csv = import_chats("wechatmsg", [MEMOTRACE], tmp_path / "csv", salt_file=salt)
    assert (from_excel.read, from_excel.imported, from_excel.rejected) == (from_csv.read, from_csv.imported,
                                                                          from_csv.rejected)
    assert load_dataset(tmp_path / "xlsx").messages["message_id"].tolist() == \
        load_dataset(tmp_path / "csv").messages["message_id"].tolist()


def test_named_wechat_importers_send_other_tables_to_csv(tmp_path, salt):
    table = tmp_path / "t.csv"
    table.write_text("who,when\nann,2025-01-05 08:00\n", encoding="utf-8")
    for named in ("wechatmsg", "pywxdump"):
        with pytest.raises(GroupstatsError, match=r"import it with `groupstats import csv`"):
            import_chats(named, [table], tmp_path / named, salt_file=salt)


def test_the_same_file_twice_is_refused(tmp_path, salt):
    with pytest.raises(ParameterError, match="more than once"):
        import_chats("auto", [MEMOTRACE, MEMOTRACE], tmp_path / "out", salt_file=salt)
