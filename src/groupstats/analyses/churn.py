"""Churn risk: labels, time-split models, "how long is gone?", survival views.

What "churn" means is configurable (:class:`ChurnDefinition`):

- ``silent``: no activity of the chosen kinds (default: a member message; event
  types such as ``read`` or ``sign_in`` can be added) in the ``horizon`` days
  after the cutoff (default 30 days, the playbook's "流失用户: 连续30天无互动"
  rule, article "微信群如何经营和管理(微信群运营与管理)");
- ``left``: the member leaves the group within the horizon;
- ``either``: silent or left.

Time conventions
----------------
A cutoff is the start (local midnight) of a date. **Features** come only from
data up to the cutoff (:func:`groupstats.tables.features.member_features` on
``ds.as_of(cutoff)`` plus a few churn-specific columns from the member's
activity before the cutoff); **labels** come only from data in
``(cutoff, cutoff + horizon]``. Members scored at a cutoff are the non-operator
members present at it.

Time-split training (:class:`ChurnRiskModel`)
---------------------------------------------
To score at a date ``s`` the model uses only data up to ``s``: it is calibrated
on the cutoff ``s - horizon`` (whose outcome window ends at ``s``) and trained
on ``n_train_cutoffs`` earlier cutoffs ``s - horizon - k * step_days``
(k = 1, 2, ...), each with at least ``min_history_days`` of data before it.
Scoring therefore needs ``min_history_days + step_days + horizon`` days of
history; :func:`backtest` evaluates the same procedure at an earlier cutoff
``e`` (fitted with data up to ``e``, judged on what happened in
``(e, e + horizon]``). Calibration uses a later cutoff than training, never
random folds across time.

Models: ``recency`` (days since the last activity alone: the baseline),
``logistic`` (L2-regularised logistic regression), ``hgb`` (scikit-learn
HistGradientBoosting), each Platt-calibrated on the calibration cutoff, and
``bgnbd`` (the BG/NBD model of :mod:`groupstats.stats.bgnbd` fitted on member active
days up to the cutoff; its score is P(no activity in the next ``horizon``
days), compared on the same target).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import _int_us, local_date, member_messages
from groupstats.errors import ConvergenceError, InsufficientDataError, NotFittedError, ParameterError, StatisticalWarning
from groupstats.results import Result, to_jsonable
from groupstats.data.schema import OPERATOR_ROLES

__all__ = [
    "ChurnDefinition", "churn_labels", "churn_features", "plan_cutoffs", "ChurnRiskModel", "BGNBDChurn",
    "backtest", "ChurnBacktest", "churn_risk", "ChurnRiskResult", "silence_spells", "how_long_is_gone",
    "SilenceReturn", "churn_survival", "ChurnSurvival", "classification_metrics", "paired_auc_bootstrap",
    "plot_roc", "plot_calibration", "plot_churn_survival",
]

#: Default churn horizon: the playbook's churn rule "流失用户: 连续30天无互动" (article
#: "微信群如何经营和管理(微信群运营与管理)"; also "休眠期(30天未互动)" in "微信群怎么互动(群聊互动技巧)").
DEFAULT_HORIZON_DAYS = 30
DEFINITIONS = ("silent", "left", "either")
DEFAULT_ACTIVITY = ("message",)
MODELS = ("recency", "logistic", "hgb", "bgnbd")
#: Statistical defaults (not playbook rules): history behind the first training cutoff,
#: spacing of training cutoffs, number of training cutoffs.
MIN_HISTORY_DAYS = 14
STEP_DAYS = 7
N_TRAIN_CUTOFFS = 3
#: Feature windows (days) with enough history: active days in the last 7/14/28 days, 14-day trends;
#: member_features' 7/30/90-day windows. With less history they shrink (:func:`feature_windows`).
CHURN_WINDOWS = (7, 14, 28)
MEMBER_WINDOWS = (7, 30, 90)
#: Folds (by group) for the cross-fitted calibration when only one labelled cutoff fits.
CROSS_FIT_FOLDS = 5
#: Activity levels used as segments when none are given: active days in the 28 days
#: before the cutoff (statistical bins, not playbook rules).
ACTIVITY_LEVELS = ((0, "none"), (1, "low (1-3 days)"), (4, "medium (4-13 days)"), (14, "high (14+ days)"))
KEYS = ["group_id", "member_id"]
_DAY = pd.Timedelta(days=1)


# ======================================================================================
# definitions and time helpers
# ======================================================================================
@dataclass(frozen=True)
class ChurnDefinition:
    """What counts as churn.

    Parameters
    ----------
    kind : {"silent", "left", "either"}, default "silent"
    horizon : int, default 30
        Days after the cutoff in which the member must stay silent / may leave.
    activity : tuple of str, default ("message",)
        Kinds of activity that count as "not silent": ``"message"`` (a member message,
        system messages excluded) and/or event types of the ``events`` table
        (``"read"``, ``"click"``, ``"sign_in"``...).
    """

    kind: str = "silent"
    horizon: int = DEFAULT_HORIZON_DAYS
    activity: tuple = DEFAULT_ACTIVITY

    def validate(self) -> "ChurnDefinition":
        if self.kind not in DEFINITIONS:
            raise ParameterError(f"definition must be one of {', '.join(DEFINITIONS)}, not {self.kind!r}.")
        if not isinstance(self.horizon, (int, np.integer)) or isinstance(self.horizon, bool) or self.horizon < 1:
            raise ParameterError(f"horizon must be a whole number of days >= 1, got {self.horizon!r}.")
        activity = tuple(self.activity) if not isinstance(self.activity, str) else (self.activity,)
        if not activity or not all(isinstance(a, str) and a for a in activity):
            raise ParameterError("activity must be a non-empty list of kinds such as ('message', 'read').")
        return ChurnDefinition(self.kind, int(self.horizon), activity)

    def describe(self) -> str:
        acts = " or ".join("a message" if a == "message" else f"a '{a}' event" for a in self.activity)
        silent = f"no {acts.replace('a ', '', 1) if len(self.activity) == 1 else 'activity (' + acts + ')'}"
        text = {"silent": f"{silent} in the {self.horizon} days after the cutoff",
                "left": f"leaves the group within {self.horizon} days after the cutoff",
                "either": f"{silent} in the {self.horizon} days after the cutoff, or leaves the group in them"}
        return text[self.kind]


def _definition(definition, horizon, activity) -> ChurnDefinition:
    if isinstance(definition, ChurnDefinition):
        return definition.validate()
    return ChurnDefinition(definition, horizon, tuple(activity) if not isinstance(activity, str)
                           else (activity,)).validate()


def _midnight(ds: Dataset, value) -> pd.Timestamp:
    """Local midnight at the start of the date of ``value`` (tz-aware)."""
    ts = ds.timestamp(value)
    return ts.tz_localize(None).normalize().tz_localize(ds.tz, nonexistent="shift_forward", ambiguous=False)


def data_start_day(ds: Dataset) -> pd.Timestamp:
    """Midnight of the first message's date."""
    if len(ds.messages) == 0:
        raise InsufficientDataError("The dataset has no messages; churn analysis needs message history.")
    return _midnight(ds, ds.date_range()[0])


def data_end_day(ds: Dataset) -> pd.Timestamp:
    """End of observation: the dataset's cutoff, else midnight after the last message's date."""
    if ds.cutoff is not None:
        return ds.cutoff
    if len(ds.messages) == 0:
        raise InsufficientDataError("The dataset has no messages; churn analysis needs message history.")
    return _midnight(ds, ds.date_range()[1]) + _DAY


def _fmt(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d}"


# ======================================================================================
# activity, presence, labels
# ======================================================================================
def _operator_pairs(ds: Dataset) -> pd.MultiIndex:
    ops = ds.operators
    return pd.MultiIndex.from_frame(ops) if len(ops) else pd.MultiIndex.from_arrays([[], []], names=KEYS)


def _activity_times(ds: Dataset, activity: tuple) -> pd.DataFrame:
    """(group_id, member_id, at) of every non-operator activity of the chosen kinds."""
    frames = []
    if "message" in activity:
        msgs = member_messages(ds)
        frames.append(pd.DataFrame({"group_id": msgs["group_id"].to_numpy(),
                                    "member_id": msgs["member_id"].to_numpy(),
                                    "at": msgs["sent_at"].reset_index(drop=True)}))
    kinds = [a for a in activity if a != "message"]
    if kinds:
        events = ds.require("events", f"churn defined by {', '.join(kinds)} events")
        ev = events.loc[events["event_type"].isin(kinds).to_numpy() & ~ds.operator_mask(events)]
        if ev.empty and "message" not in activity:
            raise InsufficientDataError(f"The events table has no {', '.join(kinds)} events; churn cannot be "
                                        f"defined by them. Add 'message' to the activity kinds.")
        frames.append(pd.DataFrame({"group_id": ev["group_id"].to_numpy(), "member_id": ev["member_id"].to_numpy(),
                                    "at": ev["occurred_at"].dt.tz_convert(ds.tz).dt.as_unit("us")
                                    .reset_index(drop=True)}))
    out = pd.concat(frames, ignore_index=True)
    return out


def present_members(ds: Dataset, cutoff) -> pd.DataFrame:
    """Non-operator memberships present at ``cutoff``: group_id, member_id, joined_at, left_at.

    ``left_at`` is the membership's (possibly later) leaving time from the full data; use
    it only for labels.
    """
    cut = ds.timestamp(cutoff)
    m = ds.members
    keep = (m["joined_at"] <= cut) & (m["left_at"].isna() | (m["left_at"] > cut))
    keep &= ~m["role"].isin(OPERATOR_ROLES)
    rows = m.loc[keep, [*KEYS, "joined_at", "left_at"]]
    ops = _operator_pairs(ds)
    if len(ops):
        rows = rows.loc[~pd.MultiIndex.from_frame(rows[KEYS]).isin(ops)]
    rows = rows.sort_values([*KEYS, "joined_at"], kind="stable").drop_duplicates(KEYS, keep="last")
    return rows.reset_index(drop=True)


