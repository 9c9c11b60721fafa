"""Churn risk: labels, features, no leakage, metrics, bootstrap, spells, survival, planted faders."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from groupstats.analyses import churn as churn
from groupstats.data.dataset import Dataset
from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError

TZ = "Asia/Shanghai"


def _ts(text):
    return pd.Timestamp(text).tz_localize(TZ)


@pytest.fixture(scope="module")
def toy() -> Dataset:
    """One group: an operator posting daily Jan 1 - Mar 1 2026 and members a, b, c, d.

    a: messages Jan 1, Jan 10, Feb 5.  b: Jan 2, Jan 3, leaves Feb 10.
    c: joins Jan 20, messages Jan 25, Feb 1, Feb 20.  d: never speaks.
    """
    op_days = pd.date_range("2026-01-01 12:00", "2026-03-01 12:00", freq="D")
    rows = [("op", t) for t in op_days]
    rows += [("a", pd.Timestamp(t)) for t in ("2026-01-01 12:00", "2026-01-10 12:00", "2026-02-05 12:00")]
    rows += [("b", pd.Timestamp(t)) for t in ("2026-01-02 12:00", "2026-01-03 12:00")]
    rows += [("c", pd.Timestamp(t)) for t in ("2026-01-25 12:00", "2026-02-01 12:00", "2026-02-20 12:00")]
    messages = pd.DataFrame({"message_id": [f"m{i}" for i in range(len(rows))], "group_id": "g1",
                             "member_id": [r[0] for r in rows], "sent_at": [r[1] for r in rows]})
    members = pd.DataFrame({
        "group_id": "g1", "member_id": ["op", "a", "b", "c", "d"],
        "joined_at": ["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-20", "2026-01-01"],
        "left_at": [None, None, "2026-02-10 09:00", None, None],
        "role": ["owner", "member", "member", "member", "member"]})
    return Dataset.from_frames(messages=messages, members=members, tz=TZ)


# ------------------------------------------------------------------------------------------
# labels and features on hand-built data
# ------------------------------------------------------------------------------------------
def test_labels_follow_each_definition(toy):
    lab = churn.churn_labels(toy, "2026-02-01", horizon=14, definition="either").set_index("member_id")
    assert list(lab.index) == ["a", "b", "c", "d"]  # operator excluded
    assert lab["silent"].to_dict() == {"a": False, "b": True, "c": False, "d": True}
    assert lab["left"].to_dict() == {"a": False, "b": True, "c": False, "d": False}
    assert lab["churned"].to_dict() == {"a": False, "b": True, "c": False, "d": True}
    assert lab["active_before"].to_dict() == {"a": False, "b": False, "c": True, "d": False}
    left = churn.churn_labels(toy, "2026-02-01", horizon=14, definition="left").set_index("member_id")
    assert left["churned"].to_dict() == {"a": False, "b": True, "c": False, "d": False}
    # b has left before Feb 15: not present, not scored
    later = churn.churn_labels(toy, "2026-02-15", horizon=14, definition="silent")
    assert "b" not in set(later["member_id"])
    with pytest.raises(InsufficientDataError, match="need 30 days of data after it"):
        churn.churn_labels(toy, "2026-02-01", horizon=30)
    with pytest.raises(ParameterError):
        churn.churn_labels(toy, "2026-02-01", horizon=14, definition="gone")


def test_churn_features_are_computed_from_the_past(toy):
    f = churn.churn_features(toy, "2026-02-01").set_index("member_id")
    assert f.loc["a", "silent_days"] == pytest.approx(21.5)
    assert f.loc["c", "silent_days"] == pytest.approx(6.5)
    assert f.loc["d", "never_active"] == 1 and f.loc["d", "silent_days"] == pytest.approx(31.0)
    assert f.loc["c", "act_days_7d"] == 1 and f.loc["a", "act_days_7d"] == 0
    assert f.loc["a", "act_repeat_days"] == 1 and f.loc["a", "act_age_days"] == 31
    assert f.loc["a", "act_span_days"] == 9  # Jan 1 to Jan 10
    # the segmentation features are reused, not recomputed
    assert {"recency_days", "active_days_30d", "trend"}.issubset(f.columns)
    assert f.loc["a", "recency_days"] == pytest.approx(f.loc["a", "silent_days"])


def test_silence_spells_censoring_and_leaving(toy):
    sp = churn.silence_spells(toy).set_index(["member_id", "start"]).sort_index()
    a = sp.loc["a"]
    assert a["duration"].tolist() == [9, 26, 24]
    assert a["returned"].tolist() == [True, True, False] and not a["left"].any()
    b = sp.loc["b"]
    assert b["duration"].tolist() == [1, 38] and b["left"].tolist() == [False, True]
    assert sp.loc["c", "duration"].tolist() == [7, 19, 9]  # Feb 20 to Mar 1 (last observed day)
    assert "d" not in sp.index.get_level_values(0)


def test_time_to_churn_by_definition(toy):
    sil = churn.time_to_churn(toy, "2026-02-01", horizon=14, definition="silent").set_index("member_id")
    assert sil["duration"].to_dict() == {"a": 5, "b": 0, "c": 1, "d": 0}
    assert sil["event"].all()
    eith = churn.time_to_churn(toy, "2026-02-01", horizon=14, definition="either").set_index("member_id")
    assert eith.loc["b", "duration"] == 9 and eith.loc["b", "cause"] == 2  # left before a 14-day silence
    assert eith.loc["a", "cause"] == 1
    lft = churn.time_to_churn(toy, "2026-02-01", horizon=14, definition="left").set_index("member_id")
    assert lft["event"].to_dict() == {"a": 0, "b": 1, "c": 0, "d": 0}
    assert lft.loc["a", "duration"] == 29  # censored at the end of the data


# ------------------------------------------------------------------------------------------
# metrics and the paired bootstrap
# ------------------------------------------------------------------------------------------
def test_metrics_match_sklearn_and_hand_counts():
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.2
    p = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.2, 500), 0, 1).round(2)  # ties on purpose
    m = churn.classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    # calibration intercept and slope: the logistic regression of y on logit(p) (statsmodels as reference)
    import statsmodels.api as sm

    q = np.clip(p, 1e-6, 1 - 1e-6)
    ref = sm.GLM(y.astype(float), sm.add_constant(np.log(q / (1 - q))), family=sm.families.Binomial()).fit()
    assert m["calibration_intercept"] == pytest.approx(ref.params[0], abs=1e-6)
    assert m["calibration_slope"] == pytest.approx(ref.params[1], abs=1e-6)
    top = np.argsort(-p, kind="stable")[:50]
    assert m["capture_10"] == pytest.approx(y[top].sum() / y.sum())
    assert m["lift_10"] == pytest.approx(y[top].mean() / y.mean())
    W = rng.integers(0, 3, size=(4, 500)).astype(float)
    for w in W:  # weighted AUC = sklearn with sample weights
        assert churn._weighted_auc(y, p, w[None, :])[0] == pytest.approx(roc_auc_score(y, p, sample_weight=w))


def test_paired_bootstrap_covers_truth_and_is_zero_for_identical_scores():
    rng = np.random.default_rng(2)
    n, G = 3000, 30
    groups = rng.integers(0, G, n)
    x = rng.normal(size=n) + rng.normal(size=G)[groups] * 0.3
    y = rng.random(n) < 1 / (1 + np.exp(-(x - 1.5)))
    good, weak = x + rng.normal(0, 0.3, n), x + rng.normal(0, 1.5, n)
    b = churn.paired_auc_bootstrap(y, good, weak, clusters=groups, n_boot=400)
    assert b["ci_low"] > 0 and b["delta"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, weak))
    assert b["n_clusters"] == G
    same = churn.paired_auc_bootstrap(y, good, good, clusters=groups, n_boot=100)
    assert same["ci_low"] == pytest.approx(0) and same["ci_high"] == pytest.approx(0)


@pytest.mark.parametrize("seed,n,G,digits", [(3, 2000, 25, 2), (4, 900, 60, 1), (5, 400, 3, 3)])
def test_cluster_bootstrap_equals_reweighting_every_row(monkeypatch, seed, n, G, digits):
    """The bootstrap's cluster-pair shortcut gives the same replicates, bit for bit, as weighting every
    row by its cluster's multiplicity (ties, unequal cluster sizes, clusters without churners)."""
    from groupstats.analyses.churn import metrics

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, G, n) ** 2  # labels need not be 0..G-1; some clusters are small
    y = rng.random(n) < 0.25
    y[groups == groups[0]] = False
    a = (rng.random(n) + 0.4 * y).round(digits)  # ties on purpose
    b = rng.random(n).round(digits)
    calls = []
    pair_counts = metrics._cluster_pair_counts
    monkeypatch.setattr(metrics, "_cluster_pair_counts", lambda *args: calls.append(1) or pair_counts(*args))
    fast = churn.paired_auc_bootstrap(y, a, b, clusters=groups, n_boot=300, random_state=seed)
    assert len(calls) == 2  # the shortcut was taken (once per score)
    monkeypatch.setattr(metrics, "_MAX_CLUSTER_PAIRS_G", 0)  # every replicate reweights the rows
    slow = churn.paired_auc_bootstrap(y, a, b, clusters=groups, n_boot=300, random_state=seed)
    assert fast == slow
    assert fast["ci_low"] < fast["delta"] < fast["ci_high"]


