"""Churn's exact speedups give the numbers of the direct computation.

- The logistic model's changed copies (drivers, permutation importance) are made after the pipeline's
  column-wise steps (imputation, signed log, standardisation): equal, bit for bit, to transforming every
  copy (the former path, kept for other estimators).
- The label flags of the panel come from the activity days the churn counts already read (first and
  last activity of each day) instead of a second pass over the activity: the same members flagged
  active after and before each cutoff, also around a daylight-saving change, with activity exactly at
  the window edges and with a two-day horizon.
- The member features at many cutoffs, in one engine pass or a few cutoffs per pass (the memory
  bound), are the same frames.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from test_churn_scoring_shortcuts import _copies_scored

from groupstats.analyses import churn
from groupstats.analyses.churn import features as churn_feature_module
from groupstats.analyses.churn import model as churn_model
from groupstats.data.dataset import Dataset
from groupstats.data.simulate import simulate_community

KEYS = ["group_id", "member_id"]


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _logistic(seed: int, n: int, k: int, fortran: bool, empty_column: bool):
    rng = np.random.default_rng(seed)
    X = rng.lognormal(size=(n, k)) * rng.choice([-1.0, 1.0], size=(n, k))
    X[:, 1] = rng.poisson(3, n)  # ties, like day counts
    X[rng.random((n, k)) < 0.1] = np.nan
    if empty_column:
        X[:, -1] = np.nan  # kept by the imputer (keep_empty_features), as at a cutoff without reads
    y = (np.nan_to_num(X[:, 0]) - 0.3 * X[:, 1] + rng.logistic(size=n) > 0).astype(int)
    model = churn.ChurnRiskModel("logistic")
    model.estimator_ = churn_model._make_estimator("logistic", seed).fit(X, y)
    model.calibrator_ = None
    # a feature frame's matrix is often Fortran-ordered: the classifier must see the same layout as before
    return model, (np.asfortranarray(X) if fortran else X), rng


@pytest.mark.parametrize("seed, n, k, fortran, empty_column, per_call", [
    (0, 3000, 12, True, False, 1),
    (1, 5001, 30, True, True, 4),
    (2, 777, 5, False, False, 3),
])
def test_logistic_copies_after_the_columnwise_steps_equal_transforming_each_copy(
        monkeypatch, seed, n, k, fortran, empty_column, per_call):
    model, X, rng = _logistic(seed, n, k, fortran, empty_column)
    assert churn_model._columnwise_steps(model.estimator_) is not None
    items = [(j, np.stack([X[rng.permutation(n), j] for _ in range(2)])) for j in range(k)]
    items += [(j, np.full((1, n), np.nanmedian(X[:, j]) if np.isfinite(X[:, j]).any() else np.nan))
              for j in range(k)]
    items += [(0, np.full((1, n), np.nan))]
    got, got_base = model._raw_swapped(X, items, copies_per_call=per_call)
    monkeypatch.setattr(churn_model, "_columnwise_steps", lambda estimator: None)  # the former path
    want, want_base = model._raw_swapped(X, items, copies_per_call=per_call)
    assert np.array_equal(got_base, want_base)
    assert np.array_equal(got_base, model.estimator_.predict_proba(X)[:, 1])
    assert len(got) == len(want) == len(items)
    for (j, values), g, w in zip(items, got, want):
        assert g.shape == w.shape == values.shape
        assert np.array_equal(g, w), j
    # and the copies do differ from the base (the test would pass on copies never changed otherwise)
    assert not np.array_equal(got[0][0], got_base)


@pytest.mark.parametrize("seed, workers", [(3, 1), (4, 3)])
def test_tree_copies_rescore_only_changed_rows_with_the_same_numbers(monkeypatch, seed, workers):
    """Zero-heavy counts: most rows keep their value when set to the median or shuffled. The blocks of
    rows one thread at a time or in threads at once (6 blocks over 3 threads) give the same numbers."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from groupstats.analyses.churn import tree_swaps

    monkeypatch.setattr(tree_swaps, "_WORKERS", workers)
    monkeypatch.setattr(tree_swaps, "_BLOCK_ROWS", 500)
    rng = np.random.default_rng(seed)
    n = 3000
    X = np.column_stack([rng.poisson(0.3, n), rng.poisson(2, n), rng.normal(size=n), rng.binomial(1, 0.05, n)])
    X = X.astype(float)
    X[rng.random(n) < 0.2, 2] = np.nan
    y = (X[:, 0] + X[:, 3] + np.nan_to_num(X[:, 2]) + rng.logistic(size=n) > 1).astype(int)
    est = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=seed).fit(X, y)
    items = [(j, np.full((1, n), np.nanmedian(X[:, j]))) for j in range(4)]
    items += [(j, np.stack([X[rng.permutation(n), j] for _ in range(2)])) for j in range(4)]
    items += [(2, np.where(np.isnan(X[:, 2]), np.nan, 0.5)[None, :])]  # NaN kept where it was
    swapped, base = tree_swaps.ColumnSwaps(est, X).swapped(items)
    assert np.array_equal(base, est.predict_proba(X)[:, 1])
    unchanged_rows = 0
    for (j, values), got, want in zip(items, swapped, _copies_scored(est, X, items)):
        for r in range(values.shape[0]):
            assert np.array_equal(got[r], want[r]), j
            unchanged_rows += int(np.sum((values[r] == X[:, j]) | (np.isnan(values[r]) & np.isnan(X[:, j]))))
    assert unchanged_rows > 5 * n  # the shortcut is taken for many rows


