"""The causal rules (posting slot, content mixes, marketing cap): experiment-backed verdicts
with multiplicity control, or an observational association that is at most 'not shown'.

Each causal rule that an experiment in the data can test becomes one *hypothesis*: a focal arm
(the arm doing what the rule recommends) against one or more comparator arms. The claim holds
when the focal arm beats every comparator (intersection-union test: the claim's p-value is the
largest of the comparisons' p-values, all in the claimed direction). It is contradicted when
some comparator beats the focal arm (that p-value times the number of comparators). Rules that
rest on the same comparisons share one hypothesis. Holm's step-down (or Bonferroni) runs over
the distinct hypotheses; each verdict's interval is recomputed at the level of its Holm step,
so the interval excludes 0 exactly when the adjusted p-value is below alpha.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError, StatisticalWarning
from groupstats.reports.i18n import fmt_interval, fmt_p_eq, fmt_pct, join, t
from groupstats.analyses.audit.rules import make_row
from groupstats.stats.intervals import invert_relative
from groupstats.stats.multiplicity import adjusted_levels

__all__ = ["Hypothesis", "AnalysisCache", "causal_rows", "experiment_rows", "find_hypotheses", "judge",
           "claim_test", "claim_verdict"]

MIX_RULES = {"mix_352": "interactive_352", "mix_721": "interact_721", "mix_40_30_20_10": "manage_4321"}


# ------------------------------------------------------------------------------------------
# running the analyses (cached: one post-outcome table, one group-week table per experiment)
# ------------------------------------------------------------------------------------------
class AnalysisCache:
    """Runs the existing analyses once per (experiment, control arm, alpha)."""

    def __init__(self, ds, window="2h"):
        self.ds = ds
        self.window = window
        self._outcomes = None
        self._tables: dict = {}
        self._runs: dict = {}
        self._week = None
        self._memo: dict = {}

    def memo(self, name: str, compute):
        """``compute()`` once per name: descriptive tables that do not depend on ``assignments``."""
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    def share_tables(self, other: "AnalysisCache") -> "AnalysisCache":
        """Reuse ``other``'s tables that do not depend on ``assignments`` (post outcomes, group-week
        health, descriptive analyses): for a dataset with the same messages, members, posts and
        events, e.g. the same data without its experiments. Returns self."""
        self._outcomes = other._outcomes
        self._week = other._week
        self._memo = dict(other._memo)
        return self

    @property
    def outcomes(self) -> pd.DataFrame:
        if self._outcomes is None:
            from groupstats.tables.derived import post_outcomes

            self._outcomes = post_outcomes(self.ds, window=self.window)
        return self._outcomes

    def week_health(self) -> pd.DataFrame:
        """:func:`groupstats.analyses.health.group_week_health` of the dataset (computed once)."""
        if self._week is None:
            from groupstats.analyses.health import group_week_health, load_thresholds

            self._week = group_week_health(self.ds, silent_days=load_thresholds(None)["silent_days"])
        return self._week

    def slot(self, experiment: str, control: str, alpha: float):
        """Comparisons of every arm against ``control`` (no correction across arms)."""
        key = ("slot", experiment, control, round(alpha, 12))
        if key not in self._runs:
            from groupstats.analyses.slot_experiment import analyse_slot_experiment

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                res = analyse_slot_experiment(self.ds, experiment, metric="replies", window=self.window,
                                              control=control, alpha=alpha, correction="none")
            self._runs[key] = res.comparisons
        return self._runs[key]

    def mix(self, experiment: str, control: str, alpha: float, metric: str = "messages_per_member_day"):
        key = ("mix", experiment, control, round(alpha, 12), metric)
        if key not in self._runs:
            from groupstats.analyses.content_mix import analyse_mix_experiment, mix_experiment_table

            if experiment not in self._tables:
                self._tables[experiment] = mix_experiment_table(self.ds, experiment, reply_window=self.window)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                res = analyse_mix_experiment(self.ds, experiment, metric=metric, control=control, alpha=alpha,
                                             correction="none", table=self._tables[experiment], compliance=False)
            self._runs[key] = res.comparison.comparisons
        return self._runs[key]


@dataclass
class Hypothesis:
    """A causal rule tested by an experiment: ``focal`` arm against each of ``comparators``."""

    rule_id: str
    kind: str                 # "slot" or "mix"
    experiment: str
    focal: str
    comparators: list
    labels: dict = field(default_factory=dict)   # arm -> what it did (window or preset), for the reason
    metric: str = "replies"
    p_value: float = np.nan
    direction: str = "for"
    p_adjusted: float = np.nan
    level: float = 0.05
    comparisons: pd.DataFrame | None = None

    @property
    def key(self) -> tuple:
        return (self.experiment, frozenset(frozenset((self.focal, c)) for c in self.comparators))

    def run(self, cache: AnalysisCache, alpha: float) -> pd.DataFrame:
        """Focal-vs-comparator rows: comparator, rel (focal / comparator - 1), rel_low, rel_high, p, mde_rel."""
        comp = (cache.slot(self.experiment, self.focal, alpha) if self.kind == "slot"
                else cache.mix(self.experiment, self.focal, alpha, self.metric))
        rows = []
        for c in self.comparators:
            r = comp.loc[comp["arm"].astype(str) == str(c)].iloc[0]
            rel, low, high = invert_relative(float(r["rel_diff"]), float(r["rel_ci_low"]), float(r["rel_ci_high"]))
            mde = float(r["mde_rel"]) if np.isfinite(r["mde_rel"]) else np.nan
            rows.append({"comparator": str(c), "rel": rel, "rel_low": low, "rel_high": high,
                         "p_value": float(r["p_value"]), "mde_rel": mde})
        return pd.DataFrame(rows)

    def claim_p(self, frame: pd.DataFrame) -> tuple[float, str]:
        """The claim's p-value and direction from the focal-vs-comparator rows."""
        return claim_test(frame["rel"].to_numpy(float), frame["p_value"].to_numpy(float))


