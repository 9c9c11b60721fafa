"""Parsed rows of the importers: what every format module produces, and the fixed reasons.

Every format module turns its input files into a :class:`Parsed` bundle of *source-level* rows
(source ids, raw text), collected per input file by a :class:`RowSink`. Rejection and skip reasons
form a fixed, documented list (:class:`RejectReason`, :class:`SkipReason`; see ``docs/importing.md``):
every input row is accounted for, ``read = imported + rejected + skipped``.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from groupstats.data.importers.common import to_tz

MESSAGE_COLUMNS = ["source_file", "source_row", "group", "member", "sent_at", "msg_type", "source_type",
                   "source_msg_id", "reply_to_source", "text", "text_len", "n_mentions", "name"]
EVENT_COLUMNS = ["source_file", "source_row", "group", "member", "time", "kind", "how", "name"]
REJECT_COLUMNS = ["source_file", "source_row", "reason", "group", "member", "sent_at", "detail", "text"]
SKIP_COLUMNS = ["source_file", "source_row", "reason"]


class RejectReason(enum.Enum):
    """Why an input row did not become a message or a membership change.

    The value is the code written to ``rejected.csv``; :attr:`description`
    says what it means and what to do. The list is fixed: every rejection
    uses one of these, there is no catch-all.
    """

    MALFORMED_ROW = ("malformed_row", "the row cannot be parsed in this format (broken JSON or CSV "
                                      "line, a line before the first message header, wrong field "
                                      "types); check that the file is the format you named")
    MISSING_TIMESTAMP = ("missing_timestamp", "no time, or a time that cannot be read or is out of "
                                              "range (1990-2100)")
    MISSING_SENDER = ("missing_sender", "the row names no sender id (e.g. an empty Sender/from field)")
    MISSING_GROUP = ("missing_group", "the row names no group (generic CSV without a group column value)")
    UNRESOLVED_NAME = ("unresolved_name", "a system row names members by display name only and the "
                                          "name matches no sender id in the export; add such members "
                                          "with --roster")
    SYSTEM_WITHOUT_MEMBER = ("system_without_member", "a system row that concerns no identifiable "
                                                      "member (e.g. an encryption notice or a time "
                                                      "divider); nothing to attribute it to")
    INVALID_VALUE = ("invalid_value", "a field holds a value of the wrong kind (e.g. a non-numeric "
                                      "WeChat type code, an unknown change in a member-change file)")

    def __init__(self, code: str, description: str):
        self.code = code
        self.description = description


class SkipReason(enum.Enum):
    """Rows deliberately left out (counted, not listed in ``rejected.csv``)."""

    ONE_TO_ONE_CHAT = ("one_to_one_chat", "a one-to-one chat (no group), e.g. in a WeCom archive")
    NOT_A_GROUP = ("not_a_group", "a chat that is not a group (Telegram personal chats, channels, bots)")
    DUPLICATE = ("duplicate", "the same source message (or membership change) appears twice in the inputs")
    ALREADY_IMPORTED = ("already_imported", "already in the dataset in --out from an earlier import")
    NOT_A_MESSAGE = ("not_a_message", "an archive record that is not a message (WeCom 'switch' records)")
    EMPTY_LINE = ("empty_line", "a blank line between records (JSON lines)")

    def __init__(self, code: str, description: str):
        self.code = code
        self.description = description


def reasons_table() -> pd.DataFrame:
    """All rejection and skip reasons: columns kind, code, description."""
    rows = [("rejected", r.code, r.description) for r in RejectReason]
    rows += [("skipped", r.code, r.description) for r in SkipReason]
    return pd.DataFrame(rows, columns=["kind", "code", "description"])


# --------------------------------------------------------------------------------------
# parsed rows
# --------------------------------------------------------------------------------------
@dataclass
class Parsed:
    """Source-level rows parsed from one or more input files.

    Attributes
    ----------
    messages : DataFrame
        :data:`MESSAGE_COLUMNS`; ``group``/``member`` are source ids, ``sent_at``
        tz-aware, ``source_msg_id`` unique within a group.
    events : DataFrame
        :data:`EVENT_COLUMNS`; ``kind`` is ``join`` or ``leave``.
    rejected : DataFrame
        :data:`REJECT_COLUMNS`; ``reason`` holds :class:`RejectReason` codes.
    skipped : DataFrame
        source_file, source_row, reason (:class:`SkipReason` codes).
    read : dict
        Rows read per source file.
    groups : dict
        Source group id -> display name (may be empty).
    names : dict
        Display name -> source member id, learnt from the export (to resolve
        names in system rows).
    notes : list of str
        Things the analyst must know (no names, no text).
    roles : list of (group, member, role)
        Operators the export itself reveals (source ids), e.g. Telegram posts
        signed by the channel.
    """

    messages: pd.DataFrame = field(default_factory=lambda: empty_messages())
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVENT_COLUMNS))
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["source_file", "source_row", "reason"]))
    read: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    roles: list = field(default_factory=list)

    def extend(self, other: "Parsed") -> None:
        """Append another input's rows (several inputs merge into one import)."""
        self.messages = _concat([self.messages, other.messages], MESSAGE_COLUMNS)
        self.events = _concat([self.events, other.events], EVENT_COLUMNS)
        self.rejected = _concat([self.rejected, other.rejected], REJECT_COLUMNS)
        self.skipped = _concat([self.skipped, other.skipped], ["source_file", "source_row", "reason"])
        for key, value in other.read.items():
            self.read[key] = self.read.get(key, 0) + value
        for key, value in other.groups.items():
            if value or key not in self.groups:
                self.groups[key] = value
        for note in other.notes:
            if note not in self.notes:
                self.notes.append(note)
        self.roles = sorted(set(self.roles) | set(other.roles))


