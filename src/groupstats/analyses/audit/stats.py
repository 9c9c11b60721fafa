"""Small statistics the audit needs that no other module offers yet.

- :func:`cluster_ratio_ci`: a ratio of sums (e.g. flagged group-weeks over group-weeks) with a
  cluster-robust interval (groups as clusters; delta method = HC1 sandwich of the weighted
  regression through the origin, t with G - 1 degrees of freedom).
- :func:`cluster_mean_ci`: the mean of per-cluster values with a t interval (clusters as units).
- :func:`holm_levels`: Holm's step-down, with the level at which each hypothesis was judged so
  that each verdict's interval can be drawn at the same level (significance matches the interval).
- :func:`invert_relative`: turns ``a / b - 1`` with its interval into ``b / a - 1``.

These belong in :mod:`groupstats.stats` (a ``stats/intervals.py`` or ``stats/multiplicity.py``)
once the owners of that package take them over.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["cluster_ratio_ci", "cluster_mean_ci", "holm_levels", "invert_relative"]


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
    q = sps.t.ppf(1 - alpha / 2, n - 1)
    return {"estimate": m, "se": se, "ci_low": m - q * se, "ci_high": m + q * se, "n_clusters": n,
            "df": float(n - 1)}


def holm_levels(p_values, alpha: float = 0.05, method: str = "holm") -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values and the level each hypothesis is judged at.

    Holm's step-down sorts the m p-values; the k-th smallest (k = 1..m) is rejected if it and
    every smaller one satisfy ``p_(j) <= alpha / (m - j + 1)``. The level of a hypothesis is
    ``alpha / (m - k + 1)`` for the steps reached, and for the ones after the first step that
    is not rejected, that step's level. An interval at ``1 - level`` then excludes the null
    exactly when the adjusted p-value is below ``alpha``. ``method="bonferroni"``: level
    ``alpha / m`` for all.

    Returns
    -------
    (p_adjusted, level), arrays of the input's shape (NaN p-values get NaN / alpha).
    """
    p = np.asarray(p_values, float)
    adj = np.full(p.shape, np.nan)
    level = np.full(p.shape, float(alpha))
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return adj, level
    if method not in ("holm", "bonferroni"):
        raise ValueError(f"method must be 'holm' or 'bonferroni', got {method!r}")
    from groupstats.stats.compare import _adjust_p  # the engine's adjustment (one implementation)

    adj[ok] = _adjust_p(p[ok], method)
    if method == "bonferroni":
        level[ok] = alpha / m
        return adj, level
    order = ok[np.argsort(p[ok], kind="stable")]
    factors = m - np.arange(m)
    step_levels = alpha / factors
    stopped = None
    for k, idx in enumerate(order):
        if stopped is None:
            level[idx] = step_levels[k]
            if p[idx] > step_levels[k]:
                stopped = step_levels[k]
        else:
            level[idx] = stopped
    return adj, level


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