def churn_labels(ds: Dataset, cutoff, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                 activity=DEFAULT_ACTIVITY, _activity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Churn outcome of every non-operator member present at ``cutoff``, from data after it only.

    Parameters
    ----------
    ds : Dataset
    cutoff : date
        Taken at local midnight (start of the date).
    horizon : int, default 30
    definition : {"silent", "left", "either"}
    activity : tuple of str
        See :class:`ChurnDefinition`.

    Returns
    -------
    DataFrame, one row per (group_id, member_id), sorted by keys
        ``silent`` (no activity in (cutoff, cutoff + horizon]), ``left`` (left in that
        window), ``churned`` (per ``definition``), ``active_before`` (any activity in the
        ``horizon`` days before the cutoff: the members whose churn is not obvious).

    Raises
    ------
    InsufficientDataError
        The data do not extend ``horizon`` days past the cutoff.
    """
    d = _definition(definition, horizon, activity)
    cut = _midnight(ds, cutoff)
    end = data_end_day(ds)
    stop = cut + pd.Timedelta(days=d.horizon)
    if stop > end:
        raise InsufficientDataError(
            f"Churn labels at {_fmt(cut)} need {d.horizon} days of data after it (to {_fmt(stop)}); the data end "
            f"on {_fmt(end)}. Use a cutoff on or before {_fmt(end - pd.Timedelta(days=d.horizon))} or a shorter "
            f"horizon.")
    members = present_members(ds, cut)
    act = _activity_times(ds, d.activity) if _activity is None else _activity
    key_index = pd.MultiIndex.from_frame(members[KEYS])
    at = act["at"]
    after = act.loc[((at > cut) & (at <= stop)).to_numpy()]
    before = act.loc[((at <= cut) & (at > cut - pd.Timedelta(days=d.horizon))).to_numpy()]
    spoke_after = key_index.isin(pd.MultiIndex.from_frame(after[KEYS])) if len(after) else np.zeros(len(members),
                                                                                                     bool)
    active_before = key_index.isin(pd.MultiIndex.from_frame(before[KEYS])) if len(before) else \
        np.zeros(len(members), bool)
    left = (members["left_at"].notna() & (members["left_at"] <= stop)).to_numpy()
    silent = ~np.asarray(spoke_after)
    churned = {"silent": silent, "left": left, "either": silent | left}[d.kind]
    out = members[KEYS].copy()
    out["silent"] = silent
    out["left"] = left
    out["churned"] = churned
    out["active_before"] = np.asarray(active_before)
    out.attrs.update({"cutoff": cut, "horizon": d.horizon, "definition": d.kind, "activity": list(d.activity)})
    return out


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


# ======================================================================================
# cutoff plan
# ======================================================================================
def plan_cutoffs(ds: Dataset, scoring_cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS,
                 n_train_cutoffs: int = N_TRAIN_CUTOFFS, step_days: int = STEP_DAYS,
                 min_history_days: int = MIN_HISTORY_DAYS) -> dict:
    """Labelled cutoffs for scoring at ``scoring_cutoff`` with data up to it only.

    A labelled cutoff ``c`` fits when its outcomes are observed by the scoring date
    (``c + horizon <= scoring``) and it has at least ``min_history_days`` of data before it.
    The candidates are ``scoring - horizon - k * step_days`` (k = 0, 1, ...):

    - two or more fit (``mode="time_split"``): calibration on the latest
      (``scoring - horizon``), training on up to ``n_train_cutoffs`` earlier ones;
    - exactly one fits (``mode="cross_fit"``): the model is trained on it and calibrated by
      cross-fitting across groups at that cutoff (out-of-fold scores of held-out groups);
      there is then no later cutoff to calibrate on and no out-of-time backtest.

    Returns
    -------
    dict with ``scoring`` (Timestamp), ``mode``, ``calibration`` (Timestamp, or None in
    cross-fit mode), ``train`` (list of Timestamps, latest first), ``history_days`` (days
    of data before the earliest training cutoff: the feature windows adapt to it, see
    :func:`feature_windows`), ``history_needed_days`` (for this mode) and
    ``history_needed_days_time_split``.

    Raises
    ------
    InsufficientDataError
        Not even one labelled cutoff fits: the message says how many days of history
        before the scoring date are needed.
    """
    for name, value, low in (("horizon", horizon, 1), ("n_train_cutoffs", n_train_cutoffs, 1),
                             ("step_days", step_days, 1), ("min_history_days", min_history_days, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ParameterError(f"{name} must be a whole number >= {low}, got {value!r}.")
    start = data_start_day(ds)
    scoring = data_end_day(ds) if scoring_cutoff is None else _midnight(ds, scoring_cutoff)
    latest = scoring - pd.Timedelta(days=horizon)
    earliest_ok = start + pd.Timedelta(days=min_history_days)
    one = min_history_days + horizon
    full = min_history_days + step_days + horizon
    if latest < earliest_ok:
        have = (scoring - start) / _DAY
        raise InsufficientDataError(
            f"Too little history to train a churn model for scoring on {_fmt(scoring)}: it needs at least "
            f"{one} days of data before the scoring date (one labelled cutoff: {min_history_days} days of history "
            f"for the features + the {horizon}-day horizon, whose outcomes must be observed by the scoring date), "
            f"i.e. data starting on or before {_fmt(scoring - pd.Timedelta(days=one))}; the data start on "
            f"{_fmt(start)} ({have:.0f} days before). Use a scoring date on or after "
            f"{_fmt(start + pd.Timedelta(days=one))}, a shorter horizon, or more history. (With {full} days the "
            f"model is also calibrated on a later cutoff than it is trained on.)")
    train = [latest - pd.Timedelta(days=step_days * k) for k in range(1, n_train_cutoffs + 1)]
    train = [c for c in train if c >= earliest_ok]
    base = {"scoring": scoring, "history_needed_days_time_split": full}
    if not train:
        return {**base, "mode": "cross_fit", "calibration": None, "train": [latest],
                "history_days": float((latest - start) / _DAY), "history_needed_days": one}
    return {**base, "mode": "time_split", "calibration": latest, "train": train,
            "history_days": float((min(train) - start) / _DAY), "history_needed_days": full}


# ======================================================================================
# models
# ======================================================================================
def _one_thread():
    """Limit BLAS/OpenMP threads: on small data, scikit-learn's HistGradientBoosting is many
    times faster single-threaded than with threads competing for a few shared cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(1)


def _signed_log(x):
    return np.sign(x) * np.log1p(np.abs(x))


def _make_estimator(model: str, random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if model == "hgb":
        return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=100, max_leaf_nodes=15,
                                              min_samples_leaf=40, l2_regularization=1.0, early_stopping=False,
                                              random_state=random_state)
    # logistic and recency: L2-regularised logistic regression on signed-log, standardised features
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         FunctionTransformer(_signed_log), StandardScaler(),
                         LogisticRegression(C=0.5, max_iter=5000))


class _Platt:
    """Platt scaling of a score's logit, fitted on a later cutoff than the model."""

    def fit(self, p_raw: np.ndarray, y: np.ndarray) -> "_Platt":
        from sklearn.linear_model import LogisticRegression

        self.identity_ = len(np.unique(y)) < 2
        if not self.identity_:
            self.lr_ = LogisticRegression(C=1e4, max_iter=1000).fit(self._logit(p_raw)[:, None], y)
        return self

    @staticmethod
    def _logit(p):
        p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def transform(self, p_raw: np.ndarray) -> np.ndarray:
        if self.identity_:
            return np.asarray(p_raw, float)
        return self.lr_.predict_proba(self._logit(p_raw)[:, None])[:, 1]


