"""The return-probability curve ("how long is gone?"): the chance that a member silent for d days
writes again, and the threshold it suggests against the playbook's 30 days."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError
from groupstats.results import Result, to_jsonable

from groupstats.stats.survival.engine import (_build_event_table, _conditional_cif, _durations, _float_array,
                                              _loglog_ci, _weights, _z)


#: The playbook's churn rule that the return curve lets an analyst test: "流失用户: 连续30天无互动"
#: (article "微信群如何经营和管理(微信群运营与管理)"; also "休眠期(30天未互动)" in "微信群怎么互动(群聊互动技巧)").
PLAYBOOK_SILENT_DAYS = 30


# ======================================================================================
# return-probability curve ("how long is gone?")
# ======================================================================================
@dataclass
class ReturnCurve(Result):
    """P(speaks again within ``within`` days | silent ``d`` days), per segment.

    Attributes
    ----------
    curve : DataFrame
        ``segment, d, p_return, se, ci_low, ci_high, n_at_risk`` (one row per segment and d).
    within : float
        Length of the return window in days.
    reference_day : int
        Silence length quoted in the conclusion: the playbook's churn rule
        ("流失用户: 连续30天无互动", article "微信群如何经营和管理(微信群运营与管理)").
    """

    curve: pd.DataFrame
    within: float
    alpha: float = 0.05
    reference_day: int = PLAYBOOK_SILENT_DAYS
    n_spells: dict = field(default_factory=dict)
    title: str = "Probability of speaking again after a silence (Aalen-Johansen, leaving = competing event)"

    def to_frame(self) -> pd.DataFrame:
        return self.curve.copy()

    def to_dict(self) -> dict:
        return to_jsonable({"title": self.title, "within_days": self.within, "alpha": self.alpha,
                            "reference_day": self.reference_day, "n_spells": self.n_spells,
                            "thresholds_20pct": suggest_threshold(self, level=0.2),
                            "curve": self.curve})

    def conclusion(self, lang: str | None = None) -> str:
        lines = []
        for seg, part in self.curve.groupby("segment", sort=False):
            row = part.loc[part["d"] == self.reference_day]
            if row.empty or not np.isfinite(row["p_return"].iloc[0]):
                continue
            r = row.iloc[0]
            thr = suggest_threshold(part, level=0.2)[seg]
            thr_txt = (f"the chance first drops below 20% after {thr:g} silent days" if thr is not None
                       else "the chance never drops below 20% in the days examined")
            ci_txt = (f"{1 - self.alpha:.0%} CI {r['ci_low']:.0%}-{r['ci_high']:.0%}" if np.isfinite(r["ci_high"])
                      else "no return observed, so no upper limit")
            lines.append(f"[{seg}] A member silent for {self.reference_day} days (the churn rule of the playbook "
                         f"article \"微信群如何经营和管理(微信群运营与管理)\") speaks again within {self.within:g} days "
                         f"with probability {r['p_return']:.0%} ({ci_txt}; {r['n_at_risk']:.0f} silences still "
                         f"open at that point); {thr_txt}.")
        return "\n".join(lines)


def return_probability_curve(spell_durations, spell_returned, spell_competing=None,
                             days: Iterable[float] = range(1, 91), within: float = 60,
                             groups=None, weights=None, alpha: float = 0.05,
                             min_at_risk: int = 10) -> ReturnCurve:
    """How likely is a member who has been silent ``d`` days to speak again within ``within`` days?

    For each d: ``p_return(d) = P(T <= d + within, return | T > d)
    = (F_return(d + within) - F_return(d)) / S(d)``, with F_return the Aalen-Johansen
    cumulative incidence of "spoke again" (leaving the group is a competing event, open spells
    at the end of the data are censored) and S the all-cause event-free survival. The CI is
    the log(-log) interval from the Marubini-Valsecchi delta-method variance of the AJ
    estimator restarted at d (module docstring).

    Parameters
    ----------
    spell_durations : array-like, shape (n,)
        Length in days of each silence spell: from a member's message to the next message
        (returned), to leaving the group (competing), or to the end of the data (censored).
    spell_returned : array-like of bool, shape (n,)
        True if the spell ended with a message.
    spell_competing : array-like of bool, shape (n,), optional
        True if the spell ended with the member leaving (or being removed). Default: none.
    days : iterable of numbers, default 1..90
        Silence lengths d at which to evaluate.
    within : float, default 60
        Length of the return window in days.
    groups : array-like, shape (n,), optional
        Segment label of each spell (e.g. member tier or group id); one curve per segment.
    weights : array-like, shape (n,), optional
        Frequency weights.
    alpha : float, default 0.05
        1 - confidence level.
    min_at_risk : int, default 10
        Below this many spells still silent after d, ``p_return`` and its CI are NaN (too noisy).

    Notes
    -----
    The CIs treat spells as independent. One member contributes several spells (and members
    are clustered in groups), so with many spells per member the intervals are too narrow;
    for inference use one spell per member (e.g. the current one) or a segment per group.

    Returns
    -------
    ReturnCurve
        ``.curve`` DataFrame with ``segment, d, p_return, se, ci_low, ci_high, n_at_risk``
        (``n_at_risk`` = weight of spells still silent after d days). Where no return was
        observed in (d, d + within], ``p_return`` = 0 and ``ci_high`` is NaN (the delta method
        cannot give an upper limit from zero events).
    """
    z = _z(alpha)
    dur = _durations(spell_durations, "spell_durations")
    n = dur.size
    ret = _float_array(spell_returned, "spell_returned")
    comp = np.zeros(n) if spell_competing is None else _float_array(spell_competing, "spell_competing")
    for name, arr in (("spell_returned", ret), ("spell_competing", comp)):
        if arr.size != n or not np.all(np.isin(arr, (0.0, 1.0))):
            raise ParameterError(f"{name} must be booleans (one per spell, same length as spell_durations).")
    if np.any((ret == 1) & (comp == 1)):
        raise ParameterError("A spell cannot end both with a message and with leaving the group; "
                             "mark each spell as returned, competing (left) or neither (censored).")
    if not np.isscalar(within) or not np.isfinite(within) or within <= 0:
        raise ParameterError(f"within must be a positive number of days, got {within!r}.")
    d_grid = _float_array(list(days), "days")
    if d_grid.size == 0 or np.any(d_grid < 0) or not np.all(np.isfinite(d_grid)):
        raise ParameterError("days must be a non-empty sequence of silence lengths >= 0.")
    w = _weights(weights, n)
    codes = np.where(ret == 1, 1, np.where(comp == 1, 2, 0)).astype(np.int64)
    if groups is None:
        labels = np.full(n, "all", dtype=object)
    else:
        labels = np.asarray(groups, dtype=object).ravel()
        if labels.size != n or pd.isna(labels).any():
            raise ParameterError("groups must give one non-missing segment label per spell.")

    frames, n_spells = [], {}
    for seg in pd.unique(labels):
        m = labels == seg
        table = _build_event_table(dur[m], codes[m], w[m], causes=np.array([1, 2]))
        est, var, _ = _conditional_cif(table, 0, d_grid, d_grid + within)
        order = np.argsort(dur[m], kind="stable")
        sorted_d, cum_w = dur[m][order], np.r_[0.0, np.cumsum(w[m][order])]
        n_risk = cum_w[-1] - cum_w[np.searchsorted(sorted_d, d_grid, side="right")]
        se = np.sqrt(var)
        too_few = n_risk < min_at_risk
        est = np.where(too_few, np.nan, est)
        se = np.where(too_few, np.nan, se)
        low, high = _loglog_ci(est, se, z)
        high = np.where(est == 0, np.nan, high)   # zero returns observed: the delta method gives no upper limit
        frames.append(pd.DataFrame({"segment": seg, "d": d_grid, "p_return": est, "se": se,
                                    "ci_low": low, "ci_high": high, "n_at_risk": n_risk}))
        n_spells[str(seg)] = int(m.sum())
    curve = pd.concat(frames, ignore_index=True)
    return ReturnCurve(curve=curve, within=float(within), alpha=alpha, n_spells=n_spells)


def suggest_threshold(curve, level: float = 0.2, use: str = "estimate") -> dict:
    """First silence length d at which the return probability falls below ``level``, per segment.

    Parameters
    ----------
    curve : ReturnCurve or DataFrame
        Output of :func:`return_probability_curve` (or its ``.curve`` / ``to_frame()``).
    level : float, default 0.2
        Probability of returning within the window below which a silent member is called "gone".
        A statistical default, not a playbook rule: choose it from the cost of a wasted
        reactivation message versus a missed one.
    use : {"estimate", "upper"}, default "estimate"
        "upper" uses the upper confidence limit: the first d where the return probability is
        *confidently* below ``level`` (a later, more conservative threshold).

    Returns
    -------
    dict
        ``{segment: d or None}`` (None if the curve never falls below ``level``).
    """
    frame = curve.curve if isinstance(curve, ReturnCurve) else curve
    if not isinstance(frame, pd.DataFrame) or not {"d", "p_return"}.issubset(frame.columns):
        raise ParameterError("curve must be the result of return_probability_curve() or its DataFrame.")
    if not 0 < level < 1:
        raise ParameterError(f"level must be a probability in (0, 1), got {level!r}.")
    column = {"estimate": "p_return", "upper": "ci_high"}.get(use)
    if column is None:
        raise ParameterError("use must be 'estimate' or 'upper'.")
    segments = frame["segment"] if "segment" in frame.columns else pd.Series("all", index=frame.index)
    out = {}
    for seg in pd.unique(segments):
        part = frame.loc[segments == seg].sort_values("d")
        below = part.loc[part[column] < level, "d"]
        out[seg] = None if below.empty else float(below.iloc[0])
    return out
