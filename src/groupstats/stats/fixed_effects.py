"""Absorbed fixed effects and cluster-robust (CR1 / CR2) inference from per-cluster blocks.

A design with fixed effects (group, week, ...) is never materialised as a dense column per
level. The non-absorbed regressors ``X`` (arm indicators, a covariate) and the outcome are
*demeaned* by alternating projections (the method of alternating projections, MAP, as in
``fixest`` / ``pyfixest`` / ``reghdfe``): by the Frisch-Waugh-Lovell theorem the least-squares
coefficients of ``X`` in ``y ~ X + D`` equal those of the demeaned regression ``y_ ~ X_``.

CR2 (Bell and McCaffrey 2002) needs the full hat matrix ``H`` of ``[X, D]`` on each cluster's
rows, ``A_g = (I - H_gg)^(-1/2)`` (pseudo-inverse square root). Following Pustejovsky and
Tipton (2018, JBES 36(4), Theorem 2 and section 3), the fixed effects are split in two:

* **nested** in the clusters (every level inside one cluster, e.g. group fixed effects when
  clustering by group): their part of ``H_gg`` acts on a subspace that the residuals and the
  demeaned regressors are orthogonal to, so it can be dropped: ``A_g e_g`` is the same with
  or without it (their Theorem 2; clubSandwich does the same for absorbed nested effects);
* **crossing** the clusters (e.g. week fixed effects shared by all groups): their part stays.
  With ``D~_C`` the crossing dummies residualised on the nested ones (a within-cluster
  operation, done per cluster) and ``X~`` the fully demeaned regressors, ``X~' D~_C = 0`` and

      H_gg (up to the nested part) = X~_g M_X X~_g' + D~_C,g M_C D~_C,g',
      M_X = (X~'X~)^+,   M_C = (D~_C' D~_C)^+   (a c x c matrix, c = crossing levels).

  Each cluster's block has rank at most ``k + c_g`` (k non-absorbed regressors, c_g crossing
  levels present in the cluster), so ``A_g`` comes from one thin SVD of an ``n_g x (k + c_g)``
  matrix: ``A_g = I + U (f(s^2) - 1) U'`` with ``f(l) = (1 - l)^(-1/2)`` (0 where l = 1).

The Bell-McCaffrey degrees of freedom of a contrast ``c`` (Imbens and Kolesar 2016, working
model ``sigma^2 I``) are ``tr(Q)^2 / ||Q||_F^2`` with the G x G matrix
``Q_gh = p_g'(I - H)_gh p_h``, ``p_g = A_g X~_g M_X c``; ``p_g`` is orthogonal to the nested
dummies, so ``Q = diag(p_g'p_g) - W M_X W' - V M_C V'`` with ``W_g = X~_g'p_g`` and
``V_g = D~_C,g'p_g``. Memory is O(n k + G c k + G^2): proportional to the rows, never rows x levels.

References
----------
Bell, R. M. and McCaffrey, D. F. (2002). Survey Methodology 28(2).
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. JBES 36(4), 672-683.
Imbens, G. W. and Kolesar, M. (2016). Review of Economics and Statistics 98(4).
Gaure, S. (2013). OLS with multiple high dimensional category variables. CSDA 66.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError

__all__ = ["FixedEffects", "demean", "AbsorbedFit", "absorbed_sandwich"]

_TOL = 1e-10
#: Most crossing fixed-effect levels handled by CR2 (a c x c pseudo-inverse).
MAX_CROSSING_LEVELS = 4000


# --------------------------------------------------------------------------- fixed effects
@dataclass
class FixedEffects:
    """Integer codes of each fixed effect (one array of length n per effect)."""

    codes: list
    n_levels: list
    names: list

    @classmethod
    def from_frame(cls, fe: pd.DataFrame) -> "FixedEffects":
        codes, levels = [], []
        for col in fe.columns:
            c = pd.factorize(fe[col])[0].astype(np.int64)
            codes.append(c)
            levels.append(int(c.max()) + 1 if len(c) else 0)
        return cls(codes=codes, n_levels=levels, names=[str(c) for c in fe.columns])

    def subset(self, keep: np.ndarray) -> "FixedEffects":
        codes = [pd.factorize(c[keep])[0].astype(np.int64) for c in self.codes]
        return FixedEffects(codes=codes, n_levels=[int(c.max()) + 1 if len(c) else 0 for c in codes],
                            names=list(self.names))

    def rank(self) -> int:
        """Rank of the dummy matrix of all levels ``[D_1, ..., D_m]`` (an intercept included).

        One effect: its levels. Two: ``L1 + L2 - (connected components of the bipartite
        level graph)``. More: the same bound from the first two plus ``L_j - 1`` per further
        effect (exact unless the further effects are themselves confounded).
        """
        if not self.codes:
            return 0
        if len(self.codes) == 1:
            return self.n_levels[0]
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        l1, l2 = self.n_levels[0], self.n_levels[1]
        graph = coo_matrix((np.ones(len(self.codes[0])), (self.codes[0], l1 + self.codes[1])),
                           shape=(l1 + l2, l1 + l2))
        n_comp, _ = connected_components(graph, directed=False)
        return l1 + l2 - n_comp + sum(n - 1 for n in self.n_levels[2:])


def demean(values: np.ndarray, fe: FixedEffects, weights: np.ndarray | None = None,
           tol: float = 1e-11, max_iter: int = 10_000) -> np.ndarray:
    """Residuals of each column of ``values`` on all fixed-effect dummies (weighted LS).

    Alternating projections: subtract the (weighted) level means of each effect in turn
    until the largest change is below ``tol`` times the columns' scale. One effect needs
    one sweep. Vectorised with ``np.bincount`` per column; nothing of size n x levels.

    Parameters
    ----------
    values : ndarray (n,) or (n, p)
    fe : FixedEffects
    weights : ndarray (n,), optional

    Returns
    -------
    ndarray of the shape of ``values``
    """
    arr = np.array(values, dtype=float, copy=True)
    flat = arr.ndim == 1
    out = arr.reshape(len(arr), -1)
    if not fe.codes:
        return arr
    n, p = out.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    wsums = [np.bincount(c, weights=w, minlength=L) for c, L in zip(fe.codes, fe.n_levels)]
    inv = [np.divide(1.0, s, out=np.zeros_like(s), where=s > 0) for s in wsums]
    scale = np.maximum(np.abs(out).max(axis=0), 1e-300) if n else np.ones(p)
    for _ in range(max_iter):
        change = 0.0
        for c, L, iv in zip(fe.codes, fe.n_levels, inv):
            for j in range(p):
                col = out[:, j]
                wcol = col * w if weights is not None else col
                means = np.bincount(c, weights=wcol, minlength=L) * iv
                col -= means[c]
                if len(fe.codes) > 1:
                    change = max(change, float(np.abs(means).max(initial=0.0)) / scale[j])
        if len(fe.codes) == 1 or change < tol:
            break
    else:  # pragma: no cover - pathological designs only
        raise ParameterError(f"Demeaning by the fixed effects {fe.names} did not converge in {max_iter} "
                             "sweeps; the fixed effects are nearly collinear. Drop one of them.")
    return out[:, 0] if flat else out


# --------------------------------------------------------------------------- sandwich
def _pinv_psd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-inverse ``M`` of a symmetric PSD matrix and a factor ``L`` with ``M = L L'``."""
    if matrix.size == 0:
        return matrix.copy(), matrix.copy()
    vals, vecs = np.linalg.eigh(matrix)
    keep = vals > vals.max(initial=0.0) * 1e-12
    inv = np.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    return (vecs * inv) @ vecs.T, vecs[:, keep] * np.sqrt(inv[keep])