def test_only_known_columnwise_pipelines_take_the_shortcut():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    assert churn_model._columnwise_steps(churn_model._make_estimator("hgb", 0).fit(X, y)) is None
    mixing = make_pipeline(StandardScaler(), PolynomialFeatures(2), LogisticRegression()).fit(X, y)
    assert churn_model._columnwise_steps(mixing) is None  # a step that mixes columns
    assert churn_model._columnwise_steps(LogisticRegression().fit(X, y)) is None


def _with_edge_messages(ds: Dataset, cuts: list, horizon: int) -> Dataset:
    """``ds`` plus member messages exactly at each cutoff, at cutoff - horizon and at cutoff + horizon
    (the edges of the label windows), each from a member who is otherwise silent around it."""
    m = ds.messages
    members = ds.members.loc[~ds.members["role"].isin(("owner", "admin"))]
    rows = []
    for i, cut in enumerate(cuts):
        for j, at in enumerate((cut, cut - pd.Timedelta(days=horizon), cut + pd.Timedelta(days=horizon))):
            who = members.iloc[(7 * i + 3 * j) % len(members)]
            rows.append({"message_id": f"edge{i}_{j}", "group_id": who["group_id"], "member_id": who["member_id"],
                         "sent_at": at, "msg_type": "text", "reply_to": None, "n_mentions": 0, "text_len": 5})
    extra = pd.DataFrame(rows).astype({"n_mentions": "Int64", "text_len": "Int64"})
    extra["sent_at"] = pd.to_datetime(extra["sent_at"]).dt.tz_convert(ds.tz).astype(m["sent_at"].dtype)
    messages = pd.concat([m, extra[m.columns]], ignore_index=True)
    return Dataset(messages=messages, members=ds.members, groups=ds.groups, posts=ds.posts, events=ds.events,
                   tz=ds.tz)


@pytest.mark.parametrize("tz, start, seed, horizon, activity", [
    ("Europe/Berlin", "2026-02-20", 3, 30, ("message",)),          # windows across the March DST change
    ("Europe/Berlin", "2026-03-10", 4, 2, ("message", "read")),    # two-day horizon, cutoffs around the change
    ("Asia/Shanghai", "2026-01-05", 5, 7, ("message",)),
])
def test_panel_flags_from_activity_days_equal_the_activity_pass(tz, start, seed, horizon, activity):
    ds, _ = simulate_community(n_groups=3, days=60, seed=seed, members_per_group=20, tz=tz, start=start)
    first = churn.data_start_day(ds)
    cuts = [(first + pd.Timedelta(days=d)).tz_localize(None).normalize().tz_localize(tz) for d in (16, 17, 23, 29)]
    ds = _with_edge_messages(ds, cuts, horizon)
    d = churn.ChurnDefinition("either", horizon, activity)
    panel = churn_feature_module._Panel(ds, d, churn.feature_windows(14))
    panel.prefetch(cuts, cuts)
    direct = churn.activity_flags(churn.churn_data(ds), activity, cuts, horizon)
    n_checked, seen = 0, []
    for cut in cuts:
        got, want = panel.flags(cut), direct[cut]
        assert sorted(map(tuple, got[KEYS].to_numpy())) == sorted(map(tuple, want[KEYS].to_numpy()))
        got = got.set_index(KEYS).loc[pd.MultiIndex.from_frame(want[KEYS])]
        assert np.array_equal(got["after"].to_numpy() > 0, want["after"].to_numpy() > 0)
        assert np.array_equal(got["before"].to_numpy() > 0, want["before"].to_numpy() > 0)
        seen.append(want[["after", "before"]].to_numpy() > 0)
        # and the labels built on them equal churn_labels' (its own pass over the activity)
        if cut + pd.Timedelta(days=horizon) <= panel.end:
            labels = panel.labels(cut, panel.end)
            pd.testing.assert_frame_equal(labels.reset_index(drop=True),
                                          churn.churn_labels(ds, cut, horizon, "either", activity),
                                          check_like=False)
            n_checked += 1
    assert n_checked >= 2
    seen = np.concatenate(seen)
    assert seen.any(axis=0).all() and (~seen).any(axis=0).all()  # both flags take both values


