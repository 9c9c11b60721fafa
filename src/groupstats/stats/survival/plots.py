"""Plots of survival curves, cumulative incidence and the return curve."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from groupstats.stats.survival.estimators import AalenJohansen
from groupstats.stats.survival.return_curve import ReturnCurve


# ======================================================================================
# plots
# ======================================================================================
def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def plot_survival(km_or_dict, ax=None, ci: bool = True):
    """Step plot of one or several Kaplan-Meier curves with CI bands; returns the Axes.

    ``km_or_dict`` is a fitted :class:`KaplanMeier` or a dict ``{label: KaplanMeier}``.
    """
    ax = _axes(ax)
    items = km_or_dict.items() if isinstance(km_or_dict, Mapping) else [(km_or_dict.label or "KM", km_or_dict)]
    for label, km in items:
        km._check()
        sf = km.survival_function_
        t = np.r_[0.0, sf["time"].to_numpy()]
        line, = ax.step(t, np.r_[1.0, sf["survival"].to_numpy()], where="post", label=str(label))
        if ci:
            ax.fill_between(t, np.r_[1.0, sf["ci_low"].to_numpy()], np.r_[1.0, sf["ci_high"].to_numpy()],
                            step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax


def plot_cumulative_incidence(aj: AalenJohansen, ax=None, ci: bool = True, labels: Mapping | None = None):
    """Step plot of each cause's cumulative incidence with CI bands; returns the Axes."""
    ax = _axes(ax)
    aj._check()
    for cause, part in aj.cumulative_incidence_.groupby("cause", sort=True):
        t = np.r_[0.0, part["time"].to_numpy()]
        name = (labels or {}).get(cause, f"cause {cause}")
        line, = ax.step(t, np.r_[0.0, part["cif"].to_numpy()], where="post", label=str(name))
        if ci:
            ax.fill_between(t, np.r_[0.0, part["ci_low"].fillna(0).to_numpy()],
                            np.r_[0.0, part["ci_high"].fillna(0).to_numpy()],
                            step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("time")
    ax.set_ylabel("cumulative incidence")
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax


def plot_return_curve(curve, ax=None, level: float | None = None):
    """Plot p_return against silent days d per segment (CI bands); optional horizontal ``level`` line.

    Returns the Axes.
    """
    ax = _axes(ax)
    frame = curve.curve if isinstance(curve, ReturnCurve) else curve
    within = curve.within if isinstance(curve, ReturnCurve) else None
    for seg, part in frame.groupby("segment", sort=False):
        line, = ax.plot(part["d"], part["p_return"], label=str(seg))
        ax.fill_between(part["d"], part["ci_low"], part["ci_high"], alpha=0.2, color=line.get_color())
    if level is not None:
        ax.axhline(level, color="grey", linestyle="--", linewidth=1, label=f"level {level:g}")
    ax.set_xlabel("days silent so far (d)")
    ax.set_ylabel("P(speaks again" + (f" within {within:g} days)" if within else ")"))
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax
