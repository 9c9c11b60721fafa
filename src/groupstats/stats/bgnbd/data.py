"""Data for the BG/NBD model: simulated customers, and the frequency/recency/T summary from a
transactions table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError

from groupstats.stats.bgnbd.likelihood import _as_float_array


def simulate_bgnbd(params, T, seed=None, horizon: float = 0.0) -> pd.DataFrame:
    """Vectorised simulation from the BG/NBD model; see :meth:`BetaGeoModel.simulate`."""
    r, alpha, a, b = np.asarray(params, dtype=float)
    rng = np.random.default_rng(seed)
    T_ = _as_float_array(T, "T")
    n = T_.size
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    end = T_ + horizon
    t_now = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    active = np.ones(n, dtype=bool)  # still inside the observation window and alive
    freq = np.zeros(n, dtype=np.int64)
    rec = np.zeros(n)
    hold = np.zeros(n, dtype=np.int64)
    alive_at_T = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t_next = t_now[idx] + rng.exponential(1.0, size=idx.size) / lam[idx]
        in_window = t_next <= end[idx]
        calib = t_next <= T_[idx]
        i_cal = idx[in_window & calib]
        freq[i_cal] += 1
        rec[i_cal] = t_next[in_window & calib]
        hold[idx[in_window & ~calib]] += 1
        t_now[idx] = t_next
        dies = in_window & (rng.random(idx.size) < p[idx])
        alive[idx[dies]] = False
        alive_at_T[idx[dies & calib]] = False
        active[idx[~in_window | dies]] = False
    return pd.DataFrame({"frequency": freq, "recency": rec, "T": T_, "holdout_frequency": hold,
                         "alive_at_T": alive_at_T})


# --------------------------------------------------------------------------------------
# transactions -> summary
# --------------------------------------------------------------------------------------
_UNIT_DAYS = {"D": 1.0, "W": 7.0}


def summary_from_transactions(transactions: pd.DataFrame, customer_col: str, time_col: str, cutoff,
                              unit: str = "W", start=None) -> pd.DataFrame:
    """Build the BG/NBD summary (frequency, recency, T) per customer from a transaction log.

    Only rows with ``time_col <= cutoff`` are used (features strictly from data up to the
    cutoff). Timestamps are floored to calendar days and several transactions on one day
    count once, so ``frequency`` = number of *distinct days* with a transaction after the
    first day (for chat data: active days after the first active day).

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction (or per active day).
    customer_col : str
        Customer / member id column.
    time_col : str
        Datetime-like column (strings are parsed with ``pd.to_datetime``).
    cutoff : datetime-like
        End of the calibration period; rows after it are ignored, and T is measured to it.
    unit : {"W", "D"}, default "W"
        Time unit of ``recency`` and ``T``: weeks (days / 7) or days.
    start : datetime-like, optional
        Start of the cohort window: customers whose first transaction is before ``start``
        are dropped entirely (their history is left-truncated, so their age and counts
        would be wrong). Default: keep everyone.

    Returns
    -------
    DataFrame indexed by customer with columns ``frequency`` (int64), ``recency``, ``T``
    (float, in ``unit``) and ``first`` (first transaction day).
    """
    if unit not in _UNIT_DAYS:
        raise ParameterError(f"unit must be 'W' (weeks) or 'D' (days), got {unit!r}.")
    for col in (customer_col, time_col):
        if col not in transactions.columns:
            raise ParameterError(f"Column '{col}' is not in the transactions table "
                                 f"(columns: {list(transactions.columns)[:20]}).")
    try:
        cutoff_ts = pd.Timestamp(cutoff)
        start_ts = None if start is None else pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"cutoff/start must be dates, e.g. '1997-09-30' ({exc}).") from exc
    if start_ts is not None and start_ts > cutoff_ts:
        raise ParameterError(f"start ({start_ts.date()}) is after cutoff ({cutoff_ts.date()}).")
    times = pd.to_datetime(transactions[time_col])
    if times.isna().any():
        raise ParameterError(f"Column '{time_col}' has {int(times.isna().sum())} missing or unparseable "
                             f"timestamps; drop or fix them first.")
    tz = getattr(times.dt, "tz", None)
    if tz is not None and cutoff_ts.tzinfo is None:
        cutoff_ts = cutoff_ts.tz_localize(tz)
        if start_ts is not None and start_ts.tzinfo is None:
            start_ts = start_ts.tz_localize(tz)
    keep = (times <= cutoff_ts).to_numpy()
    frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy()[keep],
                          "day": times.dt.floor("D").to_numpy()[keep]})
    frame = frame.drop_duplicates()
    cols = ["frequency", "recency", "T", "first"]
    if frame.empty:
        return pd.DataFrame(columns=cols).rename_axis(customer_col)
    grouped = frame.groupby("customer", sort=True)["day"]
    first = grouped.min()
    last = grouped.max()
    n_days = grouped.size()
    if start_ts is not None:
        in_cohort = first >= start_ts.floor("D")
        first, last, n_days = first[in_cohort], last[in_cohort], n_days[in_cohort]
    scale = _UNIT_DAYS[unit]
    day = pd.Timedelta(days=1)
    out = pd.DataFrame({
        "frequency": (n_days - 1).astype("int64"),
        "recency": ((last - first) / day / scale).astype(float),
        "T": ((cutoff_ts.floor("D") - first) / day / scale).astype(float),
        "first": first,
    })
    out.index.name = customer_col
    return out
