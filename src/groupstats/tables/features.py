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
from groupstats.checks import check_scalar
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.tables.derived import EVENING_HOURS, event_types

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


def present_members_expr(src):
    """Expression: membership rows (group_id, member_id, joined_us, left_us) of non-operator members
    present at the cut (a membership with no ``left_at``)."""
    mem = src.non_operator_members().anti_join(src.operators(), list(KEY_COLUMNS))
    keys = mem.filter(mem.left_us.isnull()).select(*KEY_COLUMNS).distinct()
    return mem.semi_join(keys, list(KEY_COLUMNS)).select(*KEY_COLUMNS, "joined_us", "left_us")


def member_feature_counts(src, cut_us: int, cut_day: int, windows: tuple[int, ...], recent_w: int,
                          long_w: int, types_present: set):
    """Expression: per present member, the counts every feature is made from.

    One row per (group_id, member_id) present at the cut with first_join_us, and (NULL where the
    member has none): n, last_us, replies, mentions, t_<type>, evening, night, weekend, m<W>
    (messages in the last W local days), a<W> (active days), posts_present, post_replies, reads,
    clicks, sign_in.
    """
    import ibis

    rows = present_members_expr(src)
    keys = rows.group_by(list(KEY_COLUMNS)).aggregate(first_join_us=rows.joined_us.min())
    msgs = src.with_local(src.member_messages(include_operators=True), "sent_us")
    msgs = msgs.mutate(age=cut_day - msgs.day)
    has_posts = src.has("posts")
    if has_posts:
        # quote-replies to posts flagged in the one pass over the messages (a semi join on a second
        # reference to the messages would make the engine materialise all of them)
        posts = src.table("posts")
        post_msgs = posts.filter(posts.message_id.notnull()).select(_post_msg=posts.message_id).distinct()
        msgs = msgs.left_join(post_msgs, msgs.reply_to == post_msgs._post_msg)
    day = msgs.group_by([*KEY_COLUMNS, "age"]).aggregate(
        n=msgs.sent_us.count(), last_us=msgs.sent_us.max(), replies=msgs.reply_to.count(),
        mentions=msgs.sent_us.count(where=msgs.n_mentions.fill_null(0) > 0),
        **{f"t_{t}": msgs.sent_us.count(where=msgs.msg_type == t) for t in MIX_TYPES},
        evening=msgs.sent_us.count(where=msgs.hour.isin(EVENING_HOURS)),
        night=msgs.sent_us.count(where=msgs.hour.isin(NIGHT_HOURS)),
        weekend=msgs.sent_us.count(where=msgs.weekday >= 5),
        **({"post_replies": msgs._post_msg.count()} if has_posts else {}))
    per = day.group_by(list(KEY_COLUMNS)).aggregate(
        n=day.n.sum(), last_us=day.last_us.max(), replies=day.replies.sum(), mentions=day.mentions.sum(),
        **{f"t_{t}": day[f"t_{t}"].sum() for t in MIX_TYPES},
        evening=day.evening.sum(), night=day.night.sum(), weekend=day.weekend.sum(),
        **{f"m{w}": day.n.sum(where=day.age < w) for w in sorted({*windows, recent_w, long_w})},
        **{f"a{w}": day.n.count(where=(day.age < w) & (day.n > 0)) for w in windows},
        **({"post_replies": day.post_replies.sum()} if has_posts else {}))
    out = keys.left_join(per, list(KEY_COLUMNS)).drop("group_id_right", "member_id_right")
    if has_posts:
        out = out.left_join(posts_present_expr(rows, posts, cut_us), list(KEY_COLUMNS)).drop(
            "group_id_right", "member_id_right")
    with_reads = has_posts and bool(types_present & {"read", "click"})
    if with_reads or "sign_in" in types_present:
        # one pass over the events: per (member, post read or clicked, or local sign-in day) one row
        # with flags (a group-by on three keys; cheaper than a distinct on four)
        ev = src.table("events")
        wanted = ibis.literal(False)
        if with_reads:
            post_ids = posts.select(_post_id=posts.post_id)
            wanted = ev.event_type.isin(("read", "click")) & ev.post_id.isin(post_ids._post_id)
        if "sign_in" in types_present:
            ev = src.with_local(ev, "occurred_us")
            wanted = wanted | ((ev.event_type == "sign_in") & (cut_day - ev.day < windows[-1]))
            is_day = ev.event_type == "sign_in"
            token = ibis.ifelse(is_day, ev.day.cast("string"), ev.post_id)
        else:
            is_day, token = ibis.literal(False), ev.post_id
        ev = ev.filter(wanted)
        ev = ev.group_by([*KEY_COLUMNS, is_day.name("_is_day"), token.name("_token")]).aggregate(
            _read=(ev.event_type == "read").any(), _click=(ev.event_type == "click").any())
        agg = {}
        if with_reads:
            agg.update(reads=ev._token.count(where=~ev._is_day & ev._read),
                       clicks=ev._token.count(where=~ev._is_day & ev._click))
        if "sign_in" in types_present:
            agg["sign_in"] = ev._token.count(where=ev._is_day)
        ev = ev.group_by(list(KEY_COLUMNS)).aggregate(**agg)
        out = out.left_join(ev, list(KEY_COLUMNS)).drop("group_id_right", "member_id_right")
    return out


