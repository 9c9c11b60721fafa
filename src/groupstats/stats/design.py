"""Design of posting-slot experiments: schedules, randomisation and power.

- :func:`switchback_schedule`: every group switches arm each period, in a
  balanced order. Groups are sorted by size and cut into strata of
  ``len(arms)`` groups; inside a stratum the groups start at different points
  of a random cyclic order of the arms, so in every period each stratum has
  each arm once (size is balanced across arms in every period) and each group
  gets every arm equally often.
- :func:`randomise_groups`: group-randomised design (a group keeps one arm),
  stratified by size the same way (a random permutation of the arms inside
  each stratum).
- Both return an ``assignments`` table (experiment_id, group_id, arm,
  start_at, end_at) in the dataset's timezone; :func:`write_assignments`
  adds it to a dataset folder or writes it to a file.
- :func:`plan_slot_experiment`: minimum detectable effect and power by
  simulation from the analyst's own post outcomes: each simulated experiment
  rebuilds every group's weeks by drawing whole historical weeks of that same
  group (a block bootstrap), so group-to-group and week-to-week variance are
  the real ones; it assigns arms with the design above, plants the effect and
  analyses with the estimator of :mod:`groupstats.analyses.slot_experiment`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.data.schema import DEFAULT_TZ
from groupstats.data.dataset import non_operator_members

DESIGNS = ("switchback", "group-randomised")


# ------------------------------------------------------------------------------------------
# arm matrices (integer codes), shared by the schedules and the power simulation
# ------------------------------------------------------------------------------------------
def _strata(sizes: np.ndarray, n_arms: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Groups sorted by size (ties broken at random) and cut into blocks of n_arms."""
    order = np.lexsort((rng.random(len(sizes)), sizes))
    return [order[i:i + n_arms] for i in range(0, len(order), n_arms)]