# ------------------------------------------------------------------------------------------
# time split: history needed, no leakage
# ------------------------------------------------------------------------------------------
def test_too_little_history_says_how_much_is_needed(small_sim):
    ds, _ = small_sim
    start = churn.data_start_day(ds)
    with pytest.raises(InsufficientDataError, match=r"needs at least 44 days of data before the scoring date"):
        churn.plan_cutoffs(ds, start + pd.Timedelta(days=40), horizon=30)  # 14 days of features + 30 of horizon
    one = churn.plan_cutoffs(ds, start + pd.Timedelta(days=44), horizon=30)
    assert one["mode"] == "cross_fit" and one["train"] == [start + pd.Timedelta(days=14)] and one["calibration"] is None
    assert churn.plan_cutoffs(ds, start + pd.Timedelta(days=51), horizon=30)["mode"] == "time_split"
    plan = churn.plan_cutoffs(ds, start + pd.Timedelta(days=50), horizon=14, min_history_days=21)
    assert plan["calibration"] == start + pd.Timedelta(days=36) and plan["mode"] == "time_split"
    # training horizons end by the scoring date; calibration is on a later cutoff than training
    assert all(c + pd.Timedelta(days=14) <= plan["scoring"] and c < plan["calibration"] for c in plan["train"])
    assert min(plan["train"]) >= start + pd.Timedelta(days=21)
    with pytest.raises(NotFittedError):
        churn.ChurnRiskModel().predict_proba_frame(pd.DataFrame())


