"""Interval rules shared by the comparison engine and its vectorised simulation twins."""
from __future__ import annotations

import numpy as np

__all__ = ["fieller_relative"]


def fieller_relative(mu_t, mu_c, var_t, var_c, cov_tc, crit):
    """Fieller interval for the relative effect ``mu_t / mu_c - 1`` (vectorised).

    The set of ``rho`` not rejected by the test of ``mu_t - (1 + rho) mu_c = 0`` with the
    estimates' covariance ``[[var_t, cov_tc], [cov_tc, var_c]]`` and critical value ``crit``
    (the t quantile of the absolute interval). At ``rho = 0`` this is the test of the
    difference, so the interval excludes 0 exactly when the difference's interval does.

    When the control level is not clearly non-zero (``mu_c^2 <= crit^2 var_c``) the set is
    unbounded: the whole line gives ``(-inf, inf)``; the complement of an interval gives the
    half-line holding the estimate when that keeps "excludes 0" equal to the test, otherwise
    ``(-inf, inf)``. Never NaN for finite inputs.

    Returns
    -------
    (low, high) : ndarrays of the broadcast shape (floats for scalar input)
    """
    mu_t, mu_c, var_t, var_c, cov_tc, crit = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in
                                                                  (mu_t, mu_c, var_t, var_c, cov_tc, crit)))
    q = crit * crit
    a = mu_c * mu_c - q * var_c
    b = mu_t * mu_c - q * cov_tc
    c = mu_t * mu_t - q * var_t
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        r1, r2 = (b - root) / a, (b + root) / a
        lo_r, hi_r = np.minimum(r1, r2), np.maximum(r1, r2)
        est = mu_t / mu_c
    low = np.full(a.shape, -np.inf)
    high = np.full(a.shape, np.inf)
    bounded = a > 0
    low[bounded], high[bounded] = lo_r[bounded] - 1.0, hi_r[bounded] - 1.0
    # exclusive set (-inf, lo_r] U [hi_r, inf): report the estimate's piece when consistent
    exclusive = (a < 0) & (disc >= 0)
    upper_piece = exclusive & (est >= hi_r)
    lower_piece = exclusive & ~upper_piece
    zero_in_set = ~((lo_r < 1.0) & (1.0 < hi_r))
    zero_in_upper = hi_r <= 1.0
    zero_in_lower = lo_r >= 1.0
    keep_upper = upper_piece & (zero_in_set == zero_in_upper)
    keep_lower = lower_piece & (zero_in_set == zero_in_lower)
    low[keep_upper] = hi_r[keep_upper] - 1.0
    high[keep_lower] = lo_r[keep_lower] - 1.0
    bad = ~np.isfinite(a) | ~np.isfinite(b) | ~np.isfinite(c)
    low[bad], high[bad] = -np.inf, np.inf
    if low.ndim == 0:
        return float(low), float(high)
    return low, high
