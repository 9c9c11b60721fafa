"""The (cluster) BCa bootstrap of the comparison engine: one rule for the p-value and the interval."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.stats.comparison_common import _Data, _row

# --------------------------------------------------------------------------- bootstrap
def _bootstrap(data: _Data, kind: str, alpha: float, n_boot: int, seed) -> tuple[list[dict], str]:
    """BCa bootstrap of arm-vs-control differences of (ratio-of-)sums statistics.

    Resampling units are clusters when ``cluster`` is given (rows otherwise);
    they are resampled within arm when each unit belongs to one arm
    (stratified), else jointly (switchback clusters keep their arm mix).
    """
    rng = np.random.default_rng(seed)
    n_arms = len(data.labels)
    den = data.d if kind == "ratio" else np.ones(len(data.y))
    y = data.y
    if data.covariate is not None:   # CUPED pre-adjustment with the pooled within-arm slope
        xc = data.covariate - np.array([data.covariate[data.codes == a].mean()
                                        for a in range(n_arms)])[data.codes]
        yc = y - np.array([y[data.codes == a].mean() for a in range(n_arms)])[data.codes]
        theta = (xc @ yc) / (xc @ xc) if xc @ xc > 0 else 0.0
        y = y - theta * (data.covariate - data.covariate.mean())
    unit = data.cluster if data.cluster is not None else np.arange(len(y))
    frame = pd.DataFrame({"u": unit, "a": data.codes, "y": y, "d": den})
    sums = frame.groupby(["u", "a"], sort=True)[["y", "d"]].sum()
    units = sums.index.get_level_values(0).unique()
    sy = sums["y"].unstack(fill_value=0.0).reindex(index=units, columns=range(n_arms),
                                                   fill_value=0.0).to_numpy()
    sd = sums["d"].unstack(fill_value=0.0).reindex(index=units, columns=range(n_arms),
                                                   fill_value=0.0).to_numpy()
    n_units = len(units)
    owner = (sd > 0).argmax(axis=1)
    stratified = bool(((sd > 0).sum(axis=1) == 1).all())
    ty, td = sy.sum(0), sd.sum(0)
    est = ty / td
    boot_y = np.empty((n_boot, n_arms))
    boot_d = np.empty((n_boot, n_arms))
    chunk = max(1, int(4e6 // max(n_units, 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        if stratified:
            for a in range(n_arms):
                idx_a = np.flatnonzero(owner == a)
                draw = idx_a[rng.integers(0, len(idx_a), size=(b, len(idx_a)))]
                boot_y[start:start + b, a] = sy[draw, a].sum(axis=1)
                boot_d[start:start + b, a] = sd[draw, a].sum(axis=1)
        else:
            draw = rng.integers(0, n_units, size=(b, n_units))
            boot_y[start:start + b] = sy[draw].sum(axis=1)
            boot_d[start:start + b] = sd[draw].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = boot_y / boot_d
        # jackknife (leave one unit out) for the BCa acceleration
        jack = (ty[None, :] - sy) / (td[None, :] - sd)
    rows = []
    for a in range(1, n_arms):
        d_hat = est[a] - est[0]
        r_hat = est[a] / est[0] - 1 if est[0] != 0 else np.nan
        d_boot = boot[:, a] - boot[:, 0]
        r_boot = boot[:, a] / boot[:, 0] - 1
        d_jack = jack[:, a] - jack[:, 0]
        r_jack = jack[:, a] / jack[:, 0] - 1
        valid = d_boot[np.isfinite(d_boot)]
        se = float(valid.std(ddof=1)) if len(valid) > 1 else np.nan

        def interval_at(level, d_hat=d_hat, r_hat=r_hat, d_boot=d_boot, d_jack=d_jack, r_boot=r_boot,
                        r_jack=r_jack, c0=est[0]):
            d_low, d_high, _ = _bca(d_hat, d_boot, d_jack, level)
            r_low, r_high, _ = _bca(r_hat, r_boot, r_jack, level)
            # the relative interval must not contradict the difference's: both BCa intervals come from
            # the same draws but their bias corrections differ slightly, so at the edge they can disagree;
            # then the difference's interval scaled by the control level is reported
            if (d_low > 0 or d_high < 0) != (r_low > 0 or r_high < 0) and c0 != 0:
                r_low, r_high = sorted((d_low / c0, d_high / c0))
            return (d_low, d_high), (r_low, r_high)
        (d_low, d_high), (r_low, r_high) = interval_at(alpha)
        p = _bca(d_hat, d_boot, d_jack, alpha)[2]
        row = _row(data.labels[a], data.labels[0], d_hat, se, np.inf, alpha, est[a], est[0],
                   rel=r_hat, rel_ci=(r_low, r_high), p=p, stat=d_hat / se if se > 0 else np.nan,
                   ci=(d_low, d_high), interval_at=interval_at)
        rows.append(row)
    prefix = "cluster-" if data.cluster is not None else ""
    return rows, f"{prefix}bootstrap-bca"


def _bca(theta: float, boot: np.ndarray, jack: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Bias-corrected and accelerated percentile interval (Efron 1987) and the p-value of the
    same rule: the smallest level at which the BCa interval excludes 0.

    With ``z0`` (bias) and ``a`` (acceleration), the BCa interval at level ``alpha`` takes the
    empirical quantiles (inverted CDF, no interpolation) at ``Phi(z0 + (z0 + z)/(1 - a (z0 + z)))``
    for ``z = Phi^-1(alpha/2), Phi^-1(1 - alpha/2)``. Its lower end is above 0 exactly when the
    share of draws <= 0 is below that level; solving for ``alpha`` gives the one-sided levels
    ``2 Phi(w/(1 + a w) - z0)`` with ``w = Phi^-1(share) - z0``, and the p-value is the smaller
    of the two sides (capped at 1). So ``p < alpha`` if and only if the interval excludes 0.
    Returns ``(low, high, p)``.
    """
    boot = boot[np.isfinite(boot)]
    jack = jack[np.isfinite(jack)]
    if len(boot) < 10 or not math.isfinite(theta):
        return (np.nan, np.nan, np.nan)
    n_boot = len(boot)
    prop = ((boot < theta).sum() + 0.5 * (boot == theta).sum()) / n_boot
    prop = min(max(prop, 1 / (2 * n_boot)), 1 - 1 / (2 * n_boot))
    z0 = sps.norm.ppf(prop)
    dev = jack.mean() - jack
    denom = 6 * (dev ** 2).sum() ** 1.5
    acc = (dev ** 3).sum() / denom if denom > 0 else 0.0
    out = []
    for q in (alpha / 2, 1 - alpha / 2):
        z = sps.norm.ppf(q)
        adj = sps.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        out.append(float(np.quantile(boot, adj, method="inverted_cdf")))

    def side_level(share: float, upper: bool) -> float:
        """Level alpha at which the lower (upper) BCa end reaches 0, given the share of draws
        <= 0 (< 0): the interval excludes 0 on that side iff alpha exceeds it."""
        if share <= 0.0:
            return 0.0 if not upper else 2.0
        if share >= 1.0:
            return 2.0 if not upper else 0.0
        w = sps.norm.ppf(share) - z0
        denom_w = 1 + acc * w
        if denom_w <= 0:
            return 2.0
        z = w / denom_w - z0
        return float(2 * sps.norm.cdf(z)) if not upper else float(2 * sps.norm.sf(z))

    p_low = side_level(float((boot <= 0).mean()), upper=False)
    p_high = side_level(float((boot < 0).mean()), upper=True)
    p = min(1.0, p_low, p_high)
    return out[0], out[1], p