def _alter_after(ds: Dataset, cut: pd.Timestamp, seed: int) -> Dataset:
    """Scramble everything after ``cut``: drop half the later messages, move their senders, make
    members who are present at the cutoff leave after it."""
    rng = np.random.default_rng(seed)
    msgs = ds.messages
    late = (msgs["sent_at"] > cut).to_numpy()
    is_post = msgs["message_id"].isin(ds.posts["message_id"].dropna()).to_numpy()
    keep = ~late | is_post | (rng.random(len(msgs)) < 0.5)
    msgs = msgs.loc[keep].copy()
    fixed = msgs["message_id"].isin(msgs["reply_to"].dropna()) | msgs["message_id"].isin(ds.posts["message_id"])
    msgs.loc[(msgs["sent_at"] > cut) & ~fixed, "sent_at"] += pd.Timedelta(hours=3)
    msgs.loc[~msgs["reply_to"].isin(msgs["message_id"]), "reply_to"] = None
    members = ds.members.copy()
    open_now = members["left_at"].isna() & (members["role"] == "member")
    leave = open_now & (rng.random(len(members)) < 0.3)
    members.loc[leave, "left_at"] = cut + pd.Timedelta(days=2)
    events = ds.events.loc[(ds.events["occurred_at"] <= cut).to_numpy() | (rng.random(len(ds.events)) < 0.3)]
    posts = ds.posts
    events = events.loc[events["post_id"].isna() | events["post_id"].isin(posts["post_id"])]
    return Dataset.from_frames(messages=msgs, members=members, posts=posts, events=events, groups=ds.groups,
                               tz=ds.tz)


