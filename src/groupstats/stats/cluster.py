"""Cluster-robust (sandwich) covariance for linear and weighted linear models.

This is the linear-algebra back end of :func:`groupstats.stats.compare.compare_arms`.
It computes, for a (possibly weighted) design ``X`` (n x k) and residuals ``e``
(n,), the CR1 (Liang-Zeger with Stata's small-sample factor, identical to
statsmodels ``cov_type="cluster"``) and CR2 (Bell and McCaffrey 2002) sandwich
covariance, and the Bell-McCaffrey / Imbens-Kolesar (2016) degrees of freedom
for any contrast.  Each row being its own cluster gives HC1 / HC2.  It also holds the
restricted wild cluster bootstrap with Webb weights (:class:`WildClusterBootstrap`).

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

import math
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
        # B = X_g[:, c] root[c] over the columns c not identically 0 in the cluster (with fixed
        # effects most are: other groups' dummies). With root[c] = P S Q' (Q orthonormal),
        # B B' = (X_g[:, c] P S)(X_g[:, c] P S)': same left singular vectors and nonzero
        # singular values from an SVD of n_g x |c| instead of n_g x k (zero ones add nothing).
        cols = np.flatnonzero(np.any(xg != 0.0, axis=0))
        if 2 * len(cols) < xg.shape[1]:
            p, sig, _ = np.linalg.svd(root[cols], full_matrices=False)
            b = xg[:, cols] @ (p * sig)
        else:
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
                              treated: np.ndarray, alpha: float = 0.05, log_scale: bool = False) -> dict:
    """Vectorised CR2 / Bell-McCaffrey test of a two-arm cluster-randomised mean difference.

    Closed form of what :func:`groupstats.stats.compare.compare_arms` computes
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

    log_scale : bool
        The Poisson version (``kind="count"``, cell-means log link): for a cell-means Poisson
        fit the whitened design of arm a is ``sqrt(m_a) e_a`` and ``H_gg = 1 1'/N_a`` as for
        OLS, so the log mean's CR2 variance is the mean's divided by ``m_a^2`` and every
        Bell-McCaffrey term of arm a scales by ``1/m_a`` (the cross term by ``1/m_a^2``).
        ``diff`` is then the log rate ratio and ``rel_ci_*`` is ``exp(ci) - 1``.

    Returns
    -------
    dict of ndarray (R,)
        ``diff, se, df, t, p_value, ci_low, ci_high, rel_diff, rel_ci_low, rel_ci_high,
        var_t, var_c, mean_t, mean_c`` (relative interval: Fieller for means, as compare_arms).
    """
    from groupstats.stats.intervals import fieller_relative

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
        cross = (q2.sum(axis=1) / n_arm[:, 0] ** 3) ** 2
        if log_scale:
            scale = 1.0 / mean
            var, uu, wmw, cross = var * scale[:, 0] ** 2, uu * scale, wmw * scale, cross * scale[:, 0] ** 2
        parts.append((mean[:, 0], var, uu, wmw, cross))
    (m_t, v_t, uu_t, wmw_t, cross_t), (m_c, v_c, uu_c, wmw_c, cross_c) = parts
    uu, wmw = uu_t + uu_c, wmw_t + wmw_c
    trace1 = uu.sum(axis=1) - wmw.sum(axis=1)
    trace2 = (uu ** 2).sum(axis=1) - 2 * (uu * wmw).sum(axis=1) + cross_t + cross_c
    df = trace1 ** 2 / trace2
    diff = np.log(m_t / m_c) if log_scale else m_t - m_c
    se = np.sqrt(v_t + v_c)
    stat = diff / se
    crit = sps.t.ppf(1 - alpha / 2, df)
    out.update(diff=diff, se=se, df=df, t=stat, p_value=2 * sps.t.sf(np.abs(stat), df),
               ci_low=diff - crit * se, ci_high=diff + crit * se, var_t=v_t, var_c=v_c, mean_t=m_t, mean_c=m_c)
    if log_scale:
        out.update(rel_diff=np.expm1(diff), rel_ci_low=np.expm1(diff - crit * se),
                   rel_ci_high=np.expm1(diff + crit * se))
    else:
        low, high = fieller_relative(m_t, m_c, v_t, v_c, 0.0, crit)
        out.update(rel_diff=m_t / m_c - 1, rel_ci_low=low, rel_ci_high=high)
    return out


# --------------------------------------------------------------------------- wild cluster bootstrap
#: Webb (2014/2023) six-point weights: +-sqrt(1/2), +-1, +-sqrt(3/2), each with probability 1/6
#: (mean 0, variance 1).  With G clusters they give 6^G distinct draws, where Rademacher weights
#: give only 2^G (1024 at 10 clusters, too few for a smooth p-value).
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def webb_weights(n_boot: int, n_clusters: int, seed=None, n_reps: int | None = None) -> np.ndarray:
    """Draw Webb six-point weights, shape (n_boot, n_clusters) or (n_reps, n_boot, n_clusters).

    The same ``seed`` gives the same draws for ``n_reps=None`` and the first replication of
    ``n_reps`` (numpy fills arrays in C order), so a vectorised simulation and a single
    :func:`groupstats.stats.compare.compare_arms` call with that seed use identical weights.
    """
    rng = np.random.default_rng(seed)
    shape = (n_boot, n_clusters) if n_reps is None else (n_reps, n_boot, n_clusters)
    return WEBB_WEIGHTS[rng.integers(0, 6, size=shape)]


class WildClusterBootstrap:
    """Restricted (null-imposed) wild cluster bootstrap-t (WCR) for linear contrasts of a LS fit.

    For ``H0: c'beta = delta`` the model is re-estimated under the restriction, giving
    ``beta_r`` and residuals ``u_r``; bootstrap samples are ``y* = X beta_r + v_g u_r`` with
    one weight ``v_g`` per cluster (:data:`WEBB_WEIGHTS`).  The statistic is the t-ratio with
    the CR0 sandwich (any constant small-sample factor cancels in the comparison), and the
    p-value is the symmetric ``mean(|t*| >= |t|)``.  Everything is computed from per-cluster
    ``X_g'X_g`` and ``X_g'y_g`` with matrix algebra over the (B x G) weight matrix, never
    refitting: ``c'beta* - delta = V a`` and the bootstrap scores are ``V K'`` with
    ``a_g = c'M X_g'u_g``, ``K = diag(a) - W S'``, ``S_h = X_h'u_h``, ``w_g = M X_g'X_g M c``
    (``M = (X'X)^+``); see MacKinnon, Nielsen and Webb (2023), "Fast and reliable jackknife
    and bootstrap methods for cluster-robust inference", J. Applied Econometrics 38(5).

    Parameters
    ----------
    x : ndarray (n, k)
        (Whitened) design matrix.
    y : ndarray (n,)
        (Whitened) outcome.
    cluster_codes : ndarray of int (n,)
        Cluster code 0..G-1 of each row (column g of ``weights`` belongs to code g).
    weights : ndarray (B, G)
        Bootstrap weights, e.g. :func:`webb_weights`.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, cluster_codes: np.ndarray, weights: np.ndarray):
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        codes = np.asarray(cluster_codes)
        n_clusters = int(codes.max()) + 1
        if weights.shape[1] != n_clusters:
            raise ValueError(f"weights have {weights.shape[1]} columns for {n_clusters} clusters")
        k = x.shape[1]
        self.m, _ = _pinv_psd(x.T @ x)
        self.beta = self.m @ (x.T @ y)
        self.xty = np.zeros((n_clusters, k))
        np.add.at(self.xty, codes, x * y[:, None])
        self.xtx = np.empty((n_clusters, k, k))
        order = np.argsort(codes, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=n_clusters))]
        xs = x[order]
        for g in range(n_clusters):              # G is small (clusters), k x k blocks
            xg = xs[bounds[g]:bounds[g + 1]]
            self.xtx[g] = xg.T @ xg
        self.v = np.asarray(weights, dtype=float)

    def test(self, contrast: np.ndarray, delta: float = 0.0) -> tuple[float, float]:
        """(t, p) of ``H0: contrast @ beta = delta``: CR0 t-ratio and WCR bootstrap p-value."""
        c = np.asarray(contrast, dtype=float)
        mc = self.m @ c
        cmc = float(c @ mc)
        if cmc <= 0:
            return np.nan, np.nan
        est = float(c @ self.beta)
        a_hat = (self.xty - self.xtx @ self.beta) @ mc          # unrestricted cluster scores
        se = math.sqrt(float(a_hat @ a_hat))
        t = (est - delta) / se if se > 0 else np.nan
        beta_r = self.beta - mc * (est - delta) / cmc
        s = self.xty - self.xtx @ beta_r                        # (G, k) X_g' u_r,g
        a = s @ mc                                              # (G,)
        w = (self.xtx @ mc) @ self.m                            # (G, k)
        k_mat = np.diag(a) - w @ s.T                            # (G, G)
        num = self.v @ a                                        # (B,)
        scores = self.v @ k_mat.T                               # (B, G)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_star = num / np.sqrt((scores * scores).sum(axis=1))
        if not math.isfinite(t):
            return t, np.nan
        tol = 1e-12 * max(1.0, abs(t))
        return t, float(np.mean(np.abs(t_star) >= abs(t) - tol))

    def invert(self, contrast_at, start: float, scale: float, alpha: float,
               max_expand: int = 12, iterations: int = 60) -> tuple[float, float]:
        """Confidence interval by test inversion: the set of ``r`` with ``p(r) >= alpha``
        (:func:`groupstats.stats.wild.invert_test`).

        ``contrast_at(r)`` returns ``(contrast, delta)`` of the hypothesis for parameter
        value ``r`` (p(start) must be large, e.g. the point estimate). A side that is not
        rejected within ``2^max_expand`` scales is unbounded: ``-inf`` / ``inf``.
        """
        from groupstats.stats.wild import invert_test

        return invert_test(lambda r: self.test(*contrast_at(r))[1], start, scale, alpha,
                           max_expand=max_expand, iterations=iterations)


