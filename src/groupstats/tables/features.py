"""Member features as of a cutoff: one row per (group, member), no leakage.

:func:`member_features` is the one function that turns a dataset into a table
of per-member activity features. It is used by member segmentation
(:mod:`groupstats.analyses.segmentation`), by rule-based tiers and by churn models, and
it is benchmarked at scale, so its *contract* (arguments, rows, column names
and meanings) is stable; its internals may be optimised.

Rows
----
One row per (group_id, member_id) for every **non-operator** member present
at the cutoff: a membership that started at or before the cutoff and had not
ended by it (``left_at`` empty or later than the cutoff). A member of several
groups has one row per group. Operators (owner/admin in any membership row of
that group) are excluded, as in :mod:`groupstats.tables.derived`.

No leakage
----------
Everything is computed on ``ds.as_of(cutoff)``: messages, events, posts and
joins after the cutoff are never read, so adding data after the cutoff does not
change any feature. Windows are counted in local calendar days ending on the
cutoff's date: the 7-day window holds the cutoff date and the 6 dates before it
(only up to the cutoff time on the cutoff date).

Several cutoffs
---------------
:func:`member_features_at` computes the features at many cutoffs (e.g. for churn
models) in one pass over the messages and one over the events, each frame equal to
:func:`member_features` at its cutoff (the counts behind both are one expression,
:func:`groupstats.tables.feature_counts.member_feature_counts`);
:func:`member_features_panel` stacks them with a ``cutoff`` column.

Example
-------
>>> from groupstats import load_dataset
>>> from groupstats.tables.features import member_features
>>> ds = load_dataset("data/sample")                      # doctest: +SKIP
>>> feats = member_features(ds, cutoff="2026-04-01")      # doctest: +SKIP
>>> ranks = member_features(ds, "2026-04-01", normalise_within_group=True)  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.checks import check_scalar
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.tables.derived.member_days import event_types
from groupstats.tables.group_buckets import by_group_buckets
from groupstats.tables.feature_counts import (KEY_COLUMNS, MIX_TYPES, NIGHT_HOURS,  # noqa: F401
                                              count_member_features, member_feature_counts)

_US_PER_DAY = 86_400_000_000


#: The message-mix features: the shares of message types and of times of day and week (left out of the
#: features asked with ``message_mix=False``, e.g. by churn's models, which do not use them).
MESSAGE_MIX_COLUMNS = (*[f"share_{t}" for t in MIX_TYPES], "share_other", "share_evening", "share_night",
                       "share_weekend")


def feature_columns(windows: Sequence[int] = (7, 30, 90), message_mix: bool = True) -> list[str]:
    """The feature column names :func:`member_features` returns for ``windows``, in order.

    Keys (group_id, member_id) are not included; nor, without ``message_mix``, the message mix
    (:data:`MESSAGE_MIX_COLUMNS`).
    """
    windows = _check_windows(windows)
    wmax = windows[-1]
    cols = ["tenure_days", "observed_days", "recency_days", "messages_total"]
    cols += [f"messages_{w}d" for w in windows]
    cols += [f"active_days_{w}d" for w in windows]
    cols += ["messages_per_day", "active_day_share", "trend", "share_replies", "share_mentions"]
    cols += list(MESSAGE_MIX_COLUMNS) if message_mix else []
    cols += ["posts_present", "post_replies", "replies_per_post", "read_rate", "click_rate",
             f"sign_in_days_{wmax}d"]
    return cols


def _check_windows(windows) -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(w) for w in windows}))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"windows must be whole numbers of days such as (7, 30, 90), got {windows!r}.") \
            from exc
    if not out or out[0] < 1:
        raise ParameterError(f"windows must be at least one positive number of days, got {windows!r}.")
    return out


def _trend_windows(windows: tuple[int, ...]) -> tuple[int, int]:
    """(recent, long): trend compares the last ``recent`` days with the ``long - recent`` days before."""
    long = windows[-1]
    recent = windows[-2] if len(windows) >= 2 else max(1, long // 2)
    if recent >= long:
        recent = max(1, long // 2)
    return recent, long


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _cut_source(ds, cutoff):
    """The :class:`~groupstats.engine.Source` of ``ds`` cut at ``cutoff`` (default: its own cutoff,
    else the last message)."""
    from groupstats.engine import source_of

    src = source_of(ds)
    if cutoff is not None:
        return src.cut(src.timestamp_us(cutoff))
    if src.cut_us is not None:
        return src
    last = src.message_range_us()[1]
    if last is None:
        raise InsufficientDataError("The dataset has no messages, so there is no default cutoff; "
                                    "pass cutoff=... (a date).")
    return src.cut(last)


def member_features(ds, cutoff=None, windows: Sequence[int] = (7, 30, 90),
                    normalise_within_group: bool = False) -> pd.DataFrame:
    """Activity features of every present non-operator member, from data up to ``cutoff``.

    Parameters
    ----------
    ds : Dataset, dataset folder or :class:`groupstats.engine.Source`
        Needs ``messages`` and ``members``; ``posts`` and ``events`` add the
        post-response, read/click and sign-in features (NaN without them).
    cutoff : date/time, optional
        Use only data up to this time (a date means its midnight, i.e. the
        start of that day, in the dataset's timezone). Default: the dataset's
        own cutoff if it was cut with :meth:`Dataset.as_of`, else the last
        message time.
    windows : sequence of int, default (7, 30, 90)
        Window lengths in local calendar days ending on the cutoff date.
    normalise_within_group : bool, default False
        Return within-group percentile ranks instead of raw values (see
        :func:`features_within_group`).

    Returns
    -------
    DataFrame, one row per (group_id, member_id), sorted by those keys
        Columns (``W`` = each window, ``Wmax`` = the largest one; numbers are
        float64 unless stated):

        - ``group_id``, ``member_id`` (str): keys.
        - ``tenure_days``: days from the member's first join of the group to the cutoff.
        - ``observed_days`` (int): calendar days the member was observable up to the
          cutoff date (from the later of the join date and the first message date of the
          dataset), inclusive.
        - ``recency_days``: days from the member's last message to the cutoff;
          **NaN if the member never sent a message** (segmentation treats NaN as
          "longer ago than anything observed").
        - ``messages_total`` (int): member messages (no system messages) up to the cutoff.
        - ``messages_{W}d``, ``active_days_{W}d`` (int): messages and days with at least one
          message in the last W calendar days.
        - ``messages_per_day``, ``active_day_share``: messages and active days in the
          ``Wmax`` window per observable day in it (``min(Wmax, observed_days)``).
        - ``trend``: ``(r_recent - r_earlier) / (r_recent + r_earlier)`` in [-1, 1], the
          message rate per observable day in the last ``recent`` days vs. the ``Wmax -
          recent`` days before (``recent`` = second-largest window); -1 stopped, +1 new
          activity; NaN when both rates are zero or the earlier period was not observed.
        - ``share_replies``, ``share_mentions``: share of the member's messages that
          quote another message / mention someone (NaN with no messages).
        - ``share_text``, ``share_image``, ``share_sticker``, ``share_voice``,
          ``share_link``, ``share_other``: message-type mix (sums to 1).
        - ``share_evening`` (19:00-22:59 local), ``share_night`` (00:00-05:59),
          ``share_weekend``: time profile of the member's messages.
        - ``posts_present`` (int): operator posts made in the group while the member was
          in it (0 without a posts table).
        - ``post_replies`` (int): the member's quote-replies to those posts.
        - ``replies_per_post``: post_replies / posts_present (NaN with no posts).
        - ``read_rate``, ``click_rate``: distinct posts read / clicked (``read`` /
          ``click`` events) per post present; NaN if the data have no such events.
        - ``sign_in_days_{Wmax}d``: days with a ``sign_in`` event in the ``Wmax``
          window; NaN if the data have no sign_in events.

        Shares and rates use all the member's history up to the cutoff. ``attrs``
        holds ``cutoff``, ``windows``, ``trend_windows``, ``normalised`` and
        ``missing`` (features that are NaN because a table or event type is absent).

    Raises
    ------
    InsufficientDataError
        No non-operator member is present at the cutoff (e.g. a cutoff before any data).
    ParameterError
        Invalid ``windows``.
    """
    windows = _check_windows(windows)
    check_scalar(normalise_within_group, "normalise_within_group", typ=bool)
    src = _cut_source(ds, cutoff)
    return _features_at_cuts(src, [src.cut_us], windows, normalise_within_group)[0]


def member_features_at(ds, cutoffs: Sequence, windows: Sequence[int] = (7, 30, 90),
                       normalise_within_group: bool = False, message_mix: bool = True) -> list[pd.DataFrame]:
    """:func:`member_features` at each of ``cutoffs``, all computed in one pass over the data.

    ``message_mix=False`` leaves out the message-mix features (:data:`MESSAGE_MIX_COLUMNS`) and the
    counts behind them (about a fifth of the engine's work at one cutoff); the other columns are the same.

    Returns
    -------
    list of DataFrames, one per cutoff in the order given, each equal to
    ``member_features(ds, cutoff, windows, normalise_within_group)`` (same rows, values and
    ``attrs``; without those columns if not ``message_mix``).

    Raises
    ------
    InsufficientDataError
        No non-operator member is present at one of the cutoffs.
    """
    windows = _check_windows(windows)
    check_scalar(normalise_within_group, "normalise_within_group", typ=bool)
    check_scalar(message_mix, "message_mix", typ=bool)
    from groupstats.engine import source_of

    src = source_of(ds)
    return _features_at_cuts(src, [_cutoff_us(src, c) for c in cutoffs], windows, normalise_within_group,
                             message_mix=message_mix)


def _cutoff_us(src, cutoff) -> int:
    """A cutoff in microseconds, no later than the source's own cutoff (as :meth:`Source.cut` does)."""
    us = src.timestamp_us(cutoff)
    return us if src.cut_us is None else min(us, src.cut_us)


def _features_at_cuts(src, cuts_us: list[int], windows: tuple[int, ...], normalise_within_group: bool,
                      skip_empty: bool = False, message_mix: bool = True) -> list:
    """The features at each cutoff of ``cuts_us`` (UTC microseconds, any order), from one execution of
    :func:`member_feature_counts`; None for a cutoff with no member present when ``skip_empty``."""
    recent_w, long_w = _trend_windows(windows)
    order = sorted(set(int(c) for c in cuts_us))
    top = src.cut(order[-1])
    first_us = top.first_message_us()
    # event types and posts known at each cutoff (they decide which features are NaN)
    # (at one cutoff, unless the first event of each type is known already: the types there, a lighter query)
    type_first: dict = {}
    if top.has("events") and (len(order) > 1 or top.first_event_us_by_type(compute=False) is not None):
        type_first = {t: us for t, us in top.first_event_us_by_type().items() if us is not None and us <= top.cut_us}
    elif top.has("events"):
        type_first = dict.fromkeys(event_types(top), order[0])
    has_posts = top.has("posts")
    first_post = top.first_post_us() if has_posts else None
    posts_known = [first_post is not None and first_post <= c for c in order]
    counts = by_group_buckets(top, lambda b: count_member_features(b, order, windows, recent_w, long_w,
                                                                   set(type_first), message_mix))
    if "late" in counts and counts["late"].fillna(0).gt(0).any():
        # a quote-reply sent before its post was posted (odd data) counts from the post on: each cutoff
        # on its own then, as exact and slower
        counts = pd.concat([by_group_buckets(top, lambda b, c=c: count_member_features(
            b, [c], windows, recent_w, long_w, set(type_first), message_mix)).assign(cut_id=k)
            for k, c in enumerate(order)],
            ignore_index=True)
    counts = counts.sort_values(list(KEY_COLUMNS), kind="stable")
    cut_ids = counts["cut_id"].to_numpy()
    out = []
    for c in cuts_us:
        k = order.index(int(c))
        part = counts.loc[cut_ids == k].reset_index(drop=True)
        first = first_us if first_us is not None and first_us <= c else None
        cut = src.to_timestamp(c)
        if part.empty:
            if skip_empty:
                out.append(None)
                continue
            first_ts = None if first is None else src.to_timestamp(first)
            raise InsufficientDataError(
                f"No (non-operator) member is present at the cutoff {cut}"
                + (f"; the data start at {first_ts:%Y-%m-%d %H:%M}" if first_ts is not None else "")
                + ". Choose a later cutoff.")
        types_present = {t for t, f in type_first.items() if f <= c}
        out.append(_features_from_counts(part, src.tz, int(c), cut, first, types_present, has_posts,
                                         posts_known[k], windows, (recent_w, long_w), normalise_within_group,
                                         message_mix))
    return out


def _features_from_counts(counts: pd.DataFrame, tz: str, cut_us: int, cut, first_us, types_present: set,
                          has_posts: bool, posts_known: bool, windows: tuple[int, ...], trend_windows: tuple[int, int],
                          normalise_within_group: bool, message_mix: bool = True) -> pd.DataFrame:
    """The features at one cutoff from its rows of :func:`member_feature_counts` (sorted by keys)."""
    wmax = windows[-1]
    recent_w, long_w = trend_windows
    cut_date = pd.Timestamp(cut.tz_localize(None)).normalize()
    n = len(counts)
    first_data = cut if first_us is None else pd.Timestamp(int(first_us), unit="us", tz="UTC").tz_convert(tz)
    first_data_date = pd.Timestamp(first_data.tz_localize(None)).normalize()
    missing: list[str] = []

    def col(name, fill=0.0) -> np.ndarray:
        if name not in counts:
            return np.full(n, fill, dtype=float)
        return counts[name].to_numpy(dtype=float, na_value=fill)

    out = pd.DataFrame({c: counts[c].astype("str") for c in KEY_COLUMNS})
    # ---- tenure and observable days --------------------------------------------------
    join_ts = pd.Series(pd.to_datetime(counts["first_join_us"].to_numpy(dtype="int64"), unit="us", utc=True)
                        ).dt.tz_convert(tz)
    out["tenure_days"] = ((cut - join_ts) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    join_date = join_ts.dt.tz_localize(None).dt.normalize().to_numpy()
    start_date = np.maximum(join_date, np.datetime64(first_data_date))
    observed = ((np.datetime64(cut_date) - start_date) / np.timedelta64(1, "D")).astype(np.int64) + 1
    observed = np.maximum(observed, 1)
    out["observed_days"] = observed
    # ---- windows ------------------------------------------------------------------------
    for w in windows:
        out[f"messages_{w}d"] = col(f"m{w}").astype(np.int64)
    for w in windows:
        out[f"active_days_{w}d"] = col(f"a{w}").astype(np.int64)
    exposure_max = np.minimum(wmax, observed)
    out["messages_per_day"] = _ratio(out[f"messages_{wmax}d"], exposure_max)
    out["active_day_share"] = _ratio(out[f"active_days_{wmax}d"], exposure_max)
    recent_msgs, long_msgs = col(f"m{recent_w}"), col(f"m{long_w}")
    exp_recent = np.minimum(recent_w, observed)
    exp_earlier = np.minimum(long_w, observed) - exp_recent
    r_recent = _ratio(recent_msgs, exp_recent)
    r_earlier = _ratio(long_msgs - recent_msgs, exp_earlier)
    out["trend"] = _ratio(r_recent - r_earlier, r_recent + r_earlier)
    # ---- message-level profile ---------------------------------------------------------
    n_msgs = col("n").astype(np.int64)
    out["messages_total"] = n_msgs
    out["recency_days"] = (float(cut_us) - col("last_us", np.nan)) / _US_PER_DAY
    out["share_replies"] = _ratio(col("replies"), n_msgs)
    out["share_mentions"] = _ratio(col("mentions"), n_msgs)
    if message_mix:
        typed = np.zeros(n)
        for t in MIX_TYPES:
            typed += col(f"t_{t}")
            out[f"share_{t}"] = _ratio(col(f"t_{t}"), n_msgs)
        out["share_other"] = _ratio(n_msgs - typed, n_msgs)
        out["share_evening"] = _ratio(col("evening"), n_msgs)
        out["share_night"] = _ratio(col("night"), n_msgs)
        out["share_weekend"] = _ratio(col("weekend"), n_msgs)
    # ---- operator posts: posts present, replies, reads, clicks ----------------------------
    posts_present = col("posts_present").astype(np.int64)
    post_replies = col("post_replies").astype(np.int64)
    if not posts_known:
        missing.append("replies_per_post (no posts table)")
    out["posts_present"] = posts_present
    out["post_replies"] = post_replies
    out["replies_per_post"] = _ratio(post_replies, posts_present)
    for kind, name, source in (("read", "read_rate", "reads"), ("click", "click_rate", "clicks")):
        if kind in types_present and has_posts:
            out[name] = np.minimum(_ratio(col(source), posts_present), 1.0)
        else:
            out[name] = np.nan
            missing.append(f"{name} (no '{kind}' events" + ("" if has_posts else " or no posts table") + ")")
    sign_col = f"sign_in_days_{wmax}d"
    if "sign_in" in types_present:
        out[sign_col] = col("sign_in")
    else:
        out[sign_col] = np.nan
        missing.append(f"{sign_col} (no 'sign_in' events)")
    return finish_features(out, cut, windows, (recent_w, long_w), missing, normalise_within_group, message_mix)


def finish_features(out: pd.DataFrame, cut, windows, trend_windows, missing: list,
                    normalise_within_group: bool, message_mix: bool = True) -> pd.DataFrame:
    """Order the columns, record how the features were made, and rank within groups if asked.

    Shared by every engine that computes :func:`member_features` (in memory here, DuckDB in
    :mod:`groupstats.tables.scale`), so their outputs have the same columns and ``attrs``.
    """
    out = out.loc[:, [*KEY_COLUMNS, *feature_columns(windows, message_mix)]]
    out.attrs.update({"cutoff": cut, "windows": list(windows), "trend_windows": list(trend_windows),
                      "normalised": False, "missing": missing})
    if normalise_within_group:
        out = features_within_group(out)
    return out


def features_within_group(features: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Replace feature values by their percentile rank within each member's group.

    Parameters
    ----------
    features : DataFrame
        Output of :func:`member_features` (keys group_id, member_id + features).
    columns : sequence of str, optional
        Columns to rank; default every numeric column except the keys.

    Returns
    -------
    DataFrame of the same shape
        Each ranked value is the mid-percentile in (0, 1): the share of the
        member's group with a smaller value plus half the share with an equal
        value, ``(average rank - 0.5) / n``. Members with identical values share
        a rank, and a value shared by a whole group ranks 0.5 whatever the group
        size (so, e.g., all-silent groups look alike). ``recency_days`` NaN
        (never sent a message) ranks as the largest value; other NaN values stay
        NaN (and do not count in n). ``attrs["normalised"]`` is True.
    """
    out = features.copy()
    if columns is None:
        columns = [c for c in out.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(out[c])]
    values = out[list(columns)].astype(float)
    if "recency_days" in values:
        values["recency_days"] = values["recency_days"].fillna(np.inf)
    grouped = values.groupby(out["group_id"].to_numpy(), sort=False)
    ranks = (grouped.rank(method="average") - 0.5) / grouped.transform("count")
    for col in columns:
        out[col] = ranks[col].to_numpy()
    out.attrs = dict(features.attrs)
    out.attrs["normalised"] = True
    return out


def member_features_panel(ds: Dataset, cutoffs: Sequence, windows: Sequence[int] = (7, 30, 90),
                          normalise_within_group: bool = False) -> pd.DataFrame:
    """:func:`member_features` at several cutoffs, stacked with a ``cutoff`` column.

    Returns
    -------
    DataFrame with columns ``cutoff`` (tz-aware Timestamp), group_id, member_id and the
    feature columns; one row per (cutoff, group_id, member_id) present at that cutoff.
    Cutoffs with no member present are skipped (listed in ``attrs["skipped"]``).
    """
    windows = _check_windows(windows)
    check_scalar(normalise_within_group, "normalise_within_group", typ=bool)
    from groupstats.engine import source_of

    src = source_of(ds)
    cutoffs = list(cutoffs)
    frames, skipped = [], []
    if cutoffs:
        found = _features_at_cuts(src, [_cutoff_us(src, c) for c in cutoffs], windows, normalise_within_group,
                                  skip_empty=True)
        for c, f in zip(cutoffs, found):
            if f is None:
                skipped.append(c)
                continue
            f.insert(0, "cutoff", f.attrs["cutoff"])
            frames.append(f)
    if not frames:
        raise InsufficientDataError("No member is present at any of the cutoffs; choose later cutoffs.")
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"windows": list(_check_windows(windows)), "skipped": skipped,
                 "normalised": normalise_within_group}
    return out
