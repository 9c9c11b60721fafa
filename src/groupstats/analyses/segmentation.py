"""Member segmentation: the segments the data contain, chosen, checked for stability and named.

:class:`MemberSegmentation` is a scikit-learn style estimator fitted on the
member features of :func:`groupstats.tables.features.member_features` (data up to a
cutoff only). Its default, shared by the library, ``groupstats segment`` and the
notebook (:data:`DEFAULT_METHOD`), is the **rate mixture** (:class:`RateMixture`): a
Gaussian mixture on each member's log message rate (and read / sign-in logits when the
data have them) with each value's known measurement noise and an empirical-Bayes level
per group, k chosen by BIC; the result reports the evidence for the chosen k and the
runner-up (:func:`k_evidence`). On a grid of simulated communities (3-6 tiers, weak to
strong overlap, no to strong group effects, 10-120 groups; docs/segmentation.md) it
recovered the planted tiers with mean adjusted Rand index 0.58, against 0.43 for k-means
given the true k and 0.40 for k-means with silhouette (which picks k = 2).

The alternatives ``method="gmm"`` and ``method="kmeans"`` use this pipeline:

1. **prepare** (:class:`MemberFeaturePreparer`): pick the segmentation columns
   (default :data:`SEGMENT_COLUMNS`), fill documented gaps (a member who never
   sent a message has ``recency_days`` = the days he was observed; shares and
   trend of members without messages are 0), then either

   - ``features="within_group"`` (default): percentile ranks within each
     member's group, so a member is "active" relative to his own group, or
   - ``features="raw"``: ``log1p`` of the heavy-tailed counts and rates;

2. **scale** (``StandardScaler``);
3. **cluster**: ``KMeans`` (k chosen by the silhouette score) or a Gaussian
   mixture (k chosen by BIC).

Why within-group by default: groups differ a lot in activity (a factor of
several between a lively and a quiet group). Pooled raw features then sort
*groups* (every member of a lively group looks "active"), while operators act on
members relative to their group. Within-group ranks remove the group level; the
raw option is there for pooled comparisons across groups.

Ties. Many members are silent and share identical feature values. KMeans is fitted
on the distinct rows with their counts as sample weights (the same solution as on
all rows, faster). A Gaussian mixture can put a component on a point mass of
identical rows, where its likelihood grows without bound and the BIC keeps
falling with k; we add a small documented jitter (``jitter`` standard deviations,
default 0.05) to tied rows and floor the covariance (``reg_covar=0.01``), and if
the BIC still falls up to the largest k, we take the knee (the smallest k after
which further decreases are below 10% of the total decrease) and say so.

Stability: the model is refitted with the chosen k on ``n_bootstrap`` bootstrap
resamples of members, each refit labels every member, and the adjusted Rand index
(ARI) with the full-data labels is reported (1 = identical partitions).

Segments are profiled (size, share, medians of the raw features) and named in
plain words from their profile ("core contributors", "silent readers" ...),
ordered from most to least engaged by an engagement score (the mean percentile of
messages per day, active-day share, recency (reversed), read rate and sign-in rate).

Degenerate inputs: a cutoff before any data raises
:class:`~groupstats.errors.InsufficientDataError` (from the features); fewer than
3 distinct feature rows (e.g. all members silent) raises
:class:`~groupstats.errors.InsufficientDataError`; groups with fewer than
``MIN_GROUP_SIZE`` members give a :class:`~groupstats.errors.StatisticalWarning`
in within-group mode (their ranks are coarse: 1/3, 2/3, 1 for 3 members).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError, StatisticalWarning
from groupstats.tables.features import KEY_COLUMNS, features_within_group, member_features
from groupstats.results import Result, to_jsonable

#: Default columns used to segment members (engagement, not time-of-day habits).
#: Chosen on simulations with planted tiers: adding trend, reply shares or replies per post
#: (noisy for members with few messages) lowered the recovery of the tiers.
SEGMENT_COLUMNS = ("messages_per_day", "active_day_share", "recency_days", "read_rate", "sign_in_rate")
#: Columns transformed with log1p in raw mode (heavy-tailed, non-negative).
LOG_COLUMNS = ("messages_per_day", "recency_days", "replies_per_post")
#: Columns of the engagement score (sign: +1 more engaged when larger).
ENGAGEMENT = {"messages_per_day": 1, "active_day_share": 1, "recency_days": -1, "read_rate": 1,
              "sign_in_rate": 1}
#: Clustering methods: the rate mixture (default), a Gaussian mixture or KMeans on the segmentation columns.
METHODS = ("rate_mixture", "gmm", "kmeans")
#: THE default method, shared by the library, ``groupstats segment`` and the notebook: a mixture on
#: the log message rate with Poisson measurement noise and group effects, k by BIC. On the grid of
#: simulated communities in docs/segmentation.md it recovered planted tiers far better than KMeans
#: with silhouette (which favours k = 2) or a mixture on within-group ranks.
DEFAULT_METHOD = "rate_mixture"
#: Smallest and largest k tried by ``k="auto"``.
DEFAULT_K_RANGE = (2, 8)
#: Groups smaller than this give coarse within-group ranks (a warning).
MIN_GROUP_SIZE = 10
#: Profile columns shown per segment (medians).
PROFILE_COLUMNS = ("messages_per_day", "active_day_share", "messages_30d", "recency_days", "trend",
                   "share_replies", "replies_per_post", "read_rate", "sign_in_rate", "share_evening",
                   "tenure_days")


def add_derived_columns(features: pd.DataFrame) -> pd.DataFrame:
    """Add ``sign_in_rate`` (sign-in days per observable day of the largest window) and
    ``recency_filled`` (recency with never-active members set to their observed days)."""
    out = features.copy()
    sign_cols = [c for c in out.columns if c.startswith("sign_in_days_")]
    if "sign_in_rate" not in out and sign_cols:
        col = sign_cols[-1]
        w = int(col.removeprefix("sign_in_days_").removesuffix("d"))
        out["sign_in_rate"] = out[col] / np.minimum(w, out["observed_days"]).clip(lower=1)
    elif "sign_in_rate" not in out:
        out["sign_in_rate"] = np.nan
    return out


def _fill(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Documented gap filling before clustering (see the module docstring)."""
    values = frame[list(columns)].astype(float).copy()
    if "recency_days" in values:
        never = values["recency_days"].isna()
        values.loc[never, "recency_days"] = frame.loc[never, "observed_days"].astype(float)
    return values.fillna(0.0)


