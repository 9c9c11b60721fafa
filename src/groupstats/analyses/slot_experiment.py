"""Analysis of posting-slot experiments (switchback or group-randomised) from a dataset.

:func:`analyse_slot_experiment` turns a dataset with ``posts`` and
``assignments`` into one :class:`SlotExperimentResult`:

1. **Outcome per post** (:func:`post_metric_frame`), named

   - ``replies`` (default): member quote-replies to the post within ``window``;
   - ``responses``: member messages in the group within ``window`` (each
     attributed to the latest post before it);
   - ``incremental_responses``: ``responses`` minus the group's usual member
     messages in the same clock window on days when it posted at another
     time (:func:`usual_chatter`): ``responses`` alone mixes the post's effect
     with the hour's usual chatter, which favours the evening by construction;
   - ``responders``: distinct members among the responses;
   - ``read_rate`` / ``click_rate``: distinct readers / clickers within 24 h
     over members present at posting time, a ratio of sums when aggregated
     (needs ``events``).

2. **Arm of each post = its group's assignment at ``posted_at``** (intent to
   treat), whatever the clock time of the post. The share of posts inside
   their arm's slot is reported as *compliance*. Posts outside every
   assignment period are not analysed; with ``washout`` the first hours or
   days of each period are dropped against carryover.

3. **Comparison** with :func:`groupstats.stats.compare.compare_arms`, clustered by
   group (CR2 standard errors with Bell-McCaffrey degrees of freedom, which
   stay honest with 8-30 groups). Switchback designs (a group's arm changes by
   period) compare arms *within* groups: fixed effects of group, period and
   weekday. Group-randomised designs compare groups, with week and weekday
   effects. Holm (default) or Benjamini-Hochberg correction across arms.

4. **SRM check** against the assignments: group-periods per arm, not posts
   (post counts are not randomised).

The conclusion text is generated from the numbers. :func:`switchback_ols_cr2`
is the same estimator vectorised over many outcome vectors for one design; the
power planner (:mod:`groupstats.stats.design`) and the simulation tests use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.analyses.slots import SlotScheme, parse_slots

__all__ = ["METRICS", "analyse_slot_experiment", "SlotExperimentResult", "post_metric_frame",
           "usual_chatter", "assign_arms", "experiment_design", "switchback_ols_cr2", "group_standardise", "holm_adjust"]


@dataclass(frozen=True)
class MetricSpec:
    """How a post-level metric is built and compared."""

    name: str
    column: str               # column of the post frame holding the numerator
    kind: str                 # default kind for compare_arms
    denominator: str | None   # for ratio metrics
    needs: tuple              # tables needed beyond posts
    description: str


#: The metrics of a slot experiment, by name.
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("replies", "replies", "mean", None, (),
               "member quote-replies to the post within the window"),
    MetricSpec("responses", "responses", "mean", None, (),
               "member messages in the group within the window after the post"),
    MetricSpec("incremental_responses", "incremental_responses", "mean", None, (),
               "responses minus the group's usual messages in the same clock window on days it "
               "posted at another time"),
    MetricSpec("responders", "responders", "mean", None, (),
               "distinct members responding within the window"),
    MetricSpec("read_rate", "readers", "ratio", "n_present", ("events",),
               "distinct readers within 24 h over members present (ratio of sums)"),
    MetricSpec("click_rate", "clickers", "ratio", "n_present", ("events",),
               "distinct clickers within 24 h over members present (ratio of sums)"),
)}


def _metric_spec(metric: str) -> MetricSpec:
    if metric not in METRICS:
        raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
    return METRICS[metric]


# ------------------------------------------------------------------------------------------
# outcomes per post
# ------------------------------------------------------------------------------------------
def _local_us(times: pd.Series) -> np.ndarray:
    """Local wall-clock time as int64 microseconds (naive), so day arithmetic is clock arithmetic."""
    return times.dt.tz_localize(None).dt.as_unit("us").to_numpy().astype("int64")


_US_PER_DAY = 86_400_000_000


def usual_chatter(ds: Dataset, posts: pd.DataFrame, window="2h", exclude_red_packets=None,
                  max_pairs: int = 4_000_000) -> pd.DataFrame:
    """The group's usual member messages in each post's clock window on other posting days.

    For a post of group g at clock time t on day D, its responses are counted
    over ``[t, t + L)`` with ``L = min(window, time to g's next post)`` (a later
    post takes over the messages after it). The reference days are the other
    days on which g posted, excluding days where some post of g falls in
    ``(t - window, t + L)`` on that day's clock (its responses would
    contaminate the window). On each reference day d the member messages of g
    in ``[d + t, d + t + L)`` are counted; the baseline is their mean, so
    ``responses - usual_chatter`` compares like with like.

    Parameters
    ----------
    ds : Dataset
    posts : DataFrame with post_id, group_id, posted_at (n rows)
    window : duration
    exclude_red_packets : duration or None
        Drop red-packet bursts from the counted messages, as in
        :func:`groupstats.tables.derived.post_outcomes`.

    Returns
    -------
    DataFrame (n rows, same order) with columns ``usual_chatter`` (float, NaN
    when the group has no reference day) and ``n_reference_days`` (int).
    """
    from groupstats.tables.derived import _count_up_to, _timedelta, member_messages, red_packet_burst_mask

    w = _timedelta(window, "window")
    w_us = int(w / pd.Timedelta(microseconds=1))
    msgs = member_messages(ds)
    if exclude_red_packets is not None and exclude_red_packets is not False:
        quiet = _timedelta("10min" if exclude_red_packets is True else exclude_red_packets,
                           "exclude_red_packets")
        msgs = msgs.loc[~red_packet_burst_mask(ds, msgs, quiet)]
    all_posts = ds.require("posts", "incremental_responses")
    groups = pd.Index(pd.unique(pd.concat([all_posts["group_id"], posts["group_id"],
                                           msgs["group_id"]], ignore_index=True)))
    m_code = groups.get_indexer(msgs["group_id"])
    m_time = _local_us(msgs["sent_at"])
    a_code = groups.get_indexer(all_posts["group_id"])
    a_time = _local_us(all_posts["posted_at"])
    # posting days of each group, sorted by (group, day)
    a_day = a_time // _US_PER_DAY
    days = pd.DataFrame({"g": a_code, "d": a_day}).drop_duplicates().sort_values(["g", "d"])
    day_g, day_d = days["g"].to_numpy(), days["d"].to_numpy()
    first = np.searchsorted(day_g, np.arange(len(groups)), side="left")
    last = np.searchsorted(day_g, np.arange(len(groups)), side="right")

    p_code = groups.get_indexer(posts["group_id"])
    p_time = _local_us(posts["posted_at"])
    # effective window: up to the group's next post (which takes over later messages)
    n_upto = _count_up_to(a_code, a_time, p_code, p_time, inclusive=True)
    a_sorted = np.lexsort((a_time, a_code))
    g_first = np.searchsorted(a_code[a_sorted], np.arange(len(groups)), side="left")
    nxt_pos = g_first[p_code] + n_upto
    has_next = (nxt_pos < len(a_sorted))
    nxt_pos = np.minimum(nxt_pos, len(a_sorted) - 1)
    has_next &= a_code[a_sorted][nxt_pos] == p_code
    gap = np.where(has_next, a_time[a_sorted][nxt_pos] - p_time, w_us)
    p_len = np.minimum(gap, w_us)
    p_day, p_tod = p_time // _US_PER_DAY, p_time % _US_PER_DAY
    n_days = last[p_code] - first[p_code]
    total = np.zeros(len(posts))
    count = np.zeros(len(posts), dtype=np.int64)
    # chunks of posts so the (post, reference day) pairs stay within max_pairs
    bounds = np.searchsorted(np.cumsum(n_days), np.arange(max_pairs, int(n_days.sum()) + max_pairs,
                                                          max_pairs), side="right")
    lo = 0
    for hi in np.unique(np.r_[bounds, len(posts)]):
        if hi <= lo:
            continue
        idx = np.arange(lo, hi)
        reps = n_days[idx]
        pair_post = np.repeat(idx, reps)
        offset = np.arange(len(pair_post)) - np.repeat(np.cumsum(reps) - reps, reps)
        pair_day = day_d[first[p_code[pair_post]] + offset]
        g = p_code[pair_post]
        start = pair_day * _US_PER_DAY + p_tod[pair_post]
        end = start + p_len[pair_post]
        n_msgs = (_count_up_to(m_code, m_time, g, end, inclusive=False)
                  - _count_up_to(m_code, m_time, g, start, inclusive=False))
        n_posts_near = (_count_up_to(a_code, a_time, g, end, inclusive=False)
                        - _count_up_to(a_code, a_time, g, start - w_us, inclusive=True))
        ok = (pair_day != p_day[pair_post]) & (n_posts_near == 0)
        total += np.bincount(pair_post[ok], weights=n_msgs[ok], minlength=len(posts))
        count += np.bincount(pair_post[ok], minlength=len(posts))
        lo = hi
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return pd.DataFrame({"usual_chatter": baseline, "n_reference_days": count}, index=posts.index)


def post_metric_frame(ds: Dataset, metric: str = "replies", window="2h", exclude_red_packets=None,
                      as_of=None) -> pd.DataFrame:
    """Post outcomes (:func:`groupstats.tables.derived.post_outcomes`) with the named metric ready.

    Adds ``incremental_responses`` and ``usual_chatter`` when that metric is
    asked for. Raises :class:`~groupstats.errors.MissingTableError` when the
    metric needs a table the dataset lacks (``read_rate`` needs ``events``).
    """
    from groupstats.tables.derived import post_outcomes

    spec = _metric_spec(metric)
    if as_of is not None:
        ds = ds.as_of(as_of)
    ds.require("posts", "a posting-slot analysis")
    for table in spec.needs:
        ds.require(table, f"the metric '{metric}'")
    frame = post_outcomes(ds, window=window, exclude_red_packets=exclude_red_packets)
    return _with_usual_chatter(ds, frame, metric, window, exclude_red_packets)


def _with_usual_chatter(ds: Dataset, frame: pd.DataFrame, metric: str, window, exclude_red_packets) -> pd.DataFrame:
    """Post outcomes ``frame`` with incremental_responses and usual_chatter added for that metric."""
    if metric == "incremental_responses":
        usual = usual_chatter(ds, frame, window=window, exclude_red_packets=exclude_red_packets)
        frame["usual_chatter"] = usual["usual_chatter"].to_numpy()
        frame["n_reference_days"] = usual["n_reference_days"].to_numpy()
        frame["incremental_responses"] = frame["responses"] - frame["usual_chatter"]
    return frame


# ------------------------------------------------------------------------------------------
# arms, periods, design
# ------------------------------------------------------------------------------------------
def _experiment_assignments(ds: Dataset, experiment: str) -> pd.DataFrame:
    table = ds.require("assignments", f"the analysis of experiment '{experiment}'")
    known = sorted(pd.unique(table["experiment_id"]).tolist())
    rows = table.loc[table["experiment_id"] == experiment]
    if rows.empty:
        raise ParameterError(f"Unknown experiment {experiment!r}: the assignments table has "
                             f"{', '.join(map(repr, known)) or 'no experiments'}. Pass one of these "
                             "with --experiment.")
    return rows.sort_values(["group_id", "start_at"], kind="stable").reset_index(drop=True)


def experiment_design(assignments: pd.DataFrame) -> str:
    """``"switchback"`` if some group changes arm over time, else ``"group-randomised"``."""
    arms_per_group = assignments.groupby("group_id")["arm"].nunique()
    return "switchback" if (arms_per_group > 1).any() else "group-randomised"


def assign_arms(posts: pd.DataFrame, assignments: pd.DataFrame, washout=None) -> pd.DataFrame:
    """Give each post its group's arm at ``posted_at`` (intent to treat).

    Parameters
    ----------
    posts : DataFrame with group_id, posted_at (n rows)
    assignments : DataFrame of one experiment: group_id, arm, start_at, end_at
    washout : duration, optional
        Posts within this time after the start of their assignment period get
        ``in_washout = True``.

    Returns
    -------
    DataFrame (n rows, same index) with columns arm (None outside every
    assignment period), period_start, period_end, in_washout.
    """
    # integer group codes for the as-of join (``by`` on Arrow strings is slow: 4 s at 200k posts)
    codes, _ = pd.factorize(pd.concat([posts["group_id"], assignments["group_id"]], ignore_index=True))
    probe = posts[["posted_at"]].assign(_g=codes[:len(posts)], _row=np.arange(len(posts)))
    probe = probe.sort_values("posted_at", kind="stable")
    right = assignments[["arm", "start_at", "end_at"]].assign(_g=codes[len(posts):])
    right = right.sort_values("start_at", kind="stable")
    merged = pd.merge_asof(probe, right, left_on="posted_at", right_on="start_at", by="_g",
                           direction="backward")
    inside = (merged["arm"].notna() & (merged["posted_at"] < merged["end_at"])).to_numpy()
    out = pd.DataFrame(index=np.arange(len(posts)))
    rows = merged["_row"].to_numpy()
    arm = np.full(len(posts), None, dtype=object)
    arm[rows] = np.where(inside, merged["arm"].to_numpy(dtype=object), None)
    out["arm"] = pd.Series(arm, dtype=object)
    for col in ("start_at", "end_at"):
        values = merged[col].where(inside)
        series = pd.Series(pd.NaT, index=out.index, dtype=merged[col].dtype)
        series.iloc[rows] = values.to_numpy()
        out["period_" + col.split("_")[0]] = series
    if washout is not None:
        from groupstats.tables.derived import _timedelta

        wo = _timedelta(washout, "washout")
        since_start = posts["posted_at"].reset_index(drop=True) - out["period_start"]
        out["in_washout"] = (since_start < wo).to_numpy() & out["arm"].notna().to_numpy()
    else:
        out["in_washout"] = False
    out.index = posts.index
    return out


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


# ------------------------------------------------------------------------------------------
# the analysis
# ------------------------------------------------------------------------------------------
def _comparison_frame(frame: pd.DataFrame, design: str, metric: str) -> tuple[pd.DataFrame, list]:
    """Columns for compare_arms and the fixed effects of the design."""
    out = frame.copy()
    out["weekday"] = out["weekday"].astype("int64").astype("str")
    if design == "switchback":
        out["period"] = out["period_start"].dt.strftime("%Y-%m-%dT%H:%M")
        fixed = ["group_id", "period", "weekday"]
    else:
        first = out["period_start"].min()
        out["period"] = ((out["posted_at"] - first) // pd.Timedelta(days=7)).astype("int64").astype("str")
        fixed = ["period", "weekday"]
    return out, fixed


def analyse_slot_experiment(ds: Dataset, experiment: str, metric: str = "replies", *, window="2h",
                            control=None, alpha: float = 0.05, correction: str = "holm",
                            slots=None, washout=None, exclude_red_packets=None, kind: str | None = None,
                            method: str = "auto", expected_ratio=None, secondary=(),
                            seed: int | None = None, n_boot: int = 2000,
                            standardise: bool | None = None,
                            outcomes: pd.DataFrame | None = None, as_of=None, sequential: bool = False,
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
    outcomes : DataFrame, optional
        The post outcomes of ``ds`` for this ``window`` and ``exclude_red_packets``, already
        computed (:func:`groupstats.tables.derived.post_outcomes` or the identical out-of-core
        :func:`groupstats.tables.scale.post_outcomes`, which the CLI uses for Parquet datasets);
        ``ds`` then only needs its posts and assignments (and messages for
        ``incremental_responses``, events for ``read_rate``/``click_rate``).
    as_of : date or date-time, optional
        Analyse the experiment as it could be analysed then: only data up to the end of that
        day (a date) or that time (:func:`groupstats.stats.sequential.as_of_cutoff`); posts
        whose outcome window runs past it are excluded and counted (``n_incomplete``).
        ``outcomes`` computed on the whole dataset are cut the same way.
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
    cutoff = None
    if as_of is not None:
        # the design and the plan come from the whole schedule; everything else from data up to the cutoff
        # never past the end of the data: windows after it are not observed, so they are not complete
        cutoff = min(as_of_cutoff(as_of, ds.tz), ds.end)
        ds = ds.as_of(cutoff)
        if outcomes is not None:
            outcomes = _cut_outcomes(outcomes, cutoff, window)
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
        frame = post_metric_frame(ds, build_metric, window=window, exclude_red_packets=exclude_red_packets)
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
    cmp_frame, fixed = _comparison_frame(frame, design, metric)
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


# ------------------------------------------------------------------------------------------
# vectorised estimator for simulations
# ------------------------------------------------------------------------------------------
def single_blas_thread():
    """Context manager limiting BLAS to one thread (small matrices; no contention on shared machines).

    Uses ``threadpoolctl`` (installed with scikit-learn) when available, else does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _dummies(codes: np.ndarray) -> np.ndarray:
    levels, inverse = np.unique(codes, return_inverse=True)
    out = np.zeros((len(codes), len(levels)))
    out[np.arange(len(codes)), inverse] = 1.0
    return out[:, 1:]


