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
* ``method="bootstrap"`` gives a seeded BCa bootstrap (of clusters when
  ``cluster`` is given).

Every comparison gets an absolute and a relative difference (arm / control - 1)
with CIs, a p-value, a multiplicity-adjusted p-value, and the minimum
detectable effect (80% power).  The sample-ratio-mismatch (SRM) check runs on
every call.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.results import Result, to_jsonable
from groupstats.stats.cluster import SandwichFit, WildClusterBootstrap, sandwich, webb_weights, whiten_glm
from groupstats.stats.fixed_effects import FixedEffects, absorbed_sandwich, demean
from groupstats.stats.intervals import fieller_relative
from groupstats.stats.poisson import drop_all_zero_levels, fit_poisson

__all__ = ["compare_arms", "compare_table", "ComparisonResult", "SRM_P_THRESHOLD",
           "KINDS", "CORRECTIONS", "METHODS"]

KINDS = ("mean", "proportion", "count", "ratio")
#: Accepted ``correction`` values and the statsmodels ``multipletests`` method each maps to.
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}
#: Accepted ``method`` values (see :func:`compare_arms`).
METHODS = ("auto", "cr2", "cr1", "model", "negbin", "bootstrap", "wild")
#: SRM alarm threshold: the allocation is flagged when the chi-square p-value is
#: below 0.001.  This is the customary threshold for sample ratio mismatch in
#: online experiments (Fabijan et al., "Diagnosing Sample Ratio Mismatch in
#: Online Controlled Experiments", KDD 2019): strict, because the check runs on
#: every experiment and a real mismatch gives tiny p-values.
SRM_P_THRESHOLD = 1e-3
#: Power used for the minimum detectable effect.
MDE_POWER = 0.80
#: Below this many clusters a note explains the small-sample correction.
FEW_CLUSTERS = 30
#: Below this many clusters even CR2 is fragile: a StatisticalWarning is issued.
VERY_FEW_CLUSTERS = 8

COMPARISON_COLUMNS = ["arm", "control", "diff", "ci_low", "ci_high", "rel_diff", "rel_ci_low",
                      "rel_ci_high", "p_value", "p_adjusted", "mde", "mde_rel", "significant",
                      "se", "df", "statistic", "control_mean", "arm_mean", "variance_reduction"]


