"""Tables a command writes with ``--out``: Parquet, or CSV with the same bytes as pandas.

``DataFrame.to_csv`` formats every cell in Python: 0.6-0.9 s for the 165k rows x 10 columns of
``groupstats churn`` on the many-groups shape, after everything else is done. :func:`write_csv`
formats the columns whole (floats with Python's ``repr``, as pandas does; integers and text in Arrow)
and lets Arrow's CSV writer join them: ~0.25 s for the same bytes. Any column it cannot render
exactly as pandas would (another dtype, text that needs quotes, a header that needs quotes, another
line ending) sends the whole table to ``to_csv``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

#: characters that make pandas quote a field (its default QUOTE_MINIMAL with ',' and '"')
NEEDS_QUOTES = '[,"\r\n]'


def check_table_suffix(out: Path) -> str:
    """The suffix of a table to write, ``.parquet`` or ``.csv`` (ParameterError otherwise)."""
    from groupstats.errors import ParameterError

    suffix = Path(out).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ParameterError(f"--out must end in .parquet or .csv, got {Path(out).name!r}.")
    return suffix


def write_table(frame, out: Path) -> None:
    """``frame`` (without its index and ``attrs``) to ``out``, Parquet or CSV by its suffix."""
    out = Path(out)
    suffix = check_table_suffix(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy(deep=False)  # (the same columns, without the attrs, which Parquet would store)
    frame.attrs = {}
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        write_csv(frame, out)


def write_csv(frame, path) -> bool:
    """``frame.to_csv(path, index=False)``, byte for byte; True if the columns were rendered here, False
    if pandas wrote them (see the module)."""
    columns = _columns_as_text(frame) if os.linesep == "\n" else None
    if columns is None:
        frame.to_csv(path, index=False)
        return False
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "wb") as handle:
        handle.write((",".join(frame.columns) + "\n").encode("utf-8"))
        pacsv.write_csv(pa.table(columns), handle,
                        pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return True


def _columns_as_text(frame) -> dict | None:
    """Each column as Arrow text, as pandas' CSV writer renders it; None if one cannot be."""
    names = list(frame.columns)
    if len(names) < 2 or len(set(names)) != len(names):  # (pandas quotes a lone empty field)
        return None
    if any(not isinstance(n, str) or re.search(NEEDS_QUOTES, n) for n in names):
        return None
    out = {}
    for name in names:
        text = _column_as_text(frame[name])
        if text is None:
            return None
        out[name] = text
    return out


def _column_as_text(column):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.dtype
    if kind == np.dtype(bool):
        return pa.array(np.where(column.to_numpy(), "True", "False"), type=pa.string())
    if kind == np.dtype("int64"):
        return pc.cast(pa.array(column.to_numpy()), pa.string())
    if kind == np.dtype("float64"):
        values = column.to_numpy()
        text = pa.array([repr(v) for v in values.tolist()], type=pa.string())  # pandas: repr; NaN: empty
        missing = np.isnan(values)
        return pc.if_else(pa.array(missing), "", text) if missing.any() else text
    if isinstance(kind, pd.StringDtype) or kind == np.dtype(object):
        try:
            text = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # not all text
            return None
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            return None
        text = text.fill_null("")
        if pc.any(pc.match_substring_regex(text, NEEDS_QUOTES)).as_py():
            return None
        return text
    return None
