"""BG/NBD's "probability of no activity within the horizon" as a churn score (needs no labels)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from groupstats.analyses.churn.labels import DEFAULT_HORIZON_DAYS
from groupstats.analyses.churn.metrics import _one_thread
from groupstats.errors import ConvergenceError, InsufficientDataError, NotFittedError, StatisticalWarning


class BGNBDChurn:
    """BG/NBD "probability of no activity within the horizon" as a churn score.

    Fitted at a cutoff on member *active days* before it (frequency = repeat active days,
    recency = days from the first to the last active day, T = days from the first active
    day to the cutoff), by maximum likelihood (:class:`groupstats.stats.bgnbd.BetaGeoModel`).
    Needs no labels, so it is fitted on the data up to the scoring cutoff itself. Members
    never active before the cutoff get x = 0, t_x = 0 and T = days observed (since the
    later of their join and the data start). Histories of members present before the
    data start are left-truncated (their first observed day is taken as their first).

    Parameters
    ----------
    horizon : int
    penalizer : float, default 0.001
        Small L2 penalty for numerical stability (see BetaGeoModel).
    """

    def __init__(self, horizon: int = DEFAULT_HORIZON_DAYS, penalizer: float = 0.001):
        self.horizon = horizon
        self.penalizer = penalizer

    @staticmethod
    def _rfm(features: pd.DataFrame):
        never = features["never_active"].to_numpy() > 0
        x = np.where(never, 0.0, features["act_repeat_days"].to_numpy(dtype=float))
        T = np.where(never, features["silent_days"].to_numpy(dtype=float),
                     features["act_age_days"].to_numpy(dtype=float))
        tx = np.where(never, 0.0, features["act_span_days"].to_numpy(dtype=float))
        T = np.maximum(np.nan_to_num(T, nan=0.0), 0.0)
        tx = np.clip(np.nan_to_num(tx, nan=0.0), 0.0, T)
        tx = np.where(x == 0, 0.0, tx)
        return x, tx, T, never

    def fit(self, features: pd.DataFrame) -> "BGNBDChurn":
        """Fit on the churn features at a cutoff (only members active before it)."""
        from groupstats.stats.bgnbd import BetaGeoModel

        x, tx, T, never = self._rfm(features)
        use = ~never & (T > 0)
        if use.sum() < 20 or not np.any(x[use] > 0):
            raise InsufficientDataError(f"BG/NBD needs a few dozen members with repeat active days before the "
                                        f"cutoff; there are {int(use.sum())} members with any activity.")
        self.boundary_ = False
        try:
            with warnings.catch_warnings(), _one_thread():  # a few hundred likelihoods of n-vector dot products
                warnings.simplefilter("ignore", StatisticalWarning)
                self.model_ = BetaGeoModel(penalizer=self.penalizer).fit(x[use], tx[use], T[use])
        except ConvergenceError:
            # Chat activity often puts the MLE on the boundary a, b -> 0 (members either never drop
            # out or drop out at once), where BetaGeoModel.fit stops; maximise the same likelihood
            # with the log-parameters bounded instead (at_boundary_ and its warning are reported
            # through boundary_ / "boundary_fit").
            with warnings.catch_warnings(), _one_thread():
                warnings.simplefilter("ignore", StatisticalWarning)
                self.model_ = BetaGeoModel(log_bounds=(-9.0, 9.0)).fit(x[use], tx[use], T[use])
            self.boundary_ = True
        self.params_ = self.model_.params_
        self.n_fit_ = int(use.sum())
        return self

    def predict_no_activity(self, features: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("This BGNBDChurn is not fitted yet; call .fit(features) first.")
        x, tx, T, _ = self._rfm(features)
        return np.asarray(self.model_.probability_no_activity(self.horizon, x, tx, T), dtype=float)