def test_member_features_one_pass_or_a_cutoff_per_pass_are_the_same(small_sim, monkeypatch):
    ds, _ = small_sim
    first = churn.data_start_day(ds)
    cuts = [(first + pd.Timedelta(days=d)).tz_localize(None).normalize().tz_localize(ds.tz) for d in (20, 27, 34)]
    data = churn.churn_data(ds)
    wins = churn.feature_windows(20)
    assert churn_feature_module._MEMBER_CUTOFF_ROWS_PER_PASS // len(data.members) >= len(cuts)  # one pass here
    one = churn_feature_module._features_at(data, cuts, ("message",), wins)
    calls = []
    original = churn_feature_module.__dict__.get("member_features_at")
    from groupstats.tables import features as table_features

    real = table_features.member_features_at

    def counting(src, cutoffs, **kw):
        calls.append(len(cutoffs))
        return real(src, cutoffs, **kw)

    monkeypatch.setattr(table_features, "member_features_at", counting)
    monkeypatch.setattr(churn_feature_module, "_MEMBER_CUTOFF_ROWS_PER_PASS", 2 * len(data.members))
    two = churn_feature_module._features_at(data, cuts, ("message",), wins)
    assert original is None  # imported where used, so the patch above is what _features_at calls
    assert calls == [2, 1]
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs["cutoff"] == b.attrs["cutoff"]


def _frame(rng, n: int) -> pd.DataFrame:
    """A feature frame with labels: counts, rates and missing values, churn depending on a few of them."""
    frame = pd.DataFrame({"group_id": rng.choice(["g1", "g2", "g3"], n), "member_id": [f"u{i}" for i in range(n)],
                          "silent_days": rng.exponential(10, n), "act_days_7d": rng.poisson(2, n).astype(float),
                          "act_days_28d": rng.poisson(6, n).astype(float), "replies": rng.poisson(1, n) * 1.0,
                          "share_replies": rng.random(n), "read_days_14d": np.where(rng.random(n) < 0.2, np.nan,
                                                                                      rng.poisson(3, n))})
    risk = 0.15 * frame["silent_days"] - 0.5 * frame["act_days_7d"] + rng.logistic(size=n)
    return frame.assign(churned=(risk > 0).to_numpy())


def test_models_fitted_in_threads_equal_models_fitted_one_after_another(small_sim):
    """The backtest's classifiers fitted at once in threads (frames built once, calibration after) are the
    models ChurnRiskModel.fit gives one at a time: the same scores, bit for bit, and the same calibration."""
    ds, _ = small_sim
    cut = churn.data_end_day(ds) - pd.Timedelta(days=14)
    plan = churn.plan_cutoffs(ds, cut, 14)
    rng = np.random.default_rng(5)
    train, calib = _frame(rng, 900), _frame(rng, 400)

    class Panel:  # the frames of the plan are given (as the backtest's models share them)
        windows = churn.feature_windows(None)

    panel = Panel()
    frames = {(id(panel), tuple(plan["train"]), plan["calibration"], plan["scoring"]): (train, calib)}
    names = ("recency", "logistic", "hgb")
    alone = [churn.ChurnRiskModel(n, 14).fit(ds, cut, _panel=panel, _frames=frames) for n in names]
    ran = []
    together, extra = churn_model.fit_concurrently([churn.ChurnRiskModel(n, 14) for n in names], ds, cut, panel,
                                                   frames, meanwhile=lambda: ran.append(1) or "meanwhile")
    assert extra == "meanwhile" and ran == [1]
    for a, b in zip(alone, together):
        assert a.feature_names_ == b.feature_names_ and a.selection_auc_ == b.selection_auc_
        assert np.array_equal(a.predict_proba_frame(calib), b.predict_proba_frame(calib)), a.model
        assert a.calibrator_ is not None and b.calibrator_ is not None
    assert len(alone[2].feature_names_) == 6 and np.unique(alone[2].predict_proba_frame(calib)).size > 50


