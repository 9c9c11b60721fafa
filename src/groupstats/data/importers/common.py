"""Small parsing helpers shared by the format modules: times, encodings, cells, ids and names.

Parsed rows and reasons are in :mod:`~groupstats.data.importers.rows`, pseudonyms in
:mod:`~groupstats.data.importers.pseudonyms`, rosters/operators/posts plans in
:mod:`~groupstats.data.importers.side_files`, and the assembly of a dataset from parsed rows in
:mod:`~groupstats.data.importers.assemble`.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError

_MIN_TS = pd.Timestamp("1990-01-01", tz="UTC")
_MAX_TS = pd.Timestamp("2100-01-01", tz="UTC")
#: WeChat ends a mention with U+2005 (four-per-em space); elsewhere ``@name`` follows white space.
MENTION = re.compile(r"@[^@\s\u2005]+\u2005|(?<![^\s])@[^@\s\u2005]+(?![^@\s\u2005]|\u2005)")


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


_EPOCH_TEXT = r"-?\d+(\.\d+)?"
#: ISO 8601 date-times pandas reads in one vectorised pass (naive; or with Z / an offset: _ISO_AWARE).
_ISO_NAIVE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
_ISO_AWARE = _ISO_NAIVE + r"(?:Z|[+-]\d{2}:?\d{2})"


def any_timestamps(values: pd.Series, tz: str, time_format: str | None = None) -> pd.Series:
    """:func:`any_timestamp` of a whole column (or, with ``time_format``, that strptime form), vectorised.

    Returns a ``datetime64[ns, UTC]`` Series (NaT where the value gives no time in 1990-2100). The same
    values as calling :func:`any_timestamp` on each cell: epoch seconds/milliseconds (by magnitude) and
    ISO 8601 text are converted column-wise; any other text (e.g. ``2025/03/01 09:00``) goes through
    :func:`local_to_timestamp`, once per distinct value.
    """
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = _epoch_series(values.astype("float64"))
        return out.where((out >= _MIN_TS) & (out < _MAX_TS))
    raw = values.astype("object")
    is_text = raw.notna()
    text = raw.where(is_text, "").astype(str).str.strip().where(is_text)
    if time_format:
        parsed = pd.to_datetime(text.where(is_text), format=time_format, errors="coerce")
        if getattr(parsed.dt, "tz", None) is None:
            parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        out.loc[is_text] = parsed.dt.tz_convert("UTC")[is_text]
        rest = ~is_text
    else:
        rest = pd.Series(True, index=values.index)
    # numeric text: Unix seconds or milliseconds
    numeric_text = rest & is_text & text.str.fullmatch(_EPOCH_TEXT).fillna(False).astype(bool)
    if numeric_text.any():
        out.loc[numeric_text] = _epoch_series(pd.to_numeric(text[numeric_text], errors="coerce"))
    # text: ISO 8601 in one pass each (naive ones are local times in tz), anything else value by value
    words = rest & is_text & ~numeric_text
    naive = words & text.str.fullmatch(_ISO_NAIVE).fillna(False).astype(bool)
    aware = words & text.str.fullmatch(_ISO_AWARE).fillna(False).astype(bool)
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out.loc[naive] = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    if aware.any():
        out.loc[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
    other = words & ~naive & ~aware
    if other.any():
        out.loc[other] = _other_local_times(text[other], tz)
    return out.where((out >= _MIN_TS) & (out < _MAX_TS))


def _other_local_times(text: pd.Series, tz: str) -> pd.Series:
    """Non-ISO date-time text as ``pd.Timestamp(text)`` reads it (naive ones are local times in ``tz``): one
    pass of pandas' own per-value parser; a column mixing zoned and unzoned forms is read value by value."""
    try:
        parsed = pd.to_datetime(text, format="mixed", errors="coerce")
    except (ValueError, TypeError):
        return pd.to_datetime(text.map(lambda v: local_to_timestamp(v, tz)), utc=True)
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC")


def _epoch_series(number: pd.Series) -> pd.Series:
    """:func:`epoch_to_timestamp` of a float column (milliseconds when |value| >= 1e11), vectorised."""
    out = pd.Series(pd.NaT, index=number.index, dtype="datetime64[ns, UTC]")
    finite = np.isfinite(number)
    millis = finite & (number.abs() >= 1e11)
    millis_value = number.where(millis, number * 1000.0)
    # only times a datetime64[ns] holds (years 1678-2261; anything outside 1990-2100 is no time anyway)
    usable = finite & millis_value.between(-9.2e12, 9.2e12)
    for unit, mask in (("ms", usable & millis), ("s", usable & ~millis)):
        if not mask.any():
            continue
        out.loc[mask] = pd.to_datetime(number[mask], unit=unit, utc=True)  # fractions round as the scalar does
    return out


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
    return len(MENTION.findall(text))


def clean_str(value) -> str | None:
    """Strip a cell; empty, NaN and None become None."""
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def clean_strs(values: pd.Series) -> pd.Series:
    """:func:`clean_str` of a column, vectorised: stripped text, None for empty cells, NaN and None."""
    raw = values.astype("object")
    present = raw.notna()
    text = raw.where(present, "").astype(str).str.strip().astype("object")
    return text.where(present & text.ne(""), None)


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
