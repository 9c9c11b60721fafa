"""Results never contradict themselves: for every method, on a few hundred random data sets,
``significant`` is exactly "the interval excludes 0", for the absolute AND the relative interval,
and no interval is NaN (an unbounded side is +-inf).

Data sets vary the kind, the method, the number and sizes of clusters, covariates, fixed effects,
the effect size (null, small, large) and the seed. ``correction="none"`` with one comparison per
data set; with several arms (wild, absorbed fixed effects included, and bootstrap) the intervals are
multiplicity-adjusted and checked the same way (:func:`test_flag_agrees_with_adjusted_intervals_with_several_arms`).
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pandas as pd
import pytest

from groupstats.stats.compare import compare_arms

#: (kind, method, clustered, options)
SETTINGS = [
    ("mean", "auto", False, {}),
    ("mean", "auto", True, {}),
    ("mean", "cr1", True, {}),
    ("mean", "auto", True, {"covariate": "pre"}),
    ("mean", "auto", True, {"fixed_effects": ["group", "week"], "switchback": True}),
    ("mean", "model", False, {"covariate": "pre"}),
    ("mean", "bootstrap", True, {"n_boot": 300}),
    ("mean", "wild", True, {"n_boot": 199}),
    ("proportion", "auto", False, {}),
    ("proportion", "auto", True, {}),
    ("count", "auto", False, {}),
    ("count", "auto", True, {}),
    ("count", "cr1", True, {}),
    ("count", "negbin", True, {}),
    ("count", "model", False, {}),
    ("count", "auto", True, {"fixed_effects": ["group", "week"], "switchback": True}),
    ("ratio", "auto", False, {}),
    ("ratio", "auto", True, {}),
    ("ratio", "bootstrap", True, {"n_boot": 300}),
    ("ratio", "wild", True, {"n_boot": 199}),
]
PER_SETTING = 12          # 20 settings x 12 data sets = 240


def _data(rng, kind, clustered, switchback):
    n_groups = int(rng.integers(6, 24))
    sizes = rng.integers(3, 40, n_groups)
    group = np.repeat(np.arange(n_groups), sizes)
    n = len(group)
    week = rng.integers(0, 4, n)
    if switchback:
        arm = rng.integers(0, 2, n)
    else:
        arm = (rng.permutation(n_groups) % 2)[group] if clustered else rng.integers(0, 2, n)
    effect = rng.choice([0.0, 0.15, 1.0])
    g_eff = rng.normal(0, rng.choice([0.1, 0.8]), n_groups)[group]
    pre = rng.normal(0, 1, n) + g_eff
    base = rng.choice([0.5, 3.0])
    if kind == "mean":
        y = base + g_eff + 0.5 * pre + effect * arm + rng.normal(0, 1, n)
    elif kind == "proportion":
        y = (rng.random(n) < np.clip(0.2 + 0.1 * g_eff + effect * 0.3 * arm, 0.01, 0.99)).astype(float)
    elif kind == "count":
        y = rng.poisson(base * np.exp(0.5 * g_eff + effect * arm) * rng.gamma(2.0, 0.5, n)).astype(float)
    else:
        y = rng.poisson(base * np.exp(0.5 * g_eff + effect * arm) * 3).astype(float)
    frame = pd.DataFrame({"group": group, "week": week, "arm": np.where(arm == 1, "B", "A"), "y": y,
                          "pre": pre, "views": rng.poisson(3, n) + 1.0})
    for a in ("A", "B"):               # every arm needs a non-zero count total
        if frame.loc[frame.arm == a, "y"].sum() == 0:
            frame.loc[frame.index[frame.arm == a][0], "y"] = 1.0
    return frame


def _check(row, label):
    sig = bool(row["significant"])
    for low, high in (("ci_low", "ci_high"), ("rel_ci_low", "rel_ci_high")):
        lo, hi = float(row[low]), float(row[high])
        assert not (np.isnan(lo) or np.isnan(hi)), (label, low, lo, hi)
        assert lo <= hi, (label, low, lo, hi)
        excludes = lo > 0 or hi < 0
        assert excludes == sig, (label, low, lo, hi, row["p_value"])
    assert np.isfinite(row["p_value"]), label


@pytest.mark.slow
@pytest.mark.parametrize("kind,method,clustered,options", SETTINGS,
                         ids=[f"{k}-{m}-{'cl' if c else 'iid'}-{'+'.join(o) or 'plain'}" for k, m, c, o in SETTINGS])
def test_significance_flag_agrees_with_both_intervals(kind, method, clustered, options):
    options = dict(options)
    switchback = options.pop("switchback", False)
    rng = np.random.default_rng(zlib.crc32(f"{kind}{method}{clustered}{sorted(options)}".encode()))
    n_sig = 0
    for rep in range(PER_SETTING):
        frame = _data(rng, kind, clustered, switchback)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = compare_arms(frame, arm="arm", metric="y", kind=kind, cluster="group" if clustered else None,
                               denominator="views" if kind == "ratio" else None, method=method,
                               correction="none", seed=rep, **options)
        row = res.comparisons.iloc[0]
        _check(row, (kind, method, rep, res.method))
        n_sig += bool(row["significant"])
    assert 0 < n_sig < PER_SETTING or method == "model"     # both outcomes occur: the check is not vacuous


def test_unbounded_relative_interval_is_inf_and_says_so():
    """A control level indistinguishable from 0 makes the Fieller set unbounded: +-inf, printed as
    unbounded and kept in JSON as "inf"/"-inf", never NaN, null or n/a."""
    import json

    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame({"arm": np.repeat(["A", "B"], n),
                          "y": np.r_[rng.normal(0.0, 1.0, n), rng.normal(0.1, 1.0, n)]})
    res = compare_arms(frame, arm="arm", metric="y", correction="none")
    row = res.comparisons.iloc[0]
    assert np.isinf(row["rel_ci_low"]) or np.isinf(row["rel_ci_high"])
    assert not bool(row["significant"])
    payload = json.loads(res.to_json())["comparisons"][0]
    assert "inf" in (payload["rel_ci_low"], payload["rel_ci_high"]) or \
        "-inf" in (payload["rel_ci_low"], payload["rel_ci_high"])
    assert "unbounded" in res.conclusion() and "n/a" not in res.conclusion()


#: multi-arm settings (issue 16): (kind, method, design, options); corrections cycle over the data sets
MULTI_ARM = [
    ("mean", "wild", "switchback", {"fixed_effects": ["group", "week"], "n_boot": 199}),
    ("ratio", "wild", "cluster", {"n_boot": 199}),
    ("proportion", "wild", "switchback", {"fixed_effects": ["group"], "n_boot": 199}),
    ("mean", "bootstrap", "cluster", {"n_boot": 300}),
    ("count", "bootstrap", "iid", {"n_boot": 300}),
    ("ratio", "bootstrap", "switchback", {"n_boot": 300}),
]


def _multi_arm_data(rng, kind, design, n_arms):
    n_groups = int(rng.integers(9, 24))
    group = np.repeat(np.arange(n_groups), rng.integers(6, 40, n_groups))
    n = len(group)
    if design == "cluster":
        arm = (rng.permutation(n_groups) % n_arms)[group]
    else:
        arm = rng.integers(0, n_arms, n)
    effects = rng.choice([0.0, 0.3, 1.5], n_arms) * (np.arange(n_arms) > 0)
    g_eff = rng.normal(0, rng.choice([0.1, 0.6]), n_groups)[group]
    base = rng.choice([1.0, 3.0])
    if kind == "mean":
        y = base + g_eff + effects[arm] + rng.normal(0, 1, n)
    elif kind == "proportion":
        y = (rng.random(n) < np.clip(0.3 + 0.1 * g_eff + 0.3 * effects[arm], 0.01, 0.99)).astype(float)
    else:
        y = rng.poisson(base * np.exp(0.5 * g_eff + effects[arm])).astype(float)
    frame = pd.DataFrame({"group": group, "week": rng.integers(0, 4, n), "arm": arm, "y": y,
                          "views": rng.poisson(3, n) + 1.0})
    for a in range(n_arms):
        if frame.loc[frame.arm == a, "y"].sum() == 0:
            frame.loc[frame.index[frame.arm == a][0], "y"] = 1.0
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("kind,method,design,options", MULTI_ARM,
                         ids=[f"{k}-{m}-{d}" for k, m, d, _ in MULTI_ARM])
def test_flag_agrees_with_adjusted_intervals_with_several_arms(kind, method, design, options):
    """Wild (absorbed fixed effects included) and bootstrap with 3-4 arms and Holm / Bonferroni / BH: the
    multiplicity-adjusted intervals (absolute and relative) exclude 0 exactly when ``significant``."""
    rng = np.random.default_rng(zlib.crc32(f"multi{kind}{method}{design}".encode()))
    n_sig = n_rows = 0
    for rep in range(6):
        correction = ("holm", "bonferroni", "bh")[rep % 3]
        frame = _multi_arm_data(rng, kind, design, int(rng.choice([3, 4])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = compare_arms(frame, arm="arm", metric="y", kind=kind, denominator="views" if kind == "ratio" else None,
                               cluster=None if design == "iid" else "group", method=method, correction=correction,
                               seed=rep, **options)
        comp = res.comparisons
        assert comp["interval_adjusted"].all() and (comp["ci_level"] >= 0.95 - 1e-12).all()
        for _, row in comp.iterrows():
            _check(row, (kind, method, design, rep, correction))
            n_sig += bool(row["significant"])
            n_rows += 1
    assert 0 < n_sig < n_rows
