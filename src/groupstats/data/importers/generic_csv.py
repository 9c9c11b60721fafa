"""Generic CSV / Excel chat tables with a column mapping (format ``csv``).

The mapping names the column of each field, on the command line
(``--map member=Sender --map time=Date``) or in a small YAML file
(``--mapping mapping.yaml``)::

    columns:
      group: Group          # or give one group for the whole file: group_value: "Book club"
      member: SenderId      # required
      time: Date            # required: epoch seconds/milliseconds or a date-time (naive = --tz)
      type: Kind            # optional; values mapped by `types`, default text
      text: Content         # optional
      message_id: Id        # optional; else rows are identified by their content
      reply_to: QuotedId    # optional: message_id of the quoted message
      name: Nickname        # optional display name (kept only with --keep-text)
    group_value: "Book club"
    time_format: "%Y/%m/%d %H:%M"   # optional strptime format
    sheet: 0                        # optional Excel sheet
    types:                          # optional: source value -> msg_type, or join / leave
      文本: text
      入群: join
      退群: leave

Values of the type column that are not mapped and not a groupstats msg_type
become ``other`` (with a note). ``join``/``leave`` rows become membership changes.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.schema import MSG_TYPES
from groupstats.data.importers.common import MENTION, any_timestamps, clean_strs, occurrence_ids, read_text
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, source_label

#: a date written day/month or month/day first (``05/01/2026``, ``5.1.26``): its order is never guessed
_DAY_MONTH = r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?!\d)"


def _refuse_day_month_order(values: pd.Series, file: str, column: str) -> None:
    """Stop when time cells start with a day/month date and no ``time_format`` declares the order.

    ``05/01/2026`` is 5 January in most of the world and 1 May in the US: reading it either way
    would silently misplace every message. Year-first dates (``2026/01/05``) are unambiguous.
    """
    if pd.api.types.is_numeric_dtype(values):
        return
    text = values.astype("object").where(values.notna(), "").astype(str)
    parts = text.str.extract("^" + _DAY_MONTH)
    hit = parts[0].notna().to_numpy()
    if not hit.any():
        return
    rows = np.flatnonzero(hit)
    shown = ", ".join(f"{text.iloc[r]!r} (row {r + 1})" for r in rows[:5])
    first, second = parts.iloc[rows, 0].astype(int), parts.iloc[rows, 1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        hint = "%d/%m/%Y %H:%M"
    elif (second > 12).any() and not (first > 12).any():
        hint = "%m/%d/%Y %H:%M"
    else:
        hint = "%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M"
    raise GroupstatsError(
        f"{file}, column {column!r}: {len(rows)} row(s) have dates with the day and month in an order that "
        f"is not stated: {shown}. groupstats never guesses it. Declare the format in the mapping "
        f"(time_format: '{hint}', with the separators and year digits of the file), or write ISO 8601 "
        f"(2026-01-05 10:00).")


FIELDS = ("group", "member", "time", "type", "text", "message_id", "reply_to", "name")
OPTIONS = ("group_value", "time_format", "sheet", "types")


def load_mapping(mapping) -> dict:
    """Normalise a mapping (dict from ``--map``, a YAML path, or a dict with a ``mapping_file``)."""
    import yaml

    if mapping is None:
        raise ParameterError("The csv format needs a column mapping: --map member=COLUMN --map time=COLUMN "
                             "[--map group=COLUMN or group_value=NAME ...] or --mapping FILE.yaml.")
    spec: dict = {}
    if isinstance(mapping, (str, Path)):
        mapping = {"mapping_file": str(mapping)}
    mapping = dict(mapping)
    file = mapping.pop("mapping_file", None)
    if file:
        path = Path(file)
        if not path.exists():
            raise ParameterError(f"Mapping file {path} does not exist.")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
        except yaml.YAMLError as exc:
            raise ParameterError(f"Mapping file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ParameterError(f"Mapping file {path} must hold a mapping (columns: ..., types: ...).")
        columns = loaded.get("columns", {}) or {}
        if not isinstance(columns, dict):
            raise ParameterError(f"'columns' in {path} must map field names to column names.")
        spec.update({k: v for k, v in columns.items()})
        spec.update({k: loaded[k] for k in OPTIONS if k in loaded})
    spec.update(mapping)  # command-line values win
    unknown = set(spec) - set(FIELDS) - set(OPTIONS)
    if unknown:
        raise ParameterError(f"Unknown mapping key(s) {', '.join(sorted(map(str, unknown)))}; fields are "
                             f"{', '.join(FIELDS)} and options {', '.join(OPTIONS)}.")
    for key in ("member", "time"):
        if not spec.get(key):
            raise ParameterError(f"The mapping must name the '{key}' column (e.g. --map {key}=COLUMN).")
    if not spec.get("group") and not spec.get("group_value"):
        raise ParameterError("The mapping must name the group column (--map group=COLUMN) or give one group "
                             "for the whole file (--map group_value=NAME).")
    types = spec.get("types") or {}
    if not isinstance(types, dict):
        raise ParameterError("'types' must map source values to msg_types (or join / leave).")
    bad = {str(v) for v in types.values()} - set(MSG_TYPES) - {"join", "leave"}
    if bad:
        raise ParameterError(f"'types' maps to unknown type(s) {', '.join(sorted(bad))}; use one of "
                             f"{', '.join(MSG_TYPES)}, join or leave.")
    spec["types"] = {str(k): str(v) for k, v in types.items()}
    return spec


def unmapped_types_note(file: str, column: str, counts: dict[str, int]) -> str:
    """The note for type values the mapping does not name: each value with its count, most frequent first,
    and the ``types:`` lines to add to the mapping file (each set to ``other``: edit to the right msg_type)."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{value}: {n}" for value, n in ordered)
    lines = "".join(f"\n      {_yaml_key(value)}: other" for value, _ in ordered)
    return (f"{file}: values of the type column {column!r} not in the mapping were imported as 'other' "
            f"({listed}). To type them, add to the mapping file (msg_types: {', '.join(MSG_TYPES)}, or join / "
            f"leave):\n    types:{lines}")