def test_no_leakage_data_after_the_cutoff_change_nothing(small_sim):
    ds, _ = small_sim
    cut = churn.data_start_day(ds) + pd.Timedelta(days=48)
    altered = _alter_after(ds, cut, seed=5)
    assert len(altered.messages) < len(ds.messages)
    f0 = churn.churn_features(ds, cut)
    f1 = churn.churn_features(altered, cut)
    pd.testing.assert_frame_equal(f0, f1)
    kw = dict(model="logistic", horizon=14, min_history_days=21)
    m0 = churn.ChurnRiskModel(**kw).fit(ds, cut)
    m1 = churn.ChurnRiskModel(**kw).fit(altered, cut)
    assert m0.windows_ == m1.windows_ == churn.feature_windows(m0.cutoffs_["history_days"])
    assert max(m0.windows_["churn"]) == m0.cutoffs_["history_days"] < 28  # windows fit the history
    with pytest.raises(ParameterError, match="windows=model.windows_"):
        m0.predict_proba_frame(f0)  # default 28-day windows: not what the model was trained on
    f0 = churn.churn_features(ds, cut, windows=m0.windows_)
    f1 = churn.churn_features(altered, cut, windows=m1.windows_)
    pd.testing.assert_frame_equal(f0, f1)
    assert m0.n_train_ == m1.n_train_ and m0.feature_names_ == m1.feature_names_
    np.testing.assert_allclose(m0.predict_proba_frame(f0), m1.predict_proba_frame(f1))
    # but outcomes after the cutoff do change: the test data were really altered
    l0 = churn.churn_labels(ds, cut, 7, "left")
    l1 = churn.churn_labels(altered, cut, 7, "left")
    assert l1["churned"].sum() > l0["churned"].sum()


def test_drivers_are_the_features_that_raise_risk(small_sim):
    ds, _ = small_sim
    cut = churn.data_start_day(ds) + pd.Timedelta(days=48)
    model = churn.ChurnRiskModel("logistic", horizon=14, min_history_days=21).fit(ds, cut)
    scored = model.score(ds, cut)
    assert scored["risk"].between(0, 1).all()
    feats = churn.churn_features(ds, cut, windows=model.windows_)
    i = int(np.argmax(scored["risk"].to_numpy()))
    name = scored["driver_1"].iloc[i]
    assert name in model.feature_names_
    swapped = feats.iloc[[i]].copy()
    swapped[name] = model.reference_[name]
    effect = scored["risk"].iloc[i] - model.predict_proba_frame(swapped)[0]
    assert effect > 0
    assert f"(+{round(effect, 3)})" in scored["top_drivers"].iloc[i]
    # missing feature values (members who never spoke have no recency_days) are written as such
    holes = feats.copy()
    holes.loc[holes.index[:20], "recency_days"] = np.nan
    text = model.drivers(holes)["top_drivers"]
    assert text.map(type).eq(str).all() and not text.str.contains("nan").any()


# ------------------------------------------------------------------------------------------
# survival views
# ------------------------------------------------------------------------------------------
def test_either_uses_competing_risks_not_naive_km(small_sim):
    ds, _ = small_sim
    start = churn.data_start_day(ds) + pd.Timedelta(days=14)
    res = churn.churn_survival(ds, start=start, horizon=14, definition="either")
    assert res.incidence is not None
    aj = res.incidence
    t = np.array([5.0, 10.0, 20.0])
    total = aj.predict(t, 1) + aj.predict(t, 2) + aj.predict_survival(t)
    np.testing.assert_allclose(total, 1.0)
    data = res.data
    from groupstats.stats.survival import KaplanMeier
    naive_left = 1 - KaplanMeier().fit(data["duration"], data["cause"] == 2).predict(t)
    assert np.all(naive_left >= aj.predict(t, 2) - 1e-12)  # 1-KM overstates a competing event's incidence
    assert set(res.km_table["segment"]).issubset({name for _, name in churn.ACTIVITY_LEVELS})
    silent = churn.churn_survival(ds, start=start, horizon=14, definition="silent")
    assert silent.incidence is None and silent.cox is not None
    # members inactive before the start churn (go silent) sooner than the most active ones
    kt = silent.km_table.set_index("segment")
    assert kt.loc["none", "churned_by_30"] > kt.loc["high (14+ days)", "churned_by_30"]


