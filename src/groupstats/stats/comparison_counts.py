"""Counts: Poisson / negative binomial (NB2) rate ratios with absorbed fixed effects (PPML), and
clustered counts tested on the difference of means, for the comparison engine."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError
from groupstats.stats.comparison_common import _Data, _q, _row, _two_sided_p
from groupstats.stats.comparison_means import _absorbed_regressors, _linear
from groupstats.stats.fixed_effects import FixedEffects, absorbed_sandwich
from groupstats.stats.poisson import drop_all_zero_levels, fit_poisson

def _glm_count(data: _Data, vcov_type: str, family: str, alpha: float, notes: list):
    """Poisson / NB2 log-link regression (PPML with absorbed fixed effects); rate ratio per arm.

    Test, absolute and relative intervals all come from one scale, the log rate ratio
    ``beta_a`` with its (CR2/CR1/model) SE and df: ``rel_ci = exp(beta_a -+ t se) - 1`` and
    ``ci = control_mean * rel_ci`` (the g-computation control mean is held fixed), so the
    significance flag, both intervals and the p-value always agree. ``se`` is the delta-method
    SE of the difference at that control mean (used for the MDE).
    """
    n_arms = len(data.labels)
    y = data.y
    for a, lab in enumerate(data.labels):
        if y[data.codes == a].sum() == 0:
            raise InsufficientDataError(f"Arm {lab!r} has only zero counts, so its rate ratio is "
                                        "undefined (log of 0); use kind='mean' or collect more data.")
    if data.fe is not None and data.fe.shape[1]:
        fe = FixedEffects.from_frame(data.fe)
    else:
        fe = FixedEffects(codes=[np.zeros(len(y), dtype=np.int64)], n_levels=[1], names=["(intercept)"])
    codes, cov, clus = data.codes, data.covariate, data.cluster
    keep = drop_all_zero_levels(y, fe)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} row(s) in fixed-effect levels with only zero counts were dropped "
                     "(they carry no information about the rate ratio).")
        y, codes, fe = y[keep], codes[keep], fe.subset(keep)
        cov = cov[keep] if cov is not None else None
        clus = pd.factorize(clus[keep])[0] if clus is not None else None
    cols = [(codes == a).astype(float) for a in range(1, n_arms)]
    if cov is not None:
        cols.append(cov - cov.mean())
    x = np.column_stack(cols)
    with np.errstate(over="ignore"):
        fit = fit_poisson(y, x, fe)
    alpha_nb = 0.0
    if family == "negbin":
        # NB2 dispersion by the method of moments from the Poisson fit, then NB2 IRLS
        mu = fit.mu
        alpha_nb = max(float(((y - mu) ** 2 - mu).sum() / (mu ** 2).sum()), 1e-8)
        fit = fit_poisson(y, x, fe, alpha_nb=alpha_nb)
        notes.append(f"Negative binomial (NB2) regression with dispersion alpha = {alpha_nb:.3g} "
                     "(method of moments).")
    elif vcov_type == "model":
        dispersion = float((fit.pearson ** 2).sum() / max(len(y) - x.shape[1] - fe.rank(), 1))
        if dispersion > 1.5:
            notes.append(f"Counts are overdispersed (Pearson dispersion {dispersion:.2f}); "
                         "model-based Poisson SEs are too small. Use method='auto' (robust) or "
                         "'negbin'.")
    _absorbed_regressors(codes, n_arms, None, fe, fit.weights)       # arms must vary within FE levels
    sw = np.sqrt(fit.weights)
    xw = fit.xd * sw[:, None]
    if vcov_type == "model":
        bread = np.linalg.pinv(xw.T @ xw)
        vc = bread

        def df_of(_c):
            return np.inf
    else:
        sand = absorbed_sandwich(xw, fit.pearson, clus, fe, vcov_type, weights=fit.weights)
        vc = sand.vcov()
        df_of = sand.df
    beta = fit.beta
    arm_beta = np.r_[0.0, beta[: n_arms - 1]]
    base = fit.mu * np.exp(-arm_beta[codes])               # each row's mean with its arm set to control
    mu_c = float(base.mean())
    rows = []
    for a in range(1, n_arms):
        log_c = np.zeros(x.shape[1])
        log_c[a - 1] = 1.0
        log_rr = float(beta[a - 1])
        se_log = math.sqrt(max(log_c @ vc @ log_c, 0.0))
        df = df_of(log_c)
        crit = _q(1 - alpha / 2, df)
        rr = math.exp(log_rr)
        stat = log_rr / se_log if se_log > 0 else np.nan
        rel_ci = (math.exp(log_rr - crit * se_log) - 1, math.exp(log_rr + crit * se_log) - 1)
        def interval_at(level, _b=log_rr, _se=se_log, _df=df, _mu=mu_c):   # same rule at 1 - level
            c = _q(1 - level / 2, _df)
            rel_i = (math.exp(_b - c * _se) - 1, math.exp(_b + c * _se) - 1)
            return (_mu * rel_i[0], _mu * rel_i[1]), rel_i
        row = _row(data.labels[a], data.labels[0], mu_c * (rr - 1), mu_c * rr * se_log, df, alpha,
                   mu_c * rr, mu_c, rel=rr - 1, rel_ci=rel_ci, p=_two_sided_p(stat, df), stat=stat,
                   ci=(mu_c * rel_ci[0], mu_c * rel_ci[1]), interval_at=interval_at)
        rows.append(row)
    return rows


def _count_means_cr2(data: _Data, alpha: float, notes: list) -> list[dict]:
    """Clustered counts without covariate or fixed effects: the Poisson (and NB2) rate ratio is the
    ratio of the arm means, tested on the difference of mean counts with CR2 and Bell-McCaffrey df;
    the rate ratio's interval is Fieller's on that scale, so test and both intervals agree.

    Why not the log-scale Wald test of the GLM: with few, heterogeneous clusters the estimated
    variance of a log mean falls with the mean, and the log-scale CR2 test rejects 7-8% of A/A
    tests at 10 and at 20 clusters (group effects with sd 0.8 on the log scale), where the test on
    the difference of means holds 4-5% (tests/test_stats_simulation.py).
    """
    for a, lab in enumerate(data.labels):
        if data.y[data.codes == a].sum() == 0:
            raise InsufficientDataError(f"Arm {lab!r} has only zero counts, so its rate ratio is "
                                        "undefined (log of 0); use kind='mean' or collect more data.")
    rows, _ = _linear(data, "mean", "CR2", alpha)
    notes.append("Clustered counts: the rate ratio (the Poisson and NB2 estimate, here the ratio of arm means) is "
                 "tested on the difference of mean counts with CR2 and Bell-McCaffrey degrees of freedom, and its "
                 "interval is Fieller's on that scale (the log-scale CR2 test over-rejects with few, unequal "
                 "clusters).")
    return rows
