"""Poisson and negative binomial (NB2) regression with absorbed fixed effects (PPML).

``log E[y] = X beta + D gamma`` is fitted by iteratively reweighted least squares in which
every weighted least-squares step demeans the working response and ``X`` by the fixed
effects (alternating projections, :func:`groupstats.stats.fixed_effects.demean`), as
``fixest::fepois`` and ``pyfixest.fepois`` do (Correia, Guimaraes and Zylkin 2020,
"Fast Poisson estimation with high-dimensional fixed effects", Stata Journal 20(1)). No
column per fixed-effect level is built.

At the solution the fit is a weighted least-squares problem with weights
``w = mu^2 / V(mu)`` (``V = mu + alpha mu^2``; ``alpha = 0`` for Poisson): the whitened
demeaned design ``sqrt(w) X~`` and Pearson residuals ``(y - mu) / sqrt(V)`` give the GLM
sandwich, so CR1 / CR2 (with Bell-McCaffrey degrees of freedom) come from
:func:`groupstats.stats.fixed_effects.absorbed_sandwich` exactly as for linear models
(clubSandwich's treatment of GLMs).

Observations in a fixed-effect level whose counts are all zero carry no information
(the level's effect goes to minus infinity) and are dropped first, as fixest does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupstats.errors import ConvergenceError
from groupstats.stats.fixed_effects import FixedEffects, demean

__all__ = ["PoissonFit", "fit_poisson", "drop_all_zero_levels"]


@dataclass
class PoissonFit:
    """Solution of a (negative binomial) Poisson regression with absorbed fixed effects.

    Attributes
    ----------
    beta : ndarray (k,)
        Coefficients of the non-absorbed regressors (log rate ratios for indicators).
    mu : ndarray (n,)
        Fitted means.
    weights : ndarray (n,)
        IRLS weights ``mu^2 / V(mu)`` at the solution.
    xd : ndarray (n, k)
        Regressors demeaned with ``weights`` (not whitened).
    pearson : ndarray (n,)
        ``(y - mu) / sqrt(V(mu))`` (the whitened residuals).
    n_iter : int
    deviance : float
    """

    beta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray
    xd: np.ndarray
    pearson: np.ndarray
    n_iter: int
    deviance: float


def drop_all_zero_levels(y: np.ndarray, fe: FixedEffects) -> np.ndarray:
    """Mask of rows to keep: not in any fixed-effect level whose counts are all zero (repeated
    until stable, since dropping rows can empty a level of another effect)."""
    keep = np.ones(len(y), dtype=bool)
    while True:
        drop = np.zeros(len(y), dtype=bool)
        for codes, L in zip(fe.codes, fe.n_levels):
            tot = np.bincount(codes[keep], weights=y[keep], minlength=L)
            drop |= keep & (tot[codes] <= 0)
        if not drop.any():
            return keep
        keep &= ~drop


def _deviance(y, mu, alpha_nb):
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(y / mu), 0.0)
        if alpha_nb <= 0:
            return float(2 * np.sum(ylogy - (y - mu)))
        inv = 1.0 / alpha_nb
        return float(2 * np.sum(ylogy - (y + inv) * np.log((1 + alpha_nb * y) / (1 + alpha_nb * mu))))


def fit_poisson(y: np.ndarray, x: np.ndarray, fe: FixedEffects, alpha_nb: float = 0.0,
                tol: float = 1e-10, max_iter: int = 100) -> PoissonFit:
    """Fit ``log E[y] = x beta + fixed effects`` by IRLS on demeaned data.

    Parameters
    ----------
    y : ndarray (n,)
        Non-negative counts.
    x : ndarray (n, k)
        Non-absorbed regressors (no intercept: the fixed effects, or a one-level effect, hold it).
    fe : FixedEffects
        At least one effect (pass a single-level effect for a model with only an intercept).
    alpha_nb : float
        NB2 dispersion (``V = mu + alpha mu^2``); 0 for Poisson.
    tol : float
        Convergence of the relative change in deviance.

    Returns
    -------
    PoissonFit
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float).reshape(len(y), -1)
    mu = (y + y.mean()) / 2.0
    eta = np.log(mu)
    dev_old = np.inf
    beta = np.zeros(x.shape[1])
    for it in range(1, max_iter + 1):
        w = mu / (1.0 + alpha_nb * mu)
        z = eta + (y - mu) / mu
        both = demean(np.column_stack([x, z]), fe, weights=w, tol=1e-11)
        xd, zd = both[:, :-1], both[:, -1]
        sw = np.sqrt(w)
        beta, *_ = np.linalg.lstsq(xd * sw[:, None], zd * sw, rcond=None)
        eta = z - (zd - xd @ beta)
        mu = np.exp(eta)
        dev = _deviance(y, mu, alpha_nb)
        if abs(dev - dev_old) / (0.1 + abs(dev)) < tol:
            break
        dev_old = dev
    else:
        raise ConvergenceError(f"The Poisson fit with fixed effects did not converge in {max_iter} IRLS "
                               "iterations; check for fixed-effect levels with very few non-zero counts.")
    w = mu / (1.0 + alpha_nb * mu)
    xd = demean(x, fe, weights=w, tol=1e-12)
    pearson = (y - mu) / np.sqrt(mu + alpha_nb * mu * mu)
    return PoissonFit(beta=beta, mu=mu, weights=w, xd=xd, pearson=pearson, n_iter=it, deviance=dev)
