"""Absorbed fixed effects: demeaning, CR1/CR2 from per-cluster blocks, PPML.

References: dense implementations with one dummy column per level (groupstats.stats.cluster.sandwich,
statsmodels) on small data, and R's clubSandwich 0.5.8 (numbers computed once by
tests/test_stats_fixed_effects_clubsandwich.R on tests/data/r_reference/fe_cr2.csv and stored below).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from groupstats.stats.cluster import sandwich, whiten_glm
from groupstats.stats.compare import compare_arms
from groupstats.stats.fixed_effects import FixedEffects, absorbed_sandwich, demean
from groupstats.stats.poisson import drop_all_zero_levels, fit_poisson

DATA = Path(__file__).parent / "data" / "r_reference" / "fe_cr2.csv"

# clubSandwich: coef_test(fit, vcovCR(fit, cluster, type = "CR2"), test = "Satterthwaite"): (beta, SE, df)
CLUBSANDWICH = {
    "ols_group_week/armB": (0.479204619267318, 0.408971512701162, 10.1393259019479),
    "ols_group_week/armC": (0.630601527623316, 0.470899553280163, 10.72289225815),
    "wls_group_week/armB": (0.625495064938436, 0.493213995571918, 10.0353509120223),   # inverse_var = TRUE
    "wls_group_week/armC": (0.572969045906148, 0.486927534818345, 10.9715895947781),
    "ols_week/armB": (1.02844936275413, 0.520043547570854, 10.4725526371802),
    "ols_week/armC": (0.835403871091847, 0.673966375300926, 11.0457091413631),
    "ols_region/armB": (0.479204619267318, 0.437982403147752, 5.45823371070477),
    "ols_region/armC": (0.630601527623316, 0.392932346093281, 5.49489855713713),
    "hc2_week/armB": (1.02844936275413, 0.561221011339726, 185.398886981421),
    "hc2_week/armC": (0.835403871091847, 0.613794815610819, 188.176201175956),
    "poisson_group_week/armB": (-0.300610683666417, 0.148083297300695, 9.27199782842615),
    "poisson_group_week/armC": (0.0497530366045373, 0.139093346885421, 9.64414178241879),
    "poisson_plain/armB": (-0.249766852557451, 0.164263754793482, 9.91258917751529),
    "poisson_plain/armC": (0.177037592293364, 0.149428796757497, 10.9627938417596),
}


@pytest.fixture(scope="module")
def ref_data() -> pd.DataFrame:
    d = pd.read_csv(DATA)
    d["row"] = np.arange(len(d))
    return d


def _dummies(frame: pd.DataFrame, cols) -> np.ndarray:
    return np.hstack([pd.get_dummies(frame[c].astype(str), dtype=float).to_numpy() for c in cols])


def _clubsandwich_convention(u: np.ndarray, e: np.ndarray, v: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Dense CR2 covariance in clubSandwich's convention for inverse-variance weights / GLMs.

    In the whitened model (design ``u``, residuals ``e``, hat ``H``) clubSandwich's adjustment is
    ``[V_g (I - H)_gg V_g]^(-1/2) V_g`` with ``V = 1 / weights`` (pseudo-inverse root), where
    Bell-McCaffrey's symmetric CR2 (groupstats) is ``(I - H)_gg^(-1/2)``; both make the sandwich
    unbiased under the working model, and they coincide when ``V`` is constant within a cluster.
    """
    m = np.linalg.pinv(u.T @ u)
    scores = []
    for g in np.unique(clusters):
        i = np.flatnonzero(clusters == g)
        ih = np.eye(len(i)) - u[i] @ m @ u[i].T
        vg = np.diag(v[i])
        vals, vecs = np.linalg.eigh(vg @ ih @ vg)
        inv_root = np.where(vals > 1e-12 * vals.max(), 1.0 / np.sqrt(np.clip(vals, 1e-300, None)), 0.0)
        scores.append(u[i].T @ ((vecs * inv_root) @ vecs.T @ vg) @ e[i])
    scores = np.array(scores)
    return m @ scores.T @ scores @ m


# ----------------------------------------------------------------------------- demeaning
def test_demean_equals_least_squares_on_dummies():
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"g": rng.integers(0, 40, n), "w": rng.integers(0, 7, n), "d": rng.integers(0, 3, n)})
    fe = FixedEffects.from_frame(frame)
    vals = rng.normal(size=(n, 3)) + frame[["g"]].to_numpy() * 0.1
    weights = rng.uniform(0.2, 4.0, n)
    dmat = _dummies(frame, ["g", "w", "d"])
    sw = np.sqrt(weights)
    coef, *_ = np.linalg.lstsq(dmat * sw[:, None], vals * sw[:, None], rcond=None)
    np.testing.assert_allclose(demean(vals, fe, weights=weights), vals - dmat @ coef, atol=1e-9)
    # one effect: exact group-mean centring in one sweep; 1-d input keeps its shape
    one = FixedEffects.from_frame(frame[["g"]])
    got = demean(vals[:, 0], one)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, vals[:, 0] - frame.assign(v=vals[:, 0]).groupby("g").v.transform("mean"),
                               atol=1e-12)
    # rank of [D_g, D_w, D_d] from the connected components of the first two + (levels - 1)
    assert fe.rank() == np.linalg.matrix_rank(dmat)


