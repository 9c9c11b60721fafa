"""Activity segments, "how long is gone?" (silence spells) and time to churn (survival)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import ConvergenceError, InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.data.dataset import non_operator_members
from groupstats.analyses.churn.labels import (
    ACTIVITY_LEVELS, ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS, KEYS, MIN_HISTORY_DAYS, _DAY,
    _check_activity, _definition, _fmt, _midnight, churn_data, data_end_day, data_start_day, present_members,
)
from groupstats.analyses.churn.features import _Panel, _day_number
from groupstats.tables.churn_features import first_silence_candidates
from groupstats.analyses.churn.backtest import ChurnBacktest


def local_date(times: pd.Series) -> pd.Series:
    """Local calendar date (naive midnight) of tz-aware timestamps."""
    return times.dt.tz_localize(None).dt.normalize()


def day_to_date(days) -> np.ndarray:
    """Day numbers (days since 1970-01-01) as naive midnight ``datetime64[us]``."""
    return (np.asarray(days, dtype="int64") * 86_400_000_000).astype("datetime64[us]")


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
def silence_spells(ds, activity=DEFAULT_ACTIVITY, as_of=None) -> pd.DataFrame:
    """Silence spells of non-operator members: from each active day to the next one.

    A spell starts on a day with activity (of the chosen kinds) and lasts until the
    member's next active day (``returned``), until the member leaves the group
    (``left``, a competing event; leaving on the same day gives duration 0) or until the
    end of the data (censored: still silent on the last observed day).

    Parameters
    ----------
    ds : Dataset, dataset folder or :class:`groupstats.engine.Source`
    activity : tuple of str
        Kinds of activity that end a silence (see :class:`ChurnDefinition`).
    as_of : date, optional
        Use only data up to this time.

    Returns
    -------
    DataFrame, one row per spell: group_id, member_id, start (local date), duration (days,
    >= 0), returned (bool), left (bool).
    """
    from groupstats.tables.churn_features import silence_spell_days

    data = churn_data(ds)
    if as_of is not None:
        data = data.as_of(as_of)
    d = ChurnDefinition(activity=activity if not isinstance(activity, str) else (activity,)).validate()
    _check_activity(data, d.activity)
    days = data.src.execute(silence_spell_days(data.src, d.activity))
    end_date = np.datetime64((data_end_day(data) - _DAY).tz_localize(None))  # last observed date
    returned = days["next_day"].notna().to_numpy()
    dates = day_to_date(days["day"])
    next_date = day_to_date(days["next_day"].fillna(days["day"]))
    keys = days[KEYS].astype("str").reset_index(drop=True)
    members = non_operator_members(data.members)
    last_row = members.sort_values([*KEYS, "joined_at"], kind="stable").drop_duplicates(KEYS, keep="last")
    left_at = last_row.set_index(KEYS)["left_at"].reindex(pd.MultiIndex.from_frame(keys))
    left_date = local_date(pd.Series(left_at.to_numpy())).to_numpy()
    has_left = ~pd.isna(left_date) & ~returned
    has_left &= np.where(has_left, left_date >= dates, False)
    end = np.where(returned, next_date, np.where(has_left, left_date, end_date))
    duration = ((end - dates) / np.timedelta64(1, "D")).astype(float)
    out = keys
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

    def conclusion(self, lang: str | None = None) -> str:
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


def how_long_is_gone(ds, within: float = 60, days=range(1, 91), level: float = 0.2,
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
        cds = churn_data(ds) if as_of is None else churn_data(ds).as_of(as_of)
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
def time_to_churn(ds, start=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
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
    members = present_members(panel.data, begin).set_index(KEYS).reindex(pd.MultiIndex.from_frame(feats[KEYS]))
    n = len(feats)
    key_index = pd.MultiIndex.from_frame(feats[KEYS])
    begin_date = np.datetime64(begin.tz_localize(None))
    # silence starts: the start (p = -1) and each active day p from the start on; a silence is days
    # p+1..p+H with no activity (the engine lists the active days followed by one, and each member's
    # first active day from the start on)
    src = panel.data.src
    cands = src.execute(first_silence_candidates(src, d.activity, _day_number(begin), H, E))
    code = np.asarray(key_index.get_indexer(pd.MultiIndex.from_frame(cands[KEYS].astype("str"))), dtype=np.int64) \
        if len(cands) else np.zeros(0, np.int64)
    is_first = cands["p"].isna().to_numpy() if len(cands) else np.zeros(0, bool)
    first_p = np.full(n, np.inf)
    sel = is_first & (code >= 0)
    first_p[code[sel]] = cands["first_p"].to_numpy(dtype=float, na_value=np.nan)[sel]
    sel = ~is_first & (code >= 0)
    cand_code = np.r_[np.arange(n)[first_p > -1 + H], code[sel]]  # the start: silent if nothing before day H
    cand_p = np.r_[np.full(int((first_p > -1 + H).sum()), -1.0), cands["p"].to_numpy(dtype=float, na_value=np.nan)[sel]]
    left_at = members["left_at"]
    left_rel = np.full(n, np.inf)
    has_left = left_at.notna().to_numpy()
    if has_left.any():  # slice the Series itself: a tz-aware column's to_numpy() is an object array,
        # and an empty one (nobody left, as in most chat exports) has no .dt accessor
        left_dates = local_date(pd.to_datetime(left_at[has_left])).to_numpy()
        left_rel[has_left] = ((left_dates - begin_date) / np.timedelta64(1, "D")).astype(float)
    silence_end = cand_p + H  # last silent day
    silent_ok = silence_end <= E - 1
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

    def conclusion(self, lang: str | None = None) -> str:
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


def churn_survival(ds, start=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
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
