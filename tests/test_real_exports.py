"""Real exports written by other tools (tests/data/real) and our hand-written fixtures, end to end.

Every file goes through ``groupstats import auto`` and ``validate`` (the CLI, in process). Files of
formats we do not import must be refused with exit 2 and a message naming what they are; every other
file must import, and its counts must add up to the rows the file holds (counted here independently of
the importer: WhatsApp header lines, Telegram messages, CSV records, JSON lines). A subset of imported
files then goes through every analysis command: each either succeeds (exit 0) or exits 2 with a message
that says what is missing; never a traceback.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import traceback
from pathlib import Path

import pytest

from groupstats.cli import main
from groupstats.data.importers.common import read_text
from groupstats.data.importers.detect import detect
from groupstats.data.importers.whatsapp import header_match
from importers_helpers import IMPORTS

REAL_DIR = Path(__file__).resolve().parent / "data" / "real"
REAL = sorted(p for p in REAL_DIR.rglob("*") if p.is_file() and p.suffix.lower() != ".md")
#: hand-written fixtures that are exports (not mapping files, rosters or member-change lists)
HAND = sorted(p for p in IMPORTS.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".json", ".jsonl", ".csv")
              and p.name not in ("member_changes.csv", "users.json"))
FILES = REAL + HAND

#: file -> words its refusal must contain (formats we do not import, exports with nothing to import)
REFUSED = {
    "chatminer_signal_export.txt": "Signal",
    "chatanalytics_discord_GC_3A_5M.json": "DiscordChatExporter",
    "chatanalytics_messenger_2A_7M.json": "Messenger",
    "chatminer_instagram_export.json": "Instagram",
    "chatminer_batch_export.json": "not_a_group (a chat that is not a group",  # its one chat has no type
    "chatminer_single_export.json": "invalid_value (e.g. message without id)",  # minimal: no ids, no senders
    "chat_log.csv": "--map member=COLUMN",  # a generic table: needs a column mapping
}
#: ambiguous day/month files (every date <= 12): refused until the order is declared, never guessed
DATE_ORDER = {"chatanalytics_android_en_4A_11M.txt": "mdy", "WhatsApp Chat with Garden Swap.txt": "mdy",
              "es_android.txt": "mdy"}

#: real files that every analysis command runs on: WhatsApp with joins, removals and leavers over two days;
#: a real 146-line group over two years with leavers; a PyWxDump one-to-one chat (a group of two, one day);
#: a Telegram personal chat (a group of two, nobody left)
ANALYSED = ["whatsr_android_en_24h.txt", "petengdedet_android_en_ui_id_text_tanyadev.txt",
            "weclone_pywxdump_msgsrc_zh_test_person.csv", "chatanalytics_DM_2A_7M.json"]
COMMANDS = {
    "validate": ["validate", "{data}"],
    "features": ["features", "{data}", "--out", "{tmp}/features.parquet"],
    "segment": ["segment", "{data}"],
    "tiers": ["segment", "{data}", "--tiers", "activity"],
    "churn": ["churn", "{data}", "--out", "{tmp}/churn.csv"],
    "health": ["health", "{data}"],
    "abtest": ["abtest", "{data}", "--experiment", "slots"],
    "plan-slots": ["plan-slots", "{data}"],
    "mix": ["mix", "{data}", "--target", "practical:30,interactive:50,lifestyle:20"],
    "audit": ["audit", "{data}"],
}
#: commands that need tables an import cannot produce: they must say so
NEEDS_POSTS = {"abtest", "plan-slots", "mix"}


def run(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI in process; an escaping exception becomes a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except Exception:  # noqa: BLE001 - recorded so the assertion shows it
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def expected_read(path: Path, fmt: str) -> int:
    """Rows the file holds, counted without the importer."""
    text = read_text(path)
    if fmt == "whatsapp":
        lines = text.splitlines()
        first = next(i for i, line in enumerate(lines) if header_match(line))
        return first + sum(1 for line in lines[first:] if header_match(line))
    if fmt == "telegram":
        data = json.loads(text)
        if isinstance(data.get("messages"), list):
            return len(data["messages"])
        return sum(len(chat.get("messages", [])) for key in ("chats", "left_chats")
                   for chat in data.get(key, {}).get("list", []))
    if fmt == "wecom":
        return len(text.splitlines())
    return sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1


def _import(path: Path, out: Path, salt: Path) -> tuple[int, str, str]:
    args = ["import", "auto", path, "--out", out, "--salt-file", salt, "--json"]
    if path.name in DATE_ORDER:
        args += ["--date-order", DATE_ORDER[path.name]]
    return run(args)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_import_auto_and_validate(path, tmp_path):
    salt, out = tmp_path / "salt.key", tmp_path / "out"
    if path.name in DATE_ORDER:  # without the order: a clear refusal
        code, _, err = run(["import", "auto", path, "--out", out, "--salt-file", salt])
        assert code == 2 and "--date-order" in err and "Traceback" not in err
    code, stdout, err = _import(path, out, salt)
    assert "Traceback" not in err and code in (0, 2), err
    if path.name in REFUSED:
        assert code == 2 and REFUSED[path.name] in err, err
        return
    assert code == 0, err
    counts = json.loads(stdout)
    rejected, skipped = counts["rejected"], counts["skipped"]
    assert counts["read"] == counts["imported"] + rejected + skipped
    assert rejected == sum(counts["rejected_by_reason"].values())
    assert skipped == sum(counts["skipped_by_reason"].values())
    (file_counts,) = counts["per_file"].values()
    assert file_counts["read"] == counts["read"]
    assert file_counts["imported"] + file_counts["rejected"] + file_counts["skipped"] == file_counts["read"]
    assert counts["read"] == expected_read(path, detect(path).format)
    assert counts["imported"] > 0 and file_counts["members"] >= 1
    assert 0 <= file_counts["leavers"] <= file_counts["members"]
    code, stdout, err = run(["validate", out, "--lang", "en"])
    assert code == 0 and "valid groupstats dataset" in stdout, err


_IMPORTED: dict[str, Path] = {}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Import each analysed file once per test worker."""
    def get(name: str) -> Path:
        if name not in _IMPORTED:
            path = next(p for p in FILES if p.name == name)
            root = tmp_path_factory.mktemp("analysed")
            code, _, err = _import(path, root / "data", root / "salt.key")
            assert code == 0, err
            _IMPORTED[name] = root / "data"
        return _IMPORTED[name]
    return get


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", [n for n in ANALYSED if any(p.name == n for p in FILES)])
def test_every_analysis_succeeds_or_says_what_is_missing(name, command, imported, tmp_path):
    data = imported(name)
    args = [a.format(data=data, tmp=tmp_path) for a in COMMANDS[command]]
    code, _, err = run(args)
    assert "Traceback" not in err, err
    assert code in (0, 2), err
    if command in NEEDS_POSTS:  # an import has no posts or assignments: the message says so
        assert code == 2 and "posts" in err, err
    if code == 2:
        message = err.strip().splitlines()
        assert message and message[0].startswith("error:") and len(err.strip()) > 30, err

