"""Cluster-robust (sandwich) covariance for linear and weighted linear models.

This is the linear-algebra back end of :func:`groupstats.stats.compare_arms`.
It computes, for a (possibly weighted) design ``X`` (n x k) and residuals ``e``
(n,), the CR1 (Liang-Zeger with Stata's small-sample factor, identical to
statsmodels ``cov_type="cluster"``) and CR2 (Bell and McCaffrey 2002) sandwich
covariance, and the Bell-McCaffrey / Imbens-Kolesar (2016) degrees of freedom
for any contrast.  Each row being its own cluster gives HC1 / HC2.

For a GLM (Poisson, negative binomial) or WLS fit, pass the *whitened* design
``sqrt(w) * X`` and whitened residuals; see :func:`whiten_glm`.

References
----------
Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for
linear regression with multi-stage samples. Survey Methodology 28(2).
Imbens, G. W. and Kolesar, M. (2016). Robust standard errors in small samples:
some practical advice. Review of Economics and Statistics 98(4).
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for
cluster-robust variance estimation and hypothesis testing in fixed effects
models. Journal of Business & Economic Statistics 36(4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TOL = 1e-10


def _pinv_psd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moore-Penrose inverse of a symmetric PSD matrix and a square-root factor.

    Returns ``(M, L)`` with ``M = pinv(matrix)`` and ``M = L @ L.T``.
    """
    vals, vecs = np.linalg.eigh(matrix)
    keep = vals > vals.max(initial=0.0) * 1e-12
    inv = np.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    inverse = (vecs * inv) @ vecs.T
    root = vecs * np.sqrt(inv)
    return inverse, root


@dataclass
class SandwichFit:
    """A sandwich covariance and what is needed for contrast degrees of freedom.

    Attributes
    ----------
    vcov : ndarray (k, k)
        Covariance of the coefficients.
    vcov_type : str
        ``"CR1"`` or ``"CR2"`` (``"HC1"``/``"HC2"`` when every cluster is one row).
    n_clusters : int
        Number of clusters G.
    """

    vcov: np.ndarray
    vcov_type: str
    n_clusters: int
    _bread: np.ndarray
    _x: np.ndarray
    _ax: np.ndarray | None
    _starts: np.ndarray

    def df(self, contrast: np.ndarray) -> float:
        """Degrees of freedom for the t reference of ``contrast @ beta``.

        CR1 uses ``G - 1``; CR2 uses the Bell-McCaffrey Satterthwaite
        approximation under a homoskedastic working model (Imbens-Kolesar's
        "BM" df), computed in O(n k^2) without forming any n x n matrix.
        """
        if self.vcov_type in ("CR1", "HC1"):
            return float(max(self.n_clusters - 1, 1))
        v = self._bread @ np.asarray(contrast, dtype=float)
        u = self._ax @ v                                   # (n,) stacked u_g
        uu = np.add.reduceat(u * u, self._starts)          # ||u_g||^2, (G,)
        w = np.add.reduceat(self._x * u[:, None], self._starts, axis=0)  # (G, k)
        wmw = np.einsum("gi,ij,gj->g", w, self._bread, w)
        s = w.T @ w
        msm = self._bread @ s
        trace1 = uu.sum() - wmw.sum()
        trace2 = (uu * uu).sum() - 2.0 * (uu * wmw).sum() + np.einsum("ij,ji->", msm, msm)
        if trace2 <= 0:
            return float(max(self.n_clusters - 1, 1))
        return float(trace1 * trace1 / trace2)


def sandwich(x: np.ndarray, resid: np.ndarray, cluster_codes: np.ndarray | None,
             vcov_type: str = "CR2") -> SandwichFit:
    """Cluster-robust covariance of least-squares coefficients.

    Parameters
    ----------
    x : ndarray (n, k)
        (Whitened) design matrix.
    resid : ndarray (n,)
        (Whitened) residuals of the fit.
    cluster_codes : ndarray of int (n,) or None
        Cluster of each row; ``None`` makes every row its own cluster (HC).
    vcov_type : {"CR1", "CR2"}
        CR1 multiplies the plain sandwich by ``G/(G-1) * (n-1)/(n-k)``; CR2
        premultiplies each cluster's residuals by ``(I - H_gg)^{-1/2}``
        (pseudo-inverse square root where ``H_gg`` has unit eigenvalues, e.g.
        with cluster fixed effects, as in Pustejovsky and Tipton 2018).

    Returns
    -------
    SandwichFit
    """
    x = np.asarray(x, dtype=float)
    resid = np.asarray(resid, dtype=float)
    n, _ = x.shape
    if cluster_codes is None:
        order = np.arange(n)
        starts = np.arange(n)
    else:
        codes = np.asarray(cluster_codes)
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    x = x[order]
    resid = resid[order]
    n_clusters = len(starts)
    bread, root = _pinv_psd(x.T @ x)
    rank = int(np.linalg.matrix_rank(x.T @ x)) if n else 0
    singleton = n_clusters == n
    label = vcov_type.upper()
    if label == "CR1":
        scores = np.add.reduceat(x * resid[:, None], starts, axis=0)
        factor = (n_clusters / max(n_clusters - 1, 1)) * ((n - 1) / max(n - rank, 1))
        vcov = factor * bread @ (scores.T @ scores) @ bread
        ax = None
    elif label == "CR2":
        ax = _adjusted_design(x, root, starts, singleton)
        scores = np.add.reduceat(ax * resid[:, None], starts, axis=0)
        vcov = bread @ (scores.T @ scores) @ bread
    else:  # pragma: no cover - guarded by caller
        raise ValueError(f"unknown vcov_type {vcov_type!r}")
    if singleton:
        label = label.replace("CR", "HC")
    return SandwichFit(vcov=vcov, vcov_type=label, n_clusters=n_clusters, _bread=bread,
                       _x=x, _ax=ax, _starts=starts)


