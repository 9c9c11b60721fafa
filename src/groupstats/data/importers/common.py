"""Shared machinery of the importers: parsed rows, reasons, pseudonyms, assembly.

Every format module turns its input files into a :class:`Parsed` bundle of
*source-level* rows (source ids, raw text) and nothing else. This module then

* pseudonymises ids with a salted keyed hash (HMAC-SHA256, truncated to
  :data:`HASH_CHARS` hex characters) and drops names and text unless asked,
* merges several inputs (and an earlier import in the output folder),
  dropping duplicate messages by their source message id,
* turns joins, leaves and removals (plus roster rows and first appearances)
  into ``members`` rows,
* marks operators and matches a posts plan to operator messages,
* accounts for every input row: ``read = imported + rejected + skipped``.

Rejection and skip reasons form a fixed, documented list
(:class:`RejectReason`, :class:`SkipReason`; see ``docs/importing.md``).
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import DataValidationError, GroupstatsError, ParameterError, Problem
from groupstats.data.schema import DEFAULT_TZ, MSG_TYPES
from groupstats.data.schema import OPERATOR_ROLES

#: Hex characters kept from the HMAC-SHA256 digest (64 bits: collisions are negligible).
HASH_CHARS = 16
#: Version of the importer output layout (stored in dataset.json).
IMPORTER_VERSION = 1
#: Default tolerance when matching a posts plan to operator messages.
DEFAULT_POST_TOLERANCE = pd.Timedelta(minutes=30)
REJECTED_FILE = "rejected.csv"
UNMATCHED_PLAN_FILE = "posts_plan_unmatched.csv"

MESSAGE_COLUMNS = ["source_file", "source_row", "group", "member", "sent_at", "msg_type", "source_type",
                   "source_msg_id", "reply_to_source", "text", "text_len", "n_mentions", "name"]
EVENT_COLUMNS = ["source_file", "source_row", "group", "member", "time", "kind", "how", "name"]
REJECT_COLUMNS = ["source_file", "source_row", "reason", "group", "member", "sent_at", "detail", "text"]


class SaltCreatedWarning(UserWarning):
    """A new salt file was created: keep it safe, the pseudonyms depend on it."""


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

    def to_parsed(self, tz: str, groups: dict | None = None, notes: list | None = None) -> Parsed:
        messages = pd.DataFrame(self.messages).reindex(columns=MESSAGE_COLUMNS)
        if len(messages):
            messages["sent_at"] = to_tz(messages["sent_at"], tz)
            messages["text_len"] = pd.to_numeric(messages["text_len"]).fillna(0).astype("int64")
            messages["n_mentions"] = pd.to_numeric(messages["n_mentions"]).fillna(0).astype("int64")
        events = pd.DataFrame(self.events).reindex(columns=EVENT_COLUMNS)
        if len(events):
            events["time"] = to_tz(events["time"], tz)
        rejected = pd.DataFrame(self.rejected).reindex(columns=REJECT_COLUMNS)
        skipped = pd.DataFrame(self.skipped, columns=["source_file", "source_row", "reason"])
        return Parsed(messages=messages, events=events, rejected=rejected, skipped=skipped,
                      read={self.source_file: self.n_read}, groups=dict(groups or {}), notes=list(notes or []))


# --------------------------------------------------------------------------------------
# small parsing helpers shared by the formats
# --------------------------------------------------------------------------------------
_MIN_TS = pd.Timestamp("1990-01-01", tz="UTC")
_MAX_TS = pd.Timestamp("2100-01-01", tz="UTC")
#: WeChat ends a mention with U+2005 (four-per-em space); elsewhere ``@name`` follows white space.
_MENTION = re.compile(r"@[^@\s\u2005]+\u2005|(?<![^\s])@[^@\s\u2005]+(?![^@\s\u2005]|\u2005)")


def epoch_to_timestamp(value) -> pd.Timestamp | None:
    """Unix time in seconds or milliseconds (decided by magnitude) -> UTC Timestamp, or None."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if not np.isfinite(number):
        return None
    unit = "ms" if abs(number) >= 1e11 else "s"  # 1e11 seconds would be the year 5138
    try:
        ts = pd.Timestamp(int(number) if number == int(number) else number, unit=unit, tz="UTC")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return None
    return ts if _MIN_TS <= ts < _MAX_TS else None


