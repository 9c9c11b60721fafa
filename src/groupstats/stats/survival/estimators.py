"""Kaplan-Meier (one cause) and Aalen-Johansen (competing causes) estimators, with Greenwood / delta-
method intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError

from groupstats.stats.survival.engine import (_EventTable, _build_event_table, _conditional_cif, _durations,
                                              _event_codes, _float_array, _loglog_ci, _weights, _z)


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
