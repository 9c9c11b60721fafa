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

import pandas as pd

from groupstats.errors import GroupstatsError, ParameterError
from groupstats.data.schema import MSG_TYPES
from groupstats.data.importers.common import any_timestamp, clean_str, count_mentions, occurrence_ids, read_text
from groupstats.data.importers.rows import Parsed, RejectReason, RowSink, source_label

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
    """Parse one CSV/Excel file with a normalised mapping (see :func:`load_mapping`)."""
    path = Path(path)
    frame = _read(path, spec)
    missing = [spec[k] for k in FIELDS if spec.get(k) and spec[k] not in frame.columns]
    if missing:
        raise GroupstatsError(f"{path.name}: mapped column(s) {', '.join(map(str, missing))} not found; the file "
                              f"has {', '.join(frame.columns)}.")
    sink = RowSink(source_label(path))

    def column(key) -> pd.Series:
        """Cleaned cells as Python objects (None for empty)."""
        if not spec.get(key):
            return pd.Series([None] * len(frame), index=frame.index, dtype="object")
        return pd.Series([clean_str(v) for v in frame[spec[key]].tolist()], index=frame.index, dtype="object")

    groups = column("group")
    if spec.get("group_value"):
        groups = pd.Series([str(spec["group_value"]) if g is None else g for g in groups], dtype="object")
    members, texts, types = column("member"), frame[spec["text"]] if spec.get("text") else None, column("type")
    ids, replies, names = column("message_id"), column("reply_to"), column("name")
    time_format = spec.get("time_format")
    raw_times = frame[spec["time"]]
    unknown_types: dict[str, int] = {}
    pending = []
    for i in range(len(frame)):
        row = i + 1
        sink.n_read += 1
        group, member = groups.iat[i], members.iat[i]
        text = None if texts is None else texts.iat[i]
        text = text if isinstance(text, str) and text.strip() else None
        raw = raw_times.iat[i]
        ts = None
        if time_format and isinstance(raw, str):
            try:
                ts = any_timestamp(pd.Timestamp(pd.to_datetime(raw.strip(), format=time_format)), tz)
            except (ValueError, TypeError):
                ts = None
        else:
            ts = any_timestamp(raw, tz)
        if group is None:
            sink.reject(row, RejectReason.MISSING_GROUP, member=member, text=text)
            continue
        if ts is None:
            sink.reject(row, RejectReason.MISSING_TIMESTAMP, group=group, member=member, text=text)
            continue
        if member is None:
            sink.reject(row, RejectReason.MISSING_SENDER, group=group, sent_at=ts, text=text)
            continue
        source_type = types.iat[i]
        msg_type = "text"
        if source_type is not None:
            msg_type = spec["types"].get(source_type) or (source_type.lower() if source_type.lower() in
                                                          (*MSG_TYPES, "join", "leave") else None)
            if msg_type is None:
                msg_type = "other"
                unknown_types[source_type] = unknown_types.get(source_type, 0) + 1
        if msg_type in ("join", "leave"):
            sink.event(row, group, member, ts, msg_type, "recorded", name=names.iat[i])
            continue
        pending.append(dict(row=row, group=group, member=member, sent_at=ts, msg_type=msg_type,
                            source_type=source_type, text=text if msg_type != "system" else None,
                            msg_id=ids.iat[i], reply=replies.iat[i], name=names.iat[i], key_text=text or ""))
    if pending:
        table = pd.DataFrame(pending)
        key = (table["group"] + "|" + table["member"] + "|" + table["sent_at"].astype(str) + "|"
               + table["source_type"].fillna("") + "|" + table["key_text"])
        fallback = "row:" + occurrence_ids(key)
        table["msg_id"] = table["msg_id"].where(table["msg_id"].notna(), fallback)
        for rec in table.to_dict("records"):
            text = rec["text"] if isinstance(rec["text"], str) else None
            sink.message(rec["row"], group=rec["group"], member=rec["member"], sent_at=rec["sent_at"],
                         msg_type=rec["msg_type"], source_type=rec["source_type"] if isinstance(
                             rec["source_type"], str) else None, source_msg_id=rec["msg_id"],
                         reply_to_source=rec["reply"] if isinstance(rec["reply"], str) else None, text=text,
                         text_len=len(text) if text else 0, n_mentions=count_mentions(text),
                         name=rec["name"] if isinstance(rec["name"], str) else None)
    notes = []
    if unknown_types:
        notes.append(unmapped_types_note(sink.source_file, spec.get("type"), unknown_types))
    return sink.to_parsed(tz, groups={g: g for g in groups if g is not None}, notes=notes)
