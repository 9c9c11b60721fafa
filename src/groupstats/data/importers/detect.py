"""Which export a file is, from its shape (``groupstats import auto``), and refusals that name the fit.

:func:`detect` reads the file's beginning and returns a :class:`Detection`:
the importer that fits (``whatsapp``, ``telegram``, ``wechatmsg``, ``pywxdump``,
``wecom``), or a description of what the file is when groupstats does not
import it (Signal, Discord, Messenger/Instagram, a Telegram HTML export, a CSV
without a mapping). The rules, in order:

* ``.zip`` holding a ``.txt``: WhatsApp; ``.xlsx``/``.xls``: the header row
  decides (MemoTrace's Chinese header, else a table for ``import csv``);
* JSON lines whose first record has ``msgid``/``msgtime``: WeCom archive;
* JSON: ``guild`` + ``channel`` is DiscordChatExporter, ``sender_name`` +
  ``timestamp_ms`` is Meta (Messenger/Instagram), ``messages`` or ``chats`` is
  Telegram Desktop;
* a CSV header: WeChatMsg/MemoTrace or PyWxDump by their columns, otherwise a
  generic table (``import csv`` with a mapping);
* text whose message lines look like ``[2019-12-24, 12:23] Name: text`` (ISO
  date, comma, no seconds) everywhere: Signal (signal-export), unless a line
  carries something only WhatsApp writes (U+200E marks, a system line, a media
  placeholder; :func:`~groupstats.data.importers.whatsapp.whatsapp_evidence`):
  iOS WhatsApp writes the same header in some locales. Other lines with a
  WhatsApp header: WhatsApp.

Named formats use the same rules to refuse a file that is clearly another
export, and say which importer would fit.
"""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.importers.common import decode_bytes

#: What each importer reads (for messages).
LABELS = {
    "whatsapp": "WhatsApp chat export (.txt or .zip)",
    "telegram": "Telegram Desktop JSON export (result.json)",
    "wechatmsg": "WeChatMsg/MemoTrace CSV",
    "pywxdump": "PyWxDump CSV",
    "wecom": "WeCom session archive (JSON lines)",
    "csv": "CSV/Excel table with a column mapping",
}
SUPPORTED = ("WhatsApp .txt/.zip, Telegram Desktop JSON, WeChatMsg/MemoTrace CSV, PyWxDump CSV, WeCom archive "
             "JSON lines, or any CSV/Excel table with `groupstats import csv --map member=COLUMN --map time=COLUMN`")
_PREFIX_BYTES = 1 << 20
_SIGNAL = re.compile(r"^\[\d{4}-\d{2}-\d{2}, \d{2}:\d{2}\] [^:\n]+: ")


@dataclass
class Detection:
    """What a file is: ``format`` (an importer name, or None), ``what`` it is, ``strong`` evidence."""

    format: str | None
    what: str
    strong: bool = True


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if len(raw) > _PREFIX_BYTES:
        raw = raw[:_PREFIX_BYTES]
        cut = raw.rfind(b"\n")
        raw = raw[:cut + 1] if cut > 0 else raw
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and len(raw) % 2:
            raw = raw + b"\x00"
    return decode_bytes(raw, path.name).lstrip("\ufeff")