# ----------------------------------------------------------------------------- CR2 vs a dense implementation
@pytest.mark.parametrize("config", [
    dict(fe=("group", "week"), cluster="group"),
    dict(fe=("group", "week"), cluster="group", weighted=True),
    dict(fe=("week",), cluster="group"),
    dict(fe=("group", "week"), cluster="region"),
    dict(fe=("week",), cluster=None),
    dict(fe=("group", "week"), cluster=None),
    dict(fe=("group", "week"), cluster="group", vcov="CR1"),
    dict(fe=("group", "week", "weekday"), cluster="group", seed=3),
])
def test_absorbed_sandwich_equals_dense_dummies(config):
    rng = np.random.default_rng(config.get("seed", 0))
    n_groups = 16
    sizes = rng.integers(4, 30, n_groups)
    group = np.repeat(np.arange(n_groups), sizes)
    n = len(group)
    frame = pd.DataFrame({"group": group, "region": group // 3, "week": rng.integers(0, 5, n),
                          "weekday": rng.integers(0, 3, n)})
    arm = rng.integers(0, 3, n)
    x = np.column_stack([arm == 1, arm == 2, rng.normal(size=n)]).astype(float)
    y = rng.normal(size=n) * (1 + group % 3) + rng.normal(size=n_groups)[group] + 0.3 * frame.week
    w = rng.uniform(0.5, 3.0, n) if config.get("weighted") else np.ones(n)
    vcov_type = config.get("vcov", "CR2")
    cols = list(config["fe"])
    fe = FixedEffects.from_frame(frame[cols])
    both = demean(np.column_stack([x, y]), fe, weights=w)
    sw = np.sqrt(w)
    xd, yd = both[:, :3] * sw[:, None], both[:, 3] * sw
    beta, *_ = np.linalg.lstsq(xd, yd, rcond=None)
    clus = None if config["cluster"] is None else frame[config["cluster"]].to_numpy()
    fit = absorbed_sandwich(xd, yd - xd @ beta, clus, fe, vcov_type, weights=w)
    dense = np.hstack([x, _dummies(frame, cols)]) * sw[:, None]
    bfull, *_ = np.linalg.lstsq(dense, y * sw, rcond=None)
    ref = sandwich(dense, y * sw - dense @ bfull, clus, vcov_type)
    np.testing.assert_allclose(beta, bfull[:3], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.vcov()[:3, :3], ref.vcov[:3, :3], rtol=1e-8, atol=1e-14)
    for c in (np.r_[1.0, 0, 0], np.r_[1.0, -1, 0], np.r_[0, 0, 1.0]):
        assert fit.df(c) == pytest.approx(ref.df(np.r_[c, np.zeros(dense.shape[1] - 3)]), rel=1e-8)


def test_fixed_effects_are_absorbed_not_built_as_dummies(monkeypatch, ref_data):
    """The comparison with fixed effects never builds the dense dummy block (it would be posts x groups)."""
    import groupstats.stats.comparison_means as engine

    def refuse(*_args, **_kwargs):
        raise AssertionError("dense fixed-effect dummies were built")

    monkeypatch.setattr(engine, "_fe_block", refuse)
    for kind, metric in (("mean", "y"), ("count", "replies")):
        res = compare_arms(ref_data, arm="arm", metric=metric, kind=kind, cluster="group",
                           fixed_effects=["group", "week"], correction="none")
        assert np.isfinite(res.comparisons["se"]).all()


# ----------------------------------------------------------------------------- clubSandwich (R)
def _engine(data, label, kind="mean", cluster="group", fe=("group", "week"), weights=None):
    frame = data
    metric = "y" if kind == "mean" else "replies"
    use_kind = kind
    denominator = None
    if weights:
        # WLS with weights w: kind="ratio" of y*w over w is the weighted regression of y on arm
        frame = data.assign(yw=data.y * data.w)
        metric, use_kind, denominator = "yw", "ratio", "w"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_arms(frame, arm="arm", metric=metric, kind=use_kind, denominator=denominator,
                           cluster=cluster, covariate="pre", fixed_effects=list(fe), method="cr2",
                           correction="none")
    return res.comparisons.set_index("arm")


