"""The rate mixture: tiers of activity on the log message rate, with Poisson measurement noise and
group effects."""
from __future__ import annotations

import numpy as np
import pandas as pd


# ==========================================================================================
# the rate mixture: tiers of activity on the log message rate
# ==========================================================================================
def message_rates(features: pd.DataFrame) -> pd.DataFrame:
    """Messages and exposure behind each member's rate, from a :func:`member_features` frame.

    Returns a frame (same rows) with ``messages`` (messages in the largest window ``W``),
    ``exposure_days`` (``min(W, observed_days)``, at least 1), ``log_rate`` =
    ``log((messages + 0.5) / exposure_days)`` and ``log_rate_var`` = ``1 / (messages + 0.5)``,
    the delta-method variance of the log of a Poisson count (the measurement noise of a
    member's rate: large for members with few messages, who are most of them).
    """
    wins = sorted(int(c.removeprefix("messages_").removesuffix("d")) for c in features.columns
                  if c.startswith("messages_") and c.endswith("d") and c[9:-1].isdigit())
    observed = features["observed_days"].astype(float).to_numpy()
    if wins:
        w = wins[-1]
        messages = features[f"messages_{w}d"].astype(float).to_numpy()
        exposure = np.clip(np.minimum(w, observed), 1.0, None)
    else:  # no window columns: messages per day over the observed days
        exposure = np.clip(observed, 1.0, None)
        messages = features["messages_per_day"].astype(float).to_numpy() * exposure
    messages = np.nan_to_num(np.clip(messages, 0.0, None))
    return pd.DataFrame({"messages": messages, "exposure_days": exposure,
                         "log_rate": np.log((messages + 0.5) / exposure), "log_rate_var": 1.0 / (messages + 0.5)},
                        index=features.index)


#: Rows per block of the EM's sums (partial sums per block, then added: fewer rounding errors than one running sum).
_CHUNK = 4096

#: Variance given to a missing measurement (e.g. no posts to read): it then carries no information.
_MISSING_VAR = 1e6


def _logit_share(successes, trials):
    """Empirical logit of successes / trials and its delta-method variance (missing where trials = 0)."""
    s = np.clip(np.nan_to_num(np.asarray(successes, float)), 0, None)
    t = np.nan_to_num(np.asarray(trials, float))
    s = np.minimum(s, t)
    ok = t > 0
    y = np.where(ok, np.log((s + 0.5) / (t - s + 0.5)), 0.0)
    v = np.where(ok, 1.0 / (s + 0.5) + 1.0 / (t - s + 0.5), _MISSING_VAR)
    return y, v