def _yaml_key(value: str) -> str:
    import json

    plain = value and value.strip() == value and not any(c in value for c in ':#{}[],&*!|>\'"%@`')
    return value if plain else json.dumps(value, ensure_ascii=False)


def _read(path: Path, spec: dict) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            frame = pd.read_excel(path, dtype=str, sheet_name=spec.get("sheet", 0) or 0)
        else:
            frame = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False, na_values=[""],
                                sep=None, engine="python", on_bad_lines="error")
    except GroupstatsError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes a clear message
        raise GroupstatsError(f"{path} cannot be read as CSV/Excel: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def parse(path: str | Path, tz: str, spec: dict) -> Parsed:
    """Parse one CSV/Excel file with a normalised mapping (see :func:`load_mapping`); column-wise throughout."""
    path = Path(path)
    frame = _read(path, spec)
    missing = [spec[k] for k in FIELDS if spec.get(k) and spec[k] not in frame.columns]
    if missing:
        raise GroupstatsError(f"{path.name}: mapped column(s) {', '.join(map(str, missing))} not found; the file "
                              f"has {', '.join(frame.columns)}.")
    sink = RowSink(source_label(path))
    sink.n_read = len(frame)
    frame = frame.reset_index(drop=True)
    rows = pd.Series(np.arange(1, len(frame) + 1), index=frame.index)

    def column(key) -> pd.Series:
        """Cleaned cells (stripped; None for empty), as :func:`clean_str` gives them."""
        if not spec.get(key):
            return pd.Series(None, index=frame.index, dtype="object")
        return clean_strs(frame[spec[key]])

    groups = column("group")
    if spec.get("group_value"):
        groups = groups.where(groups.notna(), str(spec["group_value"]))
    members, types = column("member"), column("type")
    ids, replies, names = column("message_id"), column("reply_to"), column("name")
    texts = pd.Series(None, index=frame.index, dtype="object")
    if spec.get("text"):
        raw_text = frame[spec["text"]].astype("object")  # read as text: str or missing
        kept = raw_text.notna()
        kept &= raw_text.where(kept, "").astype(str).str.strip().ne("")
        texts = raw_text.where(kept, None)
    if not spec.get("time_format"):
        _refuse_day_month_order(frame[spec["time"]], path.name, spec["time"])
    times = any_timestamps(frame[spec["time"]], tz, spec.get("time_format"))

    no_group = groups.isna()
    no_time = ~no_group & times.isna()
    no_member = ~no_group & ~no_time & members.isna()
    rejected = pd.concat([
        pd.DataFrame({"source_row": rows[no_group], "reason": RejectReason.MISSING_GROUP.code,
                      "member": members[no_group], "text": texts[no_group]}),
        pd.DataFrame({"source_row": rows[no_time], "reason": RejectReason.MISSING_TIMESTAMP.code,
                      "group": groups[no_time], "member": members[no_time], "text": texts[no_time]}),
        pd.DataFrame({"source_row": rows[no_member], "reason": RejectReason.MISSING_SENDER.code,
                      "group": groups[no_member], "sent_at": times[no_member], "text": texts[no_member]}),
    ]).sort_values("source_row", kind="stable")
    sink.add_frame("rejected", rejected.reindex(columns=["source_row", "reason", "group", "member", "sent_at",
                                                         "detail", "text"]))
    ok = ~(no_group | no_time | no_member)

    # msg_type: the mapping's value, else the cell itself when it is a msg_type (any case), else other
    mapped = types.map(spec["types"])
    lowered = types.str.lower()
    own = lowered.where(lowered.isin([*MSG_TYPES, "join", "leave"]))
    msg_types = mapped.where(mapped.notna(), own)
    unmapped = ok & types.notna() & msg_types.isna()
    msg_types = msg_types.where(types.notna(), "text").fillna("other")
    unknown_types = types[unmapped].value_counts().to_dict()

    change = ok & msg_types.isin(["join", "leave"])
    sink.add_frame("events", pd.DataFrame({
        "source_row": rows[change], "group": groups[change], "member": members[change], "time": times[change],
        "kind": msg_types[change], "how": "recorded", "name": names[change]}))
    kept = ok & ~change
    if kept.any():
        system = msg_types[kept].eq("system")
        text = texts[kept].where(~system, None)
        key = (groups[kept] + "|" + members[kept] + "|" + times[kept].astype(str) + "|"
               + types[kept].fillna("") + "|" + texts[kept].fillna(""))
        sink.add_frame("messages", pd.DataFrame({
            "source_row": rows[kept], "group": groups[kept], "member": members[kept], "sent_at": times[kept],
            "msg_type": msg_types[kept], "source_type": types[kept],
            "source_msg_id": ids[kept].where(ids[kept].notna(), "row:" + occurrence_ids(key)),
            "reply_to_source": replies[kept], "text": text,
            "text_len": text.str.len().fillna(0).astype("int64"),
            "n_mentions": text.str.count(MENTION.pattern).fillna(0).astype("int64"), "name": names[kept]}))
    notes = []
    if unknown_types:
        notes.append(unmapped_types_note(sink.source_file, spec.get("type"),
                                         {str(k): int(v) for k, v in unknown_types.items()}))
    return sink.to_parsed(tz, groups={g: g for g in groups.dropna().unique()}, notes=notes)
