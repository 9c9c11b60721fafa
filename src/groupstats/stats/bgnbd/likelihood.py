"""The BG/NBD likelihood: input checks on frequency, recency and T, the log-likelihood and its analytic
gradient, and the helpers of a bounded fit (Hessian from gradient differences, settling onto a
bound)."""
from __future__ import annotations

import numpy as np
from scipy import special

from groupstats.errors import ParameterError


PARAM_NAMES = ("r", "alpha", "a", "b")


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------
def _as_float_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"'{name}' must be numeric (got {type(values).__name__}); "
                             f"pass a numeric array or Series.") from exc
    return np.atleast_1d(arr)


def _validate_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast (frequency, recency, T) to float arrays of one shape."""
    x = _as_float_array(frequency, "frequency")
    tx = _as_float_array(recency, "recency")
    T_ = _as_float_array(T, "T")
    try:
        x, tx, T_ = np.broadcast_arrays(x, tx, T_)
    except ValueError as exc:
        raise ParameterError(f"frequency, recency and T have incompatible shapes "
                             f"{x.shape}, {tx.shape}, {T_.shape}; pass arrays of equal length.") from exc
    for name, arr in (("frequency", x), ("recency", tx), ("T", T_)):
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"'{name}' contains NaN or infinite values; drop or fill those "
                                 f"customers before fitting.")
        if np.any(arr < 0):
            raise ParameterError(f"'{name}' has {int(np.sum(arr < 0))} negative value(s); it counts "
                                 f"time or transactions since the first one and must be >= 0.")
    if np.any(x != np.round(x)):
        raise ParameterError("'frequency' must be whole numbers (repeat transactions); build it with "
                             "summary_from_transactions() or round a count column, not a rate.")
    tol = 1e-9 * np.maximum(1.0, T_)
    if np.any(tx > T_ + tol):
        n_bad = int(np.sum(tx > T_ + tol))
        raise ParameterError(f"recency > T for {n_bad} customer(s): the last transaction cannot be after "
                             f"the end of the calibration period. Check that both are measured from the "
                             f"first transaction in the same time unit and that the cutoff is applied.")
    if np.any((x == 0) & (tx > 0)):
        raise ParameterError("recency must be 0 when frequency is 0 (no repeat transaction); "
                             "check the summary columns.")
    return x, np.minimum(tx, T_), T_


def _validate_t(t, name: str = "t") -> np.ndarray:
    t_arr = _as_float_array(t, name)
    if np.any(~np.isfinite(t_arr)) or np.any(t_arr < 0):
        raise ParameterError(f"'{name}' (length of the prediction window) must be finite and >= 0.")
    return t_arr


# --------------------------------------------------------------------------------------
# likelihood
# --------------------------------------------------------------------------------------
def _log_likelihood_terms(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, shape (n,). ``params`` = (r, alpha, a, b)."""
    r, alpha, a, b = params
    log_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    log_a2 = special.betaln(a, b + x) - special.betaln(a, b)
    log_a3 = -(r + x) * np.log(alpha + T)
    has_repeat = x > 0
    # log A4 only defined for x > 0 (b + x - 1 > 0 there); -inf otherwise
    log_a4 = np.full_like(x, -np.inf)
    xr = x[has_repeat]
    log_a4[has_repeat] = (np.log(a) - np.log(b + xr - 1.0)
                          - (r + xr) * np.log(alpha + tx[has_repeat]))
    return log_a1 + log_a2 + np.logaddexp(log_a3, log_a4)