# --------------------------------------------------------------------------- result
@dataclass(repr=False)
class ComparisonResult(Result):
    """Result of :func:`compare_arms`.

    Interval ends are never NaN: a side that no data can bound (a relative effect whose control
    level is not clearly non-zero, a wild-bootstrap inversion that never rejects) is ``-inf`` /
    ``inf``, printed as "unbounded" and written to JSON as the strings "-inf" / "inf".

    Attributes
    ----------
    metric, kind, method : str
        The metric column, the kind of metric and the inference method used
        (e.g. ``"welch"``, ``"ztest"``, ``"delta"``, ``"ols-cr2"``, ``"lpm-cr2"``,
        ``"poisson-cr2"``, ``"negbin-hc2"``, ``"wls-cr2"``, ``"cluster-bootstrap-bca"``).
    alpha : float
        Significance level (CIs are ``1 - alpha``, unadjusted for multiplicity).
    correction : str
        Multiple-comparison correction applied to ``p_adjusted``.
    arms : DataFrame
        One row per arm: ``arm, n_units, n_clusters, mean`` (+ ``std``;
        ``metric_total, denominator_total`` for ratios; ``covariate_mean``).
    comparisons : DataFrame
        One row per non-control arm, columns :data:`COMPARISON_COLUMNS`:
        ``arm, control, diff, ci_low, ci_high, rel_diff, rel_ci_low, rel_ci_high,
        p_value, p_adjusted, mde, mde_rel, significant, se, df, statistic,
        control_mean, arm_mean, variance_reduction``.  ``diff`` is in metric
        units (arm minus control), ``rel_diff`` is arm / control - 1, ``mde``
        is the smallest absolute difference detectable with 80% power at
        ``alpha`` given the comparison's standard error, ``df`` is ``inf``
        for normal-reference tests.
    srm : dict
        ``p_value, ok, observed, expected, unit, statistic, threshold``;
        ``ok`` is ``p_value >= SRM_P_THRESHOLD`` (0.001).
    notes : list of str
        Caveats (few clusters, SRM, method details).
    control : arm label
    cluster, covariate : str or None
    fixed_effects : list of str
    variance_reduction : float or None
        With ``covariate``: 1 - (residual variance with the covariate) /
        (residual variance without), pooled over arms (CUPED's rho^2).
    """

    metric: str
    kind: str
    method: str
    alpha: float
    correction: str
    arms: pd.DataFrame
    comparisons: pd.DataFrame
    srm: dict
    notes: list = field(default_factory=list)
    control: Any = None
    cluster: str | None = None
    covariate: str | None = None
    fixed_effects: list = field(default_factory=list)
    variance_reduction: float | None = None

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Comparison of '{self.metric}' ({self.kind}, {self.method}) against arm {self.control!r}"

    def to_frame(self) -> pd.DataFrame:
        """The comparisons table (one row per non-control arm)."""
        return self.comparisons.copy()

    def to_dict(self) -> dict:
        """JSON-ready dict with keys ``metric, kind, method, alpha, correction,
        arms, comparisons, srm, notes``."""
        comparisons = self.comparisons.copy()
        for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high"):
            # an unbounded interval end stays visible in strict JSON as "inf" / "-inf" (not null)
            values = comparisons[col].to_numpy(float)
            if np.isinf(values).any():
                comparisons[col] = pd.Series([("inf" if v > 0 else "-inf") if np.isinf(v) else v for v in values],
                                             index=comparisons.index, dtype=object)
        return to_jsonable({
            "metric": self.metric,
            "kind": self.kind,
            "method": self.method,
            "alpha": self.alpha,
            "correction": self.correction,
            "arms": self.arms,
            "comparisons": comparisons,
            "srm": self.srm,
            "notes": list(self.notes),
        })

    def conclusion(self) -> str:
        """Plain words generated from the numbers."""
        level = f"{100 * (1 - self.alpha):g}%"
        corr = "no multiple-comparison correction" if self.correction == "none" else \
            f"{self.correction} correction"
        lines = [f"'{self.metric}' by arm, each compared with control {self.control!r} "
                 f"({self.method}; {corr}; alpha = {self.alpha:g})."]
        for row in self.comparisons.itertuples(index=False):
            rel = _pct(row.rel_diff)
            rel_ci = f"{_pct(row.rel_ci_low)} to {_pct(row.rel_ci_high)}"
            if bool(row.significant):
                direction = "higher" if row.diff > 0 else "lower"
                lines.append(
                    f"- Arm {row.arm!r} is significantly {direction} than {row.control!r}: "
                    f"{_num(row.diff, signed=True)} ({level} CI {_num(row.ci_low, True)} to "
                    f"{_num(row.ci_high, True)}), {rel} relative ({rel_ci}); "
                    f"adjusted p = {_p(row.p_adjusted)}.")
            else:
                lines.append(
                    f"- Arm {row.arm!r} vs {row.control!r}: no significant difference "
                    f"({_num(row.diff, True)}, {level} CI {_num(row.ci_low, True)} to "
                    f"{_num(row.ci_high, True)}; {rel} relative ({rel_ci}); adjusted p = {_p(row.p_adjusted)}). "
                    f"The minimum detectable effect at 80% power is about +/-{_num(row.mde)}"
                    + (f" ({_pct(row.mde_rel, signed=False)} of the control level)"
                       if _finite(row.mde_rel) else "")
                    + "; smaller effects cannot be ruled out.")
        if not self.srm.get("ok", True):
            lines.append(
                f"WARNING: sample ratio mismatch (p = {_p(self.srm['p_value'])} < "
                f"{self.srm.get('threshold', SRM_P_THRESHOLD):g}): the arms' {self.srm.get('unit', 'unit')} "
                f"counts {self.srm['observed']} do not match the planned allocation; "
                "check the assignment and logging before trusting these effects.")
        if self.variance_reduction is not None and _finite(self.variance_reduction):
            lines.append(f"The covariate '{self.covariate}' reduced the residual variance by "
                         f"{100 * self.variance_reduction:.0f}%.")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Relative difference (%) per arm with its CI as error bars.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.6 * len(self.comparisons) + 1.5))
        comp = self.comparisons
        pos = np.arange(len(comp))
        rel = comp["rel_diff"].to_numpy(float) * 100
        low = comp["rel_ci_low"].to_numpy(float) * 100
        high = comp["rel_ci_high"].to_numpy(float) * 100
        colors = ["tab:red" if s else "tab:gray" for s in comp["significant"]]
        for i, color in enumerate(colors):  # one call per arm: errorbar takes a single colour
            ax.errorbar(rel[i], pos[i], xerr=[[rel[i] - low[i]], [high[i] - rel[i]]], fmt="none",
                        ecolor=color, capsize=4)
        ax.scatter(rel, pos, c=colors, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(pos)
        ax.set_yticklabels([f"{a} vs {c}" for a, c in zip(comp["arm"], comp["control"])])
        ax.set_xlabel(f"relative difference in {self.metric} (%), {100 * (1 - self.alpha):g}% CI")
        ax.set_title(f"{self.metric}: effect vs control ({self.method})")
        return ax


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _unbounded(x) -> str | None:
    """"unbounded" text for an infinite interval end, None otherwise."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return ("-inf (unbounded)" if v < 0 else "+inf (unbounded)") if math.isinf(v) else None


def _num(x, signed: bool = False) -> str:
    if _unbounded(x):
        return _unbounded(x)
    if not _finite(x):
        return "n/a"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _pct(x, signed: bool = True) -> str:
    if _unbounded(x):
        return _unbounded(x)
    if not _finite(x):
        return "n/a"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def _p(p) -> str:
    if not _finite(p):
        return "n/a"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


# --------------------------------------------------------------------------- inputs
@dataclass
class _Data:
    """Validated, numeric view of the experiment table (all arrays length n)."""

    labels: list            # arm labels, control first
    codes: np.ndarray       # arm index of each row (0 = control)
    y: np.ndarray
    d: np.ndarray | None    # denominator (ratio)
    cluster: np.ndarray | None   # cluster code of each row
    covariate: np.ndarray | None
    fe: pd.DataFrame | None


def _native(value):
    """numpy scalars -> Python scalars, so labels print as 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def _arm_labels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [_native(v) for v in series.cat.categories]
    values = [_native(v) for v in pd.unique(series)]
    try:
        return sorted(values)
    except TypeError:
        return values


def _match_label(value, labels: list):
    for lab in labels:
        if lab == value:
            return lab
    for lab in labels:
        if str(lab) == str(value):
            return lab
    return None


def _validate_params(kind, correction, method, alpha, n_boot, denominator, cluster):
    if kind not in KINDS:
        raise ParameterError(f"kind={kind!r} is not supported; use one of {', '.join(KINDS)}.")
    if correction not in CORRECTIONS:
        raise ParameterError(f"correction={correction!r} is not supported; use one of "
                             f"{', '.join(CORRECTIONS)}.")
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not supported; use one of {', '.join(METHODS)}.")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be a number between 0 and 1 (got {alpha!r}); e.g. 0.05.")
    if kind == "ratio" and denominator is None:
        raise ParameterError("kind='ratio' needs denominator= (the column summed below the metric, "
                             "e.g. views), because the ratio is sum(metric) / sum(denominator) per arm.")
    if kind != "ratio" and denominator is not None:
        raise ParameterError(f"denominator= is only used with kind='ratio' (got kind={kind!r}); "
                             "drop it or set kind='ratio'.")
    if method == "negbin" and kind != "count":
        raise ParameterError("method='negbin' (negative binomial) applies to kind='count' only.")
    if method == "model" and cluster is not None:
        raise ParameterError("method='model' ignores clustering and would understate the standard "
                             "errors; with cluster= use method='cr2' (default) or 'cr1'/'bootstrap'.")
    if method == "wild" and cluster is None:
        raise ParameterError("method='wild' (wild cluster bootstrap) needs cluster=; without clusters use "
                             "method='cr2' (HC2) or 'bootstrap'.")
    if method == "wild" and kind == "count":
        raise ParameterError("method='wild' applies to linear models (kind='mean', 'proportion', 'ratio'); "
                             "for counts use method='cr2' (default) or 'negbin'.")
    if method in ("bootstrap", "wild") and (not isinstance(n_boot, (int, np.integer)) or n_boot < 100):
        raise ParameterError(f"n_boot must be an integer >= 100 (got {n_boot!r}); 2000 is a good default.")


