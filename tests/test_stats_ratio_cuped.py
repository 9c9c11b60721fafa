"""CUPED for clustered ratio metrics (compare_arms kind="ratio" with cluster= and covariate=).

Checks: the estimator equals a hand computation (cluster linearisation + statsmodels OLS with HC2),
its SE agrees with a brute-force cluster bootstrap of the whole CUPED procedure and, with an
uninformative covariate, with the plain cluster delta method; A/A false-positive rate near alpha.
"""
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from groupstats.stats.compare import compare_arms


def _ratio_data(rng, n_groups=24, effect=0.0, informative=True):
    """Group-weeks of a group-randomised test: replies over posts, strong group differences.

    Returns a frame with one row per group-week: group, arm, replies, posts, pre (the group's
    pre-period replies per post, the same on all its rows).
    """
    weeks = rng.integers(2, 13, n_groups)                       # very unequal cluster sizes
    group = np.repeat(np.arange(n_groups), weeks)
    treated = rng.permutation(np.arange(n_groups) % 2).astype(bool)
    level = 0.4 * rng.lognormal(0.0, 0.5, n_groups)             # group's replies per post
    size = rng.lognormal(3.0, 0.6, n_groups)                    # group's posts per week
    posts = rng.poisson(size[group]) + 1
    rate = level[group] * (1 + effect * treated[group]) * rng.lognormal(-0.02, 0.2, len(group))
    replies = rng.poisson(posts * rate)
    pre_posts = 60
    pre = rng.poisson(pre_posts * (level if informative else np.full(n_groups, 0.4))) / pre_posts
    return pd.DataFrame({"group": group, "arm": np.where(treated[group], "B", "A"),
                         "replies": replies.astype(float), "posts": posts.astype(float), "pre": pre[group]})


def _cells(df):
    """One row per group x arm: sums of replies and posts, the group's covariate, its ratio."""
    cells = df.groupby(["group", "arm"]).agg(y=("replies", "sum"), d=("posts", "sum"),
                                             x=("pre", "mean")).reset_index()
    cells["ratio"] = cells["y"] / cells["d"]
    cells["xc"] = cells["x"] - np.average(cells["x"], weights=cells["d"])
    return cells


def _cuped_by_hand(cells):
    """Arm ratios R_a, the pooled cluster-level slope of the linearised ratio on the covariate
    (weights d: score y - R_a d - theta d (x - xbar_a)) and the adjusted ratios."""
    w = cells["d"]
    ratio = cells.groupby("arm")["y"].sum() / cells.groupby("arm")["d"].sum()
    xbar = (cells["x"] * w).groupby(cells["arm"]).sum() / w.groupby(cells["arm"]).sum()
    xw = cells["x"] - cells["arm"].map(xbar)
    lin = cells["y"] - cells["arm"].map(ratio) * w                # linearised ratio (times mean d)
    theta = (xw * lin).sum() / (w * xw ** 2).sum()
    overall = np.average(cells["x"], weights=w)
    return ratio, theta, ratio - theta * (xbar - overall)


def test_clustered_ratio_cuped_equals_hand_computation_and_statsmodels_wls():
    df = _ratio_data(np.random.default_rng(1), n_groups=24, effect=0.1)
    res = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                       covariate="pre")
    assert res.method == "wls-cr2" and any("CUPED for a clustered ratio" in n for n in res.notes)
    row = res.comparisons.iloc[0]
    cells = _cells(df)
    ratio, theta, adjusted = _cuped_by_hand(cells)
    assert theta > 0.5                                              # the pre-period ratio predicts
    assert row["diff"] == pytest.approx(adjusted["B"] - adjusted["A"], rel=1e-9)
    assert row["arm_mean"] == pytest.approx(adjusted["B"], rel=1e-9)
    assert row["control_mean"] == pytest.approx(adjusted["A"], rel=1e-9)
    assert row["rel_diff"] == pytest.approx(adjusted["B"] / adjusted["A"] - 1, rel=1e-9)
    wls = smf.wls("ratio ~ C(arm) + xc", cells, weights=cells["d"]).fit(cov_type="HC2")
    assert row["diff"] == pytest.approx(wls.params["C(arm)[T.B]"], rel=1e-9)
    assert row["se"] == pytest.approx(wls.bse["C(arm)[T.B]"], rel=1e-8)   # one cell per group: HC2
    assert 0.3 < res.variance_reduction < 1 and row["variance_reduction"] > 0.3
    cr1 = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                       covariate="pre", method="cr1")
    ref1 = smf.wls("ratio ~ C(arm) + xc", cells, weights=cells["d"]).fit(
        cov_type="cluster", cov_kwds={"groups": cells["group"]})
    assert cr1.comparisons.iloc[0]["se"] == pytest.approx(ref1.bse["C(arm)[T.B]"], rel=1e-8)


