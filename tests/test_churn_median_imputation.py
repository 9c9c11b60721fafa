"""The logistic pipeline fitted with its median imputer fitted on the row of column medians.

:func:`groupstats.analyses.churn.model._fit_estimator` fits the imputer of the logistic pipeline on one
row, the median of each column's non-NaN values (a partition per column instead of the masked-array sort
scikit-learn's ``SimpleImputer`` does), then the other steps on ``X`` through that imputer. These tests
compare with scikit-learn's own ``Pipeline.fit`` on the same data and require the same fitted pipeline:
the imputer's ``statistics_`` (sign of zero included), the coefficients, ``predict_proba`` bit for bit
and the pickled pipeline (every fitted attribute), on matrices of several seeds, shapes, NaN shares and
layouts, with even and odd counts, ties, a column all NaN, a column with one value, -0.0, values whose
sum overflows and infinities; inputs and configurations it does not take go to ``Pipeline.fit``.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
# _data: normal columns, a Poisson column (ties) and a rounded one, with NaN; _model_on: a ChurnRiskModel
# around a plain-fitted estimator; _one_thread: the autouse fixture (one BLAS/OpenMP thread)
from test_churn_scoring_shortcuts import _data, _model_on, _one_thread  # noqa: F401

from groupstats.analyses import churn
from groupstats.analyses.churn import model as churn_model


@pytest.fixture
def medians(monkeypatch):
    """What each call of ``_column_medians`` returned (None: the plain fit), in call order."""
    seen = []
    original = churn_model._column_medians

    def spy(X):
        seen.append(original(X))
        return seen[-1]

    monkeypatch.setattr(churn_model, "_column_medians", spy)
    return seen


def _both(X, y, seed=0, **imputer_params):
    """The logistic pipeline fitted by ``Pipeline.fit`` and by ``_fit_estimator`` (warnings recorded)."""
    fitted = []
    for how in ("plain", "helper"):
        est = churn_model._make_estimator("logistic", seed)
        est[0].set_params(**imputer_params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = est.fit(X, y) if how == "plain" else churn_model._fit_estimator(est, X, y)
        assert out is est
        fitted.append((est, sorted(str(w.message) for w in caught)))
    (plain, plain_warnings), (fast, fast_warnings) = fitted
    assert fast_warnings == plain_warnings
    return plain, fast


def _assert_same_fit(plain, fast, X):
    s0, s1 = plain[0].statistics_, fast[0].statistics_
    assert s0.dtype == s1.dtype == np.float64 and s0.shape == s1.shape
    assert np.array_equal(s0, s1, equal_nan=True)
    assert np.array_equal(np.signbit(s0), np.signbit(s1))  # -0.0 and 0.0 told apart
    assert np.array_equal(plain[-1].coef_, fast[-1].coef_)
    assert np.array_equal(plain[-1].intercept_, fast[-1].intercept_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (an empty column dropped: the same UserWarning for both)
        p0, p1 = plain.predict_proba(X), fast.predict_proba(X)
    assert np.array_equal(p0, p1)
    for (n0, a), (n1, b) in zip(plain.steps, fast.steps, strict=True):
        assert n0 == n1 and type(a) is type(b) and list(vars(a)) == list(vars(b))
    assert list(vars(plain)) == list(vars(fast))
    assert pickle.dumps(plain) == pickle.dumps(fast)  # every attribute of every step, bit for bit


def _layout(X, layout):
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "C":
        return np.ascontiguousarray(X)
    if layout == "strided":  # every other column of a wider matrix: neither C nor F contiguous
        wide = np.empty((X.shape[0], 2 * X.shape[1]))
        wide[:, ::2] = X
        wide[:, 1::2] = -7.0
        return wide[:, ::2]
    assert layout == "readonly"
    X = np.asfortranarray(X)
    X.setflags(write=False)
    return X


def _edge_columns(rng, n):
    """Columns at the edges of the median: counts even and odd, one value, all NaN, ties, -0.0 among
    values with a median that is not zero, few values."""
    cols = np.full((n, 8), np.nan)
    even, odd = 2 * (n // 4), 2 * (n // 4) + 1
    cols[rng.permutation(n)[:even], 0] = rng.normal(size=even)      # an even count
    cols[rng.permutation(n)[:odd], 1] = rng.normal(size=odd)        # an odd count
    cols[rng.integers(n), 2] = 3.25                                 # one value (column 3: all NaN)
    cols[:, 4] = rng.integers(0, 3, n)                              # ties at the middle
    cols[rng.random(n) < 0.5, 4] = np.nan
    cols[:, 5] = np.where(rng.random(n) < 0.3, -0.0, rng.uniform(1, 2, n))  # -0.0, median > 0
    cols[rng.permutation(n)[:2], 6] = [5.0, -1.0]                   # two values
    cols[:, 7] = np.where(rng.random(n) < 0.5, rng.normal(size=n), 2.0)  # ties, another even/odd mix
    return cols


@pytest.mark.parametrize("seed, n, k, nan_share, layout", [
    (0, 3000, 6, 0.2, "F"),
    (1, 5001, 9, 0.05, "C"),
    (2, 800, 4, 0.6, "strided"),
    (3, 257, 5, 0.0, "readonly"),
    (4, 12000, 3, 0.35, "F"),
])
def test_the_helper_fits_the_same_pipeline_as_pipeline_fit(medians, seed, n, k, nan_share, layout):
    X, y = _data(seed, n, k, nan_share)
    X = np.column_stack([X, _edge_columns(np.random.default_rng(seed), n)])
    X = _layout(X, layout)
    before = X.copy()
    plain, fast = _both(X, y, seed)
    assert len(medians) == 1 and medians[0] is not None  # the fast way was taken
    _assert_same_fit(plain, fast, X)
    assert np.array_equal(X, before, equal_nan=True)  # the input is left as it was
    stats = fast[0].statistics_
    k0 = X.shape[1] - 8
    assert stats[k0 + 2] == 3.25 and stats[k0 + 3] == 0 and stats[k0 + 6] == 2.0  # one value, all NaN, (5 + -1) / 2
    assert not np.array_equal(fast[0].transform(X), np.nan_to_num(X))  # medians do fill the gaps (not 0)


def test_a_column_all_nan_without_keep_empty_features_is_dropped_alike(medians):
    """keep_empty_features=False: NaN for the empty column, dropped at transform with the same warning."""
    X, y = _data(5, 2000, 4, 0.1)
    X[:, 2] = np.nan
    plain, fast = _both(X, y, 5, keep_empty_features=False)
    assert medians[0] is not None
    assert np.isnan(fast[0].statistics_[2]) and plain[-1].coef_.shape == (1, 3)
    _assert_same_fit(plain, fast, X)


@pytest.mark.parametrize("n, fast_way", [(2001, True), (2000, False)])
def test_values_whose_sum_overflows(medians, n, fast_way):
    """A column of values near the largest float without NaN. An odd count: scikit-learn's median is
    (x + x) / 2 = inf, and so is the median of the row of medians (the fast way). An even count: the two
    middle values sum to inf, the partition's median is inf too: the plain fit (a row holding inf would be
    rejected), which gives statistics_ inf."""
    rng = np.random.default_rng(n)
    X, y = _data(6, n, 4, 0.1)
    X[:, 3] = rng.uniform(1.0, 1.19, n) * 1.5e308
    plain, fast = _both(X, y)
    assert (medians[0] is not None) == fast_way
    assert fast[0].statistics_[3] == np.inf
    _assert_same_fit(plain, fast, X)


@pytest.mark.parametrize("zeros, n", [("mixed", 1001), ("mixed", 1000), ("negative", 999), ("mixed", 15)])
def test_a_zero_median_among_negative_zeros(medians, zeros, n):
    """Which of -0.0 and 0.0 a sort or a partition puts in the middle is not defined: such a column's
    median is the imputer's own computation, the others' the partition's."""
    rng = np.random.default_rng(n)
    X, y = _data(7, n, 4, 0.1)
    X[:, 2] = np.abs(X[:, 2]) + 0.5  # (_data's rounded column has -0.0 too)
    signs = rng.random(n) < 0.5 if zeros == "mixed" else np.ones(n, bool)
    X[:, 3] = np.where(signs, -0.0, 0.0)
    X[rng.random(n) < 0.2, 3] = rng.choice([-1.0, 1.0])
    X[rng.random(n) < 0.1, 3] = np.nan
    plain, fast = _both(X, y)
    assert medians[0] is not None
    assert fast[0].statistics_[3] == 0
    _assert_same_fit(plain, fast, X)


