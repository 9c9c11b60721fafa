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
Each call costs a few vectorised passes (one ``groupby`` per table) over the
data up to the cutoff; :func:`member_features_panel` stacks calls at several
cutoffs (e.g. for churn models) with a ``cutoff`` column.

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
from groupstats.tables.derived import EVENING_HOURS, _count_up_to, _int_us, local_date, member_day_activity, member_messages
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.data.schema import OPERATOR_ROLES

KEY_COLUMNS = ("group_id", "member_id")
#: Message types with their own share column; the rest go to ``share_other``.
MIX_TYPES = ("text", "image", "sticker", "voice", "link")
#: Night hours (local clock) for ``share_night``.
NIGHT_HOURS = (0, 1, 2, 3, 4, 5)
_US_PER_DAY = 86_400_000_000


def feature_columns(windows: Sequence[int] = (7, 30, 90)) -> list[str]:
    """The feature column names :func:`member_features` returns for ``windows``, in order.

    Keys (group_id, member_id) are not included.
    """
    windows = _check_windows(windows)
    wmax = windows[-1]
    cols = ["tenure_days", "observed_days", "recency_days", "messages_total"]
    cols += [f"messages_{w}d" for w in windows]
    cols += [f"active_days_{w}d" for w in windows]
    cols += ["messages_per_day", "active_day_share", "trend", "share_replies", "share_mentions"]
    cols += [f"share_{t}" for t in MIX_TYPES] + ["share_other", "share_evening", "share_night", "share_weekend"]
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


def _cut_dataset(ds: Dataset, cutoff) -> Dataset:
    if cutoff is None:
        if ds.cutoff is not None:
            return ds
        if len(ds.messages) == 0:
            raise InsufficientDataError("The dataset has no messages, so there is no default cutoff; "
                                        "pass cutoff=... (a date).")
        return ds.as_of(ds.date_range()[1])
    return ds.as_of(cutoff)


