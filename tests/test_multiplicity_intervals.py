"""Issue 16: with several arms and a multiplicity correction, the reported intervals are adjusted
(drawn at the level at which the correction judges each comparison: Bonferroni alpha/m, Holm its
step, BH alpha R/m; stats/multiplicity.py) so they never contradict ``significant``; the marginal
intervals stay in the ``*_unadjusted`` columns."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from groupstats.stats.compare import compare_arms
from groupstats.stats.sequential import sequential_comparisons

CI_COLS = ["ci_low", "ci_high", "rel_ci_low", "rel_ci_high"]
ALPHA = 0.05


def _frame(rng, kind: str, n_arms: int, n_clusters: int | None, effect: float) -> pd.DataFrame:
    n = int(rng.integers(150, 400))
    arm = rng.integers(0, n_arms, n)
    arm[:n_arms] = np.arange(n_arms)
    if n_clusters:
        # clusters nested in arms (cluster-randomised): cluster c belongs to arm c % n_arms
        clus = rng.integers(0, n_clusters, n)
        clus[: n_clusters] = np.arange(n_clusters)
        arm = clus % n_arms
        g_eff = rng.normal(0, 0.3, n_clusters)[clus]
    else:
        clus = np.zeros(n, dtype=int)
        g_eff = 0.0
    lift = effect * rng.uniform(0.3, 1.5, n_arms)[arm] * (arm > 0)
    frame = pd.DataFrame({"arm": arm, "g": clus})
    if kind == "mean":
        frame["y"] = 1.0 + lift + g_eff + rng.normal(0, 1, n)
    elif kind == "proportion":
        frame["y"] = (rng.uniform(size=n) < np.clip(0.3 + 0.3 * lift + 0.2 * g_eff, 0.02, 0.98)).astype(float)
    elif kind == "count":
        frame["y"] = rng.poisson(np.exp(0.5 + 0.5 * lift + g_eff))
    else:
        frame["d"] = rng.integers(1, 20, n).astype(float)
        frame["y"] = rng.binomial(frame["d"].astype(int), np.clip(0.2 + 0.2 * lift + 0.1 * g_eff, 0.01, 0.99))
    return frame


def _run(frame, kind, clustered, correction, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_arms(frame, arm="arm", metric="y", kind=kind, denominator="d" if kind == "ratio" else None,
                            cluster="g" if clustered else None, correction=correction, alpha=ALPHA, **kw)


def _excludes_zero(low, high) -> np.ndarray:
    low, high = np.asarray(low, float), np.asarray(high, float)
    return (low > 0) | (high < 0)


CASES = [(kind, corr, n_arms, n_clusters, seed)
         for kind in ("mean", "proportion", "count", "ratio")
         for corr in ("holm", "bonferroni", "bh")
         for n_arms, n_clusters in ((3, None), (4, None), (3, 12), (4, 24))
         for seed in range(5)]


@pytest.mark.slow
def test_flag_equals_adjusted_interval_excludes_zero_on_random_data():
    """240 random multi-arm data sets: both adjusted intervals exclude 0 iff significant, the
    unadjusted columns are the correction='none' intervals, and both flags disagree somewhere
    (so the check bites: the marginal interval would contradict the flag)."""
    contradictions_before = 0
    n_rows = 0
    for kind, corr, n_arms, n_clusters, seed in CASES:
        rng = np.random.default_rng(1000 * seed + 7 * n_arms + (n_clusters or 0) + len(kind) + len(corr))
        frame = _frame(rng, kind, n_arms, n_clusters, effect=rng.choice([0.0, 0.15, 0.3, 0.6]))
        res = _run(frame, kind, n_clusters is not None, corr).comparisons
        plain = _run(frame, kind, n_clusters is not None, "none").comparisons
        sig = res["significant"].to_numpy(bool)
        label = (kind, corr, n_arms, n_clusters, seed)
        assert res["interval_adjusted"].all(), label
        np.testing.assert_array_equal(sig, _excludes_zero(res["ci_low"], res["ci_high"]), err_msg=str(label))
        np.testing.assert_array_equal(sig, _excludes_zero(res["rel_ci_low"], res["rel_ci_high"]), err_msg=str(label))
        for col in CI_COLS:
            np.testing.assert_allclose(res[f"{col}_unadjusted"].to_numpy(float), plain[col].to_numpy(float),
                                       rtol=1e-12, err_msg=str(label))
            np.testing.assert_allclose(plain[f"{col}_unadjusted"].to_numpy(float), plain[col].to_numpy(float),
                                       rtol=1e-12)
        np.testing.assert_allclose(plain["ci_level"], 1 - ALPHA)
        assert (res["ci_level"] >= 1 - ALPHA - 1e-12).all()
        # the adjusted interval contains the marginal one
        assert (res["ci_low"] <= res["ci_low_unadjusted"] + 1e-12).all()
        assert (res["ci_high"] >= res["ci_high_unadjusted"] - 1e-12).all()
        contradictions_before += int((sig != _excludes_zero(plain["ci_low"], plain["ci_high"])).sum())
        n_rows += len(res)
    assert n_rows >= 500
    assert contradictions_before > 0   # the old marginal intervals did contradict the flag


@pytest.mark.parametrize("kind", ["mean", "proportion", "count", "ratio"])
@pytest.mark.parametrize("clustered", [False, True])
def test_one_comparison_intervals_unchanged(kind, clustered):
    rng = np.random.default_rng(11 + len(kind) + clustered)
    frame = _frame(rng, kind, 2, 12 if clustered else None, effect=0.3)
    holm = _run(frame, kind, clustered, "holm").comparisons
    none = _run(frame, kind, clustered, "none").comparisons
    for col in CI_COLS:
        np.testing.assert_array_equal(holm[col].to_numpy(float), none[col].to_numpy(float))
        np.testing.assert_array_equal(holm[col].to_numpy(float), holm[f"{col}_unadjusted"].to_numpy(float))
    assert holm["ci_level"].iloc[0] == pytest.approx(1 - ALPHA)


@pytest.mark.parametrize("correction,sm", [("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "fdr_bh")])
def test_adjusted_welch_interval_matches_reference(correction, sm):
    """Welch (unclustered mean): the adjusted interval is diff -+ t(1 - alpha_i / 2, df) se with alpha_i from
    statsmodels' adjusted p-values, and its ends are where scipy's Welch test p-value equals alpha_i."""
    rng = np.random.default_rng(5)
    frame = _frame(rng, "mean", 4, None, effect=0.35)
    res = _run(frame, "mean", False, correction).comparisons
    p_ref = np.array([sps.ttest_ind(frame.loc[frame.arm == a, "y"], frame.loc[frame.arm == 0, "y"],
                                    equal_var=False).pvalue for a in res["arm"]])
    np.testing.assert_allclose(res["p_value"], p_ref, rtol=1e-10)
    rejected, adj_ref = multipletests(p_ref, alpha=ALPHA, method=sm)[:2]
    level = _judged_levels(p_ref, rejected, correction)
    np.testing.assert_allclose(res["p_adjusted"], adj_ref, rtol=1e-12)
    crit = sps.t.ppf(1 - level / 2, res["df"].to_numpy(float))
    np.testing.assert_allclose(res["ci_low"], res["diff"] - crit * res["se"], rtol=1e-10)
    np.testing.assert_allclose(res["ci_high"], res["diff"] + crit * res["se"], rtol=1e-10)
    np.testing.assert_allclose(res["ci_level"], 1 - level, rtol=1e-12)
    # the MDE is the test actually run's: two-sided level alpha_i, 80% power
    df = res["df"].to_numpy(float)
    np.testing.assert_allclose(res["mde"], (sps.t.ppf(1 - level / 2, df) + sps.t.ppf(0.8, df)) * res["se"], rtol=1e-10)
    np.testing.assert_allclose(res["mde_rel"], res["mde"] / res["control_mean"].abs(), rtol=1e-12)
    # at the lower end the shifted Welch test has p-value alpha_i (test/interval duality)
    for i, a in enumerate(res["arm"]):
        shifted = frame.loc[frame.arm == a, "y"] - res["ci_low"].iloc[i]
        p_edge = sps.ttest_ind(shifted, frame.loc[frame.arm == 0, "y"], equal_var=False).pvalue
        assert p_edge == pytest.approx(level[i], rel=1e-6)


def _judged_levels(p, rejected, correction):
    """The level each hypothesis is judged at, written from the procedures' definitions (an independent
    implementation): Bonferroni alpha/m; Holm alpha/(m - k + 1) at step k, the first non-rejecting step's
    level after it; BH alpha * max(R, 1) / m (Benjamini-Yekutieli FCR intervals)."""
    m = len(p)
    if correction == "bonferroni":
        return np.full(m, ALPHA / m)
    if correction == "bh":
        return np.full(m, ALPHA * max(int(rejected.sum()), 1) / m)
    level = np.empty(m)
    stopped = None
    for k, i in enumerate(np.argsort(p)):
        if stopped is None and p[i] * (m - k) >= ALPHA:
            stopped = ALPHA / (m - k)
        level[i] = ALPHA / (m - k) if stopped is None else stopped
    return level


def test_levels_are_the_steps_of_the_procedures_and_dual_to_the_flag():
    """stats.multiplicity.adjusted_levels against the hand-written step levels on random p-values (with
    ties and p = 0), and p < level exactly when p_adjusted < alpha, for every correction."""
    from groupstats.stats.multiplicity import adjusted_levels

    rng = np.random.default_rng(12)
    checked = 0
    for rep in range(300):
        m = int(rng.integers(2, 7))
        p = rng.uniform(0, 0.08, m) ** rng.choice([1.0, 0.5])
        if rep % 10 == 0:
            p[0] = p[-1]
        if rep % 17 == 0:
            p[1] = 0.0
        for correction, sm in (("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "fdr_bh")):
            adj, level = adjusted_levels(p, ALPHA, correction)
            if rep % 60 == 0:   # statsmodels collects garbage on every call: a subset keeps the test fast
                rejected, adj_ref = multipletests(p, alpha=ALPHA, method=sm)[:2]
                np.testing.assert_allclose(adj, adj_ref, rtol=1e-12)
                np.testing.assert_array_equal(rejected, adj < ALPHA)
            np.testing.assert_allclose(level, _judged_levels(p, adj < ALPHA, correction), rtol=1e-12)
            np.testing.assert_array_equal(p < level, adj < ALPHA)
            checked += int((adj < ALPHA).sum())
    assert checked > 300


def test_bootstrap_intervals_adjusted_and_consistent():
    for seed in range(4):
        rng = np.random.default_rng(40 + seed)
        frame = _frame(rng, "mean", 4, None, effect=0.3)
        res = _run(frame, "mean", False, "holm", method="bootstrap", n_boot=400, seed=seed).comparisons
        sig = res["significant"].to_numpy(bool)
        assert res["interval_adjusted"].all()
        np.testing.assert_array_equal(sig, _excludes_zero(res["ci_low"], res["ci_high"]))
        np.testing.assert_array_equal(sig, _excludes_zero(res["rel_ci_low"], res["rel_ci_high"]))
        plain = _run(frame, "mean", False, "none", method="bootstrap", n_boot=400, seed=seed).comparisons
        np.testing.assert_allclose(res["ci_low_unadjusted"], plain["ci_low"])
        # the MDE at the judged level: larger than the unadjusted one wherever the level is below alpha
        stricter = (res["ci_level"] > 1 - ALPHA + 1e-12).to_numpy()
        assert stricter.any()
        assert (res["mde"].to_numpy()[stricter] > plain["mde"].to_numpy()[stricter]).all()
        np.testing.assert_allclose(res["mde"].to_numpy()[~stricter], plain["mde"].to_numpy()[~stricter])


def test_wild_bootstrap_intervals_adjusted_by_inverting_at_the_judged_level():
    """Wild bootstrap with several arms: the intervals invert the bootstrap test at the level the correction
    judges each arm at, so they exclude 0 exactly when significant (the marginal ones kept)."""
    from groupstats.stats.multiplicity import adjusted_levels

    rng = np.random.default_rng(3)
    frame = _frame(rng, "mean", 3, 18, effect=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_arms(frame, arm="arm", metric="y", cluster="g", method="wild", n_boot=199, seed=1,
                           correction="bonferroni")
        plain = compare_arms(frame, arm="arm", metric="y", cluster="g", method="wild", n_boot=199, seed=1,
                             correction="none").comparisons
    comp = res.comparisons
    assert comp["interval_adjusted"].all()
    np.testing.assert_allclose(comp["ci_level"], 1 - ALPHA / 2)
    np.testing.assert_allclose(comp["ci_low_unadjusted"], plain["ci_low"], rtol=1e-12)
    assert (comp["ci_low"] < comp["ci_low_unadjusted"]).all() and (comp["ci_high"] > comp["ci_high_unadjusted"]).all()
    _, level = adjusted_levels(comp["p_value"].to_numpy(float), ALPHA, "bonferroni")
    np.testing.assert_allclose(1 - comp["ci_level"], level)
    sig = comp["significant"].to_numpy(bool)
    np.testing.assert_array_equal(sig, comp["p_adjusted"].to_numpy(float) < ALPHA)
    np.testing.assert_array_equal(sig, _excludes_zero(comp["ci_low"], comp["ci_high"]))
    np.testing.assert_array_equal(sig, _excludes_zero(comp["rel_ci_low"], comp["rel_ci_high"]))
    assert not any("not adjusted for multiplicity" in n for n in res.notes)


def test_conclusion_mentions_adjusted_intervals():
    rng = np.random.default_rng(8)
    res = _run(_frame(rng, "mean", 4, None, effect=0.3), "mean", False, "holm")
    assert "adjusted for multiple comparisons" in res.conclusion()
    res1 = _run(_frame(rng, "mean", 2, None, effect=0.3), "mean", False, "holm")
    assert "adjusted for multiple comparisons" not in res1.conclusion()


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh"])
def test_sequential_adjusted_sequences_agree_with_flag(correction):
    checked = 0
    for seed in range(12):
        rng = np.random.default_rng(300 + seed)
        frame = _frame(rng, "mean", 4, 24, effect=rng.choice([0.2, 0.5, 0.9]))
        comp = _run(frame, "mean", True, correction).comparisons
        n_units = float(rng.integers(20, 200))
        seq = sequential_comparisons(comp, n_units, n_opt=150.0, alpha=ALPHA, correction=correction)
        plain = sequential_comparisons(comp, n_units, n_opt=150.0, alpha=ALPHA, correction="none")
        sig = seq["significant"].to_numpy(bool)
        np.testing.assert_array_equal(sig, _excludes_zero(seq["ci_low"], seq["ci_high"]))
        np.testing.assert_allclose(seq["ci_low_unadjusted"], plain["ci_low"], rtol=1e-12)
        np.testing.assert_allclose(seq["ci_high_unadjusted"], plain["ci_high"], rtol=1e-12)
        np.testing.assert_allclose(plain["ci_low"], plain["ci_low_unadjusted"], rtol=1e-12)
        checked += len(seq)
    assert checked == 36


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh"])
def test_vectorised_switchback_estimator_adjusts_like_compare_arms(correction):
    from groupstats.analyses.slot_experiment import switchback_ols_cr2
    from groupstats.stats.design import switchback_arm_matrix

    rng = np.random.default_rng(17)
    G, P, m = 10, 6, 8
    arms = switchback_arm_matrix(rng.lognormal(size=G), 4, P, rng)
    g = np.repeat(np.arange(G), P * m)
    w = np.tile(np.repeat(np.arange(P), m), G)
    a = arms[g, w]
    ys = np.column_stack([rng.poisson(3 * rng.lognormal(0, 0.5, G)[g] * (1 + eff * a)).astype(float)
                          for eff in (0.0, 0.08, 0.15, 0.3)])
    fast = switchback_ols_cr2(ys, a, g, [g, w], correction=correction)
    plain = switchback_ols_cr2(ys, a, g, [g, w])
    for r in range(ys.shape[1]):
        frame = pd.DataFrame({"arm": a, "y": ys[:, r], "g": g.astype(str), "w": w.astype(str)})
        ref = _run_fe(frame, correction)
        for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "p_adjusted", "ci_level",
                    "ci_low_unadjusted", "rel_ci_high_unadjusted"):
            np.testing.assert_allclose(fast[col][:, r], ref[col].to_numpy(float), rtol=1e-6, err_msg=col)
        sig = ref["significant"].to_numpy(bool)
        np.testing.assert_array_equal(sig, _excludes_zero(fast["ci_low"][:, r], fast["ci_high"][:, r]))
        np.testing.assert_allclose(fast["ci_low_unadjusted"][:, r], plain["ci_low"][:, r])


def _run_fe(frame, correction):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_arms(frame, arm="arm", metric="y", control=0, cluster="g", fixed_effects=["g", "w"],
                            correction=correction).comparisons


@pytest.mark.parametrize("kind", ["mean", "proportion", "count", "ratio"])
def test_sequential_relative_sequences_agree_with_flag(kind):
    """The always-valid relative interval is the Fieller interval at the sequence's critical value (its
    variance terms recovered from the marginal interval), so it excludes 0 exactly when the flag says so;
    stretching the marginal interval instead disagreed in ~6% of rows."""
    checked = 0
    for seed in range(10):
        rng = np.random.default_rng(700 + seed)
        correction = ["holm", "none", "bonferroni"][seed % 3]
        frame = _frame(rng, kind, int(rng.choice([3, 4])), int(rng.choice([12, 24])), effect=rng.choice([0.2, 0.5, 0.9]))
        comp = _run(frame, kind, True, correction).comparisons
        seq = sequential_comparisons(comp, float(rng.integers(20, 200)), n_opt=150.0, alpha=ALPHA,
                                     correction=correction)
        sig = seq["significant"].to_numpy(bool)
        np.testing.assert_array_equal(sig, _excludes_zero(seq["rel_ci_low"], seq["rel_ci_high"]))
        # the always-valid interval is wider than the marginal fixed-horizon one and contains the estimate
        assert (seq["rel_ci_low"] <= seq["rel_ci_low_fixed"] + 1e-12).all()
        assert (seq["rel_ci_high"] >= seq["rel_ci_high_fixed"] - 1e-12).all()
        assert ((seq["rel_ci_low"] <= seq["rel_diff"]) & (seq["rel_diff"] <= seq["rel_ci_high"])).all()
        checked += len(seq)
    assert checked >= 20


def test_fieller_terms_recovered_from_a_marginal_interval_reproduce_it():
    from groupstats.stats.sequential import _fieller_from_marginal, _fieller_interval

    rng = np.random.default_rng(3)
    n = 50
    base = rng.uniform(1, 5, n)
    diff = rng.normal(0, 1, n)
    v_dd, v_bb = rng.uniform(0.01, 0.2, n), rng.uniform(0.001, 0.02, n)
    v_db = 0.3 * np.sqrt(v_dd * v_bb) * rng.uniform(-1, 1, n)
    crit = 1.96
    truth = {"base": base, "v_dd": v_dd, "v_db": v_db, "v_bb": v_bb}
    low, high = _fieller_interval(diff, np.sqrt(v_dd), truth, crit)
    terms = _fieller_from_marginal(diff, np.sqrt(v_dd), diff / base, low, high, crit)
    assert terms["ok"].all()
    np.testing.assert_allclose(terms["v_db"], v_db, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(terms["v_bb"], v_bb, rtol=1e-6, atol=1e-12)
    # reference: the Fieller interval's endpoints solve (diff - t*base)^2 = c^2 (V_dd - 2 t V_db + t^2 V_bb)
    for t in (low, high):
        lhs = (diff - t * base) ** 2
        rhs = crit ** 2 * (v_dd - 2 * t * v_db + t ** 2 * v_bb)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-8, atol=1e-12)