@pytest.mark.parametrize("where", ["middle", "edge"])
def test_infinities_are_rejected_as_by_pipeline_fit(medians, where):
    X, y = _data(8, 1500, 4, 0.1)
    if where == "middle":
        X[:, 1] = np.where(np.arange(1500) % 2 == 0, np.inf, -np.inf)  # median inf + -inf = NaN
    else:
        X[5, 0] = np.inf  # median finite
    errors = []
    for fit in (lambda e: e.fit(X, y), lambda e: churn_model._fit_estimator(e, X, y)):
        with pytest.raises(ValueError) as raised:
            fit(churn_model._make_estimator("logistic", 0))
        errors.append(str(raised.value))
    assert errors[0] == errors[1] and "infinity" in errors[0]
    assert medians == [None]


@pytest.mark.parametrize("case", ["float32", "int64", "frame", "list", "mean", "indicator", "hgb", "no rows"])
def test_other_inputs_and_configurations_fit_the_plain_way(medians, case):
    X, y = _data(9, 1200, 4, 0.1 if case not in ("int64", "list") else 0.0)
    params, model = {}, "logistic"
    if case == "float32":
        X = X.astype(np.float32)
    elif case == "int64":
        X = np.round(X * 10).astype(np.int64)
    elif case == "frame":
        X = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    elif case == "list":
        X = X.tolist()
    elif case == "mean":
        params = {"strategy": "mean"}
    elif case == "indicator":
        params = {"add_indicator": True}
    elif case == "hgb":
        model = "hgb"
    elif case == "no rows":
        X, y = X[:0], y[:0]
    fitted = []
    for fit in (lambda e: e.fit(X, y), lambda e: churn_model._fit_estimator(e, X, y)):
        est = churn_model._make_estimator(model, 0)
        if params:
            est[0].set_params(**params)
        if case == "no rows":
            with pytest.raises(ValueError) as raised:
                fit(est)
            fitted.append(str(raised.value))
        else:
            fit(est)
            fitted.append(pickle.dumps(est))
    assert medians == []  # not even looked at
    assert fitted[0] == fitted[1]