def _present_members(cds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(keys, memberships): present non-operator members and all their membership rows."""
    members = cds.members
    not_op = ~cds.operator_mask(members) & ~members["role"].isin(OPERATOR_ROLES).to_numpy()
    members = members.loc[not_op]
    open_rows = members.loc[members["left_at"].isna(), ["group_id", "member_id"]].drop_duplicates()
    keys = open_rows.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    key_index = pd.MultiIndex.from_frame(keys)
    rows = members.loc[pd.MultiIndex.from_frame(members[list(KEY_COLUMNS)]).isin(key_index)]
    return keys, rows


def _codes(key_index: pd.MultiIndex, frame: pd.DataFrame) -> np.ndarray:
    """Row position in ``key_index`` of each (group_id, member_id) of ``frame``; -1 if absent."""
    if len(frame) == 0:
        return np.zeros(0, dtype=np.int64)
    probe = pd.MultiIndex.from_arrays([frame["group_id"].to_numpy(), frame["member_id"].to_numpy()])
    return np.asarray(key_index.get_indexer(probe), dtype=np.int64)


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def member_features(ds: Dataset, cutoff=None, windows: Sequence[int] = (7, 30, 90),
                    normalise_within_group: bool = False) -> pd.DataFrame:
    """Activity features of every present non-operator member, from data up to ``cutoff``.

    Parameters
    ----------
    ds : Dataset
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
    wmax = windows[-1]
    recent_w, long_w = _trend_windows(windows)
    cds = _cut_dataset(ds, cutoff)
    cut = cds.cutoff
    keys, memberships = _present_members(cds)
    if keys.empty:
        first = ds.date_range()[0] if len(ds.messages) else None
        raise InsufficientDataError(
            f"No (non-operator) member is present at the cutoff {cut}"
            + (f"; the data start at {first:%Y-%m-%d %H:%M}" if first is not None else "")
            + ". Choose a later cutoff.")
    n = len(keys)
    key_index = pd.MultiIndex.from_frame(keys)
    tz = cds.tz
    cut_date = pd.Timestamp(cut.tz_convert(tz).tz_localize(None)).normalize()
    first_data = cds.date_range()[0] if len(cds.messages) else cut
    first_data_date = pd.Timestamp(first_data.tz_localize(None)).normalize()
    missing: list[str] = []

    out = keys.copy()
    # ---- tenure and observable days --------------------------------------------------
    first_join = memberships.groupby(list(KEY_COLUMNS), sort=False)["joined_at"].min()
    join_ts = first_join.reindex(key_index)
    out["tenure_days"] = ((cut - join_ts) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    join_date = local_date(pd.Series(join_ts.to_numpy())).to_numpy()
    start_date = np.maximum(join_date, np.datetime64(first_data_date))
    observed = ((np.datetime64(cut_date) - start_date) / np.timedelta64(1, "D")).astype(np.int64) + 1
    observed = np.maximum(observed, 1)
    out["observed_days"] = observed

    # ---- member-day activity (derived table) ------------------------------------------
    activity = member_day_activity(cds)
    a_code = _codes(key_index, activity)
    keep = a_code >= 0
    activity = activity.loc[keep]
    a_code = a_code[keep]
    day_age = ((np.datetime64(cut_date) - activity["date"].to_numpy()) / np.timedelta64(1, "D")).astype(np.int64)
    a_msgs = activity["n_messages"].to_numpy(dtype=float)
    for w in windows:
        in_w = day_age < w
        out[f"messages_{w}d"] = np.bincount(a_code[in_w], weights=a_msgs[in_w], minlength=n).astype(np.int64)
    for w in windows:
        in_w = (day_age < w) & (a_msgs > 0)
        out[f"active_days_{w}d"] = np.bincount(a_code[in_w], minlength=n).astype(np.int64)
    exposure_max = np.minimum(wmax, observed)
    out["messages_per_day"] = _ratio(out[f"messages_{wmax}d"], exposure_max)
    out["active_day_share"] = _ratio(out[f"active_days_{wmax}d"], exposure_max)
    recent_msgs = np.bincount(a_code[day_age < recent_w], weights=a_msgs[day_age < recent_w], minlength=n)
    long_msgs = np.bincount(a_code[day_age < long_w], weights=a_msgs[day_age < long_w], minlength=n)
    exp_recent = np.minimum(recent_w, observed)
    exp_earlier = np.minimum(long_w, observed) - exp_recent
    r_recent = _ratio(recent_msgs, exp_recent)
    r_earlier = _ratio(long_msgs - recent_msgs, exp_earlier)
    out["trend"] = _ratio(r_recent - r_earlier, r_recent + r_earlier)

    # ---- message-level profile ---------------------------------------------------------
    msgs = member_messages(cds)
    m_code = _codes(key_index, msgs)
    keep = m_code >= 0
    msgs = msgs.loc[keep]
    m_code = m_code[keep]
    n_msgs = np.bincount(m_code, minlength=n).astype(np.int64)
    out["messages_total"] = n_msgs
    sent_us = _int_us(msgs["sent_at"]) if len(msgs) else np.zeros(0, dtype=np.int64)
    last_us = pd.Series(sent_us).groupby(m_code).max().reindex(np.arange(n)).to_numpy(dtype=float)
    cut_us = float(_int_us(pd.Series([cut]))[0])
    out["recency_days"] = (cut_us - last_us) / _US_PER_DAY
    out["share_replies"] = _ratio(np.bincount(m_code, weights=msgs["reply_to"].notna().to_numpy(dtype=float),
                                              minlength=n), n_msgs)
    mentions = (msgs["n_mentions"].fillna(0).to_numpy(dtype=float) > 0).astype(float)
    out["share_mentions"] = _ratio(np.bincount(m_code, weights=mentions, minlength=n), n_msgs)
    type_index = pd.Index(MIX_TYPES).get_indexer(msgs["msg_type"].to_numpy())
    type_index = np.where(type_index < 0, len(MIX_TYPES), type_index)
    mix = np.bincount(m_code * (len(MIX_TYPES) + 1) + type_index,
                      minlength=n * (len(MIX_TYPES) + 1)).reshape(n, len(MIX_TYPES) + 1)
    for j, t in enumerate((*MIX_TYPES, "other")):
        out[f"share_{t}"] = _ratio(mix[:, j], n_msgs)
    local_sent = msgs["sent_at"]
    hours = local_sent.dt.hour.to_numpy()
    out["share_evening"] = _ratio(np.bincount(m_code, weights=np.isin(hours, EVENING_HOURS).astype(float),
                                              minlength=n), n_msgs)
    out["share_night"] = _ratio(np.bincount(m_code, weights=np.isin(hours, NIGHT_HOURS).astype(float),
                                            minlength=n), n_msgs)
    weekend = (local_sent.dt.day_of_week.to_numpy() >= 5).astype(float)
    out["share_weekend"] = _ratio(np.bincount(m_code, weights=weekend, minlength=n), n_msgs)

    # ---- operator posts: posts present, replies, reads, clicks ----------------------------
    posts = cds.posts
    if posts is not None and len(posts):
        codes, _ = pd.factorize(pd.concat([posts["group_id"], memberships["group_id"]], ignore_index=True))
        p_codes, m_g = codes[:len(posts)], codes[len(posts):]
        p_time = _int_us(posts["posted_at"])
        end = memberships["left_at"].fillna(cut)
        upto_end = _count_up_to(p_codes, p_time, m_g, _int_us(end), inclusive=True)
        before_join = _count_up_to(p_codes, p_time, m_g, _int_us(memberships["joined_at"]), inclusive=False)
        per_row = upto_end - before_join
        row_code = _codes(key_index, memberships)
        posts_present = np.bincount(row_code, weights=per_row, minlength=n).astype(np.int64)
        post_msg_ids = posts["message_id"].dropna()
        is_post_reply = (msgs["reply_to"].notna() & msgs["reply_to"].isin(post_msg_ids)).to_numpy(dtype=float)
        post_replies = np.bincount(m_code, weights=is_post_reply, minlength=n).astype(np.int64)
    else:
        posts_present = np.zeros(n, dtype=np.int64)
        post_replies = np.zeros(n, dtype=np.int64)
        missing.append("replies_per_post (no posts table)")
    out["posts_present"] = posts_present
    out["post_replies"] = post_replies
    out["replies_per_post"] = _ratio(post_replies, posts_present)

    events = cds.events
    types_present = set(events["event_type"].unique()) if events is not None and len(events) else set()
    for kind, col in (("read", "read_rate"), ("click", "click_rate")):
        if kind in types_present and posts is not None:
            ev = events.loc[(events["event_type"] == kind).to_numpy() & events["post_id"].notna().to_numpy()
                            & events["post_id"].isin(posts["post_id"]).to_numpy()]
            ev = ev.drop_duplicates(["group_id", "member_id", "post_id"])
            e_code = _codes(key_index, ev)
            e_code = e_code[e_code >= 0]
            out[col] = np.minimum(_ratio(np.bincount(e_code, minlength=n), posts_present), 1.0)
        else:
            out[col] = np.nan
            missing.append(f"{col} (no '{kind}' events" + ("" if posts is not None else " or no posts table") + ")")
    sign_col = f"sign_in_days_{wmax}d"
    sign_name = "n_sign_in"
    if "sign_in" in types_present and sign_name in activity.columns:
        in_w = (day_age < wmax) & (activity[sign_name].to_numpy() > 0)
        out[sign_col] = np.bincount(a_code[in_w], minlength=n).astype(float)
    else:
        out[sign_col] = np.nan
        missing.append(f"{sign_col} (no 'sign_in' events)")

    return finish_features(out, cut, windows, (recent_w, long_w), missing, normalise_within_group)


def finish_features(out: pd.DataFrame, cut, windows, trend_windows, missing: list,
                    normalise_within_group: bool) -> pd.DataFrame:
    """Order the columns, record how the features were made, and rank within groups if asked.

    Shared by every engine that computes :func:`member_features` (in memory here, DuckDB in
    :mod:`groupstats.tables.scale`), so their outputs have the same columns and ``attrs``.
    """
    out = out.loc[:, [*KEY_COLUMNS, *feature_columns(windows)]]
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
    frames, skipped = [], []
    for c in cutoffs:
        try:
            f = member_features(ds, c, windows=windows, normalise_within_group=normalise_within_group)
        except InsufficientDataError:
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
