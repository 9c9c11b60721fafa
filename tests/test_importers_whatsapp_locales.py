"""WhatsApp system lines and media placeholders in ten locales, and the chat's identity from its content."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from groupstats import load_dataset
from groupstats.cli import main
from groupstats.data.importers import import_chats
from groupstats.data.importers.pseudonyms import Pseudonymiser
from groupstats.data.importers.whatsapp import parse
from groupstats.data.importers.whatsapp_phrases import LOCALES
from importers_helpers import IMPORTS

LOCALE_DIR = IMPORTS / "whatsapp_locales"
#: file -> (creator, added, joined by link) as written in the file; each file has the same story:
#: created, added, a message, a placeholder, a link join, a placeholder, an icon change, the added member
#: leaves, the creator removes the link joiner, the exporting phone is added.
STORIES = {
    "pt_android.txt": ("Ana Souza", "Bruno Lima", "Carla Dias"),
    "fr_android.txt": ("Claire Martin", "Hugo Bernard", "Léa Petit"),
    "it_ios.txt": ("Giulia Rossi", "Marco Bianchi", "Sara Neri"),
    "id_android.txt": ("Budi Santoso", "Siti Aminah", "Dewi Lestari"),
    "ru_android.txt": ("Иван Петров", "Олег Сидоров", "Анна Смирнова"),
    "tr_android.txt": ("Ayşe Yılmaz", "Mehmet Kaya", "Zeynep Demir"),
    "zh_android.txt": ("张伟", "李娜", "王芳"),
    "de_ios.txt": ("Jonas Weber", "Lena Koch", "Tim Wolf"),
}
#: file -> msg_types of its two placeholders, in order
PLACEHOLDERS = {
    "pt_android.txt": ["other", "image"], "fr_android.txt": ["other", "video"], "it_ios.txt": ["image", "voice"],
    "id_android.txt": ["other", "sticker"], "ru_android.txt": ["other", "video"], "tr_android.txt": ["other", "file"],
    "zh_android.txt": ["other", "image"], "de_ios.txt": ["image", "voice"],
}


def test_every_locale_of_the_issue_has_a_table():
    assert {"en", "zh", "es", "pt", "de", "fr", "it", "id", "ru", "tr"} <= set(LOCALES)
    for table in LOCALES.values():
        kinds = {kind for kind, _, _ in table["system"]}
        assert {"join_self", "join", "leave_self", "leave", "system", "notice"} <= kinds
        assert set(table["media"].values()) <= {"image", "video", "voice", "file", "sticker", "other"}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_locale_system_lines_become_memberships(name):
    creator, added, linked = STORIES[name]
    parsed = parse(LOCALE_DIR / name, "UTC", date_order="dmy")
    ev = parsed.events.loc[parsed.events["kind"] != "seen"]
    got = list(zip(ev["member"], ev["kind"], ev["how"]))
    assert got == [(creator, "join", "created"), (added, "join", "invite"), (linked, "join", "link"),
                   (added, "leave", "left"), (linked, "leave", "removed"), ("(you)", "join", "invite")]
    # the remover and the adder were in the group at that time
    seen = parsed.events.loc[parsed.events["kind"] == "seen", "member"]
    assert set(seen) == {creator}
    msgs = parsed.messages
    assert list(msgs.loc[msgs["source_type"].isin(["placeholder", "empty"]), "msg_type"]) == PLACEHOLDERS[name]
    icon = msgs.loc[msgs["source_type"] == "system:icon"]
    assert list(icon["member"]) == [creator] and (icon["msg_type"] == "system").all()
    assert (msgs.loc[msgs["msg_type"] != "text", "text"].isna()).all()
    assert sum(parsed.read.values()) == len(msgs) + len(parsed.rejected) + ev["source_row"].nunique()


def test_spanish_joins_leaves_and_extras():
    parsed = parse(LOCALE_DIR / "es_android.txt", "UTC", date_order="mdy")
    ev = parsed.events.loc[parsed.events["kind"] != "seen"]
    assert list(zip(ev["member"], ev["kind"], ev["how"])) == [
        ("Lucía Gómez", "join", "created"), ("Pablo Ruiz", "join", "invite"), ("Marta Díaz", "join", "invite"),
        ("Jorge Peña", "join", "link"), ("Pablo Ruiz", "leave", "left"), ("Jorge Peña", "leave", "removed"),
        ("(you)", "join", "invite")]
    placeholders = parsed.messages.loc[parsed.messages["source_type"].isin(["placeholder", "empty"])]
    assert list(placeholders["msg_type"]) == ["other", "image", "other"]  # <Multimedia omitido>, .jpg, empty
    msgs = parsed.messages.set_index("source_row")
    assert msgs.loc[7, "msg_type"] == "other" and msgs.loc[7, "source_type"] == "empty"  # "Marta Díaz:"
    assert msgs.loc[12, "source_type"] == "deleted"
    assert msgs.loc[10, "source_type"] == "system:subject"
    assert msgs.loc[16, "source_type"] == "system:number_change" and msgs.loc[16, "member"] == "Marta Díaz"
    rejected = parsed.rejected.set_index("source_row")["detail"].to_dict()
    assert rejected == {1: "encryption", 17: "unrecognised system line"}  # counted, never silently dropped
    # two targets joined by the locale's "y"
    adds = parsed.events.loc[parsed.events["source_row"] == 3]
    assert sorted(adds.loc[adds["kind"] == "join", "member"]) == ["Marta Díaz", "Pablo Ruiz"]


def test_ios_system_lines_under_the_chats_name():
    parsed = parse(LOCALE_DIR / "en_ios_group_named.txt", "UTC", date_order="mdy")
    ev = parsed.events.loc[parsed.events["kind"] != "seen"]
    assert list(zip(ev["member"], ev["kind"])) == [("Rosa Park", "join"), ("Ken Lee", "join"),
                                                   ("Ken Lee", "leave"), ("(you)", "join")]
    msgs = parsed.messages
    assert "Garden Club" not in set(msgs["member"])  # the chat's name is not a member
    # a member's own text with a colon and a capital stays a message
    assert list(msgs["msg_type"]) == ["text", "sticker"]
    assert msgs["text"].iloc[0] == "Hi! The subject: tomatoes"


def test_english_placeholders_and_kept_attachments(tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_text("\n".join([
        "1/29/18, 12:24 - Ann: <Media omitted>", "1/29/18, 12:25 - Ann: <media omitted>",
        "1/29/18, 12:26 - Bob: PTT-20180129-WA0025.opus (file attached)",
        "[1/29/18, 12:27:00] Bob: \u200eimage omitted", "[1/29/18, 12:28:00] Bob: \u200evideo omitted",
        "[1/29/18, 12:29:00] Bob: \u200eaudio omitted", "[1/29/18, 12:30:00] Bob: \u200edocument omitted",
        "[1/29/18, 12:31:00] Bob: \u200esticker omitted", "[1/29/18, 12:32:00] Bob: \u200eGIF omitted",
        "[1/29/18, 12:33:00] Bob: \u200eContact card omitted",
        "[1/29/18, 12:34:00] Bob: \u200e<attached: 00000042-PHOTO-2018-01-29.jpg>",
        "1/29/18, 12:35 - Bob: notes.pdf (file attached)", "1/29/18, 12:36 - Bob:",
        "1/29/18, 12:37 - Bob: an image omitted from my story"]), encoding="utf-8")
    types = list(parse(chat, "UTC", date_order="mdy").messages["msg_type"])
    assert types == ["other", "other", "voice", "image", "video", "voice", "file", "sticker", "sticker", "other",
                     "image", "file", "other", "text"]


def _import(inputs, out, salt, **kw):
    return import_chats("whatsapp", inputs, out, salt_file=salt, date_order="mdy", **kw)


def _two_ios_exports(tmp_path):
    a, b = tmp_path / "a" / "_chat.txt", tmp_path / "b" / "_chat.txt"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text("[1/5/24, 9:00:00 AM] Rosa: \u200eRosa created group “Garden Club”\n"
                 "[1/5/24, 9:02:00 AM] Ken: Hello gardeners\n[1/6/24, 9:02:00 AM] Rosa: Hi Ken\n", encoding="utf-8")
    b.write_text("[2/7/24, 8:00:00 PM] Pat: \u200ePat created group “Chess”\n"
                 "[2/7/24, 8:05:00 PM] Ken: Hello players\n", encoding="utf-8")
    return a, b


def test_same_file_name_two_chats_never_merge(tmp_path):
    salt = tmp_path / "salt.key"
    a, b = _two_ios_exports(tmp_path)
    # one import with both
    report = _import([a, b], tmp_path / "both", salt)
    ds = load_dataset(tmp_path / "both")
    assert ds.messages["group_id"].nunique() == 2 and report.n_groups == 2
    assert set(report.per_file) == {"a/_chat.txt", "b/_chat.txt"}
    # the same two files imported one after the other into one --out
    _import([a], tmp_path / "seq", salt)
    second = _import([b], tmp_path / "seq", salt)
    seq = load_dataset(tmp_path / "seq")
    assert seq.messages["group_id"].nunique() == 2 and second.imported == 2
    pseudo = Pseudonymiser(salt)
    ken = pseudo.one("member", "Ken")
    assert seq.members.loc[seq.members["member_id"] == ken, "group_id"].nunique() == 2


def test_same_chat_reimported_and_later_export_merge(tmp_path):
    salt = tmp_path / "salt.key"
    a, _ = _two_ios_exports(tmp_path)
    first = _import([a], tmp_path / "out", salt)
    again = _import([a], tmp_path / "out", salt)
    assert again.imported == 0 and again.skipped == {"already_imported": first.imported}
    later = tmp_path / "later" / "_chat.txt"
    later.parent.mkdir()
    shutil.copy(a, later)
    with later.open("a", encoding="utf-8") as handle:
        handle.write("[1/7/24, 10:00:00 AM] Ken: One more\n")
    merged = _import([later], tmp_path / "out", salt)
    ds = load_dataset(tmp_path / "out")
    assert merged.imported == 1 and ds.messages["group_id"].nunique() == 1 and len(ds.messages) == 3


def test_group_id_overrides(tmp_path, capsys):
    salt = tmp_path / "salt.key"
    a, b = _two_ios_exports(tmp_path)
    out = tmp_path / "one"
    assert main(["import", "whatsapp", str(a), str(b), "--out", str(out), "--salt-file", str(salt),
                 "--date-order", "mdy", "--group-id", "garden-and-chess"]) == 0
    ds = load_dataset(out)
    assert list(ds.messages["group_id"].unique()) == [Pseudonymiser(salt).one("group", "garden-and-chess")]
    capsys.readouterr()
    assert main(["import", "whatsapp", str(a), "--out", str(tmp_path / "x"), "--salt-file", str(salt),
                 "--group-id", " "]) == 2
    assert "--group-id" in capsys.readouterr().err


def test_membership_rows_from_spanish_export(tmp_path):
    out = tmp_path / "es"
    report = import_chats("whatsapp", [LOCALE_DIR / "es_android.txt"], out, salt_file=tmp_path / "s.key",
                          date_order="mdy")
    ds = load_dataset(out)
    pseudo = Pseudonymiser(tmp_path / "s.key")
    members = ds.members.set_index("member_id")
    assert members.loc[pseudo.one("member", "Pablo Ruiz"), "left_at"] == pd.Timestamp("2024-03-02 10:13",
                                                                                       tz="Asia/Shanghai")
    assert members.loc[pseudo.one("member", "Jorge Peña"), "joined_how"] == "link"
    assert report.n_leavers == 2 and report.per_file["es_android.txt"]["leavers"] == 2
    assert report.per_file["es_android.txt"]["members"] == 5  # creator, two added, link joiner, the phone


def test_chat_identity_does_not_depend_on_the_timezone():
    chat = LOCALE_DIR / "de_ios.txt"
    shanghai = parse(chat, "Asia/Shanghai", date_order="dmy")
    berlin = parse(chat, "Europe/Berlin", date_order="dmy")
    assert set(shanghai.groups) == set(berlin.groups)
    assert shanghai.messages["sent_at"].iloc[0] != berlin.messages["sent_at"].iloc[0]
