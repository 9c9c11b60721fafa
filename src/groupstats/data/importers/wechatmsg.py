"""WeChatMsg / MemoTrace (留痕) CSV exports of WeChat group chats.

Two layouts (see ``tests/data/real/FORMATS.md`` for the exporter's source):

* current (MemoTrace, 2025-): ``消息ID,类型,发送人,时间,内容,备注,昵称,更多信息`` (a fork: ``wxid`` for
  ``发送人``), named types (:data:`MEMOTRACE_TYPES`), local time ``YYYY-MM-DD HH:MM:SS``, senders by display
  name, no chat id (the group is identified by its content, :func:`content_group_id`); also its XLSX;
* 2023-24, described below.

Format of the 2023-24 layout (from the exporter's CSV writer): UTF-8 with BOM, columns
``localId, TalkerId, Type, SubType, IsSender, CreateTime, Status, StrContent,
StrTime, Remark, NickName, Sender``. ``CreateTime`` is Unix seconds (we also
accept milliseconds), ``StrTime`` local time without zone (used only when
``CreateTime`` is unusable). In group chats ``Sender`` is the member's wxid;
``Remark``/``NickName`` are display names. Rows may come in any order.

Type/SubType codes: 1 text, 3 image, 34 voice, 43 video, 47 sticker, 50 call,
49/5 link, 49/6 file, 49/3 music, 49/8 gif, 49/19 forwarded chat history,
49/33 and 49/36 mini-program, 49/57 quote-reply, 49/87 group notice,
49/2000 transfer, 49/2001 red packet, 10000 system text (joins, removals,
recalls; 10000/4 is a pat), 10002 system XML (revokemsg, pat, templates).
Unknown codes are imported as ``other`` (their code is kept in ``source_type``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.data.importers.common import (clean_str, count_mentions, declared_timestamps, epoch_to_timestamp,
                                              local_to_timestamp, occurrence_ids, read_text, resolve_names)
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, source_label

COLUMNS = ["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent",
           "StrTime", "Remark", "NickName", "Sender"]

#: (Type, SubType) -> msg_type; a Type alone matches any SubType.
TYPE_MAP = {
    (1, None): "text", (3, None): "image", (34, None): "voice", (43, None): "video", (47, None): "sticker",
    (50, None): "other", (42, None): "other", (48, None): "other",
    (49, 5): "link", (49, 6): "file", (49, 3): "link", (49, 8): "sticker", (49, 19): "other",
    (49, 33): "mini_program", (49, 36): "mini_program", (49, 57): "text", (49, 87): "text",
    (49, 2000): "other", (49, 2001): "red_packet", (49, 4): "link", (49, 51): "link",
    (10000, None): "system", (10002, None): "system",
}

Q = "[\"“”']?"
_JOIN_INVITE = re.compile(rf"^{Q}(.+?){Q}\s*邀请\s*{Q}(.+?){Q}\s*加入了?群聊")
_JOIN_QR = re.compile(rf"^{Q}(.+?){Q}\s*通过扫描\s*{Q}(.+?){Q}\s*分享的二维码加入群聊")
_JOIN_SELF = re.compile(rf"^{Q}(.+?){Q}\s*(?:通过.*)?加入了?群聊")
_REMOVE = re.compile(rf"^{Q}(.+?){Q}\s*将\s*{Q}(.+?){Q}\s*移出了?群聊")
_LEAVE = re.compile(rf"^{Q}(.+?){Q}\s*(?:已)?退出了?群聊")
_RECALL = re.compile(rf"^{Q}(.+?){Q}\s*撤回了一条消息")
_PAT = re.compile(rf"^{Q}(.+?){Q}\s*拍了拍\s*{Q}(.+?){Q}(?:\s|的|$)")
_RENAME = re.compile(rf"^{Q}(.+?){Q}\s*修改群名为")
_SPLIT = re.compile(r"[、,，]\s*")


def _int(value):
    text = clean_str(value)
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def _xml(text: str | None):
    if not text or "<" not in text:
        return None
    start = text.find("<")
    try:
        return ET.fromstring(text[start:])
    except ET.ParseError:
        return None


def _quote_info(content: str | None):
    """(reply text, quoted sender wxid, quoted CreateTime) from a 49/57 appmsg, if XML."""
    root = _xml(content)
    if root is None:
        return content, None, None
    title = root.findtext(".//appmsg/title") or root.findtext(".//title")
    chatusr = root.findtext(".//refermsg/chatusr") or root.findtext(".//refermsg/fromusr")
    created = root.findtext(".//refermsg/createtime")
    return title, clean_str(chatusr), _int(created)


def _system_text(content: str | None, name_map: dict) -> tuple[str | None, str | None]:
    """Plain text of a system row and, for XML pats, the actor's wxid directly."""
    root = _xml(content)
    if root is None:
        return content, None
    kind = root.get("type", "")
    if kind == "revokemsg":
        return root.findtext(".//replacemsg") or "", None
    if kind == "pat":
        return root.findtext(".//template") or "", clean_str(root.findtext(".//fromusername"))
    if kind == "sysmsgtemplate":
        template = root.findtext(".//template") or ""
        for link in root.iter("link"):
            names = []
            for member in link.iter("member"):
                username = clean_str(member.findtext("username"))
                nickname = clean_str(member.findtext("nickname")) or username
                if username and nickname:
                    name_map.setdefault(nickname, username)
                if nickname:
                    names.append(nickname)
            template = template.replace(f"${link.get('name')}$", "、".join(f"{n}" for n in names))
        return template, None
    return "".join(root.itertext()), None


