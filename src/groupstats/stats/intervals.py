"""Interval rules shared by the comparison engine, its vectorised simulation twins and the playbook audit.

- :func:`fieller_relative`: Fieller interval of a relative effect ``mu_t / mu_c - 1``.
- :func:`cluster_ratio_ci`: a ratio of sums (e.g. flagged group-weeks over group-weeks) with a
  cluster-robust interval (groups as clusters; delta method = HC1 sandwich of the weighted
  regression through the origin, t with G - 1 degrees of freedom).
- :func:`cluster_mean_ci`: the mean of per-cluster values with a t interval (clusters as units).
- :func:`invert_relative`: turns ``a / b - 1`` with its interval into ``b / a - 1``.

Multiplicity-adjusted levels are in :mod:`groupstats.stats.multiplicity`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["fieller_relative", "cluster_ratio_ci", "cluster_mean_ci", "invert_relative"]


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


def cluster_ratio_ci(num, den, cluster, alpha: float = 0.05) -> dict:
    """``sum(num) / sum(den)`` with a cluster-robust ``1 - alpha`` interval.

    Parameters
    ----------
    num, den : array-like of shape (n,)
        Numerator and (positive) denominator of each unit.
    cluster : array-like of shape (n,)
        Cluster of each unit (e.g. group id).

    Returns
    -------
    dict with estimate, se, ci_low, ci_high, n_clusters, df.
    The variance is the delta method on cluster totals with the HC1 factor ``G / (G - 1)``,
    i.e. the HC1 sandwich of the weighted regression of cluster totals ``y_g`` on ``d_g``
    through the origin with weights ``1 / d_g`` (whose slope is the ratio of sums).
    """
    frame = pd.DataFrame({"y": np.asarray(num, float), "d": np.asarray(den, float), "g": np.asarray(cluster)})
    tot = frame.groupby("g")[["y", "d"]].sum()
    tot = tot.loc[tot["d"] > 0]
    G = len(tot)
    if G == 0:
        return {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_clusters": 0, "df": np.nan}
    r = tot["y"].sum() / tot["d"].sum()
    if G < 2:
        return {"estimate": float(r), "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_clusters": G, "df": np.nan}
    e = tot["y"] - r * tot["d"]
    var = (e ** 2).sum() / tot["d"].sum() ** 2 * G / (G - 1)
    se = math.sqrt(var)
    from scipy import stats as sps

    q = sps.t.ppf(1 - alpha / 2, G - 1)
    return {"estimate": float(r), "se": se, "ci_low": float(r - q * se), "ci_high": float(r + q * se),
            "n_clusters": int(G), "df": float(G - 1)}


def cluster_mean_ci(values, alpha: float = 0.05) -> dict:
    """Mean of per-cluster values with a t interval (one value per cluster, NaN dropped)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_clusters": 0,
                "p_value": np.nan}
    m = float(v.mean())
    if n < 2:
        return {"estimate": m, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_clusters": 1, "p_value": np.nan}
    se = float(v.std(ddof=1) / math.sqrt(n))
    from scipy import stats as sps

    q = sps.t.ppf(1 - alpha / 2, n - 1)
    return {"estimate": m, "se": se, "ci_low": m - q * se, "ci_high": m + q * se, "n_clusters": n,
            "df": float(n - 1)}


def invert_relative(rel: float, low: float, high: float) -> tuple[float, float, float]:
    """From ``r = a / b - 1`` with interval ``[low, high]`` to ``b / a - 1`` with its interval.

    ``x -> 1 / (1 + x) - 1`` is decreasing on ``x > -1``; a lower limit at or below -1 (an
    unbounded ratio interval) gives an infinite upper limit.
    """
    def inv(x):
        if not np.isfinite(x):
            return -1.0 if x > 0 else np.inf
        return 1.0 / (1.0 + x) - 1.0 if x > -1 else np.inf

    return inv(rel), inv(high), inv(low)
