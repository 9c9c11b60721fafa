"""WhatsApp text exports ("Export chat" > "Without media"), any common locale.

One message per header line; lines without a header continue the message
above. Header formats depend on the phone's locale and platform, e.g.

* Android: ``06.08.2016, 13:23 - Name: text``, ``1/8/19, 9:05 PM - Name: text``
* iOS: ``[01/01/19 11:25:13] Name: text``, ``[1/8/19, 9:05:02 PM] Name: text``

The format is detected per line (day/month order, 2- or 4-digit years, 12- or
24-hour clock, optional seconds). Lines after the header without ``Name:`` are
system lines (joins, adds, leaves, removals, subject changes, the encryption
notice): joins and leaves become membership changes, the others system messages
or rejections with a reason. Dates such as 01/02/19 are ambiguous: the order
is taken from the file when some date decides it (a first number above 12 means
day-first) and from ``--date-order dmy|mdy`` otherwise. Members are identified by
the name (or phone number) the export shows; "You"/"Du" is the exporting phone.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd

from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.importers.common import Parsed, RejectReason, RowSink, SkipReason, count_mentions, occurrence_ids

_DATE = r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?\s*([AaPp]\.?\s?[Mm]\.?)?"
HEADER_ANDROID = re.compile(rf"^{_DATE},?\s+{_TIME}\s+[-–]\s+(.*)$")
HEADER_IOS = re.compile(rf"^\[{_DATE},?\s+{_TIME}\]\s+(.*)$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202c\ufeff"), None)
_SPACES = {0x202f: " ", 0x00a0: " "}

YOU = ("You", "you", "Du", "du", "Sie")
YOU_ID = "(you)"
_NAME = r"([^:]+?)"
_ENCRYPTION = re.compile(r"^(?:Messages and calls are end-to-end encrypted|Messages to this group are now secured|"
                         r"Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt|Nachrichten in dieser Gruppe)"
                         r".*$", re.DOTALL)
#: (pattern, kind, how): kind join/leave -> membership events; system -> a system message by the actor;
#: none -> a system line about no member. Groups: 1 = actor, 2 = targets (if any).
SYSTEM_PATTERNS = [
    (re.compile(rf"^{_NAME} joined using (?:this group['’]s|a group) invite link$"), "join_self", "link"),
    (re.compile(rf"^{_NAME} joined from the community$"), "join_self", "community"),
    (re.compile(rf"^{_NAME} joined$"), "join_self", "joined"),
    (re.compile(rf"^{_NAME} added (.+)$"), "join", "invite"),
    (re.compile(rf"^{_NAME} left$"), "leave_self", "left"),
    (re.compile(rf"^{_NAME} removed (.+)$"), "leave", "removed"),
    (re.compile(rf"^{_NAME} created (?:the )?group.*$"), "join_self", "created"),
    (re.compile(rf"^{_NAME} (?:changed|deleted|pinned|turned|reset|set) .+$"), "system", "change"),
    (re.compile(rf"^{_NAME} ist über den Einladungslink dieser Gruppe beigetreten\.?$"), "join_self", "link"),
    (re.compile(rf"^{_NAME} ist (?:der Gruppe )?beigetreten\.?$"), "join_self", "joined"),
    (re.compile(rf"^{_NAME} (?:hat|haben) (.+?) hinzugefügt\.?$"), "join", "invite"),
    (re.compile(rf"^{_NAME} (?:hat die Gruppe verlassen|ist ausgetreten|hast die Gruppe verlassen)\.?$"),
     "leave_self", "left"),
    (re.compile(rf"^{_NAME} (?:hat|hast) (.+?) entfernt\.?$"), "leave", "removed"),
    (re.compile(rf"^{_NAME} (?:hat|hast) (?:die )?Gruppe .*erstellt\.?$"), "join_self", "created"),
    (re.compile(rf"^{_NAME} (?:hat|hast) (?:den Betreff|das Gruppenbild|die Gruppenbeschreibung|"
                rf"eine Nachricht) .+$"), "system", "change"),
    (_ENCRYPTION, "none", "encryption"),
]
DELETED = ("This message was deleted", "You deleted this message", "Diese Nachricht wurde gelöscht.",
           "Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht.", "Du hast diese Nachricht gelöscht")
MEDIA = {"<media omitted>": "other", "<medien ausgeschlossen>": "other", "image omitted": "image",
         "bild weggelassen": "image", "video omitted": "video", "video weggelassen": "video",
         "audio omitted": "voice", "audio weggelassen": "voice", "sticker omitted": "sticker",
         "sticker weggelassen": "sticker", "gif omitted": "sticker", "gif weggelassen": "sticker",
         "document omitted": "file", "dokument weggelassen": "file"}
_ATTACHED = re.compile(r"^<(?:attached|Anhang): .*\.(\w+)>$", re.IGNORECASE)
EXTENSIONS = {"jpg": "image", "jpeg": "image", "png": "image", "mp4": "video", "opus": "voice", "m4a": "voice",
              "webp": "sticker"}
_PREFIXES = ("WhatsApp Chat with ", "WhatsApp Chat mit ", "WhatsApp-Chat mit ", "WhatsApp Chat - ")


def group_from_filename(path: Path) -> str:
    stem = path.stem
    for prefix in _PREFIXES:
        if stem.startswith(prefix):
            return stem[len(prefix):] or stem
    return stem


def _read_lines(path: Path) -> list[str]:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            texts = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            if not texts:
                raise GroupstatsError(f"{path} holds no .txt chat export.")
            raw = archive.read(texts[0])
    else:
        raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    return [line.translate(_INVISIBLE).translate(_SPACES) for line in text.splitlines()]


def _match(line: str):
    return HEADER_IOS.match(line) or HEADER_ANDROID.match(line)


def _order(headers: list, date_order: str | None, path: Path) -> str:
    """ymd, dmy or mdy: from the file where a date decides it, else from ``date_order``."""
    if any(len(m.group(1)) == 4 for m in headers):
        return "ymd"
    firsts = [int(m.group(1)) for m in headers]
    seconds = [int(m.group(2)) for m in headers]
    dmy = any(a > 12 for a in firsts)
    mdy = any(b > 12 for b in seconds)
    if dmy and mdy:
        if date_order:
            return date_order
        raise ParameterError(f"{path.name}: some dates have a day first and others a month first; the file "
                             f"mixes formats. Pass --date-order dmy or mdy (rows that do not fit are rejected).")
    if dmy:
        return "dmy"
    if mdy:
        return "mdy"
    if date_order:
        return date_order
    if all(a == b for a, b in zip(firsts, seconds)):
        return "dmy"
    raise ParameterError(f"{path.name}: every date could be day/month or month/day (e.g. 01/02/19). Pass "
                         f"--date-order dmy (day first, most locales) or mdy (month first, US phones).")


def _timestamp(m, order: str, tz: str):
    a, b, c = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if order == "ymd":
        year, month, day = a, b, c
    elif order == "dmy":
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if year < 100:
        year += 2000
    hour, minute = int(m.group(4)), int(m.group(5))
    second = int(m.group(6)) if m.group(6) else 0
    ampm = m.group(7)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
    try:
        ts = pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute, second=second)
        ts = ts.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except (ValueError, OverflowError):
        return None
    if pd.isna(ts) or not 1990 <= ts.year < 2100:
        return None
    return ts.tz_convert("UTC")


def _targets(text: str) -> list[str]:
    parts = re.split(r",\s*|\s+and\s+|\s+und\s+", text.strip().rstrip("."))
    return [p.strip() for p in parts if p.strip()]


def _who(name: str) -> str:
    return YOU_ID if name in YOU else name


def parse(path: str | Path, tz: str, date_order: str | None = None) -> Parsed:
    """Parse one WhatsApp text export (``.txt``, or the ``.zip`` WhatsApp shares)."""
    path = Path(path)
    lines = _read_lines(path)
    group = group_from_filename(path)
    sink = RowSink(path.name)
    matches = [_match(line) for line in lines]
    headers = [m for m in matches if m]
    if not headers:
        raise GroupstatsError(f"{path.name}: no line looks like a WhatsApp message header (e.g. "
                              f"'06.08.2016, 13:23 - Name: text' or '[01/01/19 11:25:13] Name: text'); is this "
                              f"a WhatsApp chat export?")
    order = _order(headers, date_order, path)
    # group the lines into records: a header line and its continuation lines
    records = []
    for number, (line, m) in enumerate(zip(lines, matches), start=1):
        if m:
            records.append([number, m, [m.group(8)]])
        elif records:
            records[-1][2].append(line)
        else:
            sink.n_read += 1
            if line.strip():
                sink.reject(number, RejectReason.MALFORMED_ROW, group=group, detail="line before the first header")
            else:
                sink.skip(number, SkipReason.EMPTY_LINE)
    pending = []
    bad_dates = 0
    for number, m, body_lines in records:
        sink.n_read += 1
        body = "\n".join(body_lines).rstrip("\n")
        ts = _timestamp(m, order, tz)
        if ts is None:
            bad_dates += 1
            sink.reject(number, RejectReason.MISSING_TIMESTAMP, group=group, text=body)
            continue
        first, _, rest = body.partition("\n")
        system = None
        for pattern, kind, how in SYSTEM_PATTERNS:
            found = pattern.match(first)
            if found and (kind == "none" or ": " not in found.group(1)):
                system = (found, kind, how)
                break
        if system is None and ": " in first:
            name, _, text = body.partition(": ")
            name = name.strip()
            if _ENCRYPTION.match(text.strip()):  # iOS shows the notice under the group's name
                sink.reject(number, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=body,
                            detail="encryption")
                continue
            if not name:
                sink.reject(number, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=body)
                continue
            msg_type, stripped = "text", text.strip()
            if stripped in DELETED:
                msg_type = "system"
            elif stripped.lower() in MEDIA:
                msg_type = MEDIA[stripped.lower()]
            elif (att := _ATTACHED.match(stripped)) is not None:
                msg_type = EXTENSIONS.get(att.group(1).lower(), "file")
            pending.append(dict(row=number, member=_who(name), sent_at=ts, msg_type=msg_type,
                                source_type="deleted" if msg_type == "system" else "message",
                                text=text if msg_type == "text" else None, name=name, key=body))
            continue
        if system is None:
            sink.reject(number, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=body,
                        detail="unrecognised system line")
            continue
        found, kind, how = system
        if kind == "none":
            sink.reject(number, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=body, detail=how)
        elif kind in ("join_self", "leave_self"):
            sink.event(number, group, _who(found.group(1).strip()), ts, kind.split("_")[0], how,
                       name=found.group(1).strip())
        elif kind in ("join", "leave"):
            actor = _who(found.group(1).strip())
            targets = [_who(t) for t in _targets(found.group(2))]
            for target in targets:
                sink.event(number, group, target, ts, kind, how, name=None if target == YOU_ID else target)
            if actor not in targets:
                sink.event(number, group, actor, ts, "seen", "actor")
        else:
            pending.append(dict(row=number, member=_who(found.group(1).strip()), sent_at=ts, msg_type="system",
                                source_type=f"system:{how}", text=None, name=None, key=body))
    if pending:
        frame = pd.DataFrame(pending)
        ids = occurrence_ids(group + "|" + frame["member"] + "|" + frame["sent_at"].astype(str) + "|" + frame["key"])
        for rec, msg_id in zip(frame.to_dict("records"), ids):
            text = rec["text"] if isinstance(rec["text"], str) else None
            sink.message(rec["row"], group=group, member=rec["member"], sent_at=rec["sent_at"],
                         msg_type=rec["msg_type"], source_type=rec["source_type"], source_msg_id=msg_id,
                         reply_to_source=None, text=text, text_len=len(text) if text else 0,
                         n_mentions=count_mentions(text), name=rec["name"] if isinstance(rec["name"], str) else None)
    notes = []
    if bad_dates:
        notes.append(f"{path.name}: {bad_dates} WhatsApp header(s) with an impossible date under the "
                     f"{order} order were rejected.")
    return sink.to_parsed(tz, groups={group: group}, notes=notes)
