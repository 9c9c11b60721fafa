"""Tests of the experiment comparison engine (groupstats.stats.compare).

Every estimator is checked against a reference implementation on the same
data (scipy, statsmodels, brute-force matrices, bootstrap) and against the
published figures of a real group-randomised experiment (fast-food promotions).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.proportion import test_proportions_2indep as wald_test_2indep

from groupstats.errors import GroupstatsError, InsufficientDataError, ParameterError
from groupstats.results import Result
from groupstats.stats.compare import SRM_P_THRESHOLD, ComparisonResult, compare_arms, compare_table

FASTFOOD = Path(__file__).parent / "data" / "fastfood_promotion" / "WA_Marketing-Campaign.csv"


@pytest.fixture(scope="module")
def fastfood() -> pd.DataFrame:
    return pd.read_csv(FASTFOOD)


def _clustered_data(seed=0, n_groups=12, arms=("A", "B"), switchback=False, effect=0.0):
    """Posts clustered in groups with unequal sizes and a strong group effect."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 40, n_groups)
    group = np.repeat(np.arange(n_groups), sizes)
    n = len(group)
    if switchback:
        arm_idx = rng.integers(0, len(arms), n)
    else:
        arm_of_group = np.arange(n_groups) % len(arms)
        arm_idx = arm_of_group[group]
    pre = rng.normal(0, 1, n) + rng.normal(0, 1, n_groups)[group]
    y = 10 + rng.normal(0, 2, n_groups)[group] + 0.8 * pre + rng.normal(0, 1, n) + effect * (arm_idx > 0)
    week = rng.integers(0, 4, n)
    return pd.DataFrame({"group": group, "arm": np.array(arms, dtype=object)[arm_idx], "y": y,
                         "pre": pre, "week": week})


# ----------------------------------------------------------------------------- real data
def test_fastfood_welch_matches_published_and_scipy(fastfood):
    res = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", control=1)
    assert res.method == "welch"
    comp = res.comparisons.set_index("arm")
    arms = res.arms.set_index("arm")
    np.testing.assert_allclose(arms.loc[[1, 2, 3], "mean"], [58.099, 47.329, 55.364], atol=1e-3)
    assert arms["n_units"].tolist() == [172, 188, 188]
    # published: 1 vs 2 t = 6.4275, p = 4.29e-10; 1 vs 3 t = 1.5560, p = 0.1206 (sign: arm - control)
    assert comp.loc[2, "statistic"] == pytest.approx(-6.4275, abs=1e-4)
    assert comp.loc[2, "p_value"] == pytest.approx(4.29e-10, rel=2e-3)
    assert comp.loc[3, "statistic"] == pytest.approx(-1.5560, abs=1e-4)
    assert comp.loc[3, "p_value"] == pytest.approx(0.1206, abs=1e-4)
    for other in (2, 3):
        a = fastfood.loc[fastfood.Promotion == other, "SalesInThousands"]
        c = fastfood.loc[fastfood.Promotion == 1, "SalesInThousands"]
        ref = sps.ttest_ind(a, c, equal_var=False)
        assert comp.loc[other, "statistic"] == pytest.approx(ref.statistic, rel=1e-10)
        assert comp.loc[other, "p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert comp.loc[other, "df"] == pytest.approx(ref.df, rel=1e-10)
        lo, hi = ref.confidence_interval(0.95)
        assert comp.loc[other, "ci_low_unadjusted"] == pytest.approx(lo, rel=1e-8)
        assert comp.loc[other, "ci_high_unadjusted"] == pytest.approx(hi, rel=1e-8)
    # unclustered SE of 1-vs-2 is about 1.70 (README)
    assert comp.loc[2, "se"] == pytest.approx(1.70, abs=0.05)


def test_fastfood_clustered_matches_published(fastfood):
    res = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", control=1,
                       cluster="LocationID")
    assert res.method == "ols-cr2"
    comp = res.comparisons.set_index("arm")
    # README: cluster-robust SE of 1-vs-2 about 3.21 (vs 1.70), p about 8e-4; 3-vs-1 p about 0.42
    assert comp.loc[2, "se"] == pytest.approx(3.21, abs=0.08)
    assert 4e-4 < comp.loc[2, "p_value"] < 2e-3
    assert comp.loc[3, "p_value"] == pytest.approx(0.42, abs=0.03)
    assert comp.loc[2, "diff"] == pytest.approx(47.329 - 58.099, abs=1e-3)
    assert bool(comp.loc[2, "significant"]) and not bool(comp.loc[3, "significant"])
    # arm balance across locations 43 / 47 / 47, no SRM
    assert res.arms["n_clusters"].tolist() == [43, 47, 47]
    assert res.srm["unit"] == "clusters"
    assert list(res.srm["observed"].values()) == [43, 47, 47]
    assert res.srm["ok"] and res.srm["p_value"] > 0.5
    # cluster bootstrap lands near the CR2 answer
    boot = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", control=1,
                        cluster="LocationID", method="bootstrap", n_boot=2000, seed=3)
    assert boot.method == "cluster-bootstrap-t"
    bcomp = boot.comparisons.set_index("arm")
    assert bcomp.loc[2, "se"] == pytest.approx(comp.loc[2, "se"], rel=0.15)
    assert bcomp.loc[2, "ci_high"] < 0 < bcomp.loc[3, "ci_high"]


