"""Telegram Desktop JSON exports (``result.json``).

One chat ``{name, type, id, messages}``, or a full export with the chats under
``chats.list`` (and ``left_chats.list``). Only groups are imported (types
``private_group``, ``private_supergroup``, ``public_supergroup``); the messages
of other chats are counted as skipped. Messages have ``id``, ``type``
(``message``/``service``), ``date_unixtime``, ``from``, ``from_id``,
``reply_to_message_id``, ``media_type``, ``text`` (a string or a list of parts);
service messages have ``actor``, ``actor_id`` and an ``action`` such as
``invite_members``, ``remove_members``, ``join_group_by_link``,
``join_group_by_request`` or ``create_group``.
"""
from __future__ import annotations

import json
from pathlib import Path

from groupstats.errors import GroupstatsError
from groupstats.data.importers.common import (clean_str, epoch_to_timestamp, local_to_timestamp, read_text,
                                              resolve_names)
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, SkipReason, source_label

GROUP_TYPES = ("private_group", "private_supergroup", "public_supergroup")
MEDIA_MAP = {"sticker": "sticker", "animation": "sticker", "voice_message": "voice", "audio_file": "voice",
             "video_message": "video", "video_file": "video"}


def _text(value) -> tuple[str, int]:
    """Joined text and number of mentions from a string or a list of parts."""
    if isinstance(value, str):
        return value, 0
    if not isinstance(value, list):
        return "", 0
    parts, mentions = [], 0
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            parts.append(text if isinstance(text, str) else "")
            if part.get("type") in ("mention", "mention_name"):
                mentions += 1
    return "".join(parts), mentions


def _id(value) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return clean_str(value)
    return None


def _chats(data, path: Path) -> list:
    if not isinstance(data, dict):
        from groupstats.data.importers.detect import refusal_hint

        raise GroupstatsError(f"{path.name} is not a Telegram Desktop export (expected an object with 'messages' "
                              f"or 'chats'); export with Telegram Desktop > Settings > Advanced > Export "
                              f"Telegram data, format JSON.{refusal_hint(path, 'telegram')}")
    if isinstance(data.get("messages"), list):
        return [data]
    chats = []
    for key in ("chats", "left_chats"):
        block = data.get(key)
        if isinstance(block, dict) and isinstance(block.get("list"), list):
            chats += block["list"]
    if not chats and "chats" not in data:
        raise GroupstatsError("This JSON is not a Telegram Desktop export: it has neither 'messages' nor "
                              "'chats.list'.")
    return chats


