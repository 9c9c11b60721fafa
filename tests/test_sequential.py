"""Sequential inference (groupstats.stats.sequential): closed forms, and peeking simulations.

The simulations look at an experiment every day for 6 weeks, as operators do, and count how
often the read-out *ever* says "significant":

* A/A (no effect): the fixed-horizon p-value crosses 0.05 far more often than 5% of the
  time; the always-valid p-value must stay at or below 5%.
* planted effects are still found by the end, and the confidence sequence covers the true
  effect at every look at once in at least 95% of experiments.

Designs: switchbacks (arms switch by day or by week inside each group, group-period units,
effect estimated from each group's own arm contrast with G - 1 df) and group-randomised
designs (the analysis' estimator, OLS with weekday effects and CR2 / Bell-McCaffrey df by
group, vectorised as :func:`groupstats.analyses.slot_experiment.switchback_ols_cr2`), with
8 to 40 groups, 2 or 3 arms, several seeds. ``python tests/test_sequential.py`` prints the
larger runs quoted in docs/ab_tests.md ("Peeking").
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from groupstats.errors import ParameterError
from groupstats.stats.sequential import (always_valid_p, as_of_cutoff, boundary_multiplier, confidence_sequence,
                                         observed_units, planned_units, sequential_comparisons, sequential_rho)

DAYS = 42


# --------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------
def test_boundary_matches_hand_computed_value():
    # alpha = 0.05, n = n_opt: c = -2 ln 0.05 + ln(1 - 2 ln 0.05) = 5.9914645 + 1.9446901 = 7.9361546,
    # x = n rho^2 = c, half-width = sqrt(2 * 8.9361546 / 7.9361546 * ln(sqrt(8.9361546) / 0.05))
    #                             = sqrt(2.2520112 * ln(59.786802)) = sqrt(2.2520112 * 4.0907850) = 3.035209
    assert boundary_multiplier(500, 500, 0.05) == pytest.approx(3.035209, abs=1e-6)
    assert sequential_rho(500, 0.05) == pytest.approx(math.sqrt(7.9361546 / 500), rel=1e-7)
    # n = 1, n_opt = 100: x = 0.07936155, half-width = sqrt(2 * 1.07936155 / 0.07936155 * ln(sqrt(1.07936155) / 0.05))
    #   = sqrt(27.20113 * ln(20.77846)) = sqrt(27.20113 * 3.033917) = sqrt(82.52597) = 9.084381
    assert boundary_multiplier(1, 100, 0.05) == pytest.approx(9.084381, rel=1e-5)
    low, high = confidence_sequence(0.7, 0.2, 500, 500, 0.05)
    assert (low, high) == pytest.approx((0.7 - 0.2 * 3.035209, 0.7 + 0.2 * 3.035209), abs=1e-6)


def _growthbook_halfwidth(s2, n, n_opt, alpha):
    """GrowthBook's gbstats formula, written out: s2 is the per-unit variance, n the sample size."""
    rho = np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / n_opt)
    return np.sqrt(s2) * np.sqrt((2 * (n * rho ** 2 + 1)) / (n ** 2 * rho ** 2) * np.log(np.sqrt(n * rho ** 2 + 1) / alpha))


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_interval_equals_growthbook_formula(alpha):
    rng = np.random.default_rng(7)
    n = rng.integers(1, 5000, 50).astype(float)
    n_opt = float(rng.integers(10, 10000))
    sd = rng.uniform(0.1, 5, 50)
    est = rng.normal(size=50)
    se = sd / np.sqrt(n)
    low, high = confidence_sequence(est, se, n, n_opt, alpha)
    np.testing.assert_allclose(high - est, _growthbook_halfwidth(sd ** 2, n, n_opt, alpha), rtol=1e-10)
    np.testing.assert_allclose(est - low, high - est, rtol=1e-12)