def _prepare(frame, arm, metric, kind, denominator, control, cluster, covariate,
             fixed_effects) -> _Data:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a pandas DataFrame (got {type(frame).__name__}).")
    needed = {"arm": arm, "metric": metric, "denominator": denominator, "cluster": cluster,
              "covariate": covariate}
    cols = [(role, c) for role, c in needed.items() if c is not None]
    cols += [("fixed_effects", c) for c in fixed_effects]
    missing = [f"'{c}' ({role})" for role, c in cols if c not in frame.columns]
    if missing:
        raise ParameterError(f"Column(s) {', '.join(missing)} not found in the table; available "
                             f"columns: {', '.join(map(str, frame.columns))}.")
    arm_col = frame[arm]
    if arm_col.isna().any():
        raise ParameterError(f"Arm column '{arm}' has {int(arm_col.isna().sum())} missing value(s); "
                             "drop or label those rows before comparing.")
    labels = _arm_labels(arm_col)
    present = set(pd.unique(arm_col))
    empty = [lab for lab in labels if lab not in present]
    if empty:
        raise ParameterError(f"Arm(s) {empty} of column '{arm}' have no rows; remove the unused "
                             "categories or collect data for them.")
    if len(labels) < 2:
        raise ParameterError(f"Column '{arm}' has fewer than 2 arms ({labels}); a comparison needs "
                             "a control and at least one other arm.")
    if control is None:
        control_label = labels[0]
    else:
        control_label = _match_label(control, labels)
        if control_label is None:
            raise ParameterError(f"Control arm {control!r} is not present in column '{arm}'; "
                                 f"arms present: {labels}.")
    labels = [control_label] + [lab for lab in labels if lab != control_label]
    codes = np.full(len(frame), -1, dtype=np.int64)
    values = arm_col.to_numpy()
    for i, lab in enumerate(labels):
        codes[values == lab] = i

    def numeric(col: str, role: str) -> np.ndarray:
        series = frame[col]
        if series.dtype == bool:
            series = series.astype(float)
        if not pd.api.types.is_numeric_dtype(series):
            raise ParameterError(f"{role} column '{col}' must be numeric (got dtype {series.dtype}).")
        out = series.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(out)
        if bad.any():
            per_arm = ", ".join(f"arm {labels[a]!r}: {int(bad[codes == a].sum())}"
                                for a in range(len(labels)) if bad[codes == a].any())
            raise ParameterError(f"{role} column '{col}' has {int(bad.sum())} missing (NaN) value(s) "
                                 f"({per_arm}); drop or impute those rows before comparing.")
        return out

    y = numeric(metric, "Metric")
    if kind == "proportion":
        nonbinary = ~np.isin(y, (0.0, 1.0))
        if nonbinary.any():
            example = pd.unique(y[nonbinary])[:5].tolist()
            raise ParameterError(f"kind='proportion' needs a 0/1 metric, but '{metric}' has "
                                 f"{int(nonbinary.sum())} other value(s), e.g. {example}; use "
                                 "kind='mean' or recode the metric to 0/1.")
    if kind == "count" and (y < 0).any():
        raise ParameterError(f"kind='count' needs non-negative counts, but '{metric}' has "
                             f"{int((y < 0).sum())} negative value(s); use kind='mean' instead.")
    d = None
    if kind == "ratio":
        d = numeric(denominator, "Denominator")
        if (d < 0).any():
            raise ParameterError(f"Denominator column '{denominator}' has {int((d < 0).sum())} "
                                 "negative value(s); a ratio of sums needs non-negative denominators.")
        for a, lab in enumerate(labels):
            if d[codes == a].sum() <= 0:
                raise ParameterError(f"Denominator '{denominator}' sums to zero in arm {lab!r}, so "
                                     "its ratio is undefined; check the data of that arm.")
    clus = None
    if cluster is not None:
        ccol = frame[cluster]
        if ccol.isna().any():
            raise ParameterError(f"Cluster column '{cluster}' has {int(ccol.isna().sum())} missing "
                                 "value(s); every row needs its cluster (e.g. group id).")
        clus = pd.factorize(ccol)[0].astype(np.int64)
    cov = numeric(covariate, "Covariate") if covariate is not None else None
    fe = None
    if fixed_effects:
        fe = frame[list(fixed_effects)]
        for col in fixed_effects:
            if fe[col].isna().any():
                raise ParameterError(f"Fixed-effect column '{col}' has {int(fe[col].isna().sum())} "
                                     "missing value(s).")
        fe = fe.reset_index(drop=True)
    return _Data(labels=labels, codes=codes, y=y, d=d, cluster=clus, covariate=cov, fe=fe)


