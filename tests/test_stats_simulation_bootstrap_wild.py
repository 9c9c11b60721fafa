"""Issue 16: false-positive rates and coverage of ``method="bootstrap"`` (studentized cluster bootstrap-t) and of
``method="wild"`` with fixed effects (absorbed), at 10 and 20 clusters.

Vectorised: the bootstrap through its twin :func:`bootstrap_t_two_arm_cluster_means` (checked equal to
compare_arms here), the wild bootstrap through the engine's own :func:`_absorbed_wild` (what compare_arms runs)
with one design shared by several outcome draws (``for_outcome``). Coverage of a test-inversion interval is
"the true value is not rejected" (p >= alpha; the inversion itself is checked in test_stats_wild.py).
Seeds AND configurations vary: cluster sizes (equal / 5-60 rows), noise (normal / skewed lognormal), intra-
cluster correlation, periods per switchback, planted effects.

Binomial standard error of a rate near 5% over 1,000 replicates: 0.7 points; the A/A bounds [3.5%, 6.5%] are the
issue's; per configuration (500 replicates) the bounds are wider, [2.5%, 8%].
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from groupstats.stats.cluster import webb_weights
from groupstats.stats.compare import compare_arms
from groupstats.stats.comparison_bootstrap import bootstrap_t_two_arm_cluster_means
from groupstats.stats.comparison_means import _absorbed_wild
from groupstats.stats.fixed_effects import FixedEffects, demean

ALPHA = 0.05


# ------------------------------------------------------------------------------------------ bootstrap-t
def _cluster_randomised(rng, reps, n_clusters, sizes, noise, icc, effect=0.0, base=3.0):
    """Cluster sums of a two-arm cluster-randomised design, (reps, G), half the clusters treated."""
    n = rng.integers(5, 61, n_clusters) if sizes == "unequal" else np.full(n_clusters, 20)
    treated = np.argsort(rng.random((reps, n_clusters)), axis=1) < n_clusters // 2
    unit_cluster = np.repeat(np.arange(n_clusters), n)
    if noise == "lognormal":
        e = rng.lognormal(0.0, 1.0, (reps, n.sum())) - np.exp(0.5)
    else:
        e = rng.normal(0.0, 1.0, (reps, n.sum()))
    starts = np.r_[0, np.cumsum(n)[:-1]]
    sums = np.add.reduceat(e, starts, axis=1)
    sums += n * (base + rng.normal(0.0, np.sqrt(icc), (reps, n_clusters)) + effect * treated)
    assert sums.shape == (reps, n_clusters) and len(unit_cluster) == n.sum()
    return sums, n, treated


def test_bootstrap_twin_equals_compare_arms():
    rng = np.random.default_rng(21)
    for n_clusters, sizes in ((10, "unequal"), (14, "equal")):
        sums_unused, n, treated = _cluster_randomised(rng, 3, n_clusters, sizes, "normal", 0.2)
        g = np.repeat(np.arange(n_clusters), n)
        ys = [rng.lognormal(0, 1, n.sum()) + 0.4 * np.repeat(treated[r], n) for r in range(3)]
        sums = np.array([np.bincount(g, weights=y) for y in ys])
        twin = bootstrap_t_two_arm_cluster_means(sums, n, treated, n_boot=499, seed=7)
        for r in range(3):
            frame = pd.DataFrame({"g": g, "arm": np.repeat(treated[r], n).astype(int), "y": ys[r]})
            row = compare_arms(frame, arm="arm", metric="y", cluster="g", method="bootstrap", n_boot=499,
                               seed=7 + r).comparisons.iloc[0]
            for key in ("diff", "se", "p_value", "ci_low", "ci_high", "rel_ci_low", "rel_ci_high"):
                assert twin[key][r] == pytest.approx(row[key], rel=1e-10, abs=1e-12), (n_clusters, r, key)


BOOT_CONFIGS = [("unequal", "lognormal", 0.1), ("equal", "normal", 0.3)]


@pytest.mark.slow
@pytest.mark.parametrize("n_clusters", [10, 20])
def test_bootstrap_t_holds_alpha_and_covers(n_clusters):
    """A/A: 2 configurations x 500 replicates per cluster count; coverage with a planted effect (+0.5 on a
    base of 3, relative +16.7%): 2 x 250. Measured (this seed set): see docs/ab_tests.md."""
    rates, covered_abs, covered_rel, n_cov = [], 0, 0, 0
    for i, (sizes, noise, icc) in enumerate(BOOT_CONFIGS):
        rng = np.random.default_rng(1000 * n_clusters + i)
        sums, n, treated = _cluster_randomised(rng, 500, n_clusters, sizes, noise, icc)
        aa = bootstrap_t_two_arm_cluster_means(sums, n, treated, n_boot=499, seed=10_000 * i)
        rate = float((aa["p_value"] < ALPHA).mean())
        assert 0.025 <= rate <= 0.08, (n_clusters, sizes, noise, rate)
        # one rule: p < alpha exactly when the interval excludes 0 (absolute and relative)
        sig = aa["p_value"] < ALPHA
        np.testing.assert_array_equal(sig, (aa["ci_low"] > 0) | (aa["ci_high"] < 0))
        np.testing.assert_array_equal(sig, (aa["rel_ci_low"] > 0) | (aa["rel_ci_high"] < 0))
        rates.append(rate)
        sums, n, treated = _cluster_randomised(rng, 250, n_clusters, sizes, noise, icc, effect=0.5)
        eff = bootstrap_t_two_arm_cluster_means(sums, n, treated, n_boot=499, seed=20_000 * i)
        covered_abs += int(((eff["ci_low"] <= 0.5) & (0.5 <= eff["ci_high"])).sum())
        covered_rel += int(((eff["rel_ci_low"] <= 0.5 / 3) & (0.5 / 3 <= eff["rel_ci_high"])).sum())
        n_cov += 250
    assert 0.035 <= np.mean(rates) <= 0.065, (n_clusters, rates)
    assert 0.93 <= covered_abs / n_cov <= 0.97, (n_clusters, covered_abs / n_cov)
    assert 0.93 <= covered_rel / n_cov <= 0.97, (n_clusters, covered_rel / n_cov)


# ------------------------------------------------------------------------------------------ wild with FE
def _switchback(rng, n_groups, n_periods):
    """Group x period cells, posts per cell 1 + Poisson(6), arm alternating at random within each group."""
    posts = rng.poisson(6, (n_groups, n_periods)) + 1
    g = np.repeat(np.repeat(np.arange(n_groups), n_periods), posts.ravel())
    p = np.repeat(np.tile(np.arange(n_periods), n_groups), posts.ravel())
    arm_cell = np.array([rng.permutation(np.arange(n_periods) % 2) for _ in range(n_groups)])
    return g, p, arm_cell[g, p]


def _wild_rates(n_clusters, n_periods, noise, seed, n_designs, per_design, effect, n_boot=399):
    """(A/A rejections, absolute coverage, relative coverage, replicates) of the absorbed wild bootstrap."""
    rng = np.random.default_rng(seed)
    rejected = cov_abs = cov_rel = total = 0
    for d in range(n_designs):
        g, p, arm = _switchback(rng, n_clusters, n_periods)
        n = len(g)
        fe = FixedEffects(codes=[g, p], n_levels=[n_clusters, n_periods], names=["group", "period"])
        level = (3.0 + rng.normal(0, 0.7, (per_design, n_clusters))[:, g]
                 + rng.normal(0, 0.3, (per_design, n_periods))[:, p])           # fixed effects of each draw
        cell = rng.normal(0, 0.3, (per_design, n_clusters, n_periods))[:, g, p]   # group x period shocks
        e = (rng.lognormal(0, 0.8, (per_design, n)) - np.exp(0.32)) if noise == "lognormal" \
            else rng.normal(0, 1, (per_design, n))
        y0 = level + cell + e                                                   # A/A outcomes
        y1 = y0 + effect * arm                                                  # planted effect
        ys = np.vstack([y0, y1])
        yd = demean(ys.T, fe)
        draws = webb_weights(n_boot, n_clusters, seed + d)
        boot, means = _absorbed_wild(arm, 2, None, fe, ys[0], np.ones(n), g, draws)
        c = means[1] - means[0]
        for r in range(2 * per_design):
            b = boot.for_outcome(yd[:, r], float(ys[r].mean())) if r else boot
            if r < per_design:
                rejected += b.test(c, 0.0)[1] < ALPHA
                total += 1
            else:
                mu_c = float(level[r - per_design].mean())        # g-computation control level of the draw
                cov_abs += b.test(c, effect)[1] >= ALPHA
                cov_rel += b.test(means[1] - (1.0 + effect / mu_c) * means[0], 0.0)[1] >= ALPHA
    return rejected, cov_abs, cov_rel, total


def test_wild_simulation_path_is_compare_arms():
    """The simulation's path (absorbed bootstrap, swapped outcome) gives compare_arms' p-value."""
    rng = np.random.default_rng(4)
    g, p, arm = _switchback(rng, 10, 6)
    fe = FixedEffects(codes=[g, p], n_levels=[10, 6], names=["group", "period"])
    ys = [3 + rng.normal(0, 0.7, 10)[g] + rng.normal(0, 1, len(g)) + s * arm for s in (0.0, 0.3)]
    draws = webb_weights(299, 10, 5)
    boot, means = _absorbed_wild(arm, 2, None, fe, ys[0], np.ones(len(g)), g, draws)
    swapped = boot.for_outcome(demean(ys[1], fe), float(ys[1].mean()))
    for y, b in zip(ys, (boot, swapped)):
        frame = pd.DataFrame({"g": g, "p": p, "arm": arm, "y": y})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = compare_arms(frame, arm="arm", metric="y", cluster="g", fixed_effects=["g", "p"],
                               method="wild", n_boot=299, seed=5).comparisons.iloc[0]
        t, pv = b.test(means[1] - means[0], 0.0)
        assert pv == pytest.approx(row["p_value"], abs=1e-12) and t == pytest.approx(row["statistic"], rel=1e-9)


WILD_CONFIGS = [(6, "lognormal"), (4, "normal")]


@pytest.mark.slow
@pytest.mark.parametrize("n_clusters", [10, 20])
def test_wild_with_fixed_effects_holds_alpha_and_covers(n_clusters):
    """Switchbacks with group and period fixed effects (absorbed), clustered by group: 2 configurations x
    50 designs x 10 outcome draws = 1,000 A/A replicates per cluster count, and as many with a planted
    effect (+0.3 on a level of about 3) for the coverage of the absolute and relative intervals."""
    rejected = cov_abs = cov_rel = total = 0
    for i, (n_periods, noise) in enumerate(WILD_CONFIGS):
        r, ca, cr, t = _wild_rates(n_clusters, n_periods, noise, 50_000 + 100 * n_clusters + i, 50, 10, 0.3)
        assert 0.025 <= r / t <= 0.08, (n_clusters, n_periods, noise, r / t)
        rejected, cov_abs, cov_rel, total = rejected + r, cov_abs + ca, cov_rel + cr, total + t
    assert total == 1000
    assert 0.035 <= rejected / total <= 0.065, (n_clusters, rejected / total)
    assert 0.93 <= cov_abs / total <= 0.97, (n_clusters, cov_abs / total)
    assert 0.93 <= cov_rel / total <= 0.97, (n_clusters, cov_rel / total)
