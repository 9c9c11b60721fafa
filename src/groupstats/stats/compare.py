"""Experiment comparison engine: compare every arm of an experiment with a control.

One entry point, :func:`compare_arms`, covers the designs of chat-group
experiments (posting-slot tests, content-mix tests):

* ``kind`` says what the metric is: ``"mean"`` (any numeric outcome),
  ``"proportion"`` (0/1 outcome), ``"count"`` (non-negative counts, rate ratio
  from a Poisson or negative-binomial GLM) or ``"ratio"`` (ratio of sums
  ``sum(metric) / sum(denominator)`` per arm, e.g. replies per view).
* ``cluster`` says which units are correlated (posts within a group).  The
  default clustered inference is CR2 (Bell-McCaffrey) standard errors with
  Bell-McCaffrey / Imbens-Kolesar degrees of freedom, which keeps the false
  positive rate near ``alpha`` with as few as 8-10 groups, where the plain CR1
  sandwich rejects too often.
* ``fixed_effects`` adds dummies (group, period, weekday, ...) for switchback
  designs whose arms switch inside a group (within-group comparison).
* ``covariate`` adds a pre-period covariate (CUPED / regression adjustment);
  the variance reduction achieved is reported.
* ``method="bootstrap"`` gives a seeded studentized bootstrap-t (of clusters when
  ``cluster`` is given).

Every comparison gets an absolute and a relative difference (arm / control - 1)
with CIs, a p-value, a multiplicity-adjusted p-value, and the minimum
detectable effect (80% power).  The sample-ratio-mismatch (SRM) check runs on
every call.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.stats.comparison_bootstrap import _bootstrap
from groupstats.stats.comparison_common import (COMPARISON_COLUMNS, CORRECTIONS, FEW_CLUSTERS, KINDS, MDE_POWER,
                                                METHODS, SRM_P_THRESHOLD, VERY_FEW_CLUSTERS, _Data, _finite)
from groupstats.stats.comparison_counts import _count_means_cr2, _glm_count
from groupstats.stats.comparison_inputs import (_arm_table, _nested, _prepare, _srm, _validate_params,
                                               read_unit_table)
from groupstats.stats.comparison_means import _delta_ratio, _linear, _welch, _ztest
from groupstats.stats.comparison_result import ComparisonResult
from groupstats.stats.multiplicity import adjusted_levels

__all__ = ["compare_arms", "compare_table", "ComparisonResult", "SRM_P_THRESHOLD",
           "KINDS", "CORRECTIONS", "METHODS", "COMPARISON_COLUMNS", "MDE_POWER"]


# --------------------------------------------------------------------------- entry points
def compare_arms(frame: pd.DataFrame, *, arm: str, metric: str, kind: str = "mean",
                 denominator: str | None = None, control: Any = None, cluster: str | None = None,
                 covariate: str | None = None, fixed_effects: Sequence[str] | None = None,
                 alpha: float = 0.05, correction: str = "holm", method: str = "auto",
                 expected_ratio: dict | Sequence[float] | None = None,
                 allocation: dict | Sequence[float] | None = None, n_boot: int = 2000,
                 seed: int | None = None) -> ComparisonResult:
    """Compare every arm of an experiment with the control arm.

    Parameters
    ----------
    frame : DataFrame
        Tidy table, one row per unit (post, member-day, ...).
    arm : str
        Column with the arm label of each row (any hashable type: str, int, bool).
    metric : str
        Numeric outcome column.
    kind : {"mean", "proportion", "count", "ratio"}
        ``mean``: difference of means (Welch t-test unclustered; OLS with
        cluster-robust SEs when clustered or adjusted).  ``proportion``: 0/1
        metric, two-proportion z-test (pooled-variance p-value, i.e. the
        chi-square test; unpooled CI) unclustered, linear probability model
        when clustered.  ``count``: Poisson GLM (log link), rate ratio
        ``exp(beta)`` as ``rel_diff`` and difference of mean counts as ``diff``;
        robust (HC2/CR2) SEs by default.  ``ratio``: ``sum(metric) /
        sum(denominator)`` per arm, delta method unclustered; clustered as a
        WLS of cluster-level (cluster x arm) sums, whose CR0 sandwich is the
        cluster delta method.
    denominator : str, optional
        Denominator column for ``kind="ratio"``.
    control : arm label, optional
        Control arm; default the first arm in sorted order.
    cluster : str, optional
        Column of the cluster (e.g. group id) whose units are correlated.
    covariate : str, optional
        Pre-period covariate for CUPED / regression adjustment (centred,
        pooled slope).  ``variance_reduction`` is reported.  With
        ``kind="ratio"`` and ``cluster``, CUPED runs at cluster level: each
        cluster's ratio is linearised per arm, ``(y_g - R_a d_g) / mean(d)``,
        and adjusted by the cluster's (denominator-weighted) mean covariate
        with a pooled cluster-level slope, i.e. the WLS of cluster ratios on
        arm and covariate weighted by the denominator (see ``_ratio_cells``),
        with CR2 (HC2 when clusters are nested in arms) or CR1 SEs.
    fixed_effects : list of str, optional
        Columns entered as fixed-effect dummies (e.g. group, period, weekday)
        for switchback designs where arms switch inside a group.
    alpha : float
        Significance level. With several comparisons and a ``correction`` the CIs are
        multiplicity-adjusted: each is drawn at the level ``alpha_i`` at which the correction
        judges the comparison (:func:`groupstats.stats.multiplicity.adjusted_levels`: Bonferroni
        ``alpha / m``, Holm the level of the comparison's step, BH ``alpha R / m``; column
        ``ci_level = 1 - alpha_i``), so they exclude 0 exactly when ``significant``; the marginal
        ``1 - alpha`` CIs are kept as ``ci_low_unadjusted`` etc. ``mde``/``mde_rel`` are at the same
        ``alpha_i`` (the test actually run), at ``alpha`` with one comparison.
    correction : {"holm", "bh", "bonferroni", "none"}
        Multiple-comparison correction of the p-values
        (``statsmodels.stats.multitest.multipletests``).
    method : {"auto", "cr2", "cr1", "model", "negbin", "bootstrap", "wild"}
        ``auto``: classical tests (Welch / z / delta; robust Poisson for counts)
        when unclustered and unadjusted, otherwise ``cr2``.  ``cr2``: CR2
        (Bell-McCaffrey) sandwich with Bell-McCaffrey degrees of freedom (HC2
        when unclustered).  ``cr1``: CR1 sandwich (as statsmodels
        ``cov_type="cluster"``) with ``G - 1`` df; over-rejects with few
        clusters.  ``model``: model-based SEs (Welch, z-test, delta method,
        Poisson information matrix); refused with ``cluster``.  ``negbin``:
        negative binomial (NB2) GLM for counts with ``cr2``/HC2 SEs.
        ``bootstrap``: seeded studentized bootstrap (bootstrap-t: pivots
        ``(d* - d) / se*`` with CR2 ``se``) of units, or of clusters when
        ``cluster`` is given, resampled within arm when clusters are nested in
        arms; p-value and interval from the same order statistics of the
        pivots; not with ``fixed_effects``.  ``wild``: restricted
        (null-imposed) wild cluster bootstrap-t with Webb six-point weights
        (``n_boot`` draws, ``seed``) for the linear kinds (mean, proportion,
        ratio) with ``cluster``, also with ``covariate`` and ``fixed_effects``:
        the p-value is ``mean(|t*| >= |t|)`` (CR0 t-ratios) and the CIs (absolute
        and relative) invert that test with the same weights, at ``alpha_i`` when
        adjusted; fixed effects are absorbed (never a dense column per level);
        ``se``, ``df`` and ``mde`` are CR2's.
    expected_ratio : dict or list, optional
        Planned allocation for the SRM check, ``{arm: weight}`` or a list in
        sorted arm order; equal by default.
    allocation : dict or list, optional
        Randomised unit counts per arm for the SRM check (e.g. group-periods
        per arm from an assignments table).  Default: clusters per arm when
        clusters are nested in arms, otherwise rows per arm.
    n_boot : int
        Bootstrap replications (``method="bootstrap"`` or ``"wild"``).
    seed : int, optional
        Seed of the bootstrap (``bootstrap``, ``wild``).

    Returns
    -------
    ComparisonResult

    Raises
    ------
    ParameterError
        Missing columns, unknown control, fewer than 2 arms, an arm without
        rows, non-binary proportions, negative counts, zero denominator
        totals, NaN in the metric (with counts per arm), bad parameters.
    InsufficientDataError
        Too few rows or clusters for the requested inference.
    """
    fixed_effects = list(fixed_effects or [])
    if isinstance(fixed_effects, str):  # pragma: no cover - defensive
        fixed_effects = [fixed_effects]
    _validate_params(kind, correction, method, alpha, n_boot, denominator, cluster)
    data = _prepare(frame, arm, metric, kind, denominator, control, cluster, covariate,
                    fixed_effects)
    notes: list[str] = []
    arms_table = _arm_table(data, kind, cluster)
    srm = _srm(data, expected_ratio, allocation)
    if method == "bootstrap" and fixed_effects:
        raise ParameterError("method='bootstrap' does not support fixed_effects; use method='cr2'.")
    if data.cluster is not None:
        n_clusters = int(data.cluster.max()) + 1
        nested = _nested(data)
        if nested:
            per_arm = arms_table["n_clusters"].astype(int)
            if (per_arm < 2).any():
                bad = arms_table.loc[per_arm < 2, "arm"].tolist()
                raise InsufficientDataError(
                    f"Arm(s) {bad} have fewer than 2 clusters of '{cluster}'; a clustered "
                    "comparison needs at least 2 per arm (better 5+).")
        elif n_clusters < 3:
            raise InsufficientDataError(f"Only {n_clusters} cluster(s) of '{cluster}'; a clustered "
                                        "comparison needs at least 3.")
        if n_clusters < VERY_FEW_CLUSTERS:
            warnings.warn(f"Only {n_clusters} clusters of '{cluster}': even small-sample corrected "
                          "inference is fragile; treat p-values as rough.", StatisticalWarning,
                          stacklevel=2)
            notes.append(f"Only {n_clusters} clusters: inference is fragile even with CR2.")
    adjusted = covariate is not None or bool(fixed_effects)

    if method == "bootstrap":
        rows, method_used = _bootstrap(data, kind, alpha, n_boot, seed)
        notes.append(f"Studentized bootstrap (bootstrap-t) with {n_boot} replications (seed {seed}): each draw's "
                     "difference minus the estimate over its own CR2 standard error; the p-value and the "
                     "interval (d - c_hi se, d - c_lo se) come from the same order statistics of those pivots, "
                     "so the interval excludes 0 exactly when p < alpha.")
    elif kind == "count":
        family = "negbin" if method == "negbin" else "poisson"
        if method == "model":
            vcov_type = "model"
        elif method == "cr1":
            vcov_type = "CR1"
        else:
            vcov_type = "CR2"
        if vcov_type == "CR2" and data.cluster is not None and not adjusted:
            rows = _count_means_cr2(data, alpha, notes)
        else:
            rows = _glm_count(data, vcov_type, family, alpha, notes)
        method_used = f"{family}-{_vcov_label(vcov_type, data.cluster)}"
    else:
        classic = {"mean": _welch, "proportion": _ztest, "ratio": _delta_ratio}[kind]
        if method == "model" or (method == "auto" and data.cluster is None and not adjusted):
            if adjusted:
                rows, vr = _linear(data, kind, "model", alpha)
                method_used = {"mean": "ols", "proportion": "lpm", "ratio": "wls"}[kind] + "-model"
            else:
                rows = classic(data, alpha)
                method_used = {"mean": "welch", "proportion": "ztest", "ratio": "delta"}[kind]
        else:
            vcov_type = "CR1" if method == "cr1" else "CR2"
            rows, linear_vr = _linear(data, kind, vcov_type, alpha,
                                      wild=(n_boot, seed) if method == "wild" else None)
            method_used = {"mean": "ols", "proportion": "lpm", "ratio": "wls"}[kind] + \
                "-" + _vcov_label(vcov_type, data.cluster)
            if method == "wild":
                method_used = method_used.replace("-cr2", "-wild-webb")
                notes.append(f"Wild cluster bootstrap (restricted, Webb six-point weights, {n_boot} draws, "
                             f"seed {seed}): p-values from the null-imposed bootstrap-t, CIs by inverting "
                             "that test; se, df and mde are CR2's.")
            if kind == "ratio" and data.cluster is not None and covariate is not None:
                notes.append("CUPED for a clustered ratio: each cluster's ratio (per arm) regressed on "
                             f"arm and the cluster-level covariate (denominator-weighted mean of '{covariate}' "
                             "per cluster and arm) with a pooled slope, weighted by the denominator (the "
                             f"linearised ratio's regression adjustment); {vcov_type} standard errors at "
                             "cluster level.")
    variance_reduction = None
    if covariate is not None and method != "bootstrap" and kind != "count":
        variance_reduction = _pooled_variance_reduction(data)
        if kind == "ratio" and data.cluster is not None and method != "model":
            variance_reduction = linear_vr
    comparisons = _comparisons_frame(rows, correction, alpha)
    _add_notes(notes, data, cluster, method_used, srm, len(comparisons), correction)
    return ComparisonResult(metric=metric, kind=kind, method=method_used, alpha=float(alpha),
                            correction=correction, arms=arms_table, comparisons=comparisons,
                            srm=srm, notes=notes, control=data.labels[0], cluster=cluster,
                            covariate=covariate, fixed_effects=fixed_effects,
                            variance_reduction=variance_reduction)


def _vcov_label(vcov_type: str, clusters) -> str:
    if vcov_type == "model":
        return "model"
    label = vcov_type.lower()
    return label if clusters is not None else label.replace("cr", "hc")


def _pooled_variance_reduction(data: _Data) -> float:
    """CUPED's variance reduction: 1 - within-arm residual variance with / without covariate."""
    n_arms = len(data.labels)
    y, x, codes = data.y, data.covariate, data.codes
    if data.d is not None:
        return np.nan
    ym = np.array([y[codes == a].mean() for a in range(n_arms)])[codes]
    xm = np.array([x[codes == a].mean() for a in range(n_arms)])[codes]
    yc, xc = y - ym, x - xm
    if yc @ yc == 0 or xc @ xc == 0:
        return 0.0
    theta = (xc @ yc) / (xc @ xc)
    return float(1 - ((yc - theta * xc) @ (yc - theta * xc)) / (yc @ yc))