#: Header of the current WeChatMsg / MemoTrace (留痕) CSV (``exporter/exporter_csv.py``, 2025-).
MEMOTRACE_COLUMNS = ["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"]
#: A fork's variant of it: the sender's wxid in the third column.
MEMOTRACE_WXID_COLUMNS = ["消息ID", "类型", "wxid", "时间", "内容", "备注", "群昵称", "昵称"]
#: MemoTrace's ``MessageType.name()`` values -> msg_type (``未知类型`` and anything else -> other).
MEMOTRACE_TYPES = {
    "文本": "text", "图片": "image", "视频": "video", "语音": "voice", "表情包": "sticker", "音视频通话": "other",
    "文件": "file", "位置分享": "other", "分享链接": "link", "红包": "red_packet", "转账": "other",
    "引用消息": "text", "合并转发的聊天记录": "other", "小程序": "mini_program", "视频号": "link",
    "音乐分享": "link", "收藏笔记": "other", "个人/公众号名片": "other", "企业微信名片": "other",
    "系统消息": "system", "拍一拍": "system", "未知类型": "other",
}

#: Layouts this module reads, by the columns that identify them (see tests/data/real/FORMATS.md).
LAYOUTS = {
    "wechatmsg_2023": ("WeChatMsg CSV (2023-24: localId, TalkerId, Type, ...)", ["Type", "CreateTime", "StrContent"]),
    "memotrace": ("WeChatMsg/MemoTrace CSV (消息ID, 类型, 发送人, 时间, 内容, ...)", ["消息ID", "类型", "发送人", "时间", "内容"]),
    "memotrace_wxid": ("WeChatMsg/MemoTrace CSV, wxid variant (消息ID, 类型, wxid, 时间, 内容, ...)",
                       ["消息ID", "类型", "wxid", "时间", "内容"]),
}


def layout_of(header: list[str]) -> str | None:
    """Which WeChatMsg layout a CSV header is (``None`` if none)."""
    names = {h.strip().lstrip("\ufeff") for h in header}
    for layout in ("memotrace_wxid", "memotrace", "wechatmsg_2023"):
        if set(LAYOUTS[layout][1]) <= names:
            return layout
    return None


