"""The survival engine shared by the estimators: input checks, the weighted event table, the
conditional cumulative incidence with its variance by prefix sums, and log-log intervals."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from groupstats.errors import InsufficientDataError, ParameterError


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