def rate_measurements(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """What the rate mixture sorts members by, with each value's measurement variance.

    Columns: ``log_rate`` (messages per observable day, see :func:`message_rates`) always;
    ``read_logit`` (posts read of posts present) and ``sign_in_logit`` (sign-in days of
    observable days) when the data have such events. Returns ``(y, v, names)`` with ``y``
    and ``v`` of shape (n_members, n_columns); a member without posts has an uninformative
    read value (variance 1e6).
    """
    rates = message_rates(features)
    ys, vs, names = [rates["log_rate"].to_numpy()], [rates["log_rate_var"].to_numpy()], ["log_rate"]
    if "read_rate" in features and features["read_rate"].notna().any() and "posts_present" in features:
        posts = features["posts_present"].astype(float).to_numpy()
        y, v = _logit_share(features["read_rate"].astype(float).to_numpy() * posts, posts)
        ys.append(y), vs.append(v), names.append("read_logit")
    sign = sorted((c for c in features.columns if c.startswith("sign_in_days_") and c.endswith("d")
                   and c[13:-1].isdigit()), key=lambda c: int(c[13:-1]))
    if sign and features[sign[-1]].notna().any():
        w = int(sign[-1][13:-1])
        days = np.clip(np.minimum(w, features["observed_days"].astype(float).to_numpy()), 1, None)
        y, v = _logit_share(features[sign[-1]].astype(float).to_numpy(), days)
        ys.append(y), vs.append(v), names.append("sign_in_logit")
    return np.column_stack(ys), np.column_stack(vs), names


class RateMixture:
    """Gaussian mixture on members' log message rates (and read / sign-in logits), with known
    measurement noise and group effects.

    The model: a member's true log message rate is ``b_group + x`` with ``x`` drawn from one
    of k normal components (the activity tiers: mean ``mu_k``, SD ``sigma_k``, share
    ``pi_k``); the observed ``log((messages + 0.5) / exposure_days)`` adds measurement noise of
    variance ``1 / (messages + 0.5)`` (Poisson counting noise, known per member). So the
    members with few messages, whose rates are noisy, do not create spurious tight
    components, and a member with 2 messages in 10 days is not placed as confidently as one
    with 60 in 90. Further columns (read and sign-in logits, when the data have them) are
    modelled the same way, independent of the rate within a component (diagonal covariance).

    ``b_group`` (``group_effects=True``) is each group's activity level, estimated with the
    tiers (a group full of core members is not mistaken for a lively group) and shrunk to 0
    by its precision (an empirical-Bayes random effect, variance estimated by moments), so
    small groups are not over-corrected and data without group differences get ``b`` = 0.

    Fitted by EM for a heteroscedastic mixture (the "extreme deconvolution" updates of Bovy,
    Hogg & Roweis 2011, per column), initialised at quantiles of the rate; variances are
    floored at ``min_var``. Works on distinct rows with ``weights`` (counts).
    ``y``, ``v``: arrays of shape (n, d) (or (n,) for the rate alone); ``group``: int codes.
    """

    def __init__(self, n_components: int, group_effects: bool = True, max_iter: int = 150, tol: float = 1e-5,
                 min_var: float = 0.01, warm_start: "RateMixture | None" = None):
        self.warm_start = warm_start
        self.n_components = n_components
        self.group_effects = group_effects
        self.max_iter = max_iter
        self.tol = tol
        self.min_var = min_var

    @staticmethod
    def _2d(a):
        a = np.asarray(a, float)
        return a[:, None] if a.ndim == 1 else a

    def _start(self, y, v, group, w, G, size, n):
        """Starting values: quantiles of the (group-centred) rate, column means and variances."""
        k, D = int(self.n_components), y.shape[1]
        order = np.argsort(y[:, 0], kind="stable")
        cum = np.cumsum(w[order]) / n
        start = y[order[np.minimum(np.searchsorted(cum, (np.arange(k) + 0.5) / k), len(y) - 1)]]
        informative = v < _MISSING_VAR / 2
        col_mean = np.array([np.average(y[informative[:, j], j], weights=w[informative[:, j]])
                             if informative[:, j].any() else 0.0 for j in range(D)])
        col_var = np.array([np.average((y[informative[:, j], j] - col_mean[j]) ** 2, weights=w[informative[:, j]])
                            if informative[:, j].any() else 1.0 for j in range(D)])
        mean = np.tile(col_mean, (k, 1))
        mean[:, 0] = start[:, 0]
        var = np.tile(np.maximum(col_var / k ** 2, 0.1), (k, 1))
        var[:, 1:] = np.maximum(col_var[1:], 0.1)
        weights = np.full(k, 1.0 / k)
        effects = np.zeros(G)
        if self.group_effects and G > 1:  # start from each group's mean log rate, shrunk by its precision
            gm = np.bincount(group, weights=w * y[:, 0], minlength=G) / np.maximum(size, 1e-12)
            centre = float(np.average(y[:, 0], weights=w))
            within = np.bincount(group, weights=w * (y[:, 0] - gm[group]) ** 2, minlength=G).sum() / n
            se2 = within / np.maximum(size, 1.0)
            tau2 = max(np.average((gm - centre) ** 2, weights=size) - np.average(se2, weights=size), 0.0)
            b0 = (gm - centre) * tau2 / (tau2 + se2)
            effects = np.where(size > 0, b0 - np.average(b0, weights=size), 0.0)
            y0 = y[:, 0] - effects[group]
            order = np.argsort(y0, kind="stable")
            cum = np.cumsum(w[order]) / n
            mean[:, 0] = y0[order[np.minimum(np.searchsorted(cum, (np.arange(k) + 0.5) / k), len(y) - 1)]]
        if self.warm_start is not None:  # e.g. bootstrap refits: start from the full-data fit
            ws = self.warm_start
            mean, var, weights = ws.mean_.copy(), ws.var_.copy(), ws.weights_.copy()
            effects[:len(ws.group_effect_)] = ws.group_effect_[:G]
        return mean, var, weights, effects

    @staticmethod
    def _em_data(y, v, group, w, G, size, n) -> dict:
        """What every EM update reads: the rate column, and the distinct variances of the rate and the
        distinct (value, variance) pairs of the other columns, which the per-update tables are built on."""
        if len(group) and (group.min() < 0 or group.max() >= G):  # the compiled passes do not check indices
            raise ValueError(f"group codes must lie in 0..{G - 1}, got {group.min()}..{group.max()}.")
        v0_codes, v0_values = pd.factorize(v[:, 0], sort=False)
        codes, pair_y, pair_v, bounds = [], [], [], [0]
        for j in range(1, y.shape[1]):
            y_codes, y_values = pd.factorize(y[:, j], sort=False)
            v_codes, v_values = pd.factorize(v[:, j], sort=False)
            pair_codes, pairs = pd.factorize(y_codes.astype(np.int64) * len(v_values) + v_codes, sort=False)
            codes.append(pair_codes.astype(np.int64) + bounds[-1])
            pair_y.append(np.asarray(y_values, float)[pairs // len(v_values)])
            pair_v.append(np.asarray(v_values, float)[pairs % len(v_values)])
            bounds.append(bounds[-1] + len(pairs))
        n_rows = len(w)
        return {"y0": np.ascontiguousarray(y[:, 0]), "v0": np.ascontiguousarray(v[:, 0]), "w": w,
                "group": group, "G": G, "size": size, "n": n,
                "v0_codes": v0_codes.astype(np.int64), "v0_values": np.asarray(v0_values, float),
                "codes": np.array(codes, dtype=np.int64).reshape(len(codes), n_rows),
                "pair_y": pair_y, "pair_v": pair_v, "bounds": bounds, "r": np.empty((n_rows, 0))}

    def _exponentials(self, data, mean, var, weights, effects):
        """The E-step's ``exp(-(dev - min dev) / 2)``, shape (rows, k) (``dev`` = -2 log(share x density)
        without the 2 pi constant) and ``min dev`` per row, from the (distinct values x components)
        tables of this update; returns them with the tables (rate column: 1 / (var + v); other
        columns: (var + v, distance, squared standardised distance) each)."""
        from groupstats.analyses.segmentation.em_kernels import log_densities

        k, D = mean.shape
        rows = len(data["w"])
        s0_tab = data["v0_values"][:, None] + var[None, :, 0]
        inv0_tab = 1.0 / s0_tab
        tables = []
        for j in range(1, D):
            s = data["pair_v"][j - 1][:, None] + var[None, :, j]
            d = data["pair_y"][j - 1][:, None] - mean[None, :, j]
            q = d * d
            q /= s
            tables.append((s, d, q))
        t_tab = np.concatenate([np.log(s) + q for s, d, q in tables]) if tables else np.zeros((1, k))
        if data["r"].shape != (rows, k):
            data["r"], data["top"] = np.empty((rows, k)), np.empty(rows)
        r_all, top = data["r"], data["top"]
        log_densities(data["y0"], data["group"], effects, bool(self.group_effects), data["v0_codes"],
                      np.log(s0_tab) - 2.0 * np.log(weights)[None, :], inv0_tab, data["codes"], t_tab,
                      np.ascontiguousarray(mean[:, 0]), r_all, top)
        np.exp(r_all, out=r_all)
        return r_all, top, inv0_tab, t_tab, tables

    def _em_step(self, data, mean, var, weights, effects):
        """One EM update from (mean, var, weights, effects): returns the updated four, the log-likelihood
        at the input parameters (2 pi constant left out) and the group-effect SD of the update.

        The passes over the rows are compiled (:mod:`.em_kernels`): what depends only on a member's
        measurement variance (the rate column) or on his (value, variance) (the read and sign-in
        columns) is looked up in (distinct values x components) tables built each update.
        The M-step's variance is computed as ``sum r g (var q + v) / r_k - delta^2``
        (``g = var / (var + v)`` the shrinkage of a member's value towards the component mean, ``q``
        the squared standardised distance of the E-step, ``delta`` the change of the mean):
        algebraically the mean squared deviation of the posterior means from the new mean plus their
        variance (Bovy et al.)."""
        from groupstats.analyses.segmentation.em_kernels import group_effect_sums, responsibility_sums

        k, D = mean.shape
        r_all, top, inv0_tab, t_tab, tables = self._exponentials(data, mean, var, weights, effects)
        r_tab = np.zeros_like(t_tab)
        ll, sums = responsibility_sums(data["y0"], data["v0"], data["w"], data["group"], effects,
                                       bool(self.group_effects), data["v0_codes"], inv0_tab, data["codes"],
                                       np.ascontiguousarray(mean[:, 0]), top, int(_CHUNK), r_all, r_tab)
        rk, sum_ud, sum_uq, sum_uv = sums
        shift, spread = np.zeros((k, D)), np.zeros((k, D))
        shift[:, 0] = sum_ud
        spread[:, 0] = var[:, 0] * sum_uq + sum_uv
        bounds = data["bounds"]
        for j, (s, d, q) in enumerate(tables, start=1):
            u = r_tab[bounds[j - 1]:bounds[j]] / s  # r / (var + v): with var, the shrinkage g = var / (var + v)
            shift[:, j] = np.einsum("mk,mk->k", u, d)  # sum r g d = var sum u d
            spread[:, j] = var[:, j] * np.einsum("mk,mk->k", u, q) + data["pair_v"][j - 1] @ u
        shift *= var
        spread *= var
        rk = np.maximum(rk, 1e-12)
        delta = shift / rk[:, None]
        new_mean = mean + delta
        new_var = np.maximum(spread / rk[:, None] - delta * delta, self.min_var)
        new_weights = np.maximum(rk / data["n"], 1e-12)
        new_effects, group_sd = effects, 0.0
        G, size = data["G"], data["size"]
        if self.group_effects and G > 1:
            num, den = group_effect_sums(data["y0"], data["v0_codes"], data["group"], r_all,
                                         1.0 / (data["v0_values"][:, None] + new_var[None, :, 0]),
                                         np.ascontiguousarray(new_mean[:, 0]), G)
            seen = den > 0
            b_hat = np.where(seen, num / np.where(seen, den, 1.0), 0.0)
            se2 = np.where(seen, 1.0 / np.where(seen, den, 1.0), np.inf)
            centre = np.average(b_hat[seen], weights=size[seen])
            tau2 = max(np.average((b_hat[seen] - centre) ** 2, weights=size[seen])
                       - np.average(se2[seen], weights=size[seen]), 0.0)
            b = np.where(seen, b_hat * tau2 / (tau2 + se2), 0.0)
            new_effects = b - np.average(b[seen], weights=size[seen])
            group_sd = float(np.sqrt(tau2))
        return new_mean, new_var, new_weights, new_effects, ll, group_sd

    def fit(self, y, v, group, weights=None, n_groups=None) -> "RateMixture":
        """Fit by EM from the quantile start (or ``warm_start``): at most ``max_iter`` updates, stopping
        (after the sixth) when the log-likelihood rose by less than ``tol`` times its size.

        With overlapping tiers EM creeps: the defaults (150 updates, ``tol`` 1e-5) then stop
        before its fixed point (on the 1M-message benchmark data, BIC within 0.2-3.5 of it for
        k = 2..8, the same components for all but 0-1 of 2,918 members at the chosen k)."""
        y, v = self._2d(y), self._2d(v)
        group = np.asarray(group, np.int64)
        w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
        G = int(n_groups if n_groups is not None else group.max() + 1)
        size = np.bincount(group, weights=w, minlength=G)
        n = w.sum()
        data = self._em_data(y, v, group, w, G, size, n)
        mean, var, wts, effects = self._start(y, v, group, w, G, size, n)
        old = -np.inf
        group_sd = 0.0
        for it in range(int(self.max_iter)):
            mean, var, wts, effects, ll, group_sd = self._em_step(data, mean, var, wts, effects)
            if it > 5 and ll - old < self.tol * abs(ll):
                break
            old = ll
        self.mean_, self.var_, self.weights_, self.group_effect_ = mean, var, wts, effects
        self.group_sd_ = group_sd
        e, top = self._exponentials(data, mean, var, wts, effects)[:2]
        self.log_likelihood_ = float(w @ (np.log(e.sum(axis=1)) - 0.5 * top)) \
            - 0.5 * np.log(2 * np.pi) * float(w @ (v < _MISSING_VAR / 2).sum(axis=1))
        self.n_iter_ = it + 1
        self.n_ = n
        self.n_columns_ = y.shape[1]
        return self

    def n_parameters(self) -> int:
        """Free parameters compared across k: means and variances per column, and shares (the
        group effects are common to every k)."""
        return int(self.n_components) * (2 * self.n_columns_ + 1) - 1

    def bic(self) -> float:
        return -2.0 * self.log_likelihood_ + self.n_parameters() * np.log(self.n_)

    def predict_proba(self, y, v, group, effects=None) -> np.ndarray:
        """Posterior probability of each component, shape (n, k); ``effects`` overrides the
        fitted group effects (e.g. with 0 appended for groups not seen in the fit)."""
        e = self._densities(y, v, group, effects)
        e /= e.sum(axis=1)[:, None]
        return e

    def _densities(self, y, v, group, effects=None) -> np.ndarray:
        """Share x density of each component relative to the largest, shape (n, k), at the fitted parameters."""
        y, v = self._2d(y), self._2d(v)
        effects = self.group_effect_ if effects is None else np.asarray(effects, float)
        data = self._em_data(y, v, np.asarray(group, np.int64), np.ones(len(y)), len(effects), None, None)
        return self._exponentials(data, self.mean_, self.var_, self.weights_, effects)[0]

    def predict(self, y, v, group, effects=None) -> np.ndarray:
        return self._densities(y, v, group, effects).argmax(axis=1)
