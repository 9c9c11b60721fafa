"""Wild cluster bootstrap (restricted, Webb weights): brute force, closed form, CLI, A/A simulation."""
import json

import numpy as np
import pandas as pd
import pytest

from groupstats.errors import ParameterError
from groupstats.stats.compare import compare_arms
from groupstats.stats.cluster import (WEBB_WEIGHTS, WildClusterBootstrap, cr2_two_arm_cluster_means,
                                      webb_weights, wild_two_arm_cluster_means)


def _switchback(seed=1, n_groups=8):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(4, 15, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    week = rng.integers(0, 3, len(g))
    arm = rng.integers(0, 2, len(g))
    y = 5 + rng.normal(0, 2, n_groups)[g] + 0.3 * week + rng.normal(0, 1, len(g))
    return pd.DataFrame({"g": g, "week": week.astype(str), "arm": np.where(arm == 1, "B", "A"), "y": y})


def _cr0_t(x, y, g, c, delta):
    m = np.linalg.pinv(x.T @ x)
    b = m @ x.T @ y
    e = y - x @ b
    scores = np.array([c @ m @ x[g == h].T @ e[g == h] for h in range(g.max() + 1)])
    return (c @ b - delta) / np.sqrt(scores @ scores)


def test_webb_weights_have_six_points_mean_zero_variance_one():
    assert WEBB_WEIGHTS.mean() == pytest.approx(0) and (WEBB_WEIGHTS ** 2).mean() == pytest.approx(1)
    v = webb_weights(4000, 10, seed=1)
    assert set(np.round(np.unique(v), 6)) == set(np.round(WEBB_WEIGHTS, 6))
    np.testing.assert_array_equal(webb_weights(50, 10, seed=1, n_reps=3)[0], webb_weights(50, 10, seed=1))


def test_wild_equals_brute_force_refits_with_fixed_effects():
    df = _switchback()
    g = df["g"].to_numpy()
    x = np.column_stack([df["arm"] == "A", df["arm"] == "B", df["week"] == "1", df["week"] == "2"]).astype(float)
    y = df["y"].to_numpy()
    c = np.array([-1.0, 1.0, 0.0, 0.0])
    v = webb_weights(300, g.max() + 1, seed=11)
    boot = WildClusterBootstrap(x, y, g, v)
    m = np.linalg.pinv(x.T @ x)
    beta = m @ x.T @ y
    for delta in (0.0, 0.4, -0.8):
        # brute force: impose the null, rebuild y* cluster by cluster, refit, CR0 t-ratio
        beta_r = beta - m @ c * (c @ beta - delta) / (c @ m @ c)
        u_r = y - x @ beta_r
        t_star = np.array([_cr0_t(x, x @ beta_r + u_r * v[b, g], g, c, delta) for b in range(len(v))])
        t = _cr0_t(x, y, g, c, delta)
        assert boot.test(c, delta) == pytest.approx((t, np.mean(np.abs(t_star) >= abs(t))), rel=1e-9)
    # compare_arms uses the same weights for the same seed and clusters in order of appearance
    res = compare_arms(df, arm="arm", metric="y", cluster="g", fixed_effects=["week"], method="wild",
                       n_boot=300, seed=11)
    assert res.method == "ols-wild-webb"
    row = res.comparisons.iloc[0]
    t0, p0 = boot.test(c, 0.0)
    assert row["p_value"] == pytest.approx(p0) and row["statistic"] == pytest.approx(t0)
    # CI by test inversion: the bounds sit where the bootstrap p-value crosses alpha
    assert row["ci_low"] < row["diff"] < row["ci_high"]
    eps = 1e-4 * row["se"]
    # (a value is rejected when its p-value is below alpha, the rule of 'significant')
    assert boot.test(c, row["ci_low"] - eps)[1] < 0.05 <= boot.test(c, row["ci_low"] + eps)[1]
    assert boot.test(c, row["ci_high"] + eps)[1] < 0.05 <= boot.test(c, row["ci_high"] - eps)[1]
    assert (row["p_value"] < 0.05) == (not row["ci_low"] <= 0 <= row["ci_high"])
    # relative CI: rel_diff's bounds invert H0: mu_B = (1 + rho) mu_A
    assert row["rel_ci_low"] < row["rel_diff"] < row["rel_ci_high"]
    cr2 = compare_arms(df, arm="arm", metric="y", cluster="g", fixed_effects=["week"]).comparisons.iloc[0]
    assert row["diff"] == pytest.approx(cr2["diff"]) and row["se"] == pytest.approx(cr2["se"])
    assert row["ci_high"] - row["ci_low"] == pytest.approx(cr2["ci_high"] - cr2["ci_low"], rel=0.5)


def test_closed_form_two_arm_equals_compare_arms():
    rng = np.random.default_rng(5)
    sizes = np.round(np.geomspace(20, 200, 10)).astype(int)
    g = np.repeat(np.arange(10), sizes)
    treated = rng.permutation(np.arange(10) % 2).astype(bool)
    y = rng.normal(0, 1, 10)[g] + rng.normal(0, 1, len(g))
    df = pd.DataFrame({"g": g, "arm": np.where(treated[g], "B", "A"), "y": y})
    row = compare_arms(df, arm="arm", metric="y", cluster="g", method="wild", n_boot=999,
                       seed=3).comparisons.iloc[0]
    fast = wild_two_arm_cluster_means(np.bincount(g, y)[None], sizes, treated[None], n_boot=999, seed=3)
    assert fast["p_value"][0] == pytest.approx(row["p_value"])
    assert fast["t"][0] == pytest.approx(row["statistic"]) and fast["diff"][0] == pytest.approx(row["diff"])


def _aa_ten_unequal_clusters(n_reps, seed, n_boot=399, chunk=500):
    """A/A: 10 clusters of 20..200 units (geometric), 5 treated, ICC 0.5; vectorised over replications."""
    rng = np.random.default_rng(seed)
    sizes = np.round(np.geomspace(20, 200, 10)).astype(int)
    p_wild, p_cr2 = [], []
    for start in range(0, n_reps, chunk):
        r = min(chunk, n_reps - start)
        sums = sizes * rng.normal(0, 1, (r, 10)) + rng.normal(0, 1, (r, 10)) * np.sqrt(sizes)
        treated = rng.permuted(np.tile(np.arange(10) % 2, (r, 1)), axis=1).astype(bool)
        p_wild.append(wild_two_arm_cluster_means(sums, sizes, treated, n_boot=n_boot,
                                                 seed=int(rng.integers(2 ** 31)))["p_value"])
        p_cr2.append(cr2_two_arm_cluster_means(sums, sizes, treated)["p_value"])
    return float((np.concatenate(p_wild) < 0.05).mean()), float((np.concatenate(p_cr2) < 0.05).mean())


def test_aa_false_positive_rate_ten_very_unequal_clusters():
    # 4000 A/A experiments (SE of a rate near 0.05: 0.0035)
    fpr_wild, fpr_cr2 = _aa_ten_unequal_clusters(4000, seed=20260101)
    # Measured: wild 0.068, CR2 0.063 on this design; over seeds wild 0.064-0.073 and CR2 0.057-0.070.
    # The restricted wild bootstrap does NOT bring 10 very unequal clusters (5 per arm, one cluster
    # of 200 dominating each arm) into [0.035, 0.065]: neither does it with CR2/CV3 studentisation or
    # jackknife-transformed residuals (checked during development). The bound below guards the
    # implementation against gross errors; it is not a claim of exact size here.
    assert 0.04 <= fpr_wild <= 0.08, fpr_wild
    assert abs(fpr_wild - fpr_cr2) <= 0.02, (fpr_wild, fpr_cr2)


def test_wild_errors_and_cli(tmp_path, capsys):
    df = _switchback()
    with pytest.raises(ParameterError, match="needs cluster"):
        compare_arms(df, arm="arm", metric="y", method="wild")
    with pytest.raises(ParameterError, match="linear models"):
        compare_arms(df.assign(y=df["y"].round().clip(0)), arm="arm", metric="y", kind="count", cluster="g",
                     method="wild")
    from groupstats.cli import main

    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    code = main(["compare", str(path), "--arm", "arm", "--metric", "y", "--cluster", "g", "--method", "wild",
                 "--seed", "4", "--n-boot", "500", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    ref = compare_arms(df, arm="arm", metric="y", cluster="g", method="wild", n_boot=500, seed=4)
    assert out["method"] == "ols-wild-webb"
    assert out["comparisons"][0]["p_value"] == pytest.approx(ref.comparisons.iloc[0]["p_value"])


# ------------------------------------------------------------------------------------------ absorbed FE (issue 16)
def _multi_arm_switchback(seed, n_groups=8, n_arms=3, kind="mean"):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(4, 15, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    week = rng.integers(0, 3, len(g))
    arm = rng.integers(0, n_arms, len(g))
    y = 5 + rng.normal(0, 2, n_groups)[g] + 0.3 * week + 0.3 * arm + rng.normal(0, 1, len(g))
    frame = pd.DataFrame({"g": g, "week": week.astype(str), "arm": arm, "y": y,
                          "pre": rng.normal(size=len(g)) + 0.2 * y, "d": rng.integers(1, 5, len(g)).astype(float),
                          "half": g * 10 + rng.integers(0, 2, len(g))})      # nested in g, finer
    if kind == "proportion":
        frame["y"] = (y > 5.5).astype(float)
    if kind == "ratio":
        frame["y"] = np.round(np.abs(y)) * frame["d"]
    return frame


ABSORBED_CASES = [  # (fixed effects, kind, covariate, correction): nested, crossing, both, two nested + crossing
    (["week"], "mean", None, "holm"),
    (["g"], "mean", "pre", "bonferroni"),
    (["g", "week"], "mean", None, "holm"),
    (["g", "week"], "proportion", None, "bh"),
    (["g", "week"], "ratio", None, "holm"),
    (["half", "week"], "mean", "pre", "holm"),
    (["half", "g", "week"], "mean", None, "bonferroni"),
]


@pytest.mark.parametrize("fixed_effects,kind,covariate,correction", ABSORBED_CASES)
def test_absorbed_wild_equals_dense_dummies(monkeypatch, fixed_effects, kind, covariate, correction):
    """Wild bootstrap with absorbed fixed effects equals the dense-dummy implementation (same seed, same Webb
    weights): p-values, t-ratios and every interval, marginal and multiplicity-adjusted, to 1e-9."""
    from groupstats.stats import comparison_means

    frame = _multi_arm_switchback(len(fixed_effects) + len(kind), kind=kind)
    kwargs = dict(arm="arm", metric="y", kind=kind, cluster="g", fixed_effects=fixed_effects, method="wild",
                  n_boot=299, seed=3, covariate=covariate, denominator="d" if kind == "ratio" else None,
                  correction=correction)
    absorbed = compare_arms(frame, **kwargs).comparisons
    monkeypatch.setattr(comparison_means, "_WILD_DENSE_FE", True)
    dense = compare_arms(frame, **kwargs).comparisons
    cols = ["diff", "p_value", "statistic", "p_adjusted", "ci_low", "ci_high", "rel_ci_low", "rel_ci_high",
            "ci_low_unadjusted", "ci_high_unadjusted", "rel_ci_low_unadjusted", "rel_ci_high_unadjusted",
            "ci_level", "mde", "se"]
    np.testing.assert_allclose(absorbed[cols].to_numpy(float), dense[cols].to_numpy(float), rtol=1e-9, atol=1e-12)
    assert len(absorbed) == 2 and absorbed["interval_adjusted"].all()


def test_absorbed_wild_builds_no_dummy_columns(monkeypatch):
    """With fixed effects, method='wild' never materialises a column per level: the dense-design builder is
    not called, even with 300 groups and 40 weeks."""
    from groupstats.stats import comparison_means

    def refuse(*args, **kwargs):
        raise AssertionError("dense fixed-effect dummies built")

    monkeypatch.setattr(comparison_means, "_fe_block", refuse)
    rng = np.random.default_rng(8)
    n_groups, weeks = 300, 40
    g = np.repeat(np.arange(n_groups), weeks)
    w = np.tile(np.arange(weeks), n_groups)
    arm = rng.integers(0, 2, len(g))
    y = rng.normal(0, 1, n_groups)[g] + 0.1 * w + rng.normal(0, 1, len(g))
    frame = pd.DataFrame({"g": g, "w": w, "arm": arm, "y": y})
    res = compare_arms(frame, arm="arm", metric="y", cluster="g", fixed_effects=["g", "w"], method="wild",
                       n_boot=100, seed=1)
    row = res.comparisons.iloc[0]
    assert row["ci_low"] < row["diff"] < row["ci_high"] and res.method == "ols-wild-webb"


def test_absorbed_wild_sparse_crossing_path_equals_dense_path(monkeypatch):
    """Many clusters x crossing levels are held as sparse matrices: same p-values as the dense arrays."""
    from groupstats.stats import wild
    from groupstats.stats.comparison_means import _absorbed_regressors
    from groupstats.stats.fixed_effects import FixedEffects, demean

    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(9), 30)
    p = rng.integers(0, 5, len(g))
    arm = rng.integers(0, 3, len(g))
    y = rng.normal(size=len(g)) + 0.1 * g + 0.2 * p
    fe = FixedEffects(codes=[g, p], n_levels=[9, 5], names=["g", "p"])
    xd, yd = _absorbed_regressors(arm, 3, None, fe, np.ones(len(g))), demean(y, fe)
    draws = webb_weights(199, 9, 3)
    dense = wild.AbsorbedWildBootstrap(xd, yd, y.mean(), g, fe, draws)
    monkeypatch.setattr(wild, "DENSE_CROSSING_MAX", 0)
    sparse = wild.AbsorbedWildBootstrap(xd, yd, y.mean(), g, fe, draws)
    assert isinstance(dense.dh, np.ndarray) and isinstance(sparse.dh, list)
    for c, delta in ((np.array([1.0, 0.0, 0.0]), 0.1), (np.array([1.0, 0.0, -0.2]), 0.0),
                     (np.array([0.3, 1.0, -0.5]), 0.05)):
        assert sparse.test(c, delta) == pytest.approx(dense.test(c, delta), rel=1e-10)
