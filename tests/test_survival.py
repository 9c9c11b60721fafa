"""Survival building blocks against statsmodels, textbook values, hand calculations and simulation."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402
from statsmodels.duration.hazard_regression import PHReg  # noqa: E402
from statsmodels.duration.survfunc import CumIncidenceRight, SurvfuncRight  # noqa: E402

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError  # noqa: E402
from groupstats.results import Result  # noqa: E402
from groupstats.stats.survival import (  # noqa: E402
    AalenJohansen, CoxPH, KaplanMeier, ReturnCurve, plot_cumulative_incidence, plot_return_curve,
    plot_survival, return_probability_curve, suggest_threshold,
)

# Gehan (1965) leukaemia remission data (weeks), 6-MP vs placebo; "+" = censored.
# Textbook values: KM of the 6-MP arm 0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448 at 6, 7, 10, 13, 16,
# 22, 23 weeks, median 23 (Kleinbaum & Klein, Survival Analysis, ch. 2); Cox placebo vs 6-MP
# coef 1.572 (se 0.412, HR 4.82) with Efron ties (R coxph on MASS::gehan) and 1.509 (se 0.410, HR 4.52)
# with Breslow ties (Kleinbaum & Klein, ch. 3).
SIX_MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


@pytest.fixture(scope="module")
def gehan() -> pd.DataFrame:
    return pd.DataFrame({"weeks": SIX_MP + PLACEBO, "relapse": SIX_MP_EVENT + [1] * 21,
                         "placebo": [0] * 21 + [1] * 21})


def censored_sample(rng, n=400, scale=10.0, horizon=25.0, rounding=True):
    t = rng.exponential(scale, n)
    c = rng.uniform(0, horizon, n)
    if rounding:  # whole days: many ties, like chat data
        t, c = np.ceil(t), np.ceil(c)
    return np.minimum(t, c), t <= c


# ====================================================================== Kaplan-Meier
def test_km_matches_statsmodels_with_ties():
    dur, ev = censored_sample(np.random.default_rng(1))
    km = KaplanMeier().fit(dur, ev)
    ref = SurvfuncRight(dur, ev.astype(float))
    sf = km.survival_function_
    with_events = sf.loc[sf["events"] > 0]
    np.testing.assert_allclose(with_events["time"], ref.surv_times)
    np.testing.assert_allclose(with_events["survival"], ref.surv_prob, atol=1e-12)
    np.testing.assert_allclose(with_events["se"], ref.surv_prob_se, atol=1e-12)
    np.testing.assert_allclose(with_events["at_risk"], ref.n_risk)
    assert km.median_ == pytest.approx(ref.quantile(0.5))
    # log(-log) interval from the same SE
    z = stats.norm.ppf(0.975)
    s, se = ref.surv_prob, ref.surv_prob_se
    inner = (s > 0) & (s < 1)
    theta = np.exp(z * se[inner] / np.abs(s[inner] * np.log(s[inner])))
    np.testing.assert_allclose(with_events["ci_low"].to_numpy()[inner], s[inner] ** theta)
    np.testing.assert_allclose(with_events["ci_high"].to_numpy()[inner], s[inner] ** (1 / theta))


def test_km_weights_equal_replicated_rows_and_statsmodels_freq_weights():
    rng = np.random.default_rng(2)
    dur, ev = censored_sample(rng, n=150)
    w = rng.integers(1, 4, size=dur.size)
    weighted = KaplanMeier().fit(dur, ev, weights=w).survival_function_
    replicated = KaplanMeier().fit(np.repeat(dur, w), np.repeat(ev, w)).survival_function_
    pd.testing.assert_frame_equal(weighted, replicated)
    ref = SurvfuncRight(dur, ev.astype(float), freq_weights=w.astype(float))
    np.testing.assert_allclose(weighted.loc[weighted["events"] > 0, "survival"], ref.surv_prob, atol=1e-12)


def test_km_textbook_gehan_values():
    km = KaplanMeier().fit(SIX_MP, SIX_MP_EVENT)
    expected = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    got = km.predict(list(expected))
    np.testing.assert_allclose(got, list(expected.values()), atol=5e-4)
    assert km.median_ == 23
    # step function: 1 before the first event, flat between events and after the last
    assert km.predict(5.99) == 1.0
    assert km.predict(8.5) == pytest.approx(km.predict(7))
    assert km.predict(100) == pytest.approx(0.448, abs=5e-4)
    np.testing.assert_allclose(km.conditional_survival([23], 10), km.predict([23]) / km.predict(10))


def test_km_errors():
    with pytest.raises(NotFittedError):
        KaplanMeier().predict([1])
    with pytest.raises(ParameterError, match="negative"):
        KaplanMeier().fit([1, -2], [1, 1])
    with pytest.raises(ParameterError, match="events"):
        KaplanMeier().fit([1, 2], [1, 2])
    with pytest.raises(ParameterError, match="alpha"):
        KaplanMeier(alpha=1.5).fit([1, 2], [1, 1])


# ====================================================================== Aalen-Johansen
def test_aj_hand_computed_example():
    dur = [1, 2, 2, 3, 4, 5, 5, 6]
    codes = [1, 2, 0, 1, 0, 2, 1, 0]
    aj = AalenJohansen().fit(dur, codes)
    cif = aj.cumulative_incidence_.pivot(index="time", columns="cause", values="cif")
    # by hand: t=1 n=8 (cause 1); t=2 n=7 (cause 2, one censored); t=3 n=5 (cause 1); t=5 n=3 (one of each)
    np.testing.assert_allclose(cif[1], [1 / 8, 1 / 8, 1 / 8 + 3 / 4 / 5, 0.275, 0.275 + 0.6 / 3, 0.475])
    np.testing.assert_allclose(cif[2], [0, 1 / 8, 1 / 8, 1 / 8, 1 / 8 + 0.6 / 3, 0.325])
    np.testing.assert_allclose(aj.survival_["survival"], [7 / 8, 3 / 4, 0.6, 0.6, 0.2, 0.2])
    # delta-method variance of F_1(3), term by term (F_1 = .125, .125, .275; S(t-) = 1, 7/8, 3/4)
    term1 = 0.15 ** 2 / (8 * 7) + 0.15 ** 2 / (7 * 6)
    term2 = 1 * 7 / 8 ** 3 + (3 / 4) ** 2 * 4 / 5 ** 3
    term3 = 0.15 * 1 / 8 ** 2
    se = aj.cumulative_incidence_.query("cause == 1 and time == 3")["se"].iloc[0]
    assert se == pytest.approx(np.sqrt(term1 + term2 - 2 * term3), rel=1e-12)


def test_aj_matches_statsmodels_cumincidence():
    rng = np.random.default_rng(3)
    dur, ev = censored_sample(rng, n=300)
    codes = np.where(ev, rng.integers(1, 4, size=dur.size), 0)
    aj = AalenJohansen().fit(dur, codes)
    ref = CumIncidenceRight(dur, codes)
    for k in (1, 2, 3):
        ours = aj.cumulative_incidence_.loc[aj.cumulative_incidence_["cause"] == k]
        np.testing.assert_allclose(ours["time"], ref.times)
        np.testing.assert_allclose(ours["cif"], ref.cinc[k - 1], atol=1e-12)
        np.testing.assert_allclose(ours["se"], ref.cinc_se[k - 1], atol=1e-12)


def test_aj_single_cause_is_one_minus_km():
    dur, ev = censored_sample(np.random.default_rng(4))
    aj = AalenJohansen().fit(dur, ev.astype(int))
    km = KaplanMeier().fit(dur, ev).survival_function_
    cif = aj.cumulative_incidence_
    np.testing.assert_allclose(cif["cif"], 1 - km["survival"], atol=1e-12)
    np.testing.assert_allclose(cif["se"], km["se"], atol=1e-12)          # reduces to Greenwood


def test_aj_cifs_and_survival_sum_to_one_and_naive_km_overstates():
    rng = np.random.default_rng(5)
    n, h1, h2 = 4000, 0.05, 0.10
    t1, t2, c = rng.exponential(1 / h1, n), rng.exponential(1 / h2, n), rng.uniform(0, 30, n)
    dur = np.minimum.reduce([t1, t2, c])
    codes = np.select([t1 == dur, t2 == dur], [1, 2], 0)
    aj = AalenJohansen().fit(dur, codes)
    grid = np.array([2.0, 5, 10, 20])
    total = aj.predict(grid, 1) + aj.predict(grid, 2) + aj.predict_survival(grid)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    wide = aj.cumulative_incidence_.pivot(index="time", columns="cause", values="cif")
    np.testing.assert_allclose(wide[1] + wide[2] + aj.survival_.set_index("time")["survival"], 1.0, atol=1e-12)
    # AJ recovers the true CIF F_1(t) = h1/(h1+h2) (1 - exp(-(h1+h2) t)), within its CI
    true_f1 = h1 / (h1 + h2) * (1 - np.exp(-(h1 + h2) * grid))
    ci = aj.conditional_incidence(-np.inf, grid, cause=1)
    assert np.all(np.abs(ci["estimate"] - true_f1) < 4 * ci["se"])   # (200 seeds: z mean ~0, sd ~1)
    # naive: 1 - KM treating the other cause as censoring estimates a world without the competing risk
    naive = [1 - KaplanMeier().fit(dur, codes == k).predict(grid) for k in (1, 2)]
    assert np.all(naive[0] > aj.predict(grid, 1))
    assert naive[0][-1] > aj.predict(grid, 1)[-1] + 0.2          # at t = 20: 0.72 vs 0.35 (truth 0.32)
    assert np.all(naive[0] + naive[1] > 1 - aj.predict_survival(grid))
    assert naive[0][-1] + naive[1][-1] > 1.2                      # "probabilities" summing to more than 1


def test_aj_errors():
    with pytest.raises(ParameterError, match="whole numbers"):
        AalenJohansen().fit([1, 2, 3], [0, 1.5, 2])
    with pytest.raises(InsufficientDataError):
        AalenJohansen().fit([1, 2, 3], [0, 0, 0])
    aj = AalenJohansen().fit([1, 2, 3], [1, 0, 2])
    with pytest.raises(ParameterError, match="cause"):
        aj.predict([1], cause=3)
    with pytest.raises(NotFittedError):
        AalenJohansen().predict([1], cause=1)


# ====================================================================== return-probability curve
PI, LAM, MU, WITHIN = 0.6, 1 / 10, 1 / 200, 60.0


def simulate_spells(rng, n):
    """Returners (share PI) come back at rate LAM; everyone leaves at rate MU; open spells are censored."""
    returner = rng.random(n) < PI
    t_return = np.where(returner, rng.exponential(1 / LAM, n), np.inf)
    t_leave = rng.exponential(1 / MU, n)
    t_censor = rng.uniform(0, 200, n)
    dur = np.minimum.reduce([t_return, t_leave, t_censor])
    return dur, t_return == dur, t_leave == dur


def true_return_probability(d):
    both = LAM + MU
    alive_returner = PI * np.exp(-both * d)
    alive_never = (1 - PI) * np.exp(-MU * d)
    return alive_returner * LAM / both * (1 - np.exp(-both * WITHIN)) / (alive_returner + alive_never)


def test_return_curve_recovers_known_answer_and_dropping_open_spells_biases_it():
    rng = np.random.default_rng(6)
    dur, returned, left = simulate_spells(rng, 20_000)
    res = return_probability_curve(dur, returned, left, days=range(1, 91), within=WITHIN)
    assert isinstance(res, ReturnCurve) and isinstance(res, Result)
    curve = res.to_frame()
    assert list(curve.columns) == ["segment", "d", "p_return", "se", "ci_low", "ci_high", "n_at_risk"]
    truth = true_return_probability(curve["d"].to_numpy())
    err = np.abs(curve["p_return"] - truth)
    assert err.max() < 0.03
    assert np.all(err < 4 * curve["se"] + 1e-3)
    has_ci = curve["ci_high"].notna()
    covered = (curve["ci_low"] <= truth) & (truth <= curve["ci_high"])
    assert covered[has_ci].mean() > 0.8 and has_ci.sum() > 40
    # the tail where no return is observed any more: estimate 0, truth tiny, no upper limit claimed
    assert (curve.loc[~has_ci, "p_return"] == 0).all() and (truth[~has_ci.to_numpy()] < 0.01).all()
    # dropping open (censored) spells: long silences are under-represented and the answer is wrong
    closed = ~(returned | left)
    naive = return_probability_curve(dur[~closed], returned[~closed], left[~closed], days=range(1, 91),
                                     within=WITHIN).curve
    assert np.abs(naive["p_return"] - truth).max() > 0.1
    # threshold: the truth first drops below 20% at d = 18 (see true_return_probability)
    d_true = float(np.arange(1, 91)[true_return_probability(np.arange(1, 91)) < 0.2][0])
    assert abs(suggest_threshold(res, 0.2)["all"] - d_true) <= 2
    assert suggest_threshold(res, 0.2, use="upper")["all"] >= suggest_threshold(res, 0.2)["all"]
    early = return_probability_curve(dur, returned, left, days=range(1, 6), within=WITHIN)
    assert suggest_threshold(early, 0.2)["all"] is None      # never below 20% in the first 5 days


def test_return_curve_ci_coverage():
    """Pointwise 95% CI at d = 10 and d = 30 covers the truth in ~95% of replications."""
    rng = np.random.default_rng(7)
    hits = []
    for _ in range(150):
        dur, returned, left = simulate_spells(rng, 1500)
        curve = return_probability_curve(dur, returned, left, days=[10, 30], within=WITHIN).curve
        truth = true_return_probability(curve["d"].to_numpy())
        hits.append(((curve["ci_low"] <= truth) & (truth <= curve["ci_high"])).to_numpy())
    coverage = np.mean(hits, axis=0)
    assert np.all((coverage > 0.88) & (coverage <= 1.0)), coverage


def test_return_curve_equals_aalen_johansen_formula_per_segment():
    rng = np.random.default_rng(8)
    dur, returned, left = simulate_spells(rng, 3000)
    dur = np.ceil(dur)                      # whole days: ties at the grid points
    seg = np.where(rng.random(dur.size) < 0.5, "core", "casual")
    res = return_probability_curve(dur, returned, left, days=[0, 1, 5, 30], within=14, groups=seg,
                                   min_at_risk=1)
    assert set(res.curve["segment"]) == {"core", "casual"}
    for name in ("core", "casual"):
        m = seg == name
        aj = AalenJohansen().fit(dur[m], np.select([returned[m], left[m]], [1, 2], 0))
        d = np.array([0.0, 1, 5, 30])
        expected = (aj.predict(d + 14, 1) - aj.predict(d, 1)) / aj.predict_survival(d)
        part = res.curve.loc[res.curve["segment"] == name]
        np.testing.assert_allclose(part["p_return"], expected, atol=1e-12)
        np.testing.assert_allclose(part["n_at_risk"], [(dur[m] > x).sum() for x in d])
        # from d = 0 (no spell ends at 0) the SE is the AJ SE of F_return(14)
        se0 = aj.conditional_incidence(-np.inf, 14.0, cause=1)["se"].iloc[0]
        assert part["se"].iloc[0] == pytest.approx(se0, rel=1e-10)
    payload = json.loads(res.to_json())
    assert payload["within_days"] == 14 and len(payload["curve"]) == 8
    assert "silent for 30 days" in res.conclusion() and "微信群如何经营和管理" in res.conclusion()


def test_return_curve_validation():
    with pytest.raises(ParameterError, match="both"):
        return_probability_curve([1, 2], [True, True], [True, False])
    with pytest.raises(ParameterError, match="within"):
        return_probability_curve([1, 2], [True, False], within=0)
    with pytest.raises(ParameterError, match="NaN"):
        return_probability_curve([1, np.nan], [True, False])
    sparse = return_probability_curve([1, 2, 3, 50], [1, 1, 1, 0], days=[1, 40], min_at_risk=2).curve
    assert np.isnan(sparse["p_return"].iloc[1]) and sparse["n_at_risk"].iloc[1] == 1


# ====================================================================== Cox
def test_cox_textbook_gehan(gehan):
    efron = CoxPH(ties="efron").fit(gehan, "weeks", "relapse", columns=["placebo"]).summary_.iloc[0]
    assert efron["coef"] == pytest.approx(1.572, abs=5e-4)
    assert efron["se"] == pytest.approx(0.412, abs=5e-4)
    assert efron["hazard_ratio"] == pytest.approx(4.82, abs=5e-3)
    breslow = CoxPH(ties="breslow").fit(gehan, "weeks", "relapse", formula="placebo").summary_.iloc[0]
    assert breslow["coef"] == pytest.approx(1.509, abs=5e-4)
    assert breslow["se"] == pytest.approx(0.410, abs=5e-4)


def test_cox_equals_phreg_and_predicts():
    rng = np.random.default_rng(9)
    n = 600
    frame = pd.DataFrame({"x": rng.normal(size=n), "tier": rng.choice(["a", "b", "c"], size=n),
                          "group": rng.integers(0, 30, size=n)})
    lin = 0.5 * frame["x"] + np.where(frame["tier"] == "b", 0.7, 0.0)
    t = np.ceil(rng.exponential(20 * np.exp(-lin)))
    c = np.ceil(rng.uniform(0, 40, n))
    frame["days"], frame["event"] = np.minimum(t, c), (t <= c).astype(int)
    cox = CoxPH().fit(frame, "days", "event", formula="x + C(tier)", cluster_col="group")
    direct = PHReg.from_formula("days ~ x + C(tier)", data=frame, status=frame["event"].to_numpy(),
                                ties="efron").fit(groups=frame["group"].to_numpy())
    np.testing.assert_allclose(cox.params_.to_numpy(), direct.params, rtol=1e-10)
    # model-based SEs equal PHReg's; the cluster-robust ones follow the tie method (checked against R below)
    plain = CoxPH().fit(frame, "days", "event", formula="x + C(tier)")
    direct_plain = PHReg.from_formula("days ~ x + C(tier)", data=frame, status=frame["event"].to_numpy(),
                                      ties="efron").fit()
    np.testing.assert_allclose(plain.summary_["se"], direct_plain.bse, rtol=1e-10)
    assert not np.allclose(cox.summary_["se"], direct.bse, rtol=1e-4)   # PHReg's sandwich is not Efron's
    assert list(cox.summary_["covariate"]) == list(direct.model.exog_names)
    # planted effect of x covered by the CI
    row = cox.summary_.set_index("covariate").loc["x"]
    assert row["hr_ci_low"] < np.exp(0.5) < row["hr_ci_high"]
    new = frame.iloc[:5]
    hr = cox.predict_partial_hazard(new)
    lin_pred = 0.0 + cox.params_["x"] * new["x"] + np.select(
        [new["tier"] == "b", new["tier"] == "c"],
        [cox.params_["C(tier)[T.b]"], cox.params_["C(tier)[T.c]"]], 0.0)
    np.testing.assert_allclose(hr, np.exp(lin_pred), rtol=1e-10)
    by_cols = CoxPH().fit(frame, "days", "event", columns=["x"], strata_col="tier")
    direct_strat = PHReg(frame["days"], frame[["x"]], status=frame["event"], strata=frame["tier"],
                         ties="efron").fit()
    np.testing.assert_allclose(by_cols.params_, direct_strat.params, rtol=1e-10)
    np.testing.assert_allclose(by_cols.predict_partial_hazard(new), np.exp(direct_strat.params[0] * new["x"]))


# R 4.2.2, survival 3.5-3: coxph(Surv(days, event) ~ x + z [+ strata(tier)], ties = ..., cluster = group)
# on tests/data/r_reference/cox_cluster.csv (500 rows, 349 events on 20 distinct days: heavy ties),
# computed once by tests/test_survival_cox_cluster.R: (coef, se(coef), robust se)
R_COXPH_CLUSTER = {
    "efron/x": (0.253183810044803, 0.0475534444735917, 0.0514514725193487),
    "efron/z": (0.604415737477991, 0.108358474259432, 0.124240815043446),
    "efron_strata/x": (0.252216691118847, 0.0476459401059719, 0.0521942970372326),
    "efron_strata/z": (0.598809253989232, 0.108899660485921, 0.124773165252738),
    "breslow/x": (0.230045718400064, 0.0472607075940595, 0.04753974794324),
    "breslow/z": (0.551079575681729, 0.108525569796178, 0.115784410423568),
    "breslow_strata/x": (0.22911831479468, 0.0473718807299734, 0.0480893984762302),
    "breslow_strata/z": (0.54910135077826, 0.109029987300593, 0.116721723322955),
}


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("strata", [None, "tier"])
def test_cox_cluster_robust_se_matches_r(ties, strata):
    frame = pd.read_csv(Path(__file__).parent / "data" / "r_reference" / "cox_cluster.csv")
    label = ties + ("_strata" if strata else "")
    clustered = CoxPH(ties=ties).fit(frame, "days", "event", columns=["x", "z"], cluster_col="group",
                                     strata_col=strata).summary_.set_index("covariate")
    plain = CoxPH(ties=ties).fit(frame, "days", "event", columns=["x", "z"],
                                 strata_col=strata).summary_.set_index("covariate")
    for var in ("x", "z"):
        coef, se, robust = R_COXPH_CLUSTER[f"{label}/{var}"]
        assert clustered.loc[var, "coef"] == pytest.approx(coef, rel=1e-7)
        assert plain.loc[var, "se"] == pytest.approx(se, rel=1e-6)
        assert clustered.loc[var, "se"] == pytest.approx(robust, rel=1e-4)


def test_cox_score_residuals_sum_to_the_score_and_need_the_tie_method():
    """Score residuals sum to the score (0 at the MLE) for both tie methods, and Efron's differ from
    Breslow's at the same coefficients when there are ties."""
    from groupstats.stats.survival import cox_score_residuals

    frame = pd.read_csv(Path(__file__).parent / "data" / "r_reference" / "cox_cluster.csv")
    x = frame[["x", "z"]].to_numpy(float)
    for ties in ("efron", "breslow"):
        model = PHReg(frame["days"], x, status=frame["event"], ties=ties)
        beta = model.fit().params
        resid = cox_score_residuals(frame["days"], frame["event"], x, beta, ties)
        np.testing.assert_allclose(resid.sum(axis=0), 0.0, atol=1e-6)
        other = np.r_[0.1, -0.2]
        np.testing.assert_allclose(cox_score_residuals(frame["days"], frame["event"], x, other, ties).sum(axis=0),
                                   model.score(other), rtol=1e-9)
    efron = cox_score_residuals(frame["days"], frame["event"], x, np.r_[0.2, 0.5], "efron")
    breslow = cox_score_residuals(frame["days"], frame["event"], x, np.r_[0.2, 0.5], "breslow")
    assert np.abs(efron - breslow).max() > 1e-3


