"""The outcome of each post in a slot experiment: the metrics, replies and responses within a window,
and the group's usual chatter at that clock time."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError


@dataclass(frozen=True)
class MetricSpec:
    """How a post-level metric is built and compared."""

    name: str
    column: str               # column of the post frame holding the numerator
    kind: str                 # default kind for compare_arms
    denominator: str | None   # for ratio metrics
    needs: tuple              # tables needed beyond posts
    description: str


#: The metrics of a slot experiment, by name.
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("replies", "replies", "mean", None, (),
               "member quote-replies to the post within the window"),
    MetricSpec("responses", "responses", "mean", None, (),
               "member messages in the group within the window after the post"),
    MetricSpec("incremental_responses", "incremental_responses", "mean", None, (),
               "responses minus the group's usual messages in the same clock window on days it "
               "posted at another time"),
    MetricSpec("responders", "responders", "mean", None, (),
               "distinct members responding within the window"),
    MetricSpec("read_rate", "readers", "ratio", "n_present", ("events",),
               "distinct readers within 24 h over members present (ratio of sums)"),
    MetricSpec("click_rate", "clickers", "ratio", "n_present", ("events",),
               "distinct clickers within 24 h over members present (ratio of sums)"),
)}


def _metric_spec(metric: str) -> MetricSpec:
    if metric not in METRICS:
        raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
    return METRICS[metric]


# ------------------------------------------------------------------------------------------
# outcomes per post
# ------------------------------------------------------------------------------------------
def _local_us(times: pd.Series) -> np.ndarray:
    """Local wall-clock time as int64 microseconds (naive), so day arithmetic is clock arithmetic."""
    return times.dt.tz_localize(None).dt.as_unit("us").to_numpy().astype("int64")


_US_PER_DAY = 86_400_000_000


def usual_chatter(ds: Dataset, posts: pd.DataFrame, window="2h", exclude_red_packets=None,
                  max_pairs: int = 4_000_000) -> pd.DataFrame:
    """The group's usual member messages in each post's clock window on other posting days.

    For a post of group g at clock time t on day D, its responses are counted
    over ``[t, t + L)`` with ``L = min(window, time to g's next post)`` (a later
    post takes over the messages after it). The reference days are the other
    days on which g posted, excluding days where some post of g falls in
    ``(t - window, t + L)`` on that day's clock (its responses would
    contaminate the window). On each reference day d the member messages of g
    in ``[d + t, d + t + L)`` are counted; the baseline is their mean, so
    ``responses - usual_chatter`` compares like with like.

    Parameters
    ----------
    ds : Dataset
    posts : DataFrame with post_id, group_id, posted_at (n rows)
    window : duration
    exclude_red_packets : duration or None
        Drop red-packet bursts from the counted messages, as in
        :func:`groupstats.tables.derived.post_outcomes`.

    Returns
    -------
    DataFrame (n rows, same order) with columns ``usual_chatter`` (float, NaN
    when the group has no reference day) and ``n_reference_days`` (int).
    """
    from groupstats.tables.derived import _count_up_to, _timedelta, member_messages, red_packet_burst_mask

    w = _timedelta(window, "window")
    w_us = int(w / pd.Timedelta(microseconds=1))
    msgs = member_messages(ds)
    if exclude_red_packets is not None and exclude_red_packets is not False:
        quiet = _timedelta("10min" if exclude_red_packets is True else exclude_red_packets,
                           "exclude_red_packets")
        msgs = msgs.loc[~red_packet_burst_mask(ds, msgs, quiet)]
    all_posts = ds.require("posts", "incremental_responses")
    groups = pd.Index(pd.unique(pd.concat([all_posts["group_id"], posts["group_id"],
                                           msgs["group_id"]], ignore_index=True)))
    m_code = groups.get_indexer(msgs["group_id"])
    m_time = _local_us(msgs["sent_at"])
    a_code = groups.get_indexer(all_posts["group_id"])
    a_time = _local_us(all_posts["posted_at"])
    # posting days of each group, sorted by (group, day)
    a_day = a_time // _US_PER_DAY
    days = pd.DataFrame({"g": a_code, "d": a_day}).drop_duplicates().sort_values(["g", "d"])
    day_g, day_d = days["g"].to_numpy(), days["d"].to_numpy()
    first = np.searchsorted(day_g, np.arange(len(groups)), side="left")
    last = np.searchsorted(day_g, np.arange(len(groups)), side="right")

    p_code = groups.get_indexer(posts["group_id"])
    p_time = _local_us(posts["posted_at"])
    # effective window: up to the group's next post (which takes over later messages)
    n_upto = _count_up_to(a_code, a_time, p_code, p_time, inclusive=True)
    a_sorted = np.lexsort((a_time, a_code))
    g_first = np.searchsorted(a_code[a_sorted], np.arange(len(groups)), side="left")
    nxt_pos = g_first[p_code] + n_upto
    has_next = (nxt_pos < len(a_sorted))
    nxt_pos = np.minimum(nxt_pos, len(a_sorted) - 1)
    has_next &= a_code[a_sorted][nxt_pos] == p_code
    gap = np.where(has_next, a_time[a_sorted][nxt_pos] - p_time, w_us)
    p_len = np.minimum(gap, w_us)
    p_day, p_tod = p_time // _US_PER_DAY, p_time % _US_PER_DAY
    n_days = last[p_code] - first[p_code]
    total = np.zeros(len(posts))
    count = np.zeros(len(posts), dtype=np.int64)
    # chunks of posts so the (post, reference day) pairs stay within max_pairs
    bounds = np.searchsorted(np.cumsum(n_days), np.arange(max_pairs, int(n_days.sum()) + max_pairs,
                                                          max_pairs), side="right")
    lo = 0
    for hi in np.unique(np.r_[bounds, len(posts)]):
        if hi <= lo:
            continue
        idx = np.arange(lo, hi)
        reps = n_days[idx]
        pair_post = np.repeat(idx, reps)
        offset = np.arange(len(pair_post)) - np.repeat(np.cumsum(reps) - reps, reps)
        pair_day = day_d[first[p_code[pair_post]] + offset]
        g = p_code[pair_post]
        start = pair_day * _US_PER_DAY + p_tod[pair_post]
        end = start + p_len[pair_post]
        n_msgs = (_count_up_to(m_code, m_time, g, end, inclusive=False)
                  - _count_up_to(m_code, m_time, g, start, inclusive=False))
        n_posts_near = (_count_up_to(a_code, a_time, g, end, inclusive=False)
                        - _count_up_to(a_code, a_time, g, start - w_us, inclusive=True))
        ok = (pair_day != p_day[pair_post]) & (n_posts_near == 0)
        total += np.bincount(pair_post[ok], weights=n_msgs[ok], minlength=len(posts))
        count += np.bincount(pair_post[ok], minlength=len(posts))
        lo = hi
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return pd.DataFrame({"usual_chatter": baseline, "n_reference_days": count}, index=posts.index)


def outcome_counts(metrics) -> tuple:
    """The post outcome counts (:data:`groupstats.tables.derived.POST_OUTCOME_COUNTS`) that the
    metrics named (or given as :class:`MetricSpec`) are built from."""
    counts = []
    for m in metrics:
        spec = m if isinstance(m, MetricSpec) else _metric_spec(m)
        for col in (spec.column, spec.denominator):
            col = "responses" if col == "incremental_responses" else col
            if col is not None and col not in counts:
                counts.append(col)
    return tuple(counts)


def post_metric_frame(ds: Dataset, metric: str = "replies", window="2h", exclude_red_packets=None,
                      as_of=None, counts=None) -> pd.DataFrame:
    """Post outcomes (:func:`groupstats.tables.derived.post_outcomes`) with the named metric ready.

    Adds ``incremental_responses`` and ``usual_chatter`` when that metric is
    asked for. Raises :class:`~groupstats.errors.MissingTableError` when the
    metric needs a table the dataset lacks (``read_rate`` needs ``events``).
    ``counts``: compute only these post outcome counts (e.g. :func:`outcome_counts` of the
    metrics analysed); default all.
    """
    from groupstats.tables.derived import post_outcomes

    spec = _metric_spec(metric)
    if as_of is not None:
        ds = ds.as_of(as_of)
    ds.require("posts", "a posting-slot analysis")
    for table in spec.needs:
        ds.require(table, f"the metric '{metric}'")
    frame = post_outcomes(ds, window=window, exclude_red_packets=exclude_red_packets, counts=counts)
    return _with_usual_chatter(ds, frame, metric, window, exclude_red_packets)


def _with_usual_chatter(ds: Dataset, frame: pd.DataFrame, metric: str, window, exclude_red_packets) -> pd.DataFrame:
    """Post outcomes ``frame`` with incremental_responses and usual_chatter added for that metric."""
    if metric == "incremental_responses":
        usual = usual_chatter(ds, frame, window=window, exclude_red_packets=exclude_red_packets)
        frame["usual_chatter"] = usual["usual_chatter"].to_numpy()
        frame["n_reference_days"] = usual["n_reference_days"].to_numpy()
        frame["incremental_responses"] = frame["responses"] - frame["usual_chatter"]
    return frame