def wild_two_arm_cluster_means(cluster_sums: np.ndarray, cluster_sizes: np.ndarray, treated: np.ndarray,
                               n_boot: int = 999, seed=None, weights: np.ndarray | None = None) -> dict:
    """Vectorised WCR (Webb weights) test of a two-arm cluster-randomised mean difference.

    Closed form of :func:`groupstats.stats.compare.compare_arms` with ``method="wild"`` (``kind="mean"``,
    ``cluster=``, no covariate or fixed effects) for many replications at once.  With
    cell-means OLS the null-imposed fit is the grand mean, and cluster g of arm A (N_A rows)
    has bootstrap score ``(+-1 / N_A) (v_g U_g - n_g / N_A sum_{h in A} v_h U_h)`` with
    ``U_g`` its residual sum under the null.

    Parameters
    ----------
    cluster_sums : ndarray (R, G)
    cluster_sizes : ndarray (G,) or (R, G)
    treated : ndarray of bool (R, G)
    n_boot : int
    seed : int, optional
        Weights are ``webb_weights(n_boot, G, seed, n_reps=R)`` unless ``weights`` (R, B, G)
        is given.

    Returns
    -------
    dict of ndarray (R,): ``diff, t, p_value``.
    """
    s = np.asarray(cluster_sums, dtype=float)
    n = np.broadcast_to(np.asarray(cluster_sizes, dtype=float), s.shape)
    t_mask = np.asarray(treated, dtype=bool)
    n_reps, n_clusters = s.shape
    v = webb_weights(n_boot, n_clusters, seed, n_reps=n_reps) if weights is None else weights
    sign = np.where(t_mask, 1.0, -1.0)
    n_arm = np.where(t_mask, (n * t_mask).sum(1, keepdims=True), (n * ~t_mask).sum(1, keepdims=True))
    mean_arm = np.where(t_mask, (s * t_mask).sum(1, keepdims=True), (s * ~t_mask).sum(1, keepdims=True)) / n_arm
    grand = s.sum(1, keepdims=True) / n.sum(1, keepdims=True)
    diff = (s * t_mask).sum(1) / (n * t_mask).sum(1) - (s * ~t_mask).sum(1) / (n * ~t_mask).sum(1)
    a_hat = sign * (s - n * mean_arm) / n_arm
    t = diff / np.sqrt((a_hat ** 2).sum(1))
    u = s - n * grand                                            # (R, G) null residual sums
    vu = v * u[:, None, :]                                       # (R, B, G)
    tot_t = (vu * t_mask[:, None, :]).sum(-1, keepdims=True)
    tot_c = (vu * ~t_mask[:, None, :]).sum(-1, keepdims=True)
    same = np.where(t_mask[:, None, :], tot_t, tot_c)
    scale = (sign / n_arm)[:, None, :]
    scores = scale * (vu - (n / n_arm)[:, None, :] * same)
    num = (scale * vu).sum(-1)
    t_star = num / np.sqrt((scores ** 2).sum(-1))
    tol = 1e-12 * np.maximum(1.0, np.abs(t))
    p = (np.abs(t_star) >= (np.abs(t) - tol)[:, None]).mean(-1)
    return {"diff": diff, "t": t, "p_value": p}
