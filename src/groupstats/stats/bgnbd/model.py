"""The BG/NBD estimator (BetaGeoModel: fit, predictions, probability alive) and its result object
(BetaGeoFit)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from groupstats.errors import (ConvergenceError, InsufficientDataError, NotFittedError, ParameterError,
                               StatisticalWarning)
from groupstats.results import Result, to_jsonable

from groupstats.stats.bgnbd.likelihood import (PARAM_NAMES, _as_float_array, _hessian_from_gradient,
                                               _log_likelihood_and_gradient, _log_likelihood_terms,
                                               _log_odds_dead, _settle_on_bounds, _validate_rfm, _validate_t)
from groupstats.stats.bgnbd.data import simulate_bgnbd


def _p_alive(params, x, tx, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) from the log-odds of being dead (FHL 2005, eq. 13)."""
    return np.exp(-np.logaddexp(0.0, _log_odds_dead(params, x, tx, T)))


def _no_event_if_alive(params, t, x, T) -> np.ndarray:
    """P(no transaction in (T, T+t] | alive, x, T): ``((alpha+T)/(alpha+T+t))^(r+x)``, the posterior
    Gamma(r+x, alpha+T) rate's Laplace transform."""
    r, alpha = params[0], params[1]
    return np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))


# --------------------------------------------------------------------------------------
# result object
# --------------------------------------------------------------------------------------
@dataclass
class BetaGeoFit(Result):
    """Fitted BG/NBD parameters with standard errors and 95% Wald CIs (on the log scale).

    Attributes
    ----------
    table : DataFrame
        One row per parameter: ``parameter, estimate, se, ci_low, ci_high``.
    log_likelihood : float
    n_customers : int
    aic, bic : float
    """

    table: pd.DataFrame
    log_likelihood: float
    n_customers: int
    penalizer: float = 0.0
    extra: dict = field(default_factory=dict)
    title: str = "BG/NBD model (Fader, Hardie & Lee 2005), maximum likelihood"

    @property
    def aic(self) -> float:
        return -2 * self.log_likelihood + 2 * 4

    @property
    def bic(self) -> float:
        return -2 * self.log_likelihood + 4 * np.log(max(self.n_customers, 1))

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict:
        return to_jsonable({"title": self.title, "parameters": self.table, "log_likelihood": self.log_likelihood,
                            "n_customers": self.n_customers, "aic": self.aic, "bic": self.bic,
                            "penalizer": self.penalizer, **self.extra})

    def conclusion(self, lang: str | None = None) -> str:
        est = self.table.set_index("parameter")["estimate"]
        r, alpha, a, b = (float(est[k]) for k in PARAM_NAMES)
        mean_rate = r / alpha
        mean_p = a / (a + b)
        return (f"While active, a typical member transacts {mean_rate:.3g} times per time unit on average "
                f"(Gamma(r={r:.3g}, alpha={alpha:.3g}) heterogeneity); after each repeat transaction the "
                f"average drop-out probability is {mean_p:.1%} (Beta(a={a:.3g}, b={b:.3g})). "
                f"Fitted on {self.n_customers} customers, log-likelihood {self.log_likelihood:.1f}.")


