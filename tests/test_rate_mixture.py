"""The rate mixture's EM: the compiled passes over the rows (em_kernels: per-update tables of what depends
only on a member's variance, or value and variance, and sums per block of rows) are the same EM as before.

`_reference_fit` is the EM of groupstats 48a9776 verbatim ((rows x components x columns) arrays,
the M-step variance as the mean squared deviation of the posterior means plus their variance).
The fitted model must reach the same iterate (same number of updates, parameters to 1e-9) on
simulated communities that vary the seed, the number of tiers, columns, groups and counts, with
group effects on and off, warm starts, uninformative values and several row blocks.
"""
from __future__ import annotations

import numpy as np
import pytest

import groupstats.analyses.segmentation.rate_mixture as rate_mixture
from groupstats.analyses.segmentation import MemberSegmentation, RateMixture, _MISSING_VAR


def _reference_fit(model, y, v, group, w, G, max_iter, tol):
    """The EM loop of RateMixture.fit at 48a9776, from the same start; returns
    (mean, var, weights, group_effect, group_sd, log_likelihood, n_iter)."""
    k = model.n_components
    n = w.sum()
    size = np.bincount(group, weights=w, minlength=G)
    mean, var, weights, effects = model._start(y, v, group, w, G, size, n)

    def log_prob(mean, var, weights, effects):
        yc = y.copy()
        if model.group_effects:
            yc[:, 0] -= effects[group]
        inv = 1.0 / (var[None, :, :] + v[:, None, :])
        d = yc[:, None, :] - mean[None, :, :]
        return 0.5 * (np.log(inv) - d * d * inv).sum(axis=2) + np.log(weights)[None, :]

    old, group_sd = -np.inf, 0.0
    for it in range(max_iter):
        yc = y.copy()
        if model.group_effects:
            yc[:, 0] -= effects[group]
        inv = 1.0 / (var[None, :, :] + v[:, None, :])
        d = yc[:, None, :] - mean[None, :, :]
        lp = 0.5 * (np.log(inv) - d * d * inv).sum(axis=2) + np.log(weights)[None, :]
        top = lp.max(axis=1, keepdims=True)
        e = np.exp(lp - top)
        tot_e = e.sum(axis=1)
        ll = float(w @ (top[:, 0] + np.log(tot_e)))
        r = e * (w / tot_e)[:, None]
        rk = np.maximum(r.sum(axis=0), 1e-12)
        gain = var[None, :, :] * inv
        m = mean[None, :, :] + gain * d
        s2 = gain * v[:, None, :]
        weights = np.maximum(rk / n, 1e-12)
        mean = np.einsum("nk,nkd->kd", r, m) / rk[:, None]
        dm = m - mean[None, :, :]
        var = np.maximum(np.einsum("nk,nkd->kd", r, dm * dm + s2) / rk[:, None], model.min_var)
        if model.group_effects and G > 1:
            prec = r / (var[None, :, 0] + v[:, None, 0])
            num = np.bincount(group, weights=(prec * (y[:, None, 0] - mean[None, :, 0])).sum(axis=1), minlength=G)
            den = np.bincount(group, weights=prec.sum(axis=1), minlength=G)
            seen = den > 0
            b_hat = np.where(seen, num / np.where(seen, den, 1.0), 0.0)
            se2 = np.where(seen, 1.0 / np.where(seen, den, 1.0), np.inf)
            centre = np.average(b_hat[seen], weights=size[seen])
            tau2 = max(np.average((b_hat[seen] - centre) ** 2, weights=size[seen])
                       - np.average(se2[seen], weights=size[seen]), 0.0)
            b = np.where(seen, b_hat * tau2 / (tau2 + se2), 0.0)
            effects = b - np.average(b[seen], weights=size[seen])
            group_sd = float(np.sqrt(tau2))
        if it > 5 and ll - old < tol * abs(ll):
            break
        old = ll
    lp = log_prob(mean, var, weights, effects)
    top = lp.max(axis=1)
    log_lik = float(w @ (top + np.log(np.exp(lp - top[:, None]).sum(axis=1)))) \
        - 0.5 * np.log(2 * np.pi) * float(w @ (v < _MISSING_VAR / 2).sum(axis=1))
    return mean, var, weights, effects, group_sd, log_lik, it + 1