def test_fastfood_cr1_equals_statsmodels_cluster(fastfood):
    res = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", control=1,
                       cluster="LocationID", method="cr1")
    assert res.method == "ols-cr1"
    ref = smf.ols("SalesInThousands ~ C(Promotion)", fastfood).fit(
        cov_type="cluster", cov_kwds={"groups": fastfood["LocationID"]}, use_t=True)
    comp = res.comparisons.set_index("arm")
    _assert_promotions_match(comp, ref, rel=1e-10)
    for arm in (2, 3):
        name = f"C(Promotion)[T.{arm}]"
        assert comp.loc[arm, "p_value"] == pytest.approx(ref.pvalues[name], rel=1e-8)
        lo, hi = ref.conf_int().loc[name]
        assert comp.loc[arm, "ci_low_unadjusted"] == pytest.approx(lo, rel=1e-8)
    assert comp.loc[2, "se"] == pytest.approx(3.21, abs=0.01)


def test_fastfood_cr1_with_covariate_and_fixed_effects_equals_statsmodels(fastfood):
    res = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", control=1,
                       cluster="LocationID", covariate="AgeOfStore", fixed_effects=["week"],
                       method="cr1")
    ref = smf.ols("SalesInThousands ~ C(Promotion) + AgeOfStore + C(week)", fastfood).fit(
        cov_type="cluster", cov_kwds={"groups": fastfood["LocationID"]}, use_t=True)
    comp = res.comparisons.set_index("arm")
    _assert_promotions_match(comp, ref, rel=1e-9)


# ----------------------------------------------------------------------------- CR2 against brute force
def _cr2_bruteforce(x, y, cl, c):
    """CR2 variance and Bell-McCaffrey df of c'beta with explicit n x n matrices."""
    m = np.linalg.pinv(x.T @ x)
    beta = m @ x.T @ y
    e = y - x @ beta
    h = x @ m @ x.T
    ih = np.eye(len(y)) - h
    meat = np.zeros((x.shape[1], x.shape[1]))
    cols = []
    for g in np.unique(cl):
        idx = np.flatnonzero(cl == g)
        vals, vecs = np.linalg.eigh(ih[np.ix_(idx, idx)])
        inv_root = np.where(vals > 1e-10, 1 / np.sqrt(np.clip(vals, 1e-10, None)), 0.0)
        a = (vecs * inv_root) @ vecs.T
        s = x[idx].T @ a @ e[idx]
        meat += np.outer(s, s)
        cols.append(ih[:, idx] @ a @ x[idx] @ m @ c)
    v = m @ meat @ m
    gmat = np.column_stack(cols)
    lam = np.linalg.eigvalsh(gmat.T @ gmat)
    return c @ beta, np.sqrt(c @ v @ c), lam.sum() ** 2 / (lam ** 2).sum()


