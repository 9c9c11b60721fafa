"""WhatsApp text exports ("Export chat" > "Without media"), any common locale.

One message per header line; lines without a header continue the message
above. Header formats depend on the phone's locale and platform, e.g.

* Android: ``06.08.2016, 13:23 - Name: text``, ``1/8/19, 9:05 PM - Name: text``
* iOS: ``[01/01/19 11:25:13] Name: text``, ``[1/8/19, 9:05:02 PM] Name: text``
* iOS 2016: ``06-01-16 12:29:41: Name: text``

The format is detected per line (day/month order, 2- or 4-digit years, 12- or
24-hour clock, optional seconds). Lines after the header without ``Name:`` (and
iOS lines whose text starts with U+200E) are system lines, recognised from the
per-locale phrase tables in :mod:`whatsapp_phrases`: joins, adds, leaves and
removals become membership changes; subject, icon, description, pin and number
changes become system messages of the member who made them; notices about nobody
(encryption, security codes) and lines no table knows are rejected with a
reason. Media placeholders ("<Media omitted>", "‎image omitted", "(file
attached)") are typed by what they say; an empty message is ``other``. The
group is identified by the chat's content (:func:`content_group_id`), not the
file's name. Dates such as 01/02/19 are ambiguous: the order
is taken from the file when some date decides it (a first number above 12 means
day-first) and from ``--date-order dmy|mdy`` otherwise. Members are identified by
the name (or phone number) the export shows; "You"/"Du" is the exporting phone.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pandas as pd

from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.importers.common import count_mentions, decode_bytes, occurrence_ids, read_text
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, SkipReason, source_label
from groupstats.data.importers.whatsapp_phrases import EXTENSIONS, FILE_PREFIXES, LOCALES

_DATE = r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:[\s_]*([AaPp]\.?\s?[Mm]\.?))?"
HEADER_ANDROID = re.compile(rf"^{_DATE},?\s+{_TIME}\s+[-–]\s+(.*)$")
HEADER_IOS = re.compile(rf"^\[{_DATE},?\s+{_TIME}\]\s+(.*)$")
HEADER_IOS_2016 = re.compile(rf"^{_DATE},?\s+{_TIME}:\s+(.*)$")  # 06-01-16 12:29:41: Name: text
#: Marks removed everywhere (U+FEFF even turns up inside "["); U+200E only before the header: after it,
#: it tells an iOS system line or placeholder ("Group: \u200eYou added Bob") from a member's message.
_INVISIBLE = dict.fromkeys(map(ord, "\u200f\u202a\u202c\ufeff"), None)
_LRM = dict.fromkeys(map(ord, "\u200e"), None)
_SPACES = {0x202f: " ", 0x00a0: " ", 0x2007: " "}
_QUOTES = {ord(c): '"' for c in "“”„«»"} | {ord(c): "'" for c in "‘’"}

YOU_ID = "(you)"


def _compile_locales():
    """The phrase tables of :mod:`whatsapp_phrases` as compiled regular expressions (one list for all)."""
    system, media, attached, deleted = [], {}, [], set()
    for locale, table in LOCALES.items():
        you = set(table["you"])
        joiners = "|".join(re.escape(w) for w in table["and"])
        splitter = re.compile(rf"\s*,\s*|{joiners}")
        for kind, how, pattern in table["system"]:
            regex = (pattern.replace("{A}", r"(?P<actor>[^:\n]+?)").replace("{T}", r"(?P<targets>[^:\n]+?)"))
            system.append((re.compile(rf"^{regex}\.?$", re.IGNORECASE), kind, how, locale, you, splitter))
        media.update({k.lower(): v for k, v in table["media"].items()})
        attached += [re.compile(rf"^{p}$", re.IGNORECASE) for p in table["attached"]]
        deleted |= {d.lower().rstrip(".") for d in table["deleted"]}
    return system, media, attached, deleted


SYSTEM, MEDIA, ATTACHED, DELETED = _compile_locales()
NOTICES = [row for row in SYSTEM if row[1] == "notice"]


def group_from_filename(path: Path) -> str:
    stem = path.stem
    for prefix in FILE_PREFIXES:
        if stem.startswith(prefix):
            return stem[len(prefix):] or stem
    return stem


def _read_lines(path: Path) -> list[str]:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            texts = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            if not texts:
                raise GroupstatsError(f"{path} holds no .txt chat export.")
            text = decode_bytes(archive.read(texts[0]), f"{path.name}:{texts[0]}")
    else:
        text = read_text(path)
    lines = []
    for line in text.splitlines():
        line = line.translate(_INVISIBLE).translate(_SPACES)
        lines.append(line.lstrip("\u200e") if _match(line.lstrip("\u200e")) else line)
    return lines


def _match(line: str):
    return HEADER_IOS.match(line) or HEADER_ANDROID.match(line) or HEADER_IOS_2016.match(line)


def header_match(line: str):
    """The header match of a raw line (invisible marks removed as the parser does), or None."""
    return _match(line.translate(_INVISIBLE).translate(_SPACES).lstrip("\u200e"))


def whatsapp_evidence(lines: list[str]) -> bool:
    """Whether raw text lines carry something only WhatsApp writes (for telling its exports from look-alikes).

    WhatsApp marks iOS system lines and attachments with U+200E and writes system lines (joins, the
    encryption notice, ...), media placeholders ("<Media omitted>", "image omitted") and "This message was
    deleted" in the phone's language; a Signal text export (signal-export) has the same
    ``[YYYY-MM-DD, HH:MM] Name: text`` header but none of these.
    """
    for line in lines:
        if "\u200e" in line:
            return True
        found = header_match(line)
        if found is None:
            continue
        body = found.group(8)
        item = _classify(body, body)
        if item[0] == "system" or (item[0] == "message" and item[4] in ("placeholder", "deleted")):
            return True
    return False


def _order(headers: list, date_order: str | None, path: Path) -> str:
    """dmy or mdy for the dates whose year is last: from the file where a date decides it, else ``date_order``.

    A date with a 4-digit first number (2019/01/01) is year-first whatever this returns.
    """
    headers = [m for m in headers if len(m.group(1)) < 4]
    if not headers:
        return date_order or "dmy"
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
    if len(m.group(1)) == 4:
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
        pm = ampm.lower().startswith("p")
        if 1 <= hour <= 12:
            hour = hour % 12 + (12 if pm else 0)
        elif not ((hour == 0 and not pm) or (13 <= hour <= 23 and pm)):  # "00:08 a. m.", "23:59 PM" are clear
            return None
    try:
        ts = pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute, second=second)
        ts = ts.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except (ValueError, OverflowError):
        return None
    if pd.isna(ts) or not 1990 <= ts.year < 2100:
        return None
    return ts.tz_convert("UTC")


def _timestamps(matches: list, order: str, tz: str) -> list:
    """UTC times of header matches (None where impossible), vectorised; the rules of :func:`_timestamp`."""
    if not matches:
        return []
    parts = pd.DataFrame([m.groups()[:7] for m in matches],
                         columns=["a", "b", "c", "hour", "minute", "second", "ampm"])
    nums = parts[["a", "b", "c", "hour", "minute"]].astype("int64")
    second = pd.to_numeric(parts["second"]).fillna(0).astype("int64")
    year_first = parts["a"].str.len() == 4
    if order == "dmy":
        day, month, year = nums["a"], nums["b"], nums["c"]
    else:
        month, day, year = nums["a"], nums["b"], nums["c"]
    year, month, day = (year.where(~year_first, nums["a"]), month.where(~year_first, nums["b"]),
                        day.where(~year_first, nums["c"]))
    year = year.where(year >= 100, year + 2000)
    hour = nums["hour"]
    ampm = parts["ampm"].fillna("")
    has = ampm != ""
    pm = ampm.str.lower().str.startswith("p")
    twelve = has & hour.between(1, 12)
    hour = hour.where(~twelve, hour % 12 + 12 * pm.astype("int64"))
    clear = (hour.eq(0) & ~pm) | (hour.between(13, 23) & pm)  # "00:08 a. m.", "23:59 PM"
    bad = has & ~twelve & ~clear
    local = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                                         "minute": nums["minute"], "second": second}), errors="coerce")
    local = local.where(~bad & local.dt.year.between(1990, 2099))
    utc = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return [None if pd.isna(t) else t for t in utc]


def _system_match(line: str, table=None):
    """(kind, how, actor, targets) of a system line in any locale's table, or None."""
    plain = line.translate(_QUOTES).strip()
    for regex, kind, how, _locale, you, splitter in SYSTEM if table is None else table:
        found = regex.match(plain)
        if found is None:
            continue
        groups = found.groupdict()
        actor = groups.get("actor")
        actor = None if actor is None else (YOU_ID if actor.strip() in you else actor.strip())
        targets = groups.get("targets")
        if targets is not None:
            targets = [YOU_ID if t.strip() in you else t.strip()
                       for t in splitter.split(targets.strip()) if t and t.strip()]
        return kind, how, actor, targets
    return None


