"""Churn definitions, time helpers, members present at a cutoff and churn labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.data.schema import OPERATOR_ROLES


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


class ChurnData:
    """What the churn analysis reads of a dataset: its tables on the engine and its small members table.

    Built by :func:`churn_data` from a :class:`~groupstats.data.dataset.Dataset` (its engine, via
    :func:`groupstats.engine.source_of`), a :class:`~groupstats.engine.Source` or a dataset folder
    (read by the engine, never loaded into pandas). Messages and events stay in the engine; only
    ``members`` (one row per membership) is held in pandas.

    Attributes
    ----------
    src : Source, cut at ``cutoff`` if set
    tz : str
    cutoff : Timestamp or None
    members : DataFrame (group_id, member_id, joined_at, left_at, role; tz-aware times)
        Its memberships are filtered and sorted once per object for the members present at every cutoff
        (:func:`present_members`).
    """

    def __init__(self, src, members: pd.DataFrame, cutoff: pd.Timestamp | None = None):
        self.src = src
        self.tz = src.tz
        self.members = members
        self.cutoff = cutoff
        #: (members, memberships, key numbers) of :func:`_member_memberships`, for this ``members`` frame.
        self._memberships: tuple | None = None

    def timestamp(self, value) -> pd.Timestamp:
        """Interpret a date/time in the dataset's timezone."""
        return self.src.to_timestamp(self.src.timestamp_us(value))

    def as_of(self, cutoff) -> "ChurnData":
        """The data as known at ``cutoff`` (as :meth:`Dataset.as_of <groupstats.data.dataset.Dataset.as_of>`)."""
        cut = self.timestamp(cutoff)
        if self.cutoff is not None and cut > self.cutoff:
            cut = self.cutoff
        m = self.members
        m = m.loc[(m["joined_at"] <= cut).to_numpy()].copy()
        m.loc[m["left_at"] > cut, "left_at"] = pd.NaT
        return ChurnData(self.src.cut(self.src.timestamp_us(cut)), m.reset_index(drop=True), cut)

    def message_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        lo, hi = self.src.message_range_us()
        return (None if lo is None else self.src.to_timestamp(lo)), (None if hi is None else self.src.to_timestamp(hi))


def _us_to_time(values, tz: str) -> pd.Series:
    return pd.to_datetime(pd.Series(values).astype("Int64"), unit="us", utc=True).dt.tz_convert(tz)


def churn_data(ds) -> ChurnData:
    """The :class:`ChurnData` of a Dataset, a :class:`~groupstats.engine.Source` or a dataset folder."""
    from pathlib import Path

    from groupstats.engine import Source, source_of

    if isinstance(ds, ChurnData):
        return ds
    if isinstance(ds, Dataset):
        src = source_of(ds)
        return ChurnData(src, ds.members, ds.cutoff)
    src = ds if isinstance(ds, Source) else (Source.from_path(ds) if isinstance(ds, (str, Path)) else None)
    if src is None:
        raise ParameterError(f"Churn analysis needs a Dataset, a dataset folder or an engine Source, not "
                             f"{type(ds).__name__}.")
    members = src._cache.get("churn_members")
    if members is None:
        raw = src.execute(src.table("members").select(*KEYS, "joined_us", "left_us", "role"))
        members = pd.DataFrame({"group_id": raw["group_id"].astype("str"), "member_id": raw["member_id"].astype("str"),
                                "joined_at": _us_to_time(raw["joined_us"], src.tz),
                                "left_at": _us_to_time(raw["left_us"], src.tz), "role": raw["role"].astype("str")})
        src._cache["churn_members"] = members
    return ChurnData(src, members, None if src.cut_us is None else src.to_timestamp(src.cut_us))


def _midnight(ds, value) -> pd.Timestamp:
    """Local midnight at the start of the date of ``value`` (tz-aware)."""
    if not hasattr(ds, "timestamp"):
        ds = churn_data(ds)
    ts = ds.timestamp(value)
    return ts.tz_localize(None).normalize().tz_localize(ds.tz, nonexistent="shift_forward", ambiguous=False)


