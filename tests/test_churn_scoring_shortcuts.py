"""The churn model's scoring shortcuts give the same numbers as the direct computation.

Permutation importance and the per-member drivers score the same rows once per feature with that
feature changed. For gradient boosting only the trees that split on the changed feature are evaluated
again (:mod:`groupstats.analyses.churn.tree_swaps`; compiled, each row's path walked once per tree:
:mod:`groupstats.analyses.churn.tree_kernels`); these tests compare with scoring every changed copy in full
through ``predict_proba``, and require equality, not closeness.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from groupstats.analyses import churn
from groupstats.analyses.churn import tree_swaps
from groupstats.analyses.churn.metrics import _weighted_auc


@pytest.fixture(autouse=True)
def _one_thread():
    """Small data: one OpenMP/BLAS thread (as the churn code scores), fast on a shared machine."""
    with threadpool_limits(1):
        yield


def _data(seed: int, n: int, k: int, nan_share: float):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    X[:, 1] = rng.poisson(3, n)  # many ties, like day counts
    X[:, 2] = np.round(X[:, 2], 1)
    X[rng.random((n, k)) < nan_share] = np.nan
    z = np.nan_to_num(X[:, 0]) - 0.4 * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2]) * np.nan_to_num(X[:, -1])
    y = (z + rng.logistic(size=n) > 0).astype(int)
    return X, y


def _hgb(X, y, leaves, iters, seed):
    return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=iters, max_leaf_nodes=leaves,
                                          min_samples_leaf=20, l2_regularization=1.0, early_stopping=False,
                                          random_state=seed).fit(X, y)


def _copies_scored(est, X, items) -> list:
    """The reference the swaps are checked against: for each ``(j, values)``, ``predict_proba`` of each copy of
    ``X`` with column ``j`` replaced by a row of ``values``, an (m, n) array."""
    out = []
    for j, values in items:
        copies = []
        for r in range(values.shape[0]):
            Xr = X.copy()
            Xr[:, j] = values[r]
            copies.append(est.predict_proba(Xr)[:, 1])
        out.append(np.stack(copies))
    return out


@pytest.mark.parametrize("seed, n, k, nan_share, leaves, iters, block", [
    (0, 2000, 6, 0.0, 15, 40, 50_000),  # one block
    (1, 1500, 8, 0.15, 7, 30, 400),     # missing values; several row blocks
    (2, 1200, 4, 0.3, 31, 25, 1000),    # deep trees (each splits on every column), a short last block
])
def test_column_swaps_equal_predict_proba_bit_for_bit(monkeypatch, seed, n, k, nan_share, leaves, iters, block):
    monkeypatch.setattr(tree_swaps, "_BLOCK_ROWS", block)
    X, y = _data(seed, n, k, nan_share)
    est = _hgb(X, y, leaves, iters, seed)
    assert tree_swaps.supports(est)
    rng = np.random.default_rng(seed + 100)
    items = [(j, np.stack([X[rng.permutation(n), j] for _ in range(2)])) for j in range(k)]
    items += [(j, np.full((1, n), np.nanmedian(X[:, j]))) for j in range(k)] + [(0, np.full((1, n), np.nan))]
    expected = _copies_scored(est, X, items)
    for compiled in (True, False):  # the compiled walk of each row's path, and the predictor on copies
        swapped, base = tree_swaps.ColumnSwaps(est, X, compiled=compiled).swapped(items)
        assert np.array_equal(base, est.predict_proba(X)[:, 1])
        assert len(swapped) == len(expected)
        for (j, _), got, want in zip(items, swapped, expected):
            assert np.array_equal(got, want), (compiled, j)
    # rows are scored one by one: OpenMP threads change nothing
    assert np.array_equal(tree_swaps.ColumnSwaps(est, X, n_threads=2).base(), est.predict_proba(X)[:, 1])
    # which trees split on which column, read from the trees themselves
    sw = tree_swaps.ColumnSwaps(est, X)
    used = np.zeros_like(sw.uses)
    for t, tree in enumerate(sw.trees):
        for node in tree.nodes:
            if not node["is_leaf"]:
                used[t, node["feature_idx"]] = True
    assert np.array_equal(sw.uses, used)
    if leaves < 31:  # the shortcut is real: shallow trees leave columns out
        assert sw.uses.sum() < sw.uses.size


def test_supports_only_what_it_can_reproduce():
    from sklearn.linear_model import LogisticRegression

    X, y = _data(3, 400, 3, 0.0)
    assert not tree_swaps.supports(LogisticRegression().fit(X, y))
    assert not tree_swaps.supports(HistGradientBoostingClassifier(max_iter=5))  # not fitted
    multi = np.arange(len(y)) % 3
    assert not tree_swaps.supports(HistGradientBoostingClassifier(max_iter=5).fit(X, multi))  # 3 trees/iteration
    cat = X.copy()
    cat[:, 0] = np.arange(len(y)) % 4
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(cat, y)
    assert not tree_swaps.supports(est)
    with pytest.raises(TypeError):
        tree_swaps.ColumnSwaps(LogisticRegression().fit(X, y), X)


# ------------------------------------------------------------------------------------------
# permutation importance and drivers against the direct computation (the code before the shortcut)
# ------------------------------------------------------------------------------------------
def _direct_importance(model, frame, y, n_repeats, random_state):
    """Every shuffled copy scored in full; the same random draws (feature by feature, repeat by repeat)."""
    X = frame[model.feature_names_].to_numpy(dtype=float)
    ones = np.ones((1, len(y)))
    base = float(_weighted_auc(y, model._raw(X), ones)[0])
    rng = np.random.default_rng(random_state)
    n, k = X.shape
    drops = np.zeros((k, n_repeats))
    for j in range(k):
        for r in range(n_repeats):
            Xp = X.copy()
            Xp[:, j] = X[rng.permutation(n), j]
            drops[j, r] = base - float(_weighted_auc(y, model._raw(Xp), ones)[0])
    out = pd.DataFrame({"feature": model.feature_names_, "importance_mean": drops.mean(axis=1),
                        "importance_sd": drops.std(axis=1, ddof=1) if n_repeats > 1 else 0.0})
    return out.sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)


def _direct_effects(model, features):
    X = features[model.feature_names_].to_numpy(dtype=float)
    base = model.predict_proba_frame(features)
    effects = np.empty((len(X), len(model.feature_names_)))
    for j, name in enumerate(model.feature_names_):
        Xj = X.copy()
        Xj[:, j] = model.reference_[name]
        effects[:, j] = base - model._proba(Xj)
    return base, effects


def _model_on(X, y, kind, seed, calibrate=True):
    """A ChurnRiskModel fitted on a plain matrix (the attributes the scoring code reads)."""
    names = [f"f{j}" for j in range(X.shape[1])]
    m = churn.ChurnRiskModel(kind, random_state=seed)
    m.estimator_ = (_hgb(X, y, 15, 50, seed) if kind == "hgb" else churn._make_estimator(kind, seed).fit(X, y))
    m.feature_names_ = names
    m.reference_ = pd.DataFrame(X, columns=names).median()
    m.windows_ = {}
    m.cutoffs_, m.n_train_, m.n_calibration_, m.train_base_rate_, m.selection_auc_ = {}, len(y), 0, y.mean(), 0.5
    half = len(y) // 2
    m.calibrator_ = churn._Platt().fit(m._raw(X[:half]), y[:half]) if calibrate else None
    return m, pd.DataFrame(X, columns=names)


@pytest.mark.parametrize("kind, seed, n, k, nan_share, repeats", [
    ("hgb", 4, 2000, 6, 0.1, 3), ("hgb", 5, 1500, 8, 0.0, 1), ("logistic", 6, 1800, 5, 0.1, 2),
])
def test_importance_and_drivers_equal_the_direct_computation(kind, seed, n, k, nan_share, repeats):
    X, y = _data(seed, n, k, nan_share)
    model, frame = _model_on(X, y, kind, seed)
    pd.testing.assert_frame_equal(churn._permutation_importance(model, frame, y, repeats, seed),
                                  _direct_importance(model, frame, y, repeats, seed), check_exact=True)
    base, effects = _direct_effects(model, frame)
    drivers, risk = model._drivers(frame, 3)
    assert np.array_equal(risk, base)
    pd.testing.assert_frame_equal(drivers, model.drivers(frame, 3))
    order = np.argsort(-effects, axis=1, kind="stable")[:, :3]
    top = np.take_along_axis(effects, order, axis=1)
    names = np.asarray(model.feature_names_, dtype=object)[order]
    for c in range(3):
        assert np.array_equal(drivers[f"driver_{c + 1}"].to_numpy(), np.where(top[:, c] >= 0.0005, names[:, c], ""))
    # the effects themselves, through the top_drivers text (rounded to 3 decimals there)
    i = int(np.argmax(top[:, 0]))
    assert f"(+{round(top[i, 0], 3)})" in drivers["top_drivers"].iloc[i]


def test_averaged_model_drivers_equal_the_direct_computation():
    X, y = _data(8, 1600, 5, 0.05)
    hgb, frame = _model_on(X, y, "hgb", 8)
    logistic, _ = _model_on(X, y, "logistic", 8)
    avg = churn.AveragedChurnModel([logistic, hgb])
    base, effects = _direct_effects(avg, frame)
    drivers, risk = avg._drivers(frame, 2)
    assert np.array_equal(risk, base)
    order = np.argsort(-effects, axis=1, kind="stable")[:, :2]
    top = np.take_along_axis(effects, order, axis=1)
    names = np.asarray(avg.feature_names_, dtype=object)[order]
    assert np.array_equal(drivers["driver_1"].to_numpy(), np.where(top[:, 0] >= 0.0005, names[:, 0], ""))


def test_scores_of_a_fitted_model_equal_the_direct_computation(small_sim):
    """Through the real pipeline: a gradient-boosting model fitted on a simulated community."""
    ds, _ = small_sim
    cut = churn.data_start_day(ds) + pd.Timedelta(days=48)
    model = churn.ChurnRiskModel("hgb", horizon=14, min_history_days=21).fit(ds, cut)
    assert tree_swaps.supports(model.estimator_)
    scored = model.score(ds, cut)
    feats = churn.churn_features(ds, cut, windows=model.windows_)
    base, effects = _direct_effects(model, feats)
    assert np.array_equal(scored["risk"].to_numpy(), base)
    order = np.argsort(-effects, axis=1, kind="stable")[:, :3]
    top = np.take_along_axis(effects, order, axis=1)
    names = np.asarray(model.feature_names_, dtype=object)[order]
    assert np.array_equal(scored["driver_1"].to_numpy(), np.where(top[:, 0] >= 0.0005, names[:, 0], ""))
    y = (np.random.default_rng(0).random(len(feats)) < 0.3).astype(int)
    pd.testing.assert_frame_equal(churn._permutation_importance(model, feats, y, 2, 1),
                                  _direct_importance(model, feats, y, 2, 1), check_exact=True)


def _pandas_driver_texts(names, values, top_eff):
    """The drivers' text as written with pandas string Series (the code before the object-array version)."""
    texts = pd.Series("", index=range(len(names)), dtype="str")
    for k in range(names.shape[1]):
        ok = top_eff[:, k] >= 0.0005
        piece = (pd.Series(names[:, k]).astype("str") + "="
                 + pd.Series(values[:, k]).round(2).astype("str").fillna("missing")
                 + " (+" + pd.Series(top_eff[:, k]).round(3).astype("str").fillna("?") + ")")
        piece = piece.where(ok, "").fillna("")
        sep = pd.Series(np.where((texts != "").to_numpy() & (piece != "").to_numpy(), "; ", ""), dtype="str")
        texts = texts + sep + piece
    return texts