def posts_present_expr(memberships, posts, cut_us: int):
    """Expression: per (group_id, member_id), the posts of its group made during its memberships
    (``joined_us <= posted_us <= left_us``, or the cut while it lasts).

    A running count of posts per group, read at each membership's start (posts before it) and end
    (posts up to it): one window over posts and membership bounds instead of a join of every
    membership with every post of its group (22M pairs with 2,150 groups).
    """
    import ibis

    null_id, null_us = ibis.null("string"), ibis.null("int64")
    marks = ibis.union(
        posts.select(group_id=posts.group_id, member_id=null_id, _t=posts.posted_us, _order=ibis.literal(1),
                     _post=ibis.literal(1), _sign=ibis.literal(0)),
        memberships.select(group_id=memberships.group_id, member_id=memberships.member_id,
                           _t=memberships.joined_us, _order=ibis.literal(0), _post=ibis.literal(0),
                           _sign=ibis.literal(-1)),
        memberships.select(group_id=memberships.group_id, member_id=memberships.member_id,
                           _t=ibis.coalesce(memberships.left_us, cut_us), _order=ibis.literal(2),
                           _post=ibis.literal(0), _sign=ibis.literal(1)),
        distinct=False)
    # posts at a membership's start count (start before them), posts at its end count (end after them)
    w = ibis.window(group_by=marks.group_id, order_by=[marks._t, marks._order], preceding=None, following=0)
    marks = marks.mutate(_before=marks._post.sum().over(w))
    bounds = marks.filter(marks._sign != 0)
    return bounds.group_by(list(KEY_COLUMNS)).aggregate(posts_present=(bounds._before * bounds._sign).sum())


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
    wmax = windows[-1]
    recent_w, long_w = _trend_windows(windows)
    src = _cut_source(ds, cutoff)
    cut_us = src.cut_us
    cut = src.to_timestamp(cut_us)
    cut_date = pd.Timestamp(cut.tz_localize(None)).normalize()
    cut_day = int(np.datetime64(cut_date, "D").astype("int64"))
    types_present = set(event_types(src))
    has_posts = src.has("posts")
    n_posts = int(src.execute(src.table("posts").count())) if has_posts else 0
    counts = src.execute(member_feature_counts(src, cut_us, cut_day, windows, recent_w, long_w, types_present))
    if counts.empty:
        first = src.message_range_us()[0]
        first_ts = None if first is None else src.to_timestamp(first)
        raise InsufficientDataError(
            f"No (non-operator) member is present at the cutoff {cut}"
            + (f"; the data start at {first_ts:%Y-%m-%d %H:%M}" if first_ts is not None else "")
            + ". Choose a later cutoff.")
    counts = counts.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    n = len(counts)
    first_us = src.message_range_us()[0]
    first_data = cut if first_us is None else src.to_timestamp(first_us)
    first_data_date = pd.Timestamp(first_data.tz_localize(None)).normalize()
    missing: list[str] = []

    def col(name, fill=0.0) -> np.ndarray:
        if name not in counts:
            return np.full(n, fill, dtype=float)
        return counts[name].to_numpy(dtype=float, na_value=fill)

    out = pd.DataFrame({c: counts[c].astype("str") for c in KEY_COLUMNS})
    # ---- tenure and observable days --------------------------------------------------
    join_ts = pd.Series(pd.to_datetime(counts["first_join_us"].to_numpy(dtype="int64"), unit="us", utc=True)
                        ).dt.tz_convert(src.tz)
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
    if not n_posts:
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
