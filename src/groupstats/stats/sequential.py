"""Sequential inference: p-values and intervals that stay valid however often you look.

Operators check a running experiment every morning and stop it the day it "wins". A
fixed-horizon p-value read every day crosses 0.05 by chance far more often than 5% of the
time (about one A/A experiment in four over six weeks of daily looks, see
``docs/ab_tests.md``, section *Peeking*). This module gives the always-valid alternative:

* :func:`confidence_sequence` -- the asymptotic confidence sequence of Waudby-Smith,
  Arnold, Wu, Ramdas and Howard ("Time-uniform central limit theory and asymptotic
  confidence sequences", 2021/2024), as GrowthBook uses it. For an estimate with standard
  error ``se`` after ``n`` independent units, the two-sided ``1 - alpha`` half-width is ::

      se * sqrt( 2 (n rho^2 + 1) / (n rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )

  (Robbins' normal-mixture boundary). With probability at least ``1 - alpha`` the sequence
  of intervals contains the true effect at *every* look at once (asymptotically), so the
  experiment may be read at any time and stopped when the interval excludes zero.
* :func:`always_valid_p` -- its dual p-value, ``sqrt(x + 1) exp(-z^2 x / (2 (x + 1)))``
  with ``x = n rho^2`` (capped at 1): it is below ``alpha`` exactly when the confidence
  sequence excludes 0.
* The tuning parameter ``rho`` is set from ``n_opt``, the sample size at which the sequence
  is tightest, by GrowthBook's rule
  ``rho = sqrt((-2 log(alpha) + log(-2 log(alpha) + 1)) / n_opt)``. groupstats sets
  ``n_opt`` by default to the number of units the experiment plans to have at its planned
  end (from the assignments table), so the price of sequential validity is smallest when
  the experiment is read at its planned end (about 1.55 times the fixed-horizon half-width at
  alpha = 0.05); reading earlier or later costs a little more.

**Units for clustered designs.** The central limit theory needs (nearly) independent units.
In a switchback the randomised units are *group-periods* (a group's arm changes by period),
so ``n`` counts the group-periods with analysed data; in a group-randomised design each
group keeps its arm and what accumulates over time is *group-days*, so ``n`` counts
group-days (:func:`observed_units`, :func:`planned_units`). The estimate and its
cluster-robust standard error are those of the comparison engine
(:func:`groupstats.stats.compare.compare_arms`): the sequence is applied to the
cluster-level inference, never to posts as if they were independent. Only ``n rho^2 =
c n / n_opt`` (``c`` the constant above) enters the boundary, i.e. the share of the planned
information reached.

**Few clusters.** With 8-30 groups the standard error is itself noisy (the engine uses
Bell-McCaffrey degrees of freedom ``df``). The t-statistic is therefore first mapped to
the normal scale through its p-value (``z = Phi^-1(1 - t_df.sf(|t|))``) before the boundary
is applied, and the interval half-width is ``se * t_df^-1(Phi(boundary))``; both reduce to
the formulas above when ``df`` is infinite. The validation tests (``tests/test_sequential.py``)
check by simulation that the chance of an A/A experiment *ever* crossing ``alpha`` over six
weeks of daily looks stays at or below ``alpha`` for switchback and group-randomised designs
with 8-40 groups.

Functions are vectorised (numpy broadcasting over arms, looks and replications).
"""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.errors import ParameterError
from groupstats.stats.comparison_inputs import read_unit_table
from groupstats.stats.multiplicity import adjusted_levels

__all__ = ["sequential_rho", "boundary_multiplier", "confidence_sequence", "always_valid_p",
           "sequential_comparisons", "observed_units", "planned_units", "as_of_cutoff",
           "with_comparisons", "adjust_p", "monitored_table", "monitoring_readout", "SEQUENTIAL_NOTE"]