def test_how_long_is_gone_curve_and_threshold(small_sim):
    ds, _ = small_sim
    res = churn.how_long_is_gone(ds, within=20, days=range(1, 31), level=0.5)
    curve = res.curve.curve
    assert set(res.thresholds) == set(curve["segment"])
    for seg, thr in res.thresholds.items():
        part = curve.loc[curve["segment"] == seg].sort_values("d")
        below = part.loc[part["p_return"] < 0.5, "d"]
        assert thr == (None if below.empty else float(below.iloc[0]))
    spells = churn.silence_spells(ds)
    assert sum(res.curve.n_spells.values()) == len(spells)
    assert "falls below" in res.conclusion() or "never falls" in res.conclusion()


# ------------------------------------------------------------------------------------------
# the acceptance test: planted fading members
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faders():
    from groupstats.data.simulate import simulate_community

    return simulate_community(n_groups=20, days=130, seed=11, members_per_group=60)


@pytest.mark.slow
def test_backtest_finds_planted_faders(faders):
    ds, truth = faders
    bt = churn.backtest(ds, horizon=30, n_boot=400, importance_repeats=1)
    m = bt.metrics.set_index(["model", "population"])
    assert set(m.index.get_level_values(0)) == {"recency", "logistic", "hgb", "bgnbd"}
    best = bt.best_model
    assert m.loc[(best, "active"), "roc_auc"] >= 0.75
    gain = bt.gain.set_index("population").loc["active"]
    assert gain["ci_low"] > 0, bt.gain
    # calibrated on a later cutoff: better than predicting the base rate, and close on average
    base = m.loc[(best, "all"), "base_rate"]
    assert m.loc[(best, "all"), "brier"] < base * (1 - base)
    preds = bt.predictions
    assert abs(preds[f"risk_{best}"].mean() - base) < 0.08
    # the time split: training horizons end by the evaluation cutoff, calibration is later than training
    e = bt.cutoffs["evaluation"]
    assert all(c + pd.Timedelta(days=30) <= e for c in bt.cutoffs["train"] + [bt.cutoffs["calibration"]])
    assert all(c < bt.cutoffs["calibration"] for c in bt.cutoffs["train"])
    # BG/NBD is compared on the same target and ranks better than chance
    assert m.loc[("bgnbd", "all"), "roc_auc"] > 0.7
    # planted faders already fading at the cutoff, though still talking, get higher risk than the
    # members who never fade
    tm = pd.DataFrame(truth["members"])
    eval_day = (e.tz_localize(None) - pd.Timestamp(truth["config"]["start"])) / pd.Timedelta(days=1)
    tm["fading"] = tm["fader"] & (tm["fade_day"].astype(float) <= eval_day)
    act = preds.loc[preds["active_before"]].merge(tm, on=["group_id", "member_id"])
    for tier in ("active", "casual"):  # within a planted tier (tiers differ a lot in baseline risk)
        part = act.loc[act["tier"] == tier]
        risk_fading = part.loc[part["fading"], f"risk_{best}"].mean()
        risk_steady = part.loc[~part["fader"], f"risk_{best}"].mean()
        assert risk_fading > 1.5 * risk_steady, (tier, risk_fading, risk_steady)
    assert len(bt.importance) and bt.importance["importance_mean"].iloc[0] > 0


def test_notebook_runs_on_sample(batch_records):
    rec = batch_records("churn_risk")  # executed once per session by `report all` (conftest)
    assert rec["n_scored"] > 0 and rec["risk_in_unit_interval"]
    auc = rec["backtest_roc_auc_active"]
    assert set(auc) == {"recency", "logistic", "hgb", "bgnbd"}
    assert auc[rec["model"]] > auc["recency"]
    assert len(rec["top_member_ids"]) == 20
