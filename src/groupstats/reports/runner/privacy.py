"""Reports never show raw message text or nicknames: the private values of a dataset and where they
appear in a notebook's outputs."""
from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from pathlib import Path

from groupstats.reports.runner.header import HEADER_TAG, _load_quietly


#: Columns whose values must never appear in a report (raw text, names).
PRIVATE_COLUMNS = ("text", "content", "body", "nickname", "nick_name", "name", "real_name",
                   "display_name", "remark", "sender_name", "member_name", "wechat_id")
#: Shortest private value looked for in report outputs (shorter ones match by chance).
MIN_PRIVATE_LENGTH = 4
#: Private values are matched on their first characters (at most this many).
PRIVATE_KEY_LENGTH = 12


def private_values(data_path: str | Path, dataset=None) -> dict[str, set[str]]:
    """Values of private columns (raw text, names) of a dataset, by ``table.column``.

    Only values of at least :data:`MIN_PRIVATE_LENGTH` characters that are not
    plain numbers or identifiers of the data are kept (short or numeric values
    would match by chance).
    """
    try:
        ds = _load_quietly(data_path) if dataset is None else dataset
    except Exception:
        return {}
    ids: set[str] = set()
    for table in (ds.messages, ds.members):
        for col in ("message_id", "group_id", "member_id"):
            if col in table.columns:
                ids.update(table[col].dropna().astype("str").unique().tolist())
    found: dict[str, set[str]] = {}
    for table_name, table in (("messages", ds.messages), ("members", ds.members)):
        for col in table.columns:
            if str(col).lower() not in PRIVATE_COLUMNS:
                continue
            values = {str(v).strip() for v in table[col].dropna().unique().tolist()}
            values = {v for v in values if len(v) >= MIN_PRIVATE_LENGTH and v not in ids
                      and not re.fullmatch(r"[\d\s.,:+-]+", v)}
            if values:
                found[f"{table_name}.{col}"] = values
    return found


def _output_texts(nb) -> list[str]:
    """Text of every output of a notebook (images excluded)."""
    texts: list[str] = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("tags") and HEADER_TAG in cell.metadata.tags:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                texts.append(out.get("evalue", ""))
                texts.extend(out.get("traceback", []))
            for mime, payload in out.get("data", {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue
                texts.append(payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False))
    return texts


def find_private_values(nb, private: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """Private values that appear in a notebook's outputs, by ``table.column``.

    A value counts as shown when its first :data:`PRIVATE_KEY_LENGTH`
    characters (all of it if shorter) appear in any output text, so a
    truncated display of a long message is caught too. Runs in time linear in
    the size of the outputs (a set lookup per position and distinct length).

    Returns
    -------
    dict of str to list of str
        Column -> values found (empty when the outputs are clean).
    """
    keys: dict[int, dict[str, str]] = {}
    for column, values in private.items():
        for value in values:
            key = value[:PRIVATE_KEY_LENGTH]
            keys.setdefault(len(key), {})[key] = column
    if not keys:
        return {}
    text = "\n".join(_output_texts(nb))
    text = html.unescape(text)
    hits: dict[str, list[str]] = {}
    for length, table in keys.items():
        for start in range(0, max(len(text) - length + 1, 0)):
            piece = text[start:start + length]
            column = table.get(piece)
            if column is not None and piece not in hits.get(column, []):
                hits.setdefault(column, []).append(piece)
    return hits