class ChurnRiskModel:
    """Time-split churn classifier: trained on earlier cutoffs, calibrated on a later one.

    Parameters
    ----------
    model : {"recency", "logistic", "hgb"}, default "hgb"
        ``recency`` uses only ``silent_days`` (the baseline); ``logistic`` is an
        L2-regularised logistic regression (C = 0.5 on standardised signed-log features);
        ``hgb`` is a HistGradientBoostingClassifier.
    horizon, definition, activity
        See :class:`ChurnDefinition`.
    n_train_cutoffs, step_days, min_history_days
        See :func:`plan_cutoffs`.
    calibrate : bool, default True
        Platt-scale the scores on the calibration cutoff.
    random_state : int, default 0

    Attributes (after ``fit``)
    --------------------------
    cutoffs_ : dict (scoring, calibration, train)
    feature_names_ : list of str
    estimator_ : fitted scikit-learn estimator
    reference_ : Series, the training medians (the "typical member" used for drivers)
    n_train_, n_calibration_ : int
    """

    def __init__(self, model: str = "hgb", horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                 activity=DEFAULT_ACTIVITY, n_train_cutoffs: int = N_TRAIN_CUTOFFS, step_days: int = STEP_DAYS,
                 min_history_days: int = MIN_HISTORY_DAYS, calibrate: bool = True, random_state: int = 0):
        self.model = model
        self.horizon = horizon
        self.definition = definition
        self.activity = activity
        self.n_train_cutoffs = n_train_cutoffs
        self.step_days = step_days
        self.min_history_days = min_history_days
        self.calibrate = calibrate
        self.random_state = random_state

    def _def(self) -> ChurnDefinition:
        return _definition(self.definition, self.horizon, self.activity)

    def fit(self, ds: Dataset, cutoff=None, _panel: _Panel | None = None) -> "ChurnRiskModel":
        """Fit for scoring at ``cutoff`` (default: end of data) using only data up to it."""
        if self.model not in ("recency", "logistic", "hgb"):
            raise ParameterError(f"model must be 'recency', 'logistic' or 'hgb' (BG/NBD is BGNBDChurn), "
                                 f"not {self.model!r}.")
        d = self._def()
        plan = plan_cutoffs(ds, cutoff, d.horizon, self.n_train_cutoffs, self.step_days, self.min_history_days)
        limit = plan["scoring"]
        panel = _panel if _panel is not None else _Panel(ds.as_of(limit), d, feature_windows(plan["history_days"]))
        train = pd.concat([panel.frame(c, limit) for c in plan["train"]], ignore_index=True)
        cross_fit = plan["mode"] == "cross_fit"
        calib = train if cross_fit else panel.frame(plan["calibration"], limit)
        y = train["churned"].to_numpy(dtype=int)
        if len(np.unique(y)) < 2:
            raise InsufficientDataError(
                f"At the training cutoffs ({', '.join(_fmt(c) for c in plan['train'])}) every member has the same "
                f"outcome ({'churned' if y[0] else 'not churned'}), so no model can be trained. Use another "
                f"definition or horizon, or more data.")
        names = ["silent_days"] if self.model == "recency" else model_feature_columns(train)
        estimator = _make_estimator(self.model, self.random_state)
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore", RuntimeWarning)
            estimator.fit(train[names].to_numpy(dtype=float), y)
        self.estimator_ = estimator
        self.feature_names_ = names
        self.reference_ = train[names].median(numeric_only=True).reindex(names)
        self.cutoffs_ = plan
        self.n_train_ = len(train)
        self.n_calibration_ = len(calib)
        self.train_base_rate_ = float(y.mean())
        self.windows_ = dict(panel.windows)
        if cross_fit:  # one labelled cutoff: out-of-fold scores of held-out groups stand in for a later cutoff
            raw = self._cross_fitted(train[names].to_numpy(dtype=float), y, train["group_id"].to_numpy())
            y_cal = y
        else:
            raw = self._raw(calib[names].to_numpy(dtype=float))
            y_cal = calib["churned"].to_numpy(dtype=int)
        ok = raw is not None and 0 < y_cal.sum() < len(y_cal)
        self.selection_auc_ = float(_weighted_auc(y_cal, raw, np.ones((1, len(y_cal))))[0]) if ok else np.nan
        self.calibrator_ = _Platt().fit(raw, y_cal) if self.calibrate and raw is not None else None
        if self.calibrate and (self.calibrator_ is None or self.calibrator_.identity_):
            where = (f"the calibration cutoff {_fmt(plan['calibration'])}" if not cross_fit else
                     f"the one labelled cutoff {_fmt(plan['train'][0])} (cross-fitted across groups)")
            warnings.warn(f"Scores are not calibrated: at {where} all members have the same outcome or there are "
                          f"fewer than 2 groups to cross-fit.", StatisticalWarning, stacklevel=2)
            self.calibrator_ = None
        return self

    def _cross_fitted(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
        """Out-of-fold raw scores: groups split into :data:`CROSS_FIT_FOLDS` folds, each scored by a
        model fitted on the other folds (members of a group share outcomes, so whole groups are held
        out). None with fewer than 2 groups."""
        codes, uniq = pd.factorize(groups)
        n_folds = min(CROSS_FIT_FOLDS, len(uniq))
        if n_folds < 2:
            return None
        rng = np.random.default_rng(self.random_state)
        fold = (rng.permutation(len(uniq)) % n_folds)[codes]
        oof = np.empty(len(y))
        for f in range(n_folds):
            fit_rows = fold != f
            if len(np.unique(y[fit_rows])) < 2:
                oof[~fit_rows] = y[fit_rows].mean()
                continue
            est = _make_estimator(self.model, self.random_state)
            with warnings.catch_warnings(), _one_thread():
                warnings.simplefilter("ignore", RuntimeWarning)
                est.fit(X[fit_rows], y[fit_rows])
                oof[~fit_rows] = est.predict_proba(X[~fit_rows])[:, 1]
        self.n_cross_fit_folds_ = n_folds
        return oof

    def _check(self):
        if not hasattr(self, "estimator_"):
            raise NotFittedError("This ChurnRiskModel is not fitted yet; call .fit(ds, cutoff) first.")

    def _raw(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.estimator_.predict_proba(X)[:, 1]

    def predict_proba_frame(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability for each row of a feature frame, shape (n,)."""
        self._check()
        missing = [c for c in self.feature_names_ if c not in features.columns]
        if missing:
            raise ParameterError(
                f"The feature frame lacks {missing}: this model uses the feature windows {self.windows_} (shortened to "
                f"the history before its earliest training cutoff). Compute features with "
                f"churn_features(ds, cutoff, windows=model.windows_), or call model.score(ds, cutoff).")
        raw = self._raw(features[self.feature_names_].to_numpy(dtype=float))
        return self.calibrator_.transform(raw) if self.calibrator_ is not None else raw

    def score(self, ds: Dataset, cutoff=None, n_drivers: int = 3, _panel: _Panel | None = None) -> pd.DataFrame:
        """Risk of every member present at ``cutoff`` (default: the cutoff fitted for).

        Returns
        -------
        DataFrame with group_id, member_id, risk, driver_1..n_drivers, top_drivers and the
        features.
        """
        self._check()
        cut = self.cutoffs_["scoring"] if cutoff is None else _midnight(ds, cutoff)
        feats = (_panel.features(cut) if _panel is not None else churn_features(ds, cut, self._def().activity,
                                                                                windows=self.windows_))
        out = feats.copy()
        out["risk"] = self.predict_proba_frame(feats)
        drivers = self.drivers(feats, n_drivers)
        return pd.concat([out, drivers.set_axis(out.index)], axis=1)

    def drivers(self, features: pd.DataFrame, n_drivers: int = 3) -> pd.DataFrame:
        """The features that push each member's risk up most.

        For each feature j, ``effect_j = risk(x) - risk(x with x_j set to the training
        median)``; the ``n_drivers`` largest positive effects are reported (fewer if fewer
        are positive).

        Returns
        -------
        DataFrame (n, n_drivers + 1): ``driver_1``.. (feature names, "" if none) and
        ``top_drivers`` ("silent_days=21 (+0.18); ..." text).
        """
        self._check()
        X = features[self.feature_names_].to_numpy(dtype=float)
        base = self.predict_proba_frame(features)
        effects = np.empty((len(X), len(self.feature_names_)))
        for j, name in enumerate(self.feature_names_):  # one pass per feature (a couple of dozen)
            Xj = X.copy()
            Xj[:, j] = self.reference_[name]
            raw = self._raw(Xj)
            pj = self.calibrator_.transform(raw) if self.calibrator_ is not None else raw
            effects[:, j] = base - pj
        order = np.argsort(-effects, axis=1, kind="stable")[:, :n_drivers]
        top_eff = np.take_along_axis(effects, order, axis=1)
        names = np.asarray(self.feature_names_, dtype=object)[order]
        values = np.take_along_axis(X, order, axis=1)
        out = pd.DataFrame(index=features.index)
        texts = pd.Series("", index=range(len(X)), dtype="str")
        for k in range(order.shape[1]):
            ok = top_eff[:, k] >= 0.0005
            out[f"driver_{k + 1}"] = np.where(ok, names[:, k], "")
            piece = (pd.Series(names[:, k]).astype("str") + "="
                     + pd.Series(values[:, k]).round(2).astype("str").fillna("missing")
                     + " (+" + pd.Series(top_eff[:, k]).round(3).astype("str").fillna("?") + ")")
            piece = piece.where(ok, "").fillna("")
            sep = pd.Series(np.where((texts != "").to_numpy() & (piece != "").to_numpy(), "; ", ""), dtype="str")
            texts = texts + sep + piece
        out["top_drivers"] = texts.to_numpy()
        return out.astype({c: "str" for c in out.columns})


class BGNBDChurn:
    """BG/NBD "probability of no activity within the horizon" as a churn score.

    Fitted at a cutoff on member *active days* before it (frequency = repeat active days,
    recency = days from the first to the last active day, T = days from the first active
    day to the cutoff), by maximum likelihood (:class:`groupstats.stats.bgnbd.BetaGeoModel`).
    Needs no labels, so it is fitted on the data up to the scoring cutoff itself. Members
    never active before the cutoff get x = 0, t_x = 0 and T = days observed (since the
    later of their join and the data start). Histories of members present before the
    data start are left-truncated (their first observed day is taken as their first).

    Parameters
    ----------
    horizon : int
    penalizer : float, default 0.001
        Small L2 penalty for numerical stability (see BetaGeoModel).
    """

    def __init__(self, horizon: int = DEFAULT_HORIZON_DAYS, penalizer: float = 0.001):
        self.horizon = horizon
        self.penalizer = penalizer

    @staticmethod
    def _rfm(features: pd.DataFrame):
        never = features["never_active"].to_numpy() > 0
        x = np.where(never, 0.0, features["act_repeat_days"].to_numpy(dtype=float))
        T = np.where(never, features["silent_days"].to_numpy(dtype=float),
                     features["act_age_days"].to_numpy(dtype=float))
        tx = np.where(never, 0.0, features["act_span_days"].to_numpy(dtype=float))
        T = np.maximum(np.nan_to_num(T, nan=0.0), 0.0)
        tx = np.clip(np.nan_to_num(tx, nan=0.0), 0.0, T)
        tx = np.where(x == 0, 0.0, tx)
        return x, tx, T, never

    def fit(self, features: pd.DataFrame) -> "BGNBDChurn":
        """Fit on the churn features at a cutoff (only members active before it)."""
        from groupstats.stats.bgnbd import BetaGeoModel

        x, tx, T, never = self._rfm(features)
        use = ~never & (T > 0)
        if use.sum() < 20 or not np.any(x[use] > 0):
            raise InsufficientDataError(f"BG/NBD needs a few dozen members with repeat active days before the "
                                        f"cutoff; there are {int(use.sum())} members with any activity.")
        self.boundary_ = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                self.model_ = BetaGeoModel(penalizer=self.penalizer).fit(x[use], tx[use], T[use])
        except ConvergenceError:
            # Chat activity often puts the MLE on the boundary a, b -> 0 (members either never drop
            # out or drop out at once), where BetaGeoModel.fit stops; maximise the same likelihood
            # with the log-parameters bounded instead (at_boundary_ and its warning are reported
            # through boundary_ / "boundary_fit").
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                self.model_ = BetaGeoModel(log_bounds=(-9.0, 9.0)).fit(x[use], tx[use], T[use])
            self.boundary_ = True
        self.params_ = self.model_.params_
        self.n_fit_ = int(use.sum())
        return self

    def predict_no_activity(self, features: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("This BGNBDChurn is not fitted yet; call .fit(features) first.")
        x, tx, T, _ = self._rfm(features)
        return np.asarray(self.model_.probability_no_activity(self.horizon, x, tx, T), dtype=float)


# ======================================================================================
# metrics
# ======================================================================================
def classification_metrics(y, p, fractions=(0.1, 0.2)) -> dict:
    """ROC AUC, PR AUC (average precision), Brier score, lift and capture at top fractions.

    ``lift_10`` = churn rate among the 10% highest scores / overall churn rate; ``capture_10``
    = share of all churners found in that top 10% (ties broken by row order).
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n, pos = len(y), int(y.sum())
    out = {"n": n, "n_churned": pos, "base_rate": pos / n if n else np.nan}
    two = 0 < pos < n
    out["roc_auc"] = float(roc_auc_score(y, p)) if two else np.nan
    out["pr_auc"] = float(average_precision_score(y, p)) if two else np.nan
    out["brier"] = float(brier_score_loss(y, np.clip(p, 0, 1))) if n else np.nan
    out["calibration_intercept"], out["calibration_slope"] = calibration_line(y, p) if two else (np.nan, np.nan)
    order = np.argsort(-p, kind="stable")
    for f in fractions:
        k = max(1, int(np.ceil(f * n))) if n else 0
        hits = int(y[order[:k]].sum()) if k else 0
        tag = f"{round(f * 100)}"
        out[f"capture_{tag}"] = hits / pos if pos else np.nan
        out[f"lift_{tag}"] = (hits / k) / out["base_rate"] if pos and k else np.nan
    return out


def calibration_line(y, p) -> tuple[float, float]:
    """Calibration intercept and slope: the logistic regression of the outcome on ``logit(p)``
    (Cox 1958). Perfect calibration is (0, 1); a slope below 1 means the scores are too
    extreme (overfitted), an intercept above 0 means risks are underestimated on average.
    Fitted by Newton's method (scores clipped to [1e-6, 1 - 1e-6])."""
    y = np.asarray(y, float)
    x = np.log(np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6))
    x = x - np.log1p(-np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6))
    X = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        W = mu * (1 - mu)
        H = X.T @ (X * W[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, X.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def _weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of weights ``W`` (B, n), ties counted half; shape (B,)."""
    order = np.argsort(score, kind="mergesort")
    s, yy, W = score[order], y[order].astype(bool), W[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(W * yy, starts, axis=1)
    neg = np.add.reduceat(W * ~yy, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def paired_auc_bootstrap(y, score_a, score_b, clusters=None, n_boot: int = 1000, alpha: float = 0.05,
                         random_state: int = 0) -> dict:
    """Paired (cluster) bootstrap of the ROC AUC difference ``AUC(a) - AUC(b)``.

    Clusters (default: each row) are resampled with replacement; both scores are judged
    on the same resample. Vectorised: each replicate is a weight vector (cluster
    multiplicities), and weighted AUCs are computed for all replicates at once.

    Returns
    -------
    dict: auc_a, auc_b, delta, ci_low, ci_high (percentile), se, n_boot, n_clusters
    """
    y = np.asarray(y, dtype=int)
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    codes = np.arange(len(y)) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    G = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(random_state)
    ones = np.ones((1, len(y)))
    auc_a, auc_b = float(_weighted_auc(y, a, ones)[0]), float(_weighted_auc(y, b, ones)[0])
    deltas = []
    chunk = max(1, int(2_000_000 // max(len(y), 1)))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        counts = rng.multinomial(G, np.full(G, 1.0 / G), size=m).astype(float)
        W = counts[:, codes]
        deltas.append(_weighted_auc(y, a, W) - _weighted_auc(y, b, W))
        done += m
    d = np.concatenate(deltas)
    d = d[np.isfinite(d)]
    return {"auc_a": auc_a, "auc_b": auc_b, "delta": auc_a - auc_b,
            "ci_low": float(np.quantile(d, alpha / 2)), "ci_high": float(np.quantile(d, 1 - alpha / 2)),
            "se": float(d.std(ddof=1)), "n_boot": int(len(d)), "n_clusters": G}


def _permutation_importance(model: "ChurnRiskModel", frame: pd.DataFrame, y: np.ndarray, n_repeats: int,
                            random_state: int) -> pd.DataFrame:
    """Drop in ROC AUC when one feature is shuffled (mean and SD over ``n_repeats``), sorted."""
    X = frame[model.feature_names_].to_numpy(dtype=float)
    ones = np.ones((1, len(y)))
    base = float(_weighted_auc(y, model._raw(X), ones)[0])
    rng = np.random.default_rng(random_state)
    drops = np.zeros((len(model.feature_names_), n_repeats))
    for j in range(X.shape[1]):  # one pass per feature
        for r in range(n_repeats):
            Xp = X.copy()
            Xp[:, j] = X[rng.permutation(len(X)), j]
            drops[j, r] = base - float(_weighted_auc(y, model._raw(Xp), ones)[0])
    out = pd.DataFrame({"feature": model.feature_names_, "importance_mean": drops.mean(axis=1),
                        "importance_sd": drops.std(axis=1, ddof=1) if n_repeats > 1 else 0.0})
    return out.sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)


def _calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Quantile-binned calibration: mean predicted vs observed churn rate per bin."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "mean_predicted", "observed", "n"])
    ranks = pd.Series(p).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(p), n_bins - 1).astype(int)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    return out.reset_index()


# ======================================================================================
# backtest
# ======================================================================================
@dataclass
class ChurnBacktest(Result):
    """Time-split backtest of churn models at one evaluation cutoff.

    Attributes
    ----------
    metrics : DataFrame
        One row per (model, population): ``n, n_churned, base_rate, roc_auc, pr_auc, brier,
        capture_10, lift_10, capture_20, lift_20``. Populations: ``all`` members present at
        the cutoff, ``active`` = those active in the ``horizon`` days before it.
    calibration : DataFrame
        ``model, population, bin, mean_predicted, observed, n``.
    gain : DataFrame
        The better classifier's ROC AUC gain over recency alone per population, with a
        paired bootstrap CI (clusters = groups).
    importance : DataFrame
        Permutation importance (drop in ROC AUC on the evaluation cutoff) per model/feature.
    predictions : DataFrame
        group_id, member_id, churned, active_before, silent, left and ``risk_<model>``.
    cutoffs : dict
        evaluation, calibration, train.
    """

    definition: ChurnDefinition
    cutoffs: dict
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    gain: pd.DataFrame
    importance: pd.DataFrame
    predictions: pd.DataFrame
    best_model: str
    bgnbd: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    models: dict = field(default_factory=dict, repr=False)
    title: str = "Churn risk: time-split backtest"

    def to_frame(self) -> pd.DataFrame:
        return self.metrics.copy()

    def to_dict(self) -> dict:
        return to_jsonable({
            "title": self.title, "definition": self.definition.kind, "horizon_days": self.definition.horizon,
            "activity": list(self.definition.activity), "describe": self.definition.describe(),
            "cutoffs": {"evaluation": self.cutoffs["evaluation"], "mode": self.cutoffs.get("mode", "time_split"),
                        "calibration": self.cutoffs["calibration"], "train": self.cutoffs["train"]},
            "best_model": self.best_model, "metrics": self.metrics, "gain_over_recency": self.gain,
            "calibration": self.calibration, "importance": self.importance, "bgnbd": self.bgnbd,
            "notes": self.notes, "conclusion": self.conclusion()})

    def conclusion(self) -> str:
        m = self.metrics.set_index(["model", "population"])
        e = self.cutoffs["evaluation"]
        calibrated = (f"calibrated on {_fmt(self.cutoffs['calibration'])}" if self.cutoffs["calibration"] is not None
                      else "calibrated by cross-fitting across groups at that same cutoff")
        lines = [f"Churn = {self.definition.describe()}. Models were trained on cutoffs "
                 f"{', '.join(_fmt(c) for c in self.cutoffs['train'])}, {calibrated} "
                 f"and evaluated on {_fmt(e)} (outcomes to {_fmt(e + pd.Timedelta(days=self.definition.horizon))})."]
        for pop, label in (("active", "members active in the previous "
                                      f"{self.definition.horizon} days"), ("all", "all members present")):
            if (self.best_model, pop) not in m.index:
                continue
            row = m.loc[(self.best_model, pop)]
            rec = m.loc[("recency", pop)] if ("recency", pop) in m.index else None
            g = self.gain.loc[self.gain["population"] == pop]
            text = (f"On {label} (n = {int(row['n'])}, {row['base_rate']:.0%} churned), {self.best_model} has ROC AUC "
                    f"{row['roc_auc']:.2f}")
            if rec is not None:
                text += f" vs {rec['roc_auc']:.2f} for recency alone"
            if len(g):
                gr = g.iloc[0]
                verdict = "a real gain" if gr["ci_low"] > 0 else ("worse" if gr["ci_high"] < 0 else
                                                                   "not distinguishable from recency alone")
                text += (f" (gain {gr['delta']:+.3f}, 95% CI {gr['ci_low']:+.3f} to {gr['ci_high']:+.3f} by a paired "
                         f"bootstrap over groups: {verdict})")
            if ("bgnbd", pop) in m.index:
                text += f"; BG/NBD P(no activity) has {m.loc[('bgnbd', pop)]['roc_auc']:.2f}"
            text += (f". The top 10% of its risk ranking holds {row['capture_10']:.0%} of the churners "
                     f"(lift {row['lift_10']:.1f}).")
            lines.append(text)
        lines += self.notes
        return "\n".join(lines)


def _evaluate(definition: ChurnDefinition, panel: _Panel, eval_cut: pd.Timestamp, fitted: dict,
              bgnbd_scores: np.ndarray | None, n_boot: int, random_state: int, importance_repeats: int,
              plan: dict, notes: list) -> ChurnBacktest:
    frame = panel.frame(eval_cut, panel.end)
    preds = frame[[*KEYS, "churned", "active_before", "silent", "left"]].copy()
    for name, model in fitted.items():
        preds[f"risk_{name}"] = model.predict_proba_frame(frame)
    if bgnbd_scores is not None:
        preds["risk_bgnbd"] = bgnbd_scores
    model_names = [c.removeprefix("risk_") for c in preds.columns if c.startswith("risk_")]
    rows, calib = [], []
    pops = {"all": np.ones(len(preds), bool), "active": preds["active_before"].to_numpy()}
    for name in model_names:
        for pop, mask in pops.items():
            y = preds.loc[mask, "churned"].to_numpy(int)
            p = preds.loc[mask, f"risk_{name}"].to_numpy(float)
            rows.append({"model": name, "population": pop, **classification_metrics(y, p)})
            c = _calibration_table(y, p)
            c.insert(0, "population", pop)
            c.insert(0, "model", name)
            calib.append(c)
    metrics = pd.DataFrame(rows)
    active_auc = metrics.loc[(metrics["population"] == "active") & metrics["model"].isin(["logistic", "hgb"])]
    active_auc = active_auc.dropna(subset=["roc_auc"])
    if len(active_auc):
        best = str(active_auc.sort_values("roc_auc", ascending=False)["model"].iloc[0])
    else:
        cands = [m for m in ("hgb", "logistic") if m in fitted]
        best = cands[0] if cands else model_names[0]
    gains = []
    if "recency" in model_names and best != "recency":
        for pop, mask in pops.items():
            y = preds.loc[mask, "churned"].to_numpy(int)
            if 0 < y.sum() < len(y):
                b = paired_auc_bootstrap(y, preds.loc[mask, f"risk_{best}"], preds.loc[mask, "risk_recency"],
                                         clusters=preds.loc[mask, "group_id"], n_boot=n_boot,
                                         random_state=random_state)
                gains.append({"model": best, "baseline": "recency", "population": pop, **b})
    gain = pd.DataFrame(gains, columns=["model", "baseline", "population", "auc_a", "auc_b", "delta", "ci_low",
                                        "ci_high", "se", "n_boot", "n_clusters"])
    importance = []
    y_all = frame["churned"].to_numpy(int)
    if importance_repeats > 0 and 0 < y_all.sum() < len(y_all) and best in fitted:
        importance.append(_permutation_importance(fitted[best], frame, y_all, importance_repeats, random_state)
                          .assign(model=best))
    importance = (pd.concat(importance, ignore_index=True)[["model", "feature", "importance_mean",
                                                             "importance_sd"]]
                  if importance else pd.DataFrame(columns=["model", "feature", "importance_mean", "importance_sd"]))
    cutoffs = {"evaluation": eval_cut, "mode": plan["mode"], "calibration": plan["calibration"],
               "train": plan["train"], "history_needed_days": plan["history_needed_days"],
               "feature_windows": dict(panel.windows)}
    return ChurnBacktest(definition=definition, cutoffs=cutoffs, metrics=metrics,
                         calibration=pd.concat(calib, ignore_index=True), gain=gain,
                         importance=importance.reset_index(drop=True), predictions=preds, best_model=best,
                         notes=notes, models=fitted)


def _fit_all(ds_or_panel: _Panel, definition: ChurnDefinition, cutoff: pd.Timestamp, models, n_train_cutoffs,
             step_days, min_history_days, random_state, notes: list):
    panel = ds_or_panel
    fitted = {}
    for name in models:
        if name == "bgnbd":
            continue
        fitted[name] = ChurnRiskModel(name, definition.horizon, definition.kind, definition.activity,
                                      n_train_cutoffs, step_days, min_history_days,
                                      random_state=random_state).fit(panel.ds, cutoff, _panel=panel)
    bg_scores, bg_info = None, {}
    if "bgnbd" in models:
        feats = panel.features(cutoff)
        try:
            bg = BGNBDChurn(definition.horizon).fit(feats)
            bg_scores = bg.predict_no_activity(feats)
            bg_info = {"params": bg.params_.to_dict(), "n_fit": bg.n_fit_, "fitted_at": cutoff,
                       "boundary_fit": bg.boundary_,
                       "score": f"P(no activity in {definition.horizon} days)"}
            fitted["_bgnbd"] = bg
        except (ConvergenceError, InsufficientDataError) as exc:
            notes.append(f"BG/NBD could not be fitted at {_fmt(cutoff)}: {exc}")
    return fitted, bg_scores, bg_info


def backtest(ds: Dataset, cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
             activity=DEFAULT_ACTIVITY, models=MODELS, n_train_cutoffs: int = N_TRAIN_CUTOFFS,
             step_days: int = STEP_DAYS, min_history_days: int = MIN_HISTORY_DAYS, n_boot: int = 1000,
             importance_repeats: int = 3, random_state: int = 0, _panel: _Panel | None = None) -> ChurnBacktest:
    """Time-split backtest: fit with data up to ``cutoff``, judge on what happened after it.

    Parameters
    ----------
    ds : Dataset
    cutoff : date, optional
        Evaluation cutoff; default the latest one with a full horizon of outcomes
        (end of data - horizon). Models are trained on earlier cutoffs whose horizon ends
        by it and calibrated on ``cutoff - horizon`` (see :func:`plan_cutoffs`).
    horizon, definition, activity
        See :class:`ChurnDefinition`.
    models : sequence of {"recency", "logistic", "hgb", "bgnbd"}
    n_boot : int, default 1000
        Bootstrap replicates (clusters = groups) for the gain over recency.
    importance_repeats : int, default 5
        Permutation-importance repeats (0 to skip).

    Returns
    -------
    ChurnBacktest
    """
    d = _definition(definition, horizon, activity)
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ParameterError(f"Unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}.")
    end = _panel.end if _panel is not None else data_end_day(ds)
    eval_cut = (end - pd.Timedelta(days=d.horizon)) if cutoff is None else _midnight(ds, cutoff)
    if eval_cut + pd.Timedelta(days=d.horizon) > end:
        raise InsufficientDataError(
            f"A backtest at {_fmt(eval_cut)} needs outcomes to {_fmt(eval_cut + pd.Timedelta(days=d.horizon))}, but "
            f"the data end on {_fmt(end)}. Use a cutoff on or before "
            f"{_fmt(end - pd.Timedelta(days=d.horizon))}.")
    plan = plan_cutoffs(ds, eval_cut, d.horizon, n_train_cutoffs, step_days, min_history_days)
    panel = _panel if _panel is not None else _Panel(ds, d, feature_windows(plan["history_days"]))
    notes: list = []
    fitted, bg_scores, bg_info = _fit_all(panel, d, eval_cut, models, n_train_cutoffs, step_days,
                                          min_history_days, random_state, notes)
    bg_model = fitted.pop("_bgnbd", None)
    result = _evaluate(d, panel, eval_cut, fitted, bg_scores, n_boot, random_state, importance_repeats, plan,
                       notes)
    result.bgnbd = bg_info
    if bg_model is not None:
        result.models["bgnbd"] = bg_model
    return result


# ======================================================================================
# scoring at a date (what the CLI and notebook call)
# ======================================================================================
@dataclass
class ChurnRiskResult(Result):
    """Churn risk of every member present at the scoring date, with the backtest behind it.

    Attributes
    ----------
    scores : DataFrame
        One row per (group_id, member_id): ``risk`` in [0, 1], ``rank``, ``driver_1..3``,
        ``top_drivers``, ``silent_days``, ``active_before``.
    model : str
        Model used for the scores.
    backtest : ChurnBacktest or None
        The same procedure evaluated at ``scoring - horizon`` with data up to the scoring date.
    evaluation : ChurnBacktest or None
        Where the data extend ``horizon`` days past the scoring date: the scores judged
        against what happened.
    """

    definition: ChurnDefinition
    scoring_cutoff: pd.Timestamp
    model: str
    scores: pd.DataFrame
    backtest: ChurnBacktest | None = None
    evaluation: ChurnBacktest | None = None
    cutoffs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    title: str = "Churn risk by member"

    def to_frame(self) -> pd.DataFrame:
        return self.scores.copy()

    def to_dict(self) -> dict:
        risk = self.scores["risk"]
        out = {
            "title": self.title, "scoring_cutoff": self.scoring_cutoff, "definition": self.definition.kind,
            "horizon_days": self.definition.horizon, "activity": list(self.definition.activity),
            "model": self.model, "cutoffs": {k: v for k, v in self.cutoffs.items()},
            "n_scored": int(len(self.scores)),
            "risk_summary": {"mean": float(risk.mean()) if len(risk) else None,
                             "median": float(risk.median()) if len(risk) else None,
                             "n_above_0.5": int((risk > 0.5).sum())},
            "backtest": None if self.backtest is None else {
                k: v for k, v in self.backtest.to_dict().items() if k != "calibration"},
            "evaluation_at_scoring_date": None if self.evaluation is None else {
                "metrics": self.evaluation.metrics.loc[self.evaluation.metrics["model"] == self.model],
                "all_models": self.evaluation.metrics, "gain_over_recency": self.evaluation.gain},
            "notes": self.notes, "conclusion": self.conclusion(),
        }
        return to_jsonable(out)

    def to_string(self) -> str:
        text = super().to_string() if len(self.scores) <= 20 else (
            f"{self.title}\n{self.top(20).to_string(index=False)}\n... ({len(self.scores)} members)\n\n"
            f"{self.conclusion()}")
        if self.backtest is not None:
            with pd.option_context("display.width", 160, "display.max_columns", 50,
                                   "display.float_format", "{:.3g}".format):
                text += "\n\nBacktest\n" + self.backtest.metrics.to_string(index=False)
        return text

    def top(self, n: int = 20) -> pd.DataFrame:
        cols = [*KEYS, "risk", "rank", "silent_days", "active_before", "top_drivers"]
        return self.scores.sort_values("risk", ascending=False).head(n)[[c for c in cols if c in self.scores]]

    def conclusion(self) -> str:
        s = self.scores
        lines = [f"Scored {len(s)} members present on {_fmt(self.scoring_cutoff)} with the {self.model} model for "
                 f"churn = {self.definition.describe()}. Mean risk {s['risk'].mean():.0%}; "
                 f"{int((s['risk'] > 0.5).sum())} members have a risk above 50%."]
        if self.backtest is not None:
            b = self.backtest.metrics.set_index(["model", "population"])
            if (self.model, "active") in b.index:
                r = b.loc[(self.model, "active")]
                lines.append(f"In the backtest at {_fmt(self.backtest.cutoffs['evaluation'])} this model reached ROC AUC "
                             f"{r['roc_auc']:.2f} on members active before the cutoff (Brier {r['brier']:.3f}).")
        if self.evaluation is not None:
            ev = self.evaluation.metrics.set_index(["model", "population"])
            if (self.model, "all") in ev.index:
                r = ev.loc[(self.model, "all")]
                lines.append(f"Judged against what happened after {_fmt(self.scoring_cutoff)}: ROC AUC {r['roc_auc']:.2f}, "
                             f"Brier {r['brier']:.3f}, calibration intercept {r['calibration_intercept']:+.2f} and "
                             f"slope {r['calibration_slope']:.2f} (perfect: 0 and 1), top 10% captured "
                             f"{r['capture_10']:.0%} of churners.")
        lines += self.notes
        return "\n".join(lines)


def churn_risk(ds: Dataset, cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
               activity=DEFAULT_ACTIVITY, model: str = "auto", n_train_cutoffs: int = N_TRAIN_CUTOFFS,
               step_days: int = STEP_DAYS, min_history_days: int = MIN_HISTORY_DAYS, n_boot: int = 1000,
               importance_repeats: int = 3, n_drivers: int = 3, random_state: int = 0) -> ChurnRiskResult:
    """Score every member present at ``cutoff`` (default: end of data) for churn within ``horizon``.

    Only data up to the scoring date are used to train and calibrate (:func:`plan_cutoffs`).
    The same procedure is backtested at ``cutoff - horizon`` (when there is enough history)
    to report metrics per model and, with ``model="auto"``, to pick the better of
    ``logistic`` and ``hgb`` (by ROC AUC on members active before that cutoff). Where the
    data extend ``horizon`` days past the scoring date, the scores are also judged against
    what happened (``evaluation``).

    Raises
    ------
    InsufficientDataError
        Too little history before the scoring date (the message says how much is needed).
    """
    d = _definition(definition, horizon, activity)
    if model not in ("auto", "recency", "logistic", "hgb"):
        raise ParameterError(f"model must be auto, recency, logistic or hgb, not {model!r}.")
    end = data_end_day(ds)
    scoring = end if cutoff is None else _midnight(ds, cutoff)
    if scoring > end:
        raise ParameterError(f"The scoring date {_fmt(scoring)} is after the end of the data ({_fmt(end)}).")
    plan = plan_cutoffs(ds, scoring, d.horizon, n_train_cutoffs, step_days, min_history_days)
    notes: list = []
    try:
        prior_plan = plan_cutoffs(ds, scoring - pd.Timedelta(days=d.horizon), d.horizon, n_train_cutoffs,
                                  step_days, min_history_days)
    except InsufficientDataError:
        prior_plan = None
    history = min(plan["history_days"], prior_plan["history_days"]) if prior_plan is not None \
        else plan["history_days"]
    windows = feature_windows(history)
    panel = _Panel(ds, d, windows)
    if windows["churn"] != CHURN_WINDOWS or windows["member"] != MEMBER_WINDOWS:
        notes.append(f"Short history ({history:.0f} days before the earliest training cutoff): feature windows "
                     f"shortened to {', '.join(map(str, windows['churn']))} days (activity) and "
                     f"{', '.join(map(str, windows['member']))} days (member features), the same at every cutoff.")
    if plan["mode"] == "cross_fit":
        notes.append(
            f"Only one labelled cutoff fits before {_fmt(scoring)} ({_fmt(plan['train'][0])}, outcomes to "
            f"{_fmt(scoring)}): the model is trained on it and calibrated by cross-fitting across groups at that "
            f"cutoff. There is no out-of-time backtest and no calibration on a later cutoff; with "
            f"{plan['history_needed_days_time_split']} days of history before the scoring date the model is "
            f"calibrated on a later cutoff, and with {plan['history_needed_days_time_split'] + d.horizon} days it is "
            f"also backtested.")
    prior = None
    if prior_plan is None and plan["mode"] != "cross_fit":
        notes.append(f"No backtest before {_fmt(scoring)}: it needs {plan['history_needed_days'] + d.horizon} days "
                     f"of history before the scoring date.")
    if prior_plan is not None:
        prior = backtest(ds, prior_plan["scoring"], d.horizon, d.kind, d.activity, MODELS, n_train_cutoffs,
                         step_days, min_history_days, n_boot, importance_repeats, random_state, _panel=panel)
    candidates = {}
    if model != "auto":
        chosen = model
    elif prior is not None:
        chosen = prior.best_model
    else:  # no backtest: pick by the held-out AUC the fit itself has (later cutoff, or held-out groups)
        for name in ("logistic", "hgb"):
            candidates[name] = ChurnRiskModel(name, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days,
                                              min_history_days, random_state=random_state).fit(ds, scoring,
                                                                                               _panel=panel)
        aucs = {k: v.selection_auc_ for k, v in candidates.items()}
        chosen = max(aucs, key=lambda k: -1 if aucs[k] != aucs[k] else aucs[k])
        where = ("on the later calibration cutoff" if plan["mode"] == "time_split"
                 else "on held-out groups at the training cutoff")
        notes.append(f"model='auto' chose {chosen} by ROC AUC {where} "
                     f"({', '.join(f'{k} {v:.3f}' for k, v in aucs.items())}), as there is no backtest.")
    evaluation = None
    if scoring + pd.Timedelta(days=d.horizon) <= panel.end:
        evaluation = backtest(ds, scoring, d.horizon, d.kind, d.activity, MODELS, n_train_cutoffs, step_days,
                              min_history_days, n_boot, importance_repeats, random_state, _panel=panel)
        fitted = evaluation.models[chosen]
    elif chosen in candidates:
        fitted = candidates[chosen]
    else:
        fitted = ChurnRiskModel(chosen, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days,
                                min_history_days, random_state=random_state).fit(ds, scoring, _panel=panel)
    scored = fitted.score(ds, scoring, n_drivers=n_drivers, _panel=panel)
    before = panel.activity.loc[((panel.activity["at"] <= scoring)
                                 & (panel.activity["at"] > scoring - pd.Timedelta(days=d.horizon))).to_numpy()]
    active = pd.MultiIndex.from_frame(scored[KEYS]).isin(pd.MultiIndex.from_frame(before[KEYS])) \
        if len(before) else np.zeros(len(scored), bool)
    scores = scored[[*KEYS, "risk"]].copy()
    scores["rank"] = scores["risk"].rank(ascending=False, method="first").astype(int)
    for c in [c for c in scored.columns if c.startswith("driver_")] + ["top_drivers"]:
        scores[c] = scored[c].to_numpy()
    scores["silent_days"] = scored["silent_days"].round(2).to_numpy()
    scores["active_before"] = np.asarray(active)
    return ChurnRiskResult(definition=d, scoring_cutoff=scoring, model=chosen, scores=scores.reset_index(drop=True),
                           backtest=prior, evaluation=evaluation,
                           cutoffs={"scoring": scoring, "mode": plan["mode"], "calibration": plan["calibration"],
                                    "train": plan["train"], "history_days": plan["history_days"],
                                    "feature_windows": windows},
                           notes=notes)


# ======================================================================================
# segments
# ======================================================================================
def activity_level(active_days_28d) -> np.ndarray:
    """Bin active days in the last 28 days into the levels of :data:`ACTIVITY_LEVELS`."""
    x = np.asarray(active_days_28d, dtype=float)
    out = np.full(x.shape, ACTIVITY_LEVELS[0][1], dtype=object)
    for low, name in ACTIVITY_LEVELS[1:]:
        out[x >= low] = name
    return out


def _segments_for(keys: pd.DataFrame, segments, default: np.ndarray) -> np.ndarray:
    """Segment label per key row: from a (group_id, member_id, segment) frame, else ``default``."""
    if segments is None:
        return default
    if not isinstance(segments, pd.DataFrame) or not {"group_id", "member_id", "segment"}.issubset(segments.columns):
        raise ParameterError("segments must be a DataFrame with columns group_id, member_id, segment "
                             "(e.g. from the segmentation module, fitted on data up to the cutoff).")
    seg = segments.drop_duplicates(KEYS).set_index(KEYS)["segment"]
    values = seg.reindex(pd.MultiIndex.from_frame(keys[KEYS])).astype("object").to_numpy()
    return np.where(pd.isna(values), "unknown", values).astype(object)


# ======================================================================================
# "how long is gone?": silence spells and return probability
# ======================================================================================
def silence_spells(ds: Dataset, activity=DEFAULT_ACTIVITY, as_of=None) -> pd.DataFrame:
    """Silence spells of non-operator members: from each active day to the next one.

    A spell starts on a day with activity (of the chosen kinds) and lasts until the
    member's next active day (``returned``), until the member leaves the group
    (``left``, a competing event; leaving on the same day gives duration 0) or until the
    end of the data (censored: still silent on the last observed day).

    Parameters
    ----------
    ds : Dataset
    activity : tuple of str
        Kinds of activity that end a silence (see :class:`ChurnDefinition`).
    as_of : date, optional
        Use only data up to this time.

    Returns
    -------
    DataFrame, one row per spell: group_id, member_id, start (local date), duration (days,
    >= 0), returned (bool), left (bool).
    """
    if as_of is not None:
        ds = ds.as_of(as_of)
    d = ChurnDefinition(activity=activity if not isinstance(activity, str) else (activity,)).validate()
    act = _activity_times(ds, d.activity)
    days = _activity_days(act, ds.tz)[[*KEYS, "date"]].sort_values([*KEYS, "date"], kind="stable")
    days = days.reset_index(drop=True)
    end_date = np.datetime64((data_end_day(ds) - _DAY).tz_localize(None))  # last observed date
    same_next = np.r_[(days["group_id"].to_numpy()[1:] == days["group_id"].to_numpy()[:-1])
                      & (days["member_id"].to_numpy()[1:] == days["member_id"].to_numpy()[:-1]), False]
    dates = days["date"].to_numpy()
    next_date = np.r_[dates[1:], dates[-1:]] if len(dates) else dates
    returned = same_next
    members = ds.members.loc[~ds.members["role"].isin(OPERATOR_ROLES)]
    last_row = members.sort_values([*KEYS, "joined_at"], kind="stable").drop_duplicates(KEYS, keep="last")
    left_at = last_row.set_index(KEYS)["left_at"].reindex(pd.MultiIndex.from_frame(days[KEYS]))
    left_date = local_date(pd.Series(left_at.to_numpy())).to_numpy()
    has_left = ~pd.isna(left_date) & ~returned
    has_left &= np.where(has_left, left_date >= dates, False)
    end = np.where(returned, next_date, np.where(has_left, left_date, end_date))
    duration = ((end - dates) / np.timedelta64(1, "D")).astype(float)
    out = days[KEYS].copy()
    out["start"] = dates
    out["duration"] = np.maximum(duration, 0.0)
    out["returned"] = returned
    out["left"] = has_left
    return out


@dataclass
class SilenceReturn(Result):
    """P(speaks again within ``within`` days | silent ``d`` days) by segment, with thresholds.

    Attributes
    ----------
    curve : groupstats.stats.survival.ReturnCurve
        The Aalen-Johansen return curves (leaving = competing event, open spells censored).
    level : float
        Return probability below which a silent member is considered gone.
    thresholds, thresholds_confident : dict
        Per segment, the first d at which the estimate (resp. its upper 95% limit) falls
        below ``level`` (None: never within the days examined).
    """

    curve: object
    level: float
    thresholds: dict
    thresholds_confident: dict
    segment_of: str = "activity level"
    title: str = "How long is gone? Return probability after a silence"

    def to_frame(self) -> pd.DataFrame:
        return self.curve.to_frame()

    def threshold_table(self) -> pd.DataFrame:
        return pd.DataFrame({"segment": list(self.thresholds), "n_spells": [self.curve.n_spells.get(str(s))
                                                                           for s in self.thresholds],
                             "suggested_threshold_days": list(self.thresholds.values()),
                             "confident_threshold_days": [self.thresholds_confident.get(s)
                                                          for s in self.thresholds]})

    def to_dict(self) -> dict:
        return to_jsonable({"title": self.title, "within_days": self.curve.within, "level": self.level,
                            "segment_of": self.segment_of, "thresholds": self.threshold_table(),
                            "curve": self.curve.curve, "conclusion": self.conclusion()})

    def conclusion(self) -> str:
        lines = []
        for seg, thr in self.thresholds.items():
            if thr is None:
                lines.append(f"[{seg}] the chance of speaking again within {self.curve.within:g} days never falls "
                             f"below {self.level:.0%} in the silence lengths examined.")
            else:
                conf = self.thresholds_confident.get(seg)
                lines.append(f"[{seg}] after {thr:g} silent days the chance of speaking again within "
                             f"{self.curve.within:g} days falls below {self.level:.0%}"
                             + (f" (confidently below from {conf:g} days)" if conf is not None else "")
                             + ": a data-based churn threshold for this segment.")
        base = self.curve.conclusion()
        return "\n".join(lines + ([base] if base else []))


def how_long_is_gone(ds: Dataset, within: float = 60, days=range(1, 91), level: float = 0.2,
                     activity=DEFAULT_ACTIVITY, segments=None, as_of=None, min_at_risk: int = 10) -> SilenceReturn:
    """Probability that a member silent for d days speaks again within ``within`` days, by segment.

    Estimated on the members' own silence spells (:func:`silence_spells`) with
    :func:`groupstats.stats.survival.return_probability_curve` (Aalen-Johansen; leaving the group
    is a competing event, spells open at the end of the data are censored), with the
    suggested threshold where the return probability first falls below ``level``.

    Parameters
    ----------
    within : float, default 60
    days : iterable, default 1..90
    level : float, default 0.2
        A statistical default, not a playbook rule: set it from the cost of a wasted
        reactivation message versus a missed member.
    segments : DataFrame (group_id, member_id, segment), optional
        Default: the member's activity level (active days per 28 days observed, binned as
        :data:`ACTIVITY_LEVELS`), a description of the member, not a prediction.
    """
    from groupstats.stats.survival import return_probability_curve, suggest_threshold

    if not 0 < level < 1:
        raise ParameterError(f"level must be a probability in (0, 1), got {level!r}.")
    spells = silence_spells(ds, activity, as_of)
    if spells.empty:
        raise InsufficientDataError("No member activity, so there are no silence spells to analyse.")
    if segments is None:
        cds = ds if as_of is None else ds.as_of(as_of)
        start, end = data_start_day(cds), data_end_day(cds)
        keys = spells[KEYS].drop_duplicates().reset_index(drop=True)
        members = cds.members.groupby(KEYS)["joined_at"].min().reindex(pd.MultiIndex.from_frame(keys))
        since = np.maximum(pd.to_datetime(members.to_numpy(), utc=True), start.tz_convert("UTC"))
        observed = np.maximum((end.tz_convert("UTC") - since) / _DAY, 1.0)
        n_days = spells.groupby(KEYS).size().reindex(pd.MultiIndex.from_frame(keys)).to_numpy(dtype=float)
        labels = activity_level(n_days / np.asarray(observed, dtype=float) * 28)
        seg = pd.DataFrame({"group_id": keys["group_id"], "member_id": keys["member_id"], "segment": labels})
        segment_of = "activity level (active days per 28 days observed)"
    else:
        seg = segments
        segment_of = "given segments"
    groups = _segments_for(spells, seg, None)
    curve = return_probability_curve(spells["duration"], spells["returned"], spells["left"], days=days,
                                     within=within, groups=groups, min_at_risk=min_at_risk)
    return SilenceReturn(curve=curve, level=level, thresholds=suggest_threshold(curve, level=level),
                         thresholds_confident=suggest_threshold(curve, level=level, use="upper"),
                         segment_of=segment_of)


# ======================================================================================
# survival view: time to churn
# ======================================================================================
def time_to_churn(ds: Dataset, start=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                  activity=DEFAULT_ACTIVITY, _panel: _Panel | None = None) -> pd.DataFrame:
    """Days from ``start`` to churn for every member present at ``start``.

    - ``silent``: churn day = first day of the first silence of at least ``horizon`` days
      (no activity on it and the ``horizon - 1`` days after); only silences that end at
      least ``horizon`` days before the data end can be confirmed, so follow-up is
      censored ``horizon`` days before the end of the data.
    - ``left``: the day the member leaves; censored at the end of the data.
    - ``either``: the first of a silence of ``horizon`` days *while still in the group*
      (cause 1) and leaving (cause 2); censored ``horizon`` days before the end.

    Returns
    -------
    DataFrame: group_id, member_id, duration (days), event (0/1), cause (0 censored,
    1 silence, 2 left), plus the churn features at ``start``.
    """
    d = _definition(definition, horizon, activity)
    panel = _panel if _panel is not None else _Panel(ds, d)
    begin = (panel.start + pd.Timedelta(days=MIN_HISTORY_DAYS)) if start is None else _midnight(ds, start)
    H = d.horizon
    E = int(round((panel.end - begin) / _DAY))  # observed days 0..E-1 after start
    if E < H + 1:
        raise InsufficientDataError(
            f"Time to churn from {_fmt(begin)} needs more than {H} days of data after it (the data end on "
            f"{_fmt(panel.end)}); use an earlier start or a shorter horizon.")
    feats = panel.features(begin)
    members = present_members(ds, begin).set_index(KEYS).reindex(pd.MultiIndex.from_frame(feats[KEYS]))
    n = len(feats)
    key_index = pd.MultiIndex.from_frame(feats[KEYS])
    begin_date = np.datetime64(begin.tz_localize(None))
    days = panel.activity_days
    rel = ((days["date"].to_numpy() - begin_date) / np.timedelta64(1, "D")).astype(np.int64)
    keep = rel >= 0
    code = np.asarray(key_index.get_indexer(pd.MultiIndex.from_frame(days.loc[keep, KEYS])), dtype=np.int64) \
        if keep.any() else np.zeros(0, np.int64)
    rel = rel[keep]
    ok = code >= 0
    code, rel = code[ok], rel[ok]
    # candidate silence starts: p = -1 (the start) and each active day p; silence = days p+1..p+H
    cand_code = np.r_[np.arange(n), code]
    cand_p = np.r_[np.full(n, -1), rel]
    order = np.lexsort((cand_p, cand_code))
    cand_code, cand_p = cand_code[order], cand_p[order]
    uniq = np.r_[True, (cand_code[1:] != cand_code[:-1]) | (cand_p[1:] != cand_p[:-1])]
    cand_code, cand_p = cand_code[uniq], cand_p[uniq]
    same = np.r_[cand_code[1:] == cand_code[:-1], False]
    next_p = np.where(same, np.r_[cand_p[1:], 0], np.iinfo(np.int64).max // 4)
    left_at = members["left_at"]
    left_rel = np.full(n, np.inf)
    has_left = left_at.notna().to_numpy()
    if has_left.any():  # slice the Series itself: a tz-aware column's to_numpy() is an object array,
        # and an empty one (nobody left, as in most chat exports) has no .dt accessor
        left_dates = local_date(pd.to_datetime(left_at[has_left])).to_numpy()
        left_rel[has_left] = ((left_dates - begin_date) / np.timedelta64(1, "D")).astype(float)
    silence_end = cand_p + H  # last silent day
    silent_ok = (next_p > silence_end) & (silence_end <= E - 1)
    if d.kind == "either":
        silent_ok &= silence_end < left_rel[cand_code]
    first = pd.Series(np.where(silent_ok, cand_p + 1, np.inf)).groupby(cand_code).min()
    t_silent = first.reindex(np.arange(n)).fillna(np.inf).to_numpy()
    censor = float(E - H) if d.kind in ("silent", "either") else float(E)
    if d.kind == "silent":
        t_event, cause_id = t_silent, np.ones(n, int)
    elif d.kind == "left":
        t_event, cause_id = left_rel, np.full(n, 2)
    else:
        t_event = np.minimum(t_silent, left_rel)
        cause_id = np.where(t_silent <= left_rel, 1, 2)
    event = t_event <= censor
    out = feats.copy()
    out["duration"] = np.where(event, np.maximum(t_event, 0), censor)
    out["event"] = event.astype(int)
    out["cause"] = np.where(event, cause_id, 0)
    out.attrs.update({"start": begin, "censor_day": censor, "definition": d.kind, "horizon": H})
    return out


@dataclass
class ChurnSurvival(Result):
    """Time to churn: Kaplan-Meier by segment, Cox model, and cumulative incidence for "either".

    Attributes
    ----------
    km : dict {segment: KaplanMeier}
    km_table : DataFrame
        ``segment, n, events, churned_by_30, churned_by_60, churned_by_90, median_days``
        (1 - KM at 30/60/90 days after the start).
    cox : DataFrame or None
        Hazard ratios (statsmodels PHReg, Efron ties, cluster-robust SEs by group).
    incidence : AalenJohansen or None
        For ``either``: cumulative incidence of silence (cause 1) and leaving (cause 2).
    """

    definition: ChurnDefinition
    start: pd.Timestamp
    km: dict
    km_table: pd.DataFrame
    cox: pd.DataFrame | None
    incidence: object | None
    data: pd.DataFrame = field(repr=False, default=None)
    notes: list = field(default_factory=list)
    title: str = "Time to churn (Kaplan-Meier by segment, Cox model)"

    def to_frame(self) -> pd.DataFrame:
        return self.km_table.copy()

    def incidence_table(self, times=(30, 60, 90)) -> pd.DataFrame | None:
        if self.incidence is None:
            return None
        rows = []
        for cause, name in ((1, "silence"), (2, "left")):
            if cause in self.incidence.causes_:
                vals = self.incidence.predict(list(times), cause)
                rows.append({"cause": name, **{f"by_{t}d": float(v) for t, v in zip(times, vals)}})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return to_jsonable({"title": self.title, "definition": self.definition.kind,
                            "horizon_days": self.definition.horizon, "start": self.start,
                            "kaplan_meier": self.km_table, "cox": self.cox,
                            "cumulative_incidence": self.incidence_table(), "notes": self.notes,
                            "conclusion": self.conclusion()})

    def conclusion(self) -> str:
        lines = []
        for _, r in self.km_table.iterrows():
            lines.append(f"[{r['segment']}] {r['churned_by_30']:.0%} of {int(r['n'])} members had churned "
                         f"({self.definition.kind}) within 30 days of {_fmt(self.start)}, "
                         f"{r['churned_by_60']:.0%} within 60.")
        if self.cox is not None and len(self.cox):
            sig = self.cox.loc[self.cox["p"] < 0.05]
            if len(sig):
                parts = [f"{r['covariate']} (HR {r['hazard_ratio']:.2f}, 95% CI {r['hr_ci_low']:.2f}-"
                         f"{r['hr_ci_high']:.2f})" for _, r in sig.iterrows()]
                lines.append("Cox model: " + "; ".join(parts) + ".")
        inc = self.incidence_table()
        if inc is not None and len(inc):
            parts = [f"{r['cause']} {r['by_60d']:.0%}" for _, r in inc.iterrows()]
            lines.append("Cumulative incidence by 60 days (competing events, Aalen-Johansen): " + ", ".join(parts) + ".")
        return "\n".join(lines + self.notes)


#: Covariates of the Cox model (churn features at the start).
COX_COVARIATES = ("log_silent_days", "log_act_days_28d", "act_trend_14d", "log_tenure_days")


def churn_survival(ds: Dataset, start=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                   activity=DEFAULT_ACTIVITY, segments=None, _panel: _Panel | None = None) -> ChurnSurvival:
    """Kaplan-Meier curves of time to churn by segment, a Cox model, and (for ``either``)
    Aalen-Johansen cumulative incidence of silence and leaving as competing events.

    Parameters
    ----------
    start : date, optional
        Start of follow-up (members present then). Default: 28 days after the data start.
    segments : DataFrame (group_id, member_id, segment), optional
        Default: activity level at the start (active days in the previous 28 days).

    Why statsmodels PHReg for the Cox model: see :class:`groupstats.stats.survival.CoxPH` (ties,
    strata, cluster-robust SEs, no extra dependency).
    """
    from groupstats.stats.survival import AalenJohansen, CoxPH, KaplanMeier

    d = _definition(definition, horizon, activity)
    panel = _panel if _panel is not None else _Panel(ds, d)
    data = time_to_churn(ds, start, d.horizon, d.kind, d.activity, _panel=panel)
    seg = _segments_for(data, segments, activity_level(data["act_days_28d"]))
    data["segment"] = seg
    order = [name for _, name in ACTIVITY_LEVELS] if segments is None else sorted(pd.unique(seg))
    km, rows = {}, []
    for name in order:
        part = data.loc[data["segment"] == name]
        if len(part) < 5:
            continue
        fit = KaplanMeier(label=str(name)).fit(part["duration"], part["event"])
        km[name] = fit
        s = fit.predict([30, 60, 90])
        rows.append({"segment": name, "n": len(part), "events": int(part["event"].sum()),
                     "churned_by_30": 1 - s[0], "churned_by_60": 1 - s[1], "churned_by_90": 1 - s[2],
                     "median_days": fit.median_})
    notes = []
    cox = None
    frame = data.assign(log_silent_days=np.log1p(data["silent_days"]),
                        log_act_days_28d=np.log1p(data["act_days_28d"]),
                        log_tenure_days=np.log1p(data["tenure_days"].clip(lower=0)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cox = CoxPH().fit(frame, "duration", "event", columns=list(COX_COVARIATES),
                              cluster_col="group_id").summary_
        if d.kind == "either":
            notes.append("The Cox model is for the hazard of churn by either route (all causes).")
    except (ConvergenceError, InsufficientDataError, ParameterError) as exc:
        notes.append(f"Cox model not fitted: {exc}")
    incidence = None
    if d.kind == "either" and (data["cause"] > 0).any():
        incidence = AalenJohansen().fit(data["duration"], data["cause"])
    return ChurnSurvival(definition=d, start=data.attrs["start"], km=km, km_table=pd.DataFrame(rows), cox=cox,
                         incidence=incidence, data=data, notes=notes)


# ======================================================================================
# plots
# ======================================================================================
def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def plot_roc(result: ChurnBacktest, population: str = "active", ax=None):
    """ROC curves of every model on the evaluation cutoff; returns the Axes."""
    from sklearn.metrics import roc_curve

    ax = _ax(ax)
    preds = result.predictions
    mask = np.ones(len(preds), bool) if population == "all" else preds["active_before"].to_numpy()
    y = preds.loc[mask, "churned"].to_numpy(int)
    m = result.metrics.set_index(["model", "population"])
    for col in [c for c in preds.columns if c.startswith("risk_")]:
        name = col.removeprefix("risk_")
        if 0 < y.sum() < len(y):
            fpr, tpr, _ = roc_curve(y, preds.loc[mask, col])
            ax.plot(fpr, tpr, label=f"{name} (AUC {m.loc[(name, population), 'roc_auc']:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC at {_fmt(result.cutoffs['evaluation'])} ({population} members)")
    ax.legend()
    return ax


def plot_calibration(result: ChurnBacktest, population: str = "all", ax=None):
    """Calibration curves (decile bins: mean predicted vs observed churn rate); returns the Axes."""
    ax = _ax(ax)
    cal = result.calibration.loc[result.calibration["population"] == population]
    for name, part in cal.groupby("model", sort=False):
        ax.plot(part["mean_predicted"], part["observed"], marker="o", label=str(name))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed churn rate")
    ax.set_title(f"Calibration at {_fmt(result.cutoffs['evaluation'])} ({population} members)")
    ax.legend()
    return ax


def plot_churn_survival(result: ChurnSurvival, ax=None):
    """Kaplan-Meier curves by segment, or cumulative incidence for ``either``; returns the Axes."""
    from groupstats.stats.survival import plot_cumulative_incidence, plot_survival

    ax = _ax(ax)
    if result.incidence is not None:
        plot_cumulative_incidence(result.incidence, ax=ax, labels={1: "silent (in the group)", 2: "left"})
        ax.set_title(f"Cumulative incidence of churn routes from {_fmt(result.start)}")
    else:
        plot_survival(result.km, ax=ax)
        ax.set_ylabel("still not churned")
        ax.set_title(f"Time to churn ({result.definition.kind}) from {_fmt(result.start)}")
    ax.set_xlabel("days after start")
    return ax