# --------------------------------------------------------------------------------------
# estimator
# --------------------------------------------------------------------------------------
class BetaGeoModel:
    """BG/NBD model fitted by maximum likelihood (scikit-learn / lifelines style).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty added to the *mean* negative log-likelihood: ``penalizer * sum(params**2)``
        over (r, alpha, a, b) (as lifelines). Use a small value (0.001-0.1) when the fit
        does not converge on small or degenerate samples; 0 gives the plain MLE.
    max_iter : int, default 2000
        Iteration cap of the optimiser.
    log_bounds : (float, float), optional
        Bounds (low, high) on each log-parameter (log r, log alpha, log a, log b), e.g.
        ``(-9, 9)``. When given, the likelihood is maximised by L-BFGS-B within the bounds
        instead of the unbounded BFGS / Nelder-Mead search. Use it for data whose
        maximum likelihood lies on the edge of the parameter space (chat activity often
        pushes a, b -> 0: members either never drop out or drop out at once), where the
        unbounded fit raises ConvergenceError. If the optimum sits on a bound, ``fit``
        sets ``at_boundary_ = True`` and warns (StatisticalWarning) instead of raising;
        standard errors are then NaN (the Wald approximation does not hold on a bound).

    Attributes (after ``fit``)
    --------------------------
    params_ : pandas.Series
        Index ``r, alpha, a, b``.
    log_likelihood_ : float
        Unpenalised log-likelihood at ``params_`` (sum over customers, weighted).
    standard_errors_ : pandas.Series
        Delta-method SEs from the inverse numerical Hessian of the log-parameters
        (``se(theta) = theta * se(log theta)``); NaN if the Hessian is singular.
    covariance_log_params_ : ndarray (4, 4)
        Inverse Hessian of the negative log-likelihood in (log r, log alpha, log a, log b).
    summary_ : BetaGeoFit
        Result object with estimates and 95% CIs (Wald on the log scale, so always positive).
    n_customers_ : int
    at_boundary_ : bool
        True if a log-parameter ended within 1e-6 of a ``log_bounds`` limit (always False
        without ``log_bounds``).
    """

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000, log_bounds=None):
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.log_bounds = log_bounds

    # ---------------------------------------------------------------- fitting
    def fit(self, frequency, recency, T, weights=None, initial_params=None) -> "BetaGeoModel":
        """Fit (r, alpha, a, b) by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like, shape (n,)
            Repeat transactions (whole numbers), time of last transaction since the first,
            time from first transaction to the cutoff; same time unit for both.
        weights : array-like, shape (n,), optional
            Number of customers with this (x, t_x, T) row (aggregated data). Default 1.
        initial_params : dict or sequence, optional
            Starting values for (r, alpha, a, b); default (1, mean T-scale, 1, 1).

        Returns
        -------
        self
        """
        if not np.isscalar(self.penalizer) or not np.isfinite(self.penalizer) or self.penalizer < 0:
            raise ParameterError(f"penalizer must be a finite number >= 0 (got {self.penalizer!r}).")
        bounds = None
        if self.log_bounds is not None:
            try:
                low, high = (float(v) for v in self.log_bounds)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"log_bounds must be a pair (low, high) of numbers, e.g. (-9, 9) "
                                     f"(got {self.log_bounds!r}).") from exc
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ParameterError(f"log_bounds must be finite with low < high, e.g. (-9, 9) "
                                     f"(got {self.log_bounds!r}).")
            bounds = (low, high)
        x, tx, T_ = _validate_rfm(frequency, recency, T)
        n = x.size
        if weights is None:
            w = np.ones(n)
        else:
            w = _as_float_array(weights, "weights")
            if w.shape != x.shape or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ParameterError("weights must be finite, >= 0, one per customer, with a positive sum.")
        if n < 4 or w.sum() < 4:
            raise InsufficientDataError(f"BG/NBD has 4 parameters; got {n} customer(s). "
                                        f"Fit on at least a few dozen customers.")
        if not np.any(x > 0):
            raise InsufficientDataError("No customer made a repeat transaction (all frequency == 0), so the "
                                        "drop-out process cannot be estimated. Use a longer calibration period.")
        w_total = w.sum()
        penalizer = float(self.penalizer)

        x_levels = np.unique(x, return_inverse=True)

        def objective_and_gradient(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            """Mean penalised negative log-likelihood and its analytic gradient in the log-parameters."""
            params = np.exp(log_params)
            ll, grad = _log_likelihood_and_gradient(params, x, tx, T_, w, x_levels)
            value = -ll / w_total + penalizer * np.sum(params ** 2)
            grad = -grad / w_total + 2.0 * penalizer * params ** 2
            if not (np.isfinite(value) and np.all(np.isfinite(grad))):
                return 1e100, np.zeros(4)
            return float(value), grad

        def objective(log_params: np.ndarray) -> float:
            return objective_and_gradient(log_params)[0]

        if initial_params is None:
            scale = float(np.average(T_, weights=w)) or 1.0
            start = np.log([1.0, scale, 1.0, 1.0])
        else:
            vals = [initial_params[k] for k in PARAM_NAMES] if isinstance(initial_params, dict) else initial_params
            vals = np.asarray(vals, dtype=float)
            if vals.shape != (4,) or np.any(vals <= 0):
                raise ParameterError("initial_params must give 4 positive values for r, alpha, a, b.")
            start = np.log(vals)

        if bounds is not None:
            return self._fit_bounded(objective_and_gradient, start, bounds, x, tx, T_, w, penalizer)

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = optimize.minimize(objective_and_gradient, start, method="BFGS", jac=True,
                                    options={"maxiter": self.max_iter, "gtol": 1e-9})
            res_nm = res
            if not res.success:
                # fall back: Nelder-Mead is robust to the flat ridges this likelihood can have
                res_nm = optimize.minimize(objective, res.x, method="Nelder-Mead",
                                           options={"maxiter": 4 * self.max_iter, "xatol": 1e-8, "fatol": 1e-12})
        best = res_nm if res_nm.fun <= res.fun else res
        log_params = best.x
        params = np.exp(log_params)
        converged_value = np.isfinite(best.fun) and best.fun < 1e99
        if not converged_value or np.any(np.abs(log_params) > 25) or not (res.success or res_nm.success):
            raise ConvergenceError(
                f"The BG/NBD fit did not converge (optimiser: {best.message}; parameters "
                f"{dict(zip(PARAM_NAMES, np.round(params, 4)))}). If parameters run off to 0 or infinity "
                f"the maximum lies on the edge of the parameter space: fit with bounds "
                f"(BetaGeoModel(log_bounds=(-9, 9))). Otherwise try: a small penalizer "
                f"(BetaGeoModel(penalizer=0.01)), rescaling time (weeks instead of days), a longer "
                f"calibration period, or dropping customers with T == 0.")

        self.at_boundary_ = False
        return self._finish(objective_and_gradient, log_params, best, x, tx, T_, w, penalizer)

    def _fit_bounded(self, objective_and_gradient, start, bounds, x, tx, T_, w, penalizer) -> "BetaGeoModel":
        """L-BFGS-B (analytic gradient) within ``bounds`` on the log-parameters, from the default
        start and a start near the a, b -> 0 corner; keep the better optimum.

        A parameter is *on the bound* by the KKT conditions, not by its distance to the bound:
        the projected gradient vanishes while the gradient itself points out of the box (the
        objective would keep falling beyond the bound). L-BFGS-B may stop a little short of a
        bound on a very flat ridge; such a parameter is moved onto the bound when that does
        not increase the objective.
        """
        low, high = bounds
        starts = [np.clip(start, low, high), np.clip(np.array([0.0, 0.0, -3.0, -3.0]), low, high)]
        best = None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for z0 in starts:
                res = optimize.minimize(objective_and_gradient, z0, jac=True, method="L-BFGS-B",
                                        bounds=[(low, high)] * 4,
                                        options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": 1e-10})
                if best is None or res.fun < best.fun:
                    best = res
        if not np.isfinite(best.fun) or best.fun >= 1e99:
            raise ConvergenceError(
                f"The BG/NBD likelihood could not be maximised even with log-parameters bounded to "
                f"[{low}, {high}] ({best.message}). Check the data (frequency, recency, T in one time "
                f"unit) or widen log_bounds.")
        log_params, on_bound = _settle_on_bounds(objective_and_gradient, best.x, low, high)
        self.at_boundary_ = bool(on_bound.any())
        if self.at_boundary_:
            names = [name for name, hit in zip(PARAM_NAMES, on_bound) if hit]
            warnings.warn(
                f"The BG/NBD maximum likelihood lies on the bound of log_bounds={tuple(bounds)} for "
                f"{', '.join(names)} (estimates {dict(zip(PARAM_NAMES, np.round(np.exp(log_params), 6)))}): "
                f"the likelihood keeps improving towards the edge of the parameter space, so those "
                f"parameters are not identified and standard errors are NaN. Predictions remain usable; "
                f"interpret the parameters with care or use a longer calibration period.",
                StatisticalWarning, stacklevel=3)
        return self._finish(objective_and_gradient, log_params, best, x, tx, T_, w, penalizer)

    def _finish(self, objective_and_gradient, log_params, best, x, tx, T_, w, penalizer) -> "BetaGeoModel":
        """Standard errors from the numerical Hessian, learned attributes and the summary."""
        w_total = w.sum()
        params = np.exp(log_params)
        if self.at_boundary_:
            cov = np.full((4, 4), np.nan)
        else:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                hess = _hessian_from_gradient(lambda z: objective_and_gradient(z)[1] * w_total, log_params)
            cov = self._invert_hessian(hess)
        se_log = np.sqrt(np.diag(cov))

        self.params_ = pd.Series(params, index=list(PARAM_NAMES), name="estimate")
        self._store(cov, se_log, log_params, best, x, tx, T_, w, penalizer)
        return self

    @staticmethod
    def _invert_hessian(hess: np.ndarray) -> np.ndarray:
        try:
            cov = np.linalg.inv(hess)
            if np.any(np.diag(cov) <= 0) or not np.all(np.isfinite(cov)):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            cov = np.full((4, 4), np.nan)
            warnings.warn("The Hessian of the BG/NBD likelihood is singular at the optimum, so standard "
                          "errors are NaN; the estimates may sit on a flat ridge (e.g. very few repeaters). "
                          "Consider a small penalizer.", StatisticalWarning, stacklevel=4)
        return cov

    def _store(self, cov, se_log, log_params, best, x, tx, T_, w, penalizer) -> None:
        params = self.params_.to_numpy()
        w_total = w.sum()
        self.covariance_log_params_ = cov
        self.standard_errors_ = pd.Series(params * se_log, index=list(PARAM_NAMES), name="se")
        self.log_likelihood_ = float(np.dot(w, _log_likelihood_terms(params, x, tx, T_)))
        self.n_customers_ = int(round(w_total))
        self.optimizer_result_ = best
        z = stats.norm.ppf(0.975)
        table = pd.DataFrame({
            "parameter": list(PARAM_NAMES),
            "estimate": params,
            "se": params * se_log,
            "ci_low": np.exp(log_params - z * se_log),
            "ci_high": np.exp(log_params + z * se_log),
        })
        self.summary_ = BetaGeoFit(table=table, log_likelihood=self.log_likelihood_,
                                   n_customers=self.n_customers_, penalizer=penalizer,
                                   extra={"at_boundary": self.at_boundary_})

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> "BetaGeoModel":
        """A model with fixed parameters (e.g. published estimates) for prediction or simulation.

        ``log_likelihood_`` and ``standard_errors_`` are not set (nothing was fitted).
        """
        values = np.asarray([r, alpha, a, b], dtype=float)
        if np.any(~np.isfinite(values)) or np.any(values <= 0):
            raise ParameterError(f"r, alpha, a, b must all be positive and finite, got {values.tolist()}.")
        model = cls()
        model.params_ = pd.Series(values, index=list(PARAM_NAMES), name="estimate")
        return model

    # ---------------------------------------------------------------- helpers
    def _check_fitted(self) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise NotFittedError("This BetaGeoModel is not fitted yet; call .fit(frequency, recency, T) first.")
        return self.params_.to_numpy()

    @staticmethod
    def _wrap(values: np.ndarray, like):
        if isinstance(like, pd.Series) and len(like) == values.size:
            return pd.Series(values, index=like.index)
        if np.ndim(like) == 0 and values.size == 1:
            return float(values[0])
        return values

    # ---------------------------------------------------------------- predictions
    def log_likelihood_per_customer(self, frequency, recency, T) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters, shape (n,)."""
        params = self._check_fitted()
        x, tx, T_ = _validate_rfm(frequency, recency, T)
        return _log_likelihood_terms(params, x, tx, T_)

    def probability_alive(self, frequency, recency, T):
        """P(customer still alive at T | x, t_x, T); shape of the broadcast inputs.

        ``1 / (1 + 1[x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))`` (FHL 2005, eq. 13).
        """
        params = self._check_fitted()
        x, tx, T_ = _validate_rfm(frequency, recency, T)
        return self._wrap(_p_alive(params, x, tx, T_), frequency)

    def _window_inputs(self, t, frequency, recency, T) -> tuple:
        """(params, t, x, t_x, T) of a prediction over (T, T+t], checked and broadcast together."""
        params = self._check_fitted()
        t_arr = _validate_t(t)
        x, tx, T_ = _validate_rfm(frequency, recency, T)
        return (params, *np.broadcast_arrays(t_arr, x, tx, T_))

    def expected_purchases(self, t, frequency, recency, T):
        """Conditional expected number of transactions in (T, T+t] given (x, t_x, T).

        FHL 2005, eq. 10, with the Gaussian hypergeometric function ``scipy.special.hyp2f1``.
        ``t`` may be a scalar or an array broadcastable with the customer arrays.
        """
        params, t_arr, x, tx, T_ = self._window_inputs(t, frequency, recency, T)
        r, alpha, a, b = params
        z = t_arr / (alpha + T_ + t_arr)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        ratio = _no_event_if_alive(params, t_arr, x, T_)
        p_alive = _p_alive(params, x, tx, T_)
        value = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * hyp) * p_alive
        if not np.all(np.isfinite(value)):
            raise ConvergenceError("The hypergeometric function did not evaluate for some customers "
                                   "(very long prediction window relative to alpha + T?); use a shorter t.")
        return self._wrap(value, frequency if np.ndim(t) == 0 else t)

    def probability_no_activity(self, t, frequency, recency, T):
        """P(no transaction in (T, T+t] | x, t_x, T) under the fitted model.

        ``1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)``: dead customers never
        transact; alive ones cannot die without transacting, and their rate has posterior
        Gamma(r+x, alpha+T). See the module docstring for the derivation.
        """
        params, t_arr, x, tx, T_ = self._window_inputs(t, frequency, recency, T)
        p_alive = _p_alive(params, x, tx, T_)
        value = 1.0 - p_alive + p_alive * _no_event_if_alive(params, t_arr, x, T_)
        return self._wrap(value, frequency if np.ndim(t) == 0 else t)

    def expected_purchases_new_customer(self, t):
        """E[X(t)] for a customer just acquired (unconditional, FHL 2005 eq. 7)."""
        params = self._check_fitted()
        r, alpha, a, b = params
        t_arr = _validate_t(t)
        z = t_arr / (alpha + t_arr)
        value = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t_arr)) ** r * special.hyp2f1(r, b, a + b - 1.0, z))
        return self._wrap(value, t)

    # ---------------------------------------------------------------- simulation
    def simulate(self, T, seed=None, params=None, horizon: float = 0.0) -> pd.DataFrame:
        """Simulate customers from the model (fitted or given ``params``).

        Parameters
        ----------
        T : array-like, shape (n,)
            Calibration length of each simulated customer (first transaction at time 0).
        seed : int or numpy Generator, optional
        params : dict, optional
            (r, alpha, a, b); defaults to the fitted ``params_``.
        horizon : float, default 0
            Also count transactions in the hold-out window (T, T + horizon].

        Returns
        -------
        DataFrame with columns ``frequency, recency, T, holdout_frequency, alive_at_T``,
        one row per customer (simulated with numpy, vectorised across customers).
        """
        if params is None:
            params_arr = self._check_fitted()
        else:
            params_arr = np.asarray([params[k] for k in PARAM_NAMES] if isinstance(params, dict) else params,
                                    dtype=float)
        return simulate_bgnbd(params_arr, T, seed=seed, horizon=horizon)
