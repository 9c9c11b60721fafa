"""Classification metrics, calibration, the paired (cluster) bootstrap of AUC differences."""
from __future__ import annotations

import numpy as np
import pandas as pd


def _one_thread():
    """Limit BLAS/OpenMP threads to one. On small data, scikit-learn's HistGradientBoosting is many
    times faster single-threaded than with threads competing for a few shared cores; and BLAS splitting
    products of a few thousand numbers (the n-vector dot products of a likelihood, the bootstrap's
    replicates x clusters products) among threads costs more than it saves, many times more when the
    cores are busy with other work.

    threadpoolctl limits only the libraries loaded when it is entered, so scikit-learn's models are
    imported first (with them the OpenMP runtime and SciPy's own BLAS, whose L-BFGS solver in the
    logistic fits otherwise runs its small triangular solves in BLAS threads that spin between calls;
    churn_risk enters this while a background thread may still be importing them). The scores are the
    same with either limit (the churn CSVs compared byte for byte)."""
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(1)


# ======================================================================================
# metrics
# ======================================================================================
def classification_metrics(y, p, fractions=(0.1, 0.2)) -> dict:
    """ROC AUC, PR AUC (average precision), Brier score, lift and capture at top fractions.

    ``lift_10`` = churn rate among the 10% highest scores / overall churn rate; ``capture_10``
    = share of all churners found in that top 10% (ties broken by row order).
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n, pos = len(y), int(y.sum())
    out = {"n": n, "n_churned": pos, "base_rate": pos / n if n else np.nan}
    two = 0 < pos < n
    out["roc_auc"] = float(roc_auc_score(y, p)) if two else np.nan
    out["pr_auc"] = float(average_precision_score(y, p)) if two else np.nan
    out["brier"] = float(brier_score_loss(y, np.clip(p, 0, 1))) if n else np.nan
    out["calibration_intercept"], out["calibration_slope"] = calibration_line(y, p) if two else (np.nan, np.nan)
    order = np.argsort(-p, kind="stable")
    for f in fractions:
        k = max(1, int(np.ceil(f * n))) if n else 0
        hits = int(y[order[:k]].sum()) if k else 0
        tag = f"{round(f * 100)}"
        out[f"capture_{tag}"] = hits / pos if pos else np.nan
        out[f"lift_{tag}"] = (hits / k) / out["base_rate"] if pos and k else np.nan
    return out


def calibration_line(y, p) -> tuple[float, float]:
    """Calibration intercept and slope: the logistic regression of the outcome on ``logit(p)``
    (Cox 1958). Perfect calibration is (0, 1); a slope below 1 means the scores are too
    extreme (overfitted), an intercept above 0 means risks are underestimated on average.
    Fitted by Newton's method (scores clipped to [1e-6, 1 - 1e-6])."""
    y = np.asarray(y, float)
    x = np.log(np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6))
    x = x - np.log1p(-np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6))
    X = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        W = mu * (1 - mu)
        H = X.T @ (X * W[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, X.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def _weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of weights ``W`` (B, n), ties counted half; shape (B,)."""
    order = np.argsort(score, kind="mergesort")
    s, yy, W = score[order], y[order].astype(bool), W[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(W * yy, starts, axis=1)
    neg = np.add.reduceat(W * ~yy, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


#: Up to this many clusters (and G^2 <= 10 n) the bootstrap works on cluster-pair counts (G x G per score).
_MAX_CLUSTER_PAIRS_G = 4000


def _cluster_pair_counts(y: np.ndarray, score: np.ndarray, codes: np.ndarray, G: int) -> np.ndarray:
    """``M[g, h]``: pairs (churner in cluster g, non-churner in cluster h) ordered correctly by ``score``,
    ties counted half. With cluster weights c, the weighted AUC is ``c' M c / ((c . n_pos)(c . n_neg))``:
    the same numbers :func:`_weighted_auc` adds up row by row (integers and halves, exact in float64)."""
    pos = y.astype(bool)
    rank = np.unique(score, return_inverse=True)[1].astype(np.int64).ravel()  # equal scores, equal rank
    T = int(rank.max()) + 1 if len(rank) else 1
    order = np.argsort(codes[pos], kind="stable")
    g_sorted, r_sorted = codes[pos][order], rank[pos][order]
    M = np.zeros((G, G))
    if not len(g_sorted):
        return M
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    neg_codes, neg_rank = codes[~pos].astype(np.int64), rank[~pos]
    step = max(1, 4_000_000 // T)
    for lo in range(0, G, step):  # blocks of non-churner clusters: counts by (rank, cluster), cumulated over ranks
        width = min(G, lo + step) - lo
        inside = (neg_codes >= lo) & (neg_codes < lo + width)
        counts = np.bincount(neg_rank[inside] * width + (neg_codes[inside] - lo),
                             minlength=T * width).reshape(T, width)
        below = np.cumsum(counts, axis=0) - counts  # non-churners with a strictly lower score
        twice = 2 * below[r_sorted] + counts[r_sorted]  # 2 x (below + ties / 2), integers
        M[g_sorted[starts], lo:lo + width] = np.add.reduceat(twice, starts, axis=0) / 2.0
    return M


def _cluster_weighted_auc(M: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray, C: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of cluster weights ``C`` (B, G) from the pair counts of :func:`_cluster_pair_counts`."""
    num = ((C @ M) * C).sum(axis=1)
    den = (C @ n_pos) * (C @ n_neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def paired_auc_bootstrap(y, score_a, score_b, clusters=None, n_boot: int = 1000, alpha: float = 0.05,
                         random_state: int = 0) -> dict:
    """Paired (cluster) bootstrap of the ROC AUC difference ``AUC(a) - AUC(b)``.

    Clusters (default: each row) are resampled with replacement; both scores are judged
    on the same resample. Vectorised: each replicate is a weight vector (cluster
    multiplicities), and weighted AUCs are computed for all replicates at once.

    Returns
    -------
    dict: auc_a, auc_b, delta, ci_low, ci_high (percentile), se, n_boot, n_clusters
    """
    y = np.asarray(y, dtype=int)
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    codes = np.arange(len(y)) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    G = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(random_state)
    ones = np.ones((1, len(y)))
    auc_a, auc_b = float(_weighted_auc(y, a, ones)[0]), float(_weighted_auc(y, b, ones)[0])
    by_cluster = 0 < G <= _MAX_CLUSTER_PAIRS_G and G * G <= 10 * len(y)  # cheaper than reweighting rows
    if by_cluster:  # replicates weight whole clusters: AUCs from cluster-pair counts (same values, far less work)
        pairs_a, pairs_b = _cluster_pair_counts(y, a, codes, G), _cluster_pair_counts(y, b, codes, G)
        n_pos = np.bincount(codes, weights=y.astype(bool).astype(float), minlength=G)
        n_neg = np.bincount(codes, weights=(~y.astype(bool)).astype(float), minlength=G)
    deltas = []
    chunk = max(1, int(2_000_000 // max(len(y), 1)))
    done = 0
    with _one_thread():
        while done < n_boot:
            m = min(chunk, n_boot - done)
            counts = rng.multinomial(G, np.full(G, 1.0 / G), size=m).astype(float)
            if by_cluster:
                deltas.append(_cluster_weighted_auc(pairs_a, n_pos, n_neg, counts)
                              - _cluster_weighted_auc(pairs_b, n_pos, n_neg, counts))
            else:
                W = counts[:, codes]
                deltas.append(_weighted_auc(y, a, W) - _weighted_auc(y, b, W))
            done += m
    d = np.concatenate(deltas)
    d = d[np.isfinite(d)]
    return {"auc_a": auc_a, "auc_b": auc_b, "delta": auc_a - auc_b,
            "ci_low": float(np.quantile(d, alpha / 2)), "ci_high": float(np.quantile(d, 1 - alpha / 2)),
            "se": float(d.std(ddof=1)), "n_boot": int(len(d)), "n_clusters": G}


#: Rows of permuted feature matrices scored per model call in the permutation importance of models
#: other than gradient boosting (~25 MB per 100k rows of 30 features); fewer calls, same predictions
#: (each row is scored on its own).
_PERMUTED_ROWS_PER_CALL = 300_000


def _permutation_importance(model: "ChurnRiskModel", frame: pd.DataFrame, y: np.ndarray, n_repeats: int,
                            random_state: int) -> pd.DataFrame:
    """Drop in ROC AUC when one feature is shuffled (mean and SD over ``n_repeats``), sorted.

    Every evaluation row, every feature, ``n_repeats`` shuffles (drawn feature by feature, repeat by
    repeat). The shuffled copies are scored by :meth:`ChurnRiskModel._raw_swapped`: for gradient
    boosting only the trees that split on the shuffled feature are evaluated again, with the same
    numbers as scoring each shuffled copy in full.
    """
    X = frame[model.feature_names_].to_numpy(dtype=float)
    ones = np.ones((1, len(y)))
    rng = np.random.default_rng(random_state)
    n, k = X.shape
    shuffled = [(j, np.stack([X[rng.permutation(n), j] for _ in range(n_repeats)])) for j in range(k)]
    per_call = max(1, _PERMUTED_ROWS_PER_CALL // max(n * n_repeats, 1))  # features stacked per model call
    raw, raw_base = model._raw_swapped(X, shuffled, copies_per_call=per_call)
    base = float(_weighted_auc(y, raw_base, ones)[0])
    drops = np.array([[base - float(_weighted_auc(y, raw[j][r], ones)[0]) for r in range(n_repeats)]
                      for j in range(k)]).reshape(k, n_repeats)
    out = pd.DataFrame({"feature": model.feature_names_, "importance_mean": drops.mean(axis=1),
                        "importance_sd": drops.std(axis=1, ddof=1) if n_repeats > 1 else 0.0})
    return out.sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)


def _calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Quantile-binned calibration: mean predicted vs observed churn rate per bin."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "mean_predicted", "observed", "n"])
    ranks = pd.Series(p).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(p), n_bins - 1).astype(int)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    return out.reset_index()
