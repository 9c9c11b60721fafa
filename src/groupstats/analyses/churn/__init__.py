"""Churn risk: labels, time-split models, "how long is gone?", survival views.

What "churn" means is configurable (:class:`ChurnDefinition`):

- ``silent``: no activity of the chosen kinds (default: a member message; event
  types such as ``read`` or ``sign_in`` can be added) in the ``horizon`` days
  after the cutoff (default 30 days, the playbook's "流失用户: 连续30天无互动"
  rule, article "微信群如何经营和管理(微信群运营与管理)");
- ``left``: the member leaves the group within the horizon;
- ``either``: silent or left.

Time conventions
----------------
A cutoff is the start (local midnight) of a date. **Features** come only from
data up to the cutoff (:func:`groupstats.tables.features.member_features` on
``ds.as_of(cutoff)`` plus a few churn-specific columns from the member's
activity before the cutoff); **labels** come only from data in
``(cutoff, cutoff + horizon]``. Members scored at a cutoff are the non-operator
members present at it.

Time-split training (:class:`ChurnRiskModel`)
---------------------------------------------
To score at a date ``s`` the model uses only data up to ``s`` (:func:`plan_cutoffs`): a
labelled cutoff ``c`` fits when ``c + horizon <= s`` and it has ``min_history_days`` (14) of
data before it. With two or more (``s - horizon - k * step_days``, k = 0, 1, ...), the model
is calibrated on the latest (``s - horizon``) and trained on up to ``n_train_cutoffs``
earlier ones: calibration uses a later cutoff than training, never random folds across
time. With exactly one, it is trained there and calibrated by cross-fitting across groups
at that cutoff, and the result says there is no out-of-time backtest. With none,
:class:`~groupstats.errors.InsufficientDataError` says how much history is needed
(``min_history_days + horizon`` days). Feature windows shrink to the history before the
earliest training cutoff (:func:`feature_windows`). :func:`backtest` evaluates the same
procedure at an earlier cutoff ``e`` (fitted with data up to ``e``, judged on what happened
in ``(e, e + horizon]``).

Models: ``recency`` (days since the last activity alone: the baseline),
``logistic`` (L2-regularised logistic regression), ``hgb`` (scikit-learn
HistGradientBoosting), each Platt-calibrated on the calibration cutoff, and
``bgnbd`` (the BG/NBD model of :mod:`groupstats.stats.bgnbd` fitted on member active
days up to the cutoff; its score is P(no activity in the next ``horizon``
days), compared on the same target).

The package is split by concern: :mod:`.labels`, :mod:`.features`, :mod:`.model`, :mod:`.bgnbd_churn`,
:mod:`.metrics`, :mod:`.backtest`, :mod:`.scoring`, :mod:`.survival_views`; every name stays
importable from ``groupstats.analyses.churn``.
"""
from __future__ import annotations

from groupstats.analyses.churn.labels import (  # noqa: F401
    ACTIVITY_LEVELS, CHURN_WINDOWS, CROSS_FIT_FOLDS, ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS,
    DEFINITIONS, KEYS, MEMBER_WINDOWS, MIN_HISTORY_DAYS, MODELS, N_TRAIN_CUTOFFS, STEP_DAYS, _DAY, ChurnData,
    _definition, _fmt, _midnight, activity_flags, churn_data, churn_labels, data_end_day,
    data_start_day, present_members,
)
from groupstats.analyses.churn.features import (  # noqa: F401
    CHURN_FEATURES, EXCLUDED_PREFIX, KEPT_SHARES, _Panel, _US_PER_DAY, _churn_extras, churn_features,
    feature_windows, model_feature_columns,
)
from groupstats.analyses.churn.metrics import (  # noqa: F401
    _calibration_table, _permutation_importance, _weighted_auc, calibration_line, classification_metrics,
    paired_auc_bootstrap,
)
from groupstats.analyses.churn.model import (  # noqa: F401
    AveragedChurnModel, BGNBDChurn, ChurnRiskModel, _Platt, _make_estimator, _one_thread, _signed_log, plan_cutoffs,
)
from groupstats.analyses.churn.backtest import (  # noqa: F401
    ChurnBacktest, _evaluate, _fit_all, backtest,
)
from groupstats.analyses.churn.scoring import ChurnRiskResult, churn_risk  # noqa: F401
from groupstats.analyses.churn.survival_views import (  # noqa: F401
    COX_COVARIATES, ChurnSurvival, SilenceReturn, _ax, _segments_for, activity_level, churn_survival,
    how_long_is_gone, plot_calibration, plot_churn_survival, plot_roc, silence_spells, time_to_churn,
)

__all__ = [
    "ChurnDefinition", "churn_labels", "churn_features", "plan_cutoffs", "ChurnRiskModel", "BGNBDChurn",
    "backtest", "ChurnBacktest", "churn_risk", "ChurnRiskResult", "silence_spells", "how_long_is_gone",
    "SilenceReturn", "churn_survival", "ChurnSurvival", "classification_metrics", "paired_auc_bootstrap",
    "plot_roc", "plot_calibration", "plot_churn_survival",
]
