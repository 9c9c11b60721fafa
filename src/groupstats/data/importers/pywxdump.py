"""PyWxDump CSV exports of WeChat chats (format ``pywxdump``).

Two layouts, from PyWxDump's own CSV writers (see ``tests/data/real/FORMATS.md``):

* current (v3.1.0, Aug 2024 on): ``id, MsgSvrID, type_name, is_sender, talker, room_name, msg, src,
  CreateTime``, UTF-8 without BOM, one file per 5000 messages;
* older (Dec 2023 - Jul 2024): ``[id,] MsgSvrID, type_name, is_sender, talker, room_name, content,
  CreateTime`` where ``content`` is a JSON object ``{"src": ..., "msg": ...}``; the very first version
  wrote rows without CSV quoting, so a comma inside ``content`` splits it (re-joined here).

``users.json`` next to the CSV (PyWxDump writes it: wxid -> nickname, remark) resolves the display names
that system rows use. ``room_name`` is the chat's id (``…@chatroom`` for a group, the contact's wxid for a one-to-one chat,
which is imported as a group of two with a note). ``talker`` is the sender's wxid; for the exporting
account's own messages (``is_sender`` 1) it is ``我``, the wxid given to the exporter, or empty: such
rows are all attributed to one member ``(self)``; ``系统`` marks system rows, ``未知`` an unreadable sender. ``CreateTime`` is a local
time string in one of :data:`~groupstats.data.importers.common.DECLARED_TIME_FORMATS` (a spreadsheet
that re-saved the file writes ``2024/10/4 11:42``). ``type_name`` values map through :data:`TYPES`;
others become ``other`` with a note listing them.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.data.importers.common import clean_str, declared_timestamps, read_text
from groupstats.data.importers.rows import Parsed

CURRENT = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"]
OLDER = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "content", "CreateTime"]
SELF_ID = "(self)"

#: PyWxDump ``type_name`` (both generations of its table) -> msg_type.
TYPES = {
    "文本": "text", "图片": "image", "语音": "voice", "视频": "video", "动画表情": "sticker",
    "用户上传的GIF表情": "sticker", "位置": "other", "地图信息": "other", "位置共享": "other", "文件": "file",
    "文件(猜)": "file", "粘贴的文本": "text", "类似文字消息而不一样的消息": "text", "(分享)音乐": "link",
    "(分享)卡片式链接": "link", "卡片式链接": "link", "游戏相关": "other", "合并转发的聊天记录": "other",
    "(分享)笔记": "other", "(分享)小程序": "mini_program", "分享的小程序": "mini_program",
    "(分享)收藏夹": "other", "分享收藏夹": "other", "(分享)小说(猜)": "link", "(分享)视频号名片": "link",
    "(分享)视频号视频": "link", "接龙": "text", "引用回复": "text", "带有引用的文本消息": "text",
    "视频号直播或直播回放": "link", "视频号直播或直播回放等": "link", "群公告": "text", "转账": "other",
    "转账消息": "other", "赠送红包封面": "other", "语音通话": "other", "添加好友": "other",
    "推荐公众号": "other", "企业微信打招呼(猜)": "other", "企业微信添加好友(猜)": "other",
    "系统通知": "system", "拍一拍": "system", "邀请加群": "system", "消息撤回1": "system",
    "消息撤回5": "system", "消息撤回6": "system", "消息撤回33": "system", "消息撤回36": "system",
    "消息撤回57": "system", "未知": "other",
}


def layout_of(header: list[str]) -> str | None:
    """``pywxdump`` (msg, src), ``pywxdump_content`` (content JSON) or ``None``."""
    names = {h.strip().lstrip("\ufeff") for h in header}
    core = {"MsgSvrID", "type_name", "is_sender", "talker", "room_name", "CreateTime"}
    if not core <= names:
        return None
    if {"msg", "src"} <= names:
        return "pywxdump"
    if "content" in names:
        return "pywxdump_content"
    return None


def _message_text(layout: str, fields: list[str], col: dict) -> str:
    if layout == "pywxdump":
        return fields[col["msg"]] or ""
    raw = fields[col["content"]] or ""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict):
        msg = value.get("msg")
        return msg if isinstance(msg, str) else ""
    return raw


def read_file(path: Path, tz: str):
    """(sink, records) of one PyWxDump CSV, in the record shape of :mod:`wechatmsg`."""
    from groupstats.data.importers.wechatmsg import (content_group_id, named_type_record, read_csv_rows,
                                                     well_formed_rows)

    sink, header, rows = read_csv_rows(path, "PyWxDump (CSV)")
    layout = layout_of(header)
    if layout is None:
        from groupstats.data.importers.detect import refusal_hint

        raise GroupstatsError(f"{path} is not a PyWxDump CSV export: its header is {', '.join(header[:9])}; "
                              f"expected {', '.join(CURRENT)} or {', '.join(OLDER)}."
                              f"{refusal_hint(path, 'pywxdump')}")
    col = {name: i for i, name in enumerate(header)}
    width = len(header)

    def rejoin_content(fields: list[str]) -> list[str]:
        """The first (2023) writer did not quote: a comma inside ``content`` split it."""
        if len(fields) > width and layout == "pywxdump_content":
            extra, i = len(fields) - width, col["content"]
            return fields[:i] + [",".join(fields[i:i + extra + 1])] + fields[i + extra + 1:]
        return fields

    good = well_formed_rows(sink, rows, width, repair=rejoin_content)
    times = declared_timestamps(pd.Series([f[col["CreateTime"]] for _, f in good], dtype="object"), tz)
    display = _user_names(path)
    records = []
    fallback = None
    for (row_no, fields), ts in zip(good, times):
        room = clean_str(fields[col["room_name"]])
        is_sender = clean_str(fields[col["is_sender"]]) == "1"
        talker = clean_str(fields[col["talker"]])
        type_name = clean_str(fields[col["type_name"]]) or ""
        msg_type = TYPES.get(type_name)
        if msg_type is None:
            msg_type = "system" if type_name.startswith("消息撤回") else "other"
        if is_sender:  # PyWxDump writes its my_wxid argument ("我" by default) or nothing here
            talker = SELF_ID
        if talker in ("未知",) or (talker == "系统" and msg_type != "system"):
            talker = None
        if msg_type == "system" and talker == "系统":
            talker = None
        content = _message_text(layout, fields, col)
        text = None
        if msg_type == "text":
            text = content.split("\n\n[引用]", 1)[0]
        if room is None and fallback is None:  # no chat id: the chat's content identifies it
            fallback = content_group_id("pywxdump", [(f[col["CreateTime"]], f[col["MsgSvrID"]], f[col["talker"]])
                                                     for _, f in good])
        records.append(named_type_record(
            sink, row_no, group=room or fallback, group_name=path.stem, sender=talker, is_sender=is_sender,
            content=content, names=display.get(talker, set()) if msg_type != "system" else set(),
            name=next(iter(sorted(display.get(talker, set()))), None), ts=ts, type_name=type_name,
            known_types=TYPES, msg_type=msg_type, text=text,
            one_to_one=bool(room) and not room.endswith("@chatroom")))
    return sink, records


def _user_names(path: Path) -> dict[str, set]:
    """wxid -> display names from the ``users.json`` PyWxDump writes next to its CSVs (if there): they let
    system rows that name members ("张三"邀请"李四"加入了群聊) be resolved."""
    users = path.parent / "users.json"
    if not users.exists():
        return {}
    try:
        data = json.loads(read_text(users))
    except (ValueError, GroupstatsError):
        return {}
    out: dict[str, set] = {}
    if isinstance(data, dict):
        for wxid, info in data.items():
            if isinstance(info, dict):
                names = {clean_str(info.get(k)) for k in ("nickname", "remark", "NickName", "Remark",
                                                           "roomNickname", "room_nickname")}
                out[str(wxid)] = names - {None}
    return out


def parse_files(paths: list[str | Path], tz: str) -> Parsed:
    """Parse PyWxDump CSV files (several files of one chat, e.g. its 5000-message pages, merge)."""
    from groupstats.data.importers.wechatmsg import parse_files as parse_wechat

    return parse_wechat(paths, tz, reader=read_file, label="PyWxDump")
