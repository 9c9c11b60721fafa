"""Real exports written by other tools (tests/data/real) and our hand-written fixtures, end to end.

Every file goes through ``groupstats import auto`` and ``validate`` (the CLI, in process). Files of
formats we do not import must be refused with exit 2 and a message naming what they are; every other
file must import, and its counts must add up to the rows the file holds (counted here independently of
the importer: WhatsApp header lines, Telegram messages, CSV records, JSON lines).

Every real file that imports then goes through every analysis command (each exits 0, or 2 with a message
that names what the data lacks; never a traceback) and through ``groupstats report all`` (exit 0; every
report "ok" or "not applicable" with its reason; index.html lists them all). One chat is in the corpus
eight times (the whatsr files: Android and iOS layouts, English and German, 24-hour and am/pm clocks):
each of the eight is imported, counted and run through every analysis command, and ``report all`` runs
on two of them that differ in all three (a test checks that the eight imports are the same chat).

Cost: work is done once per test session and shared by the xdist workers (:class:`Corpus`: one file
lock per piece of work, results kept as JSON in the session's base folder). Each file is imported once;
files whose imports are the same dataset (the same chat exported in several date formats; compared by a
digest of the tables, see :func:`tools.real_export_yields.dataset_digest`) share one run of each analysis and of ``report all``,
and each file's tests assert on that run. Reports reuse the worker's warm kernel.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import io
import json
import os
import re
import secrets
import traceback
from pathlib import Path

import pandas as pd
import pytest

from groupstats.cli import main
from groupstats.data.importers.common import read_text
from groupstats.data.importers.detect import detect
from groupstats.data.importers.whatsapp import header_match
from importers_helpers import IMPORTS
from tools.real_export_yields import dataset_digest

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
#: every real export that imports: each goes through every analysis command
IMPORTABLE = [p for p in REAL if p.name not in REFUSED]
#: One chat exported eight times (Android / iOS x English / German x 24-hour / am-pm): the importer's
#: parsing differs (each file's import and counts are tested, and each import goes through every
#: analysis command), the dataset does not (test_whatsr_files_are_one_chat), so its reports are made
#: from two of the files, which differ in layout, language and clock.
ONE_CHAT = [p for p in IMPORTABLE if p.name.startswith("whatsr_")]
ONE_CHAT_REPORTED = ("whatsr_android_en_ampm.txt", "whatsr_ios_de_24h.txt")
#: every real export `report all` runs on
REPORTED = [p for p in IMPORTABLE if p not in ONE_CHAT or p.name in ONE_CHAT_REPORTED]

#: Every command of `groupstats --help` that reads a dataset, with the options a first run would use
#: (``compare`` takes any tidy table: here the dataset's messages, arms = message types).
COMMANDS = {
    "features": ["features", "{data}", "--out", "{work}/features.parquet"],
    "segment": ["segment", "{data}"],
    "tiers": ["segment", "{data}", "--tiers", "activity"],
    "churn": ["churn", "{data}", "--out", "{work}/churn.csv"],
    "health": ["health", "{data}"],
    "audit": ["audit", "{data}"],
    "abtest": ["abtest", "{data}", "--experiment", "slots"],
    "monitor": ["abtest", "{data}", "--experiment", "slots", "--sequential"],
    "plan-slots": ["plan-slots", "{data}"],
    "mix": ["mix", "{data}", "--target", "practical:30,interactive:50,lifestyle:20"],
    "mix-experiment": ["mix", "{data}", "--experiment", "mix"],
    "compare": ["compare", "{data}/messages.parquet", "--arm", "msg_type", "--metric", "text_len",
                "--cluster", "member_id"],
}
#: What an exit 2 may name as missing, per command (an import has no posts, assignments or roster; real
#: chats are short, small or have one kind of member). Anything else fails the test: a new refusal must
#: be looked at and added here.
MISSING = {
    "abtest": ("'posts' table is missing",), "monitor": ("'posts' table is missing",),
    "plan-slots": ("'posts' table is missing",), "mix": ("'posts' table is missing",),
    "mix-experiment": ("'assignments' table is missing", "'posts' table is missing"),
    "churn": ("Too little history", "every member has the same outcome"),
    "segment": ("segmentation needs at least", "distinct"), "tiers": ("segmentation needs at least", "distinct"),
    "compare": ("arm", "at least"),
}
#: reports every import lacks the tables for (no posts, no assignments)
NEEDS_POSTS = {"posting_time_ab", "content_mix", "experiment_monitor", "plan_slots"}


def run(args: list) -> tuple[int, str, str]:
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


class Corpus:
    """Work on the corpus done once per test session, shared by the xdist workers.

    Each piece of work (an import, one analysis of one dataset, `report all` on one dataset) runs under
    its own file lock, the first time a test asks for it; its result is kept as JSON and read by every
    later test (in any worker).
    """

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.salt = self._once("salt", lambda: {"path": str(self._new_salt())})["path"]

    def _new_salt(self) -> Path:
        path = self.root / "salt.key"
        path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        return path

    def _once(self, key: str, compute) -> dict:
        import fcntl

        name = hashlib.sha1(key.encode()).hexdigest()[:20]
        done, lock_path = self.root / f"{name}.json", self.root / f"{name}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not done.exists():
                    done.write_text(json.dumps(compute()), encoding="utf-8")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return json.loads(done.read_text(encoding="utf-8"))

    def imported(self, path: Path) -> dict:
        """``import auto`` of one file: code, stdout, stderr, out (dataset folder) and digest."""
        rel = path.relative_to(path.parents[2])  # real/whatsapp/..., imports/whatsapp/...

        def work() -> dict:
            out = self.root / "data" / re.sub(r"[^\w.-]+", "_", str(rel))
            args = ["import", "auto", path, "--out", out, "--salt-file", self.salt, "--json"]
            if path.name in DATE_ORDER:
                args += ["--date-order", DATE_ORDER[path.name]]
            code, stdout, err = run(args)
            return {"code": code, "stdout": stdout, "stderr": err, "out": str(out),
                    "digest": dataset_digest(out) if code == 0 else None}
        return self._once(f"import:{rel}", work)

    def analysis(self, path: Path, command: str) -> dict:
        """One analysis command on the file's dataset (run once per distinct dataset)."""
        result = self.imported(path)
        assert result["code"] == 0, result["stderr"]

        def work() -> dict:
            folder = self.root / "work" / result["digest"] / command
            folder.mkdir(parents=True, exist_ok=True)
            args = [a.format(data=result["out"], work=folder) for a in COMMANDS[command]]
            code, stdout, err = run(args)
            return {"code": code, "stdout": stdout, "stderr": err, "data": result["out"], "work": str(folder)}
        return self._once(f"analysis:{result['digest']}:{command}", work)

    def report_all(self, path: Path) -> dict:
        """`report all` on the file's dataset (once per distinct dataset): code, output, index.json, index.html."""
        result = self.imported(path)
        assert result["code"] == 0, result["stderr"]

        def work() -> dict:
            out = self.root / "reports" / result["digest"]
            code, stdout, err = run(["report", "all", "--data", result["out"], "--out", out, "--lang", "en",
                                     "--timeout", "300"])
            index = out / "index.json"
            return {"code": code, "stdout": stdout, "stderr": err,
                    "index": json.loads(index.read_text(encoding="utf-8")) if index.exists() else None,
                    "html": (out / "index.html").read_text(encoding="utf-8") if index.exists() else ""}
        return self._once(f"report:{result['digest']}", work)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # common to every xdist worker of this session
    return Corpus(shared / "real_exports")


