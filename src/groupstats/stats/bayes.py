"""Bayesian read-out of an experiment: chance to beat control, expected loss, credible interval.

For each arm against the control, :func:`bayes_readout` combines

* the **likelihood**: the relative effect ``rel_diff = arm / control - 1`` estimated by the
  comparison engine (:func:`groupstats.stats.compare.compare_arms`: cluster-robust, CR2 by
  group) with its standard error, taken as normal (``rel_diff ~ N(theta, se_rel^2)``); and
* a **weakly informative prior** on the true relative effect ``theta ~ N(0, prior_sd^2)``
  with ``prior_sd = 0.3`` by default: effects of a few percent are a priori as plausible as
  no effect, effects beyond +/-60% (two prior SDs) are rare -- the scale of a posting-slot or
  content-mix change. This is the approach of GrowthBook's Bayesian engine (normal prior on
  the relative effect, normal approximation of the delta-method estimate).

The posterior is normal with precision ``1/prior_sd^2 + 1/se_rel^2`` and mean
``(rel_diff / se_rel^2) / precision``. Reported per arm:

* ``prob_better``: posterior probability that the arm is better than control
  (``theta > 0`` when higher is better);
* ``expected_loss``: expected relative loss if the arm is chosen and it is in fact worse,
  ``E[max(0, -theta)] = s phi(m / s) - m Phi(-m / s)`` for posterior mean ``m`` and SD ``s``
  (sign flipped when lower is better) -- e.g. 0.002 means choosing it costs 0.2% of the
  control level on average;
* ``ci_low, ci_high``: equal-tailed ``1 - alpha`` credible interval of the relative effect.

The likelihood is centred on the estimate ``rel_diff``; its SD ``se_rel`` is read from the
engine's (fixed-horizon) relative interval: the half of the interval on the side of 0 divided by
``z(1 - alpha/2)`` (``(rel_diff - rel_ci_low) / z`` for a positive estimate). With few clusters
the engine's interval uses a t reference with Bell-McCaffrey degrees of freedom, so this keeps
the small-sample width (a normal on the plain standard error would be overconfident with 8-15
groups), and with a flat prior (``prior_sd=inf``) the chance to beat control exceeds
``1 - alpha/2`` exactly when the engine's interval excludes 0, also for the asymmetric (Fieller)
intervals of a ratio. When the table was made sequential the ``rel_ci_*_fixed`` columns are used, otherwise the marginal ``rel_ci_*_unadjusted`` ones.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.errors import ParameterError

__all__ = ["DEFAULT_PRIOR_SD", "normal_posterior", "prob_better", "expected_loss", "bayes_readout",
           "bayes_records", "describe", "BAYES_COLUMNS"]

#: Default prior SD of the relative effect (0.3 = 30% of the control level).
DEFAULT_PRIOR_SD = 0.3
BAYES_COLUMNS = ["arm", "control", "prob_better", "expected_loss", "ci_low", "ci_high", "post_mean", "post_sd",
                 "prior_sd"]


def normal_posterior(estimate, se, prior_sd: float = DEFAULT_PRIOR_SD, prior_mean: float = 0.0):
    """Posterior mean and SD of ``theta`` from ``estimate ~ N(theta, se^2)`` and ``theta ~ N(prior_mean, prior_sd^2)``.

    ``prior_sd = inf`` gives the flat prior (posterior = likelihood). Vectorised.
    """
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    prior_prec = 0.0 if math.isinf(prior_sd) else 1.0 / prior_sd ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = prior_prec + 1.0 / se ** 2
        mean = (prior_prec * prior_mean + est / se ** 2) / prec
    return mean, np.sqrt(1.0 / prec)


def prob_better(post_mean, post_sd, higher_is_better: bool = True):
    """P(theta > 0) (or P(theta < 0) when lower is better) under a normal posterior."""
    z = np.asarray(post_mean, dtype=float) / np.asarray(post_sd, dtype=float)
    return sps.norm.cdf(z if higher_is_better else -z)


def expected_loss(post_mean, post_sd, higher_is_better: bool = True):
    """E[max(0, -theta)] (choosing the arm when it is worse), ``theta`` normal; sign flipped if lower is better."""
    m = np.asarray(post_mean, dtype=float) * (1 if higher_is_better else -1)
    s = np.asarray(post_sd, dtype=float)
    return s * sps.norm.pdf(m / s) - m * sps.norm.cdf(-m / s)


def bayes_readout(comparisons: pd.DataFrame, alpha: float = 0.05, prior_sd: float = DEFAULT_PRIOR_SD,
                  higher_is_better: bool = True) -> pd.DataFrame:
    """Bayesian read-out of each arm vs control from the comparison engine's table.

    Parameters
    ----------
    comparisons : DataFrame
        ``.comparisons`` of :func:`groupstats.stats.compare.compare_arms` (columns ``arm,
        control, rel_diff, rel_ci_low, rel_ci_high``; the ``rel_ci_*_fixed`` columns are
        used instead when the table was made sequential).
    alpha : float
        The level of the engine's intervals; the credible interval has the same level.
    prior_sd : float
        Prior SD of the relative effect (default 0.3); ``inf`` for a flat prior.
    higher_is_better : bool

    Returns
    -------
    DataFrame with columns :data:`BAYES_COLUMNS`, one row per arm (relative units).
    """
    if not (0 < alpha < 1):
        raise ParameterError(f"alpha must be between 0 and 1 (got {alpha!r}).")
    if not (prior_sd > 0):
        raise ParameterError(f"prior_sd must be positive (got {prior_sd!r}); 0.3 is the default.")
    # the marginal 1 - alpha intervals (not the multiplicity-adjusted ones)
    low_col = next(c for c in ("rel_ci_low_fixed", "rel_ci_low_unadjusted", "rel_ci_low") if c in comparisons)
    high_col = next(c for c in ("rel_ci_high_fixed", "rel_ci_high_unadjusted", "rel_ci_high") if c in comparisons)
    z = sps.norm.isf(alpha / 2)
    low, high = comparisons[low_col].to_numpy(float), comparisons[high_col].to_numpy(float)
    rel = comparisons["rel_diff"].to_numpy(float)
    # the half of the interval on the side of 0 (Fieller intervals of a ratio are asymmetric)
    se_rel = np.where(rel >= 0, rel - low, high - rel) / z
    mean, sd = normal_posterior(rel, se_rel, prior_sd)
    return pd.DataFrame({
        "arm": list(comparisons["arm"]), "control": list(comparisons["control"]),
        "prob_better": prob_better(mean, sd, higher_is_better),
        "expected_loss": expected_loss(mean, sd, higher_is_better),
        "ci_low": mean - z * sd, "ci_high": mean + z * sd,
        "post_mean": mean, "post_sd": sd, "prior_sd": float(prior_sd),
    }, columns=BAYES_COLUMNS)


def bayes_records(table: pd.DataFrame) -> dict:
    """``{arm: {prob_better, expected_loss, ci_low, ci_high}}`` for JSON (arm labels as strings)."""
    keys = ("prob_better", "expected_loss", "ci_low", "ci_high")
    return {str(r["arm"]): {k: float(r[k]) for k in keys} for r in table.to_dict(orient="records")}


def describe(row, level: str = "95%", lang: str = "en", arm: str | None = None, control: str | None = None) -> str:
    """One sentence for a conclusion from a row of :func:`bayes_readout` (chances above 99.9% and losses
    below 0.01% are shown as bounds, not rounded to 100% and 0%), in ``lang`` (catalogue ``bayes.readout``);
    ``arm`` / ``control`` name the arms in the reader's words (default: their ids)."""
    from groupstats.reports.i18n import t

    p = float(row.prob_better)
    prob = "> 99.9%" if p > 0.999 else "< 0.1%" if p < 0.001 else f"{100 * p:.1f}%"
    loss = float(row.expected_loss)
    loss_text = "< 0.01%" if loss < 1e-4 else f"{100 * loss:.2f}%"
    return t("bayes.readout", lang, prob=prob, arm=arm if arm is not None else f"'{row.arm}'",
             control=control if control is not None else f"'{row.control}'", level=level,
             low=f"{100 * row.ci_low:+.1f}%", high=f"{100 * row.ci_high:+.1f}%", loss=loss_text,
             prior=f"{row.prior_sd:g}")
