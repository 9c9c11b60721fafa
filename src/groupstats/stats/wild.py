"""Restricted wild cluster bootstrap with absorbed fixed effects, and test-inversion intervals.

:class:`AbsorbedWildBootstrap` is the wild cluster bootstrap-t of
:class:`groupstats.stats.cluster.WildClusterBootstrap` (null imposed, Webb weights, CR0
t-ratios) for a regression whose fixed effects are *absorbed* (demeaned by alternating
projections, :func:`groupstats.stats.fixed_effects.demean`), never built as a dense column per
level: memory is O(n k + G c + B G) (rows, clusters x crossing levels, draws x clusters).

Notation (everything whitened by ``sqrt(w)``): ``Z = [X~, D]`` is the full design, ``X~`` the
regressors demeaned by the fixed effects ``D``; ``D = [D_N, D_C]`` splits the fixed effects into
those nested in the clusters and those crossing them (as in
:mod:`groupstats.stats.fixed_effects`), ``D~_C`` the crossing dummies residualised on the nested
ones, so that ``P_Z = P_X~ + P_D_N + P_D~_C`` (three orthogonal projections; ``P_D_N`` is block
diagonal by cluster).

A hypothesis is ``theta(c) = delta`` for a linear functional of the fit, written in the basis
``H = [X~ (X~'X~)^+, l]`` of influence vectors: ``theta(c) = c' H' y`` (the first ``k`` entries
pick coefficients, the last one the weighted mean of ``y``, ``l = sqrt(w) / sum(w)``), which covers
the arm differences and the g-computation arm means ``mean(y) - share' beta (+ beta_a)`` of the
comparison engine. With ``h = H c``, the restricted residuals are ``u_r = u + s h``,
``s = (c'theta - delta) / h'h``, bootstrap outcomes ``y* = Z theta_r + v_g u_r``, and the bootstrap
score of cluster g is ``h_g' (M_Z (v . u_r))_g``; summed over the three projections this is

    sigma_bg = v_bg (a_g - n_g) - sum_h v_bh [ (X~_g'h_g)' M (X~_h'u_h) + (D~_g'h_g)' M_C (D~_h'u_h) ]

with ``a_g = h_g'u_g`` and ``n_g = h_g'(P_D_N u_r)_g``: per-cluster sums of fixed size, exactly the
dense :class:`~groupstats.stats.cluster.WildClusterBootstrap` (a test checks equality to 1e-10).
All terms are linear in ``s``, so for a fixed contrast the bootstrap scores are computed once and
every value of ``delta`` (test inversion) costs O(B G).

References
----------
MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2023). Fast and reliable jackknife and bootstrap
methods for cluster-robust inference. J. Applied Econometrics 38(5).
Roodman, D., MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2019). Fast and wild: bootstrap
inference in Stata using boottest. Stata Journal 19(1).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from groupstats.stats.fixed_effects import (FixedEffects, _level_dummies, _pinv_psd, _renumbered,
                                             _split_nested, demean)

__all__ = ["AbsorbedWildBootstrap", "invert_test"]

#: Largest clusters x crossing levels x functionals held as dense arrays; above it, sparse matrices.
DENSE_CROSSING_MAX = 5e6


def invert_test(p_of, start: float, scale: float, alpha: float, max_expand: int = 12,
                iterations: int = 60) -> tuple[float, float]:
    """Confidence interval by test inversion: the set of ``r`` with ``p_of(r) >= alpha``.

    ``p_of(start)`` must be large (e.g. the point estimate). Each side expands ``start +- scale 2^j``
    until rejection (``p < alpha``), then bisects. A side not rejected within ``2^max_expand`` scales
    is unbounded (``-inf`` / ``inf``). Rejecting at ``p < alpha`` (not ``<=``) makes the interval
    exclude a value exactly when its p-value is below ``alpha``, the rule of ``significant``, also
    when a bootstrap p-value (a multiple of ``1 / B``) equals the level.
    """
    if not (math.isfinite(start) and math.isfinite(scale) and scale > 0):
        return np.nan, np.nan
    out = []
    for sign in (-1.0, 1.0):
        inside, outside = start, None
        for j in range(max_expand + 1):
            trial = start + sign * scale * 2.0 ** j
            if p_of(trial) < alpha:
                outside = trial
                break
            inside = trial
        if outside is None:
            out.append(sign * np.inf)
            continue
        for _ in range(iterations):
            mid = 0.5 * (inside + outside)
            if p_of(mid) < alpha:
                outside = mid
            else:
                inside = mid
            if abs(outside - inside) <= 1e-10 * max(scale, abs(start)):
                break
        out.append(0.5 * (inside + outside))
    return out[0], out[1]


def _cluster_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts, axis=0)


class AbsorbedWildBootstrap:
    """Restricted wild cluster bootstrap-t (WCR) with absorbed fixed effects.

    Parameters
    ----------
    xd : ndarray (n, k)
        Regressors demeaned by the fixed effects (weighted by ``weights``), *not* whitened.
    yd : ndarray (n,)
        Outcome demeaned by the fixed effects, not whitened.
    y_mean : float
        Weighted mean of the (undemeaned) outcome.
    cluster_codes : ndarray of int (n,)
        Cluster code 0..G-1 of each row (column g of ``draws`` belongs to code g).
    fe : FixedEffects
        The absorbed fixed effects.
    draws : ndarray (B, G)
        Bootstrap weights, e.g. :func:`groupstats.stats.cluster.webb_weights`.
    weights : ndarray (n,), optional
        Regression weights (WLS).

    The functionals tested are ``c' theta`` with ``theta = (beta, mean(y))`` (length ``k + 1``).
    """

    def __init__(self, xd, yd, y_mean: float, cluster_codes, fe: FixedEffects, draws, weights=None):
        xd = np.asarray(xd, dtype=float)
        n, k = xd.shape
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        codes = np.asarray(cluster_codes)
        n_clusters = int(codes.max()) + 1
        draws = np.asarray(draws, dtype=float)
        if draws.shape[1] != n_clusters:
            raise ValueError(f"draws have {draws.shape[1]} columns for {n_clusters} clusters")
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        sw = np.sqrt(w)[order]
        xw = xd[order] * sw[:, None]
        self.k, self.n_clusters, self.v = k, n_clusters, draws
        self._order, self._starts, self._sw, self._xw = order, starts, sw, xw
        self.m, _ = _pinv_psd(xw.T @ xw)
        basis = np.column_stack([xw @ self.m, sw / w.sum()])                    # H (n, k + 1)
        self._basis = basis
        self.hh = _cluster_sums(basis[:, :, None] * basis[:, None, :], starts)  # (G, k+1, k+1)
        self.hh_total = self.hh.sum(axis=0)
        self.xh = _cluster_sums(xw[:, :, None] * basis[:, None, :], starts)     # (G, k, k+1)
        fe_sorted = FixedEffects(codes=[c[order] for c in fe.codes], n_levels=list(fe.n_levels),
                                 names=list(fe.names))
        nested, crossing = _split_nested(fe_sorted, codes[order], singleton=False)
        self.has_nested = bool(nested)
        self.dh, self.du, self.mc_cross, self._per_cluster = None, None, None, None
        if crossing:
            self._crossing(fe_sorted, nested, crossing, codes[order], starts, w[order], sw, basis)
        self._set_outcome(yd, y_mean)

    def _set_outcome(self, yd, y_mean: float) -> None:
        """The outcome's parts: coefficients, residuals and their per-cluster sums."""
        yw = np.asarray(yd, dtype=float)[self._order] * self._sw
        xw, starts = self._xw, self._starts
        beta = self.m @ (xw.T @ yw)
        self.theta = np.r_[beta, float(y_mean)]
        resid = yw - xw @ beta
        self.hu = _cluster_sums(self._basis * resid[:, None], starts)           # (G, k+1)
        self.xu = _cluster_sums(xw * resid[:, None], starts)                    # (G, k)
        if self._per_cluster is not None:
            self.du = self._per_cluster(resid)
            # draws x crossing levels, independent of the hypothesis: V (D~'u) M_C
            self.vdu_m = np.asarray((self.du.T @ self.v.T).T) @ self.mc_cross
        self._cache: dict = {}
        self._vxu = None

    def for_outcome(self, yd, y_mean: float) -> "AbsorbedWildBootstrap":
        """The same design, clusters and draws with another outcome (demeaned ``yd``, mean ``y_mean``):
        only the outcome's parts are recomputed (for simulations on one design)."""
        new = copy.copy(self)
        new._set_outcome(yd, y_mean)
        return new

    # ------------------------------------------------------------------ crossing fixed effects
    def _crossing(self, fe, nested, crossing, clus, starts, w, sw, basis):
        """``D~_C,g' H_g`` and ``D~_C,g' u_g`` per cluster (G x c each) and ``M_C = (D~_C'D~_C)^+``."""
        n = len(clus)
        offsets = np.cumsum([0] + [fe.n_levels[j] for j in crossing])
        c_total = int(offsets[-1])
        cross = [fe.codes[j] + offsets[i] for i, j in enumerate(crossing)]
        # D~_C,g' v_g = (sqrt(w) D_C)_g' (M_N v)_g, and M_N H = [H_beta, 0 or l], M_N u = u
        basis_n = basis.copy()
        if nested:
            basis_n[:, -1] = 0.0        # the weighted mean vector lies in the span of nested dummies
        dense = self.n_clusters * c_total * (basis.shape[1] + 1) <= DENSE_CROSSING_MAX

        def per_cluster(values):
            """(G, c): sum over cluster g's rows at crossing level l of sqrt(w) * values."""
            if dense:
                return sum(np.bincount(clus * c_total + c, weights=sw * values,
                                       minlength=self.n_clusters * c_total) for c in cross
                           ).reshape(self.n_clusters, c_total)
            from scipy.sparse import coo_matrix

            return coo_matrix((np.tile(sw * values, len(cross)), (np.tile(clus, len(cross)), np.concatenate(cross))),
                              shape=(self.n_clusters, c_total)).tocsr()

        self.dh = [per_cluster(basis_n[:, j]) for j in range(basis.shape[1])]
        if dense:
            self.dh = np.stack(self.dh)
        self._per_cluster = per_cluster
        # gram = (sqrt(w) D_C)' M_N (sqrt(w) D_C), M_N the projection off the nested dummies
        gram = np.zeros(c_total * c_total)
        for ca in cross:
            for cb in cross:
                gram += np.bincount(ca * c_total + cb, weights=w, minlength=c_total * c_total)
        gram = gram.reshape(c_total, c_total)
        if len(nested) == 1:
            level = fe.codes[nested[0]]
            n_lev = int(level.max()) + 1
            wsum = np.bincount(level, weights=w, minlength=n_lev)
            q = sum(np.bincount(level * c_total + c, weights=w, minlength=n_lev * c_total) for c in cross
                    ).reshape(n_lev, c_total)
            inv = np.divide(1.0, wsum, out=np.zeros_like(wsum), where=wsum > 0)
            gram -= q.T @ (q * inv[:, None])
        elif nested:
            gram = np.zeros((c_total, c_total))
            bounds = np.r_[starts, n]
            for g in range(len(starts)):
                lo, hi = bounds[g], bounds[g + 1]
                lcols, block = _level_dummies(cross, lo, hi)
                sub = _renumbered([fe.codes[j][lo:hi] for j in nested])
                block = demean(block, sub, weights=w[lo:hi]) * sw[lo:hi, None]
                gram[np.ix_(lcols, lcols)] += block.T @ block
        self.mc_cross, _ = _pinv_psd(gram)

    # ------------------------------------------------------------------ tests
    def _prepared(self, contrast: np.ndarray):
        """Quantities of the hypothesis family ``c' theta = delta`` (all delta): estimate, h'h, the CR0
        SE, and the bootstrap numerators and scores as ``X0 + s X1``."""
        key = contrast.tobytes()
        if key in self._cache:
            return self._cache[key]
        c = contrast
        est = float(c @ self.theta)
        hc = float(c @ self.hh_total @ c)
        if not hc > 0:
            out = None
        else:
            hhc = self.hh @ c                                  # (G, k+1): H_g'h_g
            a0 = self.hu @ c                                   # h_g'u_g
            a1 = hhc @ c                                       # h_g'h_g
            se = math.sqrt(float(a0 @ a0))
            n1 = c[-1] * hhc[:, -1] if self.has_nested else np.zeros_like(a1)   # n_g = s * n1_g
            s0, s1 = self.xu, self.xh @ c                      # X~_g'u_r = s0 + s s1  (G, k)
            wt = (self.xh @ c) @ self.m                        # (G, k): M X~_g'h_g
            v = self.v
            num0, num1 = v @ a0, v @ a1
            if self._vxu is None:
                self._vxu = v @ s0
            sc0 = v * a0 - self._vxu @ wt.T
            sc1 = v * (a1 - n1) - (v @ s1) @ wt.T
            if self.dh is not None:
                if isinstance(self.dh, np.ndarray):
                    fh = np.tensordot(c, self.dh, axes=1)        # (G, c): D~_g'h_g
                else:
                    fh = sum(cj * d for cj, d in zip(c, self.dh)).toarray()
                sc0 = sc0 - self.vdu_m @ fh.T
                sc1 = sc1 - ((v @ fh) @ self.mc_cross) @ fh.T
            out = (est, hc, se, num0, num1, sc0, sc1)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = out
        return out

    def test(self, contrast, delta: float = 0.0) -> tuple[float, float]:
        """(t, p) of ``H0: contrast' theta = delta``: CR0 t-ratio and WCR bootstrap p-value
        ``mean(|t*| >= |t|)``."""
        prep = self._prepared(np.asarray(contrast, dtype=float))
        if prep is None:
            return np.nan, np.nan
        est, hc, se, num0, num1, sc0, sc1 = prep
        t = (est - delta) / se if se > 0 else np.nan
        if not math.isfinite(t):
            return t, np.nan
        s = (est - delta) / hc
        scores = sc0 + s * sc1
        with np.errstate(invalid="ignore", divide="ignore"):
            t_star = (num0 + s * num1) / np.sqrt((scores * scores).sum(axis=1))
        tol = 1e-12 * max(1.0, abs(t))
        return t, float(np.mean(np.abs(t_star) >= abs(t) - tol))

    def invert(self, contrast_at, start: float, scale: float, alpha: float) -> tuple[float, float]:
        """Interval ``{r : p(r) >= alpha}`` for the hypotheses ``contrast_at(r) = (contrast, delta)``."""
        return invert_test(lambda r: self.test(*contrast_at(r))[1], start, scale, alpha)