def detect(path: str | Path) -> Detection:
    """The importer that fits ``path``, or what it is when none does (see the module's rules)."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"Input file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return Detection(None, "a damaged or non-zip file named .zip")
        if any(n.lower().endswith(".txt") for n in names):
            return Detection("whatsapp", "a WhatsApp chat export (.zip)")
        return Detection(None, "a zip archive without a .txt chat export")
    if suffix in (".xlsx", ".xls"):
        import pandas as pd

        try:
            header = [str(c) for c in pd.read_excel(path, nrows=0).columns]
        except Exception as exc:  # noqa: BLE001 - any reader failure becomes a description
            return Detection(None, f"a spreadsheet that cannot be read ({exc})")
        return _from_header(header, "spreadsheet")
    text = _text(path)
    body = text.lstrip()
    if not body:
        return Detection(None, "an empty file")
    from groupstats.data.importers.whatsapp import header_match as _match

    first_line = body.partition("\n")[0]
    if body[0] in "{[" and not _match(first_line):  # iOS WhatsApp lines also start with "["
        return _from_json(body, complete=len(text) >= path.stat().st_size - 4)
    if body.lower().startswith(("<!doctype html", "<html")):
        if "telegram" in body[:5000].lower():
            return Detection(None, "a Telegram Desktop HTML export (export again as 'Machine-readable JSON' "
                                   "and use `groupstats import telegram`)")
        return Detection(None, "an HTML page")
    lines = [line for line in body.splitlines()[:400] if line.strip()]
    heads = [line for line in lines if _match(line)]
    if heads and all(_SIGNAL.match(line.lstrip("\ufeff\u200e")) for line in heads):
        from groupstats.data.importers.whatsapp import whatsapp_evidence

        if whatsapp_evidence(lines):
            return Detection("whatsapp", "a WhatsApp chat export (.txt, [YYYY-MM-DD, HH:MM] headers)")
        return Detection(None, "a Signal text export ([YYYY-MM-DD, HH:MM] Name: text), which groupstats does not "
                               "import (if it is a WhatsApp export without any system line or media placeholder, "
                               "import it with `groupstats import whatsapp`)", strong=False)
    if heads and (_match(lines[0]) or len(heads) >= len(lines) / 2):
        return Detection("whatsapp", "a WhatsApp chat export (.txt)")
    try:
        header = next(csv.reader(io.StringIO(lines[0])))
    except (csv.Error, StopIteration):
        header = []
    if len(header) >= 2 or "\t" in lines[0] or ";" in lines[0]:
        return _from_header(header, "CSV table")
    return Detection(None, "a file of unknown format")


def _from_header(header: list[str], kind: str) -> Detection:
    from groupstats.data.importers import pywxdump, wechatmsg

    layout = wechatmsg.layout_of(header)
    if layout is not None:
        return Detection("wechatmsg", f"a {wechatmsg.LAYOUTS[layout][0]}")
    if pywxdump.layout_of(header) is not None:
        return Detection("pywxdump", "a PyWxDump CSV ("
                         + ("msg, src" if "msg" in header else "content") + " layout)")
    shown = ", ".join(h.strip() for h in header[:8])
    return Detection("csv", f"a {kind} with columns {shown}; no chat exporter writes this header, so "
                            f"groupstats needs a column mapping", strong=False)


def _from_json(body: str, complete: bool) -> Detection:
    first = body.splitlines()[0].strip()
    if first.startswith("{") and first.endswith("}"):
        try:
            record = json.loads(first)
        except ValueError:
            record = None
        if isinstance(record, dict) and ({"msgid", "msgtime"} & set(record) or {"seq", "action"} <= set(record)):
            return Detection("wecom", "a WeCom session archive (JSON lines)")
    head = body[:20000]
    keys = set(re.findall(r'"([A-Za-z_]+)"\s*:', head))
    if {"guild", "channel"} <= keys:
        return Detection(None, "a DiscordChatExporter JSON export, which groupstats does not import")
    if {"sender_name", "timestamp_ms"} <= keys:
        what = "a Facebook Messenger" if "participants" in keys else "an Instagram/Messenger (Meta)"
        return Detection(None, f"{what} JSON export, which groupstats does not import")
    data = None
    if complete:
        try:
            data = json.loads(body)
        except ValueError:
            return Detection(None, "a file that starts like JSON but is not valid JSON")
    if data is not None and not isinstance(data, dict):
        return Detection(None, "a JSON file that is not a chat export groupstats knows")
    top = set(data) if isinstance(data, dict) else keys
    if "messages" in top or "chats" in top:
        return Detection("telegram", "a Telegram Desktop JSON export")
    return Detection(None, "a JSON file that is not a chat export groupstats knows")


def resolve_auto(path: str | Path) -> str:
    """The importer for ``import auto``; refuses (exit 2) with what the file is and what is supported."""
    found = detect(path)
    name = Path(path).name
    if found.format == "csv":
        raise ParameterError(f"{name}: {found.what}. Import it with `groupstats import csv {name} --map "
                             f"member=COLUMN --map time=COLUMN [--map group=COLUMN | --map group_value=NAME] ...` "
                             f"(see docs/importing.md).")
    if found.format is None:
        raise ParameterError(f"{name}: cannot import {found.what}. Supported: {SUPPORTED}.")
    return found.format


def check_named(path: str | Path, named: str) -> None:
    """Refuse a file given to the wrong named importer, naming the one that would fit."""
    if named == "csv":
        return  # any table, with the user's mapping (also a WeChat CSV mapped by hand)
    try:
        found = detect(path)
    except GroupstatsError:
        return  # the importer reports unreadable files itself
    name = Path(path).name
    if found.format is not None and found.format not in (named, "csv"):
        raise ParameterError(f"{name} looks like {found.what}, not a {LABELS[named]}: use `groupstats import "
                             f"{found.format}` (or `groupstats import auto`).")
    if found.format is None and found.strong and "which groupstats does not import" in found.what:
        raise ParameterError(f"{name} looks like {found.what}; it is not a {LABELS[named]}. Supported: "
                             f"{SUPPORTED}.")


def refusal_hint(path: str | Path, named: str) -> str:
    """A sentence naming the importer that fits (for a format's own refusal), or ''."""
    try:
        found = detect(path)
    except GroupstatsError:
        return ""
    if found.format is not None and found.format != named and found.format != "csv":
        return f" It looks like {found.what}: use `groupstats import {found.format}` (or `import auto`)."
    if found.format is None:
        return f" It looks like {found.what}."
    if found.format == "csv" and named != "csv":
        return " It is a table with other columns: import it with `groupstats import csv` and a column mapping."
    return ""