def claim_test(rel, p) -> tuple[float, str]:
    """p-value and direction of "the focal arm beats every comparator" from its comparisons.

    ``rel`` are the focal arm's relative effects against each comparator, ``p`` their two-sided
    p-values. All in the claimed direction: intersection-union test, ``p = max(p)``, direction
    ``"for"``. Some against it: ``p = min(p of those) * k`` (Bonferroni over the k comparators),
    direction ``"against"``.
    """
    rel, p = np.asarray(rel, float), np.asarray(p, float)
    against = rel < 0
    if against.any():
        return float(min(1.0, p[against].min() * len(p))), "against"
    return float(p.max()), "for"


def claim_verdict(direction: str, p_adjusted: float, alpha: float, complete: bool = True) -> str:
    """Verdict of an experiment-backed claim from its multiplicity-adjusted p-value.

    ``complete=False`` (the experiment lacks some arm the claim names) never gives 'supported'.
    """
    if np.isfinite(p_adjusted) and p_adjusted < alpha:
        if direction == "against":
            return "contradicted"
        return "supported" if complete else "not_shown"
    return "not_shown"


# ------------------------------------------------------------------------------------------
# finding the hypotheses
# ------------------------------------------------------------------------------------------
def _slot_hypothesis(experiments: list[dict]) -> tuple[Hypothesis | None, list[str]]:
    """The slot experiment that tests evening vs morning and noon (the one with most posts)."""
    candidates = []
    for e in experiments:
        if not e["is_slot"]:
            continue
        by_window = {a["window"]: a for a in e["arms"] if a["window"] is not None}
        if "evening" in by_window and ({"morning", "noon"} & set(by_window)):
            candidates.append((sum(a["n_posts"] for a in e["arms"]), e, by_window))
    if not candidates:
        return None, []
    candidates.sort(key=lambda x: -x[0])
    _, e, by_window = candidates[0]
    comps = [by_window[w]["arm"] for w in ("morning", "noon") if w in by_window]
    missing = [w for w in ("morning", "noon") if w not in by_window]
    h = Hypothesis("evening_slot", "slot", e["experiment_id"], by_window["evening"]["arm"], comps,
                   labels={a["arm"]: a["window"] for a in by_window.values()}, metric="replies")
    return h, missing