@dataclass
class AbsorbedFit:
    """Least squares with absorbed fixed effects and its cluster-robust covariance.

    Attributes
    ----------
    beta : ndarray (k,)
        Coefficients of the non-absorbed regressors.
    scores : ndarray (G, k + m)
        Per-cluster influence of the coefficients and of ``m`` extra linear functionals
        of ``y`` (``functionals`` of :func:`absorbed_sandwich`), so that the covariance of
        any linear combination ``a`` of them is ``factor * ||scores @ a||^2``.
    vcov_type : str
        ``"CR1"``, ``"CR2"`` (``"HC1"`` / ``"HC2"`` with one row per cluster) or ``"model"``.
    n_clusters, n_obs, rank : int
        Clusters, rows and rank of the full design ``[X, D]``.
    """

    beta: np.ndarray
    bread: np.ndarray
    scores: np.ndarray
    factor: float
    vcov_type: str
    n_clusters: int
    n_obs: int
    rank: int
    resid: np.ndarray
    _xd: np.ndarray | None = None
    _ax: np.ndarray | None = None
    _starts: np.ndarray | None = None
    _dtax: list | None = None
    _root_c: np.ndarray | None = None
    _model_cov: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.beta)

    def vcov(self) -> np.ndarray:
        """Covariance of ``(beta, functionals)``, shape (k + m, k + m)."""
        if self._model_cov is not None:
            return self._model_cov
        return self.factor * (self.scores.T @ self.scores)

    def df(self, contrast: np.ndarray) -> float:
        """Degrees of freedom of the t reference for ``contrast @ beta`` (first k entries).

        CR1: ``G - 1``; model: ``n - rank``; CR2: Bell-McCaffrey (see the module docstring).
        """
        if self.vcov_type == "model":
            return float(max(self.n_obs - self.rank, 1))
        if self.vcov_type in ("CR1", "HC1"):
            return float(max(self.n_clusters - 1, 1))
        with single_blas_thread():
            return self._bm_df(contrast)

    def _bm_df(self, contrast) -> float:
        c = np.asarray(contrast, dtype=float)[: self.k]
        mc = self.bread @ c
        p = self._ax @ mc                                            # (n,) stacked p_g
        pp = np.add.reduceat(p * p, self._starts)                     # (G,)
        w = np.add.reduceat(self._xd * p[:, None], self._starts, axis=0)   # (G, k)
        parts = [w @ _sqrt_psd(self.bread)]
        if self._root_c is not None and self._root_c.size:
            if isinstance(self._dtax[0][0], str):                  # one row per cluster
                _, cross_codes, sw = self._dtax[0]
                rc = sum(self._root_c[codes] for codes in cross_codes) * (sw * p)[:, None]
            else:
                rc = np.zeros((self.n_clusters, self._root_c.shape[1]))
                for g, (cols, block) in enumerate(self._dtax):
                    if len(cols):
                        rc[g] = (block @ mc) @ self._root_c[cols]
            parts.append(rc)
        r = np.hstack(parts)                                         # Q = diag(pp) - R R'
        rr = np.einsum("ij,ij->i", r, r)
        gram = r.T @ r
        trace1 = pp.sum() - rr.sum()
        trace2 = (pp * pp).sum() - 2.0 * (pp * rr).sum() + float((gram * gram).sum())
        if trace2 <= 0:
            return float(max(self.n_clusters - 1, 1))
        return float(trace1 * trace1 / trace2)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """A factor ``L`` with ``matrix = L L'`` of a symmetric PSD matrix."""
    vals, vecs = np.linalg.eigh(matrix)
    keep = vals > vals.max(initial=0.0) * 1e-12
    return vecs[:, keep] * np.sqrt(vals[keep])