def test_driver_texts_equal_the_pandas_formatting():
    """Numbers formatted once per distinct value, pieces joined as object arrays: the same text as pandas
    gives row by row, with missing values, -0.0, values that round alike and effects below the threshold."""
    rng = np.random.default_rng(11)
    n = 3000
    values = np.round(rng.normal(0, 30, (n, 3)), rng.integers(0, 4))
    values[rng.random((n, 3)) < 0.1] = np.nan
    values[:5] = [[-0.0, 0.0, -0.004], [0.004, 1e-9, -1e-9], [12.345, 12.355, 1e6], [np.inf, -np.inf, 2.5], [0.125, 0.135, 7]]
    top_eff = np.sort(rng.normal(0.01, 0.05, (n, 3)), axis=1)[:, ::-1]
    top_eff[:3] = [[0.0005, 0.00049, -0.0], [np.nan, 0.2, 0.1], [1.0, 0.9995, 0.0004999]]
    names = np.asarray(["silent_days", "msgs_30d", "reply_share"], dtype=object)[rng.integers(0, 3, (n, 3))]
    expected = _pandas_driver_texts(names, values, top_eff)
    texts = np.full(n, "", dtype=object)
    for k in range(3):
        piece = (names[:, k] + "=" + churn.model._rounded_text(values[:, k], 2, "missing")
                 + " (+" + churn.model._rounded_text(top_eff[:, k], 3, "?") + ")")
        piece = np.where(top_eff[:, k] >= 0.0005, piece, "")
        texts = texts + np.where((texts != "") & (piece != ""), "; ", "") + piece
    assert texts.tolist() == expected.tolist()
    assert "=-0.0 (+" in " ".join(expected) and "missing" in " ".join(expected)