# --------------------------------------------------------------------------- summaries
def _arm_table(data: _Data, kind: str, cluster: str | None) -> pd.DataFrame:
    rows = []
    for a, lab in enumerate(data.labels):
        mask = data.codes == a
        y = data.y[mask]
        row = {"arm": lab, "n_units": int(mask.sum()),
               "n_clusters": int(len(np.unique(data.cluster[mask]))) if data.cluster is not None
               else pd.NA}
        if kind == "ratio":
            row["mean"] = y.sum() / data.d[mask].sum()
            row["metric_total"] = y.sum()
            row["denominator_total"] = data.d[mask].sum()
        else:
            row["mean"] = y.mean()
            row["std"] = y.std(ddof=1) if len(y) > 1 else np.nan
        if data.covariate is not None:
            row["covariate_mean"] = data.covariate[mask].mean()
        rows.append(row)
    out = pd.DataFrame(rows)
    out["n_clusters"] = out["n_clusters"].astype("Int64")
    out["arm"] = pd.Series([r["arm"] for r in rows], dtype=object)
    return out


def _nested(data: _Data) -> bool:
    """True when every cluster contains a single arm (cluster-randomised design)."""
    if data.cluster is None:
        return False
    pairs = pd.DataFrame({"c": data.cluster, "a": data.codes}).drop_duplicates()
    return bool(pairs["c"].is_unique)