@pytest.mark.parametrize("switchback,fe", [(False, []), (True, ["week"]), (True, ["group", "week"])])
def test_cr2_and_bm_df_equal_bruteforce(switchback, fe):
    df = _clustered_data(seed=4, n_groups=9, arms=("A", "B", "C"), switchback=switchback)
    res = compare_arms(df, arm="arm", metric="y", cluster="group", covariate="pre",
                       fixed_effects=fe, method="cr2")
    assert res.method == "ols-cr2"
    cols = [np.ones(len(df)), (df.arm == "B").to_numpy(float), (df.arm == "C").to_numpy(float),
            df.pre.to_numpy()]
    for col in fe:
        cols += [(df[col] == lev).to_numpy(float) for lev in sorted(df[col].unique())[1:]]
    x = np.column_stack(cols)
    comp = res.comparisons.set_index("arm")
    for j, arm in ((1, "B"), (2, "C")):
        c = np.zeros(x.shape[1])
        c[j] = 1.0
        est, se, dof = _cr2_bruteforce(x, df.y.to_numpy(), df.group.to_numpy(), c)
        assert comp.loc[arm, "diff"] == pytest.approx(est, rel=1e-8)
        assert comp.loc[arm, "se"] == pytest.approx(se, rel=1e-7)
        assert comp.loc[arm, "df"] == pytest.approx(dof, rel=1e-6)
        assert comp.loc[arm, "p_value"] == pytest.approx(2 * sps.t.sf(abs(est / se), dof), rel=1e-6)


def test_cr2_balanced_equals_t_test_on_cluster_means():
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(8), 20)
    arm = np.where(group < 4, "ctrl", "trt")
    y = rng.normal(0, 1, 8)[group] + rng.normal(0, 1, len(group))
    df = pd.DataFrame({"g": group, "arm": arm, "y": y})
    res = compare_arms(df, arm="arm", metric="y", cluster="g", control="ctrl")
    means = df.groupby("g").agg(y=("y", "mean"), arm=("arm", "first"))
    ref = sps.ttest_ind(means.y[means.arm == "trt"], means.y[means.arm == "ctrl"], equal_var=False)
    row = res.comparisons.iloc[0]
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert row["df"] == pytest.approx(6.0, rel=1e-10)   # BM df = G - 2 when balanced
    assert row["p_value"] == pytest.approx(2 * sps.t.sf(abs(ref.statistic), 6), rel=1e-8)


def test_hc2_unclustered_covariate_equals_statsmodels():
    df = _clustered_data(seed=2, n_groups=10)
    res = compare_arms(df, arm="arm", metric="y", covariate="pre")
    assert res.method == "ols-hc2"
    ref = smf.ols("y ~ C(arm) + pre", df).fit(cov_type="HC2")
    row = res.comparisons.iloc[0]
    assert row["diff"] == pytest.approx(ref.params["C(arm)[T.B]"], rel=1e-9)
    assert row["se"] == pytest.approx(ref.bse["C(arm)[T.B]"], rel=1e-9)