def local_to_timestamp(value, tz: str, dayfirst: bool = False) -> pd.Timestamp | None:
    """A local date-time string (or aware one) -> Timestamp in UTC, or None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        ts = pd.Timestamp(text) if not dayfirst else pd.to_datetime(text, dayfirst=True)
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None
    if pd.isna(ts):
        return None
    try:
        ts = ts.tz_localize(tz, ambiguous="NaT", nonexistent="NaT") if ts.tzinfo is None else ts
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    ts = ts.tz_convert("UTC")
    return ts if _MIN_TS <= ts < _MAX_TS else None


#: Local date-time forms the WeChat CSV exporters write, each declared (never guessed): the exporters'
#: own ``%Y-%m-%d %H:%M:%S`` and the form a spreadsheet gives when it re-saves their CSV
#: (``2024/10/4 11:42``). All are year first, so day and month cannot be swapped.
DECLARED_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


def declared_timestamps(values: pd.Series, tz: str, formats=DECLARED_TIME_FORMATS) -> pd.Series:
    """Local date-time strings in one of ``formats`` (or epoch seconds/ms) -> UTC Timestamps, None where
    no format fits. Vectorised: one parse per format."""
    text = values.astype("object").map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                       else str(v).strip())
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = out.isna() & text.notna()
        if not todo.any():
            break
        out.loc[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    local = out.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    utc = local.dt.tz_convert("UTC")
    result = pd.Series(list(utc), index=values.index, dtype="object")
    epoch = out.isna() & text.fillna("").str.fullmatch(r"\d{9,13}")
    if epoch.any():
        result.loc[epoch] = text[epoch].map(epoch_to_timestamp)
    in_range = result.map(lambda t: t is not None and not pd.isna(t) and _MIN_TS <= t < _MAX_TS)
    return result.where(in_range, None)


def any_timestamp(value, tz: str) -> pd.Timestamp | None:
    """Epoch seconds/milliseconds or a local date-time string -> UTC Timestamp, or None."""
    if isinstance(value, pd.Timestamp):
        ts = value.tz_localize(tz) if value.tzinfo is None else value
        ts = ts.tz_convert("UTC")
        return ts if _MIN_TS <= ts < _MAX_TS else None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return epoch_to_timestamp(value)
    text = "" if value is None else str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return epoch_to_timestamp(text)
    return local_to_timestamp(text, tz)


#: Encodings tried, in order, by :func:`decode_bytes` (named in its error message).
ENCODINGS_TRIED = ("UTF-8 (with or without BOM)", "UTF-16 (with BOM, or LE/BE without)", "GB18030 (includes GBK)")


def decode_bytes(raw: bytes, name: str) -> str:
    """Decode an export: UTF-8 (BOM optional), UTF-16 (BOM, or detected by its NUL bytes), GB18030/GBK.

    Excel in China saves CSV as GBK (a subset of GB18030); Windows tools write
    UTF-16. Anything else stops with a message that names the encodings tried
    (a :class:`GroupstatsError`: exit 2), instead of a bare codec error.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        head = raw[:4096]
        candidates = ["utf-8"]
        if head and head.count(b"\x00") > len(head) // 4:  # UTF-16 text without a BOM: every other byte NUL
            candidates = ["utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"] + candidates
        candidates.append("gb18030")
    for encoding in candidates:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    where = ""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f" (first undecodable byte at offset {exc.start})"
    raise GroupstatsError(f"{name}: cannot read the text encoding{where}; tried {', '.join(ENCODINGS_TRIED)}. "
                          f"Save the file as UTF-8 (e.g. Excel: Save As > CSV UTF-8) and import it again.")


def read_text(path: str | os.PathLike) -> str:
    """The text of a file in any of :data:`ENCODINGS_TRIED` (BOM removed)."""
    path = Path(path)
    return decode_bytes(path.read_bytes(), path.name).removeprefix("\ufeff")


def to_tz(values: pd.Series, tz: str) -> pd.Series:
    """A column of UTC Timestamps / None -> ``datetime64[us, tz]``."""
    out = pd.to_datetime(values, utc=True)
    return out.dt.tz_convert(tz).dt.as_unit("us")


def count_mentions(text: str | None) -> int:
    """Number of ``@name`` mentions (an @ at the start or after white space)."""
    if not text:
        return 0
    return len(_MENTION.findall(text))


def clean_str(value) -> str | None:
    """Strip a cell; empty, NaN and None become None."""
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def occurrence_ids(keys: pd.Series, within: pd.Series | None = None) -> pd.Series:
    """Stable ids for rows without a source id: the key plus its occurrence number.

    Two identical messages (same group, sender, time and content) in one
    export get ``key#0`` and ``key#1``; the same messages in an overlapping
    export get the same ids, so they are recognised as duplicates. Occurrences
    are counted ``within`` each value of that series (the source file).
    """
    by = [keys] if within is None else [within, keys]
    order = keys.groupby(by, sort=False).cumcount()
    digests = keys.map(lambda k: hashlib.sha256(k.encode("utf-8")).hexdigest()[:24])
    return digests + "#" + order.astype(str)


