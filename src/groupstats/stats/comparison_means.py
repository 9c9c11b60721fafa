"""Means, proportions and ratios of sums: the classical unclustered tests and the regression
engine (OLS / WLS with CR1, CR2 or model-based covariance; fixed effects absorbed; wild cluster
bootstrap) of the comparison engine."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.stats.cluster import SandwichFit, WildClusterBootstrap, sandwich, webb_weights
from groupstats.stats.comparison_common import _Data, _finite, _row, _two_sided_p
from groupstats.stats.fixed_effects import FixedEffects, absorbed_sandwich, demean, single_blas_thread
from groupstats.stats.wild import AbsorbedWildBootstrap

# --------------------------------------------------------------------------- unclustered classics
def _welch(data: _Data, alpha: float) -> list[dict]:
    out = []
    stats_ = []
    for a, lab in enumerate(data.labels):
        y = data.y[data.codes == a]
        if len(y) < 2:
            raise InsufficientDataError(f"Arm {lab!r} has {len(y)} row(s); a t-test needs at least 2 "
                                        "per arm.")
        stats_.append((y.mean(), y.var(ddof=1) / len(y), len(y)))
    m_c, v_c, n_c = stats_[0]
    for a in range(1, len(data.labels)):
        m_t, v_t, n_t = stats_[a]
        se = math.sqrt(v_t + v_c)
        df = (v_t + v_c) ** 2 / (v_t ** 2 / (n_t - 1) + v_c ** 2 / (n_c - 1)) if se > 0 else np.inf
        out.append(_row(data.labels[a], data.labels[0], m_t - m_c, se, df, alpha, m_t, m_c,
                        var_t=v_t, var_c=v_c))
    return out


def _ztest(data: _Data, alpha: float) -> list[dict]:
    out = []
    counts = [(data.y[data.codes == a].sum(), int((data.codes == a).sum()))
              for a in range(len(data.labels))]
    x_c, n_c = counts[0]
    p_c = x_c / n_c
    for a in range(1, len(data.labels)):
        x_t, n_t = counts[a]
        p_t = x_t / n_t
        v_t, v_c = p_t * (1 - p_t) / n_t, p_c * (1 - p_c) / n_c
        se = math.sqrt(v_t + v_c)
        # Wald test with the unpooled SE, the same SE as the interval (a pooled-SE test can
        # disagree with the unpooled interval near the edge)
        stat = (p_t - p_c) / se if se > 0 else 0.0
        p = _two_sided_p(stat, np.inf) if se > 0 else 1.0
        out.append(_row(data.labels[a], data.labels[0], p_t - p_c, se, np.inf, alpha, p_t, p_c,
                        var_t=v_t, var_c=v_c, p=p, stat=stat))
    return out


def _delta_ratio(data: _Data, alpha: float) -> list[dict]:
    """Ratio of sums with independent rows: delta method, normal reference."""
    parts = []
    for a in range(len(data.labels)):
        m = data.codes == a
        y, d = data.y[m], data.d[m]
        r = y.sum() / d.sum()
        n = len(y)
        var = (n / max(n - 1, 1)) * ((y - r * d) ** 2).sum() / d.sum() ** 2
        parts.append((r, var))
    r_c, v_c = parts[0]
    out = []
    for a in range(1, len(data.labels)):
        r_t, v_t = parts[a]
        out.append(_row(data.labels[a], data.labels[0], r_t - r_c, math.sqrt(v_t + v_c), np.inf,
                        alpha, r_t, r_c, var_t=v_t, var_c=v_c))
    return out


# --------------------------------------------------------------------------- regression engine
def _fe_block(fe: pd.DataFrame | None, n: int) -> np.ndarray:
    if fe is None or fe.shape[1] == 0:
        return np.zeros((n, 0))
    blocks = []
    for col in fe.columns:
        dummies = pd.get_dummies(fe[col].astype(str), drop_first=True, dtype=float)
        blocks.append(dummies.to_numpy())
    return np.hstack(blocks) if blocks else np.zeros((n, 0))


def _independent_columns(base: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Columns of ``extra`` linearly independent of ``base`` and of each other."""
    if extra.shape[1] == 0:
        return extra
    from scipy.linalg import qr

    coef, *_ = np.linalg.lstsq(base, extra, rcond=None)
    resid = extra - base @ coef
    _, r, piv = qr(resid, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    if diag.size == 0:
        return extra[:, :0]
    rank = int((diag > diag[0] * 1e-9).sum()) if diag[0] > 1e-9 else 0
    return extra[:, np.sort(piv[:rank])]


@dataclass
class _Design:
    x: np.ndarray           # (n, k): arm dummies (cell means), covariate, FE
    n_arms: int
    weights: np.ndarray     # averaging weights for g-computation means


def _design(codes, n_arms, covariate, fe, avg_weights) -> _Design:
    n = len(codes)
    arms = np.zeros((n, n_arms))
    arms[np.arange(n), codes] = 1.0
    blocks = [arms]
    if covariate is not None:
        centred = covariate - np.average(covariate, weights=avg_weights)
        blocks.append(centred[:, None])
    base = np.hstack(blocks)
    fe_x = _fe_block(fe, n)
    if fe_x.shape[1]:
        # the arm contrasts must stay estimable: arms must vary within FE levels
        no_arm = np.hstack([np.ones((n, 1)), base[:, n_arms:], fe_x])
        full = np.hstack([base, fe_x])
        if np.linalg.matrix_rank(full) < np.linalg.matrix_rank(no_arm) + n_arms - 1:
            raise ParameterError(
                "The arms are collinear with the fixed effects (the arm does not vary within the "
                "fixed-effect levels), so no within-level comparison is possible. For a "
                "cluster-randomised design leave the cluster out of fixed_effects and pass it as "
                "cluster=; fixed effects of the group suit switchback designs only.")
        base = np.hstack([base, _independent_columns(base, fe_x)])
    return _Design(x=base, n_arms=n_arms, weights=avg_weights)


def _vcov(x_w, e_w, cluster, vcov_type) -> SandwichFit:
    return sandwich(x_w, e_w, cluster, vcov_type)


class _ModelCov:
    """Model-based covariance with a normal reference (same interface as SandwichFit)."""

    def __init__(self, vcov):
        self.vcov = vcov
        self.vcov_type = "model"

    def df(self, contrast) -> float:
        return np.inf


def _linear(data: _Data, kind: str, vcov_type: str, alpha: float,
            wild: tuple | None = None) -> tuple[list[dict], float | None]:
    """OLS (mean, proportion) or WLS ratio-of-sums regression with sandwich SEs.

    ``wild=(n_boot, seed)`` replaces p-values and CIs by the wild cluster bootstrap
    (:func:`_wild_rows`).
    """
    codes, y, cov, fe, clus = data.codes, data.y, data.covariate, data.fe, data.cluster
    n_arms = len(data.labels)
    if kind == "ratio":
        y, w, codes, cov, fe, clus = _ratio_cells(data)
    else:
        w = np.ones(len(y))
    absorbed = fe is not None and fe.shape[1] > 0 and not (wild is not None and _WILD_DENSE_FE)
    if absorbed:
        fe_codes = FixedEffects.from_frame(fe)
        rows, resid_var = _absorbed_linear_fit(codes, n_arms, cov, fe_codes, y, w, clus, vcov_type,
                                               data.labels, alpha)
    else:
        design = _design(codes, n_arms, cov, fe, w)
        rows, resid_var = _linear_fit(design, y, w, clus, vcov_type, data.labels, alpha)
    if wild is not None:
        n_boot, seed = wild
        _, clus_codes = np.unique(np.asarray(clus), return_inverse=True)   # codes 0..G-1 in code order
        draws = webb_weights(n_boot, int(clus_codes.max()) + 1, seed)
        if absorbed:
            boot, means = _absorbed_wild(codes, n_arms, cov, fe_codes, y, w, clus_codes, draws)
        else:
            boot, means = _dense_wild(design, y, w, clus_codes, draws)
        _wild_rows(rows, boot, means, alpha)
    vr = None
    if cov is not None:
        if absorbed:
            rows0, resid_var0 = _absorbed_linear_fit(codes, n_arms, None, fe_codes, y, w, clus, vcov_type,
                                                     data.labels, alpha)
        else:
            base = _design(codes, n_arms, None, fe, w)
            rows0, resid_var0 = _linear_fit(base, y, w, clus, vcov_type, data.labels, alpha)
        for r, r0 in zip(rows, rows0):
            r["variance_reduction"] = 1 - r["se"] ** 2 / r0["se"] ** 2 if r0["se"] > 0 else np.nan
        vr = 1 - resid_var / resid_var0 if resid_var0 > 0 else np.nan
    return rows, vr


def _ratio_cells(data: _Data):
    """Rows (or cluster x arm x FE cells when clustered) as y/d with weights d.

    With a covariate and clusters, each cell's covariate is the d-weighted mean of its
    rows' covariate (the cluster-level covariate; a per-cluster constant stays as it is;
    plain mean where a cell's denominator sums to 0).  The WLS of y_c/d_c on arm and the
    centred covariate with weights d_c is CUPED for the ratio at cluster level: its score
    ``y_c - R_a d_c - theta d_c (x_c - xbar)`` is the cluster delta-method linearisation
    ``(y_c - R_a d_c) / dbar`` (times ``dbar``) adjusted by the covariate, with theta the
    pooled d-weighted cluster-level slope.  CR2 on these cells uses the weighted leverage
    ``d_c / D_a``, which keeps the false-positive rate near alpha with few, very unequal
    clusters (an unweighted HC2 on the linearised values does not: 0.08 at 14 clusters in
    tests/test_stats_ratio_cuped.py's design).
    """
    y, d = data.y, data.d
    keys = {"arm": data.codes}
    if data.cluster is not None:
        keys["cluster"] = data.cluster
        if data.fe is not None:
            for col in data.fe.columns:
                keys["fe_" + str(col)] = pd.factorize(data.fe[col])[0]
        frame = pd.DataFrame(keys)
        frame["y"], frame["d"] = y, d
        sums = ["y", "d"]
        if data.covariate is not None:
            frame["xd"], frame["x"], frame["one"] = data.covariate * d, data.covariate, 1.0
            sums += ["xd", "x", "one"]
        cells = frame.groupby(list(keys), sort=False, as_index=False)[sums].sum()
        codes = cells["arm"].to_numpy()
        clus = cells["cluster"].to_numpy()
        fe = None
        if data.fe is not None:
            fe = cells[["fe_" + str(c) for c in data.fe.columns]]
        y, d, cov = cells["y"].to_numpy(float), cells["d"].to_numpy(float), None
        if data.covariate is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                cov = np.where(d > 0, cells["xd"].to_numpy(float) / d,
                               cells["x"].to_numpy(float) / cells["one"].to_numpy(float))
    else:
        codes, clus, fe, cov = data.codes, None, data.fe, data.covariate
    zero = d <= 0
    if (zero & (y != 0)).any():
        raise ParameterError(f"{int((zero & (y != 0)).sum())} unit(s) have a zero denominator but a "
                             "non-zero metric, so a per-unit ratio regression is impossible; pass "
                             "cluster= to aggregate, or drop those rows.")
    keep = ~zero
    fe = fe[keep].reset_index(drop=True) if fe is not None else None
    return (y[keep] / d[keep], d[keep], codes[keep], cov[keep] if cov is not None else None, fe,
            clus[keep] if clus is not None else None)


#: Test hook: build dense fixed-effect dummies for method='wild' (the reference the absorbed version is
#: checked against); never set in production.
_WILD_DENSE_FE = False


def _dense_wild(design: _Design, y, w, clus_codes, draws):
    """Wild bootstrap on the dense design (no fixed effects, or the test reference): the bootstrap
    and each arm's g-computation mean as a vector of coefficients."""
    sw = np.sqrt(w)
    boot = WildClusterBootstrap(design.x * sw[:, None], y * sw, clus_codes, draws)
    return boot, _arm_mean_functionals(design)


def _arm_mean_functionals(design: _Design) -> list[np.ndarray]:
    """Each arm's g-computation mean as a vector of coefficients: the weighted average row of the design
    (``design.weights``) with the arm's dummy set to 1 and the other arms' to 0."""
    avg = np.average(design.x, axis=0, weights=design.weights)
    out = []
    for a in range(design.n_arms):
        lvec = avg.copy()
        lvec[:design.n_arms] = 0.0
        lvec[a] = 1.0
        out.append(lvec)
    return out


def _absorbed_wild(codes, n_arms, cov, fe: FixedEffects, y, w, clus_codes, draws):
    """Wild bootstrap with the fixed effects absorbed (:class:`groupstats.stats.wild.AbsorbedWildBootstrap`):
    memory proportional to the rows, not rows x levels. Arm means are functionals of
    ``theta = (beta, mean_w(y))``: control ``mean(y) - share' beta``, arm a that plus ``beta_a`` (the
    g-computation means of :func:`_absorbed_linear_fit`)."""
    xd = _absorbed_regressors(codes, n_arms, cov, fe, w)
    yd = demean(y, fe, weights=w)
    boot = AbsorbedWildBootstrap(xd, yd, float(np.average(y, weights=w)), clus_codes, fe, draws, weights=w)
    k = xd.shape[1]
    share = np.array([np.average(codes == a, weights=w) for a in range(1, n_arms)])
    g0 = np.zeros(k + 1)
    g0[: n_arms - 1] = -share
    g0[k] = 1.0
    means = [g0]
    for a in range(1, n_arms):
        ga = g0.copy()
        ga[a - 1] += 1.0
        means.append(ga)
    return boot, means


def _wild_rows(rows: list[dict], boot, means: list, alpha: float) -> None:
    """Restricted wild cluster bootstrap (Webb weights) p-values and test-inversion CIs, in place.

    For arm a vs control the hypotheses are ``(m_a - m_0)' theta = delta`` (difference) and
    ``(m_a - (1 + rho) m_0)' theta = 0`` (relative difference rho), with ``m_a`` the arm means as
    functionals of the bootstrap's coefficients (``means``); each CI is the set of values not rejected
    (p >= level) by the null-imposed bootstrap with the same (seeded) weights. The rows' ``_interval_at``
    inverts the same test at another level, so multiplicity-adjusted intervals follow the same rule
    and exclude 0 exactly when ``significant``. ``se``, ``df`` and ``mde`` stay those of the CR2 fit.
    """
    for a, row in enumerate(rows, start=1):
        contrast = means[a] - means[0]
        t, p = boot.test(contrast, 0.0)
        row["p_value"], row["statistic"] = p, t
        se_rel = row["se"] / abs(row["control_mean"]) if row["control_mean"] != 0 else np.nan
        rel_ok = _finite(row["rel_diff"]) and _finite(se_rel) and se_rel > 0

        def interval_at(level, c=contrast, ga=means[a], g0=means[0], diff=row["diff"], se=row["se"],
                        rel=row["rel_diff"], se_rel=se_rel, rel_ok=rel_ok):
            with single_blas_thread():      # many small products: BLAS threads would only contend
                ci = boot.invert(lambda r: (c, r), diff, se, level)
                rel_ci = (boot.invert(lambda r: (ga - (1.0 + r) * g0, 0.0), rel, se_rel, level)
                          if rel_ok else (row["rel_ci_low"], row["rel_ci_high"]))
            return ci, rel_ci

        (row["ci_low"], row["ci_high"]), (row["rel_ci_low"], row["rel_ci_high"]) = interval_at(alpha)
        row["_interval_at"] = interval_at


_COLLINEAR_FE = ("The arms are collinear with the fixed effects (the arm does not vary within the "
                 "fixed-effect levels), so no within-level comparison is possible. For a "
                 "cluster-randomised design leave the cluster out of fixed_effects and pass it as "
                 "cluster=; fixed effects of the group suit switchback designs only.")


def _absorbed_regressors(codes, n_arms, covariate, fe: FixedEffects, weights) -> np.ndarray:
    """Non-control arm indicators (and the covariate), demeaned by the fixed effects."""
    n = len(codes)
    cols = [(codes == a).astype(float) for a in range(1, n_arms)]
    if covariate is not None:
        cols.append(np.asarray(covariate, dtype=float))
    raw = np.column_stack(cols) if cols else np.zeros((n, 0))
    xd = demean(raw, fe, weights=weights)
    # the arm contrasts must stay estimable: arms must vary within the fixed-effect levels
    arm_block = xd[:, : n_arms - 1] * np.sqrt(weights)[:, None]
    gram = arm_block.T @ arm_block
    raw_norm = np.einsum("ij,ij->j", raw[:, : n_arms - 1], raw[:, : n_arms - 1] * weights[:, None])
    if np.linalg.matrix_rank(gram, tol=1e-9 * max(float(raw_norm.max(initial=0.0)), 1e-300)) < n_arms - 1:
        raise ParameterError(_COLLINEAR_FE)
    return xd


def _absorbed_linear_fit(codes, n_arms, cov, fe: FixedEffects, y, w, clus, vcov_type, labels, alpha):
    """(W)LS of y on arm and covariate with the fixed effects absorbed (demeaned), never a dense
    dummy column per level; CR1/CR2/model covariance from per-cluster blocks
    (:func:`groupstats.stats.fixed_effects.absorbed_sandwich`). The control level is the
    g-computation mean ``mean_w(y) - sum_a p_a beta_a`` (p_a: weighted share of arm a), as in
    :func:`_linear_fit` with dummies."""
    xd = _absorbed_regressors(codes, n_arms, cov, fe, w)
    yd = demean(y, fe, weights=w)
    sw = np.sqrt(w)
    xw, yw = xd * sw[:, None], yd * sw
    beta, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    ew = yw - xw @ beta
    mean_fn = (sw / w.sum())[:, None]                      # whitened vector of the weighted mean of y
    fit = absorbed_sandwich(xw, ew, clus, fe, "model" if vcov_type == "model" else vcov_type,
                            weights=w, functionals=mean_fn)
    vc = fit.vcov()
    k = xd.shape[1]
    share = np.array([np.average(codes == a, weights=w) for a in range(1, n_arms)])
    g0 = np.zeros(k + 1)
    g0[: n_arms - 1] = -share
    g0[k] = 1.0
    ybar = float(np.average(y, weights=w))
    mu_c = ybar - float(share @ beta[: n_arms - 1])
    rows = []
    for a in range(1, n_arms):
        contrast = np.zeros(k + 1)
        contrast[a - 1] = 1.0
        ga = g0 + contrast
        se = math.sqrt(max(contrast @ vc @ contrast, 0.0))
        df = fit.df(contrast[:k])
        mu_t = mu_c + float(beta[a - 1])
        rows.append(_row(labels[a], labels[0], float(beta[a - 1]), se, df, alpha, mu_t, mu_c,
                         var_t=ga @ vc @ ga, var_c=g0 @ vc @ g0, cov_tc=ga @ vc @ g0))
    resid_var = float((ew @ ew) / max(w.sum(), 1e-300))
    return rows, resid_var


def _linear_fit(design: _Design, y, w, clus, vcov_type, labels, alpha):
    x = design.x
    sw = np.sqrt(w)
    xw, yw = x * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    ew = yw - xw @ beta
    if vcov_type == "model":
        dof = max(len(y) - np.linalg.matrix_rank(xw), 1)
        sigma2 = (ew @ ew) / dof
        fit = _ModelCov(sigma2 * np.linalg.pinv(xw.T @ xw))
        fit.df = lambda c, dof=dof: float(dof)   # classic OLS t reference
    else:
        fit = _vcov(xw, ew, clus, vcov_type)
    # g-computation arm means: weighted average prediction with the arm set to a
    grads = _arm_mean_functionals(design)
    means = [float(lvec @ beta) for lvec in grads]
    rows = []
    vc = fit.vcov
    for a in range(1, design.n_arms):
        contrast = grads[a] - grads[0]
        se = math.sqrt(max(contrast @ vc @ contrast, 0.0))
        df = fit.df(contrast)
        mu_t, mu_c = means[a], means[0]
        rows.append(_row(labels[a], labels[0], mu_t - mu_c, se, df, alpha, mu_t, mu_c,
                         var_t=grads[a] @ vc @ grads[a], var_c=grads[0] @ vc @ grads[0],
                         cov_tc=grads[a] @ vc @ grads[0]))
    resid_var = float((ew @ ew) / max(w.sum(), 1e-300))
    return rows, resid_var