def _srm(data: _Data, expected_ratio, allocation) -> dict:
    """Chi-square goodness of fit of the randomised unit counts to the planned allocation."""
    labels = data.labels
    if allocation is not None:
        observed = _per_arm_values(allocation, labels, "allocation")
        unit = "allocated units"
    elif data.cluster is not None and _nested(data):
        observed = np.array([len(np.unique(data.cluster[data.codes == a]))
                             for a in range(len(labels))], dtype=float)
        unit = "clusters"
    else:
        observed = np.bincount(data.codes, minlength=len(labels)).astype(float)
        unit = "rows"
    if expected_ratio is None:
        ratio = np.ones(len(labels))
    else:
        ratio = _per_arm_values(expected_ratio, labels, "expected_ratio")
        if (ratio <= 0).any():
            raise ParameterError("expected_ratio must be positive for every arm.")
    if (observed < 0).any():
        raise ParameterError("allocation counts must be non-negative.")
    expected = ratio / ratio.sum() * observed.sum()
    if observed.sum() > 0:
        stat, p = sps.chisquare(observed, expected)
    else:
        stat, p = np.nan, np.nan
    ok = bool(not (p < SRM_P_THRESHOLD)) if _finite(p) else True
    return {"p_value": float(p), "ok": ok, "statistic": float(stat),
            "observed": {lab: float(o) for lab, o in zip(labels, observed)},
            "expected": {lab: float(e) for lab, e in zip(labels, expected)},
            "unit": unit, "threshold": SRM_P_THRESHOLD}


def _per_arm_values(values, labels: list, name: str) -> np.ndarray:
    """Per-arm numbers from a dict {arm: x} or a list in sorted-arm order."""
    if isinstance(values, dict):
        out = []
        keyed = {}
        for key, val in values.items():
            lab = _match_label(key, labels)
            if lab is None:
                raise ParameterError(f"{name} names arm {key!r}, which has no rows; arms present: "
                                     f"{labels}.")
            keyed[lab] = float(val)
        missing = [lab for lab in labels if lab not in keyed]
        if missing:
            raise ParameterError(f"{name} gives no value for arm(s) {missing}; give one per arm.")
        out = [keyed[lab] for lab in labels]
        return np.asarray(out, dtype=float)
    seq = list(values)
    if len(seq) != len(labels):
        raise ParameterError(f"{name} has {len(seq)} value(s) but there are {len(labels)} arms; a "
                             "list is read in sorted arm order, or pass a dict {arm: value}.")
    try:
        order = sorted(labels)
    except TypeError:
        order = list(labels)
    by_label = dict(zip(order, seq))
    return np.asarray([float(by_label[lab]) for lab in labels], dtype=float)


# --------------------------------------------------------------------------- inference helpers
def _q(p: float, df: float) -> float:
    return float(sps.norm.ppf(p)) if not math.isfinite(df) else float(sps.t.ppf(p, df))


def _two_sided_p(stat: float, df: float) -> float:
    if not math.isfinite(stat):
        return np.nan
    return float(2 * (sps.norm.sf(abs(stat)) if not math.isfinite(df) else sps.t.sf(abs(stat), df)))


def _row(arm, control, diff, se, df, alpha, mu_t, mu_c, rel=None, rel_ci=None, p=None, stat=None,
         var_t=None, var_c=None, cov_tc=0.0, ci=None) -> dict:
    """Assemble one comparison from a difference, its SE and reference df.

    The relative interval is Fieller's for ``mu_t / mu_c`` (:func:`_fieller`) from
    ``var_t, var_c, cov_tc`` with the same critical value as the absolute interval, so it
    excludes 0 exactly when the absolute one does; unless ``rel_ci`` is given.
    """
    crit = _q(1 - alpha / 2, df)
    if stat is None:
        stat = diff / se if se > 0 else np.nan
    if p is None:
        p = _two_sided_p(stat, df)
    if rel is None:
        rel = mu_t / mu_c - 1 if mu_c != 0 else np.nan
    if rel_ci is None:
        if var_t is not None and var_c is not None:
            rel_ci = _fieller(mu_t, mu_c, var_t, var_c, cov_tc, crit)
        else:
            rel_ci = (-np.inf, np.inf)
    if ci is None:
        ci = (diff - crit * se, diff + crit * se)
    mde = (crit + _q(MDE_POWER, df)) * se
    return {"arm": arm, "control": control, "diff": diff, "ci_low": ci[0],
            "ci_high": ci[1], "rel_diff": rel, "rel_ci_low": rel_ci[0],
            "rel_ci_high": rel_ci[1], "p_value": p, "mde": mde,
            "mde_rel": mde / abs(mu_c) if mu_c != 0 else np.nan, "se": se, "df": df,
            "statistic": stat, "control_mean": mu_c, "arm_mean": mu_t}


