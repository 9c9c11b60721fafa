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

    def _shift(self, y, group, effects=None):
        if not self.group_effects:
            return y
        out = y.copy()
        out[:, 0] -= (self.group_effect_ if effects is None else effects)[group]
        return out

    def _log_prob(self, y, v, group, effects=None):
        """log pi_k + log N(y | mu_k, var_k + v), shape (n, k) (the 2 pi constant left out)."""
        yc = self._shift(y, group, effects)
        inv = 1.0 / (self.var_[None, :, :] + v[:, None, :])  # n, k, d
        d = yc[:, None, :] - self.mean_[None, :, :]
        return 0.5 * (np.log(inv) - d * d * inv).sum(axis=2) + np.log(self.weights_)[None, :]

    def fit(self, y, v, group, weights=None, n_groups=None) -> "RateMixture":
        y, v = self._2d(y), self._2d(v)
        group = np.asarray(group, np.int64)
        w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
        k, D = int(self.n_components), y.shape[1]
        G = int(n_groups if n_groups is not None else group.max() + 1)
        size = np.bincount(group, weights=w, minlength=G)
        n = w.sum()
        # quantile start on the rate; other columns start at their weighted mean
        order = np.argsort(y[:, 0], kind="stable")
        cum = np.cumsum(w[order]) / n
        start = y[order[np.minimum(np.searchsorted(cum, (np.arange(k) + 0.5) / k), len(y) - 1)]]
        informative = v < _MISSING_VAR / 2
        col_mean = np.array([np.average(y[informative[:, j], j], weights=w[informative[:, j]])
                             if informative[:, j].any() else 0.0 for j in range(D)])
        col_var = np.array([np.average((y[informative[:, j], j] - col_mean[j]) ** 2, weights=w[informative[:, j]])
                            if informative[:, j].any() else 1.0 for j in range(D)])
        self.mean_ = np.tile(col_mean, (k, 1))
        self.mean_[:, 0] = start[:, 0]
        self.var_ = np.tile(np.maximum(col_var / k ** 2, 0.1), (k, 1))
        self.var_[:, 1:] = np.maximum(col_var[1:], 0.1)
        self.weights_ = np.full(k, 1.0 / k)
        self.group_effect_ = np.zeros(G)
        if self.group_effects and G > 1:  # start from each group's mean log rate, shrunk by its precision
            gm = np.bincount(group, weights=w * y[:, 0], minlength=G) / np.maximum(size, 1e-12)
            centre = float(np.average(y[:, 0], weights=w))
            within = np.bincount(group, weights=w * (y[:, 0] - gm[group]) ** 2, minlength=G).sum() / n
            se2 = within / np.maximum(size, 1.0)
            tau2 = max(np.average((gm - centre) ** 2, weights=size) - np.average(se2, weights=size), 0.0)
            b0 = (gm - centre) * tau2 / (tau2 + se2)
            self.group_effect_ = np.where(size > 0, b0 - np.average(b0, weights=size), 0.0)
            y0 = y[:, 0] - self.group_effect_[group]
            order = np.argsort(y0, kind="stable")
            cum = np.cumsum(w[order]) / n
            self.mean_[:, 0] = y0[order[np.minimum(np.searchsorted(cum, (np.arange(k) + 0.5) / k), len(y) - 1)]]
        if self.warm_start is not None:  # e.g. bootstrap refits: start from the full-data fit
            ws = self.warm_start
            self.mean_, self.var_, self.weights_ = ws.mean_.copy(), ws.var_.copy(), ws.weights_.copy()
            self.group_effect_[:len(ws.group_effect_)] = ws.group_effect_[:G]
        old = -np.inf
        self.group_sd_ = 0.0
        for it in range(int(self.max_iter)):
            yc = self._shift(y, group)
            inv = 1.0 / (self.var_[None, :, :] + v[:, None, :])
            d = yc[:, None, :] - self.mean_[None, :, :]
            lp = 0.5 * (np.log(inv) - d * d * inv).sum(axis=2) + np.log(self.weights_)[None, :]
            top = lp.max(axis=1, keepdims=True)
            e = np.exp(lp - top)
            tot_e = e.sum(axis=1)
            ll = float(w @ (top[:, 0] + np.log(tot_e)))
            r = e * (w / tot_e)[:, None]  # n, k
            rk = np.maximum(r.sum(axis=0), 1e-12)
            gain = self.var_[None, :, :] * inv
            m = self.mean_[None, :, :] + gain * d  # posterior mean of the true value, per component
            s2 = gain * v[:, None, :]  # and its variance
            self.weights_ = np.maximum(rk / n, 1e-12)
            self.mean_ = np.einsum("nk,nkd->kd", r, m) / rk[:, None]
            dm = m - self.mean_[None, :, :]
            self.var_ = np.maximum(np.einsum("nk,nkd->kd", r, dm * dm + s2) / rk[:, None], self.min_var)
            if self.group_effects and G > 1:
                prec = r / (self.var_[None, :, 0] + v[:, None, 0])
                num = np.bincount(group, weights=(prec * (y[:, None, 0] - self.mean_[None, :, 0])).sum(axis=1),
                                  minlength=G)
                den = np.bincount(group, weights=prec.sum(axis=1), minlength=G)
                seen = den > 0
                b_hat = np.where(seen, num / np.where(seen, den, 1.0), 0.0)
                se2 = np.where(seen, 1.0 / np.where(seen, den, 1.0), np.inf)
                centre = np.average(b_hat[seen], weights=size[seen])
                tau2 = max(np.average((b_hat[seen] - centre) ** 2, weights=size[seen])
                           - np.average(se2[seen], weights=size[seen]), 0.0)
                b = np.where(seen, b_hat * tau2 / (tau2 + se2), 0.0)
                self.group_effect_ = b - np.average(b[seen], weights=size[seen])
                self.group_sd_ = float(np.sqrt(tau2))
            if it > 5 and ll - old < self.tol * abs(ll):
                break
            old = ll
        lp = self._log_prob(y, v, group)
        top = lp.max(axis=1)
        self.log_likelihood_ = float(w @ (top + np.log(np.exp(lp - top[:, None]).sum(axis=1)))) \
            - 0.5 * np.log(2 * np.pi) * float(w @ (v < _MISSING_VAR / 2).sum(axis=1))
        self.n_iter_ = it + 1
        self.n_ = n
        self.n_columns_ = D
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
        from scipy.special import softmax

        return softmax(self._log_prob(self._2d(y), self._2d(v), np.asarray(group, np.int64), effects), axis=1)

    def predict(self, y, v, group, effects=None) -> np.ndarray:
        return self.predict_proba(y, v, group, effects).argmax(axis=1)