class MemberFeaturePreparer(BaseEstimator, TransformerMixin):
    """Select, fill and transform member features into a numeric matrix.

    Parameters
    ----------
    columns : sequence of str or None
        Feature columns to use (default :data:`SEGMENT_COLUMNS`); columns that are
        all NaN at fit time (e.g. read_rate without events) are dropped.
    within_group : bool
        Percentile ranks within group (True) or log1p of heavy-tailed columns (False).

    ``transform`` takes a DataFrame from :func:`member_features` (with group_id)
    and returns an ndarray of shape (n_members, n_columns_used).
    """

    def __init__(self, columns=None, within_group=True):
        self.columns = columns
        self.within_group = within_group

    def fit(self, X, y=None):
        X = add_derived_columns(X)
        wanted = list(self.columns) if self.columns is not None else list(SEGMENT_COLUMNS)
        unknown = [c for c in wanted if c not in X.columns]
        if unknown:
            raise ParameterError(f"Unknown feature column(s) {unknown}; use columns of member_features().")
        self.dropped_ = [c for c in wanted if X[c].isna().all()]
        self.columns_ = [c for c in wanted if c not in self.dropped_]
        if not self.columns_:
            raise InsufficientDataError("No usable feature column (all are empty); check the data.")
        return self

    def transform(self, X):
        if not hasattr(self, "columns_"):
            raise NotFittedError("MemberFeaturePreparer is not fitted; call fit first.")
        X = add_derived_columns(X)
        values = _fill(X, self.columns_)
        if self.within_group:
            frame = pd.concat([X[["group_id"]].reset_index(drop=True), values.reset_index(drop=True)], axis=1)
            ranked = features_within_group(frame, columns=self.columns_)
            return ranked[self.columns_].to_numpy(dtype=float)
        for col in self.columns_:
            if col in LOG_COLUMNS:
                values[col] = np.log1p(values[col].clip(lower=0))
        return values.to_numpy(dtype=float)


def engagement_score(features: pd.DataFrame) -> np.ndarray:
    """Per member: mean percentile (over all members) of the :data:`ENGAGEMENT` columns.

    Recency counts reversed (recent = engaged); columns that are all NaN are skipped.
    Returns an array in [0, 1] of shape (n_members,).
    """
    feats = add_derived_columns(features)
    parts = []
    cols = [c for c in ENGAGEMENT if c in feats and not feats[c].isna().all()]
    filled = _fill(feats, cols)
    for col in cols:
        r = filled[col].rank(pct=True).to_numpy()
        parts.append(r if ENGAGEMENT[col] > 0 else 1 - r + 1 / len(r))
    return np.mean(parts, axis=0)


