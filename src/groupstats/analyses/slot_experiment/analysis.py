"""analyse_slot_experiment: outcomes, arms and the clustered comparison of a slot experiment, with the
as-of cutoff and the monitoring read-outs."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import post_outcomes
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.analyses.slots import SlotScheme, parse_slots

from groupstats.analyses.slot_experiment.outcomes import (METRICS, MetricSpec, _metric_spec,
                                                          _with_usual_chatter, outcome_counts, post_metric_frame)
from groupstats.analyses.slot_experiment.arms import _experiment_assignments, assign_arms, experiment_design
from groupstats.analyses.slot_experiment.result import SlotExperimentResult
from groupstats.analyses.slot_experiment.simulation import group_standardise, single_blas_thread


# ------------------------------------------------------------------------------------------
# the analysis
# ------------------------------------------------------------------------------------------
def _period_labels(starts: pd.Series) -> pd.Series:
    """``starts`` formatted as ``%Y-%m-%dT%H:%M``, each distinct period start formatted once (a switchback
    has a few hundred periods and up to millions of posts)."""
    codes, uniques = pd.factorize(starts)
    if (codes < 0).any():
        return starts.dt.strftime("%Y-%m-%dT%H:%M")
    labels = pd.Series(uniques).dt.strftime("%Y-%m-%dT%H:%M")
    return pd.Series(labels.to_numpy()[codes], index=starts.index, dtype=labels.dtype, name=starts.name)


def _comparison_frame(frame: pd.DataFrame, design: str, values: list) -> tuple[pd.DataFrame, list]:
    """The frame compare_arms reads (arm, group_id, the fixed effects and the ``values`` columns, nothing
    else: at 100M messages the posts' other columns doubled the analysis's peak memory) and the fixed
    effects of the design."""
    out = frame[["arm", "group_id", *dict.fromkeys(c for c in values if c not in ("arm", "group_id"))]].copy()
    out["weekday"] = frame["weekday"].astype("int64").astype("str")
    if design == "switchback":
        out["period"] = _period_labels(frame["period_start"])
        fixed = ["group_id", "period", "weekday"]
    else:
        first = frame["period_start"].min()
        out["period"] = ((frame["posted_at"] - first) // pd.Timedelta(days=7)).astype("int64").astype("str")
        fixed = ["period", "weekday"]
    return out, fixed


def analyse_slot_experiment(ds: Dataset, experiment: str, metric: str = "replies", *, window="2h",
                            control=None, alpha: float = 0.05, correction: str = "holm",
                            slots=None, washout=None, exclude_red_packets=None, kind: str | None = None,
                            method: str = "auto", expected_ratio=None, secondary=(),
                            seed: int | None = None, n_boot: int = 2000,
                            standardise: bool | None = None, as_of=None, sequential: bool = False,
                            n_opt: float | None = None, prior_sd: float = 0.3) -> SlotExperimentResult:
    """Analyse a posting-slot experiment of ``ds``.

    Parameters
    ----------
    ds : Dataset
        Needs ``posts`` and ``assignments``; ``read_rate``/``click_rate`` need ``events``.
    experiment : str
        ``experiment_id`` in ``assignments``.
    metric : str
        Declared primary metric, one of :data:`METRICS` (default ``replies``).
    window : duration
        Response window after each post (default ``"2h"``).
    control : str, optional
        Control arm (default: ``morning`` if it is an arm, else the first arm in sorted order).
    alpha, correction
        Level and multiple-comparison correction across arms (``holm``, ``bh``,
        ``bonferroni``, ``none``).
    slots : spec for :func:`groupstats.analyses.slots.parse_slots`, optional
        Slot definitions used for compliance (default 07-09 / 12-14 / 19-21).
    washout : duration, optional
        Drop posts within this time after the start of each assignment period.
    exclude_red_packets : duration or True, optional
        Exclude red packets and the member messages within this time after
        them from response metrics (True = 10 min).
    kind : str, optional
        Override the metric's comparison kind (e.g. ``"count"`` for Poisson
        rate ratios of replies; default ``mean``, ratio for rates).
    method : str
        Inference method of :func:`~groupstats.stats.compare.compare_arms` (``auto`` = CR2).
    expected_ratio : dict, optional
        Planned allocation of group-periods per arm for the SRM check (equal by default).
    secondary : sequence of str
        Further metrics, reported as exploratory.
    seed : int, optional
        Seed for anything random (``method="bootstrap"`` or ``"wild"``, the wild
        cluster bootstrap with Webb weights).
    standardise : bool, optional
        Rescale each group's outcomes to the overall mean before comparing
        (:func:`group_standardise`); default True for switchback designs and
        mean-type metrics, never for group-randomised designs.
    as_of : date or date-time, optional
        Analyse the experiment as it could be analysed then: only data up to the end of that
        day (a date) or that time (:func:`groupstats.stats.sequential.as_of_cutoff`); posts
        whose outcome window runs past it are excluded and counted (``n_incomplete``). The post
        outcomes of the whole dataset are computed once (on its engine) and cut at each date, so
        looking at many dates (:func:`groupstats.analyses.monitor.monitor_experiment`) is cheap.
    sequential : bool
        Always-valid p-values and confidence sequences
        (:func:`groupstats.stats.sequential.sequential_comparisons`) in place of the
        fixed-horizon ones, valid however often the experiment is looked at.
    n_opt : float, optional
        Tuning of the confidence sequence: the number of units (group-periods for a
        switchback, group-days for a group-randomised design) at which it is tightest;
        default the number the assignments plan (:func:`groupstats.stats.sequential.planned_units`).
    prior_sd : float
        Prior SD of the relative effect for the Bayesian read-out (:mod:`groupstats.stats.bayes`).

    Returns
    -------
    SlotExperimentResult

    Raises
    ------
    MissingTableError
        No posts / assignments, or the metric needs events and there are none.
    ParameterError
        Unknown experiment, metric, control; bad window or washout.
    InsufficientDataError
        An assigned arm has no posts, or too few groups.
    """
    from groupstats.stats.compare import compare_arms
    from groupstats.stats.sequential import as_of_cutoff, planned_units

    spec = _metric_spec(metric)
    for extra in secondary:
        _metric_spec(extra)
    scheme: SlotScheme = parse_slots(slots)
    ds.require("posts", "a posting-slot analysis")
    assignments = _experiment_assignments(ds, experiment)
    design = experiment_design(assignments)
    planned = planned_units(assignments, design)
    # only the post outcome counts the metrics are built from (replies need no scan of the events)
    counts = outcome_counts([spec, *secondary])
    cutoff, outcomes = None, None
    if as_of is not None:
        # the design and the plan come from the whole schedule; everything else from data up to the cutoff
        # never past the end of the data: windows after it are not observed, so they are not complete
        cutoff = min(as_of_cutoff(as_of, ds.tz), ds.end)
        outcomes = _cut_outcomes(post_outcomes(ds, window=window, exclude_red_packets=exclude_red_packets,
                                               counts=counts), cutoff, window)
        ds = ds.as_of(cutoff)
        if ds.assignments is None or not (ds.assignments["experiment_id"] == experiment).any():
            raise InsufficientDataError(f"Experiment {experiment!r} had not started by {cutoff:%Y-%m-%d %H:%M} "
                                        f"(--as-of {as_of}); nothing to analyse yet.")
        assignments = _experiment_assignments(ds, experiment)
    assigned_arms = sorted(pd.unique(assignments["arm"]).tolist())
    if control is None:
        control = "morning" if "morning" in assigned_arms else assigned_arms[0]
    elif control not in assigned_arms:
        raise ParameterError(f"Control arm {control!r} is not an arm of experiment {experiment!r}; "
                             f"its arms are {', '.join(assigned_arms)}.")
    needed = [spec] + [METRICS[m] for m in secondary]
    for s in needed:
        for table in s.needs:
            ds.require(table, f"the metric '{s.name}'")
    build_metric = "incremental_responses" if "incremental_responses" in [s.name for s in needed] \
        else metric
    if outcomes is None:
        frame = post_metric_frame(ds, build_metric, window=window, exclude_red_packets=exclude_red_packets,
                                  counts=counts)
    else:
        frame = _with_usual_chatter(ds, outcomes.copy(), build_metric, window, exclude_red_packets)
    arms = assign_arms(frame, assignments, washout=washout)
    frame = pd.concat([frame, arms], axis=1)
    n_total = len(frame)
    outside = frame["arm"].isna().to_numpy()
    washed = frame["in_washout"].to_numpy()
    incomplete = ~frame["complete"].to_numpy() & ~outside
    keep = ~outside & ~washed & ~incomplete
    notes = []
    for col in {s.column for s in needed} | {s.denominator for s in needed if s.denominator}:
        missing = frame[col].isna().to_numpy() & keep
        if missing.any():
            notes.append(f"{int(missing.sum())} post(s) without a value of '{col}' were dropped "
                         "(e.g. no reference day for the usual chatter).")
            keep &= ~missing
    frame = frame.loc[keep].reset_index(drop=True)
    posts_per_arm = frame["arm"].value_counts()
    empty = [a for a in assigned_arms if posts_per_arm.get(a, 0) == 0]
    if empty:
        raise InsufficientDataError(
            f"Arm(s) {', '.join(map(repr, empty))} of experiment {experiment!r} have no analysable posts "
            f"(posts inside their assignment periods{', after the washout' if washout else ''}). Check that "
            "posts were logged for every arm, or drop the arm from the assignments.")
    if frame["group_id"].nunique() < 3:
        raise InsufficientDataError(f"Only {frame['group_id'].nunique()} group(s) have posts in experiment "
                                    f"{experiment!r}; a clustered comparison needs at least 3 groups.")
    in_slot = np.asarray(scheme.label(frame["posted_at"]) == frame["arm"].to_numpy(dtype=object))
    frame["in_slot"] = in_slot
    slot_arms = [a for a in assigned_arms if a in scheme.names]
    compliance = frame.groupby("arm").agg(n_posts=("post_id", "size"), in_slot=("in_slot", "sum"))
    compliance = compliance.reindex(assigned_arms).reset_index()
    compliance["compliance"] = np.where(compliance["arm"].isin(slot_arms),
                                        compliance["in_slot"] / compliance["n_posts"], np.nan)
    slot_posts = frame["arm"].isin(slot_arms).to_numpy()
    overall_compliance = float(in_slot[slot_posts].mean()) if slot_posts.any() else float("nan")
    if not slot_arms:
        notes.append("The arms are not slot names, so compliance with a posting slot is not reported.")

    # SRM against the assignments: group-periods per arm that started before the end of the data
    started = assignments.loc[assignments["start_at"] <= ds.end]
    allocation = started.groupby("arm").size().reindex(assigned_arms, fill_value=0)
    cmp_frame, fixed = _comparison_frame(
        frame, design, [s.column for s in needed] + [s.denominator for s in needed if s.denominator])
    if standardise is None:
        standardise = design == "switchback"
    if standardise and design != "switchback":
        raise ParameterError("standardise=True rescales each group to the overall mean, which would remove "
                             "the effect of a group-randomised design; use it for switchbacks only.")
    standardised = []

    def run(s: MetricSpec):
        use_kind = kind if (kind is not None and s is spec) else s.kind
        column = s.column
        if standardise and use_kind == "mean":
            values = group_standardise(cmp_frame[s.column].to_numpy(float), cmp_frame["group_id"].to_numpy())
            if np.isfinite(values).all():
                column = s.column + "_standardised"
                cmp_frame[column] = values
                standardised.append(s.name)
            else:
                notes.append(f"'{s.name}' has groups with a mean <= 0, so it was not group-standardised.")
        return compare_arms(cmp_frame, arm="arm", metric=column, kind=use_kind,
                            denominator=s.denominator if use_kind == "ratio" else None,
                            control=control, cluster="group_id", fixed_effects=fixed, alpha=alpha,
                            correction=correction, method=method, expected_ratio=expected_ratio,
                            allocation=allocation.to_dict(), n_boot=n_boot, seed=seed)

    with single_blas_thread():
        primary = run(spec)
    primary.metric = metric
    secondary_results = {}
    for name in secondary:
        if name == metric:
            continue
        with single_blas_thread():
            res = run(METRICS[name])
        res.metric = name
        secondary_results[name] = res
    if standardised:
        notes.append(f"{', '.join(standardised)} were group-standardised (each group's posts rescaled to the "
                     "overall mean) so every group weighs equally; arm means are per post of an average "
                     "group and relative effects are unchanged by the rescaling.")
    if washout is not None:
        notes.append(f"Washout: {int(washed.sum())} post(s) in the first {washout} of their period were "
                     "dropped against carryover.")
    if outside.any():
        notes.append(f"{int(outside.sum())} post(s) outside every assignment period of the experiment "
                     "were not analysed.")
    if incomplete.any():
        notes.append(f"{int(incomplete.sum())} post(s) whose window runs past the end of the data"
                     + (f" (as of {cutoff:%Y-%m-%d %H:%M})" if cutoff is not None else "") + " were dropped.")
    units = _observed_units(frame, design, ds.tz)
    sequential_info = None
    if sequential:
        from groupstats.stats.sequential import sequential_comparisons, with_comparisons

        n_opt_used = planned if n_opt is None else n_opt
        primary = with_comparisons(primary, sequential_comparisons(primary.comparisons, units, n_opt_used, alpha,
                                                                   correction))
        secondary_results = {name: with_comparisons(r, sequential_comparisons(r.comparisons, units, n_opt_used,
                                                                              alpha, correction))
                             for name, r in secondary_results.items()}
        sequential_info = {"n_units": units, "n_opt": float(n_opt_used), "planned_units": planned,
                           "unit": "group-period" if design == "switchback" else "group-day",
                           "boundary": float(primary.comparisons["boundary"].iloc[0])
                           if len(primary.comparisons) else None,
                           "method": "asymptotic confidence sequence (Waudby-Smith et al.)"}
    from groupstats.stats.bayes import bayes_readout

    bayes = bayes_readout(primary.comparisons, alpha=alpha, prior_sd=prior_sd)
    summary = {
        "n_groups": int(frame["group_id"].nunique()),
        "n_periods": int(frame["period_start"].nunique()) if design == "switchback"
        else int(cmp_frame["period"].nunique()),
        "n_posts": int(len(frame)), "n_posts_total": int(n_total),
        "n_outside_experiment": int(outside.sum()), "n_washout": int(washed.sum()),
        "n_incomplete": int(incomplete.sum()),
        "n_assignments": int(len(assignments)),
        "allocation": {str(k): int(v) for k, v in allocation.items()},
        "compliance": overall_compliance,
        "window": str(window), "washout": None if washout is None else str(washout),
        "exclude_red_packets": None if exclude_red_packets is None else str(exclude_red_packets),
        "slots": scheme.to_dict(), "seed": seed,
        "start": frame["posted_at"].min(), "end": frame["posted_at"].max(),
        "fixed_effects": fixed,
        "as_of": cutoff, "n_units": units, "planned_units": planned,
    }
    return SlotExperimentResult(experiment=experiment, design=design, metric=metric, comparison=primary,
                                compliance=compliance, secondary=secondary_results, summary=summary,
                                notes=notes, sequential=sequential_info, bayes=bayes)


def _cut_outcomes(outcomes: pd.DataFrame, cutoff: pd.Timestamp, window) -> pd.DataFrame:
    """Post outcomes computed on the whole data, as of ``cutoff``: later posts dropped, ``complete``
    only for posts whose outcome window (replies, and reads when there are events) ends by the cutoff.

    The counts of a post whose windows end by the cutoff only use data up to it, so they equal
    those computed on the cut dataset."""
    from groupstats.tables.derived import _timedelta

    attrs = dict(outcomes.attrs)
    out = outcomes.loc[outcomes["posted_at"] <= cutoff].copy()
    out.attrs.update(attrs)
    span = _timedelta(window, "window")
    if attrs.get("has_events", True):
        span = max(span, _timedelta(attrs.get("read_window", "24h"), "read_window"))
    out["complete"] = out["complete"].to_numpy(bool) & (out["posted_at"] + span <= cutoff).to_numpy()
    return out


def _observed_units(frame: pd.DataFrame, design: str, tz: str) -> int:
    from groupstats.stats.sequential import observed_units

    return observed_units(frame, design, tz=tz)