def _mix_hypothesis(rule_id: str, preset: str, experiments: list[dict]) -> Hypothesis | None:
    for e in experiments:
        if not e["is_mix"]:
            continue
        focal = [a for a in e["arms"] if a["preset_match"] and a["nearest_preset"] == preset]
        others = [a for a in e["arms"] if a["n_posts"] and a not in focal]
        if len(focal) == 1 and others:
            return Hypothesis(rule_id, "mix", e["experiment_id"], focal[0]["arm"], [a["arm"] for a in others],
                              labels={a["arm"]: (a["nearest_preset"] if a["preset_match"] else None)
                                      for a in e["arms"]}, metric="messages_per_member_day")
    return None


def _cap_hypothesis(cap: float, experiments: list[dict]) -> Hypothesis | None:
    for e in experiments:
        if not e["is_mix"]:
            continue
        arms = [a for a in e["arms"] if a["n_posts"]]
        under = [a for a in arms if a["marketing_share"] <= cap]
        over = [a for a in arms if a["marketing_share"] > cap]
        if len(under) == 1 and over:
            return Hypothesis("marketing_cap_15", "mix", e["experiment_id"], under[0]["arm"], [a["arm"] for a in over],
                              labels={a["arm"]: fmt_pct(a["marketing_share"], "en") for a in arms},
                              metric="messages_per_member_day")
    return None


def find_hypotheses(experiments: list[dict], rules: dict) -> tuple[dict, dict]:
    """{rule_id: Hypothesis} for the causal rules an experiment tests, and notes per rule."""
    found, notes = {}, {}
    h, missing = _slot_hypothesis(experiments)
    if h is not None:
        found["evening_slot"] = h
        notes["evening_slot"] = missing
    for rid, preset in MIX_RULES.items():
        preset = rules["rules"][rid].get("preset", preset)
        h = _mix_hypothesis(rid, preset, experiments)
        if h is not None:
            found[rid] = h
    h = _cap_hypothesis(float(rules["rules"]["marketing_cap_15"].get("cap", 0.15)), experiments)
    if h is not None:
        found["marketing_cap_15"] = h
    return found, notes


# ------------------------------------------------------------------------------------------
# the verdicts
# ------------------------------------------------------------------------------------------
def judge(hypotheses: dict, cache: AnalysisCache, alpha: float, method: str) -> dict:
    """p-values, multiplicity over distinct hypotheses, intervals at each hypothesis' level.

    Returns the multiplicity summary; the hypotheses are updated in place.
    """
    keys = []
    for h in hypotheses.values():
        frame = h.run(cache, alpha)
        h.p_value, h.direction = h.claim_p(frame)
        if h.key not in keys:
            keys.append(h.key)
    key_p = {}
    for k in keys:
        ps = [h.p_value for h in hypotheses.values() if h.key == k]
        key_p[k] = min(ps)
    p = np.array([key_p[k] for k in keys])
    adj, level = adjusted_levels(p, alpha, method)
    for h in hypotheses.values():
        i = keys.index(h.key)
        h.p_adjusted = float(adj[i])
        h.level = float(level[i])
        use = h.level if h.direction == "for" else h.level / len(h.comparators)
        h.comparisons = h.run(cache, use)
        h.comparisons["level"] = use
    return {"method": method, "alpha": alpha, "n_hypotheses": len(keys),
            "hypotheses": [{"rules": [h.rule_id for h in hypotheses.values() if h.key == k],
                            "experiment": k[0], "p_value": float(p[i]), "p_adjusted": float(adj[i]),
                            "level": float(level[i])} for i, k in enumerate(keys)]}


def _arm_label(h: Hypothesis, arm: str, lang: str) -> str:
    label = h.labels.get(arm)
    if h.kind == "slot" and label:
        return t("audit.reason.arm_window", lang, arm=arm, window=t(f"audit.window.{label}", lang))
    if label:
        return t("audit.reason.arm_preset", lang, arm=arm, preset=label)
    return t("audit.reason.arm_plain", lang, arm=arm)


