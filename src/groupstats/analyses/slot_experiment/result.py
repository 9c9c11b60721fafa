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

    def conclusion(self) -> str:
        """What the data support and what they do not, generated from the numbers."""
        s = self.summary
        alpha = self.comparison.alpha
        level = f"{100 * (1 - alpha):g}%"
        lines = [
            f"Experiment '{self.experiment}' ({self.design}, {s.get('n_groups')} groups, "
            f"{s.get('n_periods')} periods, {s.get('n_posts'):,} posts analysed); primary metric "
            f"'{self.metric}' ({METRICS[self.metric].description}"
            + (f", window {s.get('window')}" if self.metric not in ("read_rate", "click_rate") else "")
            + f"), compared with '{self.control}' within groups"
            + (" (group, period and weekday effects)" if self.design == "switchback" else "")
            + f" using {self.method} with {self.comparison.correction} correction"
            + ("; intervals adjusted for multiple comparisons." if "ci_level" in self.comparisons
               and (self.comparisons["ci_level"] > 1 - alpha + 1e-12).any() else ".")]
        comp_share = s.get("compliance")
        if comp_share is not None and np.isfinite(comp_share):
            lines.append(f"Compliance: {_pct(comp_share, signed=False)} of posts were inside their arm's "
                         "slot; effects are intent-to-treat (the effect of the schedule as followed).")
        srm = self.srm
        if srm["ok"]:
            lines.append(f"Allocation check: no sample ratio mismatch ({srm['unit']} per arm, "
                         f"p = {_p(srm['p_value'])}).")
        else:
            lines.append(f"WARNING: sample ratio mismatch (p = {_p(srm['p_value'])}): the {srm['unit']} "
                         "per arm do not match the plan; fix the assignment before trusting effects.")
        supported, not_shown = [], []
        for row in self.comparisons.itertuples(index=False):
            level = f"{100 * getattr(row, 'ci_level', 1 - alpha):.3g}%"
            if bool(row.significant):
                direction = "more" if row.diff > 0 else "fewer" if self.metric not in (
                    "read_rate", "click_rate") else ("higher" if row.diff > 0 else "lower")
                supported.append(
                    f"- SUPPORTED: '{row.arm}' gets {direction} {self.metric} than '{row.control}': "
                    f"{_pct(row.rel_diff)} ({level} CI {_pct(row.rel_ci_low)} to "
                    f"{_pct(row.rel_ci_high)}; {row.arm_mean:.3g} vs {row.control_mean:.3g} per post; "
                    f"adjusted p = {_p(row.p_adjusted)}).")
            else:
                not_shown.append(
                    f"- NOT SHOWN: a difference between '{row.arm}' and '{row.control}' "
                    f"({_pct(row.rel_diff)}, {level} CI {_pct(row.rel_ci_low)} to "
                    f"{_pct(row.rel_ci_high)}; adjusted p = {_p(row.p_adjusted)}). "
                    f"Minimum detectable effect at 80% power: about +/-{_pct(row.mde_rel, signed=False)} "
                    "of the control level; smaller effects are not ruled out.")
        lines += supported + not_shown
        if self.bayes is not None:
            from groupstats.stats.bayes import describe

            lines += [f"- {describe(row, level)}" for row in self.bayes.itertuples(index=False)]
        if not supported:
            lines.append(f"Overall: the data do not support that any posting slot changes "
                         f"'{self.metric}' relative to '{self.control}'.")
        else:
            best = self.comparisons.loc[self.comparisons["significant"].astype(bool)]
            best = best.loc[best["rel_diff"].idxmax()]
            if best["rel_diff"] > 0:
                lines.append(f"Overall: '{best['arm']}' is the best-supported slot for '{self.metric}' "
                             f"(about {_pct(best['rel_diff'])} vs '{self.control}').")
            else:
                lines.append(f"Overall: no slot beats '{self.control}'; the significant differences "
                             "are decreases.")
        if self.sequential is not None:
            from groupstats.stats.sequential import SEQUENTIAL_NOTE

            sq = self.sequential
            lines.append(f"{SEQUENTIAL_NOTE} So far {sq['n_units']:,} of the {sq['planned_units']:,} planned "
                         f"{sq['unit']}s (tuned to be tightest at {sq['n_opt']:,.0f}).")
        if self.summary.get("as_of") is not None:
            lines.append(f"As of {self.summary['as_of']:%Y-%m-%d %H:%M}: only data up to then; "
                         f"{self.summary.get('n_incomplete', 0):,} post(s) whose outcome window runs past it were "
                         "excluded.")
        if self.metric == "responses":
            lines.append("Caution: 'responses' counts all member messages after the post, including the "
                         "hour's usual chatter, which favours busy hours by construction; check "
                         "'incremental_responses'.")
        for name, res in self.secondary.items():
            sig = res.comparisons.loc[res.comparisons["significant"].astype(bool), "arm"].tolist()
            lines.append(f"Secondary (exploratory) '{name}': "
                         + (f"differences for {', '.join(map(str, sig))}." if sig else
                            "no significant differences."))
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