def read_csv_rows(path: Path, what: str):
    """(sink, header, rows) of a CSV export (or the XLSX MemoTrace also writes: its first sheet, 聊天记录):
    rows are (row number, fields); unreadable records rejected."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        try:
            frame = pd.read_excel(path, dtype=str, sheet_name=0, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001 - any reader failure becomes a clear message
            raise GroupstatsError(f"{path} cannot be read as an Excel export of {what}: {exc}") from exc
        sink = RowSink(source_label(path))
        sink.n_read = len(frame)
        return sink, [str(c).strip() for c in frame.columns], [(i + 1, [str(v) for v in row])
                                                               for i, row in enumerate(frame.to_numpy())]
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    sink = RowSink(source_label(path))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise GroupstatsError(f"{path} is empty; export the chat again with {what}.") from None
    except csv.Error as exc:
        raise GroupstatsError(f"{path} is not a CSV file ({exc}).") from None
    rows = []
    row_no = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            row_no += 1
            sink.n_read += 1
            sink.reject(row_no, RejectReason.MALFORMED_ROW, detail="unreadable CSV record")
            continue
        row_no += 1
        sink.n_read += 1
        rows.append((row_no, fields))
    return sink, header, rows


def _read_file(path: Path, tz: str) -> tuple[RowSink, list[dict]]:
    """Read one CSV: a sink (with malformed rows rejected) and the well-formed records."""
    sink, header, rows = read_csv_rows(path, "WeChatMsg (CSV)")
    layout = layout_of(header)
    if layout is None:
        from groupstats.data.importers.detect import refusal_hint

        raise GroupstatsError(f"{path} is not a WeChatMsg CSV export: its header is {', '.join(header[:9])}; "
                              f"expected {', '.join(MEMOTRACE_COLUMNS)} (current WeChatMsg/MemoTrace) or "
                              f"{', '.join(COLUMNS)} (2023-24).{refusal_hint(path, 'wechatmsg')}")
    if layout == "wechatmsg_2023" and "Sender" not in header:
        raise GroupstatsError(
            f"{path} has no Sender column: it is a one-to-one chat, or an export made by an older WeChatMsg "
            f"version that did not record who sent each message in group chats. Group messages cannot be "
            f"attributed to members; export the group again with a current WeChatMsg release.")
    col = {name: i for i, name in enumerate(header)}

    def get(fields, name):
        i = col.get(name)
        return None if i is None else fields[i]

    records = []
    good = well_formed_rows(sink, rows, len(header))
    if layout != "wechatmsg_2023":
        return sink, _memotrace_records(path, sink, good, get, layout, tz)
    for row_no, fields in good:
        rec = {"sink": sink, "row": row_no, "group": clean_str(get(fields, "TalkerId")) or path.stem,
               "type": _int(get(fields, "Type")), "sub": _int(get(fields, "SubType")) or 0,
               "sender": clean_str(get(fields, "Sender")), "is_sender": _int(get(fields, "IsSender")) == 1,
               "content": get(fields, "StrContent") or "", "create": clean_str(get(fields, "CreateTime")),
               "strtime": clean_str(get(fields, "StrTime")),
               "names": {clean_str(get(fields, "Remark")), clean_str(get(fields, "NickName"))} - {None},
               "name": clean_str(get(fields, "Remark")) or clean_str(get(fields, "NickName"))}
        ts = epoch_to_timestamp(rec["create"]) if rec["create"] else None
        if ts is None and rec["strtime"]:
            ts = local_to_timestamp(rec["strtime"], tz)
        rec["ts"] = ts
        records.append(rec)
    return sink, records


def content_group_id(prefix: str, rows: list[tuple]) -> str:
    """A chat's id from its content when the export names no chat id: a hash of its earliest three rows.

    ``rows`` are (time text, message id, sender) tuples. A later export of the same chat repeats them (same
    id: the imports merge); another chat never does, even when both files have the same name.
    """
    chosen = sorted(rows, key=lambda r: (str(r[0]), str(r[1])))[:3]
    digest = hashlib.sha256("\n".join("|".join(map(str, r)) for r in chosen).encode("utf-8")).hexdigest()
    return f"{prefix}:{digest[:32]}"


def well_formed_rows(sink: RowSink, rows: list, width: int, repair=None) -> list[tuple[int, list[str]]]:
    """The (row number, fields) of CSV rows with ``width`` fields; the others are rejected as malformed.

    ``repair(fields)`` may first mend a row a known exporter bug split (PyWxDump's unquoted commas).
    """
    good = []
    for row_no, fields in rows:
        if repair is not None:
            fields = repair(fields)
        if len(fields) != width:
            sink.reject(row_no, RejectReason.MALFORMED_ROW, detail=f"{len(fields)} fields, header has {width}")
            continue
        good.append((row_no, fields))
    return good


def named_type_record(sink: RowSink, row: int, *, group: str, group_name: str, sender: str | None,
                      is_sender: bool, content: str, names: set, name: str | None, ts, type_name: str,
                      known_types: dict, msg_type: str, text: str | None, **extra) -> dict:
    """One record of a layout with named types (MemoTrace's 类型, PyWxDump's type_name), in the shape
    :func:`parse_files` reads: ``msg_type`` from the type name, ``code`` the name as written (kept in
    ``source_type``), ``known_type`` whether the exporter's table names it (unknown ones are listed in a
    note)."""
    return {"sink": sink, "row": row, "group": group, "type": None, "sub": 0, "sender": sender,
            "is_sender": is_sender, "content": content, "names": names, "name": name,
            "ts": ts if ts is not None and not pd.isna(ts) else None, "msg_type": msg_type,
            "code": type_name or "(empty)", "text": text, "known_type": type_name in known_types,
            "group_name": group_name, **extra}


def _memotrace_records(path: Path, sink: RowSink, rows: list, get, layout: str, tz: str) -> list[dict]:
    """Records of the MemoTrace layout: named types (类型), display name or wxid as sender, local time."""
    sender_col = "wxid" if layout == "memotrace_wxid" else "发送人"
    times = declared_timestamps(pd.Series([get(f, "时间") for _, f in rows], dtype="object"), tz)
    group = content_group_id("memotrace", [(get(f, "时间"), get(f, "消息ID"), get(f, sender_col)) for _, f in rows])
    records = []
    for (row_no, fields), ts in zip(rows, times):
        type_name = clean_str(get(fields, "类型")) or ""
        sender = clean_str(get(fields, sender_col))
        names = {clean_str(get(fields, "备注")), clean_str(get(fields, "昵称")), clean_str(get(fields, "群昵称")),
                 clean_str(get(fields, "发送人"))} - {None}
        content = get(fields, "内容") or ""
        msg_type = MEMOTRACE_TYPES.get(type_name, "other")
        if msg_type == "system" and sender in ("系统", "系统消息", "system"):
            sender = None
        text = None
        if msg_type == "text":
            text = content.split("\n引用：", 1)[0] if type_name == "引用消息" else content
        records.append(named_type_record(
            sink, row_no, group=group, group_name=path.stem, sender=sender, is_sender=False, content=content,
            names=names, name=clean_str(get(fields, "备注")) or clean_str(get(fields, "昵称")) or sender, ts=ts,
            type_name=type_name, known_types=MEMOTRACE_TYPES, msg_type=msg_type, text=text))
    return records


def parse_files(paths: list[str | Path], tz: str, reader=None, label: str = "WeChatMsg") -> Parsed:
    """Parse WeChat CSV files (one group each, or several exports of a group).

    Display names in system rows ("张三"邀请"李四"加入了群聊) are resolved to
    wxids learnt from the messages of all the files together. ``reader``
    (default: this module's layouts) turns one file into (sink, records); the
    PyWxDump importer passes its own.
    """
    reader = reader or _read_file
    sinks, records, stems = [], [], {}
    for path in map(Path, paths):
        sink, recs = reader(path, tz)
        sinks.append(sink)
        records += recs
        for rec in recs:
            stems.setdefault(rec["group"], rec.get("group_name") or path.stem)

    # names -> wxid per group (a name used by two wxids is ambiguous and dropped)
    name_maps: dict[str, dict[str, str]] = {}
    ambiguous: dict[str, set] = {}
    self_id = None
    for rec in records:
        sender = rec["sender"]
        if sender and rec["type"] not in (10000, 10002) and rec.get("msg_type") != "system":
            if rec["is_sender"] and self_id is None:
                self_id = sender
            names = name_maps.setdefault(rec["group"], {})
            names.setdefault(sender, sender)
            for name in rec["names"]:
                if names.get(name, sender) != sender:
                    ambiguous.setdefault(rec["group"], set()).add(name)
                names.setdefault(name, sender)
    for group, names in ambiguous.items():
        for name in names:
            name_maps[group].pop(name, None)

    n_unknown_codes: dict[str, int] = {}
    messages: list[dict] = []
    partial = [0]
    for rec in records:
        sink, row, group, ts = rec["sink"], rec["row"], rec["group"], rec["ts"]
        if "msg_type" in rec:  # layouts with named types (MemoTrace, PyWxDump)
            _named_type_row(rec, name_maps.setdefault(group, {}), self_id, messages, partial, n_unknown_codes)
            continue
        if rec["type"] is None:
            sink.reject(row, RejectReason.INVALID_VALUE, group=group, member=rec["sender"],
                        detail="Type is not a number")
            continue
        if ts is None:
            sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, member=rec["sender"],
                        text=rec["content"])
            continue
        code = f"{rec['type']}/{rec['sub']}" if rec["type"] in (49, 10000) else str(rec["type"])
        msg_type = TYPE_MAP.get((rec["type"], rec["sub"])) or TYPE_MAP.get((rec["type"], None))
        if msg_type is None:
            msg_type = "other"
            n_unknown_codes[code] = n_unknown_codes.get(code, 0) + 1
        if msg_type == "system":
            _system_row(sink, rec, name_maps.setdefault(group, {}), self_id, messages, code, partial)
            continue
        if not rec["sender"]:
            sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=rec["content"],
                        detail=f"type {code}")
            continue
        text, quoted_sender, quoted_time = None, None, None
        if rec["type"] == 1:
            text = rec["content"]
        elif (rec["type"], rec["sub"]) == (49, 57):
            text, quoted_sender, quoted_time = _quote_info(rec["content"])
        elif (rec["type"], rec["sub"]) == (49, 87):
            root = _xml(rec["content"])
            text = (root.findtext(".//textannouncement") or root.findtext(".//title")) if root is not None \
                else rec["content"]
        messages.append(dict(sink=sink, row=row, group=group, member=rec["sender"], sent_at=ts,
                             msg_type=msg_type, source_type=code, text=text, name=rec["name"],
                             quoted_sender=quoted_sender, quoted_time=quoted_time, content=rec["content"]))

    notes = []
    if n_unknown_codes:
        notes.append(f"{label} type codes not known to groupstats were imported as msg_type 'other': "
                     + ", ".join(f"{c} ({n})" for c, n in sorted(n_unknown_codes.items())))
    for file in sorted({rec["sink"].source_file for rec in records if rec.get("one_to_one")}):
        notes.append(f"{file} is a one-to-one chat, exported on its own: imported as a group of its two "
                     f"members.")
    if partial[0]:
        notes.append(f"{partial[0]} member name(s) in WeChat system rows matched no sender id and were left "
                     f"out of members; add them with --roster.")
    _emit_messages(messages)
    out = Parsed()
    for sink in sinks:
        out.extend(sink.to_parsed(tz, groups={g: stems[g] for g in stems}, notes=notes))
    return out


def _named_type_row(rec: dict, name_map: dict, self_id, messages: list, partial: list, unknown: dict) -> None:
    """One record of a layout with named types: a system row, or a message with its msg_type."""
    sink, row, group, ts = rec["sink"], rec["row"], rec["group"], rec["ts"]
    code = rec["code"]
    if ts is None:
        sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, member=rec["sender"], text=rec["content"])
        return
    if not rec.get("known_type", True):
        unknown[code] = unknown.get(code, 0) + 1
    if rec["msg_type"] == "system":
        _system_row(sink, rec, name_map, self_id, messages, code, partial)
        return
    if not rec["sender"]:
        sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=rec["content"],
                    detail=f"type {code}")
        return
    messages.append(dict(sink=sink, row=row, group=group, member=rec["sender"], sent_at=ts,
                         msg_type=rec["msg_type"], source_type=code, text=rec["text"], name=rec["name"],
                         quoted_sender=None, quoted_time=None, content=rec["content"]))


def _emit_messages(messages: list[dict]) -> None:
    if not messages:
        return
    frame = pd.DataFrame(messages)
    key = (frame["group"].astype(str) + "|" + frame["member"].astype(str) + "|"
           + frame["sent_at"].astype(str) + "|" + frame["source_type"] + "|" + frame["content"].fillna(""))
    frame["source_msg_id"] = occurrence_ids(key, within=frame["sink"].map(id))
    # quote-replies: the quoted message is found by (group, sender, CreateTime in seconds)
    seconds = frame["sent_at"].map(lambda t: int(t.timestamp()))
    lookup = {}
    for g, m, s, mid in zip(frame["group"], frame["member"], seconds, frame["source_msg_id"]):
        lookup.setdefault((g, m, s), mid)
    reply = [lookup.get((g, qs, int(qt) // 1000 if qt and qt >= 1e11 else qt)) if qs and qt else None
             for g, qs, qt in zip(frame["group"], frame["quoted_sender"], frame["quoted_time"])]
    frame["reply_to_source"] = reply
    # a quote whose target is not in the export keeps a marker so the note counts it
    marker = frame["quoted_sender"].notna() & frame["reply_to_source"].isna() & frame["quoted_time"].notna()
    frame.loc[marker, "reply_to_source"] = "missing:" + frame.loc[marker, "source_msg_id"]
    for rec in frame.to_dict("records"):
        text = rec["text"] if isinstance(rec["text"], str) else None
        rec["sink"].message(rec["row"], group=rec["group"], member=rec["member"], sent_at=rec["sent_at"],
                     msg_type=rec["msg_type"], source_type=rec["source_type"], source_msg_id=rec["source_msg_id"],
                     reply_to_source=rec["reply_to_source"] if isinstance(rec["reply_to_source"], str) else None,
                     text=text, text_len=len(text) if text else 0, n_mentions=count_mentions(text),
                     name=rec["name"] if isinstance(rec["name"], str) else None)


def _names(text: str) -> list[str]:
    return [n.strip("\"“”' ") for n in _SPLIT.split(text) if n.strip("\"“”' ")]


def _system_row(sink: RowSink, rec: dict, name_map: dict, self_id: str | None, messages: list, code: str,
                partial: list) -> None:
    """Joins/leaves -> events; recalls, pats, renames -> system messages; else reject."""
    row, group, ts = rec["row"], rec["group"], rec["ts"]
    text, actor_id = _system_text(rec["content"], name_map)
    text = (text or "").strip()

    def targets_event(names: list[str], kind: str, how: str, actor: str | None = None) -> None:
        ids, unresolved = resolve_names(names, name_map, self_id)
        if not ids:
            sink.reject(row, RejectReason.UNRESOLVED_NAME, group=group, sent_at=ts, text=rec["content"],
                        detail=f"{how}: {len(unresolved)} name(s)")
            return
        partial[0] += len(unresolved)
        for member in ids:
            sink.event(row, group, member, ts, kind, how)
        if actor is not None:  # the inviter / remover was in the group at that time
            actor_ids, _ = resolve_names([actor], name_map, self_id)
            for member in actor_ids:
                if member not in ids:
                    sink.event(row, group, member, ts, "seen", "actor")

    def system_message(actor: str | None, what: str) -> None:
        if actor is None:
            sink.reject(row, RejectReason.UNRESOLVED_NAME, group=group, sent_at=ts, text=rec["content"],
                        detail=what)
            return
        messages.append(dict(sink=sink, row=row, group=group, member=actor, sent_at=ts, msg_type="system",
                             source_type=f"{code}:{what}", text=text or None, name=None, quoted_sender=None,
                             quoted_time=None, content=rec["content"]))

    def one(name: str) -> str | None:
        ids, _ = resolve_names([name.strip("\"“”' ")], name_map, self_id)
        return ids[0] if ids else None

    if actor_id:  # XML pat with wxids
        system_message(actor_id, "pat")
        return
    if m := _JOIN_QR.match(text):
        targets_event(_names(m.group(1)), "join", "qr_code", actor=m.group(2))
    elif m := _JOIN_INVITE.match(text):
        targets_event(_names(m.group(2)), "join", "invite", actor=m.group(1))
    elif m := _REMOVE.match(text):
        targets_event(_names(m.group(2)), "leave", "removed", actor=m.group(1))
    elif m := _LEAVE.match(text):
        targets_event(_names(m.group(1)), "leave", "left")
    elif m := _JOIN_SELF.match(text):
        targets_event(_names(m.group(1)), "join", "joined")
    elif m := _RECALL.match(text):
        system_message(one(m.group(1)), "recall")
    elif m := _PAT.match(text):
        system_message(one(m.group(1)), "pat")
    elif m := _RENAME.match(text):
        system_message(one(m.group(1)), "rename")
    elif rec["sender"]:
        system_message(rec["sender"], "system")
    else:
        sink.reject(row, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, text=rec["content"],
                    detail=f"type {code}")

