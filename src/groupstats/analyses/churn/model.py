"""The cutoff plan and the churn models: time-split / cross-fitted ChurnRiskModel (BG/NBD: .bgnbd_churn)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError, StatisticalWarning
from groupstats.analyses.churn.labels import (
    CROSS_FIT_FOLDS, ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS, MIN_HISTORY_DAYS,
    N_TRAIN_CUTOFFS, STEP_DAYS, _DAY, _definition, _fmt, _midnight, churn_data, data_end_day, data_start_day,
)
from groupstats.analyses.churn.bgnbd_churn import BGNBDChurn  # noqa: F401 (re-exported)
from groupstats.analyses.churn.features import _Panel, churn_features, feature_windows, model_feature_columns
from groupstats.analyses.churn.metrics import _one_thread, _weighted_auc  # noqa: F401 (_one_thread re-exported)


# ======================================================================================
# cutoff plan
# ======================================================================================
def plan_cutoffs(ds: Dataset, scoring_cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS,
                 n_train_cutoffs: int = N_TRAIN_CUTOFFS, step_days: int = STEP_DAYS,
                 min_history_days: int = MIN_HISTORY_DAYS) -> dict:
    """Labelled cutoffs for scoring at ``scoring_cutoff`` with data up to it only.

    A labelled cutoff ``c`` fits when its outcomes are observed by the scoring date
    (``c + horizon <= scoring``) and it has at least ``min_history_days`` of data before it.
    The candidates are ``scoring - horizon - k * step_days`` (k = 0, 1, ...):

    - two or more fit (``mode="time_split"``): calibration on the latest
      (``scoring - horizon``), training on up to ``n_train_cutoffs`` earlier ones;
    - exactly one fits (``mode="cross_fit"``): the model is trained on it and calibrated by
      cross-fitting across groups at that cutoff (out-of-fold scores of held-out groups);
      there is then no later cutoff to calibrate on and no out-of-time backtest.

    Returns
    -------
    dict with ``scoring`` (Timestamp), ``mode``, ``calibration`` (Timestamp, or None in
    cross-fit mode), ``train`` (list of Timestamps, latest first), ``history_days`` (days
    of data before the earliest training cutoff: the feature windows adapt to it, see
    :func:`feature_windows`), ``history_needed_days`` (for this mode) and
    ``history_needed_days_time_split``.

    Raises
    ------
    InsufficientDataError
        Not even one labelled cutoff fits: the message says how many days of history
        before the scoring date are needed.
    """
    for name, value, low in (("horizon", horizon, 1), ("n_train_cutoffs", n_train_cutoffs, 1),
                             ("step_days", step_days, 1), ("min_history_days", min_history_days, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ParameterError(f"{name} must be a whole number >= {low}, got {value!r}.")
    start = data_start_day(ds)
    scoring = data_end_day(ds) if scoring_cutoff is None else _midnight(ds, scoring_cutoff)
    latest = scoring - pd.Timedelta(days=horizon)
    earliest_ok = start + pd.Timedelta(days=min_history_days)
    one = min_history_days + horizon
    full = min_history_days + step_days + horizon
    if latest < earliest_ok:
        have = (scoring - start) / _DAY
        raise InsufficientDataError(
            f"Too little history to train a churn model for scoring on {_fmt(scoring)}: it needs at least "
            f"{one} days of data before the scoring date (one labelled cutoff: {min_history_days} days of history "
            f"for the features + the {horizon}-day horizon, whose outcomes must be observed by the scoring date), "
            f"i.e. data starting on or before {_fmt(scoring - pd.Timedelta(days=one))}; the data start on "
            f"{_fmt(start)} ({have:.0f} days before). Use a scoring date on or after "
            f"{_fmt(start + pd.Timedelta(days=one))}, a shorter horizon, or more history. (With {full} days the "
            f"model is also calibrated on a later cutoff than it is trained on.)")
    train = [latest - pd.Timedelta(days=step_days * k) for k in range(1, n_train_cutoffs + 1)]
    train = [c for c in train if c >= earliest_ok]
    base = {"scoring": scoring, "history_needed_days_time_split": full}
    if not train:
        return {**base, "mode": "cross_fit", "calibration": None, "train": [latest],
                "history_days": float((latest - start) / _DAY), "history_needed_days": one}
    return {**base, "mode": "time_split", "calibration": latest, "train": train,
            "history_days": float((min(train) - start) / _DAY), "history_needed_days": full}


# ======================================================================================
# models
# ======================================================================================
def _signed_log(x):
    """``sign(x) * log1p(|x|)``, computed in two arrays instead of four (the same numbers: the same
    element-wise operations; the logistic pipeline applies it to every training and scored matrix)."""
    sign = np.sign(x)
    out = np.abs(x)
    np.log1p(out, out=out)
    return np.multiply(sign, out, out=out)


def _make_estimator(model: str, random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if model == "hgb":
        return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=100, max_leaf_nodes=15,
                                              min_samples_leaf=40, l2_regularization=1.0, early_stopping=False,
                                              random_state=random_state)
    # logistic and recency: L2-regularised logistic regression on signed-log, standardised features
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         FunctionTransformer(_signed_log), StandardScaler(),
                         LogisticRegression(C=0.5, max_iter=5000))


def _column_medians(X: np.ndarray) -> np.ndarray | None:
    """The median of each column's non-NaN values (NaN for a column all NaN), as scikit-learn's median
    imputer computes it, or None when ``X`` holds an infinity or a column's median is not finite (two
    middle values whose sum overflows): there :func:`_fit_estimator` fits the plain way.

    What ``np.nanmedian(X, axis=0)`` does on 600 rows or more (each column's NaN left out, then
    ``np.median``: a partition instead of the sort of a masked copy of ``X``), column by column, without
    its warning for a column all NaN and without changing a warning filter (the fits run in threads at
    once: :func:`fit_concurrently`). Equal values are the same number, except -0.0 and 0.0: which zero a
    partition or a sort puts in the middle is not defined, so a column whose median is zero with a -0.0
    among its values takes the imputer's own computation, the masked array's median of that column (a
    sort orders each column by its values alone; with numpy 2's sums starting from 0.0, both give 0.0)."""
    out = np.empty(X.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):  # (errstate is per thread)
        for j in range(X.shape[1]):
            col = X[:, j]
            bad = ~np.isfinite(col)
            if bad.any():
                nan = np.isnan(col)
                if not np.array_equal(nan, bad):
                    return None  # an infinity: scikit-learn's validation rejects it
                if nan.all():
                    out[j] = np.nan
                    continue
                values = col[~nan]
                out[j] = np.median(values, overwrite_input=True)  # (a copy)
            else:
                values = col
                out[j] = np.median(values)
            if not np.isfinite(out[j]):
                return None
            if out[j] == 0 and np.signbit(values[values == 0]).any():
                part = X[:, [j]]
                out[j] = np.ma.getdata(np.ma.median(np.ma.masked_array(part, mask=np.isnan(part)), axis=0))[0]
    return out


def _takes_medians_row(estimator, X) -> bool:
    """Whether :func:`_fit_estimator` may fit ``estimator`` on ``X`` with its imputer fitted on the row of
    column medians: a plain pipeline (no cache, no messages, no callbacks, default output) whose first step
    is a median ``SimpleImputer`` of NaN without an indicator, and a float64 ndarray with rows and columns."""
    import sklearn
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    if not (type(estimator) is Pipeline and len(estimator.steps) >= 2 and estimator.memory is None
            and not estimator.verbose and getattr(estimator, "transform_input", None) is None
            and sklearn.get_config()["transform_output"] == "default"
            and type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2 and X.shape[0] > 0
            and X.shape[1] > 0):
        return False
    imputer = estimator.steps[0][1]
    return (type(imputer) is SimpleImputer and isinstance(imputer.strategy, str) and imputer.strategy == "median"
            and not imputer.add_indicator and imputer.copy and isinstance(imputer.missing_values, float)
            and np.isnan(imputer.missing_values)
            and getattr(imputer, "_sklearn_output_config", {}).get("transform", "default") == "default"
            and not any(hasattr(step, "_skl_callbacks") for step in (estimator, *estimator.named_steps.values())))


def _fit_estimator(estimator, X, y):
    """``estimator.fit(X, y)`` for an estimator of :func:`_make_estimator`: the same fitted estimator.

    For the logistic pipeline on a float64 matrix (:func:`_takes_medians_row`) the median imputer is fitted
    on the row of column medians (:func:`_column_medians`) instead of ``X`` itself: scikit-learn's median
    of one value ``m`` is ``(m + m) / 2``, i.e. ``m``, as its median of the full column is
    ``(low + high) / 2`` (the same ``m``; of an odd count ``(x + x) / 2``, which the fit on the row
    repeats, overflow included), and a column all NaN stays all NaN (0 with ``keep_empty_features``, as
    the full fit gives). The imputer's own fit sorts a masked copy of ``X``; the partitions of the column
    medians take about a tenth of its time. Then ``X`` goes through the fitted imputer's ``transform``,
    as ``Pipeline.fit`` sends it, and the steps after it (the same step objects) are fitted on the result
    as ``Pipeline.fit`` fits them. Anything else is fitted the plain way.
    """
    medians = _column_medians(X) if _takes_medians_row(estimator, X) else None
    if medians is None:
        return estimator.fit(X, y)
    imputer = estimator.steps[0][1]
    imputer.fit(medians[None, :])
    estimator[1:].fit(imputer.transform(X), y)  # (a pipeline of the same step objects)
    return estimator


def _columnwise_steps(estimator):
    """The steps before the classifier of a pipeline of :func:`_make_estimator` whose every step transforms
    each value of a column on its own (median imputation, :func:`_signed_log`, standardisation), else None.

    Through such steps a matrix with one column replaced transforms to the transformed matrix with that
    column replaced by the transformed values, element for element the same numbers, so the copies
    with a column changed can be made after the transformation (the classifier sees the same rows).
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    steps = estimator[:-1]
    for _, step in steps.steps:
        ok = ((type(step) is SimpleImputer and not step.add_indicator and step.keep_empty_features)
              or (type(step) is FunctionTransformer and step.func is _signed_log and step.kw_args is None)
              or type(step) is StandardScaler)
        if not ok:
            return None
    return steps


def _transform_columns(steps, X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return steps.transform(X)  # the memory layout of X kept: the classifier sees what the pipeline gives it


def _transformed_replacements(steps, replacements, k: int) -> list:
    """``replacements`` (``(j, values)``, values of column j) with their values through the column-wise
    ``steps``: all of them in one matrix with one column per feature (each replacement's values in its
    column, the rest filled with 0), transformed once."""
    per_column: dict = {}
    for j, values in replacements:
        per_column[j] = per_column.get(j, 0) + values.size
    P = np.zeros((max(per_column.values(), default=0), k))
    at: dict = dict.fromkeys(per_column, 0)
    where = []
    for j, values in replacements:
        P[at[j]:at[j] + values.size, j] = values.ravel()
        where.append(at[j])
        at[j] += values.size
    T = _transform_columns(steps, P) if len(P) else P
    return [(j, T[lo:lo + values.size, j].reshape(values.shape)) for (j, values), lo in zip(replacements, where)]


def _rounded_text(values: np.ndarray, decimals: int, missing: str) -> np.ndarray:
    """``pd.Series(values).round(decimals).astype("str").fillna(missing)`` as an object array: each
    distinct rounded number (told apart by its bits, so -0.0 keeps its sign) is formatted once, by the
    same conversion, instead of every row's."""
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    bits, inverse = np.unique(rounded.view(np.int64), return_inverse=True)
    text = pd.Series(bits.view(np.float64)).astype("str").fillna(missing).to_numpy(dtype=object)
    return text[inverse.reshape(-1)]


def _same_swaps(X0: np.ndarray, rep0: list, X: np.ndarray, rep: list) -> bool:
    """Whether two (matrix, replacements) of :meth:`ChurnRiskModel._raw_swapped` are the same (NaN equal to NaN)."""
    return (X0.shape == X.shape and np.array_equal(X0, X, equal_nan=True) and len(rep0) == len(rep)
            and all(j0 == j and np.array_equal(np.asarray(v0), np.asarray(v), equal_nan=True)
                    for (j0, v0), (j, v) in zip(rep0, rep)))


class _Platt:
    """Platt scaling of a score's logit, fitted on a later cutoff than the model."""

    def fit(self, p_raw: np.ndarray, y: np.ndarray) -> "_Platt":
        from sklearn.linear_model import LogisticRegression

        self.identity_ = len(np.unique(y)) < 2
        if not self.identity_:
            self.lr_ = LogisticRegression(C=1e4, max_iter=1000).fit(self._logit(p_raw)[:, None], y)
        return self

    @staticmethod
    def _logit(p):
        p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def transform(self, p_raw: np.ndarray) -> np.ndarray:
        if self.identity_:
            return np.asarray(p_raw, float)
        return self.lr_.predict_proba(self._logit(p_raw)[:, None])[:, 1]


class ChurnRiskModel:
    """Time-split churn classifier: trained on earlier cutoffs, calibrated on a later one.

    Parameters
    ----------
    model : {"recency", "logistic", "hgb"}, default "hgb"
        ``recency`` uses only ``silent_days`` (the baseline); ``logistic`` is an
        L2-regularised logistic regression (C = 0.5 on standardised signed-log features);
        ``hgb`` is a HistGradientBoostingClassifier.
    horizon, definition, activity
        See :class:`ChurnDefinition`.
    n_train_cutoffs, step_days, min_history_days
        See :func:`plan_cutoffs`.
    calibrate : bool, default True
        Platt-scale the scores on the calibration cutoff.
    random_state : int, default 0

    Attributes (after ``fit``)
    --------------------------
    cutoffs_ : dict (scoring, calibration, train)
    feature_names_ : list of str
    estimator_ : fitted scikit-learn estimator
    reference_ : Series, the training medians (the "typical member" used for drivers)
    n_train_, n_calibration_ : int
    """

    def __init__(self, model: str = "hgb", horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
                 activity=DEFAULT_ACTIVITY, n_train_cutoffs: int = N_TRAIN_CUTOFFS, step_days: int = STEP_DAYS,
                 min_history_days: int = MIN_HISTORY_DAYS, calibrate: bool = True, random_state: int = 0):
        self.model = model
        self.horizon = horizon
        self.definition = definition
        self.activity = activity
        self.n_train_cutoffs = n_train_cutoffs
        self.step_days = step_days
        self.min_history_days = min_history_days
        self.calibrate = calibrate
        self.random_state = random_state

    def _def(self) -> ChurnDefinition:
        return _definition(self.definition, self.horizon, self.activity)

    def fit(self, ds: Dataset, cutoff=None, _panel: _Panel | None = None,
            _frames: dict | None = None) -> "ChurnRiskModel":
        """Fit for scoring at ``cutoff`` (default: end of data) using only data up to it.

        ``_frames`` (private): a dict shared by fits on the same panel, which keeps the training and
        calibration frames of each plan so that the models of one backtest build them once.
        """
        self._fit_begin(ds, cutoff, _panel, _frames)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self._fit_compute()
        return self._fit_end()

    def _fit_begin(self, ds: Dataset, cutoff, _panel: _Panel | None, _frames: dict | None) -> None:
        """The first part of :meth:`fit`: the plan, the training and calibration frames and an unfitted
        estimator (pandas work on the panel, in the calling thread)."""
        if self.model not in ("recency", "logistic", "hgb"):
            raise ParameterError(f"model must be 'recency', 'logistic' or 'hgb' (BG/NBD is BGNBDChurn), "
                                 f"not {self.model!r}.")
        d = self._def()
        plan = plan_cutoffs(ds, cutoff, d.horizon, self.n_train_cutoffs, self.step_days, self.min_history_days)
        limit = plan["scoring"]
        panel = _panel if _panel is not None else _Panel(churn_data(ds).as_of(limit), d,
                                                         feature_windows(plan["history_days"]))
        labelled = [*plan["train"], *([] if plan["calibration"] is None else [plan["calibration"]])]
        cross_fit = plan["mode"] == "cross_fit"
        key = (id(panel), tuple(plan["train"]), plan["calibration"], limit)
        if _frames is not None and key in _frames:
            train, calib = _frames[key]
        else:
            panel.prefetch(labelled, labelled)
            train = pd.concat([panel.frame(c, limit) for c in plan["train"]], ignore_index=True)
            calib = train if cross_fit else panel.frame(plan["calibration"], limit)
            if _frames is not None:
                _frames[key] = (train, calib)
        y = train["churned"].to_numpy(dtype=int)
        if len(np.unique(y)) < 2:
            raise InsufficientDataError(
                f"At the training cutoffs ({', '.join(_fmt(c) for c in plan['train'])}) every member has the same "
                f"outcome ({'churned' if y[0] else 'not churned'}), so no model can be trained. Use another "
                f"definition or horizon, or more data.")
        names = ["silent_days"] if self.model == "recency" else model_feature_columns(train)
        mkey = ("matrices", key, tuple(names))
        if _frames is not None and mkey in _frames:  # another model of this plan on the same columns
            reference, X, X_cal = _frames[mkey]
        else:  # (the estimators copy what they change: models fitted at once can share these arrays)
            reference = train[names].median(numeric_only=True).reindex(names)
            X = train[names].to_numpy(dtype=float)
            X_cal = None if cross_fit else calib[names].to_numpy(dtype=float)
            if _frames is not None:
                _frames[mkey] = (reference, X, X_cal)
        self.estimator_ = _make_estimator(self.model, self.random_state)
        self.feature_names_ = names
        self.reference_ = reference.copy()
        self.cutoffs_ = plan
        self.n_train_ = len(train)
        self.n_calibration_ = len(calib)
        self.train_base_rate_ = float(y.mean())
        self.windows_ = dict(panel.windows)
        self._pending = (X, y, train["group_id"].to_numpy() if cross_fit else None, X_cal,
                         y if cross_fit else calib["churned"].to_numpy(dtype=int))

    def _fit_compute(self) -> None:
        """The numeric part of :meth:`fit`: the estimator fitted, and the raw scores calibration uses.

        It changes no warning filter (the caller ignores RuntimeWarning around it), so fits of several
        models can run in threads at once (:func:`fit_concurrently`)."""
        X, y, groups, X_cal, _ = self._pending
        with _one_thread():
            _fit_estimator(self.estimator_, X, y)
            if groups is not None:  # one labelled cutoff: out-of-fold scores of held-out groups stand in for a later cutoff
                self._raw_cal = self._cross_fitted(X, y, groups)
            else:
                self._raw_cal = self.estimator_.predict_proba(X_cal)[:, 1]

    def _fit_end(self) -> "ChurnRiskModel":
        """The last part of :meth:`fit`: the selection AUC and the Platt calibration (in the calling thread)."""
        plan = self.cutoffs_
        cross_fit = plan["mode"] == "cross_fit"
        raw, y_cal = self._raw_cal, self._pending[4]
        del self._raw_cal, self._pending
        ok = raw is not None and 0 < y_cal.sum() < len(y_cal)
        self.selection_auc_ = float(_weighted_auc(y_cal, raw, np.ones((1, len(y_cal))))[0]) if ok else np.nan
        self.calibrator_ = _Platt().fit(raw, y_cal) if self.calibrate and raw is not None else None
        if self.calibrate and (self.calibrator_ is None or self.calibrator_.identity_):
            where = (f"the calibration cutoff {_fmt(plan['calibration'])}" if not cross_fit else
                     f"the one labelled cutoff {_fmt(plan['train'][0])} (cross-fitted across groups)")
            warnings.warn(f"Scores are not calibrated: at {where} all members have the same outcome or there are "
                          f"fewer than 2 groups to cross-fit.", StatisticalWarning, stacklevel=3)
            self.calibrator_ = None
        return self

    def _cross_fitted(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
        """Out-of-fold raw scores: groups split into :data:`CROSS_FIT_FOLDS` folds, each scored by a
        model fitted on the other folds (members of a group share outcomes, so whole groups are held
        out). None with fewer than 2 groups."""
        codes, uniq = pd.factorize(groups)
        n_folds = min(CROSS_FIT_FOLDS, len(uniq))
        if n_folds < 2:
            return None
        rng = np.random.default_rng(self.random_state)
        fold = (rng.permutation(len(uniq)) % n_folds)[codes]
        oof = np.empty(len(y))
        for f in range(n_folds):
            fit_rows = fold != f
            if len(np.unique(y[fit_rows])) < 2:
                oof[~fit_rows] = y[fit_rows].mean()
                continue
            est = _make_estimator(self.model, self.random_state)
            with _one_thread():  # (RuntimeWarnings are ignored by the caller: see _fit_compute)
                _fit_estimator(est, X[fit_rows], y[fit_rows])
                oof[~fit_rows] = est.predict_proba(X[~fit_rows])[:, 1]
        self.n_cross_fit_folds_ = n_folds
        return oof

    def _check(self):
        if not hasattr(self, "estimator_"):
            raise NotFittedError("This ChurnRiskModel is not fitted yet; call .fit(ds, cutoff) first.")

    def _raw(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.estimator_.predict_proba(X)[:, 1]

    def _raw_swapped(self, X: np.ndarray, replacements, copies_per_call: int = 1) -> tuple[list, np.ndarray]:
        """Uncalibrated probabilities of ``X`` with one column replaced, for each ``(j, values)``.

        ``values`` is (m, n): copy r of ``X`` has column j equal to ``values[r]``. Returns ``(swapped,
        base)``: a list of (m, n) arrays and the probabilities of ``X`` itself. For gradient boosting
        only the trees that split on column j are evaluated again (:mod:`.tree_swaps`: the same numbers
        as predicting each copy); otherwise the copies of up to ``copies_per_call`` replacements are
        stacked into one ``predict_proba`` call (rows are scored independently).
        """
        from groupstats.analyses.churn.tree_swaps import ColumnSwaps, supports

        replacements = [(j, np.atleast_2d(np.asarray(v, dtype=float))) for j, v in replacements]
        if supports(self.estimator_):
            with warnings.catch_warnings(), _one_thread():
                warnings.simplefilter("ignore", RuntimeWarning)
                return ColumnSwaps(self.estimator_, X).swapped(replacements)
        n = len(X)
        out = []
        columnwise = _columnwise_steps(self.estimator_)
        if columnwise is not None:  # transform X and the replacement values once; the copies are made after
            X = _transform_columns(columnwise, X)
            replacements = _transformed_replacements(columnwise, replacements, X.shape[1])
        step = max(1, copies_per_call)
        parts = [replacements[lo:lo + step] for lo in range(0, len(replacements), step)]
        copies = [sum(v.shape[0] for _, v in part) for part in parts]
        # one matrix of copies of X for every call: each call's replaced columns are written into its first
        # rows and put back after (the calls see the same matrices as copies made afresh, without a new
        # allocation of copies x rows x columns per call)
        stack = np.tile(X, (max(copies, default=0), 1))
        for part, m in zip(parts, copies):
            view = stack[:m * n]
            row = 0
            for j, values in part:
                for r in range(values.shape[0]):
                    view[row:row + n, j] = values[r]
                    row += n
            raw = self._raw(view) if columnwise is None else self._raw_transformed(view)
            row = 0
            for j, values in part:
                out.append(raw[row:row + values.shape[0] * n].reshape(values.shape[0], n))
                for r in range(values.shape[0]):
                    view[row:row + n, j] = X[:, j]
                    row += n
        return out, (self._raw(X) if columnwise is None else self._raw_transformed(X))

    def _raw_transformed(self, Z: np.ndarray) -> np.ndarray:
        """:meth:`_raw` of rows already through the pipeline's column-wise steps (:func:`_columnwise_steps`)."""
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.estimator_[-1].predict_proba(Z)[:, 1]

    def _median_swaps(self, X: np.ndarray) -> list:
        """The drivers' copies of ``X``: one per feature, that feature set to the training median."""
        return [(j, np.full((1, len(X)), self.reference_[name])) for j, name in enumerate(self.feature_names_)]

    def _drivers_ahead(self, features: pd.DataFrame) -> None:
        """Compute the drivers' uncalibrated scores now (they need only the fitted estimator), e.g. while
        another model still fits; :meth:`_proba_swapped` uses them when asked for the same matrix and copies."""
        X = self._matrix(features)
        replacements = self._median_swaps(X)
        self._ahead = (X, replacements, self._raw_swapped(X, replacements))

    def _proba_swapped(self, X: np.ndarray, replacements, copies_per_call: int = 1) -> tuple[list, np.ndarray]:
        """As :meth:`_raw_swapped`, calibrated (what :meth:`_proba` gives for each copy)."""
        ahead = self.__dict__.pop("_ahead", None)
        if ahead is not None and _same_swaps(ahead[0], ahead[1], X, replacements):
            swapped, base = ahead[2]
        else:
            swapped, base = self._raw_swapped(X, replacements, copies_per_call)
        if self.calibrator_ is None:
            return swapped, base
        return ([np.stack([self.calibrator_.transform(row) for row in part]) for part in swapped],
                self.calibrator_.transform(base))

    def predict_proba_frame(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability for each row of a feature frame, shape (n,)."""
        return self._proba(self._matrix(features))

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The model's feature matrix of a feature frame (``feature_names_`` order)."""
        self._check()
        missing = [c for c in self.feature_names_ if c not in features.columns]
        if missing:
            raise ParameterError(
                f"The feature frame lacks {missing}: this model uses the feature windows {self.windows_} (shortened to "
                f"the history before its earliest training cutoff). Compute features with "
                f"churn_features(ds, cutoff, windows=model.windows_), or call model.score(ds, cutoff).")
        return features[self.feature_names_].to_numpy(dtype=float)

    def _proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability from a feature matrix in ``feature_names_`` order."""
        raw = self._raw(X)
        return self.calibrator_.transform(raw) if self.calibrator_ is not None else raw

    def score(self, ds: Dataset, cutoff=None, n_drivers: int = 3, _panel: _Panel | None = None) -> pd.DataFrame:
        """Risk of every member present at ``cutoff`` (default: the cutoff fitted for).

        Returns
        -------
        DataFrame with group_id, member_id, risk, driver_1..n_drivers, top_drivers and the
        features.
        """
        self._check()
        cut = self.cutoffs_["scoring"] if cutoff is None else _midnight(ds, cutoff)
        feats = (_panel.features(cut) if _panel is not None else churn_features(ds, cut, self._def().activity,
                                                                                windows=self.windows_))
        out = feats.copy()
        drivers, out["risk"] = self._drivers(feats, n_drivers)
        return pd.concat([out, drivers.set_axis(out.index)], axis=1)

    def drivers(self, features: pd.DataFrame, n_drivers: int = 3) -> pd.DataFrame:
        """The features that push each member's risk up most.

        For each feature j, ``effect_j = risk(x) - risk(x with x_j set to the training
        median)``; the ``n_drivers`` largest positive effects are reported (fewer if fewer
        are positive).

        Returns
        -------
        DataFrame (n, n_drivers + 1): ``driver_1``.. (feature names, "" if none) and
        ``top_drivers`` ("silent_days=21 (+0.18); ..." text).
        """
        return self._drivers(features, n_drivers)[0]

    def _drivers(self, features: pd.DataFrame, n_drivers: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`drivers` and the risk of each row (``predict_proba_frame``), computed together."""
        X = self._matrix(features)
        n = len(X)
        # one copy per feature (a couple of dozen), the feature set to the training median
        swapped, base = self._proba_swapped(X, self._median_swaps(X))
        effects = base[:, None] - np.stack([part[0] for part in swapped], axis=1)  # (n, features)
        order = np.argsort(-effects, axis=1, kind="stable")[:, :n_drivers]
        top_eff = np.take_along_axis(effects, order, axis=1)
        names = np.asarray(self.feature_names_, dtype=object)[order]
        values = np.take_along_axis(X, order, axis=1)
        out = pd.DataFrame(index=features.index)
        texts = np.full(len(X), "", dtype=object)
        for k in range(order.shape[1]):
            ok = top_eff[:, k] >= 0.0005
            out[f"driver_{k + 1}"] = np.where(ok, names[:, k], "")
            piece = (names[:, k] + "=" + _rounded_text(values[:, k], 2, "missing")
                     + " (+" + _rounded_text(top_eff[:, k], 3, "?") + ")")
            piece = np.where(ok, piece, "")
            texts = texts + np.where((texts != "") & (piece != ""), "; ", "") + piece
        out["top_drivers"] = texts
        return out.astype({c: "str" for c in out.columns}), base


#: Threads fitting the models of one plan at once (:func:`fit_concurrently`).
_FIT_WORKERS = 2


def fit_concurrently(models: list, ds, cutoff, panel: _Panel, frames: dict, meanwhile=None, wait_arg: bool = False):
    """Fit :class:`ChurnRiskModel` s for the same cutoff on one panel, their estimators in threads at once.

    The frames and matrices are built once, in this thread (:meth:`ChurnRiskModel._fit_begin`), each
    model's fit starting as soon as its own are ready; the estimator fits and the calibration scores run
    in up to :data:`_FIT_WORKERS` threads (scikit-learn's Cython and BLAS
    release the GIL; each fit single-threaded, as in :meth:`ChurnRiskModel.fit`), while this thread runs
    ``meanwhile()`` if given (``meanwhile(wait)`` with ``wait_arg``: ``wait(model)`` returns once that
    model's estimator is fitted, uncalibrated); then the calibration, in this thread. Each model is fitted on its own data
    with its own random state, so the fitted models are the same as fitted one after another.

    Returns
    -------
    (models, what ``meanwhile()`` returned)
    """
    from concurrent.futures import ThreadPoolExecutor

    extra = None
    with warnings.catch_warnings():  # (only this thread changes the filters while the fits run)
        warnings.simplefilter("ignore", RuntimeWarning)
        with ThreadPoolExecutor(max_workers=max(1, min(_FIT_WORKERS, len(models)))) as pool:
            # the costliest first: gradient boosting, then logistic, then recency (one column); each fit
            # starts as soon as its frames are built, while the next model's are built here
            order = sorted(models, key=lambda m: (m.model != "hgb", m.model == "recency"))
            futures = []
            for m in order:
                m._fit_begin(ds, cutoff, panel, frames)
                futures.append(pool.submit(m._fit_compute))
            try:
                if meanwhile is not None:
                    extra = meanwhile(lambda m: futures[order.index(m)].result()) if wait_arg else meanwhile()
            finally:
                for f in futures:
                    f.result()
    return [m._fit_end() for m in models], extra


class AveragedChurnModel(ChurnRiskModel):
    """The mean of the calibrated probabilities of fitted :class:`ChurnRiskModel` s on the same
    features (``logistic`` and ``hgb``): used by ``churn_risk(model="auto")`` when there is no
    backtest to choose between them (short history), as averaging hedges a choice the data
    cannot make. Drivers are computed on the averaged probability.
    """

    def __init__(self, models):
        models = list(models)
        names = {tuple(m.feature_names_) for m in models}
        if len(names) != 1:
            raise ParameterError("AveragedChurnModel needs fitted models on the same features.")
        first = models[0]
        super().__init__("+".join(m.model for m in models), first.horizon, first.definition, first.activity,
                         first.n_train_cutoffs, first.step_days, first.min_history_days, first.calibrate,
                         first.random_state)
        self.models_ = models
        for attr in ("estimator_", "feature_names_", "reference_", "cutoffs_", "n_train_", "n_calibration_",
                     "train_base_rate_", "windows_"):
            setattr(self, attr, getattr(first, attr))
        self.calibrator_ = None
        self.selection_auc_ = float(np.nanmean([m.selection_auc_ for m in models]))

    def fit(self, *args, **kwargs):  # noqa: D102 - built from fitted models
        raise NotImplementedError("AveragedChurnModel is built from fitted models; fit those instead.")

    def _proba(self, X: np.ndarray) -> np.ndarray:
        return np.mean([m._proba(X) for m in self.models_], axis=0)

    def _proba_swapped(self, X: np.ndarray, replacements, copies_per_call: int = 1) -> tuple[list, np.ndarray]:
        parts = [m._proba_swapped(X, replacements, copies_per_call) for m in self.models_]
        swapped = [np.mean([p[0][i] for p in parts], axis=0) for i in range(len(replacements))]
        return swapped, np.mean([p[1] for p in parts], axis=0)
