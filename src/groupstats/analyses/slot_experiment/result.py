"""SlotExperimentResult: the comparison, compliance, SRM check and conclusion of a slot experiment, as
tables, text, HTML and a plot."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.results import Result, to_jsonable

from groupstats.analyses.slot_experiment.outcomes import METRICS


# ------------------------------------------------------------------------------------------
# the result
# ------------------------------------------------------------------------------------------
def _pct(x, signed=True) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


@dataclass(repr=False)
class SlotExperimentResult(Result):
    """Result of :func:`analyse_slot_experiment`.

    Attributes
    ----------
    experiment, design, metric : str
        Experiment id, ``"switchback"`` or ``"group-randomised"``, primary metric.
    comparison : groupstats.stats.compare.ComparisonResult
        The primary metric's comparison (``.arms``, ``.comparisons``, ``.srm``).
    compliance : DataFrame
        One row per arm: arm, n_posts, in_slot (posts inside the arm's slot),
        compliance (share; NaN when the arm is not a slot name).
    secondary : dict of str -> ComparisonResult
        Exploratory metrics (not the declared primary).
    summary : dict
        n_groups, n_periods, n_posts, n_assignments, dropped counts, window,
        washout, exclude_red_packets, slots, seed, start, end; ``as_of`` (the cutoff or
        None), ``n_units`` (group-periods or group-days analysed) and ``planned_units``.
    notes : list of str
    sequential : dict or None
        With ``sequential=True``: ``n_units, n_opt, planned_units, unit, boundary, method``;
        the comparisons' p-values and intervals are then the always-valid ones (the
        fixed-horizon ones are kept in ``*_fixed`` columns).
    bayes : DataFrame or None
        Bayesian read-out per arm (:func:`groupstats.stats.bayes.bayes_readout`):
        prob_better, expected_loss, ci_low, ci_high (relative effect).
    """

    experiment: str
    design: str
    metric: str
    comparison: object
    compliance: pd.DataFrame
    secondary: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    sequential: dict | None = None
    bayes: pd.DataFrame | None = None

    @property
    def title(self) -> str:  # type: ignore[override]
        return (f"Experiment {self.experiment!r} ({self.design}): {self.metric} per post by arm, "
                f"vs {self.control!r} ({self.method})")

    @property
    def control(self):
        return self.comparison.control

    @property
    def method(self) -> str:
        return self.comparison.method

    @property
    def arms(self) -> pd.DataFrame:
        out = self.comparison.arms.copy()
        return out.merge(self.compliance[["arm", "compliance"]], on="arm", how="left")

    @property
    def comparisons(self) -> pd.DataFrame:
        return self.comparison.comparisons

    @property
    def srm(self) -> dict:
        return self.comparison.srm

    def to_frame(self) -> pd.DataFrame:
        cols = ["arm", "control", "arm_mean", "control_mean", "diff", "ci_low", "ci_high", "rel_diff",
                "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "mde_rel", "significant"]
        out = self.comparisons[cols].copy()
        if self.bayes is not None and len(self.bayes) == len(out):
            out["prob_better"] = self.bayes["prob_better"].to_numpy()
            out["expected_loss"] = self.bayes["expected_loss"].to_numpy()
        return out

    def to_dict(self) -> dict:
        arms = self.arms
        arm_cols = [c for c in ("arm", "n_units", "n_clusters", "mean", "compliance") if c in arms]
        comp_cols = ["arm", "control", "diff", "ci_low", "ci_high", "rel_diff", "rel_ci_low",
                     "rel_ci_high", "p_value", "p_adjusted", "mde", "mde_rel", "significant"]
        comp_cols += [c for c in ("p_value_fixed", "ci_low_fixed", "ci_high_fixed", "rel_ci_low_fixed",
                                  "rel_ci_high_fixed", "ci_level", "interval_adjusted", "ci_low_unadjusted",
                                  "ci_high_unadjusted", "rel_ci_low_unadjusted", "rel_ci_high_unadjusted")
                      if c in self.comparisons]
        comparisons = to_jsonable(self.comparisons[comp_cols])
        if self.bayes is not None:
            from groupstats.stats.bayes import bayes_records

            readout = bayes_records(self.bayes)
            for row in comparisons:
                row["bayes"] = readout.get(str(row["arm"]))
        return to_jsonable({
            "experiment": self.experiment,
            "design": self.design,
            "metric": self.metric,
            "kind": self.comparison.kind,
            "method": self.method,
            "alpha": self.comparison.alpha,
            "correction": self.comparison.correction,
            "control": self.control,
            "sequential": self.sequential is not None,
            "sequential_settings": self.sequential,
            "as_of": self.summary.get("as_of"),
            "arms": arms[arm_cols],
            "comparisons": comparisons,
            "srm": {k: self.srm[k] for k in ("p_value", "ok", "observed", "expected", "unit")},
            "compliance": self.compliance,
            "summary": self.summary,
            "secondary": {name: {"method": r.method, "comparisons": r.comparisons[comp_cols]}
                          for name, r in self.secondary.items()},
            "notes": list(self.notes) + list(self.comparison.notes),
            "conclusion": self.conclusion(),
        })

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import ab

        return ab.card(self, lang)

    def supported(self) -> list:
        """Arms whose difference from control is significant after correction."""
        comp = self.comparisons
        return comp.loc[comp["significant"].astype(bool), "arm"].tolist()

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import arm_name, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        return t("slotres.title", lang, experiment=self.experiment, design=self._design_text(lang),
                 metric=translate_metric(self.metric, lang) if lang != "en" else self.metric,
                 control=arm_name(self.control, lang) if lang != "en" else repr(self.control), method=self.method)

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        """The comparisons for people: slots in words, relative effects in percent, p-values readable."""
        from groupstats.reports.i18n import arm_name
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.to_frame()
        for col in ("arm", "control"):
            frame[col] = [arm_name(a, lang) for a in frame[col]]
        columns = [c for c in self.comparison.text_columns if c[0] in frame]
        columns += [("prob_better", "field.prob_better", "pct"), ("expected_loss", "field.expected_loss", "num")]
        return format_frame(frame, [c for c in columns if c[0] in frame], lang)

    def _design_text(self, lang: str) -> str:
        from groupstats.reports.i18n import CATALOGUE, t

        key = f"audit.design.{self.design}"
        return self.design if lang == "en" or key not in CATALOGUE else t(key, lang)

    def conclusion(self, lang: str | None = None) -> str:
        """What the data support and what they do not, generated from the numbers, in ``lang``."""
        from groupstats.reports.i18n import CATALOGUE, arm_name, fmt_num, fmt_p_eq, fmt_pct, join, note_text, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        en = lang == "en"

        def arm(a) -> str:  # English keeps the quoted ids it always showed
            return f"'{a}'" if en else arm_name(a, lang)

        def pct(x, signed=True) -> str:
            return fmt_pct(x, lang, signed=signed)

        metric = f"'{self.metric}'" if en else translate_metric(self.metric, lang)
        metric_word = self.metric if en else translate_metric(self.metric, lang)
        s = self.summary
        alpha = self.comparison.alpha
        desc_key = f"slotres.metric_desc.{self.metric}"
        first = t("slotres.intro", lang, experiment=self.experiment, design=self._design_text(lang),
                  groups=s.get("n_groups"), periods=s.get("n_periods"), posts=fmt_num(s.get("n_posts"), lang),
                  metric=metric, description=t(desc_key, lang) if desc_key in CATALOGUE else
                  METRICS[self.metric].description)
        if self.metric not in ("read_rate", "click_rate"):
            first += t("slotres.window", lang, window=s.get("window"))
        first += t("slotres.compared", lang, control=arm(self.control))
        if self.design == "switchback":
            first += t("slotres.effects", lang)
        first += t("slotres.using", lang, method=self.method, correction=self.comparison.correction)
        adjusted = "ci_level" in self.comparisons and (self.comparisons["ci_level"] > 1 - alpha + 1e-12).any()
        lines = [first + t("slotres.adjusted" if adjusted else "slotres.period", lang)]
        comp_share = s.get("compliance")
        if comp_share is not None and np.isfinite(comp_share):
            lines.append(t("slotres.compliance", lang, share=pct(comp_share, signed=False)))
        srm = self.srm
        unit = t(f"slotres.unit.{srm['unit']}", lang) if f"slotres.unit.{srm['unit']}" in CATALOGUE else srm["unit"]
        lines.append(t("slotres.srm_ok" if srm["ok"] else "slotres.srm_bad", lang, unit=unit,
                       p=fmt_p_eq(srm["p_value"])))
        supported, not_shown = [], []
        for row in self.comparisons.itertuples(index=False):
            values = dict(arm=arm(row.arm), control=arm(row.control), metric=metric_word, rel=pct(row.rel_diff),
                          level=f"{100 * getattr(row, 'ci_level', 1 - alpha):.3g}%", low=pct(row.rel_ci_low),
                          high=pct(row.rel_ci_high), p=fmt_p_eq(row.p_adjusted))
            if bool(row.significant):
                direction = ("more" if row.diff > 0 else "fewer") if self.metric not in ("read_rate", "click_rate") \
                    else ("higher" if row.diff > 0 else "lower")
                supported.append(t("slotres.supported", lang, direction=t(f"slotres.dir.{direction}", lang),
                                   arm_mean=fmt_num(row.arm_mean, lang), control_mean=fmt_num(row.control_mean, lang),
                                   **values))
            else:
                not_shown.append(t("slotres.not_shown", lang, mde=pct(row.mde_rel, signed=False), **values))
        lines += supported + not_shown
        if self.bayes is not None:
            from groupstats.stats.bayes import describe

            level = f"{100 * (1 - alpha):g}%"
            lines += ["- " + describe(row, level, lang, **({} if en else {"arm": arm(row.arm),
                                                                           "control": arm(row.control)}))
                      for row in self.bayes.itertuples(index=False)]
        if not supported:
            lines.append(t("slotres.overall_none", lang, metric=metric, control=arm(self.control)))
        else:
            best = self.comparisons.loc[self.comparisons["significant"].astype(bool)]
            best = best.loc[best["rel_diff"].idxmax()]
            if best["rel_diff"] > 0:
                lines.append(t("slotres.overall_best", lang, arm=arm(best["arm"]), metric=metric,
                               rel=pct(best["rel_diff"]), control=arm(self.control)))
            else:
                lines.append(t("slotres.overall_decrease", lang, control=arm(self.control)))
        if self.sequential is not None:
            sq = self.sequential
            unit = t(f"slotres.unit.{sq['unit']}", lang) if f"slotres.unit.{sq['unit']}" in CATALOGUE else sq["unit"]
            lines.append(t("slotres.sequential", lang, n=fmt_num(sq["n_units"], lang),
                           planned=fmt_num(sq["planned_units"], lang), unit=unit,
                           n_opt=fmt_num(round(sq["n_opt"]), lang)))
        if self.summary.get("as_of") is not None:
            lines.append(t("slotres.as_of", lang, when=f"{self.summary['as_of']:%Y-%m-%d %H:%M}",
                           n=fmt_num(self.summary.get("n_incomplete", 0), lang)))
        if self.metric == "responses":
            lines.append(t("slotres.responses_caution", lang))
        for name, res in self.secondary.items():
            sig = res.comparisons.loc[res.comparisons["significant"].astype(bool), "arm"].tolist()
            name_text = f"'{name}'" if en else translate_metric(name, lang)
            lines.append(t("slotres.secondary", lang, name=name_text) +
                         (t("slotres.secondary_diff", lang, arms=join([arm_name(a, lang) if not en else str(a)
                                                                       for a in sig], lang))
                          if sig else t("slotres.secondary_none", lang)))
        return "\n".join(lines)

    def plot(self, ax=None):
        """Relative effect (%) per arm with its CI; significant arms in red.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        comp = self.comparisons
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.7 * len(comp) + 1.6))
        pos = np.arange(len(comp))
        rel = comp["rel_diff"].to_numpy(float) * 100
        low = comp["rel_ci_low"].to_numpy(float) * 100
        high = comp["rel_ci_high"].to_numpy(float) * 100
        for i, sig in enumerate(comp["significant"].astype(bool)):
            color = "tab:red" if sig else "tab:gray"
            ax.errorbar(rel[i], pos[i], xerr=[[rel[i] - low[i]], [high[i] - rel[i]]], fmt="o", color=color,
                        capsize=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(pos)
        ax.set_yticklabels([f"{a} vs {c}" for a, c in zip(comp["arm"], comp["control"])])
        ax.set_xlabel(f"relative difference in {self.metric} per post (%), "
                      f"{100 * (1 - self.comparison.alpha):g}% CI")
        ax.set_title(f"{self.experiment}: {self.metric} vs {self.control} ({self.design})")
        return ax