def data_start_day(ds) -> pd.Timestamp:
    """Midnight of the first message's date."""
    data = churn_data(ds)
    first = data.message_range()[0]
    if first is None:
        raise InsufficientDataError("The dataset has no messages; churn analysis needs message history.")
    return _midnight(data, first)


def data_end_day(ds) -> pd.Timestamp:
    """End of observation: the dataset's cutoff, else midnight after the last message's date."""
    data = churn_data(ds)
    if data.cutoff is not None:
        return data.cutoff
    last = data.message_range()[1]
    if last is None:
        raise InsufficientDataError("The dataset has no messages; churn analysis needs message history.")
    return _midnight(data, last) + _DAY


def _fmt(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d}"


# ======================================================================================
# activity, presence, labels
# ======================================================================================
def _check_activity(data: ChurnData, activity: tuple) -> None:
    """Activity of event kinds needs an events table, and (without messages) some such events."""
    from groupstats.tables.derived import event_types

    kinds = [a for a in activity if a != "message"]
    if not kinds:
        return
    data.src.require("events", f"churn defined by {', '.join(kinds)} events")
    if "message" not in activity and not set(kinds) & set(event_types(data.src, include_operators=False)):
        raise InsufficientDataError(f"The events table has no {', '.join(kinds)} events; churn cannot be "
                                    f"defined by them. Add 'message' to the activity kinds.")


def activity_flags(data: ChurnData, activity: tuple, cuts, horizon: int) -> dict:
    """Per cutoff, (group_id, member_id, after, before): members with activity in (cut, cut + horizon]
    (``after`` > 0) or in (cut - horizon, cut] (``before`` > 0); one engine pass for all cutoffs
    (:func:`groupstats.tables.churn_features.churn_label_flags`)."""
    from groupstats.tables.churn_features import US_PER_DAY, churn_label_flags

    cuts = list(cuts)
    if not cuts:
        return {}
    _check_activity(data, activity)
    cut_us = [data.src.timestamp_us(c) for c in cuts]
    flags = data.src.execute(churn_label_flags(data.src, activity, cut_us, int(horizon) * US_PER_DAY))
    return _flags_by_cut(flags, cuts)


def _flags_by_cut(flags: pd.DataFrame, cuts: list) -> dict:
    """The engine's flags (cut_id, group_id, member_id, after, before) as one frame per cutoff of ``cuts``.

    The key columns are made ``str`` once (no copy when they are already) and each cutoff's rows taken
    from them: no round trip through Python string objects per cutoff. A cutoff without rows gets empty
    ``object`` key columns (what pandas makes of an empty array of strings)."""
    cut_id = flags["cut_id"].to_numpy()
    keys = [flags[key].astype("str").array for key in KEYS]
    after, before = (flags[name].to_numpy(dtype=np.int64) for name in ("after", "before"))
    out = {}
    for k, c in enumerate(cuts):
        at = np.flatnonzero(cut_id == k)
        group, member = (values.take(at) if len(at) else np.array([], dtype=object) for values in keys)
        out[c] = pd.DataFrame({"group_id": group, "member_id": member, "after": after[at], "before": before[at]})
    return out


def _member_memberships(data: ChurnData) -> tuple[pd.DataFrame, np.ndarray]:
    """The memberships any cutoff's present members come from, computed once per ``data.members``.

    Non-operator membership rows (group_id, member_id, joined_at, left_at) with a join time, of the
    (group, member) pairs with no operator (owner or admin) row at all, sorted by keys and
    ``joined_at`` (stable), and each row's key number: its pair's rank among the sorted distinct pairs
    (:func:`~groupstats.tables.member_numbers.number_members`, which ranks the ids as ``sort_values``
    orders them). Memoised on ``data``: the members table and the operators do not depend on the cutoff.
    """
    from groupstats.tables.member_numbers import number_members

    memo = data._memberships
    if memo is not None and memo[0] is data.members:
        return memo[1], memo[2]
    m = data.members
    _, (key_number,) = number_members(m)
    operator_pair = np.zeros(int(key_number.max(initial=-1)) + 1, bool)
    operator_pair[key_number[m["role"].isin(OPERATOR_ROLES).to_numpy()]] = True
    joined = pd.DatetimeIndex(m["joined_at"])
    rows = np.flatnonzero(~operator_pair[key_number] & joined.notna())
    rows = rows[np.lexsort((joined.asi8[rows], key_number[rows]))]  # keys, then joined_at; stable
    table, key_number = m[[*KEYS, "joined_at", "left_at"]].take(rows).reset_index(drop=True), key_number[rows]
    data._memberships = (m, table, key_number)
    return table, key_number