def experiment_row(h: Hypothesis, rules: dict, lang: str, alpha: float, missing=()) -> dict:
    comp = h.comparisons
    p_values = comp["p_value"].fillna(1.0)  # a comparison that could not be estimated binds as p = 1
    binding = comp.loc[p_values.idxmax()] if h.direction == "for" else comp.loc[p_values.idxmin()]
    parts = [t("audit.reason.comparison", lang, focal=_arm_label(h, h.focal, lang),
               other=_arm_label(h, r.comparator, lang), est=fmt_pct(r.rel, lang, signed=True),
               level=fmt_pct(1 - r.level, lang), ci=fmt_interval(r.rel_low, r.rel_high, lang), p=fmt_p_eq(r.p_value))
             for r in comp.itertuples()]
    tail = t("audit.reason.adjusted", lang, p=fmt_p_eq(h.p_adjusted), method=rules["multiplicity"].capitalize())
    verdict = claim_verdict(h.direction, h.p_adjusted, alpha, complete=not missing)
    if verdict == "not_shown":
        mde = float(np.nanmax(comp["mde_rel"])) if comp["mde_rel"].notna().any() else np.nan
        tail += " " + t("audit.reason.mde", lang, mde=fmt_pct(mde, lang))
        if not missing:
            tail += " " + (t("audit.settle.slot", lang) if h.kind == "slot" else t("audit.settle.mix", lang))
    if missing:
        tail += " " + t("audit.reason.missing_window", lang,
                        windows=join([t(f"audit.window.{w}", lang) for w in missing], lang))
    reason = t("audit.reason.experiment", lang, experiment=h.experiment) + " " + "; ".join(parts) + ". " + tail
    return make_row(h.rule_id, rules, lang, evidence="experiment", verdict=verdict, reason=reason,
                    estimate=binding["rel"], ci_low=binding["rel_low"], ci_high=binding["rel_high"],
                    unit_key="audit.unit.rel", p_value=h.p_value, p_adjusted=h.p_adjusted,
                    interval_level=float(1 - binding["level"]), experiment=h.experiment,
                    comparisons=comp.drop(columns=["level"]).to_dict("records"),
                    test_values=None)


# ------------------------------------------------------------------------------------------
# observational associations (at most 'not shown')
# ------------------------------------------------------------------------------------------
def _compare(frame, **kwargs):
    from groupstats.stats.compare import compare_arms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_arms(frame, **kwargs).comparisons


def _slot_association(cache: AnalysisCache, alpha: float, windows: dict | None):
    """Replies per post by realised window, evening vs morning and noon, group fixed effects."""
    from groupstats.analyses.audit.detect import _slot_scheme

    po = cache.outcomes
    po = po.loc[po["complete"].to_numpy(bool)] if "complete" in po else po
    if po.empty:
        return None
    frame = pd.DataFrame({"group_id": po["group_id"].to_numpy(), "replies": po["replies"].to_numpy(float),
                          "window": _slot_scheme(windows).label(po["posted_at"])})
    counts = frame["window"].value_counts()
    if counts.get("evening", 0) < 5 or not any(counts.get(w, 0) >= 5 for w in ("morning", "noon")):
        return None
    frame = frame.loc[frame["window"].isin([w for w in ("evening", "morning", "noon") if counts.get(w, 0) >= 5])]
    if frame["group_id"].nunique() < 3:
        return None
    comp = _compare(frame, arm="window", metric="replies", kind="mean", control="evening", cluster="group_id",
                    fixed_effects=["group_id"], alpha=alpha, correction="none")
    out = []
    for r in comp.itertuples():
        rel, low, high = invert_relative(r.rel_diff, r.rel_ci_low, r.rel_ci_high)
        out.append({"comparator": str(r.arm), "rel": rel, "rel_low": low, "rel_high": high, "p_value": r.p_value})
    return pd.DataFrame(out)


