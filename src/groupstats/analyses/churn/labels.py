"""Churn definitions, time helpers, members present at a cutoff and churn labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import member_messages
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
