"""A small vectorised generator of communities with planted activity tiers, for the segmentation grid.

Written for the tests, independent of :mod:`groupstats.data.simulate`: it produces the member-feature
table (the columns of :func:`groupstats.tables.features.member_features` that segmentation reads)
directly from simulated daily message counts, so a grid of a few dozen communities runs in seconds.

Model (all on the log scale of the daily message rate):

* ``n_tiers`` tiers whose typical rates are evenly spaced in log from 0.03 to 6 messages a day
  (two orders of magnitude and more); tier shares fall with activity (the quiet tiers are the
  largest), ``share_t`` proportional to ``1.5 ** -t`` for tier t = 0 (quietest) ... T-1;
* a member's rate = tier rate x group effect x individual effect; the individual effect is
  lognormal with SD ``overlap * spacing`` (spacing = log distance between neighbouring tiers):
  0.2 = weak overlap, 0.35 = moderate, 0.5 = strong (neighbouring tiers' rate distributions
  then cross one SD from their centres);
* the group effect is lognormal with SD ``group_sigma`` (0 = none, 0.5, 1.0 = strong: a group
  2.7 times livelier or quieter than average is one SD);
* group sizes are lognormal around ``members_per_group`` (at least 8); a quarter of members
  joined during the window (observed 10 to ``days`` days);
* messages: Poisson per observed day; ``read_rate`` and ``sign_in_rate`` rise with the tier with
  member-level noise (logit SD 1.0), as in communities whose quiet members also read less.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

LOW_RATE, HIGH_RATE = 0.03, 6.0


def simulate_tier_features(n_tiers: int, overlap: float, group_sigma: float, n_groups: int, seed: int,
                           members_per_group: float = 30.0, days: int = 60):
    """Return ``(features, tier)``: a member-feature frame and the planted tier (0 = quietest) per row."""
    rng = np.random.default_rng(seed)
    log_rates = np.linspace(np.log(LOW_RATE), np.log(HIGH_RATE), n_tiers)
    spacing = log_rates[1] - log_rates[0]
    shares = 1.5 ** -np.arange(n_tiers, dtype=float)
    shares /= shares.sum()
    sizes = np.maximum(8, np.round(members_per_group * rng.lognormal(-0.125, 0.5, n_groups))).astype(int)
    n = int(sizes.sum())
    group = np.repeat(np.arange(n_groups), sizes)
    tier = rng.choice(n_tiers, n, p=shares)
    group_effect = rng.normal(0.0, group_sigma, n_groups) if group_sigma > 0 else np.zeros(n_groups)
    log_rate = log_rates[tier] + group_effect[group] + rng.normal(0.0, overlap * spacing, n)
    late = rng.random(n) < 0.25
    observed = np.where(late, rng.integers(10, days + 1, n), days)
    day = np.arange(days)
    # day index counted back from the cutoff: 0 = the last day; observable if day < observed
    observable = day[None, :] < observed[:, None]
    counts = rng.poisson(np.exp(log_rate)[:, None] * observable)
    active = counts > 0
    messages_total = counts.sum(axis=1)
    last = np.where(active.any(axis=1), active.argmax(axis=1), -1)  # first True = most recent day
    recency = np.where(last >= 0, last + 0.5, np.nan)
    recent = counts[:, :30].sum(axis=1)
    earlier = counts[:, 30:].sum(axis=1)
    r_recent = recent / np.minimum(observed, 30)
    earlier_days = np.clip(observed - 30, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_earlier = np.where(earlier_days > 0, earlier / np.maximum(earlier_days, 1), np.nan)
        trend = (r_recent - r_earlier) / (r_recent + r_earlier)
    quiet_to_core = tier / max(n_tiers - 1, 1)  # 0 .. 1
    logit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    read_p = logit(-1.5 + 3.0 * quiet_to_core + rng.normal(0, 1.0, n))
    posts = 2 * observed
    read_rate = rng.binomial(posts, read_p) / posts
    sign_p = logit(-3.0 + 3.0 * quiet_to_core + rng.normal(0, 1.0, n))
    sign_in_days = rng.binomial(observed, sign_p)
    width = len(str(n_groups))
    frame = pd.DataFrame({
        "group_id": pd.Series([f"g{g:0{width}d}" for g in range(n_groups)]).to_numpy()[group],
        "member_id": [f"m{i:05d}" for i in range(n)],
        "tenure_days": observed.astype(float),
        "observed_days": observed.astype(int),
        "recency_days": recency,
        "messages_total": messages_total.astype(int),
        "messages_7d": counts[:, :7].sum(axis=1), "messages_30d": recent, "messages_60d": messages_total,
        "active_days_7d": active[:, :7].sum(axis=1), "active_days_30d": active[:, :30].sum(axis=1),
        "active_days_60d": active.sum(axis=1),
        "messages_per_day": messages_total / observed,
        "active_day_share": active.sum(axis=1) / observed,
        "trend": trend,
        "posts_present": posts.astype(int),
        "read_rate": read_rate,
        "sign_in_days_60d": sign_in_days.astype(float),
    })
    frame.attrs.update({"cutoff": None, "windows": [7, 30, 60], "normalised": False, "missing": []})
    return frame, tier