def _file_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", FILES, ids=_file_id)
def test_import_auto_and_validate(path, corpus, tmp_path):
    if path.name in DATE_ORDER:  # without the order: a clear refusal
        code, _, err = run(["import", "auto", path, "--out", tmp_path / "out", "--salt-file", corpus.salt])
        assert code == 2 and "--date-order" in err and "Traceback" not in err
    result = corpus.imported(path)
    code, stdout, err, out = result["code"], result["stdout"], result["stderr"], result["out"]
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


def test_the_corpus_covers_what_the_issue_asks():
    """29 real files; 23 import (the four other apps' exports and two Telegram files are refused)."""
    assert len(REAL) == 29 and len(IMPORTABLE) == 23
    assert {p.parent.name for p in IMPORTABLE} == {"whatsapp", "telegram", "wechat"}
    assert len(ONE_CHAT) == 8 and len(REPORTED) == 17 and {p.parent.name for p in REPORTED} == {
        "whatsapp", "telegram", "wechat"}


def test_whatsr_files_are_one_chat(corpus):
    """The premise of reporting on two of the eight whatsr files: their imports are one chat (as many
    messages and members, and every message at the same time give or take a minute: iOS exports carry
    seconds, and two messages of the iOS files are a minute later; what the layouts and languages write
    differently, such as the type of a voice note, may differ)."""
    times, counts = [], set()
    for path in ONE_CHAT:
        result = corpus.imported(path)
        assert result["code"] == 0, result["stderr"]
        messages = pd.read_parquet(Path(result["out"]) / "messages.parquet")
        members = pd.read_parquet(Path(result["out"]) / "members.parquet")
        counts.add((len(messages), members["member_id"].nunique(), messages["member_id"].nunique()))
        times.append(messages["sent_at"].sort_values().to_numpy())
    assert len(counts) == 1, counts
    for other in times[1:]:
        assert abs(other - times[0]).max() <= pd.Timedelta(minutes=2).to_timedelta64()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("path", IMPORTABLE, ids=_file_id)