def test_drivers_computed_ahead_are_used_only_for_the_same_rows():
    """churn_risk computes the logistic model's driver scores while hgb still fits: the same drivers and
    risk as computed at scoring time; for other rows they are not used."""
    X, y = _data(9, 1200, 5, 0.05)
    hgb, frame = _model_on(X, y, "hgb", 9)
    logistic, _ = _model_on(X, y, "logistic", 9)
    expected, risk = churn.AveragedChurnModel([logistic, hgb])._drivers(frame, 3)
    logistic._drivers_ahead(frame)
    assert hasattr(logistic, "_ahead")
    got, got_risk = churn.AveragedChurnModel([logistic, hgb])._drivers(frame, 3)
    assert np.array_equal(got_risk, risk) and not hasattr(logistic, "_ahead")
    pd.testing.assert_frame_equal(got, expected)
    logistic._drivers_ahead(frame.iloc[::-1].reset_index(drop=True))  # other rows: computed afresh
    other, other_risk = churn.AveragedChurnModel([logistic, hgb])._drivers(frame, 3)
    assert np.array_equal(other_risk, risk)
    pd.testing.assert_frame_equal(other, expected)


@pytest.mark.parametrize("seed, n, leaves, iters, workers", [(5, 2500, 15, 60, 1), (6, 1800, 31, 40, 2)])
def test_compiled_walk_equals_predict_proba_with_replacement_edge_values(monkeypatch, seed, n, leaves, iters,
                                                                         workers):
    """Replacement values exactly at a split threshold (goes left), just above it, NaN into a column with
    and without missing values, and values equal to the row's own; several copies per column; threads."""
    monkeypatch.setattr(tree_swaps, "_WORKERS", workers)
    monkeypatch.setattr(tree_swaps, "_BLOCK_ROWS", 300)
    X, y = _data(seed, n, 5, 0.1)
    X[:, 3] = np.nan_to_num(X[:, 3])  # a column without missing values at fit time
    est = _hgb(X, y, leaves, iters, seed)
    sw = tree_swaps.ColumnSwaps(est, X)
    nodes = np.concatenate([t.nodes for t in sw.trees])
    splits = nodes[nodes["is_leaf"] == 0]
    rng = np.random.default_rng(seed)
    items = []
    for j in range(X.shape[1]):
        thr = splits["num_threshold"][splits["feature_idx"] == j]
        at = rng.choice(thr, n) if len(thr) else np.zeros(n)
        items.append((j, np.stack([at, np.nextafter(at, np.inf), np.full(n, np.nan), X[:, j]])))
    swapped, base = sw.swapped(items)
    assert np.array_equal(base, est.predict_proba(X)[:, 1])
    changed = 0
    for (j, values), got, want in zip(items, swapped, _copies_scored(est, X, items)):
        for r in range(values.shape[0]):
            assert np.array_equal(got[r], want[r]), (j, r)
            changed += int(np.sum(want[r] != base))
    assert changed > n  # the copies do change scores