def _weekly_mix(ds, cache: AnalysisCache):
    """Per group-week: content shares of the posts and next week's member messages per member-day."""
    from groupstats.tables.derived import local_date

    if ds.posts is None or ds.posts.empty:
        return None, None
    posts = ds.posts
    date = local_date(posts["posted_at"])
    week = date - pd.to_timedelta(date.dt.day_of_week, unit="D")
    shares = (pd.DataFrame({"group_id": posts["group_id"].to_numpy(), "week_start": week.to_numpy(),
                            "c": posts["content_type"].astype(str).to_numpy()})
              .groupby(["group_id", "week_start", "c"]).size().unstack(fill_value=0))
    shares = shares.div(shares.sum(axis=1), axis=0)
    wk = cache.week_health()[["group_id", "week_start", "n_messages", "member_days", "exit_rate"]]
    wk = wk.sort_values(["group_id", "week_start"], kind="stable")
    nxt = wk.groupby("group_id")[["n_messages", "member_days"]].shift(-1)
    wk = wk.assign(next_messages=nxt["n_messages"], next_member_days=nxt["member_days"])
    return shares, wk


def _two_group_association(frame: pd.DataFrame, flag: np.ndarray, alpha: float):
    """Next-week messages per member-day: flagged group-weeks vs the rest (ratio, clustered by group)."""
    frame = frame.assign(flag=np.where(flag, "yes", "no"))
    frame = frame.loc[frame["next_member_days"].fillna(0) > 0]
    if frame["flag"].nunique() < 2 or frame["group_id"].nunique() < 3 or (frame["flag"] == "yes").sum() < 3:
        return None
    comp = _compare(frame, arm="flag", metric="next_messages", kind="ratio", denominator="next_member_days",
                    control="no", cluster="group_id", alpha=alpha, correction="none")
    r = comp.iloc[0]
    return {"rel": float(r["rel_diff"]), "rel_low": float(r["rel_ci_low"]), "rel_high": float(r["rel_ci_high"]),
            "p_value": float(r["p_value"]), "n_flagged": int((frame["flag"] == "yes").sum()), "n": int(len(frame))}


def observational_row(rule_id: str, ds, cache: AnalysisCache, rules: dict, lang: str, alpha: float,
                      experiments: list[dict], weekly) -> dict:
    """The row of a causal rule no experiment tests: the association, at most 'not shown'."""
    spec = rules["rules"][rule_id]
    plan = _plan_command(rule_id, spec, lang)
    assoc = None
    try:
        if rule_id == "evening_slot":
            frame = _slot_association(cache, alpha, spec.get("windows"))
            if frame is not None:
                binding = frame.loc[frame["rel"].idxmin()]
                parts = [t("audit.reason.assoc_slot", lang, other=t(f"audit.window.{r.comparator}", lang),
                           est=fmt_pct(r.rel, lang, signed=True), ci=fmt_interval(r.rel_low, r.rel_high, lang))
                         for r in frame.itertuples()]
                assoc = (binding, "; ".join(parts))
        elif weekly[0] is not None:
            shares, wk = weekly
            if rule_id in MIX_RULES:
                from groupstats.analyses.audit.detect import tv_distance
                from groupstats.analyses.content_mix import mix_presets

                target = dict(mix_presets()[spec.get("preset", MIX_RULES[rule_id])].shares)
                dist = np.array([tv_distance({c: v for c, v in row.items() if v > 0}, target)
                                 for row in shares.to_dict("records")])
                near = pd.Series(dist <= rules["recognition"]["max_preset_distance"], index=shares.index)
                frame = wk.join(near.rename("near"), on=["group_id", "week_start"])
                frame = frame.loc[frame["near"].notna()]
                res = _two_group_association(frame, frame["near"].to_numpy(bool), alpha)
                if res is not None:
                    assoc = (pd.Series(res), t("audit.reason.assoc_mix", lang, n=res["n_flagged"], total=res["n"],
                                               est=fmt_pct(res["rel"], lang, signed=True),
                                               ci=fmt_interval(res["rel_low"], res["rel_high"], lang)))
            elif rule_id == "marketing_cap_15":
                cat = spec.get("category", "marketing")
                share = shares[cat] if cat in shares else pd.Series(0.0, index=shares.index)
                frame = wk.join(share.rename("mk"), on=["group_id", "week_start"])
                frame = frame.loc[frame["mk"].notna()]
                res = _two_group_association(frame, (frame["mk"] <= float(spec.get("cap", 0.15))).to_numpy(), alpha)
                if res is not None:
                    assoc = (pd.Series(res), t("audit.reason.assoc_cap", lang, n=res["n_flagged"], total=res["n"],
                                               est=fmt_pct(res["rel"], lang, signed=True),
                                               ci=fmt_interval(res["rel_low"], res["rel_high"], lang)))
    except GroupstatsError:
        assoc = None
    why = _why_no_experiment(rule_id, experiments, lang)
    test_key = {"evening_slot": "audit.evening_slot.test_obs", "marketing_cap_15": None}.get(rule_id, "audit.mix.test_obs")
    if assoc is None:
        reason = why + " " + t("audit.reason.no_assoc", lang) + " " + plan
        return make_row(rule_id, rules, lang, evidence="observational", verdict="not_testable", reason=reason,
                        test_key=test_key)
    binding, text = assoc
    reason = why + " " + t("audit.reason.observational", lang, assoc=text) + " " + plan
    return make_row(rule_id, rules, lang, evidence="observational", verdict="not_shown", reason=reason, test_key=test_key,
                    estimate=binding["rel"], ci_low=binding["rel_low"], ci_high=binding["rel_high"],
                    unit_key="audit.unit.rel", p_value=float(binding["p_value"]))


