"""Cox proportional hazards (Efron or Breslow ties, strata) with cluster-robust standard errors from
score residuals."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from groupstats.errors import ConvergenceError, InsufficientDataError, NotFittedError, ParameterError

from groupstats.stats.survival.engine import _durations, _float_array, _z


# ======================================================================================
# Cox proportional hazards (statsmodels PHReg)
# ======================================================================================
def cox_score_residuals(durations: np.ndarray, events: np.ndarray, x: np.ndarray, beta: np.ndarray,
                        ties: str = "efron", strata: np.ndarray | None = None) -> np.ndarray:
    """Score residuals of a Cox model, consistent with its tie method (as R's ``coxph``).

    With ``d`` tied events at time ``t``, Efron's partial likelihood has ``d`` terms: in term
    ``k = 0..d-1`` every subject at risk has weight ``r_i = exp(x_i'beta)`` except the tied
    events, whose weight is ``(1 - k/d) r_i``; ``S0_k`` and ``xbar_k`` are that term's weighted
    sum and mean. The score splits into per-subject residuals

        U_i = sum_t [ dN_i(t) (x_i - mean_k xbar_k) - sum_k w_ik r_i (x_i - xbar_k) / S0_k ]

    (``w_ik = 1``, or ``1 - k/d`` at the subject's own event time), which sum to the score and
    are the ``dfbeta`` building blocks of R's robust variance; Breslow is the case ``k = 0`` for
    all ``d`` terms. Subjects censored at ``t`` are at risk at ``t``. Vectorised over event times
    (cumulative sums); a loop runs only over the distinct tie sizes and strata.

    Returns
    -------
    ndarray (n, p)
    """
    t = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=float)
    x = np.asarray(x, dtype=float).reshape(len(t), -1)
    out = np.zeros_like(x)
    groups = [np.arange(len(t))] if strata is None else \
        [np.flatnonzero(codes == s) for codes in [pd.factorize(np.asarray(strata))[0]] for s in range(codes.max() + 1)]
    for idx in groups:
        out[idx] = _score_residuals_one_stratum(t[idx], ev[idx], x[idx], np.asarray(beta, dtype=float), ties)
    return out


def _score_residuals_one_stratum(t, ev, x, beta, ties):
    n, p = x.shape
    r = np.exp(x @ beta)
    times, inv = np.unique(t, return_inverse=True)                       # ascending distinct times
    m = len(times)
    # risk-set sums at each distinct time: subjects with t_i >= time
    s0_at = np.bincount(inv, weights=r, minlength=m)
    s1_at = np.stack([np.bincount(inv, weights=r * x[:, j], minlength=m) for j in range(p)], axis=1)
    s0 = np.cumsum(s0_at[::-1])[::-1]
    s1 = np.cumsum(s1_at[::-1], axis=0)[::-1]
    d = np.bincount(inv, weights=ev, minlength=m)                         # events per time
    s0_d = np.bincount(inv, weights=ev * r, minlength=m)
    s1_d = np.stack([np.bincount(inv, weights=ev * r * x[:, j], minlength=m) for j in range(p)], axis=1)
    a_all = np.zeros(m)                 # sum_k 1/S0_k
    b_all = np.zeros((m, p))            # sum_k xbar_k/S0_k
    a_own = np.zeros(m)                 # sum_k (k/d)/S0_k  (the events' own reduction)
    b_own = np.zeros((m, p))
    xbar_mean = np.zeros((m, p))        # mean_k xbar_k
    has = d > 0
    for dd in np.unique(d[has]).astype(int):
        sel = np.flatnonzero(d == dd)
        for k in range(dd):
            frac = k / dd if ties == "efron" else 0.0
            s0k = s0[sel] - frac * s0_d[sel]
            xbar = (s1[sel] - frac * s1_d[sel]) / s0k[:, None]
            a_all[sel] += 1.0 / s0k
            b_all[sel] += xbar / s0k[:, None]
            a_own[sel] += frac / s0k
            b_own[sel] += frac * xbar / s0k[:, None]
            xbar_mean[sel] += xbar / dd
    cum_a = np.cumsum(a_all)
    cum_b = np.cumsum(b_all, axis=0)
    resid = -r[:, None] * (x * cum_a[inv][:, None] - cum_b[inv])
    died = ev > 0
    # the events: + (x_i - mean_k xbar_k), and their weight at their own time is (1 - k/d), not 1
    resid[died] += x[died] - xbar_mean[inv[died]]
    resid[died] += r[died, None] * (x[died] * a_own[inv[died]][:, None] - b_own[inv[died]])
    return resid


class CoxPH:
    """Cox proportional-hazards regression: a thin wrapper around statsmodels ``PHReg``.

    Why statsmodels and not lifelines: statsmodels is already a dependency (lifelines would add
    autograd and its own formula stack), and ``PHReg`` has what chat data needs: Breslow and Efron
    ties (durations in whole days tie a lot), strata (a baseline hazard per group) and
    cluster-robust standard errors (members are clustered in groups). lifelines' extras (splines,
    AFT models, plotting) are not needed for these building blocks.

    Parameters
    ----------
    ties : {"efron", "breslow"}, default "efron"
        Tie handling (Efron is more accurate with many ties; R's default).
    alpha : float, default 0.05

    Attributes (after ``fit``)
    --------------------------
    summary_ : DataFrame
        One row per covariate: ``covariate, coef, se, z, p, hazard_ratio, hr_ci_low, hr_ci_high``.
    params_ : Series
        Log hazard ratios.
    results_ : statsmodels PHRegResults
    """

    def __init__(self, ties: str = "efron", alpha: float = 0.05):
        self.ties = ties
        self.alpha = alpha

    def fit(self, frame: pd.DataFrame, duration_col: str, event_col: str, formula: str | None = None,
            columns: list[str] | None = None, strata_col: str | None = None,
            cluster_col: str | None = None) -> "CoxPH":
        """Fit the model.

        Parameters
        ----------
        frame : DataFrame
        duration_col, event_col : str
            Duration (>= 0) and event indicator (1 = event, 0 = censored) columns.
        formula : str, optional
            Right-hand side only, e.g. ``"age + C(tier)"`` (no intercept: the baseline hazard
            absorbs it).
        columns : list of str, optional
            Numeric covariate columns (use instead of ``formula``).
        strata_col : str, optional
            Fit a separate baseline hazard per level of this column.
        cluster_col : str, optional
            Cluster-robust (sandwich) standard errors by this column (e.g. group id).
        """
        from statsmodels.duration.hazard_regression import PHReg

        if self.ties not in ("efron", "breslow"):
            raise ParameterError(f"ties must be 'efron' or 'breslow', got {self.ties!r}.")
        z = _z(self.alpha)
        if (formula is None) == (columns is None):
            raise ParameterError("Pass exactly one of formula (e.g. 'age + C(tier)') or columns (a list).")
        needed = [duration_col, event_col] + [c for c in (strata_col, cluster_col) if c]
        if columns is not None:
            needed += list(columns)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ParameterError(f"Columns {missing} are not in the frame (columns: {list(frame.columns)[:20]}).")
        if frame[needed].isna().any().any():
            raise ParameterError(f"Missing values in {[c for c in needed if frame[c].isna().any()]}; "
                                 f"drop or impute those rows before fitting.")
        dur = _durations(frame[duration_col], duration_col)
        ev = _float_array(frame[event_col], event_col)
        if not np.all(np.isin(ev, (0.0, 1.0))):
            raise ParameterError(f"'{event_col}' must be 0/1 or boolean (1 = event observed).")
        if ev.sum() == 0:
            raise InsufficientDataError("No events observed; a Cox model cannot be fitted.")
        strata = None if strata_col is None else frame[strata_col].to_numpy()
        if formula is not None:
            rhs = formula.split("~", 1)[-1]
            data = frame.assign(_gs_duration=dur)
            model = PHReg.from_formula(f"_gs_duration ~ {rhs}", data=data, status=ev, strata=strata,
                                       ties=self.ties, missing="raise")
        else:
            exog = frame[list(columns)].astype(float)
            model = PHReg(dur, exog, status=ev, strata=strata, ties=self.ties)
        groups = None if cluster_col is None else frame[cluster_col].to_numpy()
        try:
            results = model.fit()
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(f"The Cox fit failed ({exc}). Check for collinear covariates or covariates "
                                   f"that perfectly separate events from non-events.") from exc
        if not (np.all(np.isfinite(results.params)) and np.all(np.isfinite(results.bse))):
            raise ConvergenceError("The Cox fit did not converge (infinite coefficient or standard error): a "
                                   "covariate probably separates events from non-events perfectly, or two are "
                                   "collinear. Drop or merge such covariates (or sparse categories).")
        names = list(model.exog_names)
        params = np.asarray(results.params, dtype=float)
        se = np.asarray(results.bse, dtype=float)
        self.robust_covariance_ = None
        if groups is not None:
            # cluster-robust (sandwich) covariance from score residuals that follow the tie method:
            # statsmodels' PHReg sandwich is Breslow-type also under Efron ties; this equals R's
            # coxph(..., cluster = ) for both (tests/test_survival_cox_cluster.R)
            info_inv = np.linalg.inv(-model.hessian(params))
            resid = cox_score_residuals(model.endog, model.status, model.exog, params, self.ties,
                                        strata)
            codes = pd.factorize(groups)[0]
            summed = np.zeros((codes.max() + 1, resid.shape[1]))
            np.add.at(summed, codes, resid)
            dfbeta = summed @ info_inv
            self.robust_covariance_ = dfbeta.T @ dfbeta
            se = np.sqrt(np.diag(self.robust_covariance_))
        zval = params / se
        self.results_ = results
        self.formula = formula
        self.columns_ = names
        self.params_ = pd.Series(params, index=names, name="coef")
        self.summary_ = pd.DataFrame({
            "covariate": names, "coef": params, "se": se, "z": zval, "p": 2 * stats.norm.sf(np.abs(zval)),
            "hazard_ratio": np.exp(params), "hr_ci_low": np.exp(params - z * se),
            "hr_ci_high": np.exp(params + z * se),
        })
        self.n_, self.n_events_ = int(dur.size), int(ev.sum())
        return self

    def predict_partial_hazard(self, frame: pd.DataFrame) -> pd.Series:
        """exp(x'beta) per row, relative to a member with all covariates 0 (not mean-centred)."""
        if not hasattr(self, "results_"):
            raise NotFittedError("This CoxPH is not fitted yet; call .fit(frame, duration_col, event_col, ...) first.")
        if self.formula is not None:
            pred = self.results_.predict(exog=frame, pred_type="hr", transform=True)
            values = np.asarray(pred.predicted_values, dtype=float)
        else:
            x = frame[self.columns_].astype(float).to_numpy()
            values = np.exp(x @ self.params_.to_numpy())
        return pd.Series(values, index=frame.index, name="partial_hazard")