def _fieller(mu_t, mu_c, var_t, var_c, cov_tc, crit) -> tuple[float, float]:
    """Fieller interval for ``mu_t / mu_c - 1`` (see :func:`groupstats.stats.intervals.fieller_relative`)."""
    return fieller_relative(mu_t, mu_c, var_t, var_c, cov_tc, crit)


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
    absorbed = fe is not None and fe.shape[1] > 0 and wild is None
    if absorbed:
        fe_codes = FixedEffects.from_frame(fe)
        rows, resid_var = _absorbed_linear_fit(codes, n_arms, cov, fe_codes, y, w, clus, vcov_type,
                                               data.labels, alpha)
    else:
        design = _design(codes, n_arms, cov, fe, w)
        rows, resid_var = _linear_fit(design, y, w, clus, vcov_type, data.labels, alpha)
    if wild is not None:
        _wild_rows(rows, design, y, w, clus, alpha, *wild)
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


def _wild_rows(rows: list[dict], design: _Design, y, w, clus, alpha: float, n_boot: int, seed) -> None:
    """Restricted wild cluster bootstrap (Webb weights) p-values and test-inversion CIs, in place.

    For arm a vs control the hypotheses are ``(l_a - l_0)' beta = delta`` (difference) and
    ``(l_a - (1 + rho) l_0)' beta = 0`` (relative difference rho), with ``l_a`` the
    g-computation vectors of :func:`_linear_fit`; each CI is the set of values not rejected at
    ``alpha`` by the null-imposed bootstrap with the same (seeded) weights.  ``se``, ``df``
    and ``mde`` stay those of the CR2 fit.
    """
    x = design.x
    sw = np.sqrt(w)
    _, clus = np.unique(np.asarray(clus), return_inverse=True)    # codes 0..G-1 in code order
    n_clusters = int(clus.max()) + 1
    boot = WildClusterBootstrap(x * sw[:, None], y * sw, clus, webb_weights(n_boot, n_clusters, seed))
    avg = np.average(x, axis=0, weights=design.weights)
    grads = []
    for a in range(design.n_arms):
        lvec = avg.copy()
        lvec[:design.n_arms] = 0.0
        lvec[a] = 1.0
        grads.append(lvec)
    for a, row in enumerate(rows, start=1):
        contrast = grads[a] - grads[0]
        t, p = boot.test(contrast, 0.0)
        row["p_value"], row["statistic"] = p, t
        row["ci_low"], row["ci_high"] = boot.invert(lambda r, c=contrast: (c, r), row["diff"], row["se"], alpha)
        se_rel = row["se"] / abs(row["control_mean"]) if row["control_mean"] != 0 else np.nan
        if _finite(row["rel_diff"]) and _finite(se_rel) and se_rel > 0:
            row["rel_ci_low"], row["rel_ci_high"] = boot.invert(
                lambda r, ga=grads[a], g0=grads[0]: (ga - (1.0 + r) * g0, 0.0), row["rel_diff"], se_rel, alpha)


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
    avg = np.average(x, axis=0, weights=design.weights)
    means = []
    grads = []
    for a in range(design.n_arms):
        lvec = avg.copy()
        lvec[:design.n_arms] = 0.0
        lvec[a] = 1.0
        grads.append(lvec)
        means.append(float(lvec @ beta))
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
        row = _row(data.labels[a], data.labels[0], mu_c * (rr - 1), mu_c * rr * se_log, df, alpha,
                   mu_c * rr, mu_c, rel=rr - 1, rel_ci=rel_ci, p=_two_sided_p(stat, df), stat=stat,
                   ci=(mu_c * rel_ci[0], mu_c * rel_ci[1]))
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