#: Text appended to a conclusion when the inference is sequential.
SEQUENTIAL_NOTE = ("Sequential analysis: p-values and intervals are always-valid (asymptotic confidence "
                   "sequences, Waudby-Smith et al.); they stay valid however often the experiment is "
                   "looked at, so this result may be read at any time and the experiment stopped as soon "
                   "as an interval excludes zero.")


def _check_alpha(alpha) -> float:
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < float(alpha) < 1):
        raise ParameterError(f"alpha must be a number between 0 and 1 (got {alpha!r}); e.g. 0.05.")
    return float(alpha)


def _check_n_opt(n_opt) -> float:
    try:
        value = float(n_opt)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"n_opt (the expected number of units at the planned end, which tunes the "
                             f"confidence sequence) must be a positive number (got {n_opt!r}).")
    return value


def sequential_rho(n_opt: float, alpha: float = 0.05) -> float:
    """Mixing parameter ``rho`` that makes the confidence sequence tightest at ``n_opt`` units.

    GrowthBook's rule: ``rho = sqrt((-2 log(alpha) + log(-2 log(alpha) + 1)) / n_opt)``.
    """
    alpha = _check_alpha(alpha)
    n_opt = _check_n_opt(n_opt)
    c = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)
    return math.sqrt(c / n_opt)


def boundary_multiplier(n, n_opt: float, alpha: float = 0.05) -> np.ndarray:
    """Half-width of the confidence sequence in standard errors (normal scale) after ``n`` units.

    ``sqrt(2 (x + 1) / x * log(sqrt(x + 1) / alpha))`` with ``x = n rho^2``. Compare with the
    fixed-horizon 1.96 at alpha = 0.05: it is about 3.03 at ``n = n_opt``.

    Parameters
    ----------
    n : array-like of positive numbers
        Units observed (any shape).
    n_opt, alpha : float

    Returns
    -------
    ndarray like ``n`` (infinite where ``n <= 0``).
    """
    rho = sequential_rho(n_opt, alpha)
    n = np.asarray(n, dtype=float)
    x = n * rho ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(2 * (x + 1) / x * np.log(np.sqrt(x + 1) / alpha))
    return np.where(n > 0, out, np.inf)


def _z_equivalent(stat, df) -> np.ndarray:
    """|t| with ``df`` degrees of freedom mapped to the normal value with the same two-sided p-value."""
    stat = np.abs(np.asarray(stat, dtype=float))
    df = np.asarray(df, dtype=float)
    finite_df = np.isfinite(df) & (df > 0)
    with np.errstate(invalid="ignore"):
        tail = np.where(finite_df, sps.t.sf(stat, np.where(finite_df, df, 1.0)), sps.norm.sf(stat))
        return np.where(finite_df, sps.norm.isf(tail), stat)


def confidence_sequence(estimate, se, n, n_opt: float, alpha: float = 0.05, df=np.inf):
    """Always-valid ``1 - alpha`` confidence sequence ``(low, high)`` around ``estimate``.

    Parameters
    ----------
    estimate, se : array-like
        Effect estimate and its (cluster-robust) standard error at each look.
    n : array-like
        Independent units observed at each look (group-periods or group-days).
    n_opt : float
        Tuning parameter: units at which the sequence is tightest (the planned sample size).
    alpha : float
    df : array-like, default inf
        Degrees of freedom of the t reference (Bell-McCaffrey); ``inf`` for the normal.

    Returns
    -------
    (low, high) : tuple of ndarray, broadcast shape of the inputs
    """
    g = boundary_multiplier(n, n_opt, alpha)
    df = np.asarray(df, dtype=float)
    finite_df = np.isfinite(df) & (df > 0)
    with np.errstate(invalid="ignore"):
        crit = np.where(finite_df, sps.t.isf(sps.norm.sf(g), np.where(finite_df, df, 1.0)), g)
    est = np.asarray(estimate, dtype=float)
    half = crit * np.asarray(se, dtype=float)
    return est - half, est + half


