"""Survival analysis building blocks: Kaplan-Meier, Aalen-Johansen competing risks,
"how long is gone?" return-probability curves, and a Cox model wrapper.

All estimators are vectorised (event tables by ``np.unique`` + ``np.bincount``; variances by
prefix sums), follow scikit-learn conventions (``fit`` returns self, learned attributes end
in ``_``) and accept optional frequency weights.

Notation at the distinct observed times t_1 < ... < t_m: n_j = weight at risk (duration >= t_j),
d_j = events of any cause at t_j, d_kj = events of cause k, S = all-cause Kaplan-Meier::

    S(t)      = prod_{t_j <= t} (1 - d_j / n_j)
    Var S(t)  = S(t)^2 sum_{t_j <= t} d_j / (n_j (n_j - d_j))                    (Greenwood)
    F_k(t)    = sum_{t_j <= t} S(t_{j-1}) d_kj / n_j                             (Aalen-Johansen CIF)
    Var F_k(t) = sum_{t_j <= t} { [F_k(t) - F_k(t_j)]^2 d_j / (n_j (n_j - d_j))
                                  + S(t_{j-1})^2 d_kj (n_j - d_kj) / n_j^3
                                  - 2 [F_k(t) - F_k(t_j)] S(t_{j-1}) d_kj / n_j^2 }

The CIF variance is the delta-method ("Greenwood-type") estimator of Marubini & Valsecchi
(1995, Analysing Survival Data from Clinical Trials and Observational Studies, sec. 10.3),
also used by Collett (Modelling Survival Data in Medical Research) and by statsmodels'
``CumIncidenceRight``; with one cause it reduces exactly to Greenwood's formula for 1 - S.
Pointwise confidence intervals use the log(-log) transform, so they stay inside (0, 1)::

    S^{exp(+z se_S / |S ln S|)} <= S <= S^{exp(-z se_S / |S ln S|)}    (same for F_k)

Modules: ``engine`` (event table and shared helpers), ``estimators`` (KaplanMeier,
AalenJohansen), ``return_curve`` (ReturnCurve, return_probability_curve, suggest_threshold),
``cox`` (CoxPH, score residuals), ``plots``. Every name stays importable from
``groupstats.stats.survival``.
"""
from __future__ import annotations

from groupstats.stats.survival.engine import (_float_array, _durations, _weights, _event_codes, _loglog_ci,
                                              _EventTable, _build_event_table, _prefix, _conditional_cif, _z)
from groupstats.stats.survival.estimators import KaplanMeier, AalenJohansen
from groupstats.stats.survival.return_curve import (PLAYBOOK_SILENT_DAYS, ReturnCurve,
                                                    return_probability_curve, suggest_threshold)
from groupstats.stats.survival.cox import cox_score_residuals, _score_residuals_one_stratum, CoxPH
from groupstats.stats.survival.plots import _axes, plot_survival, plot_cumulative_incidence, plot_return_curve

__all__ = [
    "KaplanMeier", "AalenJohansen", "CoxPH", "ReturnCurve",
    "return_probability_curve", "suggest_threshold",
    "plot_survival", "plot_cumulative_incidence", "plot_return_curve",
]