def _adjusted_design(x: np.ndarray, root: np.ndarray, starts: np.ndarray,
                     singleton: bool) -> np.ndarray:
    """Return ``A_g X_g`` stacked, with ``A_g = (I - H_gg)^{-1/2}`` (pseudo-inverse).

    ``H_gg = B B'`` with ``B = X_g L`` has rank <= k, so ``A_g`` acts only on the
    span of ``B``'s left singular vectors: ``A_g = I + U (f(s^2) - 1) U'``.
    """
    if singleton:
        b = x @ root
        lev = np.einsum("ij,ij->i", b, b)
        gap = 1.0 - lev
        factor = np.where(gap > _TOL, 1.0 / np.sqrt(np.clip(gap, _TOL, None)), 0.0)
        return x * factor[:, None]
    out = np.empty_like(x)
    bounds = np.r_[starts, len(x)]
    for g in range(len(starts)):
        lo, hi = bounds[g], bounds[g + 1]
        xg = x[lo:hi]
        b = xg @ root
        u, s, _ = np.linalg.svd(b, full_matrices=False)
        lam = s * s
        gap = 1.0 - lam
        f = np.where(gap > _TOL, 1.0 / np.sqrt(np.clip(gap, _TOL, None)), 0.0)
        out[lo:hi] = xg + u @ ((f - 1.0)[:, None] * (u.T @ xg))
    return out


def whiten_glm(x: np.ndarray, y: np.ndarray, mu: np.ndarray,
               variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whitened design and residuals of a log-link GLM at its solution.

    For a log link the IRLS weight is ``w = mu^2 / V(mu)``; the score is
    ``X' sqrt(w) (y - mu) / sqrt(V)``, so the sandwich of the whitened least
    squares problem equals the GLM sandwich (clubSandwich's approach).

    Returns
    -------
    (x_white, resid_white) : ndarray (n, k), ndarray (n,)
    """
    weight = mu * mu / variance
    sw = np.sqrt(weight)
    return x * sw[:, None], (y - mu) / np.sqrt(variance)


def cr2_two_arm_cluster_means(cluster_sums: np.ndarray, cluster_sizes: np.ndarray,
                              treated: np.ndarray, alpha: float = 0.05) -> dict:
    """Vectorised CR2 / Bell-McCaffrey test of a two-arm cluster-randomised mean difference.

    Closed form of what :func:`groupstats.stats.compare_arms` computes
    (``kind="mean"``, ``cluster=``, no covariate or fixed effects) for many
    replications at once, for power and false-positive simulations.
    With cell-means OLS, ``H_gg = 1 1' / N_a`` so ``A_g`` scales cluster g's
    residuals by ``(1 - n_g / N_a)^{-1/2}``.

    Parameters
    ----------
    cluster_sums : ndarray (R, G)
        Sum of the outcome over each cluster's rows in each replication.
    cluster_sizes : ndarray (G,) or (R, G)
        Rows per cluster.
    treated : ndarray of bool (R, G)
        Whether each cluster is in the treated arm in each replication.
    alpha : float
        Level for the CIs.

    Returns
    -------
    dict of ndarray (R,)
        ``diff, se, df, t, p_value, ci_low, ci_high``.
    """
    s = np.asarray(cluster_sums, dtype=float)
    n = np.broadcast_to(np.asarray(cluster_sizes, dtype=float), s.shape)
    t = np.asarray(treated, dtype=bool)
    from scipy import stats as sps

    out = {}
    parts = []
    for arm_mask in (t, ~t):
        n_arm = (n * arm_mask).sum(axis=1, keepdims=True)           # (R, 1)
        mean = (s * arm_mask).sum(axis=1, keepdims=True) / n_arm
        resid = s - n * mean                                         # cluster residual sums
        gap = 1.0 - n / n_arm
        var = (arm_mask * resid ** 2 / gap).sum(axis=1) / n_arm[:, 0] ** 2
        q2 = arm_mask * n ** 2 / gap                                # squared w-norms times N_a^2
        uu = arm_mask * n / (n_arm ** 2 * gap)                      # ||u_g||^2
        wmw = q2 / n_arm ** 3                                       # w_g' M w_g
        parts.append((mean[:, 0], var, uu, wmw, (q2.sum(axis=1) / n_arm[:, 0] ** 3) ** 2))
    (m_t, v_t, uu_t, wmw_t, cross_t), (m_c, v_c, uu_c, wmw_c, cross_c) = parts
    uu, wmw = uu_t + uu_c, wmw_t + wmw_c
    trace1 = uu.sum(axis=1) - wmw.sum(axis=1)
    trace2 = (uu ** 2).sum(axis=1) - 2 * (uu * wmw).sum(axis=1) + cross_t + cross_c
    df = trace1 ** 2 / trace2
    diff = m_t - m_c
    se = np.sqrt(v_t + v_c)
    stat = diff / se
    crit = sps.t.ppf(1 - alpha / 2, df)
    out.update(diff=diff, se=se, df=df, t=stat, p_value=2 * sps.t.sf(np.abs(stat), df),
               ci_low=diff - crit * se, ci_high=diff + crit * se)
    return out