def always_valid_p(estimate, se, n, n_opt: float, alpha: float = 0.05, df=np.inf) -> np.ndarray:
    """Always-valid two-sided p-value of "no effect", dual to :func:`confidence_sequence`.

    ``min(1, sqrt(x + 1) * exp(-z^2 x / (2 (x + 1))))`` with ``x = n rho^2`` and ``z`` the
    estimate over its standard error (mapped from the t scale when ``df`` is finite). It is
    below ``alpha`` exactly when the confidence sequence at level ``alpha`` excludes 0.
    ``alpha`` only tunes ``rho`` (with ``n_opt``).
    """
    rho = sequential_rho(n_opt, alpha)
    n = np.asarray(n, dtype=float)
    x = n * rho ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = _z_equivalent(np.asarray(estimate, dtype=float) / np.asarray(se, dtype=float), df)
        p = np.sqrt(x + 1) * np.exp(-z ** 2 * x / (2 * (x + 1)))
    p = np.where(np.isnan(z), np.nan, np.minimum(p, 1.0))
    return np.where(n > 0, p, 1.0)


# ------------------------------------------------------------------------------------------
# applying it to the comparison engine's results
# ------------------------------------------------------------------------------------------
def sequential_comparisons(comparisons: pd.DataFrame, n_units: float, n_opt: float, alpha: float = 0.05,
                           correction: str = "holm") -> pd.DataFrame:
    """The comparisons table with always-valid p-values and confidence sequences.

    Parameters
    ----------
    comparisons : DataFrame
        One row per arm from :func:`groupstats.stats.compare.compare_arms`
        (``.comparisons``): needs ``diff, se, df, ci_low, ci_high, rel_diff, rel_ci_low,
        rel_ci_high, p_value``.
    n_units : float
        Independent units observed so far (:func:`observed_units`).
    n_opt : float
        Units at which the sequence is tightest (:func:`planned_units` by default).
    alpha : float
    correction : str
        Multiple-comparison correction of the always-valid p-values (as in compare_arms).

    Returns
    -------
    DataFrame, same rows and columns, where ``p_value``, ``p_adjusted``, ``significant`` and
    the intervals (``ci_low, ci_high, rel_ci_low, rel_ci_high``) are the always-valid ones;
    the fixed-horizon values are kept as ``p_value_fixed, ci_low_fixed, ci_high_fixed,
    rel_ci_low_fixed, rel_ci_high_fixed`` (marginal, unadjusted intervals); plus ``n_units, n_opt, boundary`` (half-width in
    standard errors). With several arms and a correction the intervals are adjusted for multiple
    comparisons (the boundary at the level at which the correction judges each comparison,
    :func:`groupstats.stats.multiplicity.adjusted_levels`, ``ci_level``; rho stays tuned
    at ``alpha``), so they exclude 0 exactly when ``significant``; the marginal sequences are the
    ``*_unadjusted`` columns. The relative interval is widened by the same factor as the absolute one
    (it keeps its own shape, e.g. for rate ratios).
    """
    from groupstats.stats.compare import CORRECTIONS

    alpha = _check_alpha(alpha)
    if correction not in CORRECTIONS:
        raise ParameterError(f"correction={correction!r} is not supported; use one of {', '.join(CORRECTIONS)}.")
    out = comparisons.copy()
    diff = out["diff"].to_numpy(float)
    se = out["se"].to_numpy(float)
    df = out["df"].to_numpy(float) if "df" in out else np.full(len(out), np.inf)
    g = boundary_multiplier(np.full(len(out), float(n_units)), n_opt, alpha)
    low, high = confidence_sequence(diff, se, n_units, n_opt, alpha, df)
    finite_df = np.isfinite(df) & (df > 0)
    fixed_crit = np.where(finite_df, sps.t.isf(alpha / 2, np.where(finite_df, df, 1.0)), sps.norm.isf(alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        widen = (high - diff) / (fixed_crit * se)
    # the marginal (1 - alpha) fixed-horizon intervals (kept as *_fixed), widened to the confidence sequence
    marginal = {col: out[f"{col}_unadjusted"].to_numpy(float) if f"{col}_unadjusted" in out
                else out[col].to_numpy(float) for col in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high")}
    out["p_value_fixed"] = out["p_value"]
    for col, values in marginal.items():
        out[f"{col}_fixed"] = values
    rel = out["rel_diff"].to_numpy(float)

    fieller = _fieller_from_marginal(diff, se, rel, marginal["rel_ci_low"], marginal["rel_ci_high"], fixed_crit)

    def widened(factor):
        rel_low = rel - factor * (rel - marginal["rel_ci_low"])
        rel_high = rel + factor * (marginal["rel_ci_high"] - rel)
        f_low, f_high = _fieller_interval(diff, se, fieller, factor * fixed_crit)
        use = fieller["ok"]
        return (diff - factor * (diff - marginal["ci_low"]), diff + factor * (marginal["ci_high"] - diff),
                np.where(use, f_low, rel_low), np.where(use, f_high, rel_high))

    p = always_valid_p(diff, se, n_units, n_opt, alpha, df)
    # multiplicity-adjusted sequences: the boundary at the level alpha_i at which the correction judges
    # each comparison (stats.multiplicity: Bonferroni alpha/m, Holm its step, BH alpha R/m) with rho kept
    # at alpha's, which is dual to the always-valid p (p < alpha_i iff it excludes 0)
    adj, levels = adjusted_levels(p, alpha, correction)
    out["p_value"] = p
    out["p_adjusted"] = adj
    out["significant"] = np.where(np.isfinite(adj), adj < alpha, False).astype(bool)
    x = float(n_units) * sequential_rho(n_opt, alpha) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        g_adj = np.where(x > 0, np.sqrt(2 * (x + 1) / x * np.log(np.sqrt(x + 1) / levels)), np.inf)
        crit_adj = np.where(finite_df, sps.t.isf(sps.norm.sf(g_adj), np.where(finite_df, df, 1.0)), g_adj)
        widen_adj = np.where(levels == alpha, widen, crit_adj / fixed_crit)
    for col, values in zip(("ci_low", "ci_high", "rel_ci_low", "rel_ci_high"), widened(widen)):
        out[f"{col}_unadjusted"] = values
    for col, values in zip(("ci_low", "ci_high", "rel_ci_low", "rel_ci_high"), widened(widen_adj)):
        out[col] = values
    out["ci_level"] = 1.0 - levels
    out["interval_adjusted"] = True
    out["n_units"] = float(n_units)
    out["n_opt"] = float(n_opt)
    out["boundary"] = g
    return out



def _fieller_from_marginal(diff, se, rel, rel_low, rel_high, crit) -> dict:
    """The variance terms of a Fieller interval, recovered from the marginal relative interval.

    The relative effect is ``theta = diff / base`` with ``base = diff / rel`` (the control's level). A Fieller
    interval at critical value ``c`` has endpoints solving ``(diff - theta*base)^2 = c^2 (V_dd - 2 theta V_db +
    theta^2 V_bb)``; with ``V_dd = se^2`` known, its two endpoints give ``V_db`` and ``V_bb`` (two linear
    equations). Rows where this does not reproduce the marginal interval (e.g. a log-scale rate ratio) are
    marked ``ok = False`` and keep the stretched interval.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        base = diff / rel
        t1, t2 = np.asarray(rel_low, float), np.asarray(rel_high, float)
        r1 = (diff - t1 * base) ** 2 / crit ** 2 - se ** 2
        r2 = (diff - t2 * base) ** 2 / crit ** 2 - se ** 2
        det = -2 * t1 * t2 ** 2 + 2 * t2 * t1 ** 2           # | -2 t1  t1^2 ; -2 t2  t2^2 |
        v_db = (r1 * t2 ** 2 - r2 * t1 ** 2) / det
        v_bb = (-2 * t1 * r2 + 2 * t2 * r1) / det
    ok = (np.isfinite(base) & np.isfinite(v_db) & np.isfinite(v_bb) & (v_bb >= 0) & (np.abs(det) > 1e-12)
          & np.isfinite(t1) & np.isfinite(t2) & (se > 0))
    terms = {"base": base, "v_dd": se ** 2, "v_db": v_db, "v_bb": v_bb, "ok": ok}
    back_low, back_high = _fieller_interval(diff, se, terms, crit)
    with np.errstate(invalid="ignore"):
        same = (np.abs(back_low - t1) <= 1e-6 * (1 + np.abs(t1))) & (np.abs(back_high - t2) <= 1e-6 * (1 + np.abs(t2)))
    terms["ok"] = ok & same
    return terms


def _fieller_interval(diff, se, terms: dict, crit):
    """Fieller interval for ``diff / base`` at critical value ``crit`` (unbounded ends as -inf/inf)."""
    b, v_dd, v_db, v_bb = terms["base"], terms["v_dd"], terms["v_db"], terms["v_bb"]
    c2 = np.asarray(crit, float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        qa = b ** 2 - c2 * v_bb
        qb = -2 * (diff * b - c2 * v_db)
        qc = diff ** 2 - c2 * v_dd
        disc = qb ** 2 - 4 * qa * qc
        root = np.sqrt(np.where(disc > 0, disc, np.nan))
        lo = (-qb - root) / (2 * qa)
        hi = (-qb + root) / (2 * qa)
    bounded = (qa > 0) & (disc > 0)
    low = np.where(bounded, np.minimum(lo, hi), -np.inf)
    high = np.where(bounded, np.maximum(lo, hi), np.inf)
    return low, high

def adjust_p(p, correction: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values: ``holm``, ``bonferroni``, ``bh`` (Benjamini-Hochberg) or ``none``.

    The comparison engine's adjustment (one implementation; the same as statsmodels' ``multipletests``,
    which a test checks, without its per-call garbage collection that costs a monitoring loop seconds).
    """
    from groupstats.stats.multiplicity import CORRECTIONS
    from groupstats.stats.multiplicity import adjust_p as _adjust

    p = np.asarray(p, dtype=float)
    if correction not in CORRECTIONS:
        raise ParameterError(f"correction={correction!r} is not supported; use holm, bh, bonferroni or none.")
    if CORRECTIONS[correction] is None or len(p) <= 1:
        return p.copy()
    return _adjust(p, correction)


def with_comparisons(result, comparisons: pd.DataFrame):
    """A copy of a comparison result whose ``comparisons`` table is replaced (the original is untouched)."""
    if dataclasses.is_dataclass(result):
        try:
            return dataclasses.replace(result, comparisons=comparisons)
        except (TypeError, ValueError):
            pass
    clone = copy.copy(result)
    clone.comparisons = comparisons
    return clone


# ------------------------------------------------------------------------------------------
# units of clustered designs, and the as-of cutoff
# ------------------------------------------------------------------------------------------
def observed_units(frame: pd.DataFrame, design: str, group: str = "group_id", period: str = "period_start",
                   time: str = "posted_at", tz: str | None = None) -> int:
    """Independent units with analysed data: group-periods (switchback) or group-days (group-randomised).

    Parameters
    ----------
    frame : DataFrame, one row per analysed post (or unit)
    design : {"switchback", "group-randomised"}
    group, period, time : column names (``period`` for switchbacks; ``time`` otherwise,
        whose local calendar date defines the day)
    """
    if design == "switchback":
        return int(frame[[group, period]].drop_duplicates().shape[0])
    times = frame[time]
    if tz is not None and isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert(tz)
    days = times.dt.tz_localize(None).dt.normalize() if isinstance(times.dtype, pd.DatetimeTZDtype) \
        else pd.to_datetime(times).dt.normalize()
    return int(pd.DataFrame({"g": frame[group].to_numpy(), "d": days.to_numpy()}).drop_duplicates().shape[0])


def planned_units(assignments: pd.DataFrame, design: str) -> int:
    """Units the experiment plans to have at its planned end, from its assignments table.

    Switchback: one unit per assignment row (group-period). Group-randomised: the planned
    group-days, ``sum(ceil((end_at - start_at) / 1 day))`` over groups.
    """
    if design == "switchback":
        return int(len(assignments))
    days = np.ceil((assignments["end_at"] - assignments["start_at"]) / pd.Timedelta(days=1))
    return int(max(days.sum(), 1))


def as_of_cutoff(value, tz: str) -> pd.Timestamp:
    """The cutoff of ``--as-of``: a date means the end of that local day; a date-time is used as is.

    ``"2026-03-15"`` -> 2026-03-15 23:59:59.999999 in ``tz``: data of the whole day are used.
    """
    text = str(value).strip()
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"--as-of {value!r} is not a date; use ISO format, e.g. 2026-03-15 "
                             "(the whole day is included) or 2026-03-15T18:00.") from exc
    if pd.isna(ts):
        raise ParameterError(f"--as-of {value!r} is not a date; use ISO format, e.g. 2026-03-15.")
    ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    date_only = len(text) <= 10 and "T" not in text and ":" not in text
    if date_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


# ------------------------------------------------------------------------------------------
# any tidy table (the ``compare`` command)
# ------------------------------------------------------------------------------------------
def monitored_table(path, time_column: str | None = None, as_of=None, cluster: str | None = None,
                    tz: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read a tidy table for ``compare`` and keep the rows up to ``as_of`` (by ``time_column``).

    Parameters
    ----------
    path : str or Path
        CSV/TSV/Parquet file, one row per unit.
    time_column : str, optional
        Column with each row's time; needed by ``as_of``. With ``cluster`` it also defines the
        units of the sequential analysis (cluster-days).
    as_of : date or date-time, optional
        Keep rows up to the end of that day (or that time).
    cluster : str, optional
    tz : str, optional
        Zone in which a date ``as_of`` is read when the times carry a zone (default: theirs).

    Returns
    -------
    (DataFrame, dict)
        The rows kept, and ``{"as_of", "n_rows_total", "n_rows_after_as_of", "n_units", "unit"}``.
    """
    from pathlib import Path

    path = Path(path)
    frame = read_unit_table(path)
    if as_of is not None and time_column is None:
        raise ParameterError(f"--as-of needs --time-column, the column of {path} with each row's time; its "
                             f"columns are: {', '.join(map(str, frame.columns))}.")
    info = {"as_of": None, "n_rows_total": int(len(frame)), "n_rows_after_as_of": 0}
    times = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise ParameterError(f"File {path} has no column '{time_column}' (needed as --time-column); its "
                                 f"columns are: {', '.join(map(str, frame.columns))}.")
        raw = frame[time_column]
        times = pd.to_datetime(raw, errors="coerce", format="ISO8601") if raw.dtype == object or \
            pd.api.types.is_string_dtype(raw) else pd.to_datetime(raw, errors="coerce")
        bad = times.isna() & raw.notna()
        if raw.isna().any() or bad.any():
            rows = np.flatnonzero(bad.to_numpy() | raw.isna().to_numpy())
            shown = ", ".join(repr(v) for v in raw.iloc[rows[:5]].tolist())
            raise ParameterError(f"File {path}, column '{time_column}': {len(rows)} row(s) are not ISO times "
                                 f"(rows {', '.join(str(r + 2) for r in rows[:5])}: {shown}); write times as "
                                 "2026-03-15 or 2026-03-15T18:00.")
    if as_of is not None:
        zone = str(times.dt.tz) if isinstance(times.dtype, pd.DatetimeTZDtype) else None
        cut = as_of_cutoff(as_of, tz or zone or "UTC")
        if zone is None:
            cut = cut.tz_localize(None)
        keep = (times <= cut).to_numpy()
        info.update(as_of=cut, n_rows_after_as_of=int((~keep).sum()))
        frame, times = frame.loc[keep].reset_index(drop=True), times.loc[keep].reset_index(drop=True)
        if frame.empty:
            raise ParameterError(f"File {path}: no row of '{time_column}' is on or before {as_of}; the first is "
                                 f"{raw.min()}.")
    if cluster is not None and cluster in frame.columns and times is not None:
        day = times.dt.tz_localize(None).dt.normalize() if isinstance(times.dtype, pd.DatetimeTZDtype) \
            else times.dt.normalize()
        info["n_units"] = int(pd.DataFrame({"c": frame[cluster].to_numpy(), "d": day.to_numpy()})
                              .drop_duplicates().shape[0])
        info["unit"] = "cluster-day"
    elif cluster is not None and cluster in frame.columns:
        info["n_units"], info["unit"] = int(frame[cluster].nunique()), "cluster"
    else:
        info["n_units"], info["unit"] = int(len(frame)), "row"
    return frame, info


def monitoring_readout(result, info: dict, sequential: bool = False, n_opt: float | None = None,
                       prior_sd: float = 0.3) -> tuple:
    """Sequential comparisons and the Bayesian read-out for a :class:`~groupstats.stats.compare.ComparisonResult`.

    Returns
    -------
    (result, extra)
        The result (its comparisons always-valid when ``sequential``) and the JSON keys to add:
        ``sequential``, ``sequential_settings``, ``as_of``, ``n_rows_after_as_of``,
        ``comparisons`` (each with ``bayes``), ``conclusion`` and ``monitoring_notes``.
    """
    from groupstats.stats.bayes import bayes_readout, bayes_records, describe

    settings, notes = None, []
    if sequential:
        n_used = float(info["n_units"] if n_opt is None else n_opt)
        result = with_comparisons(result, sequential_comparisons(result.comparisons, info["n_units"], n_used,
                                                                 result.alpha, result.correction))
        settings = {"n_units": info["n_units"], "n_opt": n_used, "unit": info["unit"],
                    "boundary": float(result.comparisons["boundary"].iloc[0]) if len(result.comparisons) else None,
                    "method": "asymptotic confidence sequence (Waudby-Smith et al.)"}
        notes.append(f"{SEQUENTIAL_NOTE} Units: {info['n_units']:,} {info['unit']}s; tuned to be tightest at "
                     f"{n_used:,.0f}" + (" (pass --n-opt with the planned number)." if n_opt is None else "."))
    bayes = bayes_readout(result.comparisons, alpha=result.alpha, prior_sd=prior_sd)
    notes += [describe(row, f"{100 * (1 - result.alpha):g}%") for row in bayes.itertuples(index=False)]
    if info.get("as_of") is not None:
        notes.append(f"As of {info['as_of']}: {info['n_rows_after_as_of']:,} later row(s) of "
                     f"{info['n_rows_total']:,} were left out.")
    comparisons = result.to_dict()["comparisons"]        # unbounded interval ends stay "inf" / "-inf"
    readout = bayes_records(bayes)
    for row in comparisons:
        row["bayes"] = readout.get(str(row["arm"]))
    extra = {"sequential": bool(sequential), "sequential_settings": settings, "as_of": info.get("as_of"),
             "n_rows_after_as_of": info.get("n_rows_after_as_of", 0), "comparisons": comparisons,
             "conclusion": "\n".join([result.conclusion(), *notes]), "monitoring_notes": notes}
    return result, extra