def _comparisons_frame(rows: list[dict], correction: str, alpha: float) -> pd.DataFrame:
    comp = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    if "variance_reduction" not in comp:
        comp["variance_reduction"] = np.nan
    adj, levels = adjusted_levels(comp["p_value"].to_numpy(float), alpha, correction)
    comp["p_adjusted"] = adj
    comp["significant"] = np.where(np.isfinite(adj), adj < alpha, False).astype(bool)
    _adjust_intervals(comp, rows, levels, alpha)
    comp["arm"] = pd.Series(list(comp["arm"]), dtype=object)
    comp["control"] = pd.Series(list(comp["control"]), dtype=object)
    return comp[COMPARISON_COLUMNS]


def _adjust_intervals(comp: pd.DataFrame, rows: list[dict], levels: np.ndarray, alpha: float) -> None:
    """Multiplicity-adjusted intervals and MDEs (in place), keeping the marginal intervals.

    ``ci_low, ci_high, rel_ci_low, rel_ci_high`` become intervals at ``ci_level = 1 - alpha_i``, the
    level at which the correction judges the comparison (:func:`groupstats.stats.multiplicity.adjusted_levels`:
    Bonferroni ``alpha / m``, Holm the comparison's step, BH ``alpha R / m``), recomputed by each row's own
    rule (its ``_interval_at``), so they exclude 0 exactly when ``significant``; the marginal ``1 - alpha``
    intervals stay as ``*_unadjusted``. ``mde`` and ``mde_rel`` are recomputed at the same ``alpha_i``: the
    effect the test actually run detects with 80% power (two-sided level ``alpha_i``).
    """
    cols = ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high")
    for col in cols:
        comp[col + "_unadjusted"] = comp[col].to_numpy(float)
    levels = np.asarray(levels, dtype=float).copy()
    adjusted = np.ones(len(comp), dtype=bool)
    for i, (level, row) in enumerate(zip(levels, rows)):
        fn = row.get("_interval_at")
        if fn is None:
            adjusted[i], levels[i] = False, alpha
            continue
        if level == alpha:
            continue
        ci, rel_ci = fn(float(level))
        idx = comp.index[i]
        comp.loc[idx, list(cols)] = [float(ci[0]), float(ci[1]), float(rel_ci[0]), float(rel_ci[1])]
        mde_at = row.get("_mde_at") or _mde_rescaled(row, alpha)
        mde = float(mde_at(float(level)))
        comp.loc[idx, "mde"] = mde
        mu_c = row.get("control_mean", np.nan)
        comp.loc[idx, "mde_rel"] = mde / abs(mu_c) if _finite(mu_c) and mu_c != 0 else np.nan
    comp["ci_level"] = 1.0 - levels
    comp["interval_adjusted"] = adjusted