def present_members(ds, cutoff) -> pd.DataFrame:
    """Non-operator memberships present at ``cutoff``: group_id, member_id, joined_at, left_at.

    One row per (group_id, member_id) that has no operator row in the data, sorted by keys: its last
    membership (latest ``joined_at``) among those joined by ``cutoff`` and not left by then
    (``left_at`` missing or after it). ``left_at`` is the membership's (possibly later) leaving time
    from the full data; use it only for labels.
    """
    data = churn_data(ds)
    cut = data.timestamp(cutoff)
    rows, key_number = _member_memberships(data)
    left = rows["left_at"]
    at = np.flatnonzero(((rows["joined_at"] <= cut) & (left.isna() | (left > cut))).to_numpy())
    keys = key_number[at]
    last = np.append(keys[1:] != keys[:-1], True) if len(at) else np.zeros(0, bool)  # rows sorted by keys
    return rows.take(at[last]).reset_index(drop=True)


def _labels(members: pd.DataFrame, flags: pd.DataFrame, d: ChurnDefinition, cut: pd.Timestamp,
            stop: pd.Timestamp) -> pd.DataFrame:
    """Labels of the members present at ``cut`` from their activity flags there."""
    from groupstats.tables.member_numbers import number_members

    # each member's row in ``flags`` (-1: none), through one numbering of the keys of both
    keys, (member_key, flag_key) = number_members(members, flags)
    flag_row = np.full(len(keys), -1, dtype=np.int64)
    flag_row[flag_key] = np.arange(len(flags))
    pos = flag_row[member_key]
    found = pos >= 0
    spoke_after = np.zeros(len(members), bool)
    active_before = np.zeros(len(members), bool)
    spoke_after[found] = flags["after"].to_numpy()[pos[found]] > 0
    active_before[found] = flags["before"].to_numpy()[pos[found]] > 0
    left = (members["left_at"].notna() & (members["left_at"] <= stop)).to_numpy()
    silent = ~spoke_after
    churned = {"silent": silent, "left": left, "either": silent | left}[d.kind]
    out = members[KEYS].copy()
    out["silent"] = silent
    out["left"] = left
    out["churned"] = churned
    out["active_before"] = active_before
    out.attrs.update({"cutoff": cut, "horizon": d.horizon, "definition": d.kind, "activity": list(d.activity)})
    return out


def churn_labels(ds, cutoff, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                 activity=DEFAULT_ACTIVITY, _flags: pd.DataFrame | None = None) -> pd.DataFrame:
    """Churn outcome of every non-operator member present at ``cutoff``, from data after it only.

    Parameters
    ----------
    ds : Dataset, dataset folder or :class:`groupstats.engine.Source`
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
    data = churn_data(ds)
    cut = _midnight(data, cutoff)
    end = data_end_day(data)
    stop = cut + pd.Timedelta(days=d.horizon)
    if stop > end:
        raise InsufficientDataError(
            f"Churn labels at {_fmt(cut)} need {d.horizon} days of data after it (to {_fmt(stop)}); the data end "
            f"on {_fmt(end)}. Use a cutoff on or before {_fmt(end - pd.Timedelta(days=d.horizon))} or a shorter "
            f"horizon.")
    members = present_members(data, cut)
    flags = activity_flags(data, d.activity, [cut], d.horizon)[cut] if _flags is None else _flags
    return _labels(members, flags, d, cut, stop)