def test_p_value_is_dual_to_the_interval():
    rng = np.random.default_rng(1)
    est = rng.normal(0, 3, 400)
    se = rng.uniform(0.5, 1.5, 400)
    n = rng.integers(1, 2000, 400)
    df = np.where(rng.random(400) < 0.5, np.inf, rng.uniform(3, 40, 400))
    p = always_valid_p(est, se, n, 800, 0.05, df)
    low, high = confidence_sequence(est, se, n, 800, 0.05, df)
    excludes = (low > 0) | (high < 0)
    np.testing.assert_array_equal(p < 0.05, excludes)
    assert np.all((p > 0) & (p <= 1))
    # at the boundary the p-value is alpha
    g = boundary_multiplier(300, 800, 0.05)
    assert always_valid_p(g * 1.3, 1.3, 300, 800, 0.05) == pytest.approx(0.05, rel=1e-9)
    # closed form: sqrt(x + 1) exp(-z^2 x / (2 (x + 1)))
    x = 300 * sequential_rho(800, 0.05) ** 2
    assert always_valid_p(2.5, 1.0, 300, 800) == pytest.approx(math.sqrt(x + 1) * math.exp(-6.25 * x / (2 * (x + 1))))
    # always more conservative than the fixed-horizon p-value
    fixed = 2 * sps.norm.sf(np.abs(est / se))
    assert np.all(always_valid_p(est, se, n, 800) >= fixed)


def test_small_sample_t_scale():
    # df = inf is the normal; finite df widens, and |t| maps to the normal value with the same p
    low_inf, high_inf = confidence_sequence(0.0, 1.0, 100, 100, 0.05, np.inf)
    low_10, high_10 = confidence_sequence(0.0, 1.0, 100, 100, 0.05, 10)
    g = boundary_multiplier(100, 100, 0.05)
    assert high_inf == pytest.approx(g)
    assert high_10 == pytest.approx(sps.t.isf(sps.norm.sf(g), 10))
    assert high_10 > high_inf
    z = sps.norm.isf(sps.t.sf(3.0, 10))
    assert always_valid_p(3.0, 1.0, 100, 100, 0.05, 10) == pytest.approx(always_valid_p(z, 1.0, 100, 100, 0.05))


def test_robbins_mixture_bound_holds_for_a_gaussian_random_walk():
    # the boundary on the running mean of N(0, 1) draws, looked at after every draw up to 2000
    rng = np.random.default_rng(11)
    reps, n_max = 2000, 2000
    s = np.cumsum(rng.standard_normal((n_max, reps), dtype=np.float32), axis=0)
    n = np.arange(1, n_max + 1)[:, None]
    crossed = np.abs(s / n) > boundary_multiplier(n, 500, 0.05) / np.sqrt(n)
    rate = crossed.any(axis=0).mean()
    fixed = (np.abs(s / np.sqrt(n)) > 1.96).any(axis=0).mean()
    assert rate <= 0.05
    assert fixed > 0.3  # looking 2000 times at a fixed-horizon test


def test_parameter_errors():
    with pytest.raises(ParameterError, match="n_opt"):
        boundary_multiplier(10, 0)
    with pytest.raises(ParameterError, match="alpha"):
        sequential_rho(10, 1.5)
    with pytest.raises(ParameterError, match="as-of"):
        as_of_cutoff("15/03/2026x", "Asia/Shanghai")


def test_as_of_cutoff_is_the_end_of_the_day():
    cut = as_of_cutoff("2026-03-15", "Asia/Shanghai")
    assert cut == pd.Timestamp("2026-03-15 23:59:59.999999", tz="Asia/Shanghai")
    assert as_of_cutoff("2026-03-15T18:00", "Asia/Shanghai") == pd.Timestamp("2026-03-15 18:00", tz="Asia/Shanghai")


def test_units_of_clustered_designs():
    frame = pd.DataFrame({"group_id": ["a", "a", "a", "b", "b"],
                          "period_start": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-01-12", "2026-01-05",
                                                          "2026-01-05"]),
                          "posted_at": pd.to_datetime(["2026-01-05 08:00", "2026-01-05 20:00", "2026-01-13 08:00",
                                                       "2026-01-06 08:00", "2026-01-07 08:00"]).tz_localize("UTC")})
    assert observed_units(frame, "switchback") == 3
    assert observed_units(frame, "group-randomised") == 4
    assign = pd.DataFrame({"group_id": ["a", "b"], "start_at": pd.to_datetime(["2026-01-01", "2026-01-01"]),
                           "end_at": pd.to_datetime(["2026-01-15 00:00", "2026-01-08 12:00"])})
    assert planned_units(assign, "switchback") == 2
    assert planned_units(assign, "group-randomised") == 14 + 8