def test_every_analysis_succeeds_or_says_what_is_missing(path, command, corpus):
    result = corpus.analysis(path, command)
    code, err = result["code"], result["stderr"]
    assert "Traceback" not in err + result["stdout"], err
    assert code in (0, 2), err
    if command in ("abtest", "monitor", "plan-slots", "mix", "mix-experiment"):  # imports have no posts
        assert code == 2, err  # (nor assignments)
    if code == 2:
        message = err.strip()
        assert message.startswith("error:") and len(message.splitlines()) <= 6, err
        assert any(words in message for words in MISSING.get(command, ())), \
            f"{command} refused {_file_id(path)} with a message not known to name what is missing: {err}"
    if code == 0 and command == "features":  # a file was written, one row per member
        features = pd.read_parquet(Path(result["work"]) / "features.parquet")
        members = pd.read_parquet(Path(result["data"]) / "members.parquet")
        assert 0 < len(features) <= members[["group_id", "member_id"]].drop_duplicates().shape[0]


def _page_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("path", REPORTED, ids=_file_id)
def test_report_all_runs_what_applies_and_says_why_not(path, corpus):
    result = corpus.report_all(path)
    assert "Traceback" not in result["stdout"] + result["stderr"], result["stderr"][-3000:]
    assert result["code"] == 0, result["stdout"][-3000:]
    reports = {r["name"]: r for r in result["index"]["reports"]}
    assert len(reports) == 9
    statuses = {name: r["status"] for name, r in reports.items()}
    assert set(statuses.values()) <= {"ok", "not_applicable"}, statuses
    assert statuses["data_overview"] == "ok"  # every valid dataset supports the overview
    assert {n for n, s in statuses.items() if s == "not_applicable"} >= NEEDS_POSTS
    for name in NEEDS_POSTS:
        assert "posts" in reports[name]["reason"], reports[name]
    text = _page_text(result["html"])
    for name, report in reports.items():
        assert name in text, name  # the index lists every report
        if report["status"] == "not_applicable":
            assert report["reason"] and len(report["reason"]) > 20
            assert report["reason"] in text, report["reason"]
        else:
            assert Path(report["html"]).is_file()
    n_ok = sum(s == "ok" for s in statuses.values())
    assert f"{n_ok} of {n_ok} applicable report(s) ok" in result["stdout"]
