"""Churn features at a cutoff (from data up to it only), adaptive windows, and the panel of cutoffs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import _int_us
from groupstats.errors import InsufficientDataError
from groupstats.data.schema import OPERATOR_ROLES
from groupstats.analyses.churn.labels import (
    CHURN_WINDOWS, ChurnDefinition, DEFAULT_ACTIVITY, KEYS, MEMBER_WINDOWS, _activity_times, _fmt, _midnight,
    churn_labels, data_end_day, data_start_day,
)


# ======================================================================================
# features
# ======================================================================================
#: Churn-specific columns added to :func:`groupstats.tables.features.member_features`.
CHURN_FEATURES = ("silent_days", "never_active", "act_days_7d", "act_days_14d", "act_days_28d", "act_trend_14d",
                  "act_repeat_days", "act_age_days", "read_days_14d", "read_trend_14d")


_US_PER_DAY = 86_400_000_000


@dataclass
class _DayCodes:
    """Activity days as integer arrays (one entry per row of the activity-days frame).

    ``pairs`` : MultiIndex of the distinct (group_id, member_id); ``pair`` : int64 row in
    ``pairs``; ``day`` : int64 local date as days since 1970-01-01; ``last_us`` : int64 last
    activity time of the day (UTC microseconds).
    """

    pairs: pd.MultiIndex
    pair: np.ndarray
    day: np.ndarray
    last_us: np.ndarray


def _activity_days(act: pd.DataFrame, tz: str, _codes: bool = False):
    """Distinct (group_id, member_id, date, at_max) activity days, in order of first appearance.

    Computed on integer codes (factorised ids, day numbers) instead of grouping the string
    keys: the same frame as ``groupby([group_id, member_id, date], sort=False)["at"].max()``,
    several times faster at millions of rows. With ``_codes=True`` also returns
    :class:`_DayCodes`.
    """
    at = act["at"]
    g_code, g_uniq = pd.factorize(act["group_id"].to_numpy())
    m_code, m_uniq = pd.factorize(act["member_id"].to_numpy())
    local_us = at.dt.tz_localize(None).dt.as_unit("us").to_numpy().view("int64")
    utc_us = _int_us(at) if len(at) else np.zeros(0, np.int64)
    day = np.floor_divide(local_us, _US_PER_DAY)
    pair = g_code.astype(np.int64) * max(len(m_uniq), 1) + m_code
    d0 = int(day.min()) if len(day) else 0
    n_days = int(day.max()) - d0 + 1 if len(day) else 1
    row_code, row_uniq = pd.factorize(pair * n_days + (day - d0))  # first-appearance order, like sort=False
    last_us = pd.Series(utc_us).groupby(row_code).max().to_numpy() if len(row_code) else np.zeros(0, np.int64)
    row_pair, row_day = np.divmod(np.asarray(row_uniq, dtype=np.int64), n_days)
    row_day = row_day + d0
    pair_code, pair_uniq = pd.factorize(row_pair)
    pair_uniq = np.asarray(pair_uniq, dtype=np.int64)
    pg, pm = np.divmod(pair_uniq, max(len(m_uniq), 1))
    pairs = pd.MultiIndex.from_arrays([pd.Index(g_uniq).take(pg), pd.Index(m_uniq).take(pm)], names=KEYS)
    stamp = pd.Series(last_us.astype("datetime64[us]")).dt.tz_localize("UTC").dt.tz_convert(at.dt.tz)
    frame = pd.DataFrame({"group_id": pairs.get_level_values(0).take(pair_code),
                          "member_id": pairs.get_level_values(1).take(pair_code),
                          "date": (row_day * _US_PER_DAY).astype("datetime64[us]"),
                          "at": stamp.astype(at.dtype)})
    if _codes:
        return frame, _DayCodes(pairs, pair_code.astype(np.int64), row_day, last_us.astype(np.int64))
    return frame


def feature_windows(history_days: float | None) -> dict:
    """Feature windows that fit in ``history_days`` of data before the earliest cutoff a model uses.

    Training and scoring cutoffs must share one definition of each feature, and a window
    longer than the history at the earliest training cutoff would count days before the data
    start there (zeros) but not at the scoring date. So the windows shrink with the history:
    churn windows ``(7, 14, 28)`` capped at the history (e.g. 21 days: 7, 14, 21), the trend
    compares the last half of the longest window with the half before, and the
    member_features windows ``(7, 30, 90)`` are capped the same way (longest = history,
    middle = half of it). With 90 days or more nothing changes.

    Returns
    -------
    dict: ``churn`` (tuple), ``trend`` (int, days per half), ``member`` (tuple).
    """
    h = float("inf") if history_days is None else max(int(history_days), 2)
    if h >= MEMBER_WINDOWS[-1]:
        return {"churn": CHURN_WINDOWS, "trend": CHURN_WINDOWS[-1] // 2, "member": MEMBER_WINDOWS}
    churn_w = tuple(sorted({min(w, h) for w in CHURN_WINDOWS}))
    long_m = int(min(MEMBER_WINDOWS[-1], h))
    member_w = tuple(sorted({min(7, long_m), min(30, max(long_m // 2, 1)), long_m}))
    return {"churn": churn_w, "trend": max(churn_w[-1] // 2, 1), "member": member_w}


def _churn_extras(keys: pd.DataFrame, act_days: pd.DataFrame, read_days: pd.DataFrame | None,
                  joined: pd.Series, cut: pd.Timestamp, start: pd.Timestamp, windows=CHURN_WINDOWS,
                  trend: int | None = None) -> pd.DataFrame:
    """Churn-specific features from activity days strictly before the cutoff's date."""
    windows = tuple(int(w) for w in windows)
    half = int(trend) if trend is not None else windows[-1] // 2
    n = len(keys)
    key_index = pd.MultiIndex.from_frame(keys[KEYS])
    cut_date = np.datetime64(cut.tz_localize(None))
    if isinstance(act_days, _DayCodes):  # integer arrays (the panel): no string keys per row
        cut_day = int((cut_date - np.datetime64(0, "us")) // np.timedelta64(1, "D"))
        pos = np.asarray(key_index.get_indexer(act_days.pairs), dtype=np.int64)
        before = act_days.day < cut_day
        code = pos[act_days.pair[before]]
        keep = code >= 0
        code = code[keep]
        age = cut_day - act_days.day[before][keep]
        day_last_us = act_days.last_us[before][keep]
    else:
        days = act_days.loc[act_days["date"].to_numpy() < cut_date]
        code = np.asarray(key_index.get_indexer(pd.MultiIndex.from_frame(days[KEYS])), dtype=np.int64) \
            if len(days) else np.zeros(0, np.int64)
        keep = code >= 0
        days, code = days.loc[keep], code[keep]
        age = ((cut_date - days["date"].to_numpy()) / np.timedelta64(1, "D")).astype(np.int64)  # 1 = day before
        day_last_us = _int_us(days["at"]) if len(days) else np.zeros(0, np.int64)
    out = pd.DataFrame(index=keys.index)
    last_us = pd.Series(day_last_us).groupby(code).max()
    last_us = last_us.reindex(np.arange(n)).to_numpy(dtype=float)
    first_day = pd.Series(age).groupby(code).max().reindex(np.arange(n)).to_numpy(dtype=float)
    last_day = pd.Series(age).groupby(code).min().reindex(np.arange(n)).to_numpy(dtype=float)
    observed_from = np.maximum(joined.to_numpy(), np.datetime64(start.tz_convert("UTC").tz_localize(None)))
    cut_utc = np.datetime64(cut.tz_convert("UTC").tz_localize(None))
    observed_days = (cut_utc - observed_from) / np.timedelta64(1, "D")
    cut_us = float(_int_us(pd.Series([cut]))[0])
    silent = (cut_us - last_us) / 86_400_000_000
    never = np.isnan(silent)
    out["silent_days"] = np.where(never, np.maximum(observed_days, 0), silent)
    out["never_active"] = never.astype(float)
    for w in windows:
        out[f"act_days_{w}d"] = np.bincount(code[age <= w], minlength=n).astype(float)
    recent_act = np.bincount(code[age <= half], minlength=n).astype(float)
    prev = np.bincount(code[(age > half) & (age <= 2 * half)], minlength=n).astype(float)
    out[f"act_trend_{half}d"] = recent_act - prev
    n_days = np.bincount(code, minlength=n).astype(float)
    out["act_repeat_days"] = np.maximum(n_days - 1, 0)
    out["act_age_days"] = np.where(never, np.nan, first_day)
    out["act_span_days"] = np.where(never, np.nan, first_day - last_day)
    if isinstance(read_days, _DayCodes):
        rpos = np.asarray(key_index.get_indexer(read_days.pairs), dtype=np.int64)
        rbefore = read_days.day < cut_day
        rcode = rpos[read_days.pair[rbefore]]
        ok = rcode >= 0
        rcode, rage = rcode[ok], cut_day - read_days.day[rbefore][ok]
        recent = np.bincount(rcode[rage <= half], minlength=n).astype(float)
        earlier = np.bincount(rcode[(rage > half) & (rage <= 2 * half)], minlength=n).astype(float)
        out[f"read_days_{half}d"] = recent
        out[f"read_trend_{half}d"] = recent - earlier
    elif read_days is not None:
        rd = read_days.loc[read_days["date"].to_numpy() < cut_date]
        rcode = np.asarray(key_index.get_indexer(pd.MultiIndex.from_frame(rd[KEYS])), dtype=np.int64) \
            if len(rd) else np.zeros(0, np.int64)
        rage = ((cut_date - rd["date"].to_numpy()) / np.timedelta64(1, "D")).astype(np.int64)
        ok = rcode >= 0
        rcode, rage = rcode[ok], rage[ok]
        recent = np.bincount(rcode[rage <= half], minlength=n).astype(float)
        earlier = np.bincount(rcode[(rage > half) & (rage <= 2 * half)], minlength=n).astype(float)
        out[f"read_days_{half}d"] = recent
        out[f"read_trend_{half}d"] = recent - earlier
    else:
        out[f"read_days_{half}d"] = np.nan
        out[f"read_trend_{half}d"] = np.nan
    return out


def _parquet_source(ds: Dataset):
    """The Parquet folder ``ds`` was loaded from, opened for :mod:`groupstats.tables.scale`, if its
    tables on disk are exactly the ones in memory; else None.

    Checked cheaply: the dataset has a folder with ``messages.parquet`` (or a folder of
    them), no cutoff of its own, and the same row counts of messages, members, events and
    posts (None in memory = absent on disk). Any edited, cut or rebuilt dataset therefore
    stays on the in-memory path.
    """
    from pathlib import Path

    if ds.path is None or ds.cutoff is not None:
        return None
    folder = Path(ds.path)
    if not ((folder / "messages.parquet").exists() or (folder / "messages").is_dir()):
        return None
    try:
        from groupstats.engine import Source

        src = Source.from_path(folder, tz=ds.tz)
        for name in ("messages", "members", "events", "posts"):
            table = getattr(ds, name)
            if not src.has(name):
                if table is not None and len(table):
                    return None
                continue
            if table is None or int(src.execute(src.raw[name].count())) != len(table):
                return None
        return src
    except Exception:  # noqa: BLE001 - any problem reading the folder: use the in-memory path
        return None


class _Panel:
    """Features and labels of one dataset at several cutoffs, computed once each.

    Features at cutoff c are always computed from data up to c only (as on
    ``ds.as_of(c)``); labels at c use data in (c, c + horizon] only. When ``ds`` is
    unchanged from the Parquet folder it was loaded from, the member features come from
    :func:`groupstats.tables.scale.member_features` (DuckDB over the files: same values, tested in
    tests/test_scale.py, ~4 s instead of ~100 s per cutoff at 10M messages).
    """

    def __init__(self, ds: Dataset, definition: ChurnDefinition, windows: dict | None = None):
        self.ds = ds
        self.definition = definition
        self.windows = windows if windows is not None else feature_windows(None)
        self.start = data_start_day(ds)
        self.end = data_end_day(ds)
        self.activity = _activity_times(ds, definition.activity)
        self.activity_days, self.activity_day_codes = _activity_days(self.activity, ds.tz, _codes=True)
        has_reads = ds.events is not None and (ds.events["event_type"] == "read").any()
        if has_reads:
            ev = ds.events.loc[(ds.events["event_type"] == "read").to_numpy() & ~ds.operator_mask(ds.events)]
            self.read_days, self.read_day_codes = _activity_days(pd.DataFrame(
                {"group_id": ev["group_id"].to_numpy(), "member_id": ev["member_id"].to_numpy(),
                 "at": ev["occurred_at"].reset_index(drop=True)}), ds.tz, _codes=True)
        else:
            self.read_days = self.read_day_codes = None
        self._features: dict = {}
        self._labels: dict = {}
        self.source = _parquet_source(ds)

    def features(self, cut: pd.Timestamp) -> pd.DataFrame:
        if cut not in self._features:
            self._features[cut] = churn_features(self.ds, cut, activity=self.definition.activity, _panel=self)
        return self._features[cut]

    def labels(self, cut: pd.Timestamp, limit: pd.Timestamp) -> pd.DataFrame:
        stop = cut + pd.Timedelta(days=self.definition.horizon)
        if stop > limit:  # guard: a label must never use data after the fit cutoff
            raise InsufficientDataError(f"Labels at {_fmt(cut)} end on {_fmt(stop)}, after {_fmt(limit)}.")
        if cut not in self._labels:
            self._labels[cut] = churn_labels(self.ds, cut, self.definition.horizon, self.definition.kind,
                                             self.definition.activity, _activity=self.activity)
        return self._labels[cut]

    def frame(self, cut: pd.Timestamp, limit: pd.Timestamp | None = None) -> pd.DataFrame:
        """Features at ``cut`` joined with labels (when ``limit`` is given)."""
        feats = self.features(cut)
        if limit is None:
            return feats
        labels = self.labels(cut, limit)
        return feats.merge(labels, on=KEYS, how="inner", validate="one_to_one")


def churn_features(ds: Dataset, cutoff, activity=DEFAULT_ACTIVITY, _panel: _Panel | None = None,
                   windows: dict | None = None) -> pd.DataFrame:
    """Features of every non-operator member present at ``cutoff``, from data up to it only.

    The segmentation features of :func:`groupstats.tables.features.member_features` (computed on
    ``ds.as_of(cutoff)``) plus churn-specific columns from activity days before the
    cutoff's date:

    - ``silent_days``: days since the last activity of the chosen kinds (for members never
      active: days observed, i.e. since the later of their join and the data start);
    - ``never_active`` (0/1); ``act_days_7d``, ``act_days_14d``, ``act_days_28d``: active days
      in the last 7/14/28 days; ``act_trend_14d``: active days in the last 14 days minus in
      the 14 before;
    - ``act_repeat_days``, ``act_age_days``, ``act_span_days``: BG/NBD summary (repeat active
      days, days since the first active day, days from first to last active day);
    - ``read_days_14d``, ``read_trend_14d``: days with a ``read`` event in the last 14 days
      and its change vs the 14 before (NaN without read events).

    ``windows`` (see :func:`feature_windows`) shortens the windows when the history is short
    (the column names then carry the actual windows, e.g. ``act_days_21d``).

    Returns
    -------
    DataFrame, one row per (group_id, member_id), sorted by keys; ``attrs["cutoff"]``.
    """
    from groupstats.tables.features import member_features

    cut = _midnight(ds, cutoff)
    panel = _panel if _panel is not None else _Panel(ds.as_of(cut), ChurnDefinition(activity=tuple(
        activity if not isinstance(activity, str) else (activity,))).validate(), windows)
    wins = getattr(panel, "windows", None) or feature_windows(None)
    source = getattr(panel, "source", None)
    if source is not None:
        from groupstats.tables import scale as scale

        base = scale.member_features(source, cutoff=cut, tz=ds.tz, windows=wins["member"])
    else:
        base = member_features(ds, cutoff=cut, windows=wins["member"])  # cuts the dataset at ``cut`` itself
    base = base.reset_index(drop=True)
    members = ds.members
    members = members.loc[(members["joined_at"] <= cut).to_numpy() & ~members["role"].isin(OPERATOR_ROLES)
                          .to_numpy()]
    joined = members.groupby(KEYS)["joined_at"].min()
    joined = joined.reindex(pd.MultiIndex.from_frame(base[KEYS]))
    joined = joined.dt.tz_convert("UTC").dt.tz_localize(None).reset_index(drop=True)
    extras = _churn_extras(base[KEYS], getattr(panel, "activity_day_codes", panel.activity_days),
                           getattr(panel, "read_day_codes", panel.read_days), joined, cut, panel.start,
                           windows=wins["churn"], trend=wins["trend"])
    out = pd.concat([base, extras.set_axis(base.index)], axis=1)
    out.attrs = dict(base.attrs)
    out.attrs["cutoff"] = cut
    return out


#: Segmentation features left out of the churn models: the message-type and time-of-day mix
#: (``share_text``, ``share_evening``...) describes *how* a member talks, is noisy for members
#: with few messages, and would make per-member drivers that no operator can act on.
EXCLUDED_PREFIX = "share_"
KEPT_SHARES = ("share_replies", "share_mentions")


def model_feature_columns(features: pd.DataFrame) -> list[str]:
    """Numeric feature columns used by the models (keys, labels, message-mix shares and all-NaN
    columns excluded)."""
    skip = {*KEYS, "silent", "left", "churned", "active_before", "cutoff"}
    cols = [c for c in features.columns if c not in skip and pd.api.types.is_numeric_dtype(features[c])
            and not pd.api.types.is_bool_dtype(features[c])
            and (not c.startswith(EXCLUDED_PREFIX) or c in KEPT_SHARES)]
    return [c for c in cols if features[c].notna().any()]