# ----------------------------------------------------------------------------- other kinds
def test_proportion_matches_statsmodels_wald_test_and_interval():
    """Unclustered proportions: Wald z-test and Wald interval from one (unpooled) SE, so the
    flag and the interval agree; the pooled-SE z-test (chi-square) is close but not used."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"arm": np.repeat(["a", "b", "c"], [400, 380, 420])})
    df["clicked"] = (rng.random(len(df)) < df.arm.map({"a": 0.2, "b": 0.27, "c": 0.21})).astype(int)
    res = compare_arms(df, arm="arm", metric="clicked", kind="proportion", correction="bonferroni")
    assert res.method == "ztest"
    comp = res.comparisons.set_index("arm")
    for arm in ("b", "c"):
        sub = df[df.arm.isin([arm, "a"])]
        count = [sub.clicked[sub.arm == arm].sum(), sub.clicked[sub.arm == "a"].sum()]
        nobs = [(sub.arm == arm).sum(), (sub.arm == "a").sum()]
        ref = wald_test_2indep(count[0], nobs[0], count[1], nobs[1], method="wald")
        assert comp.loc[arm, "statistic"] == pytest.approx(ref.statistic, rel=1e-10)
        assert comp.loc[arm, "p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
        lo, hi = confint_proportions_2indep(count[0], nobs[0], count[1], nobs[1], method="wald")
        assert comp.loc[arm, "ci_low_unadjusted"] == pytest.approx(lo, rel=1e-6)
        assert comp.loc[arm, "ci_high_unadjusted"] == pytest.approx(hi, rel=1e-6)
        # the pooled-variance z-test (= chi-square) is the same test to within 1% here
        z, _ = proportions_ztest(count, nobs)
        assert comp.loc[arm, "statistic"] == pytest.approx(z, rel=0.01)
    adj = multipletests(comp["p_value"].to_numpy(), method="bonferroni")[1]
    np.testing.assert_allclose(comp["p_adjusted"].to_numpy(), adj)


def test_count_rate_ratio_matches_statsmodels_glm():
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"arm": np.repeat([0, 1, 2], 300)})
    df["replies"] = rng.poisson(df.arm.map({0: 2.0, 1: 2.5, 2: 1.8}))
    ref = smf.glm("replies ~ C(arm)", df, family=sm.families.Poisson()).fit()
    model = compare_arms(df, arm="arm", metric="replies", kind="count", method="model")
    robust = compare_arms(df, arm="arm", metric="replies", kind="count")
    assert model.method == "poisson-model" and robust.method == "poisson-hc2"
    ref_hc = smf.glm("replies ~ C(arm)", df, family=sm.families.Poisson()).fit(cov_type="HC0")
    for res in (model, robust):
        comp = res.comparisons.set_index("arm")
        for arm in (1, 2):
            name = f"C(arm)[T.{arm}]"
            assert comp.loc[arm, "rel_diff"] == pytest.approx(np.exp(ref.params[name]) - 1, rel=1e-7)
            means = df.groupby("arm").replies.mean()
            assert comp.loc[arm, "diff"] == pytest.approx(means[arm] - means[0], rel=1e-7)
    comp = model.comparisons.set_index("arm")
    for arm in (1, 2):
        name = f"C(arm)[T.{arm}]"
        assert comp.loc[arm, "p_value"] == pytest.approx(ref.pvalues[name], rel=1e-5)
        lo, hi = np.exp(ref.conf_int().loc[name]) - 1
        assert comp.loc[arm, "rel_ci_low_unadjusted"] == pytest.approx(lo, rel=1e-5)
        assert comp.loc[arm, "rel_ci_high_unadjusted"] == pytest.approx(hi, rel=1e-5)
    # HC2 robust log-RR SE is close to statsmodels' HC0 (differs by the leverage factor only)
    z_robust = robust.comparisons.set_index("arm").loc[1, "statistic"]
    assert z_robust == pytest.approx(ref_hc.tvalues["C(arm)[T.1]"], rel=0.01)


def test_count_clustered_cr1_equals_statsmodels_glm_cluster():
    rng = np.random.default_rng(7)
    df = _clustered_data(seed=7, n_groups=14)
    df["replies"] = rng.poisson(np.exp(0.3 + 0.2 * (df.arm == "B") + 0.1 * df.pre))
    res = compare_arms(df, arm="arm", metric="replies", kind="count", cluster="group", method="cr1")
    ref = smf.glm("replies ~ C(arm)", df, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": df.group})
    row = res.comparisons.iloc[0]
    assert np.log1p(row["rel_diff"]) == pytest.approx(ref.params["C(arm)[T.B]"], rel=1e-7)
    se_log = np.log1p(row["rel_diff"]) / row["statistic"]
    assert se_log == pytest.approx(ref.bse["C(arm)[T.B]"], rel=1e-4)
    cr2 = compare_arms(df, arm="arm", metric="replies", kind="count", cluster="group")
    assert cr2.method == "poisson-cr2"
    assert cr2.comparisons.iloc[0]["df"] < 13


def test_negbin_option_widens_poisson_on_overdispersed_counts():
    rng = np.random.default_rng(8)
    arm = np.repeat(["x", "y"], 500)
    mu = np.where(arm == "x", 3.0, 3.6)
    counts = rng.negative_binomial(1.0, 1.0 / (1.0 + mu))  # NB2 with alpha = 1
    df = pd.DataFrame({"arm": arm, "n": counts})
    pois = compare_arms(df, arm="arm", metric="n", kind="count", method="model")
    nb = compare_arms(df, arm="arm", metric="n", kind="count", method="negbin")
    assert nb.method == "negbin-hc2"
    assert nb.comparisons.iloc[0]["rel_diff"] == pytest.approx(pois.comparisons.iloc[0]["rel_diff"],
                                                               rel=1e-6)
    assert nb.comparisons.iloc[0]["se"] > 1.3 * pois.comparisons.iloc[0]["se"]
    assert any("overdispersed" in n for n in pois.notes)


def test_ratio_delta_method_matches_bootstrap():
    rng = np.random.default_rng(9)
    n = 600
    arm = np.repeat(["c", "t"], n // 2)
    views = rng.poisson(50, n) + 1
    clicks = rng.binomial(views, np.where(arm == "c", 0.10, 0.12) * rng.gamma(4, 0.25, n).clip(0, 5))
    df = pd.DataFrame({"arm": arm, "clicks": clicks, "views": views})
    res = compare_arms(df, arm="arm", metric="clicks", kind="ratio", denominator="views")
    assert res.method == "delta"
    row = res.comparisons.iloc[0]
    tot = df.groupby("arm")[["clicks", "views"]].sum()
    r = tot.clicks / tot.views
    assert row["diff"] == pytest.approx(r["t"] - r["c"], rel=1e-12)
    assert res.arms.set_index("arm").loc["t", "denominator_total"] == tot.views["t"]
    # brute-force bootstrap of the ratio of sums, within arm
    boot = np.empty((3000, 2))
    for j, a in enumerate(("c", "t")):
        sub = df[df.arm == a]
        idx = rng.integers(0, len(sub), (3000, len(sub)))
        boot[:, j] = sub.clicks.to_numpy()[idx].sum(1) / sub.views.to_numpy()[idx].sum(1)
    assert row["se"] == pytest.approx((boot[:, 1] - boot[:, 0]).std(), rel=0.08)
    rel_se = (row["rel_ci_high"] - row["rel_ci_low"]) / (2 * 1.959964)
    assert rel_se == pytest.approx((boot[:, 1] / boot[:, 0]).std(), rel=0.08)
    # the package's own bootstrap agrees with the delta method too
    pb = compare_arms(df, arm="arm", metric="clicks", kind="ratio", denominator="views",
                      method="bootstrap", seed=1)
    assert pb.comparisons.iloc[0]["se"] == pytest.approx(row["se"], rel=0.1)


def test_clustered_ratio_uses_cluster_sums():
    rng = np.random.default_rng(10)
    df = _clustered_data(seed=10, n_groups=16)
    df["views"] = rng.poisson(30, len(df)) + 1
    df["clicks"] = rng.binomial(df.views, 0.1 + 0.05 * (df.group % 3))
    res = compare_arms(df, arm="arm", metric="clicks", kind="ratio", denominator="views",
                       cluster="group", method="cr1")
    cells = df.groupby(["group", "arm"], as_index=False)[["clicks", "views"]].sum()
    r = cells.groupby("arm")[["clicks", "views"]].sum()
    ratio = r.clicks / r.views
    var = 0.0
    g = len(cells)
    for arm in ("A", "B"):
        c = cells[cells.arm == arm]
        infl = (c.clicks - ratio[arm] * c.views) / r.views[arm]
        var += (infl ** 2).sum()
    var *= g / (g - 1) * (g - 1) / (g - 2)   # CR1 factor of the cell WLS (n = G cells, k = 2)
    row = res.comparisons.iloc[0]
    assert row["diff"] == pytest.approx(ratio["B"] - ratio["A"], rel=1e-10)
    assert row["se"] == pytest.approx(np.sqrt(var), rel=1e-8)
    assert compare_arms(df, arm="arm", metric="clicks", kind="ratio", denominator="views",
                        cluster="group").method == "wls-cr2"


# ----------------------------------------------------------------------------- adjustment, switchback
def test_cuped_reduces_variance():
    rng = np.random.default_rng(11)
    pre = rng.normal(5, 2, 2000)
    arm = np.repeat(["A", "B"], 1000)
    df = pd.DataFrame({"arm": arm, "pre": pre,
                       "y": 3 + 0.9 * pre + 0.3 * (arm == "B") + rng.normal(0, 1.5, 2000)})
    plain = compare_arms(df, arm="arm", metric="y")
    adj = compare_arms(df, arm="arm", metric="y", covariate="pre")
    rho = np.corrcoef(df.y - df.groupby("arm").y.transform("mean"),
                      df.pre - df.groupby("arm").pre.transform("mean"))[0, 1]
    assert adj.variance_reduction == pytest.approx(rho ** 2, rel=1e-8)
    assert adj.variance_reduction == pytest.approx(0.9 ** 2 * 4 / (0.9 ** 2 * 4 + 1.5 ** 2), abs=0.05)
    row = adj.comparisons.iloc[0]
    assert row["se"] < 0.8 * plain.comparisons.iloc[0]["se"]
    # per-comparison variance reduction is 1 - (SE ratio)^2, close to the pooled one
    assert row["variance_reduction"] == pytest.approx(adj.variance_reduction, abs=0.05)
    assert row["ci_low"] < 0.3 < row["ci_high"]
    assert "reduced the residual variance" in adj.conclusion()


def test_switchback_fixed_effects_recover_effect():
    rng = np.random.default_rng(12)
    groups, periods = 10, 24
    g, p = np.meshgrid(np.arange(groups), np.arange(periods), indexing="ij")
    g, p = g.ravel(), p.ravel()
    arm = rng.integers(0, 2, len(g))            # arm switches inside each group by period
    cell = pd.DataFrame({"group": g, "period": p, "arm": arm})
    posts = cell.loc[cell.index.repeat(rng.integers(3, 9, len(cell)))].reset_index(drop=True)
    posts["weekday"] = posts.period % 7
    effect = 0.4
    posts["y"] = (rng.normal(0, 3, groups)[posts.group] + rng.normal(0, 1, periods)[posts.period]
                  + effect * posts.arm + rng.normal(0, 1, len(posts)))
    res = compare_arms(posts, arm="arm", metric="y", cluster="group",
                       fixed_effects=["group", "period"])
    row = res.comparisons.iloc[0]
    assert row["ci_low"] < effect < row["ci_high"]
    assert row["se"] < 0.15          # far tighter than the between-group spread (sd 3)
    ref = smf.ols("y ~ arm + C(group) + C(period)", posts).fit()
    assert row["diff"] == pytest.approx(ref.params["arm"], rel=1e-9)
    with pytest.raises(ParameterError, match="collinear"):
        df = _clustered_data(seed=1)
        compare_arms(df, arm="arm", metric="y", cluster="group", fixed_effects=["group"])


# ----------------------------------------------------------------------------- SRM
def test_srm_flags_60_40_split_but_not_balanced():
    rng = np.random.default_rng(13)
    skew = pd.DataFrame({"arm": np.repeat(["A", "B"], [600, 400]), "y": rng.normal(size=1000)})
    res = compare_arms(skew, arm="arm", metric="y")
    assert not res.srm["ok"] and res.srm["p_value"] < SRM_P_THRESHOLD
    assert res.srm["observed"] == {"A": 600, "B": 400}
    assert res.srm["expected"] == {"A": 500, "B": 500}
    assert "sample ratio mismatch" in res.conclusion()
    # ...unless 60/40 was the plan
    planned = compare_arms(skew, arm="arm", metric="y", expected_ratio={"A": 3, "B": 2})
    assert planned.srm["ok"] and planned.srm["p_value"] == pytest.approx(1.0)
    assert compare_arms(skew, arm="arm", metric="y", expected_ratio=[3, 2]).srm["ok"]
    balanced = pd.DataFrame({"arm": np.repeat(["A", "B"], [507, 493]), "y": rng.normal(size=1000)})
    res = compare_arms(balanced, arm="arm", metric="y")
    assert res.srm["ok"]
    assert res.srm["p_value"] == pytest.approx(sps.chisquare([507, 493]).pvalue)
    # allocation overrides the row counts (posts are not randomised, group-periods are)
    res = compare_arms(skew, arm="arm", metric="y", allocation={"A": 50, "B": 50})
    assert res.srm["ok"] and res.srm["unit"] == "allocated units"
    res = compare_arms(balanced, arm="arm", metric="y", allocation={"A": 120, "B": 60})
    assert not res.srm["ok"]


# ----------------------------------------------------------------------------- contract
def test_result_contract_and_serialisation(fastfood):
    res = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", cluster="LocationID")
    assert isinstance(res, ComparisonResult) and isinstance(res, Result)
    d = res.to_dict()
    assert list(d) == ["metric", "kind", "method", "alpha", "correction", "arms", "comparisons",
                       "srm", "notes"]
    assert {"arm", "n_units", "n_clusters", "mean"} <= set(d["arms"][0])
    assert {"arm", "control", "diff", "ci_low", "ci_high", "rel_diff", "rel_ci_low", "rel_ci_high",
            "p_value", "p_adjusted", "mde", "significant"} <= set(d["comparisons"][0])
    assert {"p_value", "ok", "observed", "expected"} <= set(d["srm"])
    back = json.loads(res.to_json())
    assert back["comparisons"][0]["arm"] == 2 and back["method"] == "ols-cr2"
    comp = res.comparisons
    # relative diff and MDE derive from the numbers
    np.testing.assert_allclose(comp.rel_diff, comp.arm_mean / comp.control_mean - 1)
    # the MDE is at the level each comparison is judged at after Holm (its step: alpha/2, then alpha)
    assert sorted(1 - comp.ci_level) == pytest.approx([0.025, 0.05])
    crit = sps.t.ppf(1 - (1 - comp.ci_level) / 2, comp.df) + sps.t.ppf(0.8, comp.df)
    np.testing.assert_allclose(comp.mde, crit * comp.se)
    np.testing.assert_allclose(comp.p_adjusted, multipletests(comp.p_value, method="holm")[1])
    text = res.conclusion()
    assert "Arm 2 is significantly lower" in text and "minimum detectable effect" in text
    assert str(res).startswith("Comparison of 'SalesInThousands'")
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 2 and "relative difference" in ax.get_xlabel()
    none = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", correction="none")
    np.testing.assert_allclose(none.comparisons.p_adjusted, none.comparisons.p_value)
    bh = compare_arms(fastfood, arm="Promotion", metric="SalesInThousands", correction="bh")
    np.testing.assert_allclose(bh.comparisons.p_adjusted,
                               multipletests(bh.comparisons.p_value, method="fdr_bh")[1])


@pytest.mark.parametrize("labels", [("ctrl", "x"), (0, 1), (False, True), (1.5, 2.5)])
def test_any_arm_label_type(labels):
    rng = np.random.default_rng(14)
    df = pd.DataFrame({"arm": np.repeat(np.array(labels, dtype=object), 50), "y": rng.normal(size=100)})
    if isinstance(labels[0], (int, float, bool)):
        df["arm"] = df["arm"].astype(type(labels[0]))
    res = compare_arms(df, arm="arm", metric="y", control=labels[0])
    assert res.control == labels[0]
    assert res.comparisons.arm.tolist() == [labels[1]]
    json.loads(res.to_json())


def test_bootstrap_is_seeded_and_close_to_welch():
    df = _clustered_data(seed=15, n_groups=20, effect=1.0)
    a = compare_arms(df, arm="arm", metric="y", method="bootstrap", seed=42, n_boot=1000)
    b = compare_arms(df, arm="arm", metric="y", method="bootstrap", seed=42, n_boot=1000)
    pd.testing.assert_frame_equal(a.comparisons, b.comparisons)
    welch = compare_arms(df, arm="arm", metric="y").comparisons.iloc[0]
    row = a.comparisons.iloc[0]
    assert a.method == "bootstrap-t"
    assert row["ci_low"] == pytest.approx(welch["ci_low"], abs=0.25 * welch["se"])
    assert row["ci_high"] == pytest.approx(welch["ci_high"], abs=0.25 * welch["se"])


# ----------------------------------------------------------------------------- errors
def test_clear_errors(tmp_path):
    df = _clustered_data(seed=16)
    with pytest.raises(ParameterError, match="'nope' \\(metric\\)"):
        compare_arms(df, arm="arm", metric="nope")
    with pytest.raises(ParameterError, match="'grp' \\(cluster\\)"):
        compare_arms(df, arm="arm", metric="y", cluster="grp")
    with pytest.raises(ParameterError, match="Control arm 'Z' is not present"):
        compare_arms(df, arm="arm", metric="y", control="Z")
    with pytest.raises(ParameterError, match="fewer than 2 arms"):
        compare_arms(df[df.arm == "A"], arm="arm", metric="y")
    cat = df.assign(arm=pd.Categorical(df.arm, categories=["A", "B", "C"]))
    with pytest.raises(ParameterError, match=r"\['C'\].*no rows"):
        compare_arms(cat, arm="arm", metric="y")
    with pytest.raises(ParameterError, match="0/1"):
        compare_arms(df, arm="arm", metric="y", kind="proportion")
    with pytest.raises(ParameterError, match="negative"):
        compare_arms(df.assign(y=-df.y), arm="arm", metric="y", kind="count")
    zero = df.assign(v=np.where(df.arm == "B", 0, 1))
    with pytest.raises(ParameterError, match="sums to zero in arm 'B'"):
        compare_arms(zero, arm="arm", metric="y", kind="ratio", denominator="v")
    nan = df.copy()
    nan.loc[[0, 1, 2], "y"] = np.nan
    arm0 = nan.loc[0, "arm"]
    with pytest.raises(ParameterError, match=f"3 missing.*arm '{arm0}': 3"):
        compare_arms(nan, arm="arm", metric="y")
    with pytest.raises(ParameterError, match="correction"):
        compare_arms(df, arm="arm", metric="y", correction="fdr")
    with pytest.raises(ParameterError, match="denominator"):
        compare_arms(df, arm="arm", metric="y", kind="ratio")
    with pytest.raises(ParameterError, match="method='model' ignores clustering"):
        compare_arms(df, arm="arm", metric="y", cluster="group", method="model")
    with pytest.raises(InsufficientDataError, match="fewer than 2 clusters"):
        compare_arms(df[df.group.isin([0, 1, 3])], arm="arm", metric="y", cluster="group")
    assert issubclass(ParameterError, GroupstatsError)


def test_compare_table_reads_csv_and_parquet(tmp_path, fastfood):
    csv = tmp_path / "ff.csv"
    fastfood.to_csv(csv, index=False)
    pq = tmp_path / "ff.parquet"
    fastfood.to_parquet(pq)
    a = compare_table(csv, arm="Promotion", metric="SalesInThousands", cluster="LocationID")
    b = compare_table(pq, arm="Promotion", metric="SalesInThousands", cluster="LocationID")
    pd.testing.assert_frame_equal(a.comparisons, b.comparisons)
    with pytest.raises(ParameterError, match=r"ff\.csv has no column 'Store' \(needed as cluster\)"):
        compare_table(csv, arm="Promotion", metric="SalesInThousands", cluster="Store")
    with pytest.raises(ParameterError, match="does not exist"):
        compare_table(tmp_path / "missing.csv", arm="a", metric="b")


def test_plot_draws_one_interval_per_comparison():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd

    from groupstats.stats.compare import compare_arms

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"arm": np.repeat(["a", "b", "c"], 50), "y": rng.normal(size=150)})
    frame.loc[frame.arm == "c", "y"] += 2
    result = compare_arms(frame, arm="arm", metric="y", control="a")
    ax = result.plot()
    assert len(ax.get_yticklabels()) == 2
    assert len(ax.collections) >= 2  # error bars and points drawn
    ax.figure.canvas.draw()  # rendering used to fail with a list of colours


def _assert_promotions_match(comp, ref, rel):
    """Differences and SEs of promotions 2 and 3 vs 1 equal a statsmodels fit with C(Promotion)."""
    for arm in (2, 3):
        name = f"C(Promotion)[T.{arm}]"
        assert comp.loc[arm, "diff"] == pytest.approx(ref.params[name], rel=rel)
        assert comp.loc[arm, "se"] == pytest.approx(ref.bse[name], rel=rel)


def test_bootstrap_t_studentizes_with_the_engines_cr2_se():
    """The bootstrap-t's standard error (from unit x arm sums) is the regression engine's CR2 (HC2 unclustered)
    for means and ratios, with clusters that hold several arms (switchback) or rows as units."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), rng.integers(5, 30, 12))
    df = pd.DataFrame({"g": g, "arm": rng.integers(0, 3, len(g)), "y": rng.normal(size=len(g)) + 0.1 * g,
                       "d": rng.integers(1, 5, len(g)).astype(float)})
    df["clicks"] = df["y"].abs().round() * df["d"]
    for kw in ({"metric": "y", "cluster": "g"}, {"metric": "clicks", "kind": "ratio", "denominator": "d", "cluster": "g"},
               {"metric": "y"}):
        boot = compare_arms(df, arm="arm", method="bootstrap", n_boot=200, seed=1, correction="none", **kw)
        cr2 = compare_arms(df, arm="arm", method="cr2", correction="none", **kw)
        assert boot.method.endswith("bootstrap-t")
        np.testing.assert_allclose(boot.comparisons["se"], cr2.comparisons["se"], rtol=1e-10)
        np.testing.assert_allclose(boot.comparisons["diff"], cr2.comparisons["diff"], rtol=1e-10, atol=1e-14)
