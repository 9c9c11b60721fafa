"""BG/NBD: CDNOW end-to-end against the published estimates, simulation recovery, Monte-Carlo checks."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from groupstats.stats.bgnbd import BetaGeoFit, BetaGeoModel, simulate_bgnbd, summary_from_transactions
from groupstats.errors import ConvergenceError, NotFittedError, ParameterError

CDNOW = Path(__file__).parent / "data" / "cdnow"
# Fader, Hardie & Lee (2005), Marketing Science 24(2), Table 1 (BG/NBD on CDNOW, weeks)
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    raw = pd.read_csv(CDNOW / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "sample_id", "date", "n_cds", "dollars"], dtype={"date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_transactions) -> pd.DataFrame:
    return summary_from_transactions(cdnow_transactions, "sample_id", "date", "1997-09-30", unit="W")


@pytest.fixture(scope="module")
def cdnow_model(cdnow_summary) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])


# ------------------------------------------------------------------ transactions -> summary
def test_summary_matches_published_cdnow_summary(cdnow_summary):
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID")
    assert len(cdnow_summary) == len(ref) == 2357
    mine = cdnow_summary.reindex(ref.index)
    assert mine["frequency"].notna().all()
    np.testing.assert_array_equal(mine["frequency"].to_numpy(), ref["frequency"].to_numpy())
    np.testing.assert_allclose(mine["recency"].to_numpy(), ref["recency"].to_numpy(), atol=0.01)
    np.testing.assert_allclose(mine["T"].to_numpy(), ref["T"].to_numpy(), atol=0.01)


def test_summary_uses_only_data_up_to_cutoff_and_distinct_days():
    tx = pd.DataFrame({
        "member": ["a", "a", "a", "a", "b", "b", "c"],
        "time": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-08 10:00", "2024-02-01 00:00",
                                "2024-01-05 12:00", "2024-01-06 08:30", "2024-01-20 07:00"]),
    })
    s = summary_from_transactions(tx, "member", "time", "2024-01-15", unit="D")
    assert list(s.index) == ["a", "b"]                        # c starts after the cutoff
    assert s.loc["a", "frequency"] == 1                       # two messages on day 1 count once; Feb ignored
    assert s.loc["a", "recency"] == 7.0 and s.loc["a", "T"] == 14.0
    assert s.loc["b", "frequency"] == 1 and s.loc["b", "recency"] == 1.0 and s.loc["b", "T"] == 10.0
    weeks = summary_from_transactions(tx, "member", "time", "2024-01-15", unit="W")
    np.testing.assert_allclose(weeks["T"].to_numpy(), s["T"].to_numpy() / 7)
    cohort = summary_from_transactions(tx, "member", "time", "2024-01-15", unit="D", start="2024-01-03")
    assert list(cohort.index) == ["b"]                        # a's history starts before the cohort window
    with pytest.raises(ParameterError, match="unit"):
        summary_from_transactions(tx, "member", "time", "2024-01-15", unit="M")
    with pytest.raises(ParameterError, match="not in the transactions"):
        summary_from_transactions(tx, "user", "time", "2024-01-15")


# ------------------------------------------------------------------ published values
def test_fit_matches_published_estimates(cdnow_model):
    for name, value in PUBLISHED.items():
        assert cdnow_model.params_[name] == pytest.approx(value, rel=0.01), name
    assert cdnow_model.log_likelihood_ == pytest.approx(PUBLISHED_LL, abs=0.5)
    se = cdnow_model.standard_errors_
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    # the Hessian-based SEs agree with the curvature: a and b are much less precise than r
    rel = se / cdnow_model.params_
    assert rel["r"] < 0.1 and rel["a"] > rel["r"] and rel["b"] > rel["r"]


def test_fit_result_object(cdnow_model):
    res = cdnow_model.summary_
    assert isinstance(res, BetaGeoFit)
    frame = res.to_frame()
    assert list(frame["parameter"]) == ["r", "alpha", "a", "b"]
    assert (frame["ci_low"] < frame["estimate"]).all() and (frame["estimate"] < frame["ci_high"]).all()
    payload = json.loads(res.to_json())
    assert payload["log_likelihood"] == pytest.approx(PUBLISHED_LL, abs=0.5)
    assert "drop-out" in res.conclusion()


def test_hardie_spreadsheet_customer(cdnow_model):
    # x = 2, t_x = 30.43, T = 38.86 (customer 1): P(alive) ~ 0.727, E[Y(39)] ~ 1.226
    assert cdnow_model.probability_alive(2, 30.43, 38.86) == pytest.approx(0.727, abs=0.002)
    assert cdnow_model.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.003)
    published = BetaGeoModel.from_params(**PUBLISHED)
    assert published.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.003)


def test_predictions_are_vectorised_and_keep_index(cdnow_model, cdnow_summary):
    s = cdnow_summary
    p = cdnow_model.probability_alive(s["frequency"], s["recency"], s["T"])
    assert isinstance(p, pd.Series) and p.index.equals(s.index)
    assert ((p > 0) & (p <= 1)).all()
    assert (p[s["frequency"] == 0] == 1).all()               # no repeat purchase -> cannot have dropped out
    e = cdnow_model.expected_purchases(39, s["frequency"], s["recency"], s["T"])
    # calibration: the expected hold-out total is close to the actual CDNOW week 40-78 repeat purchases (FHL: 1788)
    assert 1600 < e.sum() < 2000
    curve = cdnow_model.expected_purchases(np.array([0.0, 10, 20, 39]), 2, 30.43, 38.86)
    assert curve[0] == 0 and np.all(np.diff(curve) > 0)


# ------------------------------------------------------------------ simulation
TRUE = {"r": 0.6, "alpha": 3.0, "a": 0.8, "b": 2.5}


def test_simulated_parameters_are_recovered():
    rng = np.random.default_rng(20261121)
    T = rng.uniform(26, 52, size=6000)
    sim = simulate_bgnbd([TRUE[k] for k in ("r", "alpha", "a", "b")], T, seed=rng)
    model = BetaGeoModel().fit(sim["frequency"], sim["recency"], sim["T"])
    z = (model.params_ - pd.Series(TRUE)) / model.standard_errors_
    assert (z.abs() < 3.5).all(), z.to_dict()
    assert (model.params_ / pd.Series(TRUE) - 1).abs().max() < 0.3


def test_monte_carlo_holdout_predictions_match_the_model():
    """probability_no_activity, expected_purchases and probability_alive vs simulation from the model."""
    model = BetaGeoModel.from_params(**TRUE)
    T, t = 30.0, 20.0
    sim = model.simulate(np.full(150_000, T), seed=7, horizon=t)
    x, tx = sim["frequency"], sim["recency"]
    p_none = model.probability_no_activity(t, x, tx, sim["T"])
    e_hold = model.expected_purchases(t, x, tx, sim["T"])
    p_alive = model.probability_alive(x, tx, sim["T"])
    none = (sim["holdout_frequency"] == 0).astype(float)
    # subgroups defined by the observed data: frequency bands and P(alive) bands
    bands = pd.cut(x, [-1, 0, 1, 2, 4, 8, np.inf]).astype(str) + "|" + pd.qcut(p_alive.rank(method="first"), 4,
                                                                            labels=False).astype(str)
    checked = 0
    for _, idx in sim.groupby(bands).groups.items():
        if len(idx) < 2000:
            continue
        checked += 1
        emp, pred = none[idx].mean(), p_none[idx].mean()
        se = np.sqrt(pred * (1 - pred) / len(idx))
        assert abs(emp - pred) < 4 * se + 1e-3, (emp, pred)
        hold = sim.loc[idx, "holdout_frequency"]
        assert abs(hold.mean() - e_hold[idx].mean()) < 4 * hold.std() / np.sqrt(len(idx)) + 1e-3
        alive = sim.loc[idx, "alive_at_T"].astype(float)
        assert abs(alive.mean() - p_alive[idx].mean()) < 4 * np.sqrt(0.25 / len(idx)) + 1e-3
    assert checked >= 6
    assert abs(none.mean() - p_none.mean()) < 0.005
    # a plausible-looking but wrong formula (only the dead never transact) is clearly rejected
    assert abs(none.mean() - (1 - p_alive).mean()) > 0.1
    # ... and so is the prior-rate version (exponent r instead of the posterior shape r + x)
    prior_rate = 1 - p_alive + p_alive * ((TRUE["alpha"] + T) / (TRUE["alpha"] + T + t)) ** TRUE["r"]
    many = x >= 5
    assert abs(none[many].mean() - prior_rate[many].mean()) > 0.2


def test_probability_no_activity_limits():
    model = BetaGeoModel.from_params(**TRUE)
    assert model.probability_no_activity(0.0, 3, 10.0, 20.0) == pytest.approx(1.0)
    long = model.probability_no_activity(1e9, 3, 10.0, 20.0)
    assert long == pytest.approx(1 - model.probability_alive(3, 10.0, 20.0), abs=1e-6)
    vals = model.probability_no_activity(np.array([1.0, 5, 10, 50]), 3, 10.0, 20.0)
    assert np.all(np.diff(vals) < 0)


# ------------------------------------------------------------------ errors
def test_input_validation():
    model = BetaGeoModel()
    with pytest.raises(ParameterError, match="negative"):
        model.fit([1, -1, 0, 2], [1.0, 0, 0, 2], [5.0, 5, 5, 5])
    with pytest.raises(ParameterError, match="recency > T"):
        model.fit([1, 1, 0, 2], [6.0, 1, 0, 2], [5.0, 5, 5, 5])
    with pytest.raises(ParameterError, match="whole numbers"):
        model.fit([1.5, 1, 0, 2], [1.0, 1, 0, 2], [5.0, 5, 5, 5])
    with pytest.raises(ParameterError, match="penalizer"):
        BetaGeoModel(penalizer=-1).fit([1, 1, 0, 2], [1.0, 1, 0, 2], [5.0, 5, 5, 5])
    with pytest.raises(NotFittedError, match="fit"):
        BetaGeoModel().probability_alive(1, 1.0, 2.0)


def test_convergence_error_gives_advice(cdnow_summary):
    s = cdnow_summary
    with pytest.raises(ConvergenceError, match="penalizer"):
        BetaGeoModel(max_iter=1).fit(s["frequency"], s["recency"], s["T"])


def test_penalizer_shrinks_parameters(cdnow_summary):
    s = cdnow_summary
    plain = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    shrunk = BetaGeoModel(penalizer=0.1).fit(s["frequency"], s["recency"], s["T"])
    assert (shrunk.params_ ** 2).sum() < (plain.params_ ** 2).sum()
    assert shrunk.log_likelihood_ < plain.log_likelihood_


# ------------------------------------------------------------------ bounded fits (log_bounds)
def test_bounded_fit_with_wide_bounds_reproduces_cdnow(cdnow_summary, cdnow_model):
    s = cdnow_summary
    bounded = BetaGeoModel(log_bounds=(-9, 9)).fit(s["frequency"], s["recency"], s["T"])
    assert bounded.at_boundary_ is False and cdnow_model.at_boundary_ is False
    np.testing.assert_allclose(bounded.params_.to_numpy(), cdnow_model.params_.to_numpy(), rtol=2e-3)
    for name, value in PUBLISHED.items():
        assert bounded.params_[name] == pytest.approx(value, rel=0.01), name
    assert bounded.log_likelihood_ == pytest.approx(cdnow_model.log_likelihood_, abs=1e-3)
    np.testing.assert_allclose(bounded.standard_errors_.to_numpy(), cdnow_model.standard_errors_.to_numpy(),
                               rtol=0.02)
    assert bounded.summary_.to_dict()["at_boundary"] is False


@pytest.mark.parametrize("seed", [1, 3])
def test_bounded_fit_on_boundary_warns_instead_of_raising(seed):
    from groupstats.errors import StatisticalWarning

    # a, b -> 0: each member's drop-out probability is ~0 or ~1 (never drops out, or at the first repeat),
    # the pattern of chat activity; the unbounded MLE runs off to log a, log b << -9
    sim = simulate_bgnbd([1.0, 5.0, 1e-5, 1e-5], np.full(800, 30.0), seed=seed)
    f, rec, T = sim["frequency"], sim["recency"], sim["T"]
    # with the analytic gradient the unbounded search follows the ridge to log a, log b < -25 and says so
    with pytest.raises(ConvergenceError, match="log_bounds"):
        BetaGeoModel().fit(f, rec, T)
    # the ridge solution: bounds so wide that the likelihood is flat to float precision out there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = BetaGeoModel(log_bounds=(-40, 40)).fit(f, rec, T)
    assert np.log(plain.params_["a"]) < -12 and np.log(plain.params_["b"]) < -12
    with pytest.warns(StatisticalWarning, match="bound"):
        bounded = BetaGeoModel(log_bounds=(-9, 9)).fit(f, rec, T)
    assert bounded.at_boundary_ is True
    log_p = np.log(bounded.params_)
    assert min(log_p["a"], log_p["b"]) == pytest.approx(-9, abs=1e-6)
    assert bounded.standard_errors_.isna().all() and bounded.summary_.table["se"].isna().all()
    # the rate part is still identified and the predictions agree with the unbounded ridge solution
    assert bounded.params_["r"] == pytest.approx(plain.params_["r"], rel=0.02)
    assert bounded.params_["alpha"] == pytest.approx(plain.params_["alpha"], rel=0.02)
    assert bounded.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=0.5)
    np.testing.assert_allclose(bounded.probability_no_activity(10.0, f, rec, T),
                               plain.probability_no_activity(10.0, f, rec, T), atol=0.01)
    # tighter bounds: the optimum is on the bound too, and the planted p ~ {0, 1} pattern is kept
    with pytest.warns(StatisticalWarning):
        tight = BetaGeoModel(log_bounds=(-6, 6)).fit(f, rec, T)
    assert tight.at_boundary_ and np.log(tight.params_[["a", "b"]]).min() == pytest.approx(-6, abs=1e-6)


def test_log_bounds_validation():
    with pytest.raises(ParameterError, match="log_bounds"):
        BetaGeoModel(log_bounds=(9, -9)).fit([1, 1, 0, 2], [1.0, 1, 0, 2], [5.0, 5, 5, 5])
    with pytest.raises(ParameterError, match="log_bounds"):
        BetaGeoModel(log_bounds="wide").fit([1, 1, 0, 2], [1.0, 1, 0, 2], [5.0, 5, 5, 5])


def test_analytic_gradient_matches_finite_differences():
    from groupstats.stats.bgnbd import _log_likelihood_and_gradient, _log_likelihood_terms

    rng = np.random.default_rng(5)
    sim = simulate_bgnbd([0.6, 3.0, 0.8, 2.5], rng.uniform(20, 50, size=400), seed=6)
    x, tx, T = (sim[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = rng.uniform(0.5, 2.0, size=x.size)
    # interior, near the a, b -> 0 corner, and far from the data's optimum
    for z in (np.log([0.6, 3.0, 0.8, 2.5]), np.array([0.1, -0.3, -8.9, -8.9]), np.array([1.0, 2.0, 3.0, -1.0])):
        value, grad = _log_likelihood_and_gradient(np.exp(z), x, tx, T, w)
        assert value == pytest.approx(float(w @ _log_likelihood_terms(np.exp(z), x, tx, T)), rel=1e-12)
        h = 1e-6
        numeric = np.array([(w @ _log_likelihood_terms(np.exp(z + h * e), x, tx, T)
                             - w @ _log_likelihood_terms(np.exp(z - h * e), x, tx, T)) / (2 * h) for e in np.eye(4)])
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-4)
