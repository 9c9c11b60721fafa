"""Shared pieces of the comparison engine (:mod:`groupstats.stats.compare`): constants, the
validated data view, the number formatting of conclusions, and one comparison row from a
difference, its SE and reference distribution (absolute interval, Fieller relative interval)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.checks import finite_number as _finite
from groupstats.stats.intervals import fieller_relative
from groupstats.stats.multiplicity import CORRECTIONS  # noqa: F401  (re-exported: accepted correction values)

KINDS = ("mean", "proportion", "count", "ratio")
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
                      "se", "df", "statistic", "control_mean", "arm_mean", "variance_reduction",
                      "ci_level", "interval_adjusted", "ci_low_unadjusted", "ci_high_unadjusted",
                      "rel_ci_low_unadjusted", "rel_ci_high_unadjusted"]


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


# --------------------------------------------------------------------------- inference helpers
def _q(p: float, df: float) -> float:
    return float(sps.norm.ppf(p)) if not math.isfinite(df) else float(sps.t.ppf(p, df))


def _two_sided_p(stat: float, df: float) -> float:
    if not math.isfinite(stat):
        return np.nan
    return float(2 * (sps.norm.sf(abs(stat)) if not math.isfinite(df) else sps.t.sf(abs(stat), df)))


def _row(arm, control, diff, se, df, alpha, mu_t, mu_c, rel=None, rel_ci=None, p=None, stat=None,
         var_t=None, var_c=None, cov_tc=0.0, ci=None, interval_at="auto") -> dict:
    """Assemble one comparison from a difference, its SE and reference df.

    The relative interval is Fieller's for ``mu_t / mu_c`` (:func:`_fieller`) from
    ``var_t, var_c, cov_tc`` with the same critical value as the absolute interval, so it
    excludes 0 exactly when the absolute one does; unless ``rel_ci`` is given.

    ``interval_at`` (private key ``_interval_at`` of the row) maps a level ``alpha_i`` to the
    ``(ci, rel_ci)`` of the same rule at ``1 - alpha_i``, used for multiplicity-adjusted
    intervals; built here when both intervals come from this rule, ``None`` (not adjustable)
    when a caller passes its own intervals without one.
    """
    if interval_at == "auto":
        if ci is None and rel_ci is None:
            def interval_at(level, _d=diff, _se=se, _df=df):
                c = _q(1 - level / 2, _df)
                rel_i = (_fieller(mu_t, mu_c, var_t, var_c, cov_tc, c)
                         if var_t is not None and var_c is not None else (-np.inf, np.inf))
                return (_d - c * _se, _d + c * _se), rel_i
        else:
            interval_at = None
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
            "statistic": stat, "control_mean": mu_c, "arm_mean": mu_t, "_interval_at": interval_at}


def _fieller(mu_t, mu_c, var_t, var_c, cov_tc, crit) -> tuple[float, float]:
    """Fieller interval for ``mu_t / mu_c - 1`` (see :func:`groupstats.stats.intervals.fieller_relative`)."""
    return fieller_relative(mu_t, mu_c, var_t, var_c, cov_tc, crit)