def switchback_arm_matrix(sizes: np.ndarray, n_arms: int, n_periods: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Arm code of each group in each period, shape (n_groups, n_periods).

    Each size stratum gets its own random cyclic order of the arms; its groups
    start at distinct offsets of that cycle (randomly assigned), and the
    first period of each group is random within the cycle.
    """
    sizes = np.asarray(sizes, dtype=float)
    out = np.empty((len(sizes), n_periods), dtype=np.int64)
    for block in _strata(sizes, n_arms, rng):
        cycle = rng.permutation(n_arms)
        offsets = rng.permutation(n_arms)[:len(block)]
        steps = (offsets[:, None] + np.arange(n_periods)[None, :]) % n_arms
        out[block] = cycle[steps]
    return out


def group_arm_vector(sizes: np.ndarray, n_arms: int, rng: np.random.Generator) -> np.ndarray:
    """Arm code of each group for a group-randomised design stratified by size, shape (n_groups,)."""
    sizes = np.asarray(sizes, dtype=float)
    out = np.empty(len(sizes), dtype=np.int64)
    leftover = rng.permutation(n_arms)   # incomplete last stratum: arms not yet over-used
    for block in _strata(sizes, n_arms, rng):
        if len(block) == n_arms:
            out[block] = rng.permutation(n_arms)
        else:
            out[block] = leftover[:len(block)]
    return out


def _check_arms(arms) -> list[str]:
    arms = [str(a).strip() for a in (arms.split(",") if isinstance(arms, str) else arms)]
    arms = [a for a in arms if a]
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ParameterError(f"Give at least two distinct arms (got {arms}); e.g. morning,noon,evening.")
    return arms


def _groups_and_sizes(groups, sizes) -> tuple[np.ndarray, np.ndarray]:
    group_ids = np.asarray([str(g) for g in groups], dtype=object)
    if len(group_ids) < 2 or len(set(group_ids)) != len(group_ids):
        raise ParameterError("Give at least two distinct group ids.")
    if sizes is None:
        sizes = np.zeros(len(group_ids))
    elif isinstance(sizes, (dict, pd.Series)):
        sizes = np.array([float(dict(sizes).get(g, 0)) for g in group_ids])
    sizes = np.asarray(sizes, dtype=float)
    if sizes.shape != group_ids.shape:
        raise ParameterError(f"sizes has {sizes.size} value(s) for {len(group_ids)} groups.")
    return group_ids, sizes


def _start(start, tz: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"start {start!r} is not a date; use ISO format, e.g. 2026-06-01.") from exc
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def switchback_schedule(groups, arms, start, n_periods: int, period="7D", sizes=None, seed: int = 0,
                        experiment_id: str = "slot_switchback", tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """A balanced switchback schedule as an ``assignments`` table.

    Parameters
    ----------
    groups : sequence of group ids (G)
    arms : sequence of str or "a,b,c" (k)
    start : date/time of the first period (local time in ``tz`` if naive)
    n_periods : int
        Number of periods (e.g. weeks).
    period : duration, default "7D"
    sizes : array (G,) or {group_id: size}, optional
        Group sizes for stratification (e.g. members); equal if omitted.
    seed : int
    experiment_id : str
    tz : str

    Returns
    -------
    DataFrame of shape (G * n_periods, 5): experiment_id, group_id, arm, start_at, end_at.
    """
    arms = _check_arms(arms)
    group_ids, sizes = _groups_and_sizes(groups, sizes)
    if int(n_periods) < len(arms):
        raise ParameterError(f"A switchback needs at least one period per arm ({len(arms)}); got "
                             f"{n_periods}.")
    step = pd.Timedelta(period)
    if step <= pd.Timedelta(0):
        raise ParameterError(f"period must be positive, got {period!r}.")
    rng = np.random.default_rng(seed)
    codes = switchback_arm_matrix(sizes, len(arms), int(n_periods), rng)
    first = _start(start, tz)
    starts = pd.Series([first + i * step for i in range(int(n_periods))])
    return pd.DataFrame({
        "experiment_id": experiment_id,
        "group_id": np.repeat(group_ids, n_periods),
        "arm": np.asarray(arms, dtype=object)[codes.ravel()],
        "start_at": np.tile(starts.to_numpy(), len(group_ids)),
        "end_at": np.tile((starts + step).to_numpy(), len(group_ids)),
    }).astype({"start_at": f"datetime64[us, {tz}]", "end_at": f"datetime64[us, {tz}]"})


def randomise_groups(groups, arms, start, end, sizes=None, seed: int = 0,
                     experiment_id: str = "slot_groups", tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """A group-randomised design stratified by size, as an ``assignments`` table.

    Returns
    -------
    DataFrame of shape (G, 5): experiment_id, group_id, arm, start_at, end_at.
    """
    arms = _check_arms(arms)
    group_ids, sizes = _groups_and_sizes(groups, sizes)
    t0, t1 = _start(start, tz), _start(end, tz)
    if t1 <= t0:
        raise ParameterError(f"end ({end}) must be after start ({start}).")
    codes = group_arm_vector(sizes, len(arms), np.random.default_rng(seed))
    return pd.DataFrame({
        "experiment_id": experiment_id, "group_id": group_ids,
        "arm": np.asarray(arms, dtype=object)[codes],
        "start_at": t0, "end_at": t1,
    }).astype({"start_at": f"datetime64[us, {tz}]", "end_at": f"datetime64[us, {tz}]"})


def write_assignments(assignments: pd.DataFrame, path, replace: bool = False) -> Path:
    """Write an assignments table.

    ``path`` ending in ``.csv`` or ``.parquet`` is written as that file. A
    folder is treated as a dataset: the rows are added to its assignments
    table (created if absent); an experiment id already there is refused
    unless ``replace``.
    """
    from groupstats.data.dataset import load_dataset

    path = Path(path)
    if path.suffix.lower() in (".csv", ".parquet"):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            assignments.to_csv(path, index=False)
        else:
            assignments.to_parquet(path, index=False)
        return path
    if not path.is_dir():
        raise ParameterError(f"{path} is neither a dataset folder nor a .csv/.parquet file name.")
    ds = load_dataset(path)
    existing = ds.assignments
    new_ids = set(assignments["experiment_id"])
    if existing is not None:
        clash = new_ids & set(existing["experiment_id"])
        if clash and not replace:
            raise ParameterError(f"Experiment(s) {sorted(clash)} already in {path}'s assignments; choose "
                                 "another --experiment-id or pass replace=True (--replace).")
        existing = existing.loc[~existing["experiment_id"].isin(new_ids)]
        table = pd.concat([existing, assignments], ignore_index=True)
    else:
        table = assignments
    ds.assignments = table
    fmt = "csv" if (path / "messages.csv").exists() else "parquet"
    # validate the whole dataset with the new table before writing
    from groupstats.data.dataset import Dataset

    Dataset.from_frames(tz=ds.tz, **ds.tables)
    ds.save(path, format=fmt)
    return path


# ------------------------------------------------------------------------------------------
# power
# ------------------------------------------------------------------------------------------
@dataclass(repr=False)
class PowerPlan(Result):
    """Result of :func:`plan_slot_experiment`.

    Attributes
    ----------
    design, metric, control : str
    arms : list of str
    n_groups, weeks, n_sims : int
    mde : float
        Relative effect asked about (e.g. 0.10 = +10%).
    alpha, power : float
    control_mean : float
        Mean of the metric per post in the history.
    posts_per_group_week : float
    mde_rel : float
        Relative minimum detectable effect at ``power``: the effect at which the
        null replications, shifted by it and tested as the analysis does (CR2,
        Bell-McCaffrey df, Holm across arms), are significant with
        probability ``power``.
    power_at_mde : float
        Simulated share of experiments where an arm with effect ``mde``
        is significant (Holm-adjusted across arms).
    sd_rel : float
        Simulated SD of the relative effect estimate under no effect.
    weeks_needed, groups_needed : int
        Approximate weeks (with these groups) or groups (with these weeks) to
        detect ``mde`` at ``power`` (MDE scales as 1/sqrt(size)).
    false_positive_rate : float
        Simulated share of significant results with no effect (should be near alpha).
    start, end : Timestamp or None
        Planned first day and planned end (exclusive: the day after the last day) when the
        plan was made from dates (:func:`planned_weeks`); the monitoring report reads the
        planned duration from them or from the written assignments.
    """

    design: str
    metric: str
    control: str
    arms: list
    n_groups: int
    weeks: int
    n_sims: int
    mde: float
    alpha: float
    power: float
    control_mean: float
    posts_per_group_week: float
    mde_rel: float
    power_at_mde: float
    sd_rel: float
    weeks_needed: int
    groups_needed: int
    false_positive_rate: float
    seed: int | None = None
    assignments: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    title = "Posting-slot experiment plan (simulated from your own post history)"

    def to_frame(self) -> pd.DataFrame:
        rows = [("design", self.design), ("arms", ", ".join(self.arms)), ("control", self.control),
                ("metric", self.metric), ("groups", self.n_groups), ("weeks", self.weeks),
                ("posts per group-week (history)", round(self.posts_per_group_week, 1)),
                ("control mean per post (history)", round(self.control_mean, 4)),
                ("minimum detectable effect (relative)", f"{100 * self.mde_rel:.1f}%"),
                (f"power at +{100 * self.mde:g}%", f"{100 * self.power_at_mde:.0f}%"),
                ("false-positive rate (simulated)", f"{100 * self.false_positive_rate:.1f}%"),
                (f"weeks needed for +{100 * self.mde:g}% (approx.)", self.weeks_needed),
                (f"groups needed for +{100 * self.mde:g}% in {self.weeks} weeks (approx.)", self.groups_needed),
                ("simulations", self.n_sims)]
        if self.start is not None and self.end is not None:
            rows.insert(5, ("planned dates", f"{self.start:%Y-%m-%d} to "
                                             f"{self.end - pd.Timedelta(days=1):%Y-%m-%d}"))
        return pd.DataFrame(rows, columns=["quantity", "value"]).astype({"value": "str"})

    def to_dict(self) -> dict:
        keys = ("design", "metric", "control", "arms", "n_groups", "weeks", "n_sims", "mde", "alpha",
                "power", "control_mean", "posts_per_group_week", "mde_rel", "power_at_mde", "sd_rel",
                "weeks_needed", "groups_needed", "false_positive_rate", "seed", "notes")
        out = {k: getattr(self, k) for k in keys}
        out["start"], out["end"] = self.start, self.end
        out["conclusion"] = self.conclusion()
        if self.assignments is not None:
            out["n_assignments"] = len(self.assignments)
        return to_jsonable(out)

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("powerplan.title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        """The plan as (quantity, value) rows in ``lang``."""
        from groupstats.reports.i18n import arm_name, fmt_num, fmt_pct, join, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        target = fmt_pct(self.mde, lang, digits=0, signed=True)
        design_key = f"ab.design.{self.design}"
        rows = [("design", t(design_key, lang) if design_key in _catalogue() else self.design),
                ("arms", join([arm_name(a, lang) for a in self.arms], lang)),
                ("control", arm_name(self.control, lang)), ("metric", translate_metric(self.metric, lang)),
                ("groups", fmt_num(self.n_groups, lang)), ("weeks", fmt_num(self.weeks, lang)),
                ("posts", fmt_num(self.posts_per_group_week, lang)), ("control_mean", fmt_num(self.control_mean, lang)),
                ("mde", fmt_pct(self.mde_rel, lang)), ("power_at", fmt_pct(self.power_at_mde, lang, digits=0)),
                ("fpr", fmt_pct(self.false_positive_rate, lang)), ("weeks_needed", fmt_num(self.weeks_needed, lang)),
                ("groups_needed", fmt_num(self.groups_needed, lang)), ("sims", fmt_num(self.n_sims, lang))]
        if self.start is not None and self.end is not None:
            rows.insert(5, ("dates", t("powerplan.dates", lang, start=f"{self.start:%Y-%m-%d}",
                                       end=f"{self.end - pd.Timedelta(days=1):%Y-%m-%d}")))
        return pd.DataFrame({t("powerplan.col.quantity", lang): [t(f"powerplan.q.{k}", lang, target=target,
                                                                   weeks=self.weeks) for k, _ in rows],
                             t("powerplan.col.value", lang): [v for _, v in rows]})

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import arm_name, join, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        enough = self.power_at_mde >= self.power
        values = dict(groups=self.n_groups, weeks=self.weeks, design=self.design,
                      arms=join([arm_name(a, lang) for a in self.arms], lang),
                      metric=translate_metric(self.metric, lang), power=f"{100 * self.power:.0f}%",
                      alpha=f"{self.alpha:g}", mde_rel=f"{100 * self.mde_rel:.1f}%", target=f"{100 * self.mde:g}%",
                      power_at=f"{100 * self.power_at_mde:.0f}%", weeks_needed=self.weeks_needed,
                      groups_needed=self.groups_needed)
        design_key = f"audit.design.{self.design}"
        if design_key in _catalogue():
            values["design"] = t(design_key, lang)
        return t("powerplan.conclusion", lang, **values) + \
            t("powerplan.enough" if enough else "powerplan.not_enough", lang, **values)

    def conclusion_card(self, lang: str | None = None, target: float | None = None):
        """The planning report's conclusion card: can this plan detect ``target`` (default: ``mde``)?"""
        from groupstats.reports.card import ConclusionCard
        from groupstats.reports.i18n import fmt_pct, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        target = self.mde if target is None else target
        answer = "supported" if self.mde_rel <= target else "needs_more_data"
        goal = fmt_pct(target, lang, digits=0)
        key = t("plan.key", lang, groups=self.n_groups, weeks=self.weeks, mde=fmt_pct(self.mde_rel, lang, digits=0),
                metric=translate_metric(self.metric, lang))
        nxt = t("plan.next", lang, target=goal, weeks=self.weeks_needed, groups=self.groups_needed,
                now_groups=self.n_groups, now_weeks=self.weeks)
        caveat = t("plan.caveat", lang, fpr=fmt_pct(self.false_positive_rate, lang), sims=self.n_sims)
        return ConclusionCard(question=t("plan.question", lang, target=goal), answer=answer, key_number=key,
                              next_step=nxt, caveat=caveat, lang=lang)


def _catalogue():
    from groupstats.reports.i18n import CATALOGUE

    return CATALOGUE


def planned_weeks(start, end, tz: str, design: str = "switchback") -> tuple[pd.Timestamp, pd.Timestamp, int, list]:
    """Whole weeks from the planned first day ``start`` to the planned last day ``end`` (inclusive).

    Returns
    -------
    (first, stop, weeks, notes)
        ``first`` the start (local midnight), ``stop`` the planned end (exclusive: midnight
        after the last day a switchback's whole weeks cover, or after ``end`` for a
        group-randomised design), ``weeks`` the number of weekly periods (at least 1) and a
        note when the dates are not whole weeks apart.
    """
    first = _start(start, tz).normalize()
    last = _start(end, tz).normalize()
    if last < first:
        raise ParameterError(f"The planned end ({last:%Y-%m-%d}) is before the start ({first:%Y-%m-%d}); "
                             "give --end after --start.")
    days = int(round((last + pd.Timedelta(days=1) - first) / pd.Timedelta(days=1)))
    weeks, extra = max(days // 7, 1), days % 7
    notes = []
    if design == "switchback":
        stop = first + pd.Timedelta(weeks=weeks)
        if extra:
            notes.append(f"{first:%Y-%m-%d} to {last:%Y-%m-%d} is {days} days; the switchback runs whole weeks, "
                         f"so it has {weeks} weekly period(s) ending {stop - pd.Timedelta(days=1):%Y-%m-%d}.")
    else:
        stop = last + pd.Timedelta(days=1)
        weeks = max(int(math.ceil(days / 7)), 1)
    return first, stop, weeks, notes


def plan_slot_experiment(ds, arms=("morning", "noon", "evening"), weeks: int = 8, mde: float = 0.10,
                         metric: str = "replies", design: str = "switchback", n_groups: int | None = None,
                         control: str | None = None, alpha: float = 0.05, power: float = 0.80,
                         n_sims: int = 200, seed: int | None = 0, window="2h") -> PowerPlan:
    """Minimum detectable effect and power of a slot experiment, simulated from history.

    Each of ``n_sims`` simulated experiments draws, for each of ``n_groups``
    groups (the dataset's groups; resampled with replacement when more are
    asked for) and each of ``weeks`` weeks, one whole historical week of posts
    of that group (block bootstrap), assigns arms with
    :func:`switchback_arm_matrix` / :func:`group_arm_vector` (stratified by
    size), multiplies the outcome of non-control posts by ``1 + mde`` in a
    copy, and analyses both copies with
    :func:`groupstats.analyses.slot_experiment.switchback_ols_cr2` (group, week and
    weekday effects for switchbacks; week and weekday effects for
    group-randomised designs; CR2 clustered by group; switchback outcomes
    group-standardised as in the analysis).

    Parameters
    ----------
    ds : Dataset with posts (and events for read_rate / click_rate)
    arms : sequence or "a,b,c"
    weeks : int
    mde : float
        Relative effect of interest (0.10 = +10%).
    metric : str
        A metric of :data:`groupstats.analyses.slot_experiment.METRICS` (rates are
        analysed per post).
    design : {"switchback", "group-randomised"}
    n_groups : int, optional
    control : str, optional (default: "morning" if an arm, else the first arm)
    alpha, power : float
    n_sims : int
    seed : int
    window : duration

    Returns
    -------
    PowerPlan
    """
    from scipy import stats as sps

    from groupstats.analyses.slot_experiment import (METRICS, group_standardise, holm_adjust, post_metric_frame,
                                  switchback_ols_cr2)

    arms = _check_arms(arms)
    if design in ("group", "groups", "group_randomised"):
        design = "group-randomised"
    if design not in DESIGNS:
        raise ParameterError(f"design must be one of {', '.join(DESIGNS)}, not {design!r}.")
    if control is None:
        control = "morning" if "morning" in arms else arms[0]
    if control not in arms:
        raise ParameterError(f"control {control!r} is not one of the arms {arms}.")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ParameterError("alpha and power must lie between 0 and 1.")
    if not (isinstance(weeks, (int, np.integer)) and weeks >= 1):
        raise ParameterError(f"weeks must be a positive integer, got {weeks!r}.")
    if design == "switchback" and weeks < len(arms):
        raise ParameterError(f"A switchback needs at least one week per arm ({len(arms)} weeks).")
    if not (isinstance(n_sims, (int, np.integer)) and n_sims >= 20):
        raise ParameterError(f"n_sims must be an integer >= 20 (200 is a good default), got {n_sims!r}.")
    if not mde > 0:
        raise ParameterError(f"mde must be a positive relative effect such as 0.1, got {mde!r}.")
    spec = METRICS.get(metric)
    if spec is None:
        raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
    hist = post_metric_frame(ds, metric, window=window)
    hist = hist.loc[hist["complete"]]
    if spec.denominator is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            y_all = hist[spec.column].to_numpy(float) / hist[spec.denominator].to_numpy(float)
    else:
        y_all = hist[spec.column].to_numpy(float)
    ok = np.isfinite(y_all)
    hist = hist.loc[ok].assign(_y=y_all[ok])
    if hist.empty:
        raise InsufficientDataError("No complete posts with a value of the metric in the history; the "
                                    "power simulation resamples your own posts, so it needs some.")
    first_day = hist["date"].min()
    hist = hist.assign(_week=((hist["date"] - first_day).dt.days // 7).astype("int64"))
    hist = hist.sort_values(["group_id", "_week", "posted_at"], kind="stable").reset_index(drop=True)
    blocks = hist.groupby(["group_id", "_week"], sort=False).size()
    block_group = blocks.index.get_level_values("group_id").to_numpy()
    block_len = blocks.to_numpy()
    block_start = np.r_[0, np.cumsum(block_len)[:-1]]
    hist_groups, group_first = np.unique(block_group, return_index=True)
    group_n_blocks = np.diff(np.r_[group_first, len(block_group)])
    if len(hist_groups) < 2:
        raise InsufficientDataError(f"Only {len(hist_groups)} group(s) have posts; plan with the history "
                                    "of at least 2 groups.")
    members = non_operator_members(ds.members)
    size_of = members.groupby("group_id")["member_id"].nunique()
    hist_sizes = np.array([float(size_of.get(g, 0)) for g in hist_groups])
    G = len(hist_groups) if n_groups is None else int(n_groups)
    if G < 3:
        raise ParameterError(f"n_groups must be at least 3, got {G}.")
    notes = []
    if n_groups is not None and G > len(hist_groups):
        notes.append(f"{G} groups asked for, {len(hist_groups)} in the history: groups are resampled "
                     "with replacement (new groups assumed to resemble yours).")
    y, weekday = hist["_y"].to_numpy(), hist["weekday"].to_numpy()
    k = len(arms)
    c_idx = arms.index(control)
    rng = np.random.default_rng(seed)
    rel_null, rel_se, p_null, p_eff, dfs = [], [], [], [], []
    from groupstats.analyses.slot_experiment import single_blas_thread

    with single_blas_thread():   # many small fits: BLAS threads would only contend
        for _ in range(int(n_sims)):
            if n_groups is None:
                chosen = np.arange(len(hist_groups))
            else:
                chosen = rng.choice(len(hist_groups), G, replace=G > len(hist_groups))
            pick = group_first[chosen][:, None] + (rng.random((G, weeks)) * group_n_blocks[chosen][:, None]
                                                   ).astype(np.int64)
            lengths = block_len[pick].ravel()
            rows = np.repeat(block_start[pick].ravel(), lengths) + (
                np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
            unit = np.repeat(np.arange(G * weeks), lengths)
            g_of_row, w_of_row = unit // weeks, unit % weeks
            if design == "switchback":
                arm_gw = switchback_arm_matrix(hist_sizes[chosen], k, weeks, rng)
                arm_row = arm_gw[g_of_row, w_of_row]
                fixed = [g_of_row, w_of_row, weekday[rows]]
            else:
                arm_row = group_arm_vector(hist_sizes[chosen], k, rng)[g_of_row]
                fixed = [w_of_row, weekday[rows]]
            if len(np.unique(arm_row)) < k:
                continue
            y0 = y[rows]
            y1 = y0 * np.where(arm_row != c_idx, 1 + mde, 1.0)
            both = np.column_stack([y0, y1])
            if design == "switchback":   # as analyse_slot_experiment does
                both = group_standardise(both, g_of_row)
                if not np.isfinite(both).all():
                    continue
            fit = switchback_ols_cr2(both, arm_row, g_of_row, fixed, alpha=alpha,
                                     control=c_idx)
            rel_null.append(fit["rel_diff"][:, 0])
            rel_se.append(fit["rel_se"][:, 0])
            p_null.append(fit["p_value"][:, 0])
            p_eff.append(fit["p_value"][:, 1])
            dfs.append(fit["df"][:, 0])
    if len(rel_null) < 10:
        raise InsufficientDataError("Too few simulated experiments had every arm; add groups or weeks.")
    rel_null, p_null, p_eff = np.array(rel_null).T, np.array(p_null).T, np.array(p_eff).T
    rel_se, dfs = np.array(rel_se).T, np.array(dfs).T
    sd_rel = float(np.nanmean(np.nanstd(rel_null, axis=1, ddof=1)))

    def approx_power(effect: float) -> float:
        # the null replications shifted by the effect, tested as the analysis does (Holm across arms)
        stat = (rel_null + effect) / (rel_se * (1 + effect))
        return float(np.mean(holm_adjust(2 * sps.t.sf(np.abs(stat), dfs)) < alpha))

    lo, hi = 0.0, max(10 * sd_rel, 1e-6)
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if approx_power(mid) < power else (lo, mid)
    mde_rel = hi
    power_at = float(np.mean(holm_adjust(p_eff) < alpha))
    fpr = float(np.mean(holm_adjust(p_null) < alpha))
    scale = (mde_rel / mde) ** 2
    control_mean = float(hist["_y"].mean())
    ppgw = float(block_len.mean())
    plan = PowerPlan(design=design, metric=metric, control=control, arms=arms, n_groups=G, weeks=int(weeks),
                     n_sims=int(rel_null.shape[1]), mde=float(mde), alpha=float(alpha), power=float(power),
                     control_mean=control_mean, posts_per_group_week=ppgw, mde_rel=float(mde_rel),
                     power_at_mde=power_at, sd_rel=sd_rel,
                     weeks_needed=max(int(math.ceil(weeks * scale)), len(arms) if design == "switchback" else 1),
                     groups_needed=max(int(math.ceil(G * scale)), 3), false_positive_rate=fpr, seed=seed,
                     notes=notes)
    return plan
