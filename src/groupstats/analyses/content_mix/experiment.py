"""Mix-policy experiments: the intent-to-treat comparison, its result object and the monitoring read-
outs."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import post_outcomes
from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.results import Result, to_jsonable

from groupstats.analyses.content_mix.targets import MIX_METRICS, load_mapping
from groupstats.analyses.content_mix.experiment_table import (_experiment_assignments, _group_level,
                                                              _mix_dose, mix_experiment_table)


class MixExperimentResult(Result):
    """A group-randomised content-mix experiment on one group-week metric.

    Attributes
    ----------
    experiment_id, metric : str
    adjustment : str
        ``"cuped"``, ``"did"`` or ``"none"``.
    comparison : ComparisonResult
        Intent-to-treat comparison (group level, clusters = groups).
    arms, comparisons : DataFrame
        From ``comparison`` (``comparisons`` columns as in :mod:`groupstats.stats.compare`).
    srm : dict
    groups : DataFrame
        One row per group: arm, pre/post sums and ratios of the metric.
    weekly : DataFrame
        Group-week table of :func:`mix_experiment_table` (the metric's numerator and denominator, unless
        a full table was passed in).
    compliance : DataFrame
        One row per group: arm, posts, distance to each arm's target, dose toward each arm.
    compliance_summary : dict
        Targets used; per arm mean dose, first stage and the Wald (per unit dose) effect.
    """

    def __init__(self, experiment_id, metric, adjustment, comparison, groups, weekly, compliance,
                 compliance_summary, notes):
        self.experiment_id = experiment_id
        self.metric = metric
        self.adjustment = adjustment
        self.comparison = comparison
        self.groups = groups
        self.weekly = weekly
        self.compliance = compliance
        self.compliance_summary = compliance_summary
        self.notes = notes

    arms = property(lambda self: self.comparison.arms)
    comparisons = property(lambda self: self.comparison.comparisons)
    srm = property(lambda self: self.comparison.srm)

    @property
    def method(self) -> str:
        return f"{self.adjustment}+{self.comparison.method}" if self.adjustment != "none" else self.comparison.method

    @property
    def title(self) -> str:  # type: ignore[override]
        return (f"Content-mix experiment '{self.experiment_id}': {self.metric} (intent-to-treat, group level, "
                f"{self.method})")

    def to_frame(self) -> pd.DataFrame:
        return self.comparisons.copy()

    def to_dict(self) -> dict:
        base = self.comparison.to_dict()
        return to_jsonable({
            "experiment": self.experiment_id, "metric": self.metric,
            "metric_definition": MIX_METRICS[self.metric][2], "method": self.method,
            "kind": base["kind"], "adjustment": self.adjustment, "analysis": "intent-to-treat",
            "alpha": base["alpha"], "correction": base["correction"],
            "sequential": getattr(self, "sequential", None) is not None,
            "sequential_settings": getattr(self, "sequential", None), "as_of": getattr(self, "as_of", None),
            "n_incomplete": getattr(self, "n_incomplete", 0),
            "arms": base["arms"], "comparisons": self._comparison_records(base["comparisons"]), "srm": base["srm"],
            "groups": self.groups, "compliance": {**self.compliance_summary, "groups": self.compliance},
            "notes": list(base["notes"]) + list(self.notes)})

    def _comparison_records(self, records: list) -> list:
        """Comparison rows for JSON, each with its Bayesian read-out under ``bayes``."""
        bayes = getattr(self, "bayes", None)
        if bayes is not None:
            from groupstats.stats.bayes import bayes_records

            readout = bayes_records(bayes)
            for row in records:
                row["bayes"] = readout.get(str(row["arm"]))
        return records

    def _monitoring_lines(self, lang: str = "en") -> list:
        from groupstats.reports.i18n import arm_name, fmt_num, t

        lines = []
        bayes = getattr(self, "bayes", None)
        if bayes is not None:
            level = f"{100 * (1 - self.comparison.alpha):g}%"
            from groupstats.stats.bayes import describe

            lines += [describe(row, level, lang, **({} if lang == "en" else
                                                     {"arm": arm_name(row.arm, lang),
                                                      "control": arm_name(row.control, lang)}))
                      for row in bayes.itertuples(index=False)]
        if getattr(self, "sequential", None) is not None:
            sq = self.sequential
            lines.append(t("mixres.sequential", lang, n=fmt_num(sq["n_units"], lang),
                           planned=fmt_num(sq["planned_units"], lang), n_opt=fmt_num(round(sq["n_opt"]), lang)))
        return lines

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        return t("mixres.title", lang, experiment=self.experiment_id, metric=translate_metric(self.metric, lang),
                 method=self.method)

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.i18n import arm_name
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.comparisons.copy()
        for col in ("arm", "control"):
            frame[col] = [arm_name(a, lang) for a in frame[col]]
        return format_frame(frame, [c for c in self.comparison.text_columns if c[0] in frame], lang)

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import arm_name, note_text, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        metric = translate_metric(self.metric, lang)
        lines = [t("mixres.intro", lang, metric=metric,
                   definition=t(f"mixres.definition.{self.metric}", lang) if f"mixres.definition.{self.metric}"
                   in _catalogue() else MIX_METRICS[self.metric][2])
                 + t(f"mixres.adjustment.{self.adjustment}", lang)]
        arms = {a: arm_name(a, lang) for a in list(self.comparisons["arm"]) + list(self.comparisons["control"])}
        lines.append(self.comparison.conclusion(lang, arm_names=arms if lang != "en" else None,
                                                metric_name=metric if lang != "en" else None))
        for arm, info in self.compliance_summary.get("arms", {}).items():
            text = t("mixres.compliance", lang, arm=arms.get(arm, arm) if lang != "en" else repr(arm),
                     dose=f"{100 * info['mean_dose_arm']:.0f}%", control=f"{100 * info['mean_dose_control']:.0f}%")
            wald = info.get("wald_rel_effect")
            if wald is not None and np.isfinite(wald):
                text += t("mixres.wald", lang, effect=f"{100 * wald:+.1f}%", low=f"{100 * info['wald_rel_ci_low']:+.1f}%",
                          high=f"{100 * info['wald_rel_ci_high']:+.1f}%")
            lines.append(text + t("segres.period", lang))
        lines += self._monitoring_lines(lang)
        lines += [note_text(n, lang) for n in self.notes]
        return "\n".join(lines)

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import mix

        return mix.card(self, lang)

    def plot(self, ax=None):
        """Weekly metric (ratio of sums over groups) by arm, experiment start marked."""
        import matplotlib.pyplot as plt

        num, den, _ = MIX_METRICS[self.metric]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        weekly = self.weekly.groupby(["arm", "week"])[[num, den]].sum()
        ratio = (weekly[num] / weekly[den]).rename(self.metric).reset_index()
        for arm, sub in ratio.groupby("arm"):
            ax.plot(sub["week"], sub[self.metric], marker="o", label=str(arm))
        ax.axvline(-0.5, color="black", lw=0.8, ls="--")
        ax.set_xlabel("week relative to assignment start")
        ax.set_ylabel(self.metric)
        ax.legend(title="arm")
        ax.set_title(f"{self.experiment_id}: {self.metric} by arm")
        return ax


def _itt_comparison(table: pd.DataFrame, groups: pd.DataFrame, metric: str, adjustment: str, control,
                    alpha: float, correction: str):
    """The intent-to-treat comparison of one metric at group level; returns (ComparisonResult, notes)."""
    from groupstats.stats.compare import compare_arms

    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        if adjustment == "none":
            post = table.loc[(table["period"] == "post") & table["group_id"].isin(groups["group_id"])]
            num, den, _ = MIX_METRICS[metric]
            post = post.loc[post[den] > 0]
            comparison = compare_arms(post, arm="arm", metric=num, kind="ratio", denominator=den,
                                      cluster="group_id", control=control, alpha=alpha, correction=correction,
                                      method="cr2")
        elif adjustment == "cuped":
            comparison = compare_arms(groups, arm="arm", metric="post_num", kind="ratio", denominator="post_den",
                                      covariate="pre_ratio", control=control, alpha=alpha,
                                      correction=correction, method="cr2")
            notes.append("CUPED: each group's experiment-period ratio regressed on arm and its pre-period "
                         "ratio, weighted by its denominator; HC2 standard errors (each group is a cluster).")
        else:
            groups = groups.assign(expected=groups["post_den"] * groups["pre_ratio"])
            if (groups["expected"] <= 0).any():
                raise InsufficientDataError(
                    f"adjustment='did' divides by each group's pre-period {metric}, which is 0 for "
                    f"{', '.join(groups.loc[groups['expected'] <= 0, 'group_id'])}; use adjustment='cuped'.")
            comparison = compare_arms(groups, arm="arm", metric="post_num", kind="ratio", denominator="expected",
                                      control=control, alpha=alpha, correction=correction, method="cr2")
            notes.append("Difference-in-differences on the ratio scale: per arm, the experiment-period total of "
                         "the numerator over its expected value had each group kept its pre-period ratio "
                         "(arm means are these indices; rel_diff is the relative effect); HC2 standard errors "
                         "with groups as units.")
    return comparison, notes


def analyse_mix_experiment(ds: Dataset, experiment_id: str, metric: str = "messages_per_member_day",
                           adjustment: str = "auto", control=None, alpha: float = 0.05,
                           correction: str = "holm", arm_targets: dict | None = None, mapping=None,
                           table: pd.DataFrame | None = None, compliance: bool = True, as_of=None,
                           sequential: bool = False, n_opt: float | None = None,
                           prior_sd: float = 0.3) -> MixExperimentResult:
    """Analyse a group-randomised content-mix experiment (intent-to-treat, group level).

    Parameters
    ----------
    ds : Dataset
        Needs ``assignments`` (and ``posts``; ``events`` for ``read_rate``).
    experiment_id : str
        ``assignments.experiment_id`` of the experiment; each group must have one arm.
    metric : str
        One of :data:`MIX_METRICS`: ``messages_per_member_day``, ``active_share``,
        ``replies_per_post``, ``read_rate``; each a ratio of sums over group-weeks.
    adjustment : {"auto", "cuped", "did", "none"}
        ``cuped``: regression of each group's experiment-period ratio (weighted by its
        denominator) on arm and its pre-period ratio, HC2/CR2 standard errors with groups as
        units; ``did``: difference-in-differences on the ratio scale: per arm, the sum of the
        numerator over its expected value had each group kept its pre-period ratio
        (``sum(num) / sum(den * pre_ratio)``), compared as a ratio of sums (delta method, HC2);
        ``none``: ratio of sums per arm with the cluster delta method (CR2, clusters = groups).
        ``auto``: ``cuped`` when every group has a pre-period, else ``none``.
    control : arm label, optional
        Default ``"control"`` if present, else the first arm in sorted order.
    alpha, correction : see :func:`groupstats.stats.compare.compare_arms`.
    arm_targets : dict, optional
        Target mix per arm for the compliance view (``{arm: "practical:30,..."}``); arms named
        like a preset use it; the control defaults to the pooled pre-period mix.
    mapping : dict or path, optional
        Label mapping for the compliance view.
    table : DataFrame, optional
        A precomputed :func:`mix_experiment_table` (e.g. with re-randomised arms). Without it, the
        table is computed for ``metric`` only (``result.weekly`` has that metric's columns).
    compliance : bool
        Compute the compliance view (needs ``posts``); switch off for fast repeated runs.
    as_of : date or date-time, optional
        Analyse with data up to the end of that day (or that time) only; posts whose outcome
        window runs past it are excluded and counted. Not with ``table``.
    sequential : bool
        Always-valid p-values and confidence sequences (:mod:`groupstats.stats.sequential`),
        with group-days as units.
    n_opt : float, optional
        Group-days at which the confidence sequence is tightest (default: those the assignments plan).
    prior_sd : float
        Prior SD of the relative effect for the Bayesian read-out (:mod:`groupstats.stats.bayes`).

    Returns
    -------
    MixExperimentResult
    """
    if metric not in MIX_METRICS:
        raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(MIX_METRICS)}.")
    if adjustment not in ("auto", "cuped", "did", "none"):
        raise ParameterError(f"adjustment must be 'auto', 'cuped', 'did' or 'none', got {adjustment!r}.")
    if metric == "read_rate" and not ds.has("events"):
        from groupstats.errors import MissingTableError

        raise MissingTableError("events", "the read_rate metric", str(ds.path) if ds.path else None)
    notes: list[str] = []
    cutoff, n_incomplete, planned = None, 0, None
    if sequential:
        from groupstats.stats.sequential import planned_units

        planned = planned_units(_experiment_assignments(ds, experiment_id), "group-randomised")
    if as_of is not None:
        from groupstats.stats.sequential import as_of_cutoff

        if table is not None:
            raise ParameterError("as_of cuts the dataset before the group-week table is built; pass either "
                                 "as_of or a precomputed table, not both.")
        cutoff = min(as_of_cutoff(as_of, ds.tz), ds.end)  # never past the end of the data
        ds = ds.as_of(cutoff)
        if ds.posts is not None and len(ds.posts):
            n_incomplete = int((~post_outcomes(ds, counts=())["complete"]).sum())
        table = mix_experiment_table(ds, experiment_id, complete_posts_only=True, metrics=[metric])
        notes.append(f"As of {cutoff:%Y-%m-%d %H:%M}: only data up to then; {n_incomplete} post(s) whose outcome "
                     "window runs past it were excluded.")
    if table is None:
        table = mix_experiment_table(ds, experiment_id, metrics=[metric])
    groups = _group_level(table, metric)
    if (groups["post_den"] <= 0).any():
        bad = groups.loc[groups["post_den"] <= 0, "group_id"].tolist()
        notes.append(f"Group(s) {', '.join(bad)} have no experiment-period data for {metric}; left out.")
        groups = groups.loc[groups["post_den"] > 0].reset_index(drop=True)
    arms = sorted(groups["arm"].unique())
    if len(arms) < 2:
        raise InsufficientDataError(f"Experiment {experiment_id!r} has fewer than 2 arms with data ({arms}).")
    if control is None:
        control = "control" if "control" in arms else arms[0]
    has_pre = bool((groups["pre_den"] > 0).all())
    if adjustment == "auto":
        adjustment = "cuped" if has_pre else "none"
    if adjustment in ("cuped", "did") and not has_pre:
        raise InsufficientDataError(
            f"adjustment={adjustment!r} needs a pre-period for every group, but "
            f"{int((groups['pre_den'] <= 0).sum())} group(s) have no data before their assignment; "
            "use adjustment='none'.")
    comparison, adj_notes = _itt_comparison(table, groups, metric, adjustment, control, alpha, correction)
    notes += adj_notes
    comparison.metric = metric
    comp_summary, comp_notes = {}, []
    compliance_table = pd.DataFrame()
    if compliance and ds.posts is not None:
        assign = _experiment_assignments(ds, experiment_id)
        assign = assign.assign(arm=assign["group_id"].map(groups.set_index("group_id")["arm"]).fillna(assign["arm"]))
        compliance_table, comp_summary, comp_notes = _mix_dose(ds, assign, arms, control, arm_targets,
                                                         load_mapping(mapping))
        for a, info in comp_summary.get("arms", {}).items():
            row = comparison.comparisons.loc[comparison.comparisons["arm"].astype(str) == a]
            fs = info["first_stage"]
            if len(row) and fs > 0.05:
                r = row.iloc[0]
                info.update({"wald_rel_effect": float(r["rel_diff"]) / fs,
                             "wald_rel_ci_low": float(r["rel_ci_low"]) / fs,
                             "wald_rel_ci_high": float(r["rel_ci_high"]) / fs})
    result = MixExperimentResult(experiment_id, metric, adjustment, comparison, groups, table, compliance_table,
                                 comp_summary, notes + comp_notes)
    return _monitoring_fields(result, table, alpha, correction, planned, n_opt, prior_sd, cutoff, n_incomplete)


def _monitoring_fields(result, table, alpha, correction, planned, n_opt, prior_sd, cutoff, n_incomplete):
    """Add the as-of cutoff, the sequential (always-valid) comparison (when ``planned`` units are
    given) and the Bayesian read-out."""
    from groupstats.stats.bayes import bayes_readout
    from groupstats.stats.sequential import sequential_comparisons, with_comparisons

    result.as_of, result.n_incomplete = cutoff, n_incomplete
    result.sequential = None
    if planned is not None:
        units = int(table.loc[table["period"] == "post", "days"].sum())
        n_opt_used = planned if n_opt is None else n_opt
        result.comparison = with_comparisons(result.comparison, sequential_comparisons(
            result.comparison.comparisons, units, n_opt_used, alpha, correction))
        result.sequential = {"n_units": units, "n_opt": float(n_opt_used), "planned_units": planned,
                             "unit": "group-day",
                             "boundary": float(result.comparison.comparisons["boundary"].iloc[0]),
                             "method": "asymptotic confidence sequence (Waudby-Smith et al.)"}
    result.bayes = bayes_readout(result.comparison.comparisons, alpha=alpha, prior_sd=prior_sd)
    return result


def _catalogue():
    from groupstats.reports.i18n import CATALOGUE

    return CATALOGUE
