"""Survival analysis building blocks: Kaplan-Meier, Aalen-Johansen competing risks,
"how long is gone?" return-probability curves, and a Cox model wrapper.

All estimators are vectorised (event tables by ``np.unique`` + ``np.bincount``; variances by
prefix sums), follow scikit-learn conventions (``fit`` returns self, learned attributes end
in ``_``) and accept optional frequency weights.

Notation at the distinct observed times t_1 < ... < t_m: n_j = weight at risk (duration >= t_j),
d_j = events of any cause at t_j, d_kj = events of cause k, S = all-cause Kaplan-Meier::

    S(t)      = prod_{t_j <= t} (1 - d_j / n_j)
    Var S(t)  = S(t)^2 sum_{t_j <= t} d_j / (n_j (n_j - d_j))                    (Greenwood)
    F_k(t)    = sum_{t_j <= t} S(t_{j-1}) d_kj / n_j                             (Aalen-Johansen CIF)
    Var F_k(t) = sum_{t_j <= t} { [F_k(t) - F_k(t_j)]^2 d_j / (n_j (n_j - d_j))
                                  + S(t_{j-1})^2 d_kj (n_j - d_kj) / n_j^3
                                  - 2 [F_k(t) - F_k(t_j)] S(t_{j-1}) d_kj / n_j^2 }

The CIF variance is the delta-method ("Greenwood-type") estimator of Marubini & Valsecchi
(1995, Analysing Survival Data from Clinical Trials and Observational Studies, sec. 10.3),
also used by Collett (Modelling Survival Data in Medical Research) and by statsmodels'
``CumIncidenceRight``; with one cause it reduces exactly to Greenwood's formula for 1 - S.
Pointwise confidence intervals use the log(-log) transform, so they stay inside (0, 1)::

    S^{exp(+z se_S / |S ln S|)} <= S <= S^{exp(-z se_S / |S ln S|)}    (same for F_k)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from groupstats.errors import ConvergenceError, InsufficientDataError, NotFittedError, ParameterError
from groupstats.results import Result, to_jsonable

__all__ = [
    "KaplanMeier", "AalenJohansen", "CoxPH", "ReturnCurve",
    "return_probability_curve", "suggest_threshold",
    "plot_survival", "plot_cumulative_incidence", "plot_return_curve",
]

#: The playbook's churn rule that the return curve lets an analyst test: "流失用户: 连续30天无互动"
#: (article "微信群如何经营和管理(微信群运营与管理)"; also "休眠期(30天未互动)" in "微信群怎么互动(群聊互动技巧)").
PLAYBOOK_SILENT_DAYS = 30


# ======================================================================================
# validation helpers
# ======================================================================================
def _float_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"'{name}' must be numeric; got values of type {type(values).__name__}.") from exc
    return arr


def _durations(values, name: str = "durations") -> np.ndarray:
    arr = _float_array(values, name)
    if arr.size == 0:
        raise InsufficientDataError(f"'{name}' is empty; there is nothing to estimate.")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"'{name}' has {int(np.sum(~np.isfinite(arr)))} NaN/infinite value(s); "
                             f"censor open spells at the end of the data instead of leaving them empty.")
    if np.any(arr < 0):
        raise ParameterError(f"'{name}' has {int(np.sum(arr < 0))} negative value(s); durations must be >= 0.")
    return arr


def _weights(values, n: int) -> np.ndarray:
    if values is None:
        return np.ones(n)
    w = _float_array(values, "weights")
    if w.size != n or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ParameterError("weights must be finite, >= 0, one per duration, with a positive sum.")
    return w


def _event_codes(values, n: int) -> np.ndarray:
    codes = _float_array(values, "event_codes")
    if codes.size != n:
        raise ParameterError(f"event codes have length {codes.size} but durations have length {n}.")
    if not np.all(np.isfinite(codes)) or np.any(codes < 0) or np.any(codes != np.round(codes)):
        raise ParameterError("event codes must be whole numbers >= 0 (0 = censored, 1..K = cause).")
    return codes.astype(np.int64)


def _loglog_ci(p: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """log(-log) pointwise CI for a probability p with standard error se (vectorised)."""
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    low = np.full_like(p, np.nan)
    high = np.full_like(p, np.nan)
    inner = (p > 0) & (p < 1) & np.isfinite(se)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_g = se[inner] / np.abs(p[inner] * np.log(p[inner]))
        low[inner] = p[inner] ** np.exp(z * s_g)
        high[inner] = p[inner] ** np.exp(-z * s_g)
    for edge in (0.0, 1.0):
        m = p == edge
        low[m] = edge
        high[m] = edge
    return low, high


# ======================================================================================
# the engine: event table, KM, AJ, conditional CIF with variance by prefix sums
# ======================================================================================
@dataclass
class _EventTable:
    times: np.ndarray          # (m,) distinct observed times
    at_risk: np.ndarray        # (m,) weight with duration >= t
    events: np.ndarray         # (m,) events of any cause at t
    by_cause: np.ndarray       # (m, K) events of each cause at t
    censored: np.ndarray       # (m,) censored at t
    causes: np.ndarray         # (K,) cause codes
    surv: np.ndarray           # (m,) all-cause KM S(t_j)
    surv_lag: np.ndarray       # (m,) S(t_{j-1}) (1 at the first time)
    cif: np.ndarray            # (m, K) F_k(t_j)

    @property
    def greenwood_terms(self) -> np.ndarray:
        """d_j / (n_j (n_j - d_j)); 0 where n_j == d_j (the curve drops to 0 there, exactly)."""
        n, d = self.at_risk, self.events
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(n > d, d / (n * (n - d)), 0.0)
        return out

    def index_at(self, t: np.ndarray) -> np.ndarray:
        """Index of the last observed time <= t (-1 if t is before the first time)."""
        return np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1


def _build_event_table(durations: np.ndarray, codes: np.ndarray, weights: np.ndarray,
                       causes: np.ndarray | None = None) -> _EventTable:
    times, inverse = np.unique(durations, return_inverse=True)
    m = times.size
    removed = np.bincount(inverse, weights=weights, minlength=m)
    at_risk = weights.sum() - np.r_[0.0, np.cumsum(removed)[:-1]]
    if causes is None:
        causes = np.unique(codes[codes > 0])
    by_cause = np.column_stack([np.bincount(inverse, weights=weights * (codes == k), minlength=m)
                                for k in causes]) if causes.size else np.zeros((m, 0))
    events = np.bincount(inverse, weights=weights * (codes > 0), minlength=m)
    censored = removed - events
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
        surv = np.cumprod(1.0 - hazard)
        surv = np.clip(surv, 0.0, 1.0)
        surv_lag = np.r_[1.0, surv[:-1]]
        cause_hazard = np.where(at_risk[:, None] > 0, by_cause / at_risk[:, None], 0.0)
    cif = np.cumsum(surv_lag[:, None] * cause_hazard, axis=0)
    return _EventTable(times, at_risk, events, by_cause, censored, causes, surv, surv_lag, cif)


def _prefix(values: np.ndarray) -> np.ndarray:
    """Prefix sums with a leading 0: P[k] = sum_{j < k} values[j] (along axis 0)."""
    values = np.asarray(values, dtype=float)
    zero = np.zeros((1,) + values.shape[1:])
    return np.concatenate([zero, np.cumsum(values, axis=0)], axis=0)


def _conditional_cif(table: _EventTable, cause_col: int, start: np.ndarray, stop: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(T in (start, stop], cause k | T > start) with its delta-method variance, vectorised.

    Returns (estimate, variance, S(start)). With start = -inf this is the Aalen-Johansen CIF F_k(stop).
    The conditional estimator is the AJ estimator restarted at ``start`` (the risk sets after
    ``start`` only contain subjects with T > start), so the Marubini-Valsecchi variance applies
    with S(t_{j-1}) / S(start) and (F_k(stop) - F_k(t_j)) / S(start); the sums over
    t_j in (start, stop] are differences of prefix sums.
    """
    i0 = table.index_at(start)            # last time <= start
    i1 = table.index_at(stop)             # last time <= stop
    i1 = np.maximum(i1, i0)
    F = table.cif[:, cause_col]
    Fpad = np.r_[0.0, F]                  # Fpad[i + 1] = F at index i; Fpad[0] = 0 (before first time)
    Spad = np.r_[1.0, table.surv]
    F_start, F_stop = Fpad[i0 + 1], Fpad[i1 + 1]
    S_start = Spad[i0 + 1]

    a = table.greenwood_terms
    n = table.at_risk
    dk = table.by_cause[:, cause_col]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(n > 0, dk * (n - dk) / n ** 3, 0.0) * table.surv_lag ** 2
        c = np.where(n > 0, dk / n ** 2, 0.0) * table.surv_lag
    P = _prefix(np.column_stack([a, F * a, F ** 2 * a, b, c, F * c]))
    sums = P[i1 + 1] - P[i0 + 1]          # sum over j in (i0, i1]
    A0, A1, A2, B0, C0, C1 = sums.T
    var_unscaled = F_stop ** 2 * A0 - 2 * F_stop * A1 + A2 + B0 - 2 * (F_stop * C0 - C1)
    var_unscaled = np.maximum(var_unscaled, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(S_start > 0, (F_stop - F_start) / S_start, np.nan)
        var = np.where(S_start > 0, var_unscaled / S_start ** 2, np.nan)
    return est, var, S_start


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be in (0, 1) (0.05 gives 95% intervals), got {alpha!r}.")
    return float(stats.norm.ppf(1 - alpha / 2))


# ======================================================================================
# Kaplan-Meier
# ======================================================================================
class KaplanMeier:
    """Kaplan-Meier estimator with Greenwood standard errors and log(-log) CIs.

    Parameters
    ----------
    alpha : float, default 0.05
        1 - confidence level of the pointwise intervals.

    Attributes (after ``fit``)
    --------------------------
    survival_function_ : DataFrame
        One row per distinct observed time: ``time, survival, se, ci_low, ci_high, at_risk,
        events, censored``. ``se`` is Greenwood's; rows with only censoring keep the survival
        of the previous event time.
    median_ : float
        Smallest time with S(t) <= 0.5 (``inf`` if the curve never gets there).
    n_, n_events_ : float
        Total weight and total events.
    """

    def __init__(self, alpha: float = 0.05, label: str | None = None):
        self.alpha = alpha
        self.label = label

    def fit(self, durations, events=None, weights=None) -> "KaplanMeier":
        """Fit on right-censored data.

        Parameters
        ----------
        durations : array-like, shape (n,)
            Time to event or censoring, >= 0.
        events : array-like of bool/0-1, shape (n,), optional
            True if the event was observed, False if censored. Default: all observed.
        weights : array-like, shape (n,), optional
            Frequency weights (number of subjects per row).
        """
        z = _z(self.alpha)
        dur = _durations(durations)
        if events is None:
            ev = np.ones(dur.size)
        else:
            ev = _float_array(events, "events")
            if ev.size != dur.size or not np.all(np.isin(ev, (0.0, 1.0))):
                raise ParameterError("events must be booleans or 0/1 (1 = event observed, 0 = censored), "
                                     "one per duration.")
        w = _weights(weights, dur.size)
        table = _build_event_table(dur, ev.astype(np.int64), w, causes=np.array([1]))
        surv = table.surv
        se = surv * np.sqrt(np.cumsum(table.greenwood_terms))
        low, high = _loglog_ci(surv, se, z)
        self._table = table
        self.survival_function_ = pd.DataFrame({
            "time": table.times, "survival": surv, "se": se, "ci_low": low, "ci_high": high,
            "at_risk": table.at_risk, "events": table.events, "censored": table.censored,
        })
        below = np.flatnonzero(surv <= 0.5)
        self.median_ = float(table.times[below[0]]) if below.size else float("inf")
        self.n_ = float(w.sum())
        self.n_events_ = float(table.events.sum())
        return self

    def _check(self) -> _EventTable:
        if not hasattr(self, "_table"):
            raise NotFittedError("This KaplanMeier is not fitted yet; call .fit(durations, events) first.")
        return self._table

    def predict(self, times) -> np.ndarray | float:
        """S(t) at the given times (right-continuous step function; 1 before the first time)."""
        table = self._check()
        t = _float_array(times, "times")
        idx = table.index_at(t)
        out = np.r_[1.0, table.surv][idx + 1]
        return float(out[0]) if np.ndim(times) == 0 else out

    def conditional_survival(self, times, given) -> np.ndarray:
        """P(T > t | T > given) = S(t) / S(given) for t >= given."""
        s_t = np.atleast_1d(self.predict(times))
        s_g = np.atleast_1d(self.predict(given))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s_g > 0, s_t / s_g, np.nan)