def empty_messages() -> pd.DataFrame:
    return pd.DataFrame(columns=MESSAGE_COLUMNS)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat([f.reindex(columns=columns) for f in frames], ignore_index=True)


#: Labels of the input files of the running import (path -> label), set by :func:`labelled_sources`.
_SOURCE_LABELS: dict[str, str] = {}


def source_label(path: str | os.PathLike) -> str:
    """How rows of ``path`` are labelled in ``rejected.csv`` and the counts: its file name, or, when two
    inputs of one import share a name (two iOS ``_chat.txt``), its parent folder and name."""
    return _SOURCE_LABELS.get(str(Path(path).resolve()), Path(path).name)


class labelled_sources:
    """Context manager: unique labels for the inputs of one import (see :func:`source_label`)."""

    def __init__(self, inputs):
        paths = [Path(p).resolve() for p in inputs]
        labels = {}
        for depth in range(1, 64):
            labels = {str(p): "/".join(p.parts[-depth:]) for p in paths}
            if len(set(labels.values())) == len(set(labels)):
                break
        self.labels = labels

    def __enter__(self):
        self.saved = dict(_SOURCE_LABELS)
        _SOURCE_LABELS.update(self.labels)
        return self

    def __exit__(self, *exc):
        _SOURCE_LABELS.clear()
        _SOURCE_LABELS.update(self.saved)
        return False


class RowSink:
    """Collects rows while a parser walks a file (one instance per input file)."""

    def __init__(self, source_file: str):
        self.source_file = source_file
        self.messages: list[dict] = []
        self.events: list[dict] = []
        self.rejected: list[dict] = []
        self.skipped: list[tuple] = []
        self._frames: dict[str, list[pd.DataFrame]] = {"messages": [], "events": [], "rejected": []}
        self.n_read = 0

    def message(self, row: int, **values) -> None:
        values.update(source_file=self.source_file, source_row=row)
        if values.get("msg_type") == "system":  # system rows carry no member text
            values.update(text_len=0, n_mentions=0)
        self.messages.append(values)

    def event(self, row: int, group, member, time, kind: str, how: str, name=None) -> None:
        self.events.append(dict(source_file=self.source_file, source_row=row, group=group, member=member,
                                time=time, kind=kind, how=how, name=name))

    def reject(self, row: int, reason: RejectReason, group=None, member=None, sent_at=None,
               detail: str | None = None, text: str | None = None) -> None:
        self.rejected.append(dict(source_file=self.source_file, source_row=row, reason=reason.code,
                                  group=group, member=member, sent_at=sent_at, detail=detail, text=text))

    def skip(self, row: int, reason: SkipReason) -> None:
        self.skipped.append((self.source_file, row, reason.code))

    def add_frame(self, kind: str, frame: pd.DataFrame) -> None:
        """Append many rows at once (vectorised parsers): ``kind`` is ``messages``, ``events`` or ``rejected``;
        ``frame`` has ``source_row`` and the other columns of that kind (``reason`` as codes). System messages
        carry no text length or mentions, as with :meth:`message`."""
        if not len(frame):
            return
        frame = frame.assign(source_file=self.source_file)
        if kind == "messages" and "msg_type" in frame:
            system = frame["msg_type"].eq("system")
            frame["text_len"] = frame["text_len"].where(~system, 0)
            frame["n_mentions"] = frame["n_mentions"].where(~system, 0)
        self._frames[kind].append(frame)

    def _table(self, kind: str, columns: list[str]) -> pd.DataFrame:
        """Rows added one by one, then those added as frames (a parser uses one way or the other)."""
        parts = [pd.DataFrame(getattr(self, kind)).reindex(columns=columns)] if getattr(self, kind) else []
        parts += [f.reindex(columns=columns) for f in self._frames[kind]]
        if not parts:
            return pd.DataFrame(columns=columns)
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def to_parsed(self, tz: str, groups: dict | None = None, notes: list | None = None) -> Parsed:
        messages = self._table("messages", MESSAGE_COLUMNS)
        if len(messages):
            messages["sent_at"] = to_tz(messages["sent_at"], tz)
            messages["text_len"] = pd.to_numeric(messages["text_len"]).fillna(0).astype("int64")
            messages["n_mentions"] = pd.to_numeric(messages["n_mentions"]).fillna(0).astype("int64")
        events = self._table("events", EVENT_COLUMNS)
        if len(events):
            events["time"] = to_tz(events["time"], tz)
        rejected = self._table("rejected", REJECT_COLUMNS)
        skipped = pd.DataFrame(self.skipped, columns=["source_file", "source_row", "reason"])
        return Parsed(messages=messages, events=events, rejected=rejected, skipped=skipped,
                      read={self.source_file: self.n_read}, groups=dict(groups or {}), notes=list(notes or []))


