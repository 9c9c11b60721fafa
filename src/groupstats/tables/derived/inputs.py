"""What every derived table starts from: the dataset's source cut at ``as_of``, durations, day numbers.

The public functions of :mod:`groupstats.tables.derived` accept a ``Dataset``, a dataset folder or a
:class:`~groupstats.engine.Source`; :func:`_source` turns any of them into the Source they run on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError


def _cut(ds: Dataset, as_of) -> Dataset:
    return ds if as_of is None else ds.as_of(as_of)


def _timedelta(value, name: str) -> pd.Timedelta:
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        # pandas reads a bare "2" as 2 nanoseconds: every windowed count would silently be zero
        raise ParameterError(f"{name} needs a unit: {value!r} is a bare number. Write e.g. {value.strip()}h "
                             f"(hours), {value.strip()}min (minutes) or {value.strip()}D (days).")
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{name} must be a duration such as '2h' or '30min', got {value!r}.") from exc
    if delta <= pd.Timedelta(0):
        raise ParameterError(f"{name} must be positive, got {value!r}.")
    return delta


def _source(ds, as_of=None):
    """The :class:`~groupstats.engine.Source` of ``ds`` (Dataset, folder or Source), cut at ``as_of``."""
    from groupstats.engine import source_of

    if isinstance(ds, Dataset):
        ds = _cut(ds, as_of)
        return source_of(ds)
    src = source_of(ds)
    return src if as_of is None else src.cut(src.timestamp_us(as_of))


def day_to_date(days) -> np.ndarray:
    """Day numbers (days since 1970-01-01) as naive midnight ``datetime64[us]``."""
    return (np.asarray(days, dtype="int64") * 86_400_000_000).astype("datetime64[us]")


def _us(delta: pd.Timedelta) -> int:
    return int(delta / pd.Timedelta(microseconds=1))