def _log_likelihood_and_gradient(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                                 w: np.ndarray, x_levels: tuple | None = None) -> tuple[float, np.ndarray]:
    """Weighted BG/NBD log-likelihood ``sum w_i log L_i`` and its analytic gradient with
    respect to the *log*-parameters (log r, log alpha, log a, log b).

    With ``A3 = -(r+x) ln(alpha+T)``, ``A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)`` (x > 0)
    and the weights ``w3 = e^(A3 - L)``, ``w4 = e^(A4 - L)`` of the two branches
    (``L = logaddexp(A3, A4)``, so ``w3 + w4 = 1``)::

        d/dr     = psi(r+x) - psi(r) + ln alpha - w3 ln(alpha+T) - w4 ln(alpha+t_x)
        d/dalpha = r/alpha - (r+x) (w3/(alpha+T) + w4/(alpha+t_x))
        d/da     = psi(a+b) - psi(a+b+x) + w4/a
        d/db     = psi(b+x) - psi(b) + psi(a+b) - psi(a+b+x) - w4/(b+x-1)

    and ``d/d ln theta = theta d/d theta``. The test suite checks it against finite differences.
    ``x_levels = (distinct x, index of each customer's x)`` evaluates the gamma-function terms,
    which depend on x only, once per distinct frequency (a few dozen) instead of per customer.
    """
    r, alpha, a, b = params
    if x_levels is not None:
        xs, inv = x_levels
        lg = (special.gammaln(r + xs) - special.gammaln(r) + special.betaln(a, b + xs) - special.betaln(a, b))[inv]
        psi_r = (special.digamma(r + xs) - special.digamma(r))[inv]
        psi_abx = special.digamma(a + b + xs)[inv]
        psi_bx = (special.digamma(b + xs) - special.digamma(b))[inv]
    else:
        lg = special.gammaln(r + x) - special.gammaln(r) + special.betaln(a, b + x) - special.betaln(a, b)
        psi_r = special.digamma(r + x) - special.digamma(r)
        psi_abx = special.digamma(a + b + x)
        psi_bx = special.digamma(b + x) - special.digamma(b)
    has_repeat = x > 0
    xm1 = np.where(has_repeat, x - 1.0, 0.0)          # b + (x - 1) exactly, also when b << 1
    log_at = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    log_a3 = -(r + x) * log_at
    log_a4 = np.where(has_repeat, np.log(a) - np.log(b + xm1) - (r + x) * log_atx, -np.inf)
    log_branch = np.logaddexp(log_a3, log_a4)
    ll = lg + r * np.log(alpha) + log_branch
    w3 = np.exp(log_a3 - log_branch)
    w4 = np.exp(log_a4 - log_branch)
    psi_ab = special.digamma(a + b)
    d_r = psi_r + np.log(alpha) - w3 * log_at - w4 * log_atx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))
    d_a = psi_ab - psi_abx + w4 / a
    d_b = psi_bx + psi_ab - psi_abx - w4 / (b + xm1 + (~has_repeat))
    grad = np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) * params
    return float(w @ ll), grad


def _log_odds_dead(params, x, tx, T) -> np.ndarray:
    """log( a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) ) for x > 0, -inf for x == 0."""
    r, alpha, a, b = params
    out = np.full(np.broadcast(x, tx, T).shape, -np.inf)
    x, tx, T = np.broadcast_arrays(x, tx, T)
    m = x > 0
    out[m] = (np.log(a) - np.log(b + x[m] - 1.0)
              + (r + x[m]) * (np.log(alpha + T[m]) - np.log(alpha + tx[m])))
    return out


def _hessian_from_gradient(grad, z: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Hessian at z by central differences of the analytic gradient (2k gradient calls), symmetrised."""
    k = len(z)
    h = step * np.maximum(1.0, np.abs(z))
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        hess[:, i] = (grad(z + e) - grad(z - e)) / (2 * h[i])
    return (hess + hess.T) / 2


def _settle_on_bounds(objective_and_gradient, z: np.ndarray, low: float, high: float,
                      tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Which log-parameters sit on a bound at a bounded optimum, by the KKT conditions.

    At a constrained minimum a coordinate on the lower bound has gradient >= 0 (the
    objective would fall below the bound) and one on the upper bound gradient <= 0. A
    coordinate whose gradient points out of the box and which a line search can push onto
    the bound without raising the objective is set on that bound: on a flat ridge L-BFGS-B
    can stop short of the bound (at log a = -8.7 for a bound of -9) although the objective
    keeps decreasing towards it. Returns the settled point and the on-bound mask.
    """
    z = np.array(z, dtype=float)
    f0, g = objective_and_gradient(z)
    scale = max(1.0, abs(f0))
    for _ in range(4):
        moved = False
        for i in range(z.size):
            outward_low = g[i] > 0 and z[i] > low
            outward_high = g[i] < 0 and z[i] < high
            if not (outward_low or outward_high):
                continue
            target = low if outward_low else high
            trial = z.copy()
            trial[i] = target
            f1, g1 = objective_and_gradient(trial)
            if f1 <= f0 + 1e-12 * scale:
                z, f0, g, moved = trial, f1, g1, True
        if not moved:
            break
    on_low = (z <= low + tol) & (g >= 0)
    on_high = (z >= high - tol) & (g <= 0)
    return z, on_low | on_high
