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
    """

    #: Title shown above the table.
    title: str = "Result"

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def conclusion(self) -> str:
        return ""

    def to_json(self, **kwargs) -> str:
        kwargs.setdefault("indent", 2)
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(to_jsonable(self.to_dict()), **kwargs)

    def to_string(self) -> str:
        frame = self.to_frame()
        with pd.option_context("display.width", 160, "display.max_columns", 50,
                               "display.float_format", "{:.4g}".format):
            body = frame.to_string(index=False) if len(frame) else "(no rows)"
        text = f"{self.title}\n{body}"
        concl = self.conclusion()
        if concl:
            text += f"\n\n{concl}"
        return text

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        html = f"<h4>{self.title}</h4>" + frame.to_html(index=False, float_format="{:.4g}".format)
        concl = self.conclusion()
        if concl:
            html += "<p>" + concl.replace("\n", "<br>") + "</p>"
        return html
