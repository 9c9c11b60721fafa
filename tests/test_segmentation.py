"""Member segmentation: recovers planted tiers, picks a sensible k, handles ties and degenerate data."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association
from sklearn.metrics import adjusted_rand_score

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError, StatisticalWarning
from groupstats.tables.features import member_features
from groupstats.analyses.segmentation import (
    MemberSegmentation, group_association, rate_measurements, segment_members,
)
from groupstats.data.simulate import simulate_community


def _truth_tiers(features: pd.DataFrame, truth: dict) -> pd.Series:
    tiers = pd.DataFrame(truth["members"]).set_index(["group_id", "member_id"])["tier"]
    return tiers.loc[pd.MultiIndex.from_frame(features[["group_id", "member_id"]])].reset_index(drop=True)


@pytest.fixture(scope="module")
def small_features(small_sim):
    ds, truth = small_sim
    feats = member_features(ds)
    return feats, _truth_tiers(feats, truth)


@pytest.fixture(scope="module")
def separated():
    """Three well-separated planted tiers (small individual and group variation)."""
    ds, truth = simulate_community(
        n_groups=6, days=45, seed=1, members_per_group=50, member_rate_sigma=0.15, group_activity_sigma=0.1,
        fade_share=0.0, late_join_share=0.0, tier_shares={"core": 0.2, "active": 0.3, "silent": 0.5},
        tier_rates={"core": 4.0, "active": 0.6, "silent": 0.02},
        read_prob={"core": 0.95, "active": 0.6, "silent": 0.1},
        sign_in_prob={"core": 0.7, "active": 0.25, "silent": 0.01})
    feats = member_features(ds)
    return feats, _truth_tiers(feats, truth)


def test_segments_recover_overlapping_tiers_better_than_quantile_cut(small_features):
    feats, tiers = small_features
    quartile = pd.qcut(feats["messages_total"].rank(method="first"), 4, labels=False)
    ari_quantile = adjusted_rand_score(tiers, quartile)
    seg = MemberSegmentation(method="kmeans", k=4, n_bootstrap=0, random_state=0).fit(feats)
    ari_within = adjusted_rand_score(tiers, seg.labels_)
    gmm = MemberSegmentation(method="gmm", features="raw", n_bootstrap=0, random_state=0).fit(feats)
    ari_gmm = adjusted_rand_score(tiers, gmm.labels_)
    assert ari_within > ari_quantile + 0.08, (ari_within, ari_quantile)
    assert ari_gmm > ari_quantile + 0.2, (ari_gmm, ari_quantile)
    assert 3 <= gmm.k_ <= 6
    # the default (rate mixture, k by BIC) beats both, and the k-means it replaced as the default
    default = MemberSegmentation(n_bootstrap=0, random_state=0).fit(feats)
    assert default.method_ == "rate_mixture" and 3 <= default.k_ <= 6
    ari_default = adjusted_rand_score(tiers, default.labels_)
    old_default = MemberSegmentation(method="kmeans", n_bootstrap=0, random_state=0).fit(feats)
    assert ari_default > max(ari_gmm, ari_within) + 0.05, (ari_default, ari_gmm, ari_within)
    assert ari_default > adjusted_rand_score(tiers, old_default.labels_) + 0.2
    np.testing.assert_array_equal(default.predict(feats), default.labels_)
    # a group not seen in the fit gets no group effect: its members are placed by their own rates
    renamed = feats.assign(group_id="a group not seen")
    y, v, _ = rate_measurements(feats)
    no_effect = default.model_.predict(y, v, np.zeros(len(feats), dtype=int), effects=np.zeros(1))
    np.testing.assert_array_equal(default.predict(renamed), default._relabel[default._comp_map[no_effect]])


def test_selection_picks_planted_k_with_scores(separated):
    feats, tiers = separated
    for method in ("kmeans", "gmm", "rate_mixture"):
        seg = MemberSegmentation(method=method, features="raw", n_bootstrap=8, random_state=0).fit(feats)
        assert seg.k_ == 3, (method, seg.selection_)
        table = seg.selection_
        assert list(table["k"]) == list(range(2, 9)) and table["selected"].sum() == 1
        best = table["score"].idxmax() if method == "kmeans" else table["score"].idxmin()
        assert int(table.loc[best, "k"]) == 3
        # the evidence for the chosen k and the runner-up
        ev = seg.evidence_
        others = table.loc[table["k"] != 3, "score"]
        runner = others.idxmax() if method == "kmeans" else others.idxmin()
        assert ev["chosen"]["k"] == 3 and ev["runner_up"]["k"] == int(table.loc[runner, "k"])
        assert ev["delta"] == pytest.approx(abs(table.loc[runner, "score"] - table.loc[best, "score"]))
        assert f"Runner-up k = {ev['runner_up']['k']}" in seg.selection_note_
        if method == "rate_mixture":
            ll, p = table["log_likelihood"].to_numpy(), table["n_parameters"].to_numpy()
            np.testing.assert_allclose(table["score"], -2 * ll + p * np.log(len(feats)))
            assert table["bic_weight"].sum() == pytest.approx(1) and ev["delta"] > 10
            assert ev["strength"] == "very strong" and ev["weights"]["3"] > 0.99
        assert adjusted_rand_score(tiers, seg.labels_) > 0.9
        assert seg.stability_["ari_mean"] > 0.9 and seg.stability_["n_bootstrap"] == 8
        # ordered from most to least engaged, named in words, profiled
        prof = seg.profiles_
        assert prof["engagement"].is_monotonic_decreasing
        assert prof["messages_per_day"].is_monotonic_decreasing
        assert prof["name"].iloc[0] == "core contributors"
        assert prof["name"].is_unique and prof["size"].sum() == len(feats)
    np.testing.assert_array_equal(seg.predict(feats), seg.labels_)


def test_gmm_ties_do_not_make_bic_degenerate(small_features):
    from sklearn.mixture import GaussianMixture

    feats, _ = small_features
    tied = feats.copy()
    silent = np.random.default_rng(0).random(len(tied)) < 0.5
    for col in ("messages_per_day", "active_day_share", "read_rate", "sign_in_days_90d"):
        tied.loc[silent, col] = 0.0
    tied.loc[silent, "recency_days"] = np.nan
    tied.loc[silent, "observed_days"] = 60
    seg = MemberSegmentation(method="gmm", features="raw", n_bootstrap=0, random_state=0).fit(tied)
    Z = seg.pipeline_.transform(tied)
    naive = [GaussianMixture(k, random_state=0).fit(Z).bic(Z) for k in range(2, 9)]
    ours = seg.selection_["score"].to_numpy()
    # a plain mixture puts components on the point mass: BIC plunges far below any real fit
    assert min(naive) < ours.min() - 1000
    assert seg.k_ < 8 and np.isfinite(ours).all()


def test_within_group_segments_are_not_the_groups():
    ds, truth = simulate_community(n_groups=10, days=60, seed=3, members_per_group=50, group_activity_sigma=2.5,
                                   events=True)
    feats = member_features(ds)
    tiers = _truth_tiers(feats, truth)
    v_truth = association(pd.crosstab(feats["group_id"], tiers).to_numpy())
    quartile = pd.qcut(feats["messages_total"].rank(method="first"), 4, labels=False)
    v_quantile = group_association(feats["group_id"], quartile)
    within = MemberSegmentation(method="kmeans", k=4, n_bootstrap=0).fit(feats)
    raw = MemberSegmentation(method="kmeans", k=4, features="raw", n_bootstrap=0).fit(feats)
    v_within = group_association(feats["group_id"], within.labels_)
    v_raw = group_association(feats["group_id"], raw.labels_)
    assert v_quantile > 0.3  # a pooled cut on message counts sorts the groups
    assert v_within < v_truth + 0.05  # within-group segments are no more tied to groups than the tiers are
    assert v_within < v_raw and v_within < v_quantile / 2
    assert adjusted_rand_score(tiers, within.labels_) > adjusted_rand_score(tiers, quartile)
    res = within.result()
    assert res.group_association == pytest.approx(v_within)
    # the rate mixture estimates each group's level with the tiers: segments cut across groups and
    # recover the tiers far better than within-group ranks
    rate = MemberSegmentation(k=4, n_bootstrap=0).fit(feats)
    assert rate.model_.group_sd_ > 0.3  # the planted group effects were found
    assert group_association(feats["group_id"], rate.labels_) < v_truth + 0.05
    assert adjusted_rand_score(tiers, rate.labels_) > adjusted_rand_score(tiers, within.labels_) + 0.2


def test_degenerate_inputs(small_sim, small_features):
    ds, _ = small_sim
    feats, _ = small_features
    with pytest.raises(InsufficientDataError):
        segment_members(ds, cutoff="2020-01-01")
    silent = feats.copy()
    for col in silent.columns[2:]:
        if col not in ("tenure_days", "observed_days"):
            silent[col] = 0.0 if not col.startswith("share") else np.nan
    silent["recency_days"] = np.nan
    silent["observed_days"] = 30
    with pytest.raises(InsufficientDataError, match="distinct feature profile"):
        MemberSegmentation().fit(silent)
    # a group of 3 members: within-group ranks are coarse -> warning, still fitted
    small = pd.concat([feats.loc[feats["group_id"] != feats["group_id"].iloc[0]],
                       feats.loc[feats["group_id"] == feats["group_id"].iloc[0]].head(3)])
    with pytest.warns(StatisticalWarning, match="fewer than 10 members"):
        seg = MemberSegmentation(method="kmeans", k=3, n_bootstrap=0).fit(small)
    assert len(seg.labels_) == len(small)
    with pytest.raises(NotFittedError):
        MemberSegmentation().predict(feats)
    with pytest.raises(ParameterError):
        MemberSegmentation(method="dbscan").fit(feats)
    with pytest.raises(ParameterError):
        MemberSegmentation(k=1).fit(feats)
    with pytest.raises(ParameterError, match="raw member features"):
        MemberSegmentation().fit(member_features(ds, normalise_within_group=True))


def test_result_object_and_plots(small_sim):
    import matplotlib

    matplotlib.use("Agg")
    ds, _ = small_sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        res = segment_members(ds, cutoff="2026-02-25", k=3, tiers="activity", n_bootstrap=5)
    d = res.to_dict()
    assert d["k"] == 3 and len(d["segments"]) == 3 and d["stability"]["n_bootstrap"] == 5
    assert set(res.assignments.columns) >= {"group_id", "member_id", "segment", "tier"}
    assert res.assignments["segment"].nunique() == 3
    comp = res.comparison
    assert comp.ari == pytest.approx(adjusted_rand_score(res.assignments["tier"], res.assignments["segment"]))
    assert comp.crosstab.to_numpy().sum() == len(res.assignments)
    assert "adjusted Rand index" in res.conclusion()
    ax = res.plot_pca()
    assert len(ax.get_legend().get_texts()) == 3
    fig = res.plot_profiles()
    assert [a.get_title() for a in fig.axes if a.get_visible()][:2] == ["messages_per_day", "active_day_share"]
    res.to_json()


def test_segment_members_on_out_of_core_features_is_identical(sample_in_memory):
    """A dataset opened from Parquet (features computed by the engine from the files, no message read
    into pandas) gives the same result as the same data in memory."""
    from groupstats.data.dataset import load_dataset
    from groupstats.paths import sample_data_path

    cutoff = "2026-03-15"
    expected = segment_members(sample_in_memory, cutoff=cutoff, k=3, tiers="activity", n_bootstrap=3)
    opened = load_dataset(sample_data_path())
    got = segment_members(opened, cutoff=cutoff, k=3, tiers="activity", n_bootstrap=3)
    assert not opened.is_loaded("messages") and not opened.is_loaded("events")
    pd.testing.assert_frame_equal(got.assignments, expected.assignments)
    assert got.to_dict() == expected.to_dict()
