"""Segmentation settings and feature preparation: the default columns and method, derived columns, the
scaling transformer, the engagement score and the plain-word segment names."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError
from groupstats.tables.features import features_within_group


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
