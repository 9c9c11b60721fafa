"""The switchback estimator vectorised over many outcome vectors for one design (power planner and
simulation tests), with its helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd


# ------------------------------------------------------------------------------------------
# vectorised estimator for simulations
# ------------------------------------------------------------------------------------------
def single_blas_thread():
    """Context manager limiting BLAS to one thread (small matrices; no contention on shared machines).

    Uses ``threadpoolctl`` (installed with scikit-learn) when available, else does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _dummies(codes: np.ndarray) -> np.ndarray:
    levels, inverse = np.unique(codes, return_inverse=True)
    out = np.zeros((len(codes), len(levels)))
    out[np.arange(len(codes)), inverse] = 1.0
    return out[:, 1:]


def switchback_ols_cr2(y: np.ndarray, arm: np.ndarray, cluster: np.ndarray,
                       fixed_effects=(), alpha: float = 0.05, control: int = 0, correction: str = "none") -> dict:
    """The slot-experiment estimator for many outcome vectors of one design at once.

    Cell-means OLS of ``y`` on arm dummies plus fixed-effect dummies, CR2
    (Bell-McCaffrey) covariance clustered by ``cluster``, Bell-McCaffrey
    degrees of freedom, g-computation arm means, a delta-method relative SE and a Fieller relative
    interval: what :func:`groupstats.stats.compare.compare_arms` computes for
    ``kind="mean", cluster=..., fixed_effects=[...]`` (a test checks they
    agree), vectorised over the columns of ``y``.

    Parameters
    ----------
    y : ndarray (n,) or (n, R)
        Outcomes; each column is one replication on the same design.
    arm : ndarray of int (n,)
        Arm code of each row (0..k-1).
    cluster : ndarray (n,)
        Cluster of each row (group).
    fixed_effects : sequence of ndarray (n,)
        Codes of each fixed effect (group, period, weekday...).
    alpha : float
    control : int
        Arm code of the control.
    correction : {"none", "holm", "bonferroni", "bh"}
        As in compare_arms: with a correction, ``p_adjusted`` is added and the intervals are
        multiplicity-adjusted (at the level the correction judges each arm, ``ci_level``), the marginal
        ones kept as ``*_unadjusted``.

    Returns
    -------
    dict of ndarray (k-1, R), rows in increasing arm code except the control:
        ``diff, se, df, p_value, ci_low, ci_high, rel_diff, rel_se, rel_ci_low,
        rel_ci_high, arm_mean, control_mean``; plus ``arms`` (k-1,); with a correction also
        ``p_adjusted, ci_level`` and the ``*_unadjusted`` intervals.
    """
    from scipy import stats as sps

    from groupstats.stats.cluster import sandwich
    from groupstats.stats.intervals import fieller_relative

    y = np.asarray(y, dtype=float)
    Y = y.reshape(len(y), -1)
    arm = np.asarray(arm)
    order = np.argsort(np.asarray(cluster), kind="stable")
    Y, arm = Y[order], arm[order]
    clus = pd.factorize(np.asarray(cluster)[order])[0]
    arms = np.unique(arm)
    k_arms = len(arms)
    a_idx = np.searchsorted(arms, arm)
    c_idx = int(np.searchsorted(arms, control))
    blocks = [np.eye(k_arms)[a_idx]] + [_dummies(np.asarray(f)[order]) for f in fixed_effects]
    x = np.hstack(blocks)
    xtx = x.T @ x
    bread = np.linalg.pinv(xtx)
    beta = bread @ (x.T @ Y)
    resid = Y - x @ beta
    fit = sandwich(x, resid[:, 0], clus, "CR2")
    ax, starts = fit._ax, fit._starts        # rows are already in cluster order
    avg = x.mean(axis=0)
    grads = []
    for a in range(k_arms):
        g = avg.copy()
        g[:k_arms] = 0.0
        g[a] = 1.0
        grads.append(g)
    means = np.array([g @ beta for g in grads])            # (k, R)

    def cluster_scores(vec):
        u = ax @ (bread @ vec)
        return np.add.reduceat(u[:, None] * resid, starts, axis=0)   # (G, R)

    s_c = cluster_scores(grads[c_idx])
    out = {key: [] for key in ("diff", "se", "df", "p_value", "ci_low", "ci_high", "rel_diff",
                               "rel_se", "rel_ci_low", "rel_ci_high", "arm_mean", "control_mean")}
    treated = [a for a in range(k_arms) if a != c_idx]
    fieller_vars = ([], [], [])          # var_t, var_c, cov per arm (multiplicity-adjusted Fieller intervals)
    for a in treated:
        contrast = grads[a] - grads[c_idx]
        s_d = cluster_scores(contrast)
        s_t = cluster_scores(grads[a])
        se = np.sqrt((s_d ** 2).sum(axis=0))
        df = fit.df(contrast)
        diff = means[a] - means[c_idx]
        crit = sps.t.ppf(1 - alpha / 2, df)
        mu_t, mu_c = means[a], means[c_idx]
        var_t, var_c, cov = (s_t ** 2).sum(0), (s_c ** 2).sum(0), (s_t * s_c).sum(0)
        for store, v in zip(fieller_vars, (var_t, var_c, cov)):
            store.append(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = mu_t / mu_c - 1
            g_t, g_c = 1 / mu_c, -mu_t / mu_c ** 2
            rel_se = np.sqrt(np.maximum(g_t ** 2 * var_t + g_c ** 2 * var_c + 2 * g_t * g_c * cov, 0))
            stat = diff / se
        out["diff"].append(diff)
        out["se"].append(se)
        out["df"].append(np.full(Y.shape[1], df))
        out["p_value"].append(2 * sps.t.sf(np.abs(stat), df))
        out["ci_low"].append(diff - crit * se)
        out["ci_high"].append(diff + crit * se)
        out["rel_diff"].append(rel)
        out["rel_se"].append(rel_se)
        rel_low, rel_high = fieller_relative(mu_t, mu_c, var_t, var_c, cov, crit)   # as compare_arms
        out["rel_ci_low"].append(rel_low)
        out["rel_ci_high"].append(rel_high)
        out["arm_mean"].append(mu_t)
        out["control_mean"].append(mu_c)
    result = {k: np.vstack(v) for k, v in out.items()}
    if correction != "none":
        from groupstats.stats.multiplicity import adjusted_levels   # the engine's rule (one implementation)

        p = result["p_value"]
        adj, level = (np.column_stack(v) for v in zip(*(adjusted_levels(p[:, r], alpha, correction)
                                                         for r in range(p.shape[1]))))
        crit = sps.t.ppf(1 - level / 2, result["df"])
        for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high"):
            result[col + "_unadjusted"] = result[col]
        result["ci_low"] = result["diff"] - crit * result["se"]
        result["ci_high"] = result["diff"] + crit * result["se"]
        result["rel_ci_low"], result["rel_ci_high"] = fieller_relative(
            result["arm_mean"], result["control_mean"], np.vstack(fieller_vars[0]), np.vstack(fieller_vars[1]),
            np.vstack(fieller_vars[2]), crit)
        result["p_adjusted"], result["ci_level"] = adj, 1 - level
    result["arms"] = arms[treated]
    return result


def group_standardise(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rescale each group's outcomes to the overall mean: ``y * mean(y) / mean_g(y)``.

    Used for switchback designs (every group sees every arm): every group then
    weighs equally in the comparison, whatever its activity level, and the
    arm-to-control ratio is unchanged when the slot effect is multiplicative.
    Without it, a few very active groups dominate both the estimate and its
    standard error, which makes the test conservative and weak (see the
    simulation tests).

    Parameters
    ----------
    y : ndarray (n,) or (n, R)
    groups : ndarray (n,)

    Returns
    -------
    ndarray like ``y``; NaN where a group's mean is not positive.
    """
    y = np.asarray(y, dtype=float)
    Y = y.reshape(len(y), -1)
    codes = pd.factorize(np.asarray(groups))[0]
    counts = np.bincount(codes)
    means = np.stack([np.bincount(codes, Y[:, r]) / counts for r in range(Y.shape[1])], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(means[codes] > 0, Y * Y.mean(axis=0) / means[codes], np.nan)
    return out.reshape(y.shape)


def holm_adjust(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along axis 0 (comparisons) for each column (replication)."""
    p = np.atleast_2d(p)
    m = p.shape[0]
    order = np.argsort(p, axis=0)
    sorted_p = np.take_along_axis(p, order, axis=0)
    factors = (m - np.arange(m))[:, None]
    adj = np.minimum(np.maximum.accumulate(sorted_p * factors, axis=0), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=0)
    return out
