"""Tables for people: formatted values, headers in the report's language, no positional index.

:func:`people_table` renders a DataFrame as an HTML table that fits the page (cells wrap, a wide
table scrolls inside its own box). Each column is given as ``(column, catalogue key, kind)``:

========== ==========================================================================
kind       shown as
========== ==========================================================================
text       as is (ids and group names are never translated)
int        whole number with thousands separators
num        at most 3 significant decimals, thousands separators
pct        a share as a percentage (0.717 -> 71.7%); ``pct_signed`` adds the sign
p          a p-value: ``< 0.001`` or ``0.032``
date       a date (``YYYY-MM-DD``) in the timestamp's own (the dataset's) time zone
status     ``ok`` / ``warning`` / ``alert`` in the report's language
stage      a lifecycle stage (``decline (181+)``) in the report's language
metrics    comma-separated metric names in the report's language
bool       yes / no in the report's language
code       an identifier of the data (a table or file name), shown as code
========== ==========================================================================
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from groupstats.reports.i18n import CATALOGUE, fmt_num, fmt_p, fmt_pct, t

NUMERIC_KINDS = {"int", "num", "pct", "pct_signed", "p", "days"}


def _date(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    ts = pd.Timestamp(value)
    return f"{ts:%Y-%m-%d}"


def translate_metric(name: str, lang: str) -> str:
    key = f"metric.{name}"
    return t(key, lang) if key in CATALOGUE else name


def format_value(value, kind: str, lang: str) -> str:
    """One cell as text for people."""
    if kind == "int":
        return fmt_num(round(float(value)) if value is not None and pd.notna(value) else None, lang)
    if kind == "num":
        return fmt_num(value, lang)
    if kind == "pct":
        return fmt_pct(value, lang)
    if kind == "pct_signed":
        return fmt_pct(value, lang, signed=True)
    if kind == "p":
        return fmt_p(value)
    if kind == "date":
        return _date(value)
    if kind == "status":
        return t(f"status.{value}", lang) if isinstance(value, str) and f"status.{value}" in CATALOGUE else (
            "–" if value is None or value == "" else str(value))
    if kind == "metrics":
        if not isinstance(value, str) or not value:
            return ""
        return "、".join(translate_metric(m.strip(), lang) for m in value.split(",")) if lang == "zh" else \
            ", ".join(translate_metric(m.strip(), lang) for m in value.split(","))
    if kind == "days":
        if value is None or pd.isna(value):
            return "–"
        return f"{float(value):.0f}" if abs(float(value)) >= 10 else f"{float(value):.1f}"
    if kind == "stage":
        word = str(value).split(" ", 1)[0] if isinstance(value, str) else ""
        return t(f"stage.{word}", lang) if f"stage.{word}" in CATALOGUE else format_value(value, "text", lang)
    if kind == "bool":
        return t("word.yes" if bool(value) else "word.no", lang)
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return "–"
    return str(value)


def format_frame(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], lang: str) -> pd.DataFrame:
    """The formatted frame (text cells, translated headers, positional index dropped)."""
    out = {}
    for col, key, kind in columns:
        header = t(key, lang) if key in CATALOGUE else key
        out[header] = [format_value(v, kind, lang) for v in frame[col].tolist()]
    return pd.DataFrame(out)


def people_table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], lang: str = "zh",
                 tall: bool = False) -> str:
    """HTML of ``frame`` for people (see the module docstring); ``tall`` scrolls a long table."""
    heads = "".join(f"<th>{html.escape(t(key, lang) if key in CATALOGUE else key)}</th>"
                    for _, key, _ in columns)
    rows = []
    for rec in frame[[c for c, _, _ in columns]].itertuples(index=False, name=None):
        cells = []
        for value, (_, _, kind) in zip(rec, columns):
            css = ' class="num"' if kind in NUMERIC_KINDS else ""
            text = html.escape(format_value(value, kind, lang))
            cells.append(f"<td{css}><code>{text}</code></td>" if kind == "code" else f"<td{css}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    wrap = "gs-table-wrap gs-tall" if tall else "gs-table-wrap"
    return (f'<div class="{wrap}"><table class="gs-table"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
