"""Result objects that render as tables and convert to plain data.

Every analysis in groupstats returns one result object. It prints as a tidy
table (``str``), renders as HTML in a notebook (``_repr_html_``), converts to a
DataFrame (``to_frame``) and to a JSON-ready dict (``to_dict``); the CLI's
``--json`` prints ``to_dict()``, so the notebook and the command line show the
same numbers.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON types.

    NaN and infinities become ``None`` so the output is strict JSON.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        if isinstance(value, pd.Timestamp) and pd.isna(value):
            return None
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if value is pd.NaT or value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


class Result:
    """Base class of analysis results.

    Subclasses implement :meth:`to_frame` (the main table) and :meth:`to_dict`
    (everything, JSON-ready), and usually :meth:`conclusion` (plain words
    generated from the numbers, never written by hand).

    Text for people (:meth:`to_string`, :meth:`conclusion`, ``str``, ``_repr_html_``) is drawn
    from the message catalogue (:mod:`groupstats.reports.i18n`) in a language: the ``lang``
    argument, else the object's :attr:`lang` (set with :meth:`in_language`). The CLI passes its
    ``--lang`` (default ``zh``) and the reports their ``lang``; a bare ``str(result)`` in Python is
    English. ``to_dict`` / ``to_frame`` never change with the language.
    """

    #: Title shown above the table (English; :meth:`title_text` gives it in a language).
    title: str = "Result"
    #: Language of ``str(result)`` and ``_repr_html_`` (see :meth:`in_language`).
    lang: str = "en"
    #: The main table for people: ``(column of to_frame(), catalogue key of its header, kind)``
    #: with the kinds of :func:`groupstats.reports.tables.format_value`; ``None``: every column,
    #: headers from ``field.<column>`` where the catalogue has one.
    text_columns: tuple | None = None

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def in_language(self, lang: str | None):
        """Show this result in ``lang`` (``zh`` or ``en``) from now on; returns the result."""
        from groupstats.reports.i18n import check_lang

        self.lang = check_lang(lang)
        return self

    def _lang(self, lang: str | None) -> str:
        from groupstats.reports.i18n import check_lang

        return check_lang(lang if lang is not None else getattr(self, "lang", "en"))

    def title_text(self, lang: str | None = None) -> str:
        """The title in ``lang`` (subclasses draw it from the catalogue)."""
        return self.title

    def conclusion(self, lang: str | None = None) -> str:
        return ""

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        """The main table as text for people: headers in ``lang``, formatted values, no index."""
        from groupstats.reports.i18n import CATALOGUE
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.to_frame()
        columns = self.text_columns
        if columns is None:
            columns = [(c, f"field.{c}" if f"field.{c}" in CATALOGUE else c, "num" if pd.api.types.is_numeric_dtype(frame[c])
                        and not pd.api.types.is_bool_dtype(frame[c]) else
                        "bool" if pd.api.types.is_bool_dtype(frame[c]) else "text") for c in frame.columns]
        return format_frame(frame, [c for c in columns if c[0] in frame.columns], lang)

    def to_json(self, **kwargs) -> str:
        kwargs.setdefault("indent", 2)
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(to_jsonable(self.to_dict()), **kwargs)

    def to_string(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        lang = self._lang(lang)
        frame = self.text_frame(lang)
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 80):
            body = frame.to_string(index=False) if len(frame) else t("result.no_rows", lang)
        text = f"{self.title_text(lang)}\n{body}"
        concl = self.conclusion(lang)
        if concl:
            text += f"\n\n{concl}"
        return text

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def _repr_html_(self) -> str:
        import html as _html

        lang = self._lang(None)
        frame = self.text_frame(lang)
        out = f"<h4>{_html.escape(self.title_text(lang))}</h4>" + frame.to_html(index=False)
        concl = self.conclusion(lang)
        if concl:
            out += "<p>" + _html.escape(concl).replace("\n", "<br>") + "</p>"
        return out