def _left_singular(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors ``U`` and squared singular values of a tall thin ``b`` (n_g x r),
    from the eigen-decomposition of the r x r Gram matrix (the squares are what CR2 needs;
    much cheaper than an SVD of the n_g x r block when n_g >> r)."""
    if b.shape[1] == 0:
        return np.zeros((b.shape[0], 0)), np.zeros(0)
    lam, vecs = np.linalg.eigh(b.T @ b)
    keep = lam > max(float(lam.max(initial=0.0)), 1.0) * 1e-13
    lam = lam[keep]
    return (b @ vecs[:, keep]) / np.sqrt(lam), lam


def _cluster_starts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(codes) else np.array([0])
    return order, starts


def _split_nested(fe: FixedEffects, clus: np.ndarray | None, singleton: bool) -> tuple[list, list]:
    """Indices of the fixed effects nested in the clusters and of those crossing them."""
    nested, crossing = [], []
    for j, (codes, L) in enumerate(zip(fe.codes, fe.n_levels)):
        if singleton:
            is_nested = bool(np.bincount(codes, minlength=L).max(initial=0) <= 1)
        else:
            first = np.full(L, -1, dtype=np.int64)
            first[codes[::-1]] = clus[::-1]
            is_nested = bool(np.all(first[codes] == clus))
        (nested if is_nested else crossing).append(j)
    return nested, crossing


def _level_dummies(codes: list, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Dummies of rows lo:hi over the levels of ``codes`` (one global index over the effects) present
    there; returns (level indices, n_g x c_g block)."""
    local = [c[lo:hi] for c in codes]
    cols = np.unique(np.concatenate(local))
    block = np.zeros((hi - lo, len(cols)))
    rows = np.arange(hi - lo)
    for c in local:
        block[rows, np.searchsorted(cols, c)] = 1.0
    return cols, block


def _renumbered(codes: list) -> FixedEffects:
    """The fixed effects of ``codes`` (the rows of one cluster) with their levels numbered from 0."""
    sub = FixedEffects(codes=[pd.factorize(c)[0] for c in codes], n_levels=[0] * len(codes), names=[])
    sub.n_levels = [int(c.max()) + 1 for c in sub.codes]
    return sub


def absorbed_sandwich(xd: np.ndarray, resid: np.ndarray, cluster_codes: np.ndarray | None,
                      fe: FixedEffects, vcov_type: str = "CR2", weights: np.ndarray | None = None,
                      functionals: np.ndarray | None = None) -> AbsorbedFit:
    """Cluster-robust covariance of the coefficients of a regression with absorbed fixed effects.

    Parameters
    ----------
    xd : ndarray (n, k)
        Regressors demeaned by :func:`demean` (with ``weights``), then multiplied by
        ``sqrt(weights)`` (the whitened demeaned design).
    resid : ndarray (n,)
        Whitened residuals ``sqrt(w) (y_ - xd beta)`` of the demeaned regression.
    cluster_codes : ndarray (n,) of int, or None
        Cluster of each row; None: every row is its own cluster (HC1 / HC2).
    fe : FixedEffects
        The absorbed effects (their codes locate the dummies; nothing dense is built).
    vcov_type : {"CR1", "CR2", "model"}
    weights : ndarray (n,), optional
        Regression weights (as used to demean).
    functionals : ndarray (n, m), optional
        Extra linear functionals ``l'y`` of the (unwhitened) outcome whose covariance with
        the coefficients is wanted, given as ``sqrt(w) * l`` minus its projection on the
        columns of ``xd`` is *not* needed: pass the whitened vectors; the influence of each
        is ``l_g' A_g e_g`` (CR2) or ``l_g' e_g`` (CR1), valid for any ``l`` in the span
        of ``[X, D]`` (e.g. a weighted mean of y).

    Returns
    -------
    AbsorbedFit (``beta`` is filled in by the caller: ``bread @ xd' y``)
    """
    # many small matrices: one BLAS thread (threads on 30 x 30 blocks cost 25x on a loaded machine)
    with single_blas_thread():
        return _absorbed_sandwich(xd, resid, cluster_codes, fe, vcov_type, weights, functionals)


def single_blas_thread():
    """Context manager limiting BLAS to one thread (threadpoolctl); does nothing without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _absorbed_sandwich(xd, resid, cluster_codes, fe, vcov_type, weights, functionals) -> AbsorbedFit:
    xd = np.asarray(xd, dtype=float)
    resid = np.asarray(resid, dtype=float)
    n, k = xd.shape
    m = 0 if functionals is None else functionals.shape[1]
    bread, root = _pinv_psd(xd.T @ xd)
    rank = int(np.linalg.matrix_rank(xd.T @ xd)) if n and k else 0
    full_rank = rank + fe.rank()
    label = vcov_type.upper()
    singleton = cluster_codes is None
    if label == "MODEL":
        sigma2 = float(resid @ resid) / max(n - full_rank, 1)
        lin = np.hstack([xd @ bread, functionals]) if m else xd @ bread
        cov = sigma2 * (lin.T @ lin)
        return AbsorbedFit(beta=np.zeros(k), bread=bread, scores=np.zeros((0, k + m)), factor=1.0,
                           vcov_type="model", n_clusters=n, n_obs=n, rank=full_rank, resid=resid,
                           _model_cov=cov)
    clus = np.arange(n) if singleton else np.asarray(cluster_codes)
    order, starts = _cluster_starts(clus)
    xs, es = xd[order], resid[order]
    fs = functionals[order] if m else None
    n_clusters = len(starts)
    bounds = np.r_[starts, n]
    if label == "CR1":
        infl = xs * es[:, None]
        scores = np.add.reduceat(infl, starts, axis=0) @ bread
        if m:
            scores = np.hstack([scores, np.add.reduceat(fs * es[:, None], starts, axis=0)])
        factor = (n_clusters / max(n_clusters - 1, 1)) * ((n - 1) / max(n - full_rank, 1))
        return AbsorbedFit(beta=np.zeros(k), bread=bread, scores=scores, factor=factor,
                           vcov_type="HC1" if singleton else "CR1", n_clusters=n_clusters, n_obs=n,
                           rank=full_rank, resid=resid, _starts=starts)
    if label != "CR2":  # pragma: no cover - guarded by callers
        raise ValueError(f"unknown vcov_type {vcov_type!r}")

    nested, crossing = _split_nested(fe, clus, singleton)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    ws = w[order]
    sw = np.sqrt(ws)
    # crossing levels: one global index over all crossing effects
    offsets = np.cumsum([0] + [fe.n_levels[j] for j in crossing])
    c_total = int(offsets[-1])
    if c_total > MAX_CROSSING_LEVELS:
        raise ParameterError(
            f"The fixed effects {[fe.names[j] for j in crossing]} cross the clusters with {c_total} levels in "
            f"total; CR2 handles at most {MAX_CROSSING_LEVELS}. Use coarser fixed effects (e.g. weeks instead "
            "of days) or method='cr1'.")
    cross_codes = [fe.codes[j][order] + offsets[i] for i, j in enumerate(crossing)]
    nested_codes = [fe.codes[j][order] for j in nested]

    def crossing_block(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Whitened crossing dummies of rows lo:hi over the levels present, residualised on the
        nested effects within the cluster (weighted); returns (level indices, n_g x c_g block)."""
        if not crossing:
            return np.zeros(0, dtype=np.int64), np.zeros((hi - lo, 0))
        cols, block = _level_dummies(cross_codes, lo, hi)
        if nested_codes:
            local_nested = [c[lo:hi] for c in nested_codes]
            if len(local_nested) == 1 and local_nested[0].min() == local_nested[0].max():
                # one nested level spans the cluster (group effects, clustered by group): centre
                wg = ws[lo:hi]
                block = block - (wg @ block) / wg.sum()
            else:
                block = demean(block, _renumbered(local_nested), weights=ws[lo:hi])
        return cols, block * sw[lo:hi, None]

    cache: dict = {}
    cache_budget = 5e7 / max(c_total, 1)          # rows whose blocks are kept between the two passes

    def crossing_block_cached(g: int):
        if g in cache:
            return cache.pop(g)
        return crossing_block(bounds[g], bounds[g + 1])

    mc, root_c = np.zeros((0, 0)), np.zeros((0, 0))
    if crossing:
        if singleton:
            # one row per cluster: no nested effect can absorb anything, D_C' W D_C is a cross-tab
            from scipy.sparse import csr_matrix

            rows = np.repeat(np.arange(n), len(cross_codes))
            cols = np.column_stack(cross_codes).ravel()
            dmat = csr_matrix((np.repeat(ws, len(cross_codes)), (rows, cols)), shape=(n, c_total))
            gram = (dmat.T @ csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, c_total))).toarray()
        else:
            gram = np.zeros((c_total, c_total))
            kept = 0
            for g in range(n_clusters):
                cols, block = crossing_block(bounds[g], bounds[g + 1])
                gram[np.ix_(cols, cols)] += block.T @ block
                if kept + block.shape[0] <= cache_budget:
                    cache[g] = (cols, block)
                    kept += block.shape[0]
        mc, root_c = _pinv_psd(gram)

    ax = np.empty_like(xs)
    ae = np.empty_like(es)
    dtax: list = []
    if singleton:
        lev = np.einsum("ij,ij->i", xs @ root, xs @ root)
        if crossing:
            for a, ca in enumerate(cross_codes):
                for b, cb in enumerate(cross_codes):
                    lev += ws * mc[ca, cb]
        gap = 1.0 - lev
        f = np.where(gap > _TOL, 1.0 / np.sqrt(np.clip(gap, _TOL, None)), 0.0)
        ax, ae = xs * f[:, None], es * f
        if crossing:
            # row i's whitened crossing dummies are sw_i at its levels: V_i = sw_i * p_i there
            dtax = [("rows", cross_codes, sw)]
    else:
        for g in range(n_clusters):
            lo, hi = bounds[g], bounds[g + 1]
            xg = xs[lo:hi]
            cols, dblock = crossing_block_cached(g)
            parts = [xg @ root]
            if len(cols):
                rc = root_c[cols]
                if 2 * len(cols) < rc.shape[1]:
                    # B_C B_C' from an n_g x c_g factor: with rc = P S Q', D~ rc rc' D~' = (D~ P S)(D~ P S)'
                    p_, sig, _ = np.linalg.svd(rc, full_matrices=False)
                    rc = p_ * sig
                parts.append(dblock @ rc)
            b = np.hstack(parts)
            u, lam = _left_singular(b)
            gap = 1.0 - lam
            f = np.where(gap > _TOL, 1.0 / np.sqrt(np.clip(gap, _TOL, None)), 0.0) - 1.0
            ax[lo:hi] = xg + u @ (f[:, None] * (u.T @ xg))
            eg = es[lo:hi]
            ae[lo:hi] = eg + u @ (f * (u.T @ eg))
            dtax.append((cols, dblock.T @ ax[lo:hi]))
    scores = np.add.reduceat(xs * ae[:, None], starts, axis=0) @ bread
    if m:
        scores = np.hstack([scores, np.add.reduceat(fs * ae[:, None], starts, axis=0)])
    return AbsorbedFit(beta=np.zeros(k), bread=bread, scores=scores, factor=1.0,
                       vcov_type="HC2" if singleton else "CR2", n_clusters=n_clusters, n_obs=n,
                       rank=full_rank, resid=resid, _xd=xs, _ax=ax, _starts=starts,
                       _dtax=dtax if crossing else None, _root_c=root_c if crossing else None)


def t_quantile(p: float, df: float) -> float:
    from scipy import stats as sps

    return float(sps.norm.ppf(p)) if not math.isfinite(df) else float(sps.t.ppf(p, df))