# --------------------------------------------------------------------------- bootstrap
def _bootstrap(data: _Data, kind: str, alpha: float, n_boot: int, seed) -> tuple[list[dict], str]:
    """BCa bootstrap of arm-vs-control differences of (ratio-of-)sums statistics.

    Resampling units are clusters when ``cluster`` is given (rows otherwise);
    they are resampled within arm when each unit belongs to one arm
    (stratified), else jointly (switchback clusters keep their arm mix).
    """
    rng = np.random.default_rng(seed)
    n_arms = len(data.labels)
    den = data.d if kind == "ratio" else np.ones(len(data.y))
    y = data.y
    if data.covariate is not None:   # CUPED pre-adjustment with the pooled within-arm slope
        xc = data.covariate - np.array([data.covariate[data.codes == a].mean()
                                        for a in range(n_arms)])[data.codes]
        yc = y - np.array([y[data.codes == a].mean() for a in range(n_arms)])[data.codes]
        theta = (xc @ yc) / (xc @ xc) if xc @ xc > 0 else 0.0
        y = y - theta * (data.covariate - data.covariate.mean())
    unit = data.cluster if data.cluster is not None else np.arange(len(y))
    frame = pd.DataFrame({"u": unit, "a": data.codes, "y": y, "d": den})
    sums = frame.groupby(["u", "a"], sort=True)[["y", "d"]].sum()
    units = sums.index.get_level_values(0).unique()
    sy = sums["y"].unstack(fill_value=0.0).reindex(index=units, columns=range(n_arms),
                                                   fill_value=0.0).to_numpy()
    sd = sums["d"].unstack(fill_value=0.0).reindex(index=units, columns=range(n_arms),
                                                   fill_value=0.0).to_numpy()
    n_units = len(units)
    owner = (sd > 0).argmax(axis=1)
    stratified = bool(((sd > 0).sum(axis=1) == 1).all())
    ty, td = sy.sum(0), sd.sum(0)
    est = ty / td
    boot_y = np.empty((n_boot, n_arms))
    boot_d = np.empty((n_boot, n_arms))
    chunk = max(1, int(4e6 // max(n_units, 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        if stratified:
            for a in range(n_arms):
                idx_a = np.flatnonzero(owner == a)
                draw = idx_a[rng.integers(0, len(idx_a), size=(b, len(idx_a)))]
                boot_y[start:start + b, a] = sy[draw, a].sum(axis=1)
                boot_d[start:start + b, a] = sd[draw, a].sum(axis=1)
        else:
            draw = rng.integers(0, n_units, size=(b, n_units))
            boot_y[start:start + b] = sy[draw].sum(axis=1)
            boot_d[start:start + b] = sd[draw].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = boot_y / boot_d
        # jackknife (leave one unit out) for the BCa acceleration
        jack = (ty[None, :] - sy) / (td[None, :] - sd)
    rows = []
    for a in range(1, n_arms):
        d_hat = est[a] - est[0]
        r_hat = est[a] / est[0] - 1 if est[0] != 0 else np.nan
        d_boot = boot[:, a] - boot[:, 0]
        r_boot = boot[:, a] / boot[:, 0] - 1
        d_jack = jack[:, a] - jack[:, 0]
        r_jack = jack[:, a] / jack[:, 0] - 1
        d_low, d_high, p = _bca(d_hat, d_boot, d_jack, alpha)
        r_low, r_high, _ = _bca(r_hat, r_boot, r_jack, alpha)
        valid = d_boot[np.isfinite(d_boot)]
        se = float(valid.std(ddof=1)) if len(valid) > 1 else np.nan
        # the relative interval must not contradict the difference's: both BCa intervals come from
        # the same draws but their bias corrections differ slightly, so at the edge they can disagree;
        # then the difference's interval scaled by the control level is reported
        if (d_low > 0 or d_high < 0) != (r_low > 0 or r_high < 0) and est[0] != 0:
            r_low, r_high = sorted((d_low / est[0], d_high / est[0]))
        row = _row(data.labels[a], data.labels[0], d_hat, se, np.inf, alpha, est[a], est[0],
                   rel=r_hat, rel_ci=(r_low, r_high), p=p, stat=d_hat / se if se > 0 else np.nan,
                   ci=(d_low, d_high))
        rows.append(row)
    prefix = "cluster-" if data.cluster is not None else ""
    return rows, f"{prefix}bootstrap-bca"


def _bca(theta: float, boot: np.ndarray, jack: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Bias-corrected and accelerated percentile interval (Efron 1987) and the p-value of the
    same rule: the smallest level at which the BCa interval excludes 0.

    With ``z0`` (bias) and ``a`` (acceleration), the BCa interval at level ``alpha`` takes the
    empirical quantiles (inverted CDF, no interpolation) at ``Phi(z0 + (z0 + z)/(1 - a (z0 + z)))``
    for ``z = Phi^-1(alpha/2), Phi^-1(1 - alpha/2)``. Its lower end is above 0 exactly when the
    share of draws <= 0 is below that level; solving for ``alpha`` gives the one-sided levels
    ``2 Phi(w/(1 + a w) - z0)`` with ``w = Phi^-1(share) - z0``, and the p-value is the smaller
    of the two sides (capped at 1). So ``p < alpha`` if and only if the interval excludes 0.
    Returns ``(low, high, p)``.
    """
    boot = boot[np.isfinite(boot)]
    jack = jack[np.isfinite(jack)]
    if len(boot) < 10 or not math.isfinite(theta):
        return (np.nan, np.nan, np.nan)
    n_boot = len(boot)
    prop = ((boot < theta).sum() + 0.5 * (boot == theta).sum()) / n_boot
    prop = min(max(prop, 1 / (2 * n_boot)), 1 - 1 / (2 * n_boot))
    z0 = sps.norm.ppf(prop)
    dev = jack.mean() - jack
    denom = 6 * (dev ** 2).sum() ** 1.5
    acc = (dev ** 3).sum() / denom if denom > 0 else 0.0
    out = []
    for q in (alpha / 2, 1 - alpha / 2):
        z = sps.norm.ppf(q)
        adj = sps.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        out.append(float(np.quantile(boot, adj, method="inverted_cdf")))

    def side_level(share: float, upper: bool) -> float:
        """Level alpha at which the lower (upper) BCa end reaches 0, given the share of draws
        <= 0 (< 0): the interval excludes 0 on that side iff alpha exceeds it."""
        if share <= 0.0:
            return 0.0 if not upper else 2.0
        if share >= 1.0:
            return 2.0 if not upper else 0.0
        w = sps.norm.ppf(share) - z0
        denom_w = 1 + acc * w
        if denom_w <= 0:
            return 2.0
        z = w / denom_w - z0
        return float(2 * sps.norm.cdf(z)) if not upper else float(2 * sps.norm.sf(z))

    p_low = side_level(float((boot <= 0).mean()), upper=False)
    p_high = side_level(float((boot < 0).mean()), upper=True)
    p = min(1.0, p_low, p_high)
    return out[0], out[1], p


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
        Significance level; CIs have level ``1 - alpha`` (unadjusted).
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
        ``bootstrap``: seeded BCa bootstrap of units, or of clusters when
        ``cluster`` is given; not with ``fixed_effects``.  ``wild``: restricted
        (null-imposed) wild cluster bootstrap-t with Webb six-point weights
        (``n_boot`` draws, ``seed``) for the linear kinds (mean, proportion,
        ratio) with ``cluster``, also with ``covariate`` and ``fixed_effects``:
        the p-value is ``mean(|t*| >= |t|)`` (CR0 t-ratios) and the CIs (absolute
        and relative) invert that test with the same weights; ``se``, ``df`` and
        ``mde`` are CR2's.
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
        notes.append(f"BCa bootstrap with {n_boot} replications (seed {seed}); the p-value is the smallest "
                     "level at which the BCa interval excludes 0 (one rule for both). With fewer than about "
                     "30 clusters the cluster bootstrap rejects too often; prefer method='cr2' or 'wild'.")
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


def _adjust_p(p: np.ndarray, method: str) -> np.ndarray:
    """Holm, Benjamini-Hochberg or Bonferroni adjusted p-values (as statsmodels' ``multipletests``,
    which the tests use as the reference; computed here to keep statsmodels out of the CLI's start-up)."""
    m = len(p)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adj = np.minimum(np.maximum.accumulate(ranked * (m - np.arange(m))), 1.0)
    elif method == "fdr_bh":
        adj = np.minimum(np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1], 1.0)
    else:  # pragma: no cover - guarded by CORRECTIONS
        raise ValueError(method)
    out = np.empty(m)
    out[order] = adj
    return out


def _comparisons_frame(rows: list[dict], correction: str, alpha: float) -> pd.DataFrame:
    comp = pd.DataFrame(rows)
    if "variance_reduction" not in comp:
        comp["variance_reduction"] = np.nan
    p = comp["p_value"].to_numpy(float)
    adj = p.copy()
    ok = np.isfinite(p)
    # one comparison: every correction is the identity (skip the call, it is slow)
    if CORRECTIONS[correction] is not None and ok.sum() > 1:
        adj[ok] = _adjust_p(p[ok], CORRECTIONS[correction])
    comp["p_adjusted"] = adj
    comp["significant"] = np.where(np.isfinite(adj), adj < alpha, False).astype(bool)
    comp["arm"] = pd.Series(list(comp["arm"]), dtype=object)
    comp["control"] = pd.Series(list(comp["control"]), dtype=object)
    return comp[COMPARISON_COLUMNS]


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
        notes.append(f"p_adjusted uses the {correction} correction over {n_comp} comparisons; "
                     "CIs are not adjusted for multiplicity.")


_READERS = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"),
            ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


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
    if not path.exists():
        raise ParameterError(f"File {path} does not exist; pass the path of a CSV or Parquet table.")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ParameterError(f"File {path} has an unsupported extension '{path.suffix}'; use .csv, "
                             ".tsv or .parquet.")
    frame = reader(path)
    roles = ["arm", "metric", "denominator", "cluster", "covariate"]
    wanted = [(r, kwargs.get(r)) for r in roles if kwargs.get(r) is not None]
    wanted += [("fixed_effects", c) for c in (kwargs.get("fixed_effects") or [])]
    for role, col in wanted:
        if col not in frame.columns:
            raise ParameterError(f"File {path} has no column '{col}' (needed as {role}); its columns "
                                 f"are: {', '.join(map(str, frame.columns))}.")
    return compare_arms(frame, **kwargs)