def test_sequential_comparisons_widen_and_keep_the_fixed_values():
    comp = pd.DataFrame({"arm": ["b", "c"], "control": ["a", "a"], "diff": [0.5, 0.1], "se": [0.1, 0.1],
                         "df": [np.inf, 12.0], "rel_diff": [0.25, 0.05]})
    crit = np.array([sps.norm.isf(0.025), sps.t.isf(0.025, 12)])
    comp["ci_low"], comp["ci_high"] = comp["diff"] - crit * 0.1, comp["diff"] + crit * 0.1
    comp["rel_ci_low"], comp["rel_ci_high"] = comp["rel_diff"] - crit * 0.05, comp["rel_diff"] + crit * 0.05
    comp["p_value"] = [2 * sps.norm.sf(5), 2 * sps.t.sf(1, 12)]
    comp["p_adjusted"], comp["significant"] = comp["p_value"], comp["p_value"] < 0.05
    out = sequential_comparisons(comp, n_units=50, n_opt=100, alpha=0.05, correction="holm")
    g = boundary_multiplier(50, 100)
    assert out["ci_high_unadjusted"].iloc[0] == pytest.approx(0.5 + 0.1 * g)
    assert out["rel_ci_high_unadjusted"].iloc[0] == pytest.approx(0.25 + 0.05 * g)  # same widening factor
    assert out["p_value"].iloc[0] == pytest.approx(float(always_valid_p(0.5, 0.1, 50, 100)))
    assert (out["p_value"] >= out["p_value_fixed"]).all()
    assert (out["ci_low"] <= out["ci_low_fixed"]).all() and (out["ci_high"] >= out["ci_high_fixed"]).all()
    # Holm over two always-valid p-values, and the flag follows the adjusted p-value
    p = out["p_value"].to_numpy()
    assert out["p_adjusted"].max() == pytest.approx(min(1.0, max(p.max(), 2 * p.min())))
    np.testing.assert_array_equal(out["significant"], out["p_adjusted"] < 0.05)


# --------------------------------------------------------------------------------------
# peeking simulations
# --------------------------------------------------------------------------------------
def _outcomes(rng, G, posts, treated_rows, effect, reps):
    """Skewed post outcomes: Poisson counts around a group level (log-normal sd 0.5) with group-day shocks
    (sd 0.3) plus an additive planted effect on treated rows (so the true difference is ``effect``)."""
    n_rows = G * DAYS * posts
    g = np.repeat(np.arange(G), DAYS * posts)
    d = np.tile(np.repeat(np.arange(DAYS), posts), G)
    level = rng.normal(0, 0.5, (G, reps))[g] + rng.normal(0, 0.3, (G, DAYS, reps))[g, d]
    y = rng.poisson(2.0 * np.exp(level)).astype(float)
    y += effect * treated_rows[:, None]
    assert y.shape == (n_rows, reps)
    return y, g, d


def _switchback_looks(G, n_arms, period_days, effect, reps, seed, posts=2, first_look=None):
    """Daily looks at a switchback: per treated arm, (estimate, se, df) of shape (looks, reps).

    Units: group-period means; each group's contrast (mean of its treated periods minus mean of its
    control periods); the estimate is the mean contrast over groups with both arms, se its
    standard error, df = groups - 1."""
    from groupstats.stats.design import switchback_arm_matrix

    rng = np.random.default_rng(seed)
    P = DAYS // period_days
    arm = switchback_arm_matrix(rng.lognormal(size=G), n_arms, P, rng)  # (G, P)
    day_arm = np.repeat(arm, period_days, axis=1)                        # (G, DAYS)
    g_rows = np.repeat(np.arange(G), DAYS * posts)
    d_rows = np.tile(np.repeat(np.arange(DAYS), posts), G)
    y, _, _ = _outcomes(rng, G, posts, (day_arm[g_rows, d_rows] > 0).astype(float), effect, reps)
    daily = y.reshape(G, DAYS, posts, reps).sum(axis=2)                   # (G, DAYS, R)
    first_look = first_look or max(2 * period_days, 7)
    looks = np.arange(first_look, DAYS + 1)
    out = {a: {"est": [], "se": [], "df": []} for a in range(1, n_arms)}
    for t in looks:
        seen = (np.arange(DAYS) < t).astype(float)
        sums = (daily * seen[None, :, None]).reshape(G, P, period_days, reps).sum(axis=2)
        counts = (np.broadcast_to(seen * posts, (G, DAYS))).reshape(G, P, period_days).sum(axis=2)
        started = counts > 0
        means = np.where(started[..., None], sums / np.maximum(counts, 1)[..., None], 0.0)
        for a in range(1, n_arms):
            in_a, in_c = (arm == a) & started, (arm == 0) & started
            both = in_a.any(axis=1) & in_c.any(axis=1)
            m_a = (means * in_a[..., None]).sum(1) / np.maximum(in_a.sum(1), 1)[:, None]
            m_c = (means * in_c[..., None]).sum(1) / np.maximum(in_c.sum(1), 1)[:, None]
            contrast = (m_a - m_c)[both]
            k = int(both.sum())
            out[a]["est"].append(contrast.mean(axis=0))
            out[a]["se"].append(contrast.std(axis=0, ddof=1) / np.sqrt(k))
            out[a]["df"].append(np.full(reps, k - 1.0))
    units = G * np.ceil(looks / period_days)
    return {a: {k: np.array(v) for k, v in d.items()} for a, d in out.items()}, units, G * P