def _media_type(text: str) -> str | None:
    """msg_type of a media placeholder or kept attachment, 'other' for an empty body, else None (text)."""
    stripped = text.strip()
    if not stripped:
        return "other"
    lowered = stripped.lower()
    if lowered in MEDIA:
        return MEDIA[lowered]
    if not any(c in stripped for c in "(<（>"):  # every kept-attachment form has a bracket
        return None
    for regex in ATTACHED:
        found = regex.match(stripped)
        if found:
            extension = found.group("file").rsplit(".", 1)[-1].lower().strip()
            return EXTENSIONS.get(extension, "file")
    return None


_NAME_COLON = re.compile(r"^([^:\n]{1,120}?):(?: (.*)|(\S.*)|)$", re.DOTALL)


def content_group_id(records: list[tuple]) -> str:
    """The chat's identity from its content: a hash of its creation line, else of its first three records.

    ``records`` are (local wall-clock time, body, system kind) of the export in file order. Two exports of one chat (a later export
    from the same phone repeats the beginning) get the same id; two chats get different ids even when their
    files have the same name (``_chat.txt``). The id is pseudonymised like any other group id.
    """
    created = [r for r in records if r[2] == "created"]
    chosen = created[:1] or records[:3]
    digest = hashlib.sha256("\n".join(f"{t.isoformat()}|{b}" for t, b, _ in chosen).encode("utf-8"))
    return "whatsapp:" + digest.hexdigest()[:32]