# --------------------------------------------------------------------------------------
# pseudonyms
# --------------------------------------------------------------------------------------
def default_salt_file() -> Path:
    """``$GROUPSTATS_SALT_FILE`` or ``~/.config/groupstats/import-salt.key``."""
    env = os.environ.get("GROUPSTATS_SALT_FILE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "groupstats" / "import-salt.key"


class Pseudonymiser:
    """Salted keyed hash of source ids: ``HMAC-SHA256(salt, kind + ':' + id)`` truncated.

    The same salt file gives the same pseudonym to the same source id in
    every import; another salt gives unrelated pseudonyms. The salt file is
    created (32 random bytes, hex, permissions 0600) on first use, with a
    :class:`SaltCreatedWarning`.
    """

    PREFIX = {"member": "u_", "group": "g_", "message": "msg_", "post": "p_"}

    def __init__(self, salt_file: str | os.PathLike | None = None):
        path = Path(salt_file).expanduser() if salt_file else default_salt_file()
        self.salt_file = path
        self.created = False
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            if len(text) < 32:
                raise ParameterError(f"Salt file {path} holds too short a salt (fewer than 32 characters); "
                                     f"point --salt-file at the salt of your earlier imports, or at a new "
                                     f"file to create a fresh salt.")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = secrets.token_hex(32)
            path.write_text(text + "\n", encoding="utf-8")
            try:
                os.chmod(path, 0o600)
            except OSError:  # pragma: no cover - e.g. Windows
                pass
            self.created = True
            warnings.warn(f"Created a new salt file {path}. Keep it safe and private: the same salt gives the "
                          f"same pseudonyms in later imports, and anyone holding it can test guesses of ids.",
                          SaltCreatedWarning, stacklevel=2)
        self._key = text.encode("utf-8")
        self._cache: dict[tuple[str, str], str] = {}

    @property
    def fingerprint(self) -> str:
        """A short hash identifying the salt (stored in dataset.json; reveals nothing)."""
        return hmac.new(self._key, b"groupstats-salt-fingerprint", hashlib.sha256).hexdigest()[:12]

    def one(self, kind: str, value: str) -> str:
        key = (kind, value)
        out = self._cache.get(key)
        if out is None:
            digest = hmac.new(self._key, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()
            out = self.PREFIX[kind] + digest[:HASH_CHARS]
            self._cache[key] = out
        return out

    def series(self, kind: str, values: pd.Series) -> pd.Series:
        """Hash a column (missing values stay missing); hashes each distinct value once."""
        values = values.astype("object")
        present = values.notna()
        uniques = pd.unique(values[present])
        mapping = {v: self.one(kind, str(v)) for v in uniques}
        out = values.map(mapping)
        return out.where(present, None).astype("str")


# --------------------------------------------------------------------------------------
# side files: roster, operators, posts plan, generic tables
# --------------------------------------------------------------------------------------
def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """Read a small CSV or Excel file as strings (for rosters, plans, operators)."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"The {what} file {path} does not exist.")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            frame = pd.read_excel(path, dtype=str)
        else:
            frame = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False, na_values=[""],
                                sep=None, engine="python")
    except GroupstatsError:
        raise
    except Exception as exc:  # noqa: BLE001 - turn any reader failure into a clear message
        raise DataValidationError([Problem(str(path), None, f"cannot be read as the {what}: {exc}")]) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _pick(frame: pd.DataFrame, names: tuple[str, ...], file: str, what: str, required: bool = True):
    for name in names:
        if name in frame.columns:
            return name
    if required:
        raise DataValidationError([Problem(file, names[0], f"the {what} needs a column named "
                                                           f"{' or '.join(names)}; it has: "
                                                           f"{', '.join(frame.columns)}")])
    return None


def read_roster(path, tz: str) -> pd.DataFrame:
    """Roster: group, member, joined_at, optional left_at, role, name (source ids).

    Returns columns group, member, joined_at, left_at (UTC Timestamps or None),
    role, name, source_row.
    """
    frame = read_table(path, "roster")
    file = str(path)
    gcol = _pick(frame, ("group", "group_id"), file, "roster")
    mcol = _pick(frame, ("member", "member_id"), file, "roster")
    jcol = _pick(frame, ("joined_at", "joined"), file, "roster")
    lcol = _pick(frame, ("left_at", "left"), file, "roster", required=False)
    rcol = _pick(frame, ("role",), file, "roster", required=False)
    ncol = _pick(frame, ("name", "nickname", "display_name"), file, "roster", required=False)
    out = pd.DataFrame({
        "group": frame[gcol].map(clean_str), "member": frame[mcol].map(clean_str),
        "joined_at": frame[jcol].map(lambda v: any_timestamp(v, tz)),
        "left_at": frame[lcol].map(lambda v: any_timestamp(v, tz)) if lcol else None,
        "role": frame[rcol].map(clean_str).str.lower() if rcol else None,
        "name": frame[ncol].map(clean_str) if ncol else None,
        "source_row": np.arange(1, len(frame) + 1)})
    problems = []
    bad = out["group"].isna() | out["member"].isna()
    if bad.any():
        problems.append(Problem(file, "group, member", "empty group or member", np.flatnonzero(bad) + 1))
    bad = out["joined_at"].isna()
    if bad.any():
        problems.append(Problem(file, jcol, "missing or unreadable joined_at", np.flatnonzero(bad) + 1))
    if lcol:
        bad = frame[lcol].map(clean_str).notna() & out["left_at"].isna()
        if bad.any():
            problems.append(Problem(file, lcol, "unreadable left_at", np.flatnonzero(bad) + 1))
    if rcol:
        bad = out["role"].notna() & ~out["role"].isin(["owner", "admin", "member"])
        if bad.any():
            problems.append(Problem(file, rcol, "role must be owner, admin or member", np.flatnonzero(bad) + 1))
    if problems:
        raise DataValidationError(problems, header=f"The roster {file} has problems:")
    return out


def read_operators(path) -> pd.DataFrame:
    """Operators: a CSV with ``member`` (and optional ``group``) or one source id per line."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"The operators file {path} does not exist.")
    first = read_text(path).splitlines()[:1]
    header = first[0].strip().lower() if first else ""
    if path.suffix.lower() in (".xlsx", ".xls") or re.search(r"\b(member|member_id)\b", header):
        frame = read_table(path, "operators list")
        mcol = _pick(frame, ("member", "member_id"), str(path), "operators list")
        gcol = _pick(frame, ("group", "group_id"), str(path), "operators list", required=False)
        rcol = _pick(frame, ("role",), str(path), "operators list", required=False)
        out = pd.DataFrame({"member": frame[mcol].map(clean_str),
                            "group": frame[gcol].map(clean_str) if gcol else None,
                            "role": frame[rcol].map(clean_str).str.lower() if rcol else "admin"})
    else:
        ids = [line.strip() for line in read_text(path).splitlines()]
        out = pd.DataFrame({"member": [i for i in ids if i and not i.startswith("#")]})
        out["group"] = None
        out["role"] = "admin"
    out = out.loc[out["member"].notna()].reset_index(drop=True)
    out.loc[~out["role"].isin(OPERATOR_ROLES), "role"] = "admin"
    return out


def read_posts_plan(path, tz: str) -> pd.DataFrame:
    """Posts plan: group, planned time, content_type -> group, planned_at (UTC), content_type, plan_row."""
    frame = read_table(path, "posts plan")
    file = str(path)
    gcol = _pick(frame, ("group", "group_id"), file, "posts plan")
    tcol = _pick(frame, ("planned_at", "time", "posted_at", "planned_time"), file, "posts plan")
    ccol = _pick(frame, ("content_type", "type"), file, "posts plan")
    out = pd.DataFrame({"group": frame[gcol].map(clean_str),
                        "planned_at": frame[tcol].map(lambda v: any_timestamp(v, tz)),
                        "content_type": frame[ccol].map(clean_str),
                        "plan_row": np.arange(1, len(frame) + 1)})
    bad = out.isna().any(axis=1)
    if bad.any():
        raise DataValidationError([Problem(file, None, "empty group or content_type, or unreadable planned "
                                                       "time", np.flatnonzero(bad) + 1)])
    return out


# --------------------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------------------
@dataclass
class ImportOptions:
    """Options of one import (see ``groupstats import --help``)."""

    format: str
    tz: str = DEFAULT_TZ
    salt_file: str | None = None
    keep_text: bool = False
    roster: str | None = None
    operators: str | None = None
    posts_plan: str | None = None
    post_tolerance: pd.Timedelta = DEFAULT_POST_TOLERANCE
    out_format: str = "parquet"


@dataclass
class ImportReport:
    """What an import did: counts by outcome and reason, notes, where it wrote.

    ``read == imported + rejected + skipped`` (rows of the input files).
    """

    out: Path
    read: int
    imported: int
    rejected: dict
    skipped: dict
    n_messages: int
    n_members: int
    n_groups: int
    n_posts: int
    unmatched_plan: int
    notes: list
    warnings: list
    per_file: dict
    n_leavers: int = 0

    @property
    def n_rejected(self) -> int:
        return int(sum(self.rejected.values()))

    @property
    def n_skipped(self) -> int:
        return int(sum(self.skipped.values()))

    def to_dict(self) -> dict:
        return {"out": str(self.out), "read": self.read, "imported": self.imported,
                "rejected": self.n_rejected, "rejected_by_reason": dict(self.rejected),
                "skipped": self.n_skipped, "skipped_by_reason": dict(self.skipped),
                "messages": self.n_messages, "members": self.n_members, "leavers": self.n_leavers,
                "groups": self.n_groups,
                "posts": self.n_posts, "unmatched_plan_rows": self.unmatched_plan,
                "per_file": self.per_file, "notes": list(self.notes)}

    def to_text(self) -> str:
        lines = [f"read {self.read:,} rows: imported {self.imported:,}, rejected {self.n_rejected:,}, "
                 f"skipped {self.n_skipped:,}"]
        for code, n in sorted(self.rejected.items()):
            lines.append(f"  rejected {code}: {n:,}")
        for code, n in sorted(self.skipped.items()):
            lines.append(f"  skipped {code}: {n:,}")
        if len(self.per_file) > 1 or any("members" in v for v in self.per_file.values()):
            for file, c in sorted(self.per_file.items()):
                lines.append(f"  {file}: read {c['read']:,}, imported {c.get('imported', 0):,}, rejected "
                             f"{c.get('rejected', 0):,}, skipped {c.get('skipped', 0):,}; members "
                             f"{c.get('members', 0):,}, leavers {c.get('leavers', 0):,}")
        lines.append(f"wrote {self.n_messages:,} messages, {self.n_members:,} membership rows "
                     f"({self.n_leavers:,} with a leave), {self.n_groups} group(s), {self.n_posts:,} posts to "
                     f"{self.out}")
        if self.unmatched_plan:
            lines.append(f"posts plan rows with no matching operator message: {self.unmatched_plan} "
                         f"(listed in {UNMATCHED_PLAN_FILE})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


SILENT_NOTE = ("Silent members are missing: the export shows only members who wrote or were named in system "
               "messages, so member counts are too low and rates over members present too high. Re-import "
               "with --roster FILE (group, member, joined_at, left_at, role) to add them.")


def _first_seen_note(n: int) -> str:
    return (f"{n} membership(s) start at the member's first appearance in the export because no join was "
            f"recorded (column joined_at_source = first_seen): their tenure is understated.")


def assemble(parsed: Parsed, options: ImportOptions, out: str | os.PathLike):
    """Build, validate and save the canonical dataset; return an :class:`ImportReport`."""
    from groupstats.data.dataset import METADATA_FILE, Dataset, load_dataset

    tz = options.tz
    out = Path(out)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", SaltCreatedWarning)
        pseudo = Pseudonymiser(options.salt_file)
    for rec in records:
        caught.append(str(rec.message))
        warnings.warn(rec.message, rec.category, stacklevel=2)
    notes = list(parsed.notes)

    messages = parsed.messages.copy()
    events = parsed.events.copy()
    rejected = parsed.rejected.copy()
    skipped = parsed.skipped.copy()

    # -- roster and operators (source ids) ----------------------------------------------
    roster = read_roster(options.roster, tz) if options.roster else None
    operators = read_operators(options.operators) if options.operators else None
    group_alias = {name: gid for gid, name in parsed.groups.items() if name}

    def canon_group(values: pd.Series) -> pd.Series:
        return values.map(lambda g: group_alias.get(g, g) if g not in parsed.groups else g)

    if roster is not None:
        roster["group"] = canon_group(roster["group"])

    # -- duplicates: the same source message or membership change twice -------------------
    messages["message_id"] = pseudo.series(
        "message", messages["group"].astype(str) + "|" + messages["source_msg_id"].astype(str))
    dup_msg = messages["message_id"].duplicated(keep="first").to_numpy()
    events_key = (events["group"].astype(str) + "|" + events["member"].astype(str) + "|"
                  + events["time"].astype(str) + "|" + events["kind"].astype(str))
    dup_evt = events_key.duplicated(keep="first").to_numpy()

    # -- earlier import in --out: merge, do not duplicate --------------------------------
    existing = None
    meta_file = out / METADATA_FILE
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        importer = meta.get("importer")
        if importer is None:
            raise GroupstatsError(f"{out} already holds a dataset that was not written by groupstats import; "
                                  f"choose an empty --out folder.")
        if importer.get("salt_fingerprint") != pseudo.fingerprint:
            raise GroupstatsError(f"{out} holds an import made with another salt (pseudonyms would not match); "
                                  f"pass the same --salt-file as before, or choose a new --out folder.")
        if importer.get("format") != options.format:
            notes.append(f"merged with an earlier import in this folder (format {importer.get('format')})")
        existing = load_dataset(out, tz=tz)
    old_ids = set(existing.messages["message_id"]) if existing is not None else set()
    already_msg = messages["message_id"].isin(old_ids).to_numpy() & ~dup_msg

    # hashed member / group ids
    messages["member_id"] = pseudo.series("member", messages["member"])
    messages["group_id"] = pseudo.series("group", messages["group"])
    events["member_id"] = pseudo.series("member", events["member"])
    events["group_id"] = pseudo.series("group", events["group"])
    if existing is not None:
        old_events = _events_from_members(existing.members)
        old_keys = set(zip(old_events["group_id"], old_events["member_id"],
                           old_events["time"].astype(str), old_events["kind"]))
        new_keys = list(zip(events["group_id"], events["member_id"],
                            pd.Series(events["time"]).astype(str), events["kind"]))
        already_evt = np.array([k in old_keys for k in new_keys], dtype=bool) & ~dup_evt
    else:
        already_evt = np.zeros(len(events), dtype=bool)

    # -- members and leavers named by each file (before duplicates are dropped) -------------
    people = pd.concat([messages.loc[messages["msg_type"] != "system", ["source_file", "member_id"]],
                        events.loc[events["kind"] != "seen", ["source_file", "member_id"]]], ignore_index=True)
    file_members = people.groupby("source_file")["member_id"].nunique().to_dict() if len(people) else {}
    leaves = events.loc[events["kind"] == "leave"]
    file_leavers = leaves.groupby("source_file")["member_id"].nunique().to_dict() if len(leaves) else {}

    # -- row accounting ------------------------------------------------------------------
    status = _row_status(messages, events, rejected, skipped, dup_msg, dup_evt, already_msg, already_evt)
    keep_msg = ~(dup_msg | already_msg)
    messages = messages.loc[keep_msg].reset_index(drop=True)
    events = events.loc[~(dup_evt | already_evt)].reset_index(drop=True)

    # -- quote-replies -------------------------------------------------------------------
    has_reply = messages["reply_to_source"].notna()
    reply_ids = pseudo.series("message", messages["group"].astype(str) + "|"
                              + messages["reply_to_source"].astype(str)).where(has_reply, None)
    known = set(messages["message_id"]) | old_ids
    dangling = has_reply & ~reply_ids.isin(known)
    if dangling.any():
        notes.append(f"{int(dangling.sum())} quote-reply(ies) quote a message that is not in the export; "
                     f"reply_to is left empty for them.")
    messages["reply_to"] = reply_ids.where(~dangling, None)

    # -- members -------------------------------------------------------------------------
    seen = messages[["group_id", "member_id", "sent_at"]].rename(columns={"sent_at": "time"})
    seen["kind"] = "seen"
    seen["how"] = "first_seen"
    evt = events[["group_id", "member_id", "time", "kind", "how"]].copy()
    parts = [seen, evt]
    roles = pd.DataFrame(columns=["group_id", "member_id", "role"])
    if roster is not None:
        rg = pseudo.series("group", roster["group"])
        rm = pseudo.series("member", roster["member"])
        joins = pd.DataFrame({"group_id": rg, "member_id": rm, "time": to_tz(roster["joined_at"], tz),
                              "kind": "join", "how": "roster"})
        left = roster["left_at"].notna() if "left_at" in roster else pd.Series(False, index=roster.index)
        leaves = pd.DataFrame({"group_id": rg[left], "member_id": rm[left],
                               "time": to_tz(roster.loc[left, "left_at"], tz), "kind": "leave", "how": "roster"})
        parts += [joins, leaves]
        has_role = roster["role"].notna()
        roles = pd.DataFrame({"group_id": rg[has_role], "member_id": rm[has_role],
                              "role": roster.loc[has_role, "role"]})
    if parsed.roles:
        found = pd.DataFrame(parsed.roles, columns=["group", "member", "role"])
        roles = pd.concat([roles, pd.DataFrame({"group_id": pseudo.series("group", found["group"]),
                                                "member_id": pseudo.series("member", found["member"]),
                                                "role": found["role"]})], ignore_index=True)
    if existing is not None:
        parts.append(_events_from_members(existing.members))
        old_roles = existing.members.loc[existing.members["role"] != "member", ["group_id", "member_id", "role"]]
        roles = pd.concat([old_roles, roles], ignore_index=True)
    parts = [p for p in parts if len(p)]
    members = build_memberships(pd.concat(parts, ignore_index=True) if parts else None, tz)
    if existing is not None:
        old_msgs = existing.messages[["group_id", "member_id"]].drop_duplicates()
        members = _ensure_pairs(members, old_msgs, existing.messages, tz)

    if operators is not None:
        og = operators["group"].map(lambda g: None if g is None else g)
        og = canon_group(og.fillna("")).where(og.notna(), None)
        op = pd.DataFrame({"member_id": pseudo.series("member", operators["member"]),
                           "group_id": pseudo.series("group", og), "role": operators["role"]})
        specific = op.loc[op["group_id"].notna()]
        anywhere = op.loc[op["group_id"].isna(), ["member_id", "role"]].merge(
            members[["group_id", "member_id"]].drop_duplicates(), on="member_id")
        roles = pd.concat([roles, specific, anywhere[["group_id", "member_id", "role"]]], ignore_index=True)
    if len(roles):
        rank = roles["role"].map({"owner": 0, "admin": 1, "member": 2})
        roles = roles.assign(rank=rank).sort_values("rank").drop_duplicates(["group_id", "member_id"])
        members = members.merge(roles[["group_id", "member_id", "role"]], on=["group_id", "member_id"],
                                how="left")
        members["role"] = members["role"].fillna("member")
    else:
        members["role"] = "member"

    # display names only when asked
    if options.keep_text:
        names = pd.concat([
            pd.DataFrame({"group_id": messages["group_id"], "member_id": messages["member_id"],
                          "name": messages["name"]}),
            pd.DataFrame({"group_id": events["group_id"], "member_id": events["member_id"], "name": events["name"]}),
        ], ignore_index=True).dropna(subset=["name"])
        if roster is not None and roster["name"].notna().any():
            names = pd.concat([names, pd.DataFrame({"group_id": pseudo.series("group", roster["group"]),
                                                    "member_id": pseudo.series("member", roster["member"]),
                                                    "name": roster["name"]}).dropna(subset=["name"])])
        names = names.drop_duplicates(["group_id", "member_id"], keep="last")
        members = members.merge(names, on=["group_id", "member_id"], how="left")
        if existing is not None and "name" in existing.members:
            old = existing.members[["group_id", "member_id", "name"]].dropna().drop_duplicates(
                ["group_id", "member_id"]).rename(columns={"name": "old_name"})
            members = members.merge(old, on=["group_id", "member_id"], how="left")
            members["name"] = members["name"].fillna(members.pop("old_name"))

    # -- canonical messages --------------------------------------------------------------
    msg_cols = ["message_id", "group_id", "member_id", "sent_at", "msg_type", "reply_to", "n_mentions",
                "text_len", "source_type"]
    if options.keep_text:
        msg_cols.append("text")
    new_messages = messages[msg_cols].copy()
    if existing is not None:
        old = existing.messages.copy()
        for col in msg_cols:
            if col not in old.columns:
                old[col] = None
        new_messages = pd.concat([old[msg_cols], new_messages], ignore_index=True)
    new_messages = new_messages.sort_values(["sent_at", "message_id"], kind="stable").reset_index(drop=True)

    # -- groups --------------------------------------------------------------------------
    gids = pd.unique(pd.concat([members["group_id"], new_messages["group_id"]]))
    group_names = {pseudo.one("group", g): n for g, n in parsed.groups.items()}
    groups = pd.DataFrame({"group_id": gids})
    if options.keep_text:
        groups["name"] = groups["group_id"].map(group_names)
    if existing is not None and existing.groups is not None:
        groups = pd.concat([existing.groups.reindex(columns=groups.columns), groups]).drop_duplicates(
            "group_id", keep="first")

    # -- posts ---------------------------------------------------------------------------
    posts, unmatched = None, None
    if options.posts_plan:
        plan = read_posts_plan(options.posts_plan, tz)
        plan["group"] = canon_group(plan["group"])
        plan["group_id"] = pseudo.series("group", plan["group"])
        plan["planned_at"] = to_tz(plan["planned_at"], tz)
        posts, unmatched = match_posts_plan(plan, new_messages, members, options.post_tolerance)
        if existing is not None and existing.posts is not None:
            posts = pd.concat([existing.posts.reindex(columns=posts.columns), posts]).drop_duplicates(
                "post_id", keep="last")
        if len(unmatched):
            notes.append(f"{len(unmatched)} posts plan row(s) matched no operator message within "
                         f"{options.post_tolerance}; see {UNMATCHED_PLAN_FILE}.")
    elif existing is not None and existing.posts is not None:
        posts = existing.posts

    # -- notes ---------------------------------------------------------------------------
    n_first_seen = int((members["joined_at_source"] == "first_seen").sum())
    if n_first_seen:
        notes.append(_first_seen_note(n_first_seen))
    had_roster = roster is not None or (existing is not None and bool(existing.metadata.get("importer", {})
                                                                          .get("roster")))
    if not had_roster:
        notes.append(SILENT_NOTE)
    if members["role"].isin(OPERATOR_ROLES).sum() == 0:
        notes.append("No operators are marked (pass --operators FILE or a roster with a role column): "
                     "analyses of operator posts will find none.")
    if existing is not None:
        for note in existing.metadata.get("notes", []):
            if note not in notes and not note.startswith(tuple(_REPLACED_NOTE_STARTS)):
                notes.append(note)

    # -- rejected.csv ------------------------------------------------------------------
    rej = rejected.copy()
    rej["group_id"] = pseudo.series("group", rej["group"])
    rej["member_id"] = pseudo.series("member", rej["member"])
    rej["sent_at"] = to_tz(rej["sent_at"], tz) if len(rej) else rej["sent_at"]
    rej_cols = ["source_file", "source_row", "reason", "group_id", "member_id", "sent_at", "detail"]
    if options.keep_text:
        rej_cols.append("text")
    rej = rej[rej_cols]

    # -- counts --------------------------------------------------------------------------
    read_total = int(sum(parsed.read.values()))
    counts_rejected = status.loc[status["outcome"] == "rejected", "reason"].value_counts().to_dict()
    counts_skipped = status.loc[status["outcome"] == "skipped", "reason"].value_counts().to_dict()
    n_imported = int((status["outcome"] == "imported").sum())
    accounted = n_imported + sum(counts_rejected.values()) + sum(counts_skipped.values())
    if accounted != read_total:  # a parser bug, never the user's data
        raise GroupstatsError(f"internal accounting error: read {read_total} rows but accounted for "
                              f"{accounted}; please report this with the format name.")
    per_file = {}
    for file, n in parsed.read.items():
        sub = status.loc[status["source_file"] == file, "outcome"].value_counts().to_dict()
        per_file[file] = {"read": int(n), **{k: int(sub.get(k, 0)) for k in ("imported", "rejected", "skipped")},
                          "members": int(file_members.get(file, 0)), "leavers": int(file_leavers.get(file, 0))}

    counts = {"read": read_total, "imported": n_imported, "rejected": {k: int(v) for k, v in counts_rejected.items()},
              "skipped": {k: int(v) for k, v in counts_skipped.items()}}
    metadata = {
        "source": f"groupstats import {options.format}",
        "importer": {"format": options.format, "version": IMPORTER_VERSION,
                     "salt_fingerprint": pseudo.fingerprint, "keep_text": bool(options.keep_text),
                     "roster": bool(had_roster), "operators": options.operators is not None,
                     "posts_plan": options.posts_plan is not None, "inputs": sorted(parsed.read),
                     "counts": counts,
                     "reasons": {r.code: r.description for r in RejectReason}},
        "notes": notes,
    }
    if existing is not None:
        metadata["importer"]["inputs"] = sorted(set(metadata["importer"]["inputs"])
                                                | set(existing.metadata["importer"].get("inputs", [])))
    if new_messages.empty:
        meaning = {r.code: r.description for r in (*RejectReason, *SkipReason)}
        examples = rejected.dropna(subset=["detail"]).drop_duplicates("reason").set_index("reason")["detail"]
        meaning.update({k: f"e.g. {v}" for k, v in examples.items()})
        raise GroupstatsError("No message could be imported: " + "; ".join(
            f"{n} {k} ({meaning.get(k, '')})" for k, n in {**counts_rejected, **counts_skipped}.items()) +
            ". Check the format name and the input files (reasons: docs/importing.md).")
    dataset = Dataset.from_frames(tz=tz, metadata=metadata, messages=new_messages, members=members,
                                  groups=groups, posts=posts)
    dataset.save(out, format=options.out_format)
    if existing is not None and (out / REJECTED_FILE).exists():
        old_rej = pd.read_csv(out / REJECTED_FILE, dtype=str, keep_default_na=False, na_values=[""])
        rej = pd.concat([old_rej, rej.astype("object").astype(str).where(rej.notna(), None)], ignore_index=True)
        rej = rej.drop_duplicates(["source_file", "source_row", "reason"], keep="first")
    _write_csv(rej, out / REJECTED_FILE)
    if unmatched is not None and len(unmatched):
        _write_csv(unmatched, out / UNMATCHED_PLAN_FILE)
    elif (out / UNMATCHED_PLAN_FILE).exists() and options.posts_plan:
        (out / UNMATCHED_PLAN_FILE).unlink()
    return ImportReport(out=out, read=read_total, imported=n_imported, rejected=counts["rejected"],
                        skipped=counts["skipped"], n_messages=len(dataset.messages),
                        n_members=len(dataset.members), n_groups=int(dataset.members["group_id"].nunique()),
                        n_leavers=int(dataset.members["left_at"].notna().sum()),
                        n_posts=0 if dataset.posts is None else len(dataset.posts),
                        unmatched_plan=0 if unmatched is None else len(unmatched), notes=notes,
                        warnings=caught, per_file=per_file)


_REPLACED_NOTE_STARTS = ("Silent members are missing", "No operators are marked")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].map(lambda t: t.isoformat() if not pd.isna(t) else "")
    out.to_csv(path, index=False, encoding="utf-8")


def _row_status(messages, events, rejected, skipped, dup_msg, dup_evt, already_msg, already_evt) -> pd.DataFrame:
    """One outcome per source row: imported if anything of it survives, else skipped/rejected."""
    def frame(df, outcome, reason):
        if not len(df):
            return pd.DataFrame(columns=["source_file", "source_row", "outcome", "reason", "rank"])
        out = pd.DataFrame({"source_file": df["source_file"].to_numpy(),
                            "source_row": df["source_row"].to_numpy()})
        out["outcome"] = outcome
        out["reason"] = reason if isinstance(reason, str) else np.asarray(reason)
        return out

    parts = []
    m_state = np.where(dup_msg, "duplicate", np.where(already_msg, "already_imported", ""))
    e_state = np.where(dup_evt, "duplicate", np.where(already_evt, "already_imported", ""))
    for df, state in ((messages, m_state), (events, e_state)):
        if not len(df):
            continue
        if "kind" in df:  # 'seen' events (an inviter was there) only support the row's main events
            main = (df["kind"] != "seen").to_numpy()
            df, state = df.loc[main], state[main]
        ok = state == ""
        parts.append(frame(df.loc[ok], "imported", ""))
        parts.append(frame(df.loc[~ok], "skipped", state[~ok]))
    parts.append(frame(rejected, "rejected", rejected["reason"].to_numpy() if len(rejected) else ""))
    parts.append(frame(skipped, "skipped", skipped["reason"].to_numpy() if len(skipped) else ""))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["source_file", "source_row", "outcome", "reason"])
    status = pd.concat(parts, ignore_index=True)
    status["rank"] = status["outcome"].map({"imported": 0, "skipped": 1, "rejected": 2})
    status.loc[status["reason"] == "duplicate", "rank"] = 1
    status.loc[status["reason"] == "already_imported", "rank"] = 1
    status = status.sort_values(["source_file", "source_row", "rank"], kind="stable")
    return status.drop_duplicates(["source_file", "source_row"], keep="first").reset_index(drop=True)


def _events_from_members(members: pd.DataFrame) -> pd.DataFrame:
    """Membership rows of an earlier import back into join/seen/leave events."""
    source = members["joined_at_source"] if "joined_at_source" in members else pd.Series("recorded",
                                                                                         index=members.index)
    how = members["joined_how"] if "joined_how" in members else pd.Series("recorded", index=members.index)
    how = np.where(source.to_numpy() == "roster", "roster", how.fillna("recorded").to_numpy())
    joins = pd.DataFrame({"group_id": members["group_id"], "member_id": members["member_id"],
                          "time": members["joined_at"],
                          "kind": np.where(source.to_numpy() == "first_seen", "seen", "join"),
                          "how": how})
    left = members["left_at"].notna()
    leaves = pd.DataFrame({"group_id": members.loc[left, "group_id"], "member_id": members.loc[left, "member_id"],
                           "time": members.loc[left, "left_at"], "kind": "leave", "how": "recorded"})
    return pd.concat([joins, leaves], ignore_index=True)


def _ensure_pairs(members, pairs, old_messages, tz) -> pd.DataFrame:
    """Every (group, member) of earlier messages keeps a membership row (defensive; normally true)."""
    have = pd.MultiIndex.from_frame(members[["group_id", "member_id"]])
    missing = pairs.loc[~pd.MultiIndex.from_frame(pairs).isin(have)]
    if missing.empty:
        return members
    first = old_messages.groupby(["group_id", "member_id"])["sent_at"].min().rename("time").reset_index()
    first = first.merge(missing, on=["group_id", "member_id"])
    first["kind"], first["how"] = "seen", "first_seen"
    return pd.concat([members, build_memberships(first, tz)], ignore_index=True)


def build_memberships(events: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Turn join / seen / leave events into non-overlapping membership spells.

    Parameters
    ----------
    events : DataFrame
        group_id, member_id, time (tz-aware), kind (``join``, ``seen`` or
        ``leave``), how (invite, qr_code, roster, first_seen, ...).

    Returns
    -------
    DataFrame
        group_id, member_id, joined_at, left_at, joined_at_source (``recorded``,
        ``roster`` or ``first_seen``), joined_how. A member who writes while
        out of the group (after a leave, or before any join) starts a spell at
        that message; a leave with no spell open starts and ends a spell at the
        leave (the member was there before the export began).
    """
    cols = ["group_id", "member_id", "joined_at", "left_at", "joined_at_source", "joined_how"]
    if events is None or events.empty:
        return pd.DataFrame(columns=cols)
    ev = events[["group_id", "member_id", "time", "kind", "how"]].copy()
    ev["time"] = to_tz(ev["time"], tz)
    ev = ev.drop_duplicates(["group_id", "member_id", "time", "kind"])
    order = {"join": 0, "seen": 1, "leave": 2}
    ev["k"] = ev["kind"].map(order)
    ev = ev.sort_values(["group_id", "member_id", "time", "k"], kind="stable").reset_index(drop=True)
    same = (ev["group_id"].eq(ev["group_id"].shift()) & ev["member_id"].eq(ev["member_id"].shift())).to_numpy()
    in_after = (ev["kind"] != "leave").to_numpy()  # state after each event
    prev_in = np.zeros(len(ev), dtype=bool)
    prev_in[1:] = in_after[:-1]
    prev_in &= same
    start = ~prev_in  # joins/seen when out, and leaves when out, open a spell
    spell = np.cumsum(start)
    ev["spell"] = spell
    starts = ev.loc[start, ["spell", "group_id", "member_id", "time", "kind", "how"]].rename(
        columns={"time": "joined_at"})
    ends = ev.loc[ev["kind"] == "leave", ["spell", "time"]].drop_duplicates("spell").rename(
        columns={"time": "left_at"})
    out = starts.merge(ends, on="spell", how="left")
    source = np.where(out["kind"] == "join", np.where(out["how"] == "roster", "roster", "recorded"), "first_seen")
    out["joined_at_source"] = source
    out["joined_how"] = np.where(out["kind"] == "join", out["how"], "first_seen")
    out["left_at"] = to_tz(out["left_at"], tz)
    return out[cols].reset_index(drop=True)


def match_posts_plan(plan: pd.DataFrame, messages: pd.DataFrame, members: pd.DataFrame,
                     tolerance: pd.Timedelta) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match each planned post to the nearest operator message in its group.

    Parameters
    ----------
    plan : DataFrame
        group_id, planned_at (tz-aware), content_type, plan_row.
    messages : DataFrame
        Canonical messages (message_id, group_id, member_id, sent_at, msg_type).
    members : DataFrame
        Canonical members with role.
    tolerance : Timedelta
        Largest distance between planned and actual time.

    Returns
    -------
    posts : DataFrame
        post_id, group_id, posted_at, content_type, member_id, message_id, planned_at.
    unmatched : DataFrame
        plan_row, group_id, planned_at, content_type of plan rows with no match.
        Each message serves at most one plan row (the nearest one).
    """
    ops = members.loc[members["role"].isin(OPERATOR_ROLES), ["group_id", "member_id"]].drop_duplicates()
    cand = messages.loc[messages["msg_type"] != "system"].merge(ops, on=["group_id", "member_id"])
    cand = cand[["message_id", "group_id", "member_id", "sent_at"]].sort_values("sent_at")
    left = plan.sort_values("planned_at").reset_index(drop=True)
    if len(cand):
        matched = pd.merge_asof(left, cand, left_on="planned_at", right_on="sent_at", by="group_id",
                                direction="nearest", tolerance=tolerance)
    else:
        matched = left.assign(message_id=None, member_id=None, sent_at=pd.NaT)
    matched["distance"] = (matched["sent_at"] - matched["planned_at"]).abs()
    ok = matched["message_id"].notna()
    best = matched.loc[ok].sort_values(["distance", "plan_row"]).drop_duplicates("message_id", keep="first")
    used = set(best["plan_row"])
    unmatched = matched.loc[~matched["plan_row"].isin(used), ["plan_row", "group_id", "planned_at", "content_type"]]
    posts = pd.DataFrame({
        "post_id": "p_" + best["message_id"].str.removeprefix("msg_"),
        "group_id": best["group_id"], "posted_at": best["sent_at"], "content_type": best["content_type"],
        "member_id": best["member_id"], "message_id": best["message_id"], "planned_at": best["planned_at"]})
    return posts.sort_values("posted_at").reset_index(drop=True), unmatched.sort_values("plan_row").reset_index(
        drop=True)


def resolve_names(names: list[str], name_map: dict[str, str], self_id: str | None = None) -> tuple[list, list]:
    """Map display names to source ids; return (resolved ids, unresolved names)."""
    resolved, unresolved = [], []
    for name in names:
        if name in ("你", "You", "you", "Du", "Sie") and self_id:
            resolved.append(self_id)
        elif name in name_map:
            resolved.append(name_map[name])
        else:
            unresolved.append(name)
    return resolved, unresolved


def check_msg_types(values: pd.Series) -> None:  # pragma: no cover - guard for format modules
    bad = ~values.isin(MSG_TYPES)
    if bad.any():
        raise AssertionError(f"importer produced unknown msg_type(s) {sorted(set(values[bad]))}")
