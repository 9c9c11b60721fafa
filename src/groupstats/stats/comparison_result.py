"""The result object of :func:`groupstats.stats.compare.compare_arms`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from groupstats.results import Result, to_jsonable
from groupstats.stats.comparison_common import SRM_P_THRESHOLD, _finite

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
        ``"poisson-cr2"``, ``"negbin-hc2"``, ``"wls-cr2"``, ``"cluster-bootstrap-t"``).
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
        is the smallest absolute difference detectable with 80% power at the
        comparison's level ``1 - ci_level`` (``alpha``, or the level the multiplicity
        correction judges it at) given its standard error, ``df`` is ``inf``
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
        return self.title_text("en")

    #: the comparisons table for people (header key, kind of value)
    text_columns = (("arm", "field.arm", "text"), ("control", "field.control", "text"),
                    ("arm_mean", "field.arm_mean", "num"), ("control_mean", "field.control_mean", "num"),
                    ("diff", "field.diff", "num"), ("ci_low", "field.ci_low", "num"), ("ci_high", "field.ci_high", "num"),
                    ("rel_diff", "field.rel_diff", "pct_signed"), ("rel_ci_low", "field.rel_ci_low", "pct_signed"),
                    ("rel_ci_high", "field.rel_ci_high", "pct_signed"), ("p_adjusted", "field.p_adjusted", "p"),
                    ("mde_rel", "field.mde_rel", "pct"), ("significant", "field.significant", "bool"))

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import CATALOGUE, t

        lang = self._lang(lang)
        kind = t(f"compare.kind.{self.kind}", lang) if f"compare.kind.{self.kind}" in CATALOGUE else self.kind
        return t("compare.title", lang, metric=self.metric, kind=kind, method=self.method, control=self.control)

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

    def conclusion(self, lang: str | None = None, arm_names=None, metric_name: str | None = None) -> str:
        """Plain words generated from the numbers, in ``lang`` (catalogue ``compare.*``).

        ``arm_names`` (arm -> words) and ``metric_name`` let an analysis name its arms and metric
        in the reader's language (e.g. slots); ids are shown as they are otherwise.
        """
        from groupstats.reports.i18n import fmt_num, fmt_p_eq, fmt_pct, t

        lang = self._lang(lang)
        names = dict(arm_names or {})

        def arm(a) -> str:
            return str(names.get(a, a))

        def num(x) -> str:
            return fmt_num(x, lang, digits=4, signed=True)

        def pct(x) -> str:
            return fmt_pct(x, lang, signed=True)

        metric = metric_name or self.metric
        corr = t("compare.no_correction", lang) if self.correction == "none" else \
            t("compare.correction", lang, correction=self.correction)
        first = t("compare.intro", lang, metric=metric, control=arm(self.control), method=self.method,
                  correction=corr, alpha=f"{self.alpha:g}")
        adjusted = bool(self.comparisons.get("interval_adjusted", pd.Series([False])).any()) and \
            bool((self.comparisons.get("ci_level", pd.Series([1 - self.alpha])) > 1 - self.alpha + 1e-12).any())
        if adjusted:
            first += t("compare.adjusted", lang)
        lines = [first]
        for row in self.comparisons.itertuples(index=False):
            values = dict(arm=arm(row.arm), control=arm(row.control), diff=num(row.diff),
                          level=f"{100 * getattr(row, 'ci_level', 1 - self.alpha):.3g}%",
                          low=num(row.ci_low), high=num(row.ci_high), rel=pct(row.rel_diff),
                          rel_low=pct(row.rel_ci_low), rel_high=pct(row.rel_ci_high),
                          p=fmt_p_eq(row.p_adjusted))
            if bool(row.significant):
                key = "compare.higher" if row.diff > 0 else "compare.lower"
                lines.append(t(key, lang, **values))
            else:
                text = t("compare.no_difference", lang, **values, mde=fmt_num(row.mde, lang, digits=4))
                if _finite(row.mde_rel):
                    text += t("compare.mde_rel", lang, mde_rel=fmt_pct(row.mde_rel, lang))
                lines.append(text + t("compare.not_ruled_out", lang))
        if not self.srm.get("ok", True):
            lines.append(t("compare.srm", lang, p=fmt_p_eq(self.srm["p_value"]),
                           threshold=f"{self.srm.get('threshold', SRM_P_THRESHOLD):g}",
                           unit=self.srm.get("unit", "unit"), observed=self.srm["observed"]))
        if self.variance_reduction is not None and _finite(self.variance_reduction):
            lines.append(t("compare.variance_reduction", lang, covariate=self.covariate,
                           pct=f"{100 * self.variance_reduction:.0f}%"))
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
