"""Multiple comparisons: adjusted p-values and the level at which each hypothesis is judged.

One rule for every multiplicity-adjusted interval in groupstats (the comparison engine, the
sequential read-out, the vectorised slot-experiment estimator and the playbook audit): each
interval is drawn at the level at which its hypothesis is judged by the correction,

* **Bonferroni**: ``alpha / m`` for every hypothesis (the textbook simultaneous intervals);
* **Holm**: the level of the hypothesis' step, ``alpha / (m - k + 1)`` for the k-th smallest
  p-value while the steps reject; the hypotheses from the first step that does not reject on
  are judged (and drawn) at that step's level;
* **Benjamini-Hochberg**: ``alpha * max(R, 1) / m`` with ``R`` the number of rejections, the
  false-coverage-rate adjusted intervals of Benjamini and Yekutieli (2005).

With ``p_adjusted`` from :func:`adjust_p`, ``p < level`` exactly when ``p_adjusted < alpha`` (the
``significant`` flag), so an interval at ``1 - level`` that is dual to ``p`` excludes the null
exactly when the comparison is flagged. A test checks this duality for every correction.

References
----------
Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6(2).
Benjamini, Y. and Yekutieli, D. (2005). False discovery rate-adjusted multiple confidence
intervals for selected parameters. JASA 100(469), 71-81.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CORRECTIONS", "adjust_p", "adjusted_levels"]

#: Accepted ``correction`` values and the statsmodels ``multipletests`` name of each.
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}
_ALIASES = {"fdr_bh": "bh"}


def _correction(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {name!r}")
    return name


def adjust_p(p, correction: str = "holm") -> np.ndarray:
    """Holm, Benjamini-Hochberg or Bonferroni adjusted p-values (as statsmodels' ``multipletests``,
    which the tests use as the reference; computed here to keep statsmodels out of the CLI's start-up).

    NaN p-values stay NaN and do not count among the ``m`` hypotheses.
    """
    correction = _correction(correction)
    p = np.asarray(p, dtype=float)
    out = p.copy()
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if correction == "none" or m <= 1:
        return out
    q = p[ok]
    if correction == "bonferroni":
        out[ok] = np.minimum(q * m, 1.0)
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if correction == "holm":
        adj = np.minimum(np.maximum.accumulate(ranked * (m - np.arange(m))), 1.0)
    else:
        adj = np.minimum(np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1], 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def adjusted_levels(p, alpha: float = 0.05, correction: str = "holm") -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values and the level ``alpha_i`` at which each hypothesis is judged.

    See the module docstring for the rule. ``alpha`` for every hypothesis with one finite p-value
    or ``correction="none"``; NaN p-values get level ``alpha``.

    Returns
    -------
    (p_adjusted, level) : ndarrays of the input's shape
    """
    correction = _correction(correction)
    p = np.asarray(p, dtype=float)
    adj = adjust_p(p, correction)
    level = np.full(p.shape, float(alpha))
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if correction == "none" or m <= 1:
        return adj, level
    if correction == "bonferroni":
        level[ok] = alpha / m
        return adj, level
    if correction == "bh":
        rejected = int((adj[ok] < alpha).sum())
        level[ok] = alpha * max(rejected, 1) / m
        return adj, level
    order = ok[np.argsort(p[ok], kind="stable")]
    step = alpha / (m - np.arange(m))                 # Holm's step levels alpha / (m - k + 1)
    passed = adj[order] < alpha                       # steps reached and rejected (adj is monotone)
    stop = int(passed.sum())                          # index of the first step that does not reject
    level[order] = np.where(passed, step, step[min(stop, m - 1)])
    return adj, level
