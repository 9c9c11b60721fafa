"""The MemberSegmentation estimator (fitting the chosen method, choosing k and the evidence for it) and
segment_members, the one-call entry point."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from groupstats.errors import InsufficientDataError, NotFittedError, ParameterError, StatisticalWarning
from groupstats.tables.features import member_features

from groupstats.analyses.segmentation.preparation import (DEFAULT_K_RANGE, DEFAULT_METHOD, METHODS,
                                                          MIN_GROUP_SIZE, MemberFeaturePreparer,
                                                          PROFILE_COLUMNS, add_derived_columns,
                                                          engagement_score, name_segments)
from groupstats.analyses.segmentation.rate_mixture import RateMixture, rate_measurements
from groupstats.analyses.segmentation.result import SegmentationResult


#: Threads for the independent rate-mixture fits (the k tried, the bootstrap refits): the two cores
#: the commands are sized for, or one where only one is available.
_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


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

    def _map(self, fn, items) -> list:
        """``[fn(item) for item in items]``; for the rate mixture on :data:`_THREADS` threads.

        The fits are independent and deterministic (the random draws are made before), so the
        result does not depend on the threads; numpy releases the GIL in the EM's array
        operations, which is where the time goes. KMeans and the Gaussian mixture run in turn
        (they manage their own threads)."""
        items = list(items)
        if self.method_ != "rate_mixture" or _THREADS < 2 or len(items) < 2:
            return [fn(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            return list(pool.map(fn, items))

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
            ks = list(range(hi, lo - 1, -1))  # the slowest (largest k) first, for the two threads
            fits = dict(zip(ks, self._map(lambda k: self._fit_model(k, Z, seed), ks)))
            for k in range(lo, hi + 1):
                model = fits[k]
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
        draws = [(rng.integers(0, len(Z), len(Z)), int(rng.integers(2 ** 31))) for _ in range(int(self.n_bootstrap))]

        def refit_ari(draw):
            rows, boot_seed = draw
            try:
                boot = self._fit_model(k, Z, boot_seed, n_init=2 if self.method_ == "kmeans" else 1, rows=rows)
                return adjusted_rand_score(self.labels_, self._predict_raw(boot, Z))
            except ValueError:  # a resample with fewer distinct rows than k
                return None

        self._boot = True  # rate mixture refits start from the full-data fit
        try:
            aris = np.array([a for a in self._map(refit_ari, draws) if a is not None])
        finally:
            self._boot = False
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


def segment_members(ds, cutoff=None, method: str = DEFAULT_METHOD, k="auto", features: str = "within_group",
                    tiers=None, random_state=0, n_bootstrap: int = 20,
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
    Returns
    -------
    SegmentationResult
    """
    feats = member_features(ds, cutoff=cutoff)
    model = MemberSegmentation(method=method, k=k, features=features, random_state=random_state,
                               n_bootstrap=n_bootstrap, **kwargs).fit(feats)
    tier_result = None
    if tiers is not None:
        from groupstats.analyses.tiers import assign_tiers

        tier_result = assign_tiers(ds, tiers, cutoff=feats.attrs["cutoff"], features=feats)
    return model.result(tiers=tier_result)