def _community(seed, n_members, n_tiers, n_groups, n_columns, group_sd, missing_share=0.2):
    """Members of planted tiers: Poisson message counts over exposures with group effects, and
    binomial shares (read, sign-in) as logits, some missing; returns distinct-row style inputs."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_members)
    tier = rng.integers(0, n_tiers, n_members)
    log_rate = np.linspace(-3.0, 1.5, n_tiers)[tier] + rng.normal(0, group_sd, n_groups)[group] \
        + rng.normal(0, 0.35, n_members)
    exposure = rng.integers(5, 91, n_members).astype(float)
    messages = rng.poisson(np.exp(log_rate) * exposure).astype(float)
    ys, vs = [np.log((messages + 0.5) / exposure)], [1.0 / (messages + 0.5)]
    for _ in range(n_columns - 1):
        trials = rng.integers(0, 40, n_members).astype(float)
        trials[rng.random(n_members) < missing_share] = 0
        p = 1 / (1 + np.exp(-(np.linspace(-2, 2, n_tiers)[tier] + rng.normal(0, 0.5, n_members))))
        s = rng.binomial(trials.astype(int), p).astype(float)
        ok = trials > 0
        ys.append(np.where(ok, np.log((s + 0.5) / (trials - s + 0.5)), 0.0))
        vs.append(np.where(ok, 1 / (s + 0.5) + 1 / (trials - s + 0.5), _MISSING_VAR))
    weights = rng.integers(1, 4, n_members).astype(float)  # counts of identical members
    return np.column_stack(ys), np.column_stack(vs), group, weights


CASES = [  # seed, members, tiers, groups, columns, group SD, k, group effects
    (0, 900, 3, 12, 3, 0.5, 3, True),
    (1, 1500, 5, 40, 3, 1.0, 6, True),
    (2, 700, 4, 1, 2, 0.0, 4, True),  # one group: no group effects to estimate
    (3, 1200, 4, 25, 1, 0.8, 5, False),  # the rate alone, pooled
    (4, 2000, 6, 60, 2, 0.3, 8, True),  # more components than the data hold
]


@pytest.mark.parametrize("seed,n_members,n_tiers,n_groups,n_columns,group_sd,k,effects", CASES)
def test_blocked_em_reaches_the_same_iterate_as_the_previous_em(monkeypatch, seed, n_members, n_tiers, n_groups,
                                                                n_columns, group_sd, k, effects):
    y, v, group, w = _community(seed, n_members, n_tiers, n_groups, n_columns, group_sd)
    monkeypatch.setattr(rate_mixture, "_CHUNK", 256)  # several row blocks and a remainder
    model = RateMixture(k, group_effects=effects).fit(y, v, group, w, n_groups=n_groups)
    mean, var, weights, b, group_sd_ref, log_lik, n_iter = _reference_fit(model, y, v, group, w, n_groups,
                                                                         model.max_iter, model.tol)
    assert model.n_iter_ == n_iter
    np.testing.assert_allclose(model.mean_, mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.var_, var, rtol=1e-9, atol=0)
    np.testing.assert_allclose(model.weights_, weights, rtol=0, atol=1e-11)
    np.testing.assert_allclose(model.group_effect_, b, rtol=0, atol=1e-9)
    assert model.group_sd_ == pytest.approx(group_sd_ref, abs=1e-10)
    assert model.log_likelihood_ == pytest.approx(log_lik, rel=1e-12)
    # the same members in the same components, with the same probabilities
    yc = y.copy()
    if effects:
        yc[:, 0] -= b[group]
    inv = 1.0 / (var[None] + v[:, None])
    d = yc[:, None] - mean[None]
    lp = 0.5 * (np.log(inv) - d * d * inv).sum(axis=2) + np.log(weights)
    proba = np.exp(lp - lp.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(y, v, group), proba, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(model.predict(y, v, group), proba.argmax(axis=1))
    # a bootstrap-style refit from the fitted model (warm start) follows the same path too
    rows = np.random.default_rng(seed + 100).integers(0, len(y), len(y))
    counts = np.bincount(rows, minlength=len(y)).astype(float)
    keep = counts > 0
    refit = RateMixture(k, group_effects=effects, warm_start=model).fit(y[keep], v[keep], group[keep], counts[keep],
                                                                      n_groups=n_groups)
    ref = _reference_fit(refit, y[keep], v[keep], group[keep], counts[keep], n_groups, refit.max_iter, refit.tol)
    assert refit.n_iter_ == ref[6]
    np.testing.assert_allclose(refit.mean_, ref[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(refit.var_, ref[1], rtol=1e-9, atol=0)


def test_blocked_em_stays_on_the_previous_path_over_many_updates():
    """Rounding differences (blocked sums) do not build up: 600 updates without the stopping rule."""
    y, v, group, w = _community(7, 1000, 4, 20, 3, 0.6)
    model = RateMixture(4, max_iter=600, tol=-np.inf).fit(y, v, group, w, n_groups=20)
    mean, var, weights, b, _, log_lik, n_iter = _reference_fit(model, y, v, group, w, 20, 600, -np.inf)
    assert model.n_iter_ == n_iter == 600
    np.testing.assert_allclose(model.mean_, mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.var_, var, rtol=1e-8, atol=0)
    np.testing.assert_allclose(model.group_effect_, b, rtol=0, atol=1e-8)
    assert model.log_likelihood_ == pytest.approx(log_lik, rel=1e-11)


def test_segmentation_result_does_not_depend_on_row_blocks_or_threads(monkeypatch, small_sim):
    """The whole estimator (choice of k, labels, bootstrap stability): one block per fit and the fits
    in turn, against blocks of 64 rows and the fits on two threads."""
    from groupstats.analyses.segmentation import estimator
    from groupstats.tables.features import member_features

    feats = member_features(small_sim[0])
    monkeypatch.setattr(rate_mixture, "_CHUNK", 10 ** 9)
    monkeypatch.setattr(estimator, "_THREADS", 1)
    one = MemberSegmentation(n_bootstrap=4, random_state=3).fit(feats)
    monkeypatch.setattr(rate_mixture, "_CHUNK", 64)
    monkeypatch.setattr(estimator, "_THREADS", 2)
    blocked = MemberSegmentation(n_bootstrap=4, random_state=3).fit(feats)
    assert one.k_ == blocked.k_
    np.testing.assert_array_equal(one.labels_, blocked.labels_)
    np.testing.assert_allclose(one.selection_["score"], blocked.selection_["score"], rtol=1e-12)
    assert one.stability_ == blocked.stability_


def test_group_codes_outside_the_groups_are_refused():
    """The compiled passes do not check indices: a group code beyond n_groups (or negative) is an error."""
    y, v, group, w = _community(5, 300, 3, 6, 2, 0.4)
    with pytest.raises(ValueError, match="group codes"):
        RateMixture(3).fit(y, v, group, w, n_groups=3)
    model = RateMixture(3).fit(y, v, group, w, n_groups=6)
    with pytest.raises(ValueError, match="group codes"):
        model.predict(y, v, np.where(group == 0, -1, group))
    with pytest.raises(ValueError, match="group codes"):
        model.predict(y, v, group, effects=model.group_effect_[:5])
