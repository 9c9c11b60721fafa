"""Churn features at a cutoff (from data up to it only), adaptive windows, and the panel of cutoffs."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from groupstats.engine import to_us
from groupstats.errors import InsufficientDataError
from groupstats.data.dataset import non_operator_members
from groupstats.analyses.churn.labels import (
    CHURN_WINDOWS, ChurnData, ChurnDefinition, DEFAULT_ACTIVITY, KEYS, MEMBER_WINDOWS, _check_activity, _fmt,
    _flags_by_cut, _midnight, activity_flags, churn_data, churn_labels, data_end_day, data_start_day,
)


# ======================================================================================
# features
# ======================================================================================
#: Churn-specific columns added to :func:`groupstats.tables.features.member_features`.
CHURN_FEATURES = ("silent_days", "never_active", "act_days_7d", "act_days_14d", "act_days_28d", "act_trend_14d",
                  "act_repeat_days", "act_age_days", "read_days_14d", "read_trend_14d")


_US_PER_DAY = 86_400_000_000


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


def _day_number(ts: pd.Timestamp) -> int:
    """Local day number (days since 1970-01-01) of a tz-aware time's date."""
    return int((np.datetime64(ts.tz_localize(None), "us") - np.datetime64(0, "us")) // np.timedelta64(1, "D"))


def _churn_extras(keys: pd.DataFrame, counts: pd.DataFrame | None, joined: pd.Series, cut: pd.Timestamp,
                  start: pd.Timestamp, windows=CHURN_WINDOWS, trend: int | None = None,
                  pos: np.ndarray | None = None) -> pd.DataFrame:
    """Churn-specific features of the members ``keys`` from their activity counts before the cutoff's date.

    ``counts`` holds one row per member with activity before the cutoff's date (the columns of
    :func:`groupstats.tables.churn_features.churn_activity_counts`, computed by the engine; without
    ``r_recent`` when the data have no read events); members absent from it have none. ``pos`` (optional):
    each key's row in ``counts`` (-1: none), if the caller has matched them.
    """
    windows = tuple(int(w) for w in windows)
    half = int(trend) if trend is not None else windows[-1] // 2
    n = len(keys)
    if pos is None:
        pos = (pd.MultiIndex.from_frame(counts[KEYS]).get_indexer(pd.MultiIndex.from_frame(keys[KEYS]))
               if counts is not None and len(counts) else np.full(n, -1))
    found = pos >= 0

    def col(name, fill=np.nan) -> np.ndarray:
        out = np.full(n, fill, dtype=float)
        if counts is not None and name in counts:
            out[found] = counts[name].to_numpy(dtype=float, na_value=fill)[pos[found]]
        return out

    out = pd.DataFrame(index=keys.index)
    last_us = col("last_us")
    first_day, last_day = col("first_age"), col("last_age")
    observed_from = np.maximum(joined.to_numpy(), np.datetime64(start.tz_convert("UTC").tz_localize(None)))
    cut_utc = np.datetime64(cut.tz_convert("UTC").tz_localize(None))
    observed_days = (cut_utc - observed_from) / np.timedelta64(1, "D")
    cut_us = float(to_us(cut))
    silent = (cut_us - last_us) / 86_400_000_000
    never = np.isnan(silent)
    out["silent_days"] = np.where(never, np.maximum(observed_days, 0), silent)
    out["never_active"] = never.astype(float)
    for w in windows:
        out[f"act_days_{w}d"] = col(f"a{w}", 0.0)
    out[f"act_trend_{half}d"] = col("recent", 0.0) - col("earlier", 0.0)
    out["act_repeat_days"] = np.maximum(col("n_days", 0.0) - 1, 0)
    out["act_age_days"] = np.where(never, np.nan, first_day)
    out["act_span_days"] = np.where(never, np.nan, first_day - last_day)
    if counts is not None and "r_recent" in counts:
        recent = col("r_recent", 0.0)
        out[f"read_days_{half}d"] = recent
        out[f"read_trend_{half}d"] = recent - col("r_earlier", 0.0)
    else:
        out[f"read_days_{half}d"] = np.nan
        out[f"read_trend_{half}d"] = np.nan
    return out


class _Panel:
    """Features and labels of one dataset at several cutoffs, computed once each.

    Features at cutoff c are always computed from data up to c only (as on
    ``ds.as_of(c)``); labels at c use data in (c, c + horizon] only. Everything is
    computed by the dataset's engine (:class:`ChurnData`), all the cutoffs asked for at
    once (:meth:`prefetch`): member features (one pass, or a few cutoffs per pass when the
    memberships are many: :data:`_MEMBER_CUTOFF_ROWS_PER_PASS`), and the churn-only counts
    with the activity flags behind the labels in one aggregation of the activity
    (:func:`groupstats.tables.churn_features.churn_counts_and_flags`).
    """

    def __init__(self, ds, definition: ChurnDefinition, windows: dict | None = None, message_mix: bool = True):
        self.data = churn_data(ds)
        #: False: the member features without the message mix
        #: (:data:`groupstats.tables.features.MESSAGE_MIX_COLUMNS`), which the models leave out
        #: (:func:`model_feature_columns`), nor the engine's counts behind them
        self.message_mix = message_mix
        self.ds = self.data
        self.definition = definition
        self.windows = windows if windows is not None else feature_windows(None)
        self.start = data_start_day(self.data)
        self.end = data_end_day(self.data)
        _check_activity(self.data, definition.activity)
        self._features: dict = {}
        self._labels: dict = {}
        self._flags: dict = {}

    def prefetch(self, cuts, labelled=()) -> None:
        """Compute features at ``cuts`` and activity flags at ``cuts`` and ``labelled`` not yet known."""
        cuts = [c for c in dict.fromkeys(cuts) if c not in self._features]
        todo = [c for c in dict.fromkeys([*cuts, *labelled]) if c not in self._flags]
        if cuts:
            flags = {} if todo else None  # the label flags in the same pass over the activity as the churn counts
            for c, frame in zip(cuts, _features_at(self.data, cuts, self.definition.activity, self.windows,
                                                   flags, todo, self.definition.horizon, self.message_mix)):
                self._features[c] = frame
            if flags is not None:
                self._flags.update(flags)
                todo = []
        if todo:
            self._flags.update(activity_flags(self.data, self.definition.activity, todo, self.definition.horizon))

    def features(self, cut: pd.Timestamp) -> pd.DataFrame:
        if cut not in self._features:
            self.prefetch([cut])
        return self._features[cut]

    def flags(self, cut: pd.Timestamp) -> pd.DataFrame:
        if cut not in self._flags:
            self.prefetch([], [cut])
        return self._flags[cut]

    def active_before(self, keys: pd.DataFrame, cut: pd.Timestamp) -> np.ndarray:
        """Whether each member of ``keys`` had activity in the ``horizon`` days up to ``cut``."""
        flags = self.flags(cut)
        if not len(flags):
            return np.zeros(len(keys), bool)
        pos = pd.MultiIndex.from_frame(flags[KEYS]).get_indexer(pd.MultiIndex.from_frame(keys[KEYS]))
        out = np.zeros(len(keys), bool)
        out[pos >= 0] = flags["before"].to_numpy()[pos[pos >= 0]] > 0
        return out

    def labels(self, cut: pd.Timestamp, limit: pd.Timestamp) -> pd.DataFrame:
        stop = cut + pd.Timedelta(days=self.definition.horizon)
        if stop > limit:  # guard: a label must never use data after the fit cutoff
            raise InsufficientDataError(f"Labels at {_fmt(cut)} end on {_fmt(stop)}, after {_fmt(limit)}.")
        if cut not in self._labels:
            self._labels[cut] = churn_labels(self.data, cut, self.definition.horizon, self.definition.kind,
                                             self.definition.activity, _flags=self.flags(cut))
        return self._labels[cut]

    def frame(self, cut: pd.Timestamp, limit: pd.Timestamp | None = None) -> pd.DataFrame:
        """Features at ``cut`` joined with labels (when ``limit`` is given)."""
        feats = self.features(cut)
        if limit is None:
            return feats
        labels = self.labels(cut, limit)
        if _same_keys(feats, labels):  # (the usual case: both are the members present, sorted by keys)
            joined = pd.concat([feats.reset_index(drop=True), labels.drop(columns=KEYS).reset_index(drop=True)],
                               axis=1)
            # (a merge keeps the attrs only when its inputs have the same ones)
            joined.attrs = copy.deepcopy(feats.attrs) if feats.attrs and feats.attrs == labels.attrs else {}
            return joined
        return feats.merge(labels, on=KEYS, how="inner", validate="one_to_one")


def _same_keys(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether ``a`` and ``b`` have the same (group_id, member_id) row for row, each pair once: their inner
    join on the keys is then ``a`` beside ``b``'s other columns, in ``a``'s order."""
    if len(a) != len(b) or a.columns.intersection(b.columns).difference(KEYS).size:
        return False
    (g, m), (g2, m2) = ([frame[k].to_numpy(dtype=object) for k in KEYS] for frame in (a, b))
    if not ((g == g2).all() and (m == m2).all()):
        return False
    # each pair once: strictly ascending keys (else the caller's merge decides)
    return bool(((g[1:] > g[:-1]) | ((g[1:] == g[:-1]) & (m[1:] > m[:-1]))).all())


#: Memberships x cutoffs per engine pass of the member features (:func:`_features_at`). One pass for
#: many cutoffs is faster while the members are few, but DuckDB's memory grows with memberships x
#: cutoffs beyond its memory limit: 2,150 groups x 60 days (174k memberships), 4 cutoffs: 2.5 GB peak
#: in one pass, 1.8 GB in two, 1.1 GB one at a time (about as fast); 10M messages (28k memberships), 9
#: cutoffs: 1.3 GB in one pass (and 1.4x faster than three). The features are the same either way.
_MEMBER_CUTOFF_ROWS_PER_PASS = 300_000


def _features_at(data: ChurnData, cuts: list, activity: tuple, wins: dict, flags_out: dict | None = None,
                 flag_cuts=(), horizon: int | None = None, message_mix: bool = True) -> list:
    """Churn features at each of ``cuts`` (local midnights): member features from data up to each,
    plus the churn-only columns, each for every cutoff in one engine pass.

    With a dict ``flags_out``, the label flags at ``flag_cuts`` (``horizon`` days) are put in it, as
    :func:`activity_flags` gives them, computed in the same aggregation of the activity as the churn
    counts (:func:`groupstats.tables.churn_features.churn_counts_and_flags`)."""
    from groupstats.tables.churn_features import US_PER_DAY, churn_counts_and_flags
    from groupstats.tables.member_numbers import number_members
    from groupstats.tables.derived import event_types
    from groupstats.tables.feature_counts import expect_sign_in_cutoffs
    from groupstats.tables.features import _cutoff_us, member_features_at

    src = data.src
    start = data_start_day(data)
    per_pass = max(1, _MEMBER_CUTOFF_ROWS_PER_PASS // max(len(data.members), 1))
    # the pass with the latest cutoffs first: its proof that no member read a post twice (memoised on the
    # source, :func:`~groupstats.tables.feature_counts.event_keys_distinct`) holds at every earlier cutoff
    order = sorted(range(len(cuts)), key=lambda k: cuts[k], reverse=True)
    if len(cuts) > 1:  # the event types at every cutoff from one grouping of the events
        src.first_event_us_by_type()
    if per_pass == 1 and len(cuts) > 1:  # the sign-in days of every cutoff in the first pass's query of them
        expect_sign_in_cutoffs(src, [_cutoff_us(src, c) for c in cuts])
    found: dict = {}
    for lo in range(0, len(order), per_pass):
        chunk = order[lo:lo + per_pass]
        for k, f in zip(chunk, member_features_at(src, [cuts[k] for k in chunk], windows=wins["member"],
                                                  message_mix=message_mix)):
            found[k] = f.reset_index(drop=True)
    bases = [found[k] for k in range(len(cuts))]
    with_reads = "read" in event_types(src)
    flag_cuts = list(flag_cuts) if flags_out is not None else []
    counts, flags = churn_counts_and_flags(src, activity, [_day_number(c) for c in cuts], wins["churn"],
                                           wins["trend"], with_reads, [src.timestamp_us(c) for c in flag_cuts],
                                           None if horizon is None else int(horizon) * US_PER_DAY)
    if flag_cuts:
        flags_out.update(_flags_by_cut(flags, flag_cuts))
    # each member's first join: a member present at a cutoff joined by then, so the earliest of its joins up
    # to the cutoff is its earliest join overall (one grouping for every cutoff)
    first_join = non_operator_members(data.members).groupby(KEYS)["joined_at"].min().reset_index()
    # one numbering of the members of every frame: keys matched as integers (no MultiIndex per cutoff)
    _, codes = number_members(*bases, counts, first_join)
    n_keys = 1 + max((int(c.max()) for c in codes if len(c)), default=-1)
    joined_at = first_join["joined_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    joined_all = pd.Series(pd.NaT, index=range(n_keys), dtype=joined_at.dtype)
    joined_all.iloc[codes[-1]] = joined_at.to_numpy()
    cut_ids = counts["cut_id"].to_numpy()
    out = []
    for k, (cut, base) in enumerate(zip(cuts, bases)):
        joined = joined_all.take(codes[k]).reset_index(drop=True)
        rows = np.flatnonzero(cut_ids == k)
        part = counts.iloc[rows]
        if not with_reads:
            part = part.drop(columns=["r_recent", "r_earlier"], errors="ignore")
        at = np.full(n_keys, -1, dtype=np.int64)
        at[codes[len(bases)][rows]] = np.arange(len(rows))
        extras = _churn_extras(base[KEYS], part, joined, cut, start, windows=wins["churn"], trend=wins["trend"],
                               pos=at[codes[k]])
        frame = pd.concat([base, extras.set_axis(base.index)], axis=1)
        frame.attrs = dict(base.attrs)
        frame.attrs["cutoff"] = cut
        out.append(frame)
    return out


def churn_features(ds, cutoff, activity=DEFAULT_ACTIVITY, _panel: _Panel | None = None,
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
    data = churn_data(ds)
    cut = _midnight(data, cutoff)
    if _panel is not None:
        return _panel.features(cut)
    d = ChurnDefinition(activity=tuple(activity if not isinstance(activity, str) else (activity,))).validate()
    cut_data = data.as_of(cut)
    _check_activity(cut_data, d.activity)
    return _features_at(cut_data, [cut], d.activity, windows if windows is not None else feature_windows(None))[0]


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