def test_cox_errors(gehan):
    with pytest.raises(ParameterError, match="exactly one"):
        CoxPH().fit(gehan, "weeks", "relapse")
    with pytest.raises(ParameterError, match="not in the frame"):
        CoxPH().fit(gehan, "weeks", "relapse", columns=["age"])
    with pytest.raises(ParameterError, match="ties"):
        CoxPH(ties="exact").fit(gehan, "weeks", "relapse", columns=["placebo"])
    with pytest.raises(NotFittedError):
        CoxPH().predict_partial_hazard(gehan)


# ====================================================================== plots
def test_plots_draw_the_estimates(gehan):
    km_a = KaplanMeier(label="6-MP").fit(SIX_MP, SIX_MP_EVENT)
    km_b = KaplanMeier().fit(PLACEBO, [1] * 21)
    ax = plot_survival({"6-MP": km_a, "placebo": km_b})
    assert [line.get_label() for line in ax.get_lines()] == ["6-MP", "placebo"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata()[1:], km_a.survival_function_["survival"])
    plt.close(ax.figure)
    aj = AalenJohansen().fit([1, 2, 2, 3, 4, 5, 5, 6], [1, 2, 0, 1, 0, 2, 1, 0])
    ax = plot_cumulative_incidence(aj, labels={1: "returned", 2: "left"})
    assert [line.get_label() for line in ax.get_lines()] == ["returned", "left"]
    assert ax.get_lines()[0].get_ydata()[-1] == pytest.approx(0.475)
    plt.close(ax.figure)
    rng = np.random.default_rng(10)
    dur, returned, left = simulate_spells(rng, 2000)
    res = return_probability_curve(dur, returned, left, days=range(1, 31), within=WITHIN)
    fig, axis = plt.subplots()
    ax = plot_return_curve(res, ax=axis, level=0.2)
    assert ax is axis
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), res.curve["p_return"])
    assert ax.get_lines()[-1].get_ydata()[0] == 0.2
    plt.close(fig)
