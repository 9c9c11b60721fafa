"""The result object of :func:`groupstats.stats.compare.compare_arms`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from groupstats.results import Result, to_jsonable
from groupstats.stats.comparison_common import SRM_P_THRESHOLD, _finite, _num, _p, _pct

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
        Significance level (CIs are adjusted for multiple comparisons, at ``ci_level`` each).
    correction : str
        Multiple-comparison correction applied to ``p_adjusted``.
    arms : DataFrame
        One row per arm: ``arm, n_units, n_clusters, mean`` (+ ``std``;
        ``metric_total, denominator_total`` for ratios; ``covariate_mean``).
    comparisons : DataFrame
        One row per non-control arm, columns :data:`COMPARISON_COLUMNS`:
        ``arm, control, diff, ci_low, ci_high, rel_diff, rel_ci_low, rel_ci_high,
        p_value, p_adjusted, mde, mde_rel, significant, se, df, statistic,
        control_mean, arm_mean, variance_reduction, ci_level, interval_adjusted,
        ci_low_unadjusted, ci_high_unadjusted, rel_ci_low_unadjusted, rel_ci_high_unadjusted``.
        The intervals are multiplicity-adjusted (level ``ci_level``, ``1 - alpha`` with one
        comparison or no correction) and exclude 0 exactly when ``significant``; the marginal
        ``1 - alpha`` intervals are the ``*_unadjusted`` columns.  ``diff`` is in metric
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
        for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "ci_low_unadjusted", "ci_high_unadjusted",
                    "rel_ci_low_unadjusted", "rel_ci_high_unadjusted"):
            if col not in comparisons:
                continue
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
        adjusted = bool(self.comparisons.get("interval_adjusted", pd.Series([False])).any()) and \
            bool((self.comparisons.get("ci_level", pd.Series([1 - self.alpha])) > 1 - self.alpha + 1e-12).any())
        if adjusted:
            lines[0] += " Intervals are adjusted for multiple comparisons."
        for row in self.comparisons.itertuples(index=False):
            level = f"{100 * getattr(row, 'ci_level', 1 - self.alpha):.3g}%"
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