def switchback_ols_cr2(y: np.ndarray, arm: np.ndarray, cluster: np.ndarray,
                       fixed_effects=(), alpha: float = 0.05, control: int = 0, correction: str = "none") -> dict:
    """The slot-experiment estimator for many outcome vectors of one design at once.

    Cell-means OLS of ``y`` on arm dummies plus fixed-effect dummies, CR2
    (Bell-McCaffrey) covariance clustered by ``cluster``, Bell-McCaffrey
    degrees of freedom, g-computation arm means, a delta-method relative SE and a Fieller relative
    interval: what :func:`groupstats.stats.compare.compare_arms` computes for
    ``kind="mean", cluster=..., fixed_effects=[...]`` (a test checks they
    agree), vectorised over the columns of ``y``.

    Parameters
    ----------
    y : ndarray (n,) or (n, R)
        Outcomes; each column is one replication on the same design.
    arm : ndarray of int (n,)
        Arm code of each row (0..k-1).
    cluster : ndarray (n,)
        Cluster of each row (group).
    fixed_effects : sequence of ndarray (n,)
        Codes of each fixed effect (group, period, weekday...).
    alpha : float
    control : int
        Arm code of the control.
    correction : {"none", "holm", "bonferroni", "bh"}
        As in compare_arms: with a correction, ``p_adjusted`` is added and the intervals are
        multiplicity-adjusted (level ``1 - alpha * p / p_adjusted``, ``ci_level``), the marginal
        ones kept as ``*_unadjusted``.

    Returns
    -------
    dict of ndarray (k-1, R), rows in increasing arm code except the control:
        ``diff, se, df, p_value, ci_low, ci_high, rel_diff, rel_se, rel_ci_low,
        rel_ci_high, arm_mean, control_mean``; plus ``arms`` (k-1,); with a correction also
        ``p_adjusted, ci_level`` and the ``*_unadjusted`` intervals.
    """
    from scipy import stats as sps

    from groupstats.stats.cluster import sandwich
    from groupstats.stats.intervals import fieller_relative

    y = np.asarray(y, dtype=float)
    Y = y.reshape(len(y), -1)
    arm = np.asarray(arm)
    order = np.argsort(np.asarray(cluster), kind="stable")
    Y, arm = Y[order], arm[order]
    clus = pd.factorize(np.asarray(cluster)[order])[0]
    arms = np.unique(arm)
    k_arms = len(arms)
    a_idx = np.searchsorted(arms, arm)
    c_idx = int(np.searchsorted(arms, control))
    blocks = [np.eye(k_arms)[a_idx]] + [_dummies(np.asarray(f)[order]) for f in fixed_effects]
    x = np.hstack(blocks)
    xtx = x.T @ x
    bread = np.linalg.pinv(xtx)
    beta = bread @ (x.T @ Y)
    resid = Y - x @ beta
    fit = sandwich(x, resid[:, 0], clus, "CR2")
    ax, starts = fit._ax, fit._starts        # rows are already in cluster order
    avg = x.mean(axis=0)
    grads = []
    for a in range(k_arms):
        g = avg.copy()
        g[:k_arms] = 0.0
        g[a] = 1.0
        grads.append(g)
    means = np.array([g @ beta for g in grads])            # (k, R)

    def cluster_scores(vec):
        u = ax @ (bread @ vec)
        return np.add.reduceat(u[:, None] * resid, starts, axis=0)   # (G, R)

    s_c = cluster_scores(grads[c_idx])
    out = {key: [] for key in ("diff", "se", "df", "p_value", "ci_low", "ci_high", "rel_diff",
                               "rel_se", "rel_ci_low", "rel_ci_high", "arm_mean", "control_mean")}
    treated = [a for a in range(k_arms) if a != c_idx]
    fieller_vars = ([], [], [])          # var_t, var_c, cov per arm (multiplicity-adjusted Fieller intervals)
    for a in treated:
        contrast = grads[a] - grads[c_idx]
        s_d = cluster_scores(contrast)
        s_t = cluster_scores(grads[a])
        se = np.sqrt((s_d ** 2).sum(axis=0))
        df = fit.df(contrast)
        diff = means[a] - means[c_idx]
        crit = sps.t.ppf(1 - alpha / 2, df)
        mu_t, mu_c = means[a], means[c_idx]
        var_t, var_c, cov = (s_t ** 2).sum(0), (s_c ** 2).sum(0), (s_t * s_c).sum(0)
        for store, v in zip(fieller_vars, (var_t, var_c, cov)):
            store.append(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = mu_t / mu_c - 1
            g_t, g_c = 1 / mu_c, -mu_t / mu_c ** 2
            rel_se = np.sqrt(np.maximum(g_t ** 2 * var_t + g_c ** 2 * var_c + 2 * g_t * g_c * cov, 0))
            stat = diff / se
        out["diff"].append(diff)
        out["se"].append(se)
        out["df"].append(np.full(Y.shape[1], df))
        out["p_value"].append(2 * sps.t.sf(np.abs(stat), df))
        out["ci_low"].append(diff - crit * se)
        out["ci_high"].append(diff + crit * se)
        out["rel_diff"].append(rel)
        out["rel_se"].append(rel_se)
        rel_low, rel_high = fieller_relative(mu_t, mu_c, var_t, var_c, cov, crit)   # as compare_arms
        out["rel_ci_low"].append(rel_low)
        out["rel_ci_high"].append(rel_high)
        out["arm_mean"].append(mu_t)
        out["control_mean"].append(mu_c)
    result = {k: np.vstack(v) for k, v in out.items()}
    if correction != "none":
        from groupstats.stats.sequential import adjust_p

        p = result["p_value"]
        if correction == "holm":
            adj = holm_adjust(p)
        else:
            adj = np.column_stack([adjust_p(p[:, r], correction) for r in range(p.shape[1])])
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.where(adj > 0, alpha * np.minimum(p / adj, 1.0), alpha / len(treated))
        level = np.where(np.isfinite(level), level, alpha)
        crit = sps.t.ppf(1 - level / 2, result["df"])
        for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high"):
            result[col + "_unadjusted"] = result[col]
        result["ci_low"] = result["diff"] - crit * result["se"]
        result["ci_high"] = result["diff"] + crit * result["se"]
        result["rel_ci_low"], result["rel_ci_high"] = fieller_relative(
            result["arm_mean"], result["control_mean"], np.vstack(fieller_vars[0]), np.vstack(fieller_vars[1]),
            np.vstack(fieller_vars[2]), crit)
        result["p_adjusted"], result["ci_level"] = adj, 1 - level
    result["arms"] = arms[treated]
    return result


def group_standardise(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rescale each group's outcomes to the overall mean: ``y * mean(y) / mean_g(y)``.

    Used for switchback designs (every group sees every arm): every group then
    weighs equally in the comparison, whatever its activity level, and the
    arm-to-control ratio is unchanged when the slot effect is multiplicative.
    Without it, a few very active groups dominate both the estimate and its
    standard error, which makes the test conservative and weak (see the
    simulation tests).

    Parameters
    ----------
    y : ndarray (n,) or (n, R)
    groups : ndarray (n,)

    Returns
    -------
    ndarray like ``y``; NaN where a group's mean is not positive.
    """
    y = np.asarray(y, dtype=float)
    Y = y.reshape(len(y), -1)
    codes = pd.factorize(np.asarray(groups))[0]
    counts = np.bincount(codes)
    means = np.stack([np.bincount(codes, Y[:, r]) / counts for r in range(Y.shape[1])], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(means[codes] > 0, Y * Y.mean(axis=0) / means[codes], np.nan)
    return out.reshape(y.shape)


def holm_adjust(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along axis 0 (comparisons) for each column (replication)."""
    p = np.atleast_2d(p)
    m = p.shape[0]
    order = np.argsort(p, axis=0)
    sorted_p = np.take_along_axis(p, order, axis=0)
    factors = (m - np.arange(m))[:, None]
    adj = np.minimum(np.maximum.accumulate(sorted_p * factors, axis=0), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=0)
    return out