@pytest.mark.parametrize("label,kwargs", [
    ("ols_group_week", {}),
    ("ols_week", {"fe": ("week",)}),
    ("ols_region", {"cluster": "region"}),
    ("hc2_week", {"cluster": "row", "fe": ("week",)}),
])
def test_cr2_with_absorbed_fixed_effects_matches_clubsandwich(ref_data, label, kwargs):
    comp = _engine(ref_data, label, **kwargs)
    for arm in ("B", "C"):
        beta, se, dof = CLUBSANDWICH[f"{label}/arm{arm}"]
        assert comp.loc[arm, "diff"] == pytest.approx(beta, rel=1e-9)
        assert comp.loc[arm, "se"] == pytest.approx(se, rel=1e-8)
        assert comp.loc[arm, "df"] == pytest.approx(dof, rel=1e-8)


def test_weighted_cr2_with_absorbed_fixed_effects_against_dense_and_clubsandwich(ref_data):
    """WLS with group and week effects: the absorbed WLS (weights w) equals the dense whitened CR2
    (1e-8) and is within 1% of clubSandwich's lm(..., weights = w), inverse_var = TRUE, whose square
    root convention differs (see _clubsandwich_convention, which reproduces R to 1e-8)."""
    d = ref_data
    fe = FixedEffects.from_frame(d[["group", "week"]])
    w = d.w.to_numpy()
    x = np.column_stack([d.arm == "B", d.arm == "C", d.pre]).astype(float)
    both = demean(np.column_stack([x, d.y]), fe, weights=w)
    sw = np.sqrt(w)
    xd, yd = both[:, :3] * sw[:, None], both[:, 3] * sw
    beta, *_ = np.linalg.lstsq(xd, yd, rcond=None)
    fit = absorbed_sandwich(xd, yd - xd @ beta, d.group.to_numpy(), fe, "CR2", weights=w)
    dense = np.hstack([x, _dummies(d, ["group", "week"])]) * sw[:, None]
    bfull, *_ = np.linalg.lstsq(dense, d.y.to_numpy() * sw, rcond=None)
    resid = d.y.to_numpy() * sw - dense @ bfull
    ref = sandwich(dense, resid, d.group.to_numpy(), "CR2")
    cs_vcov = _clubsandwich_convention(dense, resid, 1.0 / w, d.group.to_numpy())
    for j, arm in enumerate("BC"):
        ref_beta, ref_se, ref_df = CLUBSANDWICH[f"wls_group_week/arm{arm}"]
        c = np.eye(3)[j]
        assert beta[j] == pytest.approx(ref_beta, rel=1e-9)
        se = np.sqrt(c @ fit.vcov() @ c)
        assert se == pytest.approx(np.sqrt(ref.vcov[j, j]), rel=1e-8)
        assert fit.df(c) == pytest.approx(ref.df(np.r_[c, np.zeros(dense.shape[1] - 3)]), rel=1e-8)
        assert se == pytest.approx(ref_se, rel=0.01) and fit.df(c) == pytest.approx(ref_df, rel=0.05)
        assert np.sqrt(cs_vcov[j, j]) == pytest.approx(ref_se, rel=1e-8)


@pytest.mark.parametrize("label,fe", [("poisson_group_week", ("group", "week")), ("poisson_plain", ())])
def test_poisson_cr2_against_dense_and_clubsandwich(ref_data, label, fe):
    """PPML with absorbed effects equals the dense GLM with dummies (coefficients 1e-8, CR2 in the
    GLM's whitened metric 1e-7). clubSandwich uses another (equally unbiased) square root for GLMs,
    A_g = V^(1/2) [V (I - H) V]^(-1/2) V^(1/2) on the response scale; groupstats uses the symmetric
    (I - H)^(-1/2) in the whitened metric, which needs only a thin SVD per cluster. The two agree
    when the variance is constant within a cluster; here they differ by < 1% in SE and df, and a
    dense implementation of clubSandwich's convention reproduces R to 1e-4."""
    d = ref_data
    comp = _engine(d, label, kind="count", fe=fe)
    cols = [np.ones(len(d)), d.arm == "B", d.arm == "C", d.pre - d.pre.mean()]
    x = np.column_stack(cols + ([_dummies(d, fe)[:, 1:]] if fe else [])).astype(float)
    if fe:   # drop the dummy columns collinear with the others (one level per extra effect)
        keep = [0, 1, 2, 3]
        for j in range(4, x.shape[1]):
            if np.linalg.matrix_rank(x[:, keep + [j]]) > len(keep):
                keep.append(j)
        x = x[:, keep]
    glm = sm.GLM(d.replies.to_numpy(float), x, family=sm.families.Poisson()).fit(tol=1e-13)
    mu = glm.fittedvalues
    xw, ew = whiten_glm(x, d.replies.to_numpy(float), mu, mu)
    dense = sandwich(xw, ew, d.group.to_numpy(), "CR2")
    cs_vcov = _clubsandwich_convention(xw, ew, mu, d.group.to_numpy())
    for j, arm in ((1, "B"), (2, "C")):
        beta, se, dof = CLUBSANDWICH[f"{label}/arm{arm}"]
        log_rr = np.log1p(comp.loc[arm, "rel_diff"])
        se_log = log_rr / comp.loc[arm, "statistic"]
        assert log_rr == pytest.approx(glm.params[j], rel=1e-8)
        assert log_rr == pytest.approx(beta, rel=1e-6)
        assert se_log == pytest.approx(np.sqrt(dense.vcov[j, j]), rel=1e-7)
        c = np.zeros(x.shape[1])
        c[j] = 1.0
        assert comp.loc[arm, "df"] == pytest.approx(dense.df(c), rel=1e-7)
        assert se_log == pytest.approx(se, rel=0.01) and comp.loc[arm, "df"] == pytest.approx(dof, rel=0.01)
        assert np.sqrt(cs_vcov[j, j]) == pytest.approx(se, rel=1e-4)