def test_a_churn_model_on_the_helper_equals_one_on_pipeline_fit():
    """_model_on (the scoring tests' model around a plain-fitted pipeline) and the same model around a
    pipeline fitted by the helper: the same risk and drivers."""
    X, y = _data(10, 1800, 5, 0.15)
    plain, frame = _model_on(X, y, "logistic", 10)
    fast, _ = _model_on(X, y, "logistic", 10)
    fast.estimator_ = churn_model._fit_estimator(churn_model._make_estimator("logistic", 10), X, y)
    assert pickle.dumps(fast.estimator_) == pickle.dumps(plain.estimator_)
    drivers0, risk0 = plain._drivers(frame, 3)
    drivers1, risk1 = fast._drivers(frame, 3)
    assert np.array_equal(risk0, risk1)
    pd.testing.assert_frame_equal(drivers0, drivers1)


@pytest.mark.parametrize("days, mode", [(48, "time_split"), (37, "cross_fit")])
def test_the_churn_model_fits_its_pipeline_through_the_helper(small_sim, monkeypatch, medians, days, mode):
    """ChurnRiskModel("logistic").fit (time split; and cross-fitted, the folds' fits too) takes the fast
    way, and gives the model fitted with ``Pipeline.fit`` (the helper routed to it): the same pipeline,
    calibration, selection AUC and scores."""
    ds, _ = small_sim
    cut = churn.data_start_day(ds) + pd.Timedelta(days=days)
    kw = dict(horizon=14, min_history_days=21)
    assert churn.plan_cutoffs(ds, cut, **kw)["mode"] == mode
    fast = churn.ChurnRiskModel("logistic", **kw).fit(ds, cut)
    n_fits = 1 + (fast.n_cross_fit_folds_ if mode == "cross_fit" else 0)
    assert len(medians) == n_fits and all(m is not None for m in medians)
    calls = []
    monkeypatch.setattr(churn_model, "_fit_estimator", lambda est, X, y: calls.append(X) or est.fit(X, y))
    plain = churn.ChurnRiskModel("logistic", **kw).fit(ds, cut)
    assert len(calls) == n_fits and len(medians) == n_fits
    assert np.isnan(calls[0]).any()  # the training matrix has gaps to impute
    assert pickle.dumps(fast.estimator_) == pickle.dumps(plain.estimator_)
    assert pickle.dumps(fast.calibrator_) == pickle.dumps(plain.calibrator_)
    assert fast.selection_auc_ == plain.selection_auc_ or (np.isnan(fast.selection_auc_)
                                                           and np.isnan(plain.selection_auc_))
    pd.testing.assert_frame_equal(fast.score(ds, cut), plain.score(ds, cut), check_exact=True)