# ======================================================================================
# Aalen-Johansen
# ======================================================================================
class AalenJohansen:
    """Aalen-Johansen cumulative incidence functions for competing risks.

    Parameters
    ----------
    alpha : float, default 0.05
        1 - confidence level of the pointwise intervals (log(-log) transform).

    Attributes (after ``fit``)
    --------------------------
    cumulative_incidence_ : DataFrame
        Long format, one row per (cause, distinct observed time): ``cause, time, cif, se,
        ci_low, ci_high, at_risk, events`` (``events`` = events of that cause at that time).
        ``se`` is the Marubini-Valsecchi delta-method standard error (module docstring).
    survival_ : DataFrame
        All-cause event-free survival (Kaplan-Meier treating every cause as an event):
        ``time, survival, at_risk, events``. At every time, ``survival + sum_k cif_k = 1``.
    causes_ : list of int
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, durations, event_codes, weights=None) -> "AalenJohansen":
        """Fit on competing-risks data.

        Parameters
        ----------
        durations : array-like, shape (n,)
            Time to the first event or censoring, >= 0.
        event_codes : array-like of int, shape (n,)
            0 = censored, 1..K = the cause that happened.
        weights : array-like, shape (n,), optional
            Frequency weights.
        """
        z = _z(self.alpha)
        dur = _durations(durations)
        codes = _event_codes(event_codes, dur.size)
        w = _weights(weights, dur.size)
        causes = np.unique(codes[codes > 0])
        if causes.size == 0:
            raise InsufficientDataError("No events in the data (all codes are 0 = censored), so there is "
                                        "no incidence to estimate.")
        table = _build_event_table(dur, codes, w, causes=causes)
        minus_inf = np.full(table.times.size, -np.inf)
        frames = []
        for col, k in enumerate(causes):
            est, var, _ = _conditional_cif(table, col, minus_inf, table.times)
            se = np.sqrt(var)
            low, high = _loglog_ci(est, se, z)
            frames.append(pd.DataFrame({
                "cause": int(k), "time": table.times, "cif": est, "se": se, "ci_low": low, "ci_high": high,
                "at_risk": table.at_risk, "events": table.by_cause[:, col],
            }))
        self._table = table
        self.causes_ = [int(k) for k in causes]
        self.cumulative_incidence_ = pd.concat(frames, ignore_index=True)
        self.survival_ = pd.DataFrame({"time": table.times, "survival": table.surv,
                                       "at_risk": table.at_risk, "events": table.events})
        return self

    def _check(self) -> _EventTable:
        if not hasattr(self, "_table"):
            raise NotFittedError("This AalenJohansen is not fitted yet; call .fit(durations, event_codes) first.")
        return self._table

    def _col(self, cause: int) -> int:
        if cause not in self.causes_:
            raise ParameterError(f"cause {cause!r} is not in the data; causes seen: {self.causes_}.")
        return self.causes_.index(cause)

    def predict(self, times, cause: int) -> np.ndarray:
        """F_cause(t) at the given times (step function; 0 before the first time)."""
        table = self._check()
        t = _float_array(times, "times")
        return np.r_[0.0, table.cif[:, self._col(cause)]][table.index_at(t) + 1]

    def predict_survival(self, times) -> np.ndarray:
        """All-cause event-free survival S(t) at the given times."""
        table = self._check()
        t = _float_array(times, "times")
        return np.r_[1.0, table.surv][table.index_at(t) + 1]

    def conditional_incidence(self, start, stop, cause: int) -> pd.DataFrame:
        """P(T in (start, stop], cause | T > start) with delta-method SE and log(-log) CI.

        ``start`` and ``stop`` broadcast against each other (arrays of equal shape or scalars).
        Returns a DataFrame ``start, stop, estimate, se, ci_low, ci_high, survival_start``.
        """
        table = self._check()
        s0, s1 = np.broadcast_arrays(_float_array(start, "start"), _float_array(stop, "stop"))
        if np.any(s1 < s0):
            raise ParameterError("stop must be >= start.")
        est, var, S_start = _conditional_cif(table, self._col(cause), s0, s1)
        se = np.sqrt(var)
        low, high = _loglog_ci(est, se, _z(self.alpha))
        return pd.DataFrame({"start": s0, "stop": s1, "estimate": est, "se": se, "ci_low": low,
                             "ci_high": high, "survival_start": S_start})


# ======================================================================================
# return-probability curve ("how long is gone?")
# ======================================================================================
@dataclass
class ReturnCurve(Result):
    """P(speaks again within ``within`` days | silent ``d`` days), per segment.

    Attributes
    ----------
    curve : DataFrame
        ``segment, d, p_return, se, ci_low, ci_high, n_at_risk`` (one row per segment and d).
    within : float
        Length of the return window in days.
    reference_day : int
        Silence length quoted in the conclusion: the playbook's churn rule
        ("流失用户: 连续30天无互动", article "微信群如何经营和管理(微信群运营与管理)").
    """

    curve: pd.DataFrame
    within: float
    alpha: float = 0.05
    reference_day: int = PLAYBOOK_SILENT_DAYS
    n_spells: dict = field(default_factory=dict)
    title: str = "Probability of speaking again after a silence (Aalen-Johansen, leaving = competing event)"

    def to_frame(self) -> pd.DataFrame:
        return self.curve.copy()

    def to_dict(self) -> dict:
        return to_jsonable({"title": self.title, "within_days": self.within, "alpha": self.alpha,
                            "reference_day": self.reference_day, "n_spells": self.n_spells,
                            "thresholds_20pct": suggest_threshold(self, level=0.2),
                            "curve": self.curve})

    def conclusion(self) -> str:
        lines = []
        for seg, part in self.curve.groupby("segment", sort=False):
            row = part.loc[part["d"] == self.reference_day]
            if row.empty or not np.isfinite(row["p_return"].iloc[0]):
                continue
            r = row.iloc[0]
            thr = suggest_threshold(part, level=0.2)[seg]
            thr_txt = (f"the chance first drops below 20% after {thr:g} silent days" if thr is not None
                       else "the chance never drops below 20% in the days examined")
            ci_txt = (f"{1 - self.alpha:.0%} CI {r['ci_low']:.0%}-{r['ci_high']:.0%}" if np.isfinite(r["ci_high"])
                      else "no return observed, so no upper limit")
            lines.append(f"[{seg}] A member silent for {self.reference_day} days (the churn rule of the playbook "
                         f"article \"微信群如何经营和管理(微信群运营与管理)\") speaks again within {self.within:g} days "
                         f"with probability {r['p_return']:.0%} ({ci_txt}; {r['n_at_risk']:.0f} silences still "
                         f"open at that point); {thr_txt}.")
        return "\n".join(lines)


def return_probability_curve(spell_durations, spell_returned, spell_competing=None,
                             days: Iterable[float] = range(1, 91), within: float = 60,
                             groups=None, weights=None, alpha: float = 0.05,
                             min_at_risk: int = 10) -> ReturnCurve:
    """How likely is a member who has been silent ``d`` days to speak again within ``within`` days?

    For each d: ``p_return(d) = P(T <= d + within, return | T > d)
    = (F_return(d + within) - F_return(d)) / S(d)``, with F_return the Aalen-Johansen
    cumulative incidence of "spoke again" (leaving the group is a competing event, open spells
    at the end of the data are censored) and S the all-cause event-free survival. The CI is
    the log(-log) interval from the Marubini-Valsecchi delta-method variance of the AJ
    estimator restarted at d (module docstring).

    Parameters
    ----------
    spell_durations : array-like, shape (n,)
        Length in days of each silence spell: from a member's message to the next message
        (returned), to leaving the group (competing), or to the end of the data (censored).
    spell_returned : array-like of bool, shape (n,)
        True if the spell ended with a message.
    spell_competing : array-like of bool, shape (n,), optional
        True if the spell ended with the member leaving (or being removed). Default: none.
    days : iterable of numbers, default 1..90
        Silence lengths d at which to evaluate.
    within : float, default 60
        Length of the return window in days.
    groups : array-like, shape (n,), optional
        Segment label of each spell (e.g. member tier or group id); one curve per segment.
    weights : array-like, shape (n,), optional
        Frequency weights.
    alpha : float, default 0.05
        1 - confidence level.
    min_at_risk : int, default 10
        Below this many spells still silent after d, ``p_return`` and its CI are NaN (too noisy).

    Notes
    -----
    The CIs treat spells as independent. One member contributes several spells (and members
    are clustered in groups), so with many spells per member the intervals are too narrow;
    for inference use one spell per member (e.g. the current one) or a segment per group.

    Returns
    -------
    ReturnCurve
        ``.curve`` DataFrame with ``segment, d, p_return, se, ci_low, ci_high, n_at_risk``
        (``n_at_risk`` = weight of spells still silent after d days). Where no return was
        observed in (d, d + within], ``p_return`` = 0 and ``ci_high`` is NaN (the delta method
        cannot give an upper limit from zero events).
    """
    z = _z(alpha)
    dur = _durations(spell_durations, "spell_durations")
    n = dur.size
    ret = _float_array(spell_returned, "spell_returned")
    comp = np.zeros(n) if spell_competing is None else _float_array(spell_competing, "spell_competing")
    for name, arr in (("spell_returned", ret), ("spell_competing", comp)):
        if arr.size != n or not np.all(np.isin(arr, (0.0, 1.0))):
            raise ParameterError(f"{name} must be booleans (one per spell, same length as spell_durations).")
    if np.any((ret == 1) & (comp == 1)):
        raise ParameterError("A spell cannot end both with a message and with leaving the group; "
                             "mark each spell as returned, competing (left) or neither (censored).")
    if not np.isscalar(within) or not np.isfinite(within) or within <= 0:
        raise ParameterError(f"within must be a positive number of days, got {within!r}.")
    d_grid = _float_array(list(days), "days")
    if d_grid.size == 0 or np.any(d_grid < 0) or not np.all(np.isfinite(d_grid)):
        raise ParameterError("days must be a non-empty sequence of silence lengths >= 0.")
    w = _weights(weights, n)
    codes = np.where(ret == 1, 1, np.where(comp == 1, 2, 0)).astype(np.int64)
    if groups is None:
        labels = np.full(n, "all", dtype=object)
    else:
        labels = np.asarray(groups, dtype=object).ravel()
        if labels.size != n or pd.isna(labels).any():
            raise ParameterError("groups must give one non-missing segment label per spell.")

    frames, n_spells = [], {}
    for seg in pd.unique(labels):
        m = labels == seg
        table = _build_event_table(dur[m], codes[m], w[m], causes=np.array([1, 2]))
        est, var, _ = _conditional_cif(table, 0, d_grid, d_grid + within)
        order = np.argsort(dur[m], kind="stable")
        sorted_d, cum_w = dur[m][order], np.r_[0.0, np.cumsum(w[m][order])]
        n_risk = cum_w[-1] - cum_w[np.searchsorted(sorted_d, d_grid, side="right")]
        se = np.sqrt(var)
        too_few = n_risk < min_at_risk
        est = np.where(too_few, np.nan, est)
        se = np.where(too_few, np.nan, se)
        low, high = _loglog_ci(est, se, z)
        high = np.where(est == 0, np.nan, high)   # zero returns observed: the delta method gives no upper limit
        frames.append(pd.DataFrame({"segment": seg, "d": d_grid, "p_return": est, "se": se,
                                    "ci_low": low, "ci_high": high, "n_at_risk": n_risk}))
        n_spells[str(seg)] = int(m.sum())
    curve = pd.concat(frames, ignore_index=True)
    return ReturnCurve(curve=curve, within=float(within), alpha=alpha, n_spells=n_spells)


def suggest_threshold(curve, level: float = 0.2, use: str = "estimate") -> dict:
    """First silence length d at which the return probability falls below ``level``, per segment.

    Parameters
    ----------
    curve : ReturnCurve or DataFrame
        Output of :func:`return_probability_curve` (or its ``.curve`` / ``to_frame()``).
    level : float, default 0.2
        Probability of returning within the window below which a silent member is called "gone".
        A statistical default, not a playbook rule: choose it from the cost of a wasted
        reactivation message versus a missed one.
    use : {"estimate", "upper"}, default "estimate"
        "upper" uses the upper confidence limit: the first d where the return probability is
        *confidently* below ``level`` (a later, more conservative threshold).

    Returns
    -------
    dict
        ``{segment: d or None}`` (None if the curve never falls below ``level``).
    """
    frame = curve.curve if isinstance(curve, ReturnCurve) else curve
    if not isinstance(frame, pd.DataFrame) or not {"d", "p_return"}.issubset(frame.columns):
        raise ParameterError("curve must be the result of return_probability_curve() or its DataFrame.")
    if not 0 < level < 1:
        raise ParameterError(f"level must be a probability in (0, 1), got {level!r}.")
    column = {"estimate": "p_return", "upper": "ci_high"}.get(use)
    if column is None:
        raise ParameterError("use must be 'estimate' or 'upper'.")
    segments = frame["segment"] if "segment" in frame.columns else pd.Series("all", index=frame.index)
    out = {}
    for seg in pd.unique(segments):
        part = frame.loc[segments == seg].sort_values("d")
        below = part.loc[part[column] < level, "d"]
        out[seg] = None if below.empty else float(below.iloc[0])
    return out


# ======================================================================================
# Cox proportional hazards (statsmodels PHReg)
# ======================================================================================
def cox_score_residuals(durations: np.ndarray, events: np.ndarray, x: np.ndarray, beta: np.ndarray,
                        ties: str = "efron", strata: np.ndarray | None = None) -> np.ndarray:
    """Score residuals of a Cox model, consistent with its tie method (as R's ``coxph``).

    With ``d`` tied events at time ``t``, Efron's partial likelihood has ``d`` terms: in term
    ``k = 0..d-1`` every subject at risk has weight ``r_i = exp(x_i'beta)`` except the tied
    events, whose weight is ``(1 - k/d) r_i``; ``S0_k`` and ``xbar_k`` are that term's weighted
    sum and mean. The score splits into per-subject residuals

        U_i = sum_t [ dN_i(t) (x_i - mean_k xbar_k) - sum_k w_ik r_i (x_i - xbar_k) / S0_k ]

    (``w_ik = 1``, or ``1 - k/d`` at the subject's own event time), which sum to the score and
    are the ``dfbeta`` building blocks of R's robust variance; Breslow is the case ``k = 0`` for
    all ``d`` terms. Subjects censored at ``t`` are at risk at ``t``. Vectorised over event times
    (cumulative sums); a loop runs only over the distinct tie sizes and strata.

    Returns
    -------
    ndarray (n, p)
    """
    t = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=float)
    x = np.asarray(x, dtype=float).reshape(len(t), -1)
    out = np.zeros_like(x)
    groups = [np.arange(len(t))] if strata is None else \
        [np.flatnonzero(codes == s) for codes in [pd.factorize(np.asarray(strata))[0]] for s in range(codes.max() + 1)]
    for idx in groups:
        out[idx] = _score_residuals_one_stratum(t[idx], ev[idx], x[idx], np.asarray(beta, dtype=float), ties)
    return out


def _score_residuals_one_stratum(t, ev, x, beta, ties):
    n, p = x.shape
    r = np.exp(x @ beta)
    times, inv = np.unique(t, return_inverse=True)                       # ascending distinct times
    m = len(times)
    # risk-set sums at each distinct time: subjects with t_i >= time
    s0_at = np.bincount(inv, weights=r, minlength=m)
    s1_at = np.stack([np.bincount(inv, weights=r * x[:, j], minlength=m) for j in range(p)], axis=1)
    s0 = np.cumsum(s0_at[::-1])[::-1]
    s1 = np.cumsum(s1_at[::-1], axis=0)[::-1]
    d = np.bincount(inv, weights=ev, minlength=m)                         # events per time
    s0_d = np.bincount(inv, weights=ev * r, minlength=m)
    s1_d = np.stack([np.bincount(inv, weights=ev * r * x[:, j], minlength=m) for j in range(p)], axis=1)
    a_all = np.zeros(m)                 # sum_k 1/S0_k
    b_all = np.zeros((m, p))            # sum_k xbar_k/S0_k
    a_own = np.zeros(m)                 # sum_k (k/d)/S0_k  (the events' own reduction)
    b_own = np.zeros((m, p))
    xbar_mean = np.zeros((m, p))        # mean_k xbar_k
    has = d > 0
    for dd in np.unique(d[has]).astype(int):
        sel = np.flatnonzero(d == dd)
        for k in range(dd):
            frac = k / dd if ties == "efron" else 0.0
            s0k = s0[sel] - frac * s0_d[sel]
            xbar = (s1[sel] - frac * s1_d[sel]) / s0k[:, None]
            a_all[sel] += 1.0 / s0k
            b_all[sel] += xbar / s0k[:, None]
            a_own[sel] += frac / s0k
            b_own[sel] += frac * xbar / s0k[:, None]
            xbar_mean[sel] += xbar / dd
    cum_a = np.cumsum(a_all)
    cum_b = np.cumsum(b_all, axis=0)
    resid = -r[:, None] * (x * cum_a[inv][:, None] - cum_b[inv])
    died = ev > 0
    # the events: + (x_i - mean_k xbar_k), and their weight at their own time is (1 - k/d), not 1
    resid[died] += x[died] - xbar_mean[inv[died]]
    resid[died] += r[died, None] * (x[died] * a_own[inv[died]][:, None] - b_own[inv[died]])
    return resid


class CoxPH:
    """Cox proportional-hazards regression: a thin wrapper around statsmodels ``PHReg``.

    Why statsmodels and not lifelines: statsmodels is already a dependency (lifelines would add
    autograd and its own formula stack), and ``PHReg`` has what chat data needs: Breslow and Efron
    ties (durations in whole days tie a lot), strata (a baseline hazard per group) and
    cluster-robust standard errors (members are clustered in groups). lifelines' extras (splines,
    AFT models, plotting) are not needed for these building blocks.

    Parameters
    ----------
    ties : {"efron", "breslow"}, default "efron"
        Tie handling (Efron is more accurate with many ties; R's default).
    alpha : float, default 0.05

    Attributes (after ``fit``)
    --------------------------
    summary_ : DataFrame
        One row per covariate: ``covariate, coef, se, z, p, hazard_ratio, hr_ci_low, hr_ci_high``.
    params_ : Series
        Log hazard ratios.
    results_ : statsmodels PHRegResults
    """

    def __init__(self, ties: str = "efron", alpha: float = 0.05):
        self.ties = ties
        self.alpha = alpha

    def fit(self, frame: pd.DataFrame, duration_col: str, event_col: str, formula: str | None = None,
            columns: list[str] | None = None, strata_col: str | None = None,
            cluster_col: str | None = None) -> "CoxPH":
        """Fit the model.

        Parameters
        ----------
        frame : DataFrame
        duration_col, event_col : str
            Duration (>= 0) and event indicator (1 = event, 0 = censored) columns.
        formula : str, optional
            Right-hand side only, e.g. ``"age + C(tier)"`` (no intercept: the baseline hazard
            absorbs it).
        columns : list of str, optional
            Numeric covariate columns (use instead of ``formula``).
        strata_col : str, optional
            Fit a separate baseline hazard per level of this column.
        cluster_col : str, optional
            Cluster-robust (sandwich) standard errors by this column (e.g. group id).
        """
        from statsmodels.duration.hazard_regression import PHReg

        if self.ties not in ("efron", "breslow"):
            raise ParameterError(f"ties must be 'efron' or 'breslow', got {self.ties!r}.")
        z = _z(self.alpha)
        if (formula is None) == (columns is None):
            raise ParameterError("Pass exactly one of formula (e.g. 'age + C(tier)') or columns (a list).")
        needed = [duration_col, event_col] + [c for c in (strata_col, cluster_col) if c]
        if columns is not None:
            needed += list(columns)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ParameterError(f"Columns {missing} are not in the frame (columns: {list(frame.columns)[:20]}).")
        if frame[needed].isna().any().any():
            raise ParameterError(f"Missing values in {[c for c in needed if frame[c].isna().any()]}; "
                                 f"drop or impute those rows before fitting.")
        dur = _durations(frame[duration_col], duration_col)
        ev = _float_array(frame[event_col], event_col)
        if not np.all(np.isin(ev, (0.0, 1.0))):
            raise ParameterError(f"'{event_col}' must be 0/1 or boolean (1 = event observed).")
        if ev.sum() == 0:
            raise InsufficientDataError("No events observed; a Cox model cannot be fitted.")
        strata = None if strata_col is None else frame[strata_col].to_numpy()
        if formula is not None:
            rhs = formula.split("~", 1)[-1]
            data = frame.assign(_gs_duration=dur)
            model = PHReg.from_formula(f"_gs_duration ~ {rhs}", data=data, status=ev, strata=strata,
                                       ties=self.ties, missing="raise")
        else:
            exog = frame[list(columns)].astype(float)
            model = PHReg(dur, exog, status=ev, strata=strata, ties=self.ties)
        groups = None if cluster_col is None else frame[cluster_col].to_numpy()
        try:
            results = model.fit()
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(f"The Cox fit failed ({exc}). Check for collinear covariates or covariates "
                                   f"that perfectly separate events from non-events.") from exc
        if not (np.all(np.isfinite(results.params)) and np.all(np.isfinite(results.bse))):
            raise ConvergenceError("The Cox fit did not converge (infinite coefficient or standard error): a "
                                   "covariate probably separates events from non-events perfectly, or two are "
                                   "collinear. Drop or merge such covariates (or sparse categories).")
        names = list(model.exog_names)
        params = np.asarray(results.params, dtype=float)
        se = np.asarray(results.bse, dtype=float)
        self.robust_covariance_ = None
        if groups is not None:
            # cluster-robust (sandwich) covariance from score residuals that follow the tie method:
            # statsmodels' PHReg sandwich is Breslow-type also under Efron ties; this equals R's
            # coxph(..., cluster = ) for both (tests/test_survival_cox_cluster.R)
            info_inv = np.linalg.inv(-model.hessian(params))
            resid = cox_score_residuals(model.endog, model.status, model.exog, params, self.ties,
                                        strata)
            codes = pd.factorize(groups)[0]
            summed = np.zeros((codes.max() + 1, resid.shape[1]))
            np.add.at(summed, codes, resid)
            dfbeta = summed @ info_inv
            self.robust_covariance_ = dfbeta.T @ dfbeta
            se = np.sqrt(np.diag(self.robust_covariance_))
        zval = params / se
        self.results_ = results
        self.formula = formula
        self.columns_ = names
        self.params_ = pd.Series(params, index=names, name="coef")
        self.summary_ = pd.DataFrame({
            "covariate": names, "coef": params, "se": se, "z": zval, "p": 2 * stats.norm.sf(np.abs(zval)),
            "hazard_ratio": np.exp(params), "hr_ci_low": np.exp(params - z * se),
            "hr_ci_high": np.exp(params + z * se),
        })
        self.n_, self.n_events_ = int(dur.size), int(ev.sum())
        return self

    def predict_partial_hazard(self, frame: pd.DataFrame) -> pd.Series:
        """exp(x'beta) per row, relative to a member with all covariates 0 (not mean-centred)."""
        if not hasattr(self, "results_"):
            raise NotFittedError("This CoxPH is not fitted yet; call .fit(frame, duration_col, event_col, ...) first.")
        if self.formula is not None:
            pred = self.results_.predict(exog=frame, pred_type="hr", transform=True)
            values = np.asarray(pred.predicted_values, dtype=float)
        else:
            x = frame[self.columns_].astype(float).to_numpy()
            values = np.exp(x @ self.params_.to_numpy())
        return pd.Series(values, index=frame.index, name="partial_hazard")


# ======================================================================================
# plots
# ======================================================================================
def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def plot_survival(km_or_dict, ax=None, ci: bool = True):
    """Step plot of one or several Kaplan-Meier curves with CI bands; returns the Axes.

    ``km_or_dict`` is a fitted :class:`KaplanMeier` or a dict ``{label: KaplanMeier}``.
    """
    ax = _axes(ax)
    items = km_or_dict.items() if isinstance(km_or_dict, Mapping) else [(km_or_dict.label or "KM", km_or_dict)]
    for label, km in items:
        km._check()
        sf = km.survival_function_
        t = np.r_[0.0, sf["time"].to_numpy()]
        line, = ax.step(t, np.r_[1.0, sf["survival"].to_numpy()], where="post", label=str(label))
        if ci:
            ax.fill_between(t, np.r_[1.0, sf["ci_low"].to_numpy()], np.r_[1.0, sf["ci_high"].to_numpy()],
                            step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax


def plot_cumulative_incidence(aj: AalenJohansen, ax=None, ci: bool = True, labels: Mapping | None = None):
    """Step plot of each cause's cumulative incidence with CI bands; returns the Axes."""
    ax = _axes(ax)
    aj._check()
    for cause, part in aj.cumulative_incidence_.groupby("cause", sort=True):
        t = np.r_[0.0, part["time"].to_numpy()]
        name = (labels or {}).get(cause, f"cause {cause}")
        line, = ax.step(t, np.r_[0.0, part["cif"].to_numpy()], where="post", label=str(name))
        if ci:
            ax.fill_between(t, np.r_[0.0, part["ci_low"].fillna(0).to_numpy()],
                            np.r_[0.0, part["ci_high"].fillna(0).to_numpy()],
                            step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("time")
    ax.set_ylabel("cumulative incidence")
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax


def plot_return_curve(curve, ax=None, level: float | None = None):
    """Plot p_return against silent days d per segment (CI bands); optional horizontal ``level`` line.

    Returns the Axes.
    """
    ax = _axes(ax)
    frame = curve.curve if isinstance(curve, ReturnCurve) else curve
    within = curve.within if isinstance(curve, ReturnCurve) else None
    for seg, part in frame.groupby("segment", sort=False):
        line, = ax.plot(part["d"], part["p_return"], label=str(seg))
        ax.fill_between(part["d"], part["ci_low"], part["ci_high"], alpha=0.2, color=line.get_color())
    if level is not None:
        ax.axhline(level, color="grey", linestyle="--", linewidth=1, label=f"level {level:g}")
    ax.set_xlabel("days silent so far (d)")
    ax.set_ylabel("P(speaks again" + (f" within {within:g} days)" if within else ")"))
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax
