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


def _step_with_band(ax, time, value, low, high, start: float, label: str, ci: bool) -> None:
    """A step curve from ``start`` at time 0 through (``time``, ``value``), with its CI band if ``ci``."""
    t = np.r_[0.0, time]
    line, = ax.step(t, np.r_[start, value], where="post", label=label)
    if ci:
        ax.fill_between(t, np.r_[start, low], np.r_[start, high], step="post", alpha=0.2, color=line.get_color())


def _probability_axes(ax, xlabel: str, ylabel: str):
    """``ax`` labelled, with a probability's y range (0 to 1) and a legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend()
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
        _step_with_band(ax, sf["time"].to_numpy(), sf["survival"].to_numpy(), sf["ci_low"].to_numpy(),
                        sf["ci_high"].to_numpy(), 1.0, str(label), ci)
    return _probability_axes(ax, "time", "survival probability")


def plot_cumulative_incidence(aj: AalenJohansen, ax=None, ci: bool = True, labels: Mapping | None = None):
    """Step plot of each cause's cumulative incidence with CI bands; returns the Axes."""
    ax = _axes(ax)
    aj._check()
    for cause, part in aj.cumulative_incidence_.groupby("cause", sort=True):
        name = (labels or {}).get(cause, f"cause {cause}")
        _step_with_band(ax, part["time"].to_numpy(), part["cif"].to_numpy(), part["ci_low"].fillna(0).to_numpy(),
                        part["ci_high"].fillna(0).to_numpy(), 0.0, str(name), ci)
    return _probability_axes(ax, "time", "cumulative incidence")


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
    return _probability_axes(ax, "days silent so far (d)",
                             "P(speaks again" + (f" within {within:g} days)" if within else ")"))