def _group_randomised_looks(G, n_arms, effect, reps, seed, posts=2, first_look=7):
    """Daily looks at a group-randomised design with the analysis' estimator (OLS, weekday effects,
    CR2 by group, Bell-McCaffrey df): per treated arm, (estimate, se, df) of shape (looks, reps)."""
    from groupstats.analyses.slot_experiment import single_blas_thread, switchback_ols_cr2
    from groupstats.stats.design import group_arm_vector

    rng = np.random.default_rng(seed)
    arm_of_group = group_arm_vector(rng.lognormal(size=G), n_arms, rng)
    g_rows = np.repeat(np.arange(G), DAYS * posts)
    y, g, d = _outcomes(rng, G, posts, (arm_of_group[g_rows] > 0).astype(float), effect, reps)
    a_rows = arm_of_group[g]
    looks = np.arange(first_look, DAYS + 1)
    out = {a: {"est": [], "se": [], "df": []} for a in range(1, n_arms)}
    with single_blas_thread():
        for t in looks:
            rows = d < t
            fit = switchback_ols_cr2(y[rows], a_rows[rows], g[rows], [d[rows] % 7])
            for i, a in enumerate(fit["arms"]):
                out[int(a)]["est"].append(fit["diff"][i])
                out[int(a)]["se"].append(fit["se"][i])
                out[int(a)]["df"].append(fit["df"][i])
    units = G * looks.astype(float)
    return {a: {k: np.array(v) for k, v in d.items()} for a, d in out.items()}, units, G * DAYS


def _read_outs(design, G, n_arms, effect, reps, seed, period_days=1, alpha=0.05):
    """Per experiment: ever significant (fixed, sequential; Holm across arms), significant at the end,
    and whether the confidence sequence covered the true effect at every look."""
    from groupstats.analyses.slot_experiment import holm_adjust

    if design == "switchback":
        arms, units, n_opt = _switchback_looks(G, n_arms, period_days, effect, reps, seed)
    else:
        arms, units, n_opt = _group_randomised_looks(G, n_arms, effect, reps, seed)
    p_fixed, p_seq, covered = [], [], np.ones(reps, dtype=bool)
    for a, r in arms.items():
        n = units[:, None]
        p_fixed.append(2 * sps.t.sf(np.abs(r["est"] / r["se"]), r["df"]))
        p_seq.append(always_valid_p(r["est"], r["se"], n, n_opt, alpha, r["df"]))
        low, high = confidence_sequence(r["est"], r["se"], n, n_opt, alpha, r["df"])
        covered &= ((low <= effect) & (effect <= high)).all(axis=0)
    # Holm across arms at each look: (arms, looks, reps) -> (arms, looks * reps)
    shape = (len(arms), -1)
    adj_fixed = holm_adjust(np.array(p_fixed).reshape(shape)).reshape(np.array(p_fixed).shape)
    adj_seq = holm_adjust(np.array(p_seq).reshape(shape)).reshape(np.array(p_seq).shape)
    return {"fixed_ever": (adj_fixed < alpha).any(axis=(0, 1)),
            "seq_ever": (adj_seq < alpha).any(axis=(0, 1)),
            "fixed_end": (adj_fixed[:, -1] < alpha).any(axis=0),
            "seq_end": (adj_seq[:, -1] < alpha).any(axis=0),
            "covered": covered}


# (design, groups, arms, period_days, seed): switchbacks switching daily or weekly with 8-24 groups (one
# setting twice with another seed), group-randomised designs from 10 to 40 groups, 2 or 3 arms
AA_SETTINGS = [("switchback", 12, 2, 1, 1), ("switchback", 24, 3, 7, 2), ("switchback", 8, 3, 1, 11),
               ("switchback", 12, 2, 1, 12), ("group-randomised", 10, 2, 1, 3), ("group-randomised", 40, 3, 1, 4),
               ("group-randomised", 20, 2, 1, 13)]


