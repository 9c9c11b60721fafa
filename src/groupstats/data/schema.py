"""The canonical data model: tables, columns, keys and closed categories.

A dataset is a folder with one file per table (``messages.parquet`` or
``messages.csv`` ...). ``messages`` and ``members`` are required; the others are
needed only by the analyses that use them. This module only *describes* the
tables; :mod:`groupstats.data.dataset` reads, coerces and validates them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Closed set of message types.
MSG_TYPES = ("text", "image", "voice", "video", "link", "file", "sticker",
             "red_packet", "mini_program", "system", "other")
#: Closed set of member roles; owners and admins are the group's *operators*.
ROLES = ("owner", "admin", "member")
OPERATOR_ROLES = ("owner", "admin")
#: Event types groupstats knows about (the set is open: others are kept).
KNOWN_EVENT_TYPES = ("read", "click", "reaction", "sign_in", "complaint", "share", "task")

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class TableSpec:
    """Description of one table of the data model.

    Attributes
    ----------
    name : str
        Table name, also the file stem (``name.parquet`` / ``name.csv``).
    required : tuple of str
        Columns that must be present (bold in the README's data model).
    ids, timestamps, ints, categories : column groups by kind; ``categories``
        maps a column to its closed set of values.
    key : tuple of str
        Columns that identify a row uniquely.
    defaults : dict
        Values filled in where an optional column is absent or empty.
    """

    name: str
    required: tuple[str, ...]
    key: tuple[str, ...]
    ids: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: dict[str, object] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        seen: list[str] = []
        for col in (*self.required, *self.ids, *self.strings, *self.timestamps,
                    *self.ints, *self.categories):
            if col not in seen:
                seen.append(col)
        return tuple(seen)


TABLES: dict[str, TableSpec] = {
    "groups": TableSpec(
        name="groups", required=("group_id",), key=("group_id",),
        ids=("group_id",), strings=("name", "group_type"), timestamps=("created_at",)),
    "members": TableSpec(
        name="members", required=("group_id", "member_id", "joined_at"),
        key=("group_id", "member_id", "joined_at"),
        ids=("group_id", "member_id"), timestamps=("joined_at", "left_at"),
        categories={"role": ROLES}, defaults={"role": "member"}),
    "messages": TableSpec(
        name="messages", required=("message_id", "group_id", "member_id", "sent_at"),
        key=("message_id",), ids=("message_id", "group_id", "member_id", "reply_to"),
        timestamps=("sent_at",), ints=("n_mentions", "text_len"),
        categories={"msg_type": MSG_TYPES}, defaults={"msg_type": "text"}),
    "posts": TableSpec(
        name="posts", required=("post_id", "group_id", "posted_at", "content_type"),
        key=("post_id",), ids=("post_id", "group_id", "member_id", "message_id"),
        strings=("content_type",), timestamps=("posted_at",)),
    "events": TableSpec(
        name="events", required=("group_id", "member_id", "occurred_at", "event_type"),
        key=(), ids=("group_id", "member_id", "post_id"), strings=("event_type",),
        timestamps=("occurred_at",)),
    "assignments": TableSpec(
        name="assignments", required=("experiment_id", "group_id", "arm", "start_at", "end_at"),
        key=("experiment_id", "group_id", "start_at"),
        ids=("experiment_id", "group_id"), strings=("arm",), timestamps=("start_at", "end_at")),
}

REQUIRED_TABLES = ("messages", "members")
TABLE_NAMES = tuple(TABLES)