def _mde_rescaled(row: dict, alpha: float):
    """MDE at another level for a row whose MDE is ``(t_{1-alpha/2} + t_{power}) * se`` (df of the row)."""
    from groupstats.stats.comparison_common import _q

    df = float(row.get("df", np.inf))
    base = _q(1 - alpha / 2, df) + _q(MDE_POWER, df)
    return lambda level: row["mde"] * (_q(1 - level / 2, df) + _q(MDE_POWER, df)) / base


def _add_notes(notes, data, cluster, method_used, srm, n_comp, correction):
    if data.cluster is not None:
        g = int(data.cluster.max()) + 1
        if g < FEW_CLUSTERS:
            if "cr1" in method_used:
                notes.append(f"Only {g} clusters: CR1 standard errors reject too often with few "
                             "clusters; prefer method='cr2' (default).")
            elif "cr2" in method_used:
                notes.append(f"{g} clusters: CR2 (Bell-McCaffrey) standard errors with "
                             "Bell-McCaffrey degrees of freedom keep the false-positive rate near "
                             "alpha with few clusters.")
    if not srm["ok"]:
        notes.append(f"Sample ratio mismatch: p = {srm['p_value']:.2g} < {SRM_P_THRESHOLD:g} "
                     f"({srm['unit']} per arm {srm['observed']}).")
    if n_comp > 1 and correction != "none":
        rule = {"holm": "Holm: the level of its step", "bonferroni": "Bonferroni: alpha / m",
                "bh": "Benjamini-Hochberg: alpha * rejections / m"}[correction]
        notes.append(f"p_adjusted uses the {correction} correction over {n_comp} comparisons; "
                     "CIs are adjusted for multiple comparisons to match: each is drawn at the level at which "
                     f"the correction judges it ({rule}; column ci_level; the marginal CIs are the "
                     "*_unadjusted columns). The MDE is at the same level.")


def compare_table(path: str | Path, **kwargs) -> ComparisonResult:
    """Read a tidy CSV/TSV/Parquet file and run :func:`compare_arms` on it.

    Parameters
    ----------
    path : str or Path
        File with one row per unit.
    **kwargs
        Keyword arguments of :func:`compare_arms` (``arm=`` and ``metric=`` required).

    Raises
    ------
    ParameterError
        The file does not exist, has an unsupported extension, or lacks a
        column named in ``kwargs`` (the message names the file and column).
    """
    path = Path(path)
    frame = read_unit_table(path)
    roles = ["arm", "metric", "denominator", "cluster", "covariate"]
    wanted = [(r, kwargs.get(r)) for r in roles if kwargs.get(r) is not None]
    wanted += [("fixed_effects", c) for c in (kwargs.get("fixed_effects") or [])]
    for role, col in wanted:
        if col not in frame.columns:
            raise ParameterError(f"File {path} has no column '{col}' (needed as {role}); its columns "
                                 f"are: {', '.join(map(str, frame.columns))}.")
    return compare_arms(frame, **kwargs)