def name_segments(profiles: pd.DataFrame, overall: pd.Series) -> list[str]:
    """Plain-words names from segment medians (rows of ``profiles``) vs overall medians.

    Rules, in order: no messages -> "silent readers" (read rate at least the overall
    median) or "silent"; last message 30+ days ago -> "lapsed"; falling trend (median
    <= -0.4) -> "fading contributors"; otherwise by messages per day relative to the
    overall distribution: "core", "active", "occasional" or "rare contributors".
    Duplicate names get a qualifier from their most distinctive feature, then a number.
    """
    names = []
    for _, row in profiles.iterrows():
        mpd = row.get("messages_per_day", np.nan)
        read = row.get("read_rate", np.nan)
        if not mpd > 0:
            if "read_rate" in row and read >= overall.get("read_rate", np.inf):
                names.append("silent readers")
            else:
                names.append("silent")
        elif row.get("recency_days", 0) >= 30:
            names.append("lapsed")
        elif row.get("trend", 0) <= -0.4:
            names.append("fading contributors")
        else:
            q = row["_mpd_pct"]
            names.append("core contributors" if q >= 0.85 else "active contributors" if q >= 0.6 else
                         "occasional contributors" if q >= 0.3 else "rare contributors")
    qualifiers = {"share_replies": "repliers", "read_rate": "readers", "sign_in_rate": "sign-in",
                  "share_evening": "evening", "trend": "rising", "tenure_days": "long-standing"}
    counts = pd.Series(names).value_counts()
    out = list(names)
    for name in counts.index[counts > 1]:
        idx = [i for i, n in enumerate(names) if n == name]
        used = set()
        for i in idx:
            row = profiles.iloc[i]
            best, best_gap = None, 0.0
            for col, word in qualifiers.items():
                if col in row and col in overall and word not in used:
                    others = profiles.iloc[idx][col].astype(float)
                    gap = float(row[col]) - float(others.median())
                    scale = float(profiles[col].astype(float).std()) or 1.0
                    if gap / scale > best_gap:
                        best, best_gap = word, gap / scale
            if best is not None:
                used.add(best)
                out[i] = f"{name} ({best})"
    counts = pd.Series(out).value_counts()
    for name in counts.index[counts > 1]:
        k = 0
        for i, n in enumerate(out):
            if n == name:
                k += 1
                out[i] = f"{name} {k}"
    return out



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


def _bic_strength(delta: float) -> str:
    """Kass & Raftery (1995) scale for a BIC difference (2 x log Bayes factor)."""
    return ("barely worth mentioning" if delta < 2 else "positive" if delta < 6 else "strong" if delta < 10
            else "very strong")


def k_evidence(table: pd.DataFrame, chosen: int) -> dict:
    """The evidence for the chosen k and the runner-up, from a selection table (k, criterion, score).

    For BIC (lower is better) the runner-up is the k with the next lowest BIC; ``delta``
    is its BIC minus the chosen one, read on the Kass & Raftery scale (0-2 barely worth
    mentioning, 2-6 positive, 6-10 strong, > 10 very strong evidence for the chosen k), and
    ``weights`` are the two models' BIC weights ``exp(-BIC/2)`` normalised over the pair
    (approximate posterior probabilities between them). For the silhouette (higher is
    better) the runner-up has the next highest score and ``delta`` is the chosen score minus it.

    Returns
    -------
    dict: criterion, chosen {k, score}, runner_up {k, score} or None, delta, strength,
    weights (BIC only), text.
    """
    table = table.dropna(subset=["score"])
    criterion = str(table["criterion"].iloc[0]) if len(table) else None
    row = table.loc[table["k"] == chosen]
    out = {"criterion": criterion, "chosen": {"k": int(chosen), "score": float(row["score"].iloc[0])
                                              if len(row) else None}, "runner_up": None, "text": ""}
    others = table.loc[table["k"] != chosen]
    if not len(others) or not len(row):
        return out
    lower_better = criterion == "bic"
    other = others.loc[others["score"].idxmin() if lower_better else others["score"].idxmax()]
    k2, s1, s2 = int(other["k"]), float(row["score"].iloc[0]), float(other["score"])
    out["runner_up"] = {"k": k2, "score": s2}
    if lower_better:
        delta = s2 - s1
        w = 1.0 / (1.0 + np.exp(-0.5 * delta)) if delta > -700 else 0.0
        out.update(delta=delta, strength=_bic_strength(delta) if delta >= 0 else "against (the knee was taken)",
                   weights={str(chosen): w, str(k2): 1.0 - w})
        out["text"] = (f"Runner-up k = {k2}: BIC higher by {delta:.1f} ({out['strength']} evidence for k = {chosen} "
                       f"on the Kass-Raftery scale; BIC weights {w:.2f} vs {1 - w:.2f})."
                       if delta >= 0 else f"k = {k2} has a BIC lower by {-delta:.1f}.")
    else:
        delta = s1 - s2
        out.update(delta=delta, strength=None)
        out["text"] = (f"Runner-up k = {k2}: silhouette {s2:.3f} ({delta:.3f} lower); silhouette favours k = 2 "
                       f"on overlapping tiers, so prefer method='{DEFAULT_METHOD}'.")
    return out