def test_member_features_at_cutoffs_with_spans_longer_than_a_word(small_sim):
    """A window far longer than the next one (100 vs 7 days: a span of 93 days, cut at the 63-day words of
    the day bits) and cutoffs between midnights give member_features' numbers at each cutoff."""
    from groupstats.tables.features import member_features, member_features_at

    ds, _ = small_sim
    first = churn.data_start_day(ds)
    cuts = [(first + pd.Timedelta(days=d)).tz_localize(None).normalize().tz_localize(ds.tz) for d in (33, 47)]
    cuts[1] += pd.Timedelta(hours=15)
    got = member_features_at(ds, cuts, windows=(7, 100))[1]  # (the spans of both cutoffs in one pass)
    pd.testing.assert_frame_equal(got, member_features(ds, cutoff=cuts[1], windows=(7, 100)), check_exact=True)
    assert got["active_days_100d"].max() > 30


@pytest.mark.parametrize(("tz", "seed", "horizon", "later_admin"), [
    ("Asia/Shanghai", 2, 7, False),
    ("Europe/Berlin", 6, 14, True),   # a member made admin after the cutoffs: labels lack it, the merge decides
    ("America/New_York", 9, 3, False),
])
def test_panel_frames_equal_the_merge_of_features_and_labels(tz, seed, horizon, later_admin):
    ds, _ = simulate_community(n_groups=4, days=50, seed=seed, members_per_group=25, tz=tz)
    if later_admin:
        members = ds.members
        row = members[members["role"] == "member"].iloc[[3]].copy()
        row["role"] = "admin"
        row["joined_at"] = members["joined_at"].max() + pd.Timedelta(days=30)
        row["left_at"] = pd.NaT
        ds = Dataset.from_frames(tz=tz, validate=False, **{**ds.tables, "members": pd.concat([members, row])})
    first = churn.data_start_day(ds)
    cuts = [first + pd.Timedelta(days=d) for d in (15, 22, 29)]
    d = churn.ChurnDefinition("silent", horizon, ("message",))
    panel = churn_feature_module._Panel(ds, d, churn.feature_windows(14))
    panel.prefetch(cuts, cuts)
    fallbacks = 0
    for cut in cuts:
        feats, labels = panel.features(cut), panel.labels(cut, panel.end)
        want = feats.merge(labels, on=KEYS, how="inner", validate="one_to_one")
        got = panel.frame(cut, panel.end)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert got.attrs == want.attrs
        fallbacks += len(labels) != len(feats)
    assert fallbacks == (3 if later_admin else 0)
    # the attrs a merge keeps (its inputs' when they have the same ones) are kept alike
    a = pd.DataFrame({"group_id": ["g1", "g1", "g2"], "member_id": ["a", "b", "a"], "x": [1, 2, 3]})
    b = a.rename(columns={"x": "y"})
    for attrs_a, attrs_b in (({"cutoff": 1}, {"cutoff": 1}), ({"cutoff": 1}, {"cutoff": 2}), ({}, {})):
        a.attrs, b.attrs = dict(attrs_a), dict(attrs_b)
        assert churn_feature_module._same_keys(a, b)
        panel._features[cuts[0]], panel._labels[cuts[0]] = a, b
        got = panel.frame(cuts[0], panel.end)
        want = a.merge(b, on=KEYS, how="inner")
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert got.attrs == want.attrs
    assert not churn_feature_module._same_keys(a, b.iloc[::-1].reset_index(drop=True))
    assert not churn_feature_module._same_keys(pd.concat([a, a.iloc[[2]]]), pd.concat([b, b.iloc[[2]]]))
