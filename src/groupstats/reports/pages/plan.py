"""The planning report: how long, and with how many groups, must the next slot test run?

The minimum detectable effect (MDE) is simulated from the user's own post history
(:func:`groupstats.stats.design.plan_slot_experiment`) at a few lengths with the groups of the
data; other numbers of groups and weeks follow from the MDE's 1/sqrt(size) scaling, which the
simulations at several lengths check.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import fmt_date, fmt_pct, join, slot_name, t
from groupstats.reports.tables import translate_metric
from groupstats.data.dataset import non_operator_members


def simulate(ds, arms, metric: str, weeks_list, n_sims: int, seed: int, target: float):
    """One simulated plan per number of weeks (the data's groups): list of PowerPlan."""
    from groupstats.stats.design import plan_slot_experiment

    return [plan_slot_experiment(ds, arms=arms, weeks=int(w), mde=target, metric=metric, n_sims=n_sims, seed=seed)
            for w in weeks_list]


def mde_grid(plans, weeks=(4, 6, 8, 12, 16, 24), group_factors=(1, 2, 4)) -> pd.DataFrame:
    """MDE for weeks x groups from the longest simulated plan, scaled by 1/sqrt(groups * weeks)."""
    ref = plans[-1]
    rows = []
    for f in group_factors:
        g = int(ref.n_groups * f)
        for w in weeks:
            rows.append({"groups": g, "weeks": w, "mde": ref.mde_rel * np.sqrt(ref.n_groups * ref.weeks / (g * w))})
    return pd.DataFrame(rows)


def card(plans, target: float, lang: str = "zh") -> ConclusionCard:
    """The card of the longest simulated plan (:meth:`PowerPlan.conclusion_card`)."""
    return plans[-1].conclusion_card(lang, target=target)


def plot_mde(plans, grid: pd.DataFrame, target: float, lang: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for g, sub in grid.groupby("groups"):
        ax.plot(sub["weeks"], 100 * sub["mde"], marker="o", ms=3, label=t("plan.fig.groups", lang, n=g))
    ax.scatter([p.weeks for p in plans], [100 * p.mde_rel for p in plans], color="black", zorder=3, s=25,
               label=t("plan.fig.simulated", lang))
    ax.axhline(100 * target, color="red", ls="--", lw=1, label=t("plan.fig.target", lang,
                                                                 target=fmt_pct(target, lang, digits=0)))
    ax.set_xticks(sorted(set(grid["weeks"])))
    ax.set_xlabel(t("plan.fig.x", lang))
    ax.set_ylabel(t("plan.fig.y", lang))
    ax.set_ylim(bottom=0)
    ax.set_title(t("plan.fig.title", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def show_grid(grid: pd.DataFrame, page) -> None:
    wide = grid.pivot(index="weeks", columns="groups", values="mde").reset_index()
    cols = [("weeks", "plan.col.weeks", "int")]
    for g in [c for c in wide.columns if c != "weeks"]:
        name = t("plan.col.groups", page.lang, n=g)
        wide[name] = wide[g]
        cols.append((name, name, "pct"))
    page.table(wide, cols)
    page.caption("plan.grid_note")


def schedule(ds, plan, start: str, seed: int) -> pd.DataFrame:
    """The switchback schedule the plan would write (an ``assignments`` table)."""
    from groupstats.stats.design import switchback_schedule

    members = non_operator_members(ds.members)
    sizes = members.groupby("group_id")["member_id"].nunique()
    groups = sorted(ds.posts["group_id"].unique())
    if not start:
        start = (ds.date_range()[1].tz_convert(ds.tz).normalize() + pd.Timedelta(days=1)).date().isoformat()
    return switchback_schedule(groups, plan.arms, start, plan.weeks_needed if plan.weeks_needed <= 26 else plan.weeks,
                               sizes={g: int(sizes.get(g, 0)) for g in groups}, seed=seed, tz=str(ds.tz))


def show_schedule(sched: pd.DataFrame, page, tz: str) -> None:
    lang = page.lang
    sched = sched.copy()
    sched["week"] = [fmt_date(s, tz) for s in sched["start_at"]]
    wide = sched.pivot(index="group_id", columns="week", values="arm").reset_index()
    weeks = [c for c in wide.columns if c != "group_id"]
    for w in weeks:
        wide[w] = [slot_name(a, lang) for a in wide[w]]
    page.table(wide, [("group_id", "col.group", "text")] + [(w, w, "text") for w in weeks])
    page.caption("plan.schedule_note", n=len(weeks))