def test_ppml_drops_all_zero_levels_and_matches_glm():
    rng = np.random.default_rng(4)
    n = 400
    g = rng.integers(0, 20, n)
    wk = rng.integers(0, 4, n)
    t = rng.integers(0, 2, n).astype(float)
    y = rng.poisson(np.exp(0.3 * t + rng.normal(0, 0.5, 20)[g] + 0.2 * wk)).astype(float)
    y[g == 7] = 0.0                                     # a group with no events at all
    fe = FixedEffects.from_frame(pd.DataFrame({"g": g, "wk": wk}))
    keep = drop_all_zero_levels(y, fe)
    assert not keep[g == 7].any() and keep[g != 7].all()
    fit = fit_poisson(y[keep], t[keep, None], fe.subset(keep))
    frame = pd.DataFrame({"y": y, "t": t, "g": g, "wk": wk})[keep]
    ref = sm.GLM.from_formula("y ~ t + C(g) + C(wk)", frame, family=sm.families.Poisson()).fit(tol=1e-13)
    assert fit.beta[0] == pytest.approx(ref.params["t"], rel=1e-8)
    np.testing.assert_allclose(fit.mu, ref.fittedvalues.to_numpy(), rtol=1e-7)


def test_cr1_and_poisson_equal_pyfixest_and_model_equals_statsmodels(ref_data):
    """pyfixest (feols / fepois with group and week effects, CRV1, small-sample factor counting every
    fixed-effect level, as statsmodels' dummies do) gives the same estimates and CR1 SEs (to its
    demeaning tolerance); the model-based SE equals statsmodels OLS with dummies."""
    import pyfixest as pf
    import statsmodels.formula.api as smf

    d = ref_data
    ssc = pf.ssc(k_adj=True, k_fixef="full", G_adj=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ols = compare_arms(d, arm="arm", metric="y", covariate="pre", cluster="group", fixed_effects=["group", "week"],
                           method="cr1", correction="none").comparisons.set_index("arm")
        pois = compare_arms(d, arm="arm", metric="replies", kind="count", covariate="pre", cluster="group",
                            fixed_effects=["group", "week"], method="cr1", correction="none").comparisons.set_index("arm")
        ref_ols = pf.feols("y ~ C(arm) + pre | group + week", d, vcov={"CRV1": "group"}, ssc=ssc).tidy()
        ref_pois = pf.fepois("replies ~ C(arm) + pre | group + week", d, vcov={"CRV1": "group"}, ssc=ssc).tidy()
    for arm in ("B", "C"):
        name = f"C(arm)[T.{arm}]"
        assert ols.loc[arm, "diff"] == pytest.approx(ref_ols.loc[name, "Estimate"], rel=1e-7)
        assert ols.loc[arm, "se"] == pytest.approx(ref_ols.loc[name, "Std. Error"], rel=1e-6)
        log_rr = np.log1p(pois.loc[arm, "rel_diff"])
        assert log_rr == pytest.approx(ref_pois.loc[name, "Estimate"], rel=1e-6)
        assert log_rr / pois.loc[arm, "statistic"] == pytest.approx(ref_pois.loc[name, "Std. Error"], rel=1e-5)
        # groupstats keeps its t(G - 1) reference where fepois uses the normal
        assert pois.loc[arm, "df"] == d.group.nunique() - 1
    model = compare_arms(d, arm="arm", metric="y", covariate="pre", fixed_effects=["group", "week"], method="model",
                         correction="none").comparisons.set_index("arm")
    ref = smf.ols("y ~ C(arm) + pre + C(group) + C(week)", d).fit()
    assert model.loc["B", "se"] == pytest.approx(ref.bse["C(arm)[T.B]"], rel=1e-9)
    assert model.loc["B", "df"] == ref.df_resid