@pytest.mark.slow
@pytest.mark.parametrize("design,G,n_arms,period_days,seed", AA_SETTINGS)
def test_aa_daily_looks_sequential_stays_below_alpha(design, G, n_arms, period_days, seed):
    reps = 400 if design == "switchback" else 160
    r = _read_outs(design, G, n_arms, 0.0, reps, seed, period_days)
    seq, fixed = r["seq_ever"].mean(), r["fixed_ever"].mean()
    # binomial noise: a true 5% would exceed 0.05 + 2.2 SE rarely; the sequential rate is in fact
    # well below 5% (the sequence covers every look, not only these 36)
    assert seq <= 0.05 + 2.2 * math.sqrt(0.05 * 0.95 / reps), (design, G, seq)
    assert fixed > 2 * max(seq, 0.01), (design, G, fixed, seq)
    if design == "switchback":
        # a switchback's estimate moves with every new group-period: daily peeks at the fixed-horizon
        # p-value cross 0.05 in about a quarter of A/A experiments
        assert fixed >= 0.15, (design, G, fixed)


@pytest.mark.slow
@pytest.mark.parametrize("design,G,n_arms,period_days,effect,seed", [
    ("switchback", 12, 2, 1, 0.8, 5), ("switchback", 20, 2, 7, 0.8, 6),
    ("group-randomised", 30, 2, 1, 2.2, 7)])
def test_planted_effect_found_and_covered(design, G, n_arms, period_days, effect, seed):
    reps = 200 if design == "switchback" else 100
    r = _read_outs(design, G, n_arms, effect, reps, seed, period_days)
    # found by the end of the 6 weeks (the sequential test pays for its validity with some power)
    assert r["fixed_end"].mean() >= 0.9, r["fixed_end"].mean()
    assert r["seq_end"].mean() >= 0.7, r["seq_end"].mean()
    assert r["seq_ever"].mean() >= r["seq_end"].mean()
    # time-uniform coverage: the sequence contains the true difference at every look at once
    assert r["covered"].mean() >= 0.95 - 2.2 * math.sqrt(0.05 * 0.95 / reps), r["covered"].mean()


if __name__ == "__main__":  # the larger runs quoted in docs/ab_tests.md
    rows = []
    for design, G, n_arms, period_days, seed in AA_SETTINGS:
        reps = 2000 if design == "switchback" else 500
        r = _read_outs(design, G, n_arms, 0.0, reps, seed + 100, period_days)
        rows.append({"design": design, "groups": G, "arms": n_arms, "period_days": period_days, "reps": reps,
                     "fixed_ever": r["fixed_ever"].mean(), "fixed_end": r["fixed_end"].mean(),
                     "sequential_ever": r["seq_ever"].mean()})
    print(pd.DataFrame(rows).to_string(index=False))
    rows = []
    for design, G, n_arms, period_days, effect, seed in [("switchback", 12, 2, 1, 0.5, 201),
                                                         ("switchback", 24, 3, 7, 0.5, 202),
                                                         ("group-randomised", 40, 2, 1, 1.0, 203)]:
        reps = 1000 if design == "switchback" else 300
        r = _read_outs(design, G, n_arms, effect, reps, seed, period_days)
        rows.append({"design": design, "groups": G, "arms": n_arms, "period_days": period_days,
                     "effect_vs_mean": f"+{100 * effect / (2 * math.exp((0.25 + 0.09) / 2)):.0f}%", "reps": reps,
                     "fixed_end": r["fixed_end"].mean(), "sequential_end": r["seq_end"].mean(),
                     "sequence_covers_all_looks": r["covered"].mean()})
    print(pd.DataFrame(rows).to_string(index=False))


@pytest.mark.parametrize("correction,method", [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")])
def test_adjust_p_equals_statsmodels(correction, method):
    from statsmodels.stats.multitest import multipletests

    from groupstats.stats.sequential import adjust_p

    rng = np.random.default_rng(2)
    for m in (2, 3, 7):
        p = rng.uniform(0, 0.2, m)
        np.testing.assert_allclose(adjust_p(p, correction), multipletests(p, method=method)[1], rtol=1e-12)