def test_clustered_ratio_cuped_se_agrees_with_bootstrap_and_delta_method():
    rng = np.random.default_rng(2)
    df = _ratio_data(rng, n_groups=40)
    res = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                       covariate="pre").comparisons.iloc[0]
    # brute force: stratified cluster bootstrap of the whole procedure (ratios, slope, adjustment)
    cells = _cells(df)
    y, d, x = (cells[c].to_numpy(float) for c in ("y", "d", "x"))
    arm_b = (cells["arm"] == "B").to_numpy()
    n_boot = 4000
    parts = []
    for mask in (~arm_b, arm_b):                               # (B, n_a) resampled clusters per arm
        idx = np.flatnonzero(mask)[rng.integers(0, mask.sum(), (n_boot, mask.sum()))]
        yy, dd, xx = y[idx], d[idx], x[idx]
        r = yy.sum(1, keepdims=True) / dd.sum(1, keepdims=True)
        xm = (xx * dd).sum(1, keepdims=True) / dd.sum(1, keepdims=True)
        parts.append(dict(r=r[:, 0], lin=yy - r * dd, xw=xx - xm, d=dd, xm=xm[:, 0], sxd=(xx * dd).sum(1),
                          sd=dd.sum(1)))
    a, b = parts
    theta = (((a["xw"] * a["lin"]).sum(1) + (b["xw"] * b["lin"]).sum(1))
             / ((a["d"] * a["xw"] ** 2).sum(1) + (b["d"] * b["xw"] ** 2).sum(1)))
    boot = (b["r"] - a["r"]) - theta * (b["xm"] - a["xm"])
    assert res["se"] == pytest.approx(boot.std(ddof=1), rel=0.12)
    # the unadjusted clustered ratio (cluster delta method) is clearly wider
    plain = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts",
                         cluster="group").comparisons.iloc[0]
    assert res["se"] < 0.8 * plain["se"]
    # delta method by hand for the unadjusted ratio difference (CR0 = sum of squared linearised sums)
    cells["lin"] = cells["y"] - cells["arm"].map(cells.groupby("arm")["y"].sum() / cells.groupby("arm")["d"].sum()) \
        * cells["d"]
    var0 = sum((g["lin"] ** 2).sum() / g["d"].sum() ** 2 for _, g in cells.groupby("arm"))
    assert plain["se"] == pytest.approx(np.sqrt(var0), rel=0.1)        # CR2 = delta (CR0) up to leverage
    # ... exactly: CR2 divides each cluster's squared linearised sum by 1 - d_g / D_a
    var2 = sum((g["lin"] ** 2 / (1 - g["d"] / g["d"].sum())).sum() / g["d"].sum() ** 2
               for _, g in cells.groupby("arm"))
    assert plain["se"] == pytest.approx(np.sqrt(var2), rel=1e-9)
    # an uninformative covariate changes (almost) nothing: CUPED SE ~ delta-method SE
    noise = _ratio_data(np.random.default_rng(2), n_groups=40, informative=False)
    flat = compare_arms(noise, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                        covariate="pre").comparisons.iloc[0]
    delta = compare_arms(noise, arm="arm", metric="replies", kind="ratio", denominator="posts",
                         cluster="group").comparisons.iloc[0]
    assert flat["se"] == pytest.approx(delta["se"], rel=0.15)
    assert flat["diff"] == pytest.approx(delta["diff"], abs=0.5 * delta["se"])


def test_clustered_ratio_cuped_aa_false_positive_rate():
    rng = np.random.default_rng(3)
    reps, rejected = 500, 0
    for _ in range(reps):
        df = _ratio_data(rng, n_groups=14)                  # 7 very unequal groups per arm
        row = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                           covariate="pre").comparisons.iloc[0]
        rejected += row["p_value"] < 0.05
    fpr = rejected / reps
    assert 0.03 <= fpr <= 0.07, fpr


def test_clustered_ratio_cuped_with_fixed_effects_equals_statsmodels():
    # switchback-like: arms switch by week inside groups; cells are group x arm x week
    rng = np.random.default_rng(4)
    df = _ratio_data(rng, n_groups=12)
    df["week"] = df.groupby("group").cumcount().astype(str)
    df["arm"] = np.where(rng.random(len(df)) < 0.5, "A", "B")
    df["pre"] = df["pre"] + rng.normal(0, 0.05, len(df))           # varies within group: cell mean used
    res = compare_arms(df, arm="arm", metric="replies", kind="ratio", denominator="posts", cluster="group",
                       covariate="pre", fixed_effects=["week"], method="cr1").comparisons.iloc[0]
    cells = df.assign(xd=df["pre"] * df["posts"]).groupby(["group", "arm", "week"], as_index=False)[
        ["replies", "posts", "xd"]].sum()
    cells["ratio"] = cells["replies"] / cells["posts"]
    cells["x"] = cells["xd"] / cells["posts"]
    cells["xc"] = cells["x"] - np.average(cells["x"], weights=cells["posts"])
    ref = smf.wls("ratio ~ C(arm) + xc + C(week)", cells, weights=cells["posts"]).fit(
        cov_type="cluster", cov_kwds={"groups": cells["group"]})
    assert res["se"] == pytest.approx(ref.bse["C(arm)[T.B]"], rel=1e-6)
    # the g-computation contrast of a model linear in arm equals the arm coefficient
    assert res["diff"] == pytest.approx(ref.params["C(arm)[T.B]"], rel=1e-8)
