"""Monitoring a running posting-slot experiment: the read-out day by day, and whether to stop.

:func:`monitor_experiment` analyses the experiment *as of* each calendar date (only the data
known that day, :func:`groupstats.analyses.slot_experiment.analyse_slot_experiment` with
``as_of``) and records for every arm against the control:

* the relative effect with its **always-valid** confidence sequence
  (:mod:`groupstats.stats.sequential`), which may be read every day without inflating false
  positives, next to the fixed-horizon interval (valid only at the planned end);
* the **Bayesian** chance that the arm beats the control and the expected loss of choosing it
  (:mod:`groupstats.stats.bayes`).

The :class:`MonitorResult` recommends, in plain words, to stop or to continue:

1. **stop, adopt**: an arm beats the control (always-valid, Holm-adjusted p below ``alpha``):
   the evidence holds whenever it is read;
2. **stop, keep the control**: an arm is significantly worse and none is better;
3. **stop, no effect worth having**: every arm's always-valid interval lies within
   +/- ``mde`` (the minimum effect worth detecting): continuing cannot show one;
4. **stop, planned end reached** without a clear result (effects smaller than the interval's
   width are not ruled out);
5. otherwise **continue** until the planned end (from the assignments table, or the date given
   to ``plan-slots --end``).

Its :meth:`MonitorResult.conclusion` is the report's :class:`~groupstats.reports.card.ConclusionCard`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.reports import i18n
from groupstats.results import Result, to_jsonable

__all__ = ["monitor_experiment", "MonitorResult", "RECOMMENDATIONS"]

#: Recommendation codes and the card's answer for each.
RECOMMENDATIONS = {"stop_adopt": "supported", "stop_keep_control": "contradicted", "stop_futile": "not_shown",
                   "stop_planned_end": "not_shown", "continue": "needs_more_data"}

def _prob(p, lang: str) -> str:
    """A chance for people: bounds beyond 99.9% / 0.1% instead of a rounded 100% / 0%."""
    if p > 0.999:
        return "> 99.9%"
    if p < 0.001:
        return "< 0.1%"
    return i18n.fmt_pct(p, lang, digits=0)


def _label(kind: str, value, lang: str) -> str:
    key = f"{kind}.{value}"
    return i18n.t(key, lang) if key in i18n.CATALOGUE else str(value)


@dataclass(repr=False)
class MonitorResult(Result):
    """Result of :func:`monitor_experiment`.

    Attributes
    ----------
    experiment, metric, design : str
    control : str
    timeline : DataFrame
        One row per (look date, arm): ``date, arm, n_units, rel_diff, rel_low, rel_high``
        (always-valid interval), ``rel_low_fixed, rel_high_fixed``, ``p_value`` (always-valid,
        Holm-adjusted across arms), ``p_value_fixed``, ``significant``, ``prob_better``,
        ``expected_loss``.
    planned_start, planned_end : Timestamp
        From the assignments (``planned_end`` exclusive) or given.
    last_look : Timestamp
    mde, alpha, n_opt, prior_sd : float
    recommendation : dict
        ``code`` (a key of :data:`RECOMMENDATIONS`), ``arm`` (the arm it is about),
        ``days_left``.
    latest : SlotExperimentResult
        The full sequential analysis at the last look.
    """

    experiment: str
    metric: str
    design: str
    control: str
    timeline: pd.DataFrame
    planned_start: pd.Timestamp
    planned_end: pd.Timestamp
    last_look: pd.Timestamp
    mde: float
    alpha: float
    n_opt: float
    prior_sd: float
    recommendation: dict
    latest: object = None
    notes: list = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Monitoring of experiment {self.experiment!r}: {self.metric} vs {self.control!r}, by date"

    def to_frame(self) -> pd.DataFrame:
        return self.timeline.copy()

    def last(self) -> pd.DataFrame:
        """The rows of the last look."""
        return self.timeline.loc[self.timeline["date"] == self.timeline["date"].max()].reset_index(drop=True)

    def to_dict(self) -> dict:
        return to_jsonable({
            "experiment": self.experiment, "metric": self.metric, "design": self.design, "control": self.control,
            "planned_start": self.planned_start, "planned_end": self.planned_end, "last_look": self.last_look,
            "mde": self.mde, "alpha": self.alpha, "n_opt": self.n_opt, "prior_sd": self.prior_sd,
            "sequential": True, "recommendation": self.recommendation, "timeline": self.timeline,
            "conclusion": self.conclusion().to_dict(), "notes": list(self.notes)})

    # -- the conclusion card --------------------------------------------------------------
    def conclusion(self, lang: str | None = None):  # type: ignore[override]
        """The :class:`~groupstats.reports.card.ConclusionCard` of the monitoring, in ``lang`` (default: the
        result's language, see :meth:`in_language`)."""
        from groupstats.reports.card import ConclusionCard

        lang = self._lang(lang)
        rec = self.recommendation
        metric = _label("metric", self.metric, lang)
        control = _label("slot", self.control, lang)
        arm = _label("slot", rec["arm"], lang)
        row = self.last().set_index("arm").loc[rec["arm"]]
        level = f"{100 * (1 - self.alpha):g}%"
        key_number = i18n.t("monitor.key_number", lang, date=f"{self.last_look:%Y-%m-%d}", arm=arm, control=control,
                            effect=i18n.fmt_pct(row["rel_diff"], lang, signed=True), level=level,
                            interval=i18n.fmt_interval(row["rel_low"], row["rel_high"], lang),
                            prob=_prob(row["prob_better"], lang))
        last_day = self.planned_end - pd.Timedelta(days=1)
        next_step = i18n.t(f"monitor.next.{rec['code']}", lang, arm=arm, control=control,
                           mde=i18n.fmt_pct(self.mde, lang, digits=0), end=f"{last_day:%Y-%m-%d}",
                           days=rec["days_left"])
        return ConclusionCard(
            question=i18n.t("monitor.question", lang, metric=metric, control=control),
            answer=RECOMMENDATIONS[rec["code"]], key_number=key_number, next_step=next_step,
            caveat=i18n.t("monitor.caveat", lang, prior=f"{self.prior_sd:g}"), lang=lang)

    def title_text(self, lang: str | None = None) -> str:
        return i18n.t("monitor.title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        """The looks for people (:meth:`table`), in ``lang``."""
        return self.table(self._lang(lang))

    def to_string(self, lang: str | None = None) -> str:
        lang = self._lang(lang)
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            body = self.text_frame(lang).to_string(index=False)
        return f"{self.title_text(lang)}\n{body}\n\n{self.conclusion(lang)}"

    def _repr_html_(self) -> str:
        lang = self._lang(None)
        return self.conclusion(lang).to_html() + self.text_frame(lang).to_html(index=False)

    # -- figures ----------------------------------------------------------------------------
    def plot(self, lang: str = "en", axes=None):
        """Two panels against calendar date: each arm's relative effect with its always-valid
        interval (band) and fixed-horizon interval (dashed); the chance to beat the control.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        lang = i18n.check_lang(lang)
        if axes is None:
            fig, axes = plt.subplots(2, 1, figsize=(11.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        else:
            fig = axes[0].figure
        control = _label("slot", self.control, lang)
        tl = self.timeline
        for i, (arm, sub) in enumerate(tl.groupby("arm", sort=True)):
            colour = f"C{i}"
            name = _label("slot", arm, lang)
            x = pd.to_datetime(sub["date"])
            axes[0].fill_between(x, 100 * sub["rel_low"], 100 * sub["rel_high"], color=colour, alpha=0.18,
                                 label=f"{name}: {i18n.t('monitor.fig.sequence', lang)}")
            axes[0].plot(x, 100 * sub["rel_diff"], color=colour, lw=1.8, label=name)
            axes[0].plot(x, 100 * sub["rel_low_fixed"], color=colour, lw=0.8, ls="--")
            axes[0].plot(x, 100 * sub["rel_high_fixed"], color=colour, lw=0.8, ls="--",
                         label=f"{name}: {i18n.t('monitor.fig.fixed', lang)}")
            axes[1].plot(x, 100 * sub["prob_better"], color=colour, lw=1.8, label=name)
        axes[0].axhline(0, color="black", lw=0.8)
        for ax in axes:
            ax.axvline(self.planned_end.tz_localize(None), color="grey", lw=1, ls=":")
        # above the panel's frame, so the label never sits on a band
        axes[0].text(self.planned_end.tz_localize(None), 1.0, i18n.t("monitor.fig.planned_end", lang),
                     transform=axes[0].get_xaxis_transform(), ha="center", va="bottom", fontsize=8, color="grey")
        axes[0].set_ylabel(i18n.t("monitor.fig.effect", lang, control=control) + " (%)")
        axes[0].set_title(i18n.t("monitor.fig.effect_title", lang, metric=_label("metric", self.metric, lang),
                                 control=control))
        # the legend sits outside the data, to the right of the effect panel (inside it covered the bands)
        axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
        axes[1].set_ylim(0, 100)
        axes[1].axhline(50, color="black", lw=0.6, ls=":")
        axes[1].set_ylabel(i18n.t("monitor.fig.prob", lang, control=control) + " (%)")
        axes[1].set_title(i18n.t("monitor.fig.prob_title", lang))
        axes[1].set_xlabel(i18n.t("monitor.fig.date", lang))
        fig.autofmt_xdate()
        fig.tight_layout()
        return fig

    def table(self, lang: str = "en", every_days: int = 7) -> pd.DataFrame:
        """The timeline for people: looks at least ``every_days`` days apart from the first, and the
        last, formatted, in ``lang``."""
        tl = self.timeline
        dates = sorted(pd.to_datetime(tl["date"]).unique())
        keep = [dates[0]]
        for day in dates[1:]:  # a few dozen look dates
            if day - keep[-1] >= pd.Timedelta(days=every_days):
                keep.append(day)
        keep.append(dates[-1])
        sub = tl.loc[pd.to_datetime(tl["date"]).isin(keep).to_numpy()].sort_values(["date", "arm"])

        def col(key):
            return i18n.t(f"monitor.col.{key}", lang)

        return pd.DataFrame({
            col("date"): pd.to_datetime(sub["date"]).dt.strftime("%Y-%m-%d"),
            col("arm"): [_label("slot", a, lang) for a in sub["arm"]],
            col("effect"): [i18n.fmt_pct(v, lang, signed=True) for v in sub["rel_diff"]],
            col("sequence"): [i18n.fmt_interval(lo, hi, lang) for lo, hi in zip(sub["rel_low"], sub["rel_high"])],
            col("fixed"): [i18n.fmt_interval(lo, hi, lang) for lo, hi in zip(sub["rel_low_fixed"],
                                                                             sub["rel_high_fixed"])],
            col("p"): [i18n.fmt_p(p) for p in sub["p_value"]],
            col("prob"): [_prob(p, lang) for p in sub["prob_better"]],
            col("loss"): [i18n.fmt_pct(v, lang, digits=2) for v in sub["expected_loss"]],
        }).reset_index(drop=True)


def _recommend(last: pd.DataFrame, mde: float, last_look: pd.Timestamp, planned_end: pd.Timestamp) -> dict:
    """The stop / continue rule of the module docstring, from the last look's rows."""
    # whole days still planned after the day of the last look (planned_end is exclusive)
    days_left = max(int(round((planned_end - (last_look + pd.Timedelta(microseconds=1))) / pd.Timedelta(days=1))), 0)
    sig = last.loc[last["significant"]]
    better = sig.loc[sig["rel_diff"] > 0]
    if len(better):
        arm = better.loc[better["rel_diff"].idxmax(), "arm"]
        return {"code": "stop_adopt", "arm": arm, "days_left": days_left}
    if len(sig):
        arm = sig.loc[sig["rel_diff"].idxmin(), "arm"]
        return {"code": "stop_keep_control", "arm": arm, "days_left": days_left}
    best = last.loc[last["prob_better"].idxmax(), "arm"]
    if ((last["rel_low"] > -mde) & (last["rel_high"] < mde)).all():
        return {"code": "stop_futile", "arm": best, "days_left": days_left}
    if days_left <= 0:
        return {"code": "stop_planned_end", "arm": best, "days_left": 0}
    return {"code": "continue", "arm": best, "days_left": days_left}


def monitor_experiment(ds: Dataset, experiment_id: str, metric: str = "replies", *, step="1D", first_look=None,
                       last_look=None, planned_end=None, mde: float = 0.10, alpha: float = 0.05,
                       n_opt: float | None = None, prior_sd: float = 0.3, window="2h", control=None) -> MonitorResult:
    """Analyse a posting-slot experiment as of each date and recommend whether to stop.

    Parameters
    ----------
    ds : Dataset
        With ``posts`` and ``assignments`` (and ``events`` for rate metrics).
    experiment_id, metric : str
        As in :func:`~groupstats.analyses.slot_experiment.analyse_slot_experiment`.
    step : duration
        Days between looks (``"1D"``: every morning).
    first_look : date, optional
        Default: once every group has had a full cycle of the arms (switchback: arms x the
        period length after the start), else a week after the start.
    last_look : date, optional
        Default: the last day with data, or the planned end if earlier.
    planned_end : date, optional
        Last planned day (e.g. ``plan-slots --end``); default the end of the assignments.
    mde : float
        Minimum relative effect worth detecting (0.10 = 10%), for the futility rule.
    alpha, n_opt, prior_sd, window, control
        See :func:`~groupstats.analyses.slot_experiment.analyse_slot_experiment`.
    Returns
    -------
    MonitorResult
    """
    from groupstats.analyses.slot_experiment import _experiment_assignments, analyse_slot_experiment, \
        experiment_design
    from groupstats.stats.bayes import bayes_readout
    from groupstats.stats.sequential import as_of_cutoff, planned_units, sequential_comparisons

    if not (0 < mde < 10):
        raise ParameterError(f"mde must be a relative effect such as 0.10 (10%), got {mde!r}.")
    assignments = _experiment_assignments(ds, experiment_id)
    design = experiment_design(assignments)
    planned = planned_units(assignments, design)
    n_opt = float(planned if n_opt is None else n_opt)
    start = assignments["start_at"].min()
    end = assignments["end_at"].max() if planned_end is None else as_of_cutoff(planned_end, ds.tz) + \
        pd.Timedelta(microseconds=1)
    if first_look is None:
        n_arms = assignments["arm"].nunique()
        period = (assignments["end_at"] - assignments["start_at"]).median()
        first = start + (n_arms * period if design == "switchback" else pd.Timedelta(days=7))
    else:
        first = as_of_cutoff(first_look, ds.tz)
    last = min(ds.end, end - pd.Timedelta(microseconds=1)) if last_look is None else as_of_cutoff(last_look, ds.tz)
    try:
        step_days = max(int(pd.Timedelta(step) / pd.Timedelta(days=1)), 1)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"step {step!r} is not a duration in days; use e.g. '1D' or '7D'.") from exc
    days = pd.date_range(first.normalize().tz_localize(None), last.normalize().tz_localize(None), freq=f"{step_days}D")
    if len(days) == 0 or days[-1] != last.normalize().tz_localize(None):
        days = days.append(pd.DatetimeIndex([last.normalize().tz_localize(None)]))
    frames, latest, notes = [], None, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        for day in days:  # one analysis per look date (a few dozen), each vectorised
            as_of = f"{day:%Y-%m-%d}"
            try:
                res = analyse_slot_experiment(ds, experiment_id, metric, window=window, control=control,
                                              alpha=alpha, correction="none", as_of=as_of)
            except InsufficientDataError:
                continue
            seq = sequential_comparisons(res.comparisons, res.summary["n_units"], n_opt, alpha, "holm")
            bayes = bayes_readout(seq, alpha=alpha, prior_sd=prior_sd)
            frames.append(pd.DataFrame({
                "date": day, "arm": seq["arm"].to_numpy(), "control": seq["control"].to_numpy(),
                "n_units": res.summary["n_units"], "rel_diff": seq["rel_diff"].to_numpy(float),
                "rel_low": seq["rel_ci_low"].to_numpy(float), "rel_high": seq["rel_ci_high"].to_numpy(float),
                "rel_low_fixed": seq["rel_ci_low_fixed"].to_numpy(float),
                "rel_high_fixed": seq["rel_ci_high_fixed"].to_numpy(float),
                "p_value": seq["p_adjusted"].to_numpy(float), "p_value_fixed": seq["p_value_fixed"].to_numpy(float),
                "significant": seq["significant"].to_numpy(bool),
                "prob_better": bayes["prob_better"].to_numpy(float),
                "expected_loss": bayes["expected_loss"].to_numpy(float)}))
            latest_day = day
        if not frames:
            raise InsufficientDataError(f"Experiment {experiment_id!r} cannot be analysed on any date from "
                                        f"{days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}; it needs posts of every arm "
                                        "in at least 3 groups.")
        latest = analyse_slot_experiment(ds, experiment_id, metric, window=window, control=control, alpha=alpha,
                                         as_of=f"{latest_day:%Y-%m-%d}", sequential=True,
                                         n_opt=n_opt, prior_sd=prior_sd)
    timeline = pd.concat(frames, ignore_index=True)
    last_look = as_of_cutoff(f"{latest_day:%Y-%m-%d}", ds.tz)
    rec = _recommend(timeline.loc[timeline["date"] == latest_day].reset_index(drop=True), mde, last_look, end)
    return MonitorResult(experiment=experiment_id, metric=metric, design=design, control=str(latest.control),
                         timeline=timeline, planned_start=start, planned_end=end, last_look=last_look, mde=float(mde),
                         alpha=float(alpha), n_opt=n_opt, prior_sd=float(prior_sd), recommendation=rec,
                         latest=latest, notes=notes)
