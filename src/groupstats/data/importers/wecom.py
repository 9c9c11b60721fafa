"""WeCom (企业微信) session archive: decrypted messages as JSON lines.

Each line is one record: ``msgid``, ``action`` (``send``, ``recall``,
``switch``), ``from``, ``tolist``, ``roomid`` (empty for one-to-one chats,
which are skipped), ``msgtime`` (UTC milliseconds; seconds are accepted too),
``msgtype`` (text, image, voice, video, emotion, file, link, weapp, redpacket,
chatrecord, revoke, ...) and the content under a key named after the type.
``switch`` records (a user switching enterprise) are not messages.

The archive records no joins or leaves: pass a member-change file (CSV or JSON
lines with group/roomid, member/userid, change ``add_member``/``del_member``,
time) with ``--member-changes``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.data.importers.common import (any_timestamp, clean_str, count_mentions, epoch_to_timestamp,
                                              occurrence_ids, read_text)
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, SkipReason, source_label
from groupstats.data.importers.side_files import read_table

TYPE_MAP = {
    "text": "text", "markdown": "text", "mixed": "text", "image": "image", "voice": "voice", "video": "video",
    "emotion": "sticker", "file": "file", "link": "link", "news": "link", "sphfeed": "link",
    "weapp": "mini_program", "redpacket": "red_packet", "external_redpacket": "red_packet",
    "revoke": "system", "agree": "system", "disagree": "system",
    "chatrecord": "other", "card": "other", "location": "other", "calendar": "other", "meeting": "other",
    "docmsg": "other", "todo": "other", "vote": "other", "collect": "other", "voiptext": "other",
    "meeting_voice_call": "other", "voip_doc_share": "other", "qydiskfile": "other",
}


def _text_of(record: dict, msgtype: str) -> str | None:
    body = record.get(msgtype)
    if not isinstance(body, dict):
        return None
    if msgtype in ("text", "markdown"):
        content = body.get("content")
        return content if isinstance(content, str) else None
    if msgtype == "mixed":
        parts = []
        items = body.get("item") if isinstance(body.get("item"), list) else []
        for item in items:
            if isinstance(item, dict) and item.get("type") == "text":
                try:
                    inner = json.loads(item.get("content") or "{}")
                except (TypeError, ValueError):
                    inner = {}
                if isinstance(inner, dict) and isinstance(inner.get("content"), str):
                    parts.append(inner["content"])
        return "\n".join(parts) if parts else None
    return None


def parse(path: str | Path, tz: str) -> Parsed:
    """Parse one archive file (JSON lines) into source-level rows."""
    path = Path(path)
    sink = RowSink(source_label(path))
    try:
        lines = read_text(path).splitlines()
    except OSError as exc:
        raise GroupstatsError(f"Cannot read {path}: {exc}") from exc
    pending = []
    for row, line in enumerate(lines, start=1):
        sink.n_read += 1
        if not line.strip():
            sink.skip(row, SkipReason.EMPTY_LINE)
            continue
        try:
            record = json.loads(line)
        except ValueError:
            sink.reject(row, RejectReason.MALFORMED_ROW, detail="not a JSON object")
            continue
        if not isinstance(record, dict):
            sink.reject(row, RejectReason.MALFORMED_ROW, detail="not a JSON object")
            continue
        action = clean_str(record.get("action")) or "send"
        if action == "switch":
            sink.skip(row, SkipReason.NOT_A_MESSAGE)
            continue
        room = clean_str(record.get("roomid"))
        sender = record.get("from")
        sender = clean_str(sender) if isinstance(sender, (str, int)) else None
        if not room:
            sink.skip(row, SkipReason.ONE_TO_ONE_CHAT)
            continue
        ts = epoch_to_timestamp(record.get("msgtime"))
        if ts is None:
            sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=room, member=sender)
            continue
        if not sender:
            sink.reject(row, RejectReason.MISSING_SENDER, group=room, sent_at=ts)
            continue
        msgtype = record.get("msgtype")
        if not isinstance(msgtype, str) or not msgtype.strip():
            sink.reject(row, RejectReason.INVALID_VALUE, group=room, member=sender, sent_at=ts,
                        detail="msgtype missing")
            continue
        msgtype = msgtype.strip()
        msg_type = "system" if action == "recall" else TYPE_MAP.get(msgtype, "other")
        text = _text_of(record, msgtype)
        msgid = record.get("msgid")
        msgid = clean_str(msgid) if isinstance(msgid, (str, int)) else None
        pending.append(dict(row=row, group=room, member=sender, sent_at=ts, msg_type=msg_type,
                            source_type=f"{action}:{msgtype}", msgid=msgid, text=text,
                            unknown=msgtype not in TYPE_MAP and action != "recall"))
    notes = []
    if pending:
        frame = pd.DataFrame(pending)
        missing = frame["msgid"].isna()
        if missing.any():
            key = (frame["group"] + "|" + frame["member"] + "|" + frame["sent_at"].astype(str) + "|"
                   + frame["source_type"] + "|" + frame["text"].fillna(""))
            frame.loc[missing, "msgid"] = "noid:" + occurrence_ids(key)[missing]
        unknown = frame.loc[frame["unknown"], "source_type"].value_counts()
        if len(unknown):
            notes.append("WeCom msgtypes not known to groupstats were imported as msg_type 'other': "
                         + ", ".join(f"{k} ({v})" for k, v in unknown.items()))
        for rec in frame.to_dict("records"):
            text = rec["text"] if isinstance(rec["text"], str) else None
            sink.message(rec["row"], group=rec["group"], member=rec["member"], sent_at=rec["sent_at"],
                         msg_type=rec["msg_type"], source_type=rec["source_type"], source_msg_id=rec["msgid"],
                         reply_to_source=None, text=text, text_len=len(text) if text else 0,
                         n_mentions=count_mentions(text), name=None)
    groups = {g: "" for g in {p["group"] for p in pending}}
    return sink.to_parsed(tz, groups=groups, notes=notes)


CHANGE_KINDS = {"add_member": "join", "del_member": "leave", "join": "join", "leave": "leave"}


def parse_member_changes(path: str | Path, tz: str) -> Parsed:
    """Member changes: group (roomid), member (userid), change (add_member/del_member), time."""
    path = Path(path)
    sink = RowSink(source_label(path))
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for line in read_text(path).splitlines():
            try:
                value = json.loads(line) if line.strip() else None
            except ValueError:
                value = "malformed"
            rows.append(value)
    else:
        frame = read_table(path, "member-change file")
        rows = frame.to_dict("records")
    for row, rec in enumerate(rows, start=1):
        sink.n_read += 1
        if rec is None:
            sink.skip(row, SkipReason.EMPTY_LINE)
            continue
        if not isinstance(rec, dict):
            sink.reject(row, RejectReason.MALFORMED_ROW, detail="not a record")
            continue
        rec = {str(k).strip().lower(): v for k, v in rec.items()}
        group = clean_str(rec.get("group", rec.get("group_id", rec.get("roomid"))))
        member = clean_str(rec.get("member", rec.get("member_id", rec.get("userid"))))
        change = clean_str(rec.get("change", rec.get("change_type")))
        ts = any_timestamp(rec.get("time", rec.get("changetime", rec.get("msgtime"))), tz)
        if not group:
            sink.reject(row, RejectReason.MISSING_GROUP, member=member)
        elif not member:
            sink.reject(row, RejectReason.MISSING_SENDER, group=group)
        elif ts is None:
            sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, member=member)
        elif change not in CHANGE_KINDS:
            sink.reject(row, RejectReason.INVALID_VALUE, group=group, member=member, sent_at=ts,
                        detail="change must be add_member or del_member")
        else:
            sink.event(row, group, member, ts, CHANGE_KINDS[change],
                       "added" if CHANGE_KINDS[change] == "join" else "removed")
    return sink.to_parsed(tz)