def parse(path: str | Path, tz: str, date_order: str | None = None) -> Parsed:
    """Parse one WhatsApp text export (``.txt``, or the ``.zip`` WhatsApp shares)."""
    path = Path(path)
    lines = _read_lines(path)
    name = group_from_filename(path)
    sink = RowSink(source_label(path))
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
                sink.reject(number, RejectReason.MALFORMED_ROW, detail="line before the first header")
            else:
                sink.skip(number, SkipReason.EMPTY_LINE)
    # classify every record first: the group's id depends on the content
    parsed_records = []  # (number, ts, body, what)
    times = _timestamps([m for _, m, _ in records], order, tz)
    for (number, m, body_lines), ts in zip(records, times):
        body = "\n".join(body_lines).rstrip("\n")
        parsed_records.append((number, ts, body))
    identity = []
    classified = []
    for number, ts, body in parsed_records:
        first = body.partition("\n")[0]
        item = _classify(body, first)
        classified.append(item)
        if ts is not None:
            # the wall-clock time as written (not UTC), so the id does not depend on --tz
            identity.append((ts.tz_convert(tz).tz_localize(None), body.translate(_LRM),
                             item[1] if item[0] == "system" else ""))
    group = content_group_id(identity) if identity else "whatsapp:" + name
    pending = []
    bad_dates = 0
    for (number, ts, body), item in zip(parsed_records, classified):
        sink.n_read += 1
        plain = body.translate(_LRM)
        if ts is None:
            bad_dates += 1
            sink.reject(number, RejectReason.MISSING_TIMESTAMP, group=group, text=plain)
            continue
        if item[0] == "message":
            _, sender, text, msg_type, source_type = item
            if not sender:
                sink.reject(number, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=plain)
                continue
            pending.append(dict(row=number, member=sender, sent_at=ts, msg_type=msg_type, source_type=source_type,
                                text=text if msg_type == "text" else None, name=sender, key=plain))
            continue
        if item[0] == "unknown":
            sink.reject(number, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=plain,
                        detail="unrecognised system line")
            continue
        _, kind, how, actor, targets, has_targets = item
        if kind == "notice":
            sink.reject(number, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=plain, detail=how)
        elif kind in ("join_self", "leave_self"):
            member = actor or YOU_ID
            sink.event(number, group, member, ts, kind.split("_")[0], how, name=None if member == YOU_ID else member)
        elif kind in ("join", "leave"):
            if not has_targets:  # "X added you", "You were added"
                targets = [YOU_ID]
            elif actor is None:  # "Añadiste a X": the phone was the actor
                actor = YOU_ID
            for target in targets:
                sink.event(number, group, target, ts, kind, how, name=None if target == YOU_ID else target)
            if actor is not None and actor not in targets:
                sink.event(number, group, actor, ts, "seen", "actor")
        else:
            pending.append(dict(row=number, member=actor or YOU_ID, sent_at=ts, msg_type="system",
                                source_type=f"system:{how}", text=None, name=None, key=plain))
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
    return sink.to_parsed(tz, groups={group: name}, notes=notes)


def _classify(body: str, first: str) -> tuple:
    """('message', sender, text, msg_type, source_type), ('system', kind, how, actor, targets, has_targets)
    or ('unknown',)."""
    named = _NAME_COLON.match(first)
    if named is not None and re.search(r"[\"“”«»]", named.group(1)):  # 'X changed the subject to "a: b"'
        found = _system_match(first.translate(_LRM))
        if found is not None:
            return ("system", *found, found[3] is not None)
    if named is None:
        found = _system_match(first.translate(_LRM))
        if found is not None:
            return ("system", *found, found[3] is not None)
        return ("unknown",)
    sender = named.group(1).strip().lstrip("~").strip()
    rest = body[named.end(1) + 1:]
    text = rest[1:] if rest.startswith(" ") else rest
    plain = text.translate(_LRM)
    plain_first = plain.partition("\n")[0].strip()
    if text.startswith("\u200e") or (len(plain_first) > 40 and plain_first[:1].isupper()):
        # iOS writes system lines under the chat's (or the contact's) name with a mark:
        # "Group: \u200eYou added Bob", "Dr. Feather: \u200eMessages and calls are end-to-end encrypted."
        found = _system_match(plain_first, NOTICES if not text.startswith("\u200e") else SYSTEM)
        if found is not None:
            return ("system", *found, found[3] is not None)
    if plain_first.lower().rstrip(".") in DELETED and "\n" not in plain.strip():
        return ("message", sender, None, "system", "deleted")
    msg_type = _media_type(plain)
    if msg_type is not None:
        return ("message", sender, None, msg_type, "placeholder" if plain.strip() else "empty")
    return ("message", sender, plain, "text", "message")