class MemberSegmentation(BaseEstimator):
    """Segment members from their activity features (scikit-learn style).

    Parameters
    ----------
    method : {"rate_mixture", "gmm", "kmeans"} or "default"
        ``rate_mixture`` (the default, :data:`DEFAULT_METHOD`): :class:`RateMixture` on the
        log message rate, k by BIC; ``gmm``: Gaussian mixture on the scaled segmentation
        columns, k by BIC; ``kmeans``: KMeans on them, k by silhouette (which favours k = 2:
        kept for comparison). ``"default"`` (or None) means :data:`DEFAULT_METHOD`.
    k : "auto" or int
        Number of segments; "auto" selects it over ``k_range``.
    k_range : (int, int)
        Smallest and largest k tried by "auto" (inclusive), default :data:`DEFAULT_K_RANGE`.
    features : {"within_group", "raw"}
        Relative to the member's group (default) or pooled. For ``rate_mixture``: with or
        without group effects in the model; for ``gmm``/``kmeans``: within-group percentile
        ranks or pooled raw values (log1p).
    columns : sequence of str, optional
        Feature columns (default :data:`SEGMENT_COLUMNS`).
    n_bootstrap : int
        Bootstrap refits for the stability ARI (0 to skip).
    jitter : float
        Standard deviation (in scaled units) of the noise added to tied rows for the
        Gaussian mixture only.
    random_state : int or None

    Attributes (after fit)
    ----------------------
    method_ : str, the method used (``"default"`` resolved)
    k_ : int
    selection_ : DataFrame (k, criterion, score, selected; for the rate mixture also
        log_likelihood, n_parameters, delta_bic, bic_weight)
    evidence_ : dict, the score of the chosen k and of the runner-up (see :func:`k_evidence`)
    selection_note_ : str
    labels_ : ndarray of int, shape (n_members,): segment 0 = most engaged
    segment_names_ : list of str, by segment number
    profiles_ : DataFrame, one row per segment
    stability_ : dict (mean, low, high ARI over bootstrap refits, n)
    pipeline_ : sklearn Pipeline (prepare + scale)
    model_ : the fitted clustering model
    log_rate_ : ndarray (n_members,), the member's log message rate net of his group's
        effect (rate mixture only; what the mixture sorts)
    features_ : the fitted feature frame (keys + features)
    """

    def __init__(self, method=DEFAULT_METHOD, k="auto", k_range=DEFAULT_K_RANGE, features="within_group", columns=None,
                 n_bootstrap=20, jitter=0.05, random_state=0):
        self.method = method
        self.k = k
        self.k_range = k_range
        self.features = features
        self.columns = columns
        self.n_bootstrap = n_bootstrap
        self.jitter = jitter
        self.random_state = random_state

    # ---- helpers -------------------------------------------------------------------------
    def _check_params(self):
        method = DEFAULT_METHOD if self.method in (None, "default") else self.method
        if method not in METHODS:
            raise ParameterError(f"method must be one of {', '.join(METHODS)} (or 'default' = {DEFAULT_METHOD}), "
                                 f"not {self.method!r}.")
        self.method_ = method
        if self.features not in ("within_group", "raw"):
            raise ParameterError(f"features must be 'within_group' or 'raw', not {self.features!r}.")
        if self.k != "auto":
            try:
                k = int(self.k)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"k must be 'auto' or a whole number >= 2, not {self.k!r}.") from exc
            if k < 2:
                raise ParameterError(f"k must be at least 2, got {self.k!r}.")
        lo, hi = (int(v) for v in self.k_range)
        if lo < 2 or hi < lo:
            raise ParameterError(f"k_range must be (low, high) with 2 <= low <= high, got {self.k_range!r}.")

    def _new_model(self, k: int, seed, n_init: int):
        if self.method_ == "rate_mixture":
            return RateMixture(k, group_effects=self.features == "within_group",
                               warm_start=getattr(self, "model_", None) if getattr(self, "_boot", False) else None)
        if self.method_ == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(n_clusters=k, n_init=n_init, random_state=seed)
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-2, n_init=n_init,
                               random_state=seed)

    def _fit_model(self, k, Z, seed, n_init=4, rows=None):
        """Fit on rows ``rows`` of the scaled matrix (all if None); KMeans on distinct rows with weights.

        The rate mixture is fitted on the distinct (messages, exposure, group) rows with their
        counts as weights (``rows`` become resampling counts)."""
        model = self._new_model(k, seed, n_init)
        if self.method_ == "rate_mixture":
            r = self._rates
            w = r["weights"] if rows is None else np.bincount(r["inverse"][rows], minlength=len(r["y"]))
            keep = w > 0
            return model.fit(r["y"][keep], r["v"][keep], r["group"][keep], w[keep], n_groups=r["n_groups"])
        data = Z if rows is None else Z[rows]
        if self.method_ == "kmeans":
            uniq, counts = np.unique(data, axis=0, return_counts=True)
            model.fit(uniq, sample_weight=counts)
        else:
            model.fit(data)
        return model

    def _select_k(self, Z, rng):
        lo, hi = (int(v) for v in self.k_range)
        n_unique = len(np.unique(Z, axis=0)) if self.method_ != "rate_mixture" else len(self._rates["y"])
        hi = min(hi, n_unique - 1)
        if hi < lo:
            raise InsufficientDataError(
                f"Only {n_unique} distinct member profiles: too few to choose among {self.k_range} segments. "
                "Use more members, a later cutoff, or a smaller k_range.")
        rows = []
        seed = int(rng.integers(2 ** 31))
        if self.method_ == "rate_mixture":
            fits = {}
            for k in range(lo, hi + 1):
                model = self._fit_model(k, Z, seed)
                fits[k] = model
                rows.append({"k": k, "criterion": "bic", "score": model.bic(),
                             "log_likelihood": model.log_likelihood_, "n_parameters": model.n_parameters()})
            table = pd.DataFrame(rows)
            table["delta_bic"] = table["score"] - table["score"].min()
            rel = np.exp(-0.5 * table["delta_bic"].to_numpy())
            table["bic_weight"] = rel / rel.sum()
            best = int(table.loc[table["score"].idxmin(), "k"])
            self._selection_fits = fits
            note = f"k = {best} has the lowest BIC."
            if best == table["k"].max() and len(table) >= 2:
                note += (f" The BIC still falls at the largest k tried ({best}): there may be more tiers than "
                         f"k_range allows, or members that no few tiers describe; try a larger k_range.")
                warnings.warn(note, StatisticalWarning, stacklevel=3)
        elif self.method_ == "kmeans":
            from sklearn.metrics import silhouette_score

            sample = min(len(Z), 3000)
            for k in range(lo, hi + 1):
                labels = self._fit_model(k, Z, seed).predict(Z)
                score = silhouette_score(Z, labels, sample_size=sample if sample < len(Z) else None,
                                         random_state=seed) if len(np.unique(labels)) > 1 else np.nan
                rows.append({"k": k, "criterion": "silhouette", "score": float(score)})
            table = pd.DataFrame(rows)
            best = int(table.loc[table["score"].idxmax(), "k"])
            note = f"k = {best} has the highest silhouette score ({table['score'].max():.3f})."
        else:
            for k in range(lo, hi + 1):
                model = self._fit_model(k, Z, seed, n_init=2)
                rows.append({"k": k, "criterion": "bic", "score": float(model.bic(Z))})
            table = pd.DataFrame(rows)
            best = int(table.loc[table["score"].idxmin(), "k"])
            note = f"k = {best} has the lowest BIC."
            if best == table["k"].max() and len(table) >= 3:
                bic = table["score"].to_numpy()
                total = bic[0] - bic[-1]
                remaining = bic - bic[-1]
                knee = int(table["k"].to_numpy()[np.argmax(remaining <= 0.1 * total)])
                note = (f"The BIC still falls at the largest k tried ({best}), which signals components "
                        f"fitted to ties or noise rather than segments; k = {knee} is the knee (further "
                        f"decreases are below 10% of the total).")
                warnings.warn(note, StatisticalWarning, stacklevel=3)
                best = knee
        table["selected"] = table["k"] == best
        evidence = k_evidence(table, best)
        if evidence.get("runner_up") is not None:
            note += " " + evidence["text"]
        self.evidence_ = evidence
        return best, table, note

    # ---- public API ------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None):
        """Fit on a feature frame from :func:`member_features` (raw values, one row per member).

        Runs single-threaded (``threadpoolctl``): on small matrices OpenMP threads cost far
        more than they save, especially on a busy machine.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self._fit(X)

    def _fit(self, X: pd.DataFrame):
        from sklearn.metrics import adjusted_rand_score
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        self._check_params()
        if not isinstance(X, pd.DataFrame) or "group_id" not in X:
            raise ParameterError("fit expects the DataFrame returned by member_features() (with group_id).")
        if X.attrs.get("normalised"):
            raise ParameterError("Pass raw member features (normalise_within_group=False); "
                                 "use features='within_group' to rank them within groups.")
        if len(X) < 3:
            raise InsufficientDataError(f"Only {len(X)} members: segmentation needs at least 3.")
        within = self.features == "within_group"
        if within and self.method_ != "rate_mixture":  # the rate mixture shrinks small groups' effects
            sizes = X.groupby("group_id").size()
            small = sizes[sizes < MIN_GROUP_SIZE]
            if len(small):
                warnings.warn(f"{len(small)} group(s) have fewer than {MIN_GROUP_SIZE} members (smallest: "
                              f"{int(small.min())}); their within-group ranks are coarse.", StatisticalWarning,
                              stacklevel=2)
        self.pipeline_ = Pipeline([("prepare", MemberFeaturePreparer(self.columns, within)),
                                   ("scale", StandardScaler())])
        Z = self.pipeline_.fit_transform(X)
        n_unique = len(np.unique(Z, axis=0))
        if n_unique < 3:
            raise InsufficientDataError(
                f"The {len(X)} members have only {n_unique} distinct feature profile(s) (e.g. all are silent): "
                "there is nothing to segment. Use a later cutoff or more data.")
        rng = np.random.default_rng(self.random_state)
        if self.method_ == "rate_mixture":
            self._rates = self._rate_data(X)
            n_unique = len(self._rates["y"])
            if n_unique < 3:
                raise InsufficientDataError(
                    f"The {len(X)} members have only {n_unique} distinct message counts and exposures: there is "
                    "nothing to segment by rate. Use a later cutoff, more data, or method='gmm'.")
        if self.method_ == "gmm" and self.jitter:
            _, inverse, counts = np.unique(Z, axis=0, return_inverse=True, return_counts=True)
            tied = counts[inverse.ravel()] > 1
            Z = Z.copy()
            Z[tied] += rng.normal(0.0, self.jitter, size=(int(tied.sum()), Z.shape[1]))
        self._Z = Z
        if self.k == "auto":
            k, table, note = self._select_k(Z, rng)
        else:
            k = int(self.k)
            if k >= n_unique:
                raise InsufficientDataError(f"k = {k} but only {n_unique} distinct member profiles; use a smaller k.")
            table, note = pd.DataFrame(columns=["k", "criterion", "score", "selected"]), f"k = {k} was given."
            self.evidence_ = {"criterion": None, "chosen": {"k": k}, "runner_up": None, "text": note}
        self.k_, self.selection_, self.selection_note_ = k, table, note
        seed = int(rng.integers(2 ** 31))
        if self.method_ == "rate_mixture" and k in getattr(self, "_selection_fits", {}):
            self.model_ = self._selection_fits[k]
        else:
            self.model_ = self._fit_model(k, Z, seed, n_init=8 if self.method_ == "kmeans" else 3)
        self._selection_fits = {}
        raw_labels = self._predict_raw(self.model_, Z)
        self._comp_map = np.arange(k)
        if self.method_ == "rate_mixture":
            present = np.unique(raw_labels)
            if len(present) < k:  # a component that is nobody's most likely one: merge it into the nearest
                means = self.model_.mean_[:, 0]
                nearest = present[np.abs(means[:, None] - means[present][None, :]).argmin(axis=1)]
                self._comp_map = np.searchsorted(present, nearest)
                raw_labels = self._comp_map[raw_labels]
                self.selection_note_ += (f" {k - len(present)} of the {k} mixture components is no member's most "
                                         f"likely one and was merged into its nearest: {len(present)} segments.")
                k = self.k_ = len(present)
            r = self._rates
            self.log_rate_ = r["y_all"][:, 0] - (self.model_.group_effect_[r["group_all"]]
                                                 if self.model_.group_effects else 0.0)
        # order segments from most to least engaged
        score = engagement_score(X)
        seg_score = pd.Series(score).groupby(raw_labels).mean()
        order = seg_score.sort_values(ascending=False).index.to_numpy()
        self._relabel = np.empty(max(k, int(raw_labels.max()) + 1), dtype=int)
        self._relabel[:] = -1
        self._relabel[order] = np.arange(len(order))
        self.labels_ = self._relabel[raw_labels]
        self.features_ = X
        self.engagement_ = score
        self._profile(X, seg_score.loc[order].to_numpy())
        # stability: bootstrap refits, ARI against the full-data labels
        aris = []
        self._boot = True  # rate mixture refits start from the full-data fit
        for _ in range(int(self.n_bootstrap)):
            rows = rng.integers(0, len(Z), len(Z))
            try:
                boot = self._fit_model(k, Z, int(rng.integers(2 ** 31)), n_init=2 if self.method_ == "kmeans" else 1,
                                       rows=rows)
                aris.append(adjusted_rand_score(self.labels_, self._predict_raw(boot, Z)))
            except ValueError:  # a resample with fewer distinct rows than k
                continue
        self._boot = False
        aris = np.array(aris)
        self.stability_ = {"ari_mean": float(aris.mean()) if len(aris) else np.nan,
                           "ari_low": float(np.quantile(aris, 0.05)) if len(aris) else np.nan,
                           "ari_high": float(np.quantile(aris, 0.95)) if len(aris) else np.nan,
                           "n_bootstrap": int(len(aris))}
        return self

    def _rate_data(self, X: pd.DataFrame) -> dict:
        """Rate-mixture measurements of the members and their distinct rows (with group) with counts."""
        y_all, v_all, names = rate_measurements(X)
        groups = pd.Index(pd.unique(X["group_id"].astype(str)))
        g = groups.get_indexer(X["group_id"].astype(str)) if self.features == "within_group" \
            else np.zeros(len(X), dtype=np.int64)
        keys = np.column_stack([y_all, v_all, g])
        uniq, first, inverse, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True,
                                                 return_counts=True)
        self._group_index = groups
        self.rate_columns_ = names
        return {"y": y_all[first], "v": v_all[first], "group": g[first].astype(np.int64), "weights": counts,
                "inverse": inverse.ravel(), "y_all": y_all, "v_all": v_all, "group_all": g.astype(np.int64),
                "n_groups": int(g.max()) + 1 if len(g) else 1}

    def _predict_raw(self, model, Z) -> np.ndarray:
        """Component of every fitted member (before ordering by engagement)."""
        if self.method_ == "rate_mixture":
            r = self._rates
            return model.predict(r["y_all"], r["v_all"], r["group_all"])
        return model.predict(Z)

    def _profile(self, X: pd.DataFrame, seg_scores: np.ndarray) -> None:
        feats = add_derived_columns(X)
        cols = [c for c in PROFILE_COLUMNS if c in feats and not feats[c].isna().all()]
        filled = feats[cols].astype(float).copy()
        if "recency_days" in filled:
            never = filled["recency_days"].isna()
            filled.loc[never, "recency_days"] = feats.loc[never, "observed_days"].astype(float)
        med = filled.groupby(self.labels_).median()
        sizes = pd.Series(self.labels_).value_counts().sort_index()
        overall = filled.median()
        mpd_all = np.sort(filled["messages_per_day"].to_numpy()) if "messages_per_day" in filled else None
        prof = med.copy()
        if mpd_all is not None:
            prof["_mpd_pct"] = np.searchsorted(mpd_all, med["messages_per_day"].to_numpy(), side="right") \
                / len(mpd_all)
        else:
            prof["_mpd_pct"] = 0.5
        names = name_segments(prof, overall)
        out = pd.DataFrame({"segment": np.arange(self.k_), "name": names,
                            "size": sizes.reindex(np.arange(self.k_), fill_value=0).to_numpy(),
                            "share": (sizes / sizes.sum()).reindex(np.arange(self.k_), fill_value=0).to_numpy(),
                            "engagement": seg_scores})
        out = pd.concat([out, med.reset_index(drop=True)], axis=1)
        self.segment_names_ = names
        self.profiles_ = out

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise NotFittedError("This MemberSegmentation is not fitted yet; call fit(features) first.")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment number (0 = most engaged) of each member of a feature frame."""
        from threadpoolctl import threadpool_limits

        self._check_fitted()
        if self.method_ == "rate_mixture":
            y, v, names = rate_measurements(X)
            if names != self.rate_columns_:
                raise ParameterError(f"predict needs the columns the model was fitted on ({self.rate_columns_}); "
                                     f"these features give {names}.")
            if self.features == "within_group":  # groups not seen in fit get no group effect
                g = self._group_index.get_indexer(X["group_id"].astype(str))
                g = np.where(g < 0, len(self._group_index), g)
                raw = self.model_.predict(y, v, g, effects=np.r_[self.model_.group_effect_, 0.0])
            else:
                raw = self.model_.predict(y, v, np.zeros(len(X), dtype=np.int64))
            return self._relabel[self._comp_map[raw]]
        Z = self.pipeline_.transform(X)
        with threadpool_limits(1):
            return self._relabel[self.model_.predict(Z)]

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The scaled segmentation columns, shape (n_members, n_columns_used): what ``gmm``/``kmeans``
        cluster, and the view of :meth:`SegmentationResult.plot_pca` (the rate mixture sorts
        ``log_rate_``)."""
        self._check_fitted()
        return self.pipeline_.transform(X)

    def result(self, tiers=None) -> "SegmentationResult":
        """The fitted segmentation as a result object (optionally compared with tiers)."""
        self._check_fitted()
        return SegmentationResult(self, tiers=tiers)


# ==========================================================================================
# result
# ==========================================================================================
class SegmentationResult(Result):
    """Segments of members: selection scores, stability, profiles, assignments.

    ``to_frame()`` is the segment profile table; ``assignments`` has one row per
    (group_id, member_id) with ``segment`` (name), ``segment_id`` and, with tiers,
    ``tier``; ``comparison`` (a :class:`~groupstats.analyses.tiers.TierComparison`) holds the
    tiers-vs-segments crosstab and adjusted Rand index.
    """

    title = "Member segments"

    def __init__(self, model: MemberSegmentation, tiers=None):
        self.model = model
        self.k = model.k_
        self.method = model.method_
        self.evidence = model.evidence_
        self.features = model.features
        self.selection = model.selection_
        self.selection_note = model.selection_note_
        self.stability = model.stability_
        self.profiles = model.profiles_
        self.columns_used = list(model.pipeline_.named_steps["prepare"].columns_)
        self.columns_dropped = list(model.pipeline_.named_steps["prepare"].dropped_)
        feats = model.features_
        self.cutoff = feats.attrs.get("cutoff")
        assign = feats[list(KEY_COLUMNS)].copy().reset_index(drop=True)
        assign["segment_id"] = model.labels_
        assign["segment"] = np.asarray(model.segment_names_, dtype=object)[model.labels_]
        self.tiers = tiers
        self.comparison = None
        if tiers is not None:
            from groupstats.analyses.tiers import compare_tiers_segments

            tier_frame = tiers.assignments if hasattr(tiers, "assignments") else tiers
            assign = assign.merge(tier_frame[[*KEY_COLUMNS, "tier"]], on=list(KEY_COLUMNS), how="left")
            self.comparison = compare_tiers_segments(assign["tier"], assign["segment"],
                                                     tier_order=getattr(tiers, "order", None),
                                                     segment_order=list(model.segment_names_))
        self.assignments = assign
        self.group_association = group_association(assign["group_id"], assign["segment_id"])

    def to_frame(self) -> pd.DataFrame:
        return self.profiles.copy()

    def to_dict(self) -> dict:
        out = {"method": self.method, "features": self.features, "cutoff": self.cutoff, "k": self.k,
               "selection_note": self.selection_note, "selection_scores": self.selection,
               "k_evidence": {key: v for key, v in self.evidence.items() if key != "text"},
               "stability": self.stability, "columns_used": self.columns_used,
               "columns_dropped": self.columns_dropped, "n_members": int(len(self.assignments)),
               "group_association_cramers_v": self.group_association,
               "segments": self.profiles, "conclusion": self.conclusion()}
        if self.comparison is not None:
            out["tiers_vs_segments"] = self.comparison.to_dict()
        return to_jsonable(out)

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import segments

        return segments.card(self, lang)

    def conclusion(self) -> str:
        kind = ({"within_group": "log message rate net of each group's level", "raw": "pooled log message rate"}
                if self.method == "rate_mixture" else
                {"within_group": "within-group percentile features", "raw": "raw features"})[self.features]
        parts = [f"{len(self.assignments):,} members in {self.k} segments ({self.method}, {kind}). "
                 + self.selection_note]
        sizes = ", ".join(f"{r['name']} {r['share']:.0%}" for _, r in self.profiles.iterrows())
        parts.append(f"From most to least engaged: {sizes}.")
        st = self.stability
        if st.get("n_bootstrap"):
            level = "stable" if st["ari_mean"] >= 0.8 else "moderately stable" if st["ari_mean"] >= 0.6 else \
                "unstable (read the segments as a rough sketch)"
            parts.append(f"Bootstrap refits reproduce the segments with adjusted Rand index {st['ari_mean']:.2f} "
                         f"(90% of refits {st['ari_low']:.2f}-{st['ari_high']:.2f}): {level}.")
        v = self.group_association
        if v == v:
            parts.append(f"Association of segments with groups (Cramer's V): {v:.2f}"
                         + (" - segments largely follow the groups; try features='within_group'."
                            if v >= 0.4 and self.features == "raw" else "."))
        if self.columns_dropped:
            parts.append(f"Not used (no data): {', '.join(self.columns_dropped)}.")
        if self.comparison is not None:
            parts.append(self.comparison.conclusion())
        return "\n".join(parts)

    # ---- plots -------------------------------------------------------------------------------
    def plot_pca(self, ax=None):
        """Members on the first two principal components of the scaled features, coloured by segment."""
        import matplotlib.pyplot as plt
        import seaborn as sns
        from sklearn.decomposition import PCA

        Z = self.model.transform(self.model.features_)
        pca = PCA(n_components=2, random_state=0).fit(Z)
        xy = pca.transform(Z)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 5))
        order = list(self.model.segment_names_)
        sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=self.assignments["segment"], hue_order=order, s=18,
                        alpha=0.7, ax=ax, linewidth=0)
        ev = pca.explained_variance_ratio_
        ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
        ax.set_title("Members by segment (PCA of the segmentation features)")
        ax.legend(title="segment", fontsize="small")
        return ax

    def plot_profiles(self, columns: Sequence[str] | None = None):
        """Box plots of key raw features by segment (one panel per feature); returns the figure."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        feats = add_derived_columns(self.model.features_).reset_index(drop=True)
        columns = list(columns) if columns is not None else [
            c for c in ("messages_per_day", "active_day_share", "recency_days", "read_rate", "sign_in_rate",
                        "share_replies") if c in feats and not feats[c].isna().all()]
        data = feats[columns].copy()
        data["segment"] = self.assignments["segment"].to_numpy()
        long = data.melt(id_vars="segment", var_name="feature", value_name="value")
        n = len(columns)
        ncols = min(3, n)
        nrows = int(np.ceil(n / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
        order = list(self.model.segment_names_)
        for ax, col in zip(axes.ravel(), columns):
            sub = long.loc[long["feature"] == col]
            sns.boxplot(data=sub, x="segment", y="value", order=order, ax=ax, showfliers=False)
            ax.set_title(col)
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=35, labelsize="small")
            if col == "messages_per_day":
                ax.set_yscale("symlog", linthresh=0.1)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        fig.suptitle("Segment profiles (most to least engaged)")
        fig.tight_layout()
        return fig


def group_association(groups, segments) -> float:
    """Cramer's V (0-1) between group and segment: near 0 when segments cut across groups,
    near 1 when segments simply sort the groups. NaN with one group or one segment."""
    from scipy.stats.contingency import association

    table = pd.crosstab(np.asarray(groups), np.asarray(segments)).to_numpy()
    if min(table.shape) < 2:
        return float("nan")
    return float(association(table, method="cramer"))


def segment_members(ds, cutoff=None, method: str = DEFAULT_METHOD, k="auto", features: str = "within_group",
                    tiers=None, random_state=0, n_bootstrap: int = 20, member_table=None,
                    **kwargs) -> SegmentationResult:
    """Features up to ``cutoff``, segmentation, and (optionally) tiers for comparison.

    Parameters
    ----------
    ds : Dataset
    cutoff : date/time, optional (see :func:`member_features`)
    method, k, features, random_state, n_bootstrap, **kwargs : see :class:`MemberSegmentation`
    tiers : str, path, or None
        A tier preset name (see :func:`groupstats.analyses.tiers.list_presets`) or YAML file; the result
        then carries a tier per member and the tiers-vs-segments comparison.
    member_table : DataFrame, optional
        Raw member features at ``cutoff`` already computed (the output of
        :func:`member_features` or the identical :func:`groupstats.tables.scale.member_features`,
        which the CLI uses for large Parquet datasets); ``ds`` may then be None unless a
        ``points`` tier preset needs the events.

    Returns
    -------
    SegmentationResult
    """
    feats = member_features(ds, cutoff=cutoff) if member_table is None else member_table
    model = MemberSegmentation(method=method, k=k, features=features, random_state=random_state,
                               n_bootstrap=n_bootstrap, **kwargs).fit(feats)
    tier_result = None
    if tiers is not None:
        from groupstats.analyses.tiers import assign_tiers

        tier_result = assign_tiers(ds, tiers, cutoff=feats.attrs["cutoff"], features=feats)
    return model.result(tiers=tier_result)