def _why_no_experiment(rule_id: str, experiments: list[dict], lang: str) -> str:
    if not experiments:
        return t("audit.reason.no_assignments", lang)
    kind = "slot" if rule_id == "evening_slot" else "cap" if rule_id == "marketing_cap_15" else "mix"
    return t(f"audit.reason.no_experiment.{kind}", lang, n=len(experiments))


def _plan_command(rule_id: str, spec: dict, lang: str) -> str:
    if rule_id == "evening_slot":
        return t("audit.plan.slot", lang, cmd="groupstats plan-slots DATA --arms morning,noon,evening --weeks 8 "
                                              "--mde 0.1 --write DATA")
    if rule_id == "marketing_cap_15":
        return t("audit.plan.cap", lang)
    return t("audit.plan.mix", lang, preset=spec.get("preset", MIX_RULES.get(rule_id)))


def experiment_rows(experiments: list[dict], rules: dict, lang: str, cache: AnalysisCache
                    ) -> tuple[dict, dict, dict]:
    """The experiment-backed rows: ``({rule_id: row}, multiplicity, {rule_id: error})``.

    Only the causal rules that some recognised experiment tests get a row here; an analysis that
    fails (e.g. an arm without analysable posts) is reported in the third dict instead.
    """
    alpha = rules["alpha"]
    hypotheses, notes = find_hypotheses(experiments, rules)
    failed = {}
    for rid in list(hypotheses):
        try:
            hypotheses[rid].run(cache, alpha)
        except GroupstatsError as exc:
            failed[rid] = str(exc)
            del hypotheses[rid]
    multiplicity = judge(hypotheses, cache, alpha, rules["multiplicity"]) if hypotheses else \
        {"method": rules["multiplicity"], "alpha": alpha, "n_hypotheses": 0, "hypotheses": []}
    rows = {rid: experiment_row(h, rules, lang, alpha, notes.get(rid, ())) for rid, h in hypotheses.items()}
    return rows, multiplicity, failed


def causal_rows(ds, experiments: list[dict], rules: dict, lang: str, cache: AnalysisCache | None = None
                ) -> tuple[dict, dict]:
    """Rows of the causal rules (experiment-backed where possible) and the multiplicity summary."""
    alpha = rules["alpha"]
    cache = cache or AnalysisCache(ds, window=rules["rules"]["evening_slot"].get("window", "2h"))
    rows, multiplicity, failed = experiment_rows(experiments, rules, lang, cache)
    weekly = None
    for rid in ("evening_slot", *MIX_RULES, "marketing_cap_15"):
        if rid in rows:
            continue
        if weekly is None and rid != "evening_slot":
            try:
                weekly = _weekly_mix(ds, cache)
            except GroupstatsError:
                weekly = (None, None)
        row = observational_row(rid, ds, cache, rules, lang, alpha, experiments, weekly or (None, None))
        if rid in failed:
            row["reason"] = t("audit.reason.failed", lang, error=failed[rid]) + " " + row["reason"]
        rows[rid] = row
    return rows, multiplicity