def parse(path: str | Path, tz: str) -> Parsed:
    """Parse one ``result.json`` (single chat or full export)."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except ValueError as exc:
        raise GroupstatsError(f"{path} is not valid JSON ({exc}); is it Telegram's result.json?") from exc
    sink = RowSink(source_label(path))
    groups: dict[str, str] = {}
    roles: list[tuple] = []
    notes: list[str] = []
    row = 0
    unresolved_total = 0
    single = isinstance(data, dict) and isinstance(data.get("messages"), list)
    for chat in _chats(data, path):
        messages = chat.get("messages") if isinstance(chat, dict) else None
        if not isinstance(messages, list):
            row += 1
            sink.n_read += 1
            sink.reject(row, RejectReason.MALFORMED_ROW, detail="chat without a message list")
            continue
        is_group = chat.get("type") in GROUP_TYPES
        if single and chat.get("type") in (None, "personal_chat") and messages:
            # a one-to-one chat exported on its own: the analyst chose it, so it is a group of two
            is_group = True
            notes.append(f"{sink.source_file} is a one-to-one chat, exported on its own: imported as a group "
                         f"of its two members.")
        group = _id(chat.get("id"))
        if is_group and group is None:
            group = "telegram:" + (clean_str(chat.get("name")) or path.stem)
        if is_group:
            groups[group] = clean_str(chat.get("name")) or ""
        names: dict[str, str] = {}
        for msg in messages:
            if isinstance(msg, dict):
                for name_key, id_key in (("from", "from_id"), ("actor", "actor_id")):
                    name, mid = msg.get(name_key), _id(msg.get(id_key))
                    if isinstance(name, str) and name and mid:
                        names.setdefault(name, mid)
        for msg in messages:
            row += 1
            sink.n_read += 1
            if not is_group:
                sink.skip(row, SkipReason.NOT_A_GROUP)
                continue
            if not isinstance(msg, dict):
                sink.reject(row, RejectReason.MALFORMED_ROW, group=group, detail="message is not an object")
                continue
            kind = msg.get("type")
            ts = epoch_to_timestamp(msg.get("date_unixtime")) if msg.get("date_unixtime") is not None else None
            if ts is None and isinstance(msg.get("date"), str):
                ts = local_to_timestamp(msg["date"], tz)
            msg_id = _id(msg.get("id"))
            detail = f"message id {msg_id}" if msg_id else None
            if kind not in ("message", "service"):
                sink.reject(row, RejectReason.INVALID_VALUE, group=group, sent_at=ts,
                            detail="type is neither message nor service")
                continue
            if ts is None:
                sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, detail=detail)
                continue
            if msg_id is None:
                sink.reject(row, RejectReason.INVALID_VALUE, group=group, sent_at=ts, detail="message without id")
                continue
            if kind == "service":
                unresolved_total += _service(sink, row, group, ts, msg, msg_id, names)
                continue
            sender = _id(msg.get("from_id"))
            text, mentions = _text(msg.get("text"))
            if sender is not None and sender.startswith("channel"):
                roles.append((group, sender, "admin"))  # posted as the channel/group itself: an operator
            if sender is None:
                sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, detail=detail, text=text)
                continue
            media = msg.get("media_type")
            if "photo" in msg:
                msg_type = "image"
            elif isinstance(media, str):
                msg_type = MEDIA_MAP.get(media, "file")
            elif "file" in msg:
                msg_type = "file"
            elif any(k in msg for k in ("poll", "location_information", "contact_information", "game_title",
                                        "invoice_information", "place_name")):
                msg_type = "other"
            else:
                msg_type = "text"
            reply = _id(msg.get("reply_to_message_id"))
            text_value = text if msg_type == "text" else (text or None)
            sink.message(row, group=group, member=sender, sent_at=ts, msg_type=msg_type,
                         source_type=f"message:{media or ('photo' if msg_type == 'image' else msg_type)}",
                         source_msg_id=msg_id, reply_to_source=reply, text=text_value,
                         text_len=len(text), n_mentions=mentions,
                         name=msg.get("from") if isinstance(msg.get("from"), str) else None)
    if unresolved_total:
        notes.append(f"{unresolved_total} member name(s) in Telegram service messages matched no sender id "
                     f"and were left out of members; add them with --roster.")
    if roles:
        notes.append(f"{sink.source_file}: posts signed by a channel (from_id channel...) are operator "
                     f"messages (role admin).")
    parsed = sink.to_parsed(tz, groups=groups, notes=notes)
    parsed.roles = sorted(set(roles))
    return parsed


def _service(sink: RowSink, row: int, group: str, ts, msg: dict, msg_id: str, names: dict) -> int:
    """Joins/removals -> events; other actions -> system messages; returns unresolved names."""
    action = msg.get("action") if isinstance(msg.get("action"), str) else "unknown"
    actor = _id(msg.get("actor_id"))
    members = msg.get("members") if isinstance(msg.get("members"), list) else []
    member_names = [m for m in members if isinstance(m, str) and m]
    if action in ("join_group_by_link", "join_group_by_request"):
        if actor is None:
            sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, detail=action)
            return 0
        sink.event(row, group, actor, ts, "join", "link" if action.endswith("link") else "request",
                   name=msg.get("actor") if isinstance(msg.get("actor"), str) else None)
        return 0
    if action == "create_group" and not member_names and actor:  # no member list: the creator is known
        sink.event(row, group, actor, ts, "join", "created",
                   name=msg.get("actor") if isinstance(msg.get("actor"), str) else None)
        return 0
    if action in ("invite_members", "remove_members", "create_group"):
        ids, unresolved = resolve_names(member_names, names)
        if action == "remove_members" and not ids and not unresolved and actor:
            ids = [actor]
        if not ids:
            sink.reject(row, RejectReason.UNRESOLVED_NAME, group=group, sent_at=ts, member=actor,
                        detail=f"{action}: {len(unresolved)} name(s)")
            return 0
        if action == "remove_members":
            how = "left" if ids == [actor] else "removed"
            for member in ids:
                sink.event(row, group, member, ts, "leave", how)
        else:
            how = "invite" if action == "invite_members" else "created"
            for member in ids:
                sink.event(row, group, member, ts, "join", how)
        if actor and actor not in ids:
            sink.event(row, group, actor, ts, "join" if action == "create_group" else "seen",
                       "created" if action == "create_group" else "actor")
        return len(unresolved)
    if actor is None:
        sink.reject(row, RejectReason.SYSTEM_WITHOUT_MEMBER, group=group, sent_at=ts, detail=action)
        return 0
    sink.message(row, group=group, member=actor, sent_at=ts, msg_type="system", source_type=f"service:{action}",
                 source_msg_id=msg_id, reply_to_source=None, text=None, text_len=0, n_mentions=0, name=None)
    return 0
