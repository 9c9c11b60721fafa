"""Bayesian read-out (groupstats.stats.bayes): closed forms against hand values, numerical
integration and a grid posterior; planted effects; the read-out of the comparison engine."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats as sps

from groupstats.errors import ParameterError
from groupstats.stats.bayes import bayes_readout, expected_loss, normal_posterior, prob_better


def test_hand_computed_example():
    # estimate +10% with se 10%, prior N(0, 0.3^2):
    # posterior variance 1 / (1/0.09 + 1/0.01) = 0.009, mean 0.009 * (0.1 / 0.01) = 0.09, sd 0.0948683
    mean, sd = normal_posterior(0.1, 0.1, 0.3)
    assert float(mean) == pytest.approx(0.09, abs=1e-12)
    assert float(sd) == pytest.approx(math.sqrt(0.009), abs=1e-12)
    # P(theta > 0) = Phi(0.09 / 0.0948683) = Phi(0.948683) = 0.828609
    assert float(prob_better(mean, sd)) == pytest.approx(0.828609, abs=1e-6)
    # E[max(0, -theta)] = s phi(m/s) - m Phi(-m/s) = 0.0948683 * 0.254383 - 0.09 * 0.171391 = 0.008708
    assert float(expected_loss(mean, sd)) == pytest.approx(0.008708, abs=2e-6)
    # lower is better: the mirror image
    assert float(prob_better(mean, sd, higher_is_better=False)) == pytest.approx(1 - 0.828609, abs=1e-6)


@pytest.mark.parametrize("m,s", [(0.05, 0.02), (-0.03, 0.1), (0.0, 0.5), (0.2, 0.01)])
def test_expected_loss_and_probability_equal_numerical_integrals(m, s):
    density = sps.norm(m, s).pdf
    loss, _ = integrate.quad(lambda t: max(0.0, -t) * density(t), m - 12 * s, m + 12 * s, points=[0.0], limit=200)
    prob, _ = integrate.quad(density, 0, m + 12 * s, limit=200)
    assert float(expected_loss(m, s)) == pytest.approx(loss, abs=1e-9)
    assert float(prob_better(m, s)) == pytest.approx(prob, abs=1e-9)
    loss_lower, _ = integrate.quad(lambda t: max(0.0, t) * density(t), m - 12 * s, m + 12 * s, points=[0.0], limit=200)
    assert float(expected_loss(m, s, higher_is_better=False)) == pytest.approx(loss_lower, abs=1e-9)


def test_posterior_equals_grid_posterior():
    # prior x likelihood on a fine grid, normalised numerically
    grid = np.linspace(-2, 2, 400001)
    for est, se, prior_sd in [(0.3, 0.2, 0.3), (-0.1, 0.05, 0.3), (0.5, 0.4, 0.1)]:
        w = sps.norm.pdf(grid, 0, prior_sd) * sps.norm.pdf(est, grid, se)
        w /= w.sum()
        mean, sd = normal_posterior(est, se, prior_sd)
        assert float(mean) == pytest.approx(float((w * grid).sum()), abs=1e-7)
        assert float(sd) == pytest.approx(math.sqrt(float((w * (grid - mean) ** 2).sum())), rel=1e-5)
    # flat prior: the likelihood itself
    mean, sd = normal_posterior(0.3, 0.2, math.inf)
    assert (float(mean), float(sd)) == (pytest.approx(0.3), pytest.approx(0.2))


def _table(rel, low, high, arm="b"):
    return pd.DataFrame({"arm": [arm], "control": ["a"], "rel_diff": [rel], "rel_ci_low": [low],
                         "rel_ci_high": [high], "df": [np.inf]})


def test_readout_of_an_engine_table():
    z = sps.norm.isf(0.025)
    # flat prior: the credible interval is the engine's confidence interval
    flat = bayes_readout(_table(0.2, 0.2 - z * 0.05, 0.2 + z * 0.05), prior_sd=math.inf)
    assert flat[["ci_low", "ci_high"]].iloc[0].tolist() == pytest.approx([0.2 - z * 0.05, 0.2 + z * 0.05])
    assert flat["prob_better"].iloc[0] == pytest.approx(sps.norm.cdf(4.0))
    # the default prior shrinks toward 0 by prior_var / (prior_var + se^2)
    shrunk = bayes_readout(_table(0.2, 0.2 - z * 0.05, 0.2 + z * 0.05))
    assert shrunk["post_mean"].iloc[0] == pytest.approx(0.2 * 0.09 / (0.09 + 0.0025))
    # a sequential table: the fixed-horizon interval is read, not the wider sequence
    seq = _table(0.2, 0.0, 0.4).assign(rel_ci_low_fixed=0.2 - z * 0.05, rel_ci_high_fixed=0.2 + z * 0.05)
    assert bayes_readout(seq)["post_sd"].iloc[0] == pytest.approx(shrunk["post_sd"].iloc[0])
    # an asymmetric (Fieller) interval: the half toward 0 sets the SD, so with a flat prior the credible
    # interval's end toward 0 is the engine's
    skew = bayes_readout(_table(0.3, 0.05, 0.75), prior_sd=math.inf)
    assert skew["post_sd"].iloc[0] == pytest.approx(0.25 / z)
    assert skew["ci_low"].iloc[0] == pytest.approx(0.05) and skew["prob_better"].iloc[0] > 0.975
    neg = bayes_readout(_table(-0.2, -0.5, -0.05), prior_sd=math.inf)
    assert neg["ci_high"].iloc[0] == pytest.approx(-0.05) and neg["prob_better"].iloc[0] < 0.025
    with pytest.raises(ParameterError, match="prior_sd"):
        bayes_readout(_table(0.2, 0.1, 0.3), prior_sd=0)


def test_planted_effect_and_no_effect_on_clustered_data():
    """Clustered A/B tables (20 groups, 30 posts each): a +50% effect gets a high chance to beat
    control in most experiments; with no effect the chance is spread out (mean near one half)."""
    from groupstats.stats.compare import compare_arms

    rng = np.random.default_rng(5)
    probs = {0.0: [], 0.5: []}
    for effect in probs:
        for _ in range(20):
            g = np.repeat(np.arange(20), 30)
            arm = np.where(g % 2 == 0, "a", "b")
            level = 2.0 * np.exp(rng.normal(0, 0.3, 20))[g] * np.where(arm == "b", 1 + effect, 1.0)
            frame = pd.DataFrame({"g": g, "arm": arm, "y": rng.poisson(level).astype(float)})
            comp = compare_arms(frame, arm="arm", metric="y", cluster="g").comparisons
            probs[effect].append(float(bayes_readout(comp)["prob_better"].iloc[0]))
    planted, null = np.array(probs[0.5]), np.array(probs[0.0])
    assert np.mean(planted > 0.95) >= 0.7
    assert 0.3 < null.mean() < 0.7
    assert np.mean(null > 0.975) <= 0.15
