"""The counts behind :func:`groupstats.tables.features.member_features`, at one cutoff or many, in one engine pass.

:func:`member_feature_counts` is the one definition of what :mod:`groupstats.tables.features`
turns into features: per cutoff and present member, messages, their kinds and times, windowed
messages and active days, posts present, replies to posts, posts read and clicked, sign-in days.
It is an engine-neutral Ibis expression (DuckDB by default, Spark too).

Several cutoffs, one pass
-------------------------
Churn models need the features at a dozen cutoffs. Rather than one pass over the messages and
events per cutoff, each message is counted once per (member, *segment*, span of days): the segment
of a time is how many of the (ascending) cutoffs come before it, so a message is known at cutoff
``k`` exactly when its segment is at most ``k`` (:func:`segment`). Only days that hold a cutoff can
be split in two segments (e.g. a message at exactly midnight, for a cutoff at that midnight).
Then, all on tables of a few rows per member (:mod:`groupstats.tables.message_counts_at_cuts`):

- history up to each cutoff: the per-member sums per segment, joined with the cutoffs at or after
  that segment;
- windows (messages and active days in the last W local days): the spans of days before the cutoff's
  date in each of its windows, plus the messages of the cutoff's own date known at it;
- events: per (member, post) the time the post was first read / clicked (and known to exist), per
  (member, day) the first sign-in, each reduced to its segment.

With one cutoff there are no segments and the expression is a plain aggregation of the data up to
it. :func:`count_member_features` (what :mod:`groupstats.tables.features` executes) then takes two
shorter ways to the same counts, which together took ~80% of the engine's time at 10M messages:

- days with messages (and with sign-ins) in each window: the day's offset from the cutoff's date
  as a bit, OR-ed per member into a few int64 words (``bit_or``, on DuckDB and Spark), whose bits
  are counted in pandas, instead of a grouping by (member, day) (2.9M groups at 10M messages);
- distinct posts read / clicked: when the 64-bit hashes of every (member, post, type) of the read
  and click events are all distinct, which proves that no member read or clicked a post twice,
  they are the events per member; otherwise (a repeat, or two keys' hashes colliding) the exact
  grouping by (member, post) runs (:func:`event_keys_distinct`). At several cutoffs too: each read
  or click is then its own key, counted from the segment in which both it and its post are known
  (the grouping of 13.5M events into 12.4M (member, post) rows was most of the churn panel's time
  on the many-groups shape).
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from groupstats.data.schema import OPERATOR_ROLES
from groupstats.tables.derived import EVENING_HOURS
from groupstats.tables.key_hashes import any_repeated, key_hash

KEY_COLUMNS = ("group_id", "member_id")
#: Message types with their own count column; the rest are "other".
MIX_TYPES = ("text", "image", "sticker", "voice", "link")
#: Night hours (local clock).
NIGHT_HOURS = (0, 1, 2, 3, 4, 5)
#: The sums of the message mix: types and times of day and week (``message_mix``).
MIX_SUMS = (*[f"t_{t}" for t in MIX_TYPES], "evening", "night", "weekend")
#: Per-member message sums (``last_us`` is a max).
MESSAGE_SUMS = ("n", "replies", "mentions", *MIX_SUMS)
#: Days per bit word (:func:`_day_words`): bits 0-51 of an int64, so every word is exact as a float64 too
#: (a word column with NULLs arrives as float64).
DAY_BITS = 52
#: Windows up to this many days are counted as bit words; longer ones by a (member, day) grouping.
DAY_WORDS_UP_TO = 8 * DAY_BITS
#: Up to this many read/click events, the 64-bit hashes of their keys are sorted in memory to prove that
#: no key repeats (:func:`event_keys_distinct`); beyond, the engine counts the distinct hashes.
EVENT_HASHES_SORTED_IN_MEMORY = 30_000_000


def local_day(src, us: int) -> int:
    """Local day number (days since 1970-01-01 in the dataset's timezone) of UTC microseconds ``us``."""
    local = pd.Timestamp(src.to_timestamp(us).tz_localize(None)).normalize()
    return int(np.datetime64(local, "D").astype("int64"))


def edge_index(value, edges, strict: bool = False):
    """Expression: the index of the first of the ascending ``edges`` with ``value <= edge`` (``value <
    edge`` if ``strict``), ``len(edges)`` if none: the numbered interval of ``value`` between the edges
    (SQL's form of ``numpy.searchsorted``), for segments of times or days cut at cutoffs."""
    import ibis

    return ibis.cases(*(((value < e) if strict else (value <= e), i) for i, e in enumerate(edges)),
                      else_=len(edges)).cast("int64")


def int64_one(column):
    """A 64-bit integer 1 on every row of the int64 expression ``column``, to shift into a day's bit: a
    literal 1 is a 32-bit INT in SQL, whose shifts past bit 31 wrap on Spark."""
    return column * 0 + 1


def segment(us, cuts_us: list[int]):
    """Expression: how many of the ascending cutoffs ``cuts_us`` come before the time ``us`` (NULL stays
    NULL): ``us`` is known at cutoff k exactly when its segment is <= k."""
    import ibis

    return ibis.ifelse(us.isnull(), ibis.null("int64"), edge_index(us, cuts_us[:-1]))


@functools.cache
def bit_or_aggregate():
    """The engine's ``bit_or`` aggregate (DuckDB and Spark 3+ both have one; Ibis 12 compiles its own for
    DuckDB only), for the day bits of member features and of the churn counts."""
    import ibis
    import ibis.expr.datatypes as dt

    @ibis.udf.agg.builtin(name="bit_or", signature=((dt.int64,), dt.int64))
    def bit_or(value):
        """Bitwise OR of the values."""

    return bit_or


def _day_words(day, cut_day: int, span: int, prefix: str, when=None) -> dict:
    """Aggregates ``<prefix><k>``: the days ``cut_day - day`` in [0, ``span``) of the rows (where ``when``)
    as bits of int64 words, bit ``o - 52 k`` of word k for the day ``o`` days before ``cut_day`` (0 where a
    member has none). How many days of a window hold a row is then a count of bits
    (:func:`count_day_bits`), exactly what a grouping by (member, day) gives, without a row per day."""
    offset = cut_day - day
    one = int64_one(offset)
    out = {}
    for k in range(-(-span // DAY_BITS)):
        lo, hi = k * DAY_BITS, min(span, (k + 1) * DAY_BITS)
        inside = (offset >= lo) & (offset < hi)
        if when is not None:
            inside = inside & when
        shift = inside.ifelse(offset - lo, 0)
        out[f"{prefix}{k}"] = bit_or_aggregate()(inside.ifelse(one << shift, 0))
    return out


def count_day_bits(frame, prefix: str, window: int):
    """Per row of ``frame`` (with the words ``<prefix><k>`` of :func:`_day_words`, NULL as none), how many of
    the ``window`` days up to the cutoff's date have a bit set: int64 array."""
    total = np.zeros(len(frame), dtype=np.int64)
    for k in range(-(-window // DAY_BITS)):
        bits = min(DAY_BITS, window - k * DAY_BITS)
        words = frame[f"{prefix}{k}"].to_numpy(dtype="float64", na_value=0).astype(np.int64)
        total += np.bitwise_count(words & ((1 << bits) - 1)).astype(np.int64)
    return total


def present_memberships_expr(src, cuts):
    """Expression: per cutoff (``cuts``: cut_id, cut_us), the membership rows (cut_id, group_id,
    member_id, joined_us, cut_us, left_us) of the non-operator members present at it.

    As on the dataset cut there: rows joined by the cutoff, ``left_us`` NULL if later, operators
    (owner/admin in any membership row of the group by then) excluded, and only members with a
    membership that had not ended.
    """
    import ibis

    members = src.table("members")
    keys = ["cut_id", *KEY_COLUMNS]
    ops = members.filter(members.role.isin(OPERATOR_ROLES))
    ops = ops.join(cuts, ops.joined_us <= cuts.cut_us).select(*keys).distinct()
    mem = src.non_operator_members()
    mem = mem.join(cuts, mem.joined_us <= cuts.cut_us)
    mem = mem.select(*keys, "joined_us", "cut_us",
                     left_us=ibis.ifelse(mem.left_us > mem.cut_us, ibis.null("int64"), mem.left_us))
    mem = mem.anti_join(ops, keys)
    still = mem.filter(mem.left_us.isnull()).select(*keys).distinct()
    return mem.semi_join(still, keys)


def posts_present_expr(memberships, posts):
    """Expression: per (cut_id, group_id, member_id), the posts of its group made during its
    memberships present at that cutoff (``joined_us <= posted_us <= left_us``, or the cutoff
    while it lasts; ``memberships`` as from :func:`present_memberships_expr`).

    A running count of posts per group, read at each membership's start (posts before it) and end
    (posts up to it): one window over posts and membership bounds instead of a join of every
    membership with every post of its group (22M pairs with 2,150 groups). The bounds of every
    cutoff share the one running count (they add no posts).
    """
    import ibis

    null_id, null_us = ibis.null("string"), ibis.null("int64")
    marks = ibis.union(
        posts.select(cut_id=null_us, group_id=posts.group_id, member_id=null_id, _t=posts.posted_us,
                     _order=ibis.literal(1), _post=ibis.literal(1), _sign=ibis.literal(0)),
        memberships.select(cut_id=memberships.cut_id, group_id=memberships.group_id,
                           member_id=memberships.member_id, _t=memberships.joined_us, _order=ibis.literal(0),
                           _post=ibis.literal(0), _sign=ibis.literal(-1)),
        memberships.select(cut_id=memberships.cut_id, group_id=memberships.group_id,
                           member_id=memberships.member_id,
                           _t=ibis.coalesce(memberships.left_us, memberships.cut_us), _order=ibis.literal(2),
                           _post=ibis.literal(0), _sign=ibis.literal(1)),
        distinct=False)
    # posts at a membership's start count (start before them), posts at its end count (end after them)
    w = ibis.window(group_by=marks.group_id, order_by=[marks._t, marks._order], preceding=None, following=0)
    marks = marks.mutate(_before=marks._post.sum().over(w))
    bounds = marks.filter(marks._sign != 0)
    return bounds.group_by(["cut_id", *KEY_COLUMNS]).aggregate(
        posts_present=(bounds._before * bounds._sign).sum().cast("int64"))


def _window_counts(rows, windows_m, windows_a):
    """Aggregates over (member, day) rows with ``n`` and ``cut_day``: ``m<W>`` messages and ``a<W>`` active
    days in the last W days up to the cutoff's date."""
    return {**{f"m{w}": rows.n.sum(where=rows.day > rows.cut_day - w).cast("int64") for w in windows_m},
            **{f"a{w}": rows.n.count(where=(rows.day > rows.cut_day - w) & (rows.n > 0)) for w in windows_a}}


def _message_aggregates(msgs, has_posts: bool, message_mix: bool = True) -> dict:
    """The per-member message counts (:data:`MESSAGE_SUMS`, without :data:`MIX_SUMS` unless
    ``message_mix``, and ``post_replies``) over ``msgs``."""
    mix = dict(**{f"t_{t}": msgs.sent_us.count(where=msgs.msg_type == t) for t in MIX_TYPES},
               evening=msgs.sent_us.count(where=msgs.hour.isin(EVENING_HOURS)),
               night=msgs.sent_us.count(where=msgs.hour.isin(NIGHT_HOURS)),
               weekend=msgs.sent_us.count(where=msgs.weekday >= 5)) if message_mix else {}
    return dict(
        n=msgs.sent_us.count(), replies=msgs.reply_to.count(),
        mentions=msgs.sent_us.count(where=msgs.n_mentions.fill_null(0) > 0), **mix,
        **({"post_replies": msgs._post_msg.count()} if has_posts else {}))


def message_sums(has_posts: bool, message_mix: bool = True) -> list[str]:
    """The names of :func:`_message_aggregates`' sums."""
    return [s for s in MESSAGE_SUMS if message_mix or s not in MIX_SUMS] + (["post_replies"] if has_posts else [])


def _message_counts(src, cuts_us, cut_days, cuts, windows, windows_m, day_words: bool = False,
                    message_mix: bool = True):
    """Expression: per (cut_id, group_id, member_id) with messages up to the cutoff, the message counts
    (with ``day_words``, one cutoff only: active days as the bit words ``_a<k>`` of :func:`_day_words`
    instead of ``a<W>``, counted in one aggregation per member with no row per (member, day); without
    ``message_mix``, no counts of the types and times of the messages)."""
    import ibis

    multi = len(cuts_us) > 1
    msgs = src.with_local(src.member_messages(include_operators=True), "sent_us")
    has_posts = src.has("posts")
    if has_posts:
        # quote-replies to posts flagged in the one pass over the messages (a semi join on a second
        # reference to the messages would make the engine materialise all of them)
        posts = src.table("posts")
        post_msgs = posts.filter(posts.message_id.notnull())
        # (a quote counts for a post of the member's own group: references stay within a group, and the
        # counts are then the same a bucket of groups at a time)
        post_msgs = (post_msgs.group_by(_post_group=post_msgs.group_id, _post_msg=post_msgs.message_id)
                     .aggregate(_post_us=post_msgs.posted_us.min()) if multi
                     else post_msgs.select(_post_group=post_msgs.group_id, _post_msg=post_msgs.message_id).distinct())
        msgs = msgs.left_join(post_msgs, [msgs.group_id == post_msgs._post_group,
                                          msgs.reply_to == post_msgs._post_msg]).drop("_post_group")
    keys, late = [*KEY_COLUMNS, "day"], {}
    if multi:
        msgs = msgs.mutate(seg=segment(msgs.sent_us, cuts_us))
        keys.append("seg")
        if has_posts:  # a quote-reply sent before its post was posted (odd data): see _features_at_cuts
            late["late"] = msgs._post_us.count(where=segment(msgs._post_us, cuts_us) > msgs.seg)
    if day_words and not multi:
        cut_day = cut_days[0]
        return msgs.group_by(list(KEY_COLUMNS)).aggregate(
            **_message_aggregates(msgs, has_posts, message_mix), last_us=msgs.sent_us.max(),
            **{f"m{w}": msgs.sent_us.count(where=msgs.day > cut_day - w) for w in windows_m},
            **_day_words(msgs.day, cut_day, windows[-1], "_a")).mutate(cut_id=ibis.literal(0, type="int64"))
    if multi:  # one grouping per (member, segment, span of days): tables/message_counts_at_cuts.py
        from groupstats.tables.message_counts_at_cuts import message_counts_at_cuts

        return message_counts_at_cuts(
            msgs, {**_message_aggregates(msgs, has_posts, message_mix), "last_us": msgs.sent_us.max(), **late},
            [*message_sums(has_posts, message_mix), *late], cuts, cut_days, windows, windows_m)
    day = msgs.group_by(keys).aggregate(**_message_aggregates(msgs, has_posts, message_mix),
                                        last_us=msgs.sent_us.max(), **late)
    sums = [*message_sums(has_posts, message_mix), *late]
    if not multi:  # one aggregation per member: the history and the windows of the one cutoff
        rows = day.mutate(cut_day=ibis.literal(cut_days[0], type="int64"))
        return rows.group_by(list(KEY_COLUMNS)).aggregate(
            **{s: rows[s].sum().cast("int64") for s in sums}, last_us=rows.last_us.max(),
            **_window_counts(rows, windows_m, windows)).mutate(cut_id=ibis.literal(0, type="int64"))


def _with_posts_known(ev, posts):
    """``ev`` with ``_posted_us``: when the post an event names was posted, if it is a post of the event's
    own group (references stay within a group, so the counts are the same a bucket of groups at a time);
    NULL for other events."""
    post_ids = posts.group_by(_post_group=posts.group_id, _post_id=posts.post_id).aggregate(
        _posted_us=posts.posted_us.min())
    return ev.left_join(post_ids, [ev.group_id == post_ids._post_group, ev.post_id == post_ids._post_id]).drop(
        "_post_group", "_post_id")


def _reads_counted(ev):
    """At one cutoff: the events (of ``src.table("events")`` cut there, with :func:`_with_posts_known`) that
    count as reading or clicking a post, those naming a post of their group posted by the cutoff."""
    return ev.event_type.isin(("read", "click")) & ev._posted_us.notnull()


def _event_key_hash(src, ev):
    """A 64-bit hash of an event's (member_id, post_id, event_type), the engine's own
    (:func:`~groupstats.tables.key_hashes.key_hash`): equal keys have equal hashes, so distinct hashes
    prove distinct keys (and distinct (group_id, member_id, post_id, event_type), a finer key)."""
    return key_hash(src.engine.kind, ev.member_id, ev.post_id, ev.event_type)


def event_keys_distinct(src) -> bool:
    """Whether no member read (or clicked) one post more than once in the events counted at the cutoff
    of ``src`` (one cutoff): then each member's distinct posts read are its read events.

    Exact: True only if the 64-bit hashes of the keys (:func:`_event_key_hash`) are all distinct, which
    implies distinct keys; a repeated key or a collision of two keys' hashes gives False (the caller then
    groups by (member, post)). The hashes are those of every read and click up to the cutoff, also of
    posts not counted (unknown or posted later): distinct there, distinct among those counted, with no
    join to the posts. On DuckDB, up to :data:`EVENT_HASHES_SORTED_IN_MEMORY` events, the hashes
    are sorted in memory (:func:`~groupstats.tables.key_hashes.any_repeated`; a fraction of the cost of
    the engine's hash table of ~10M keys); beyond, and on Spark, the engine counts the distinct hashes.

    Memoised on the source (shared by its cuts, per range of groups): a proof at a cutoff holds at every
    earlier one, since the events up to an earlier cutoff are a subset of those up to it.
    """
    proofs = src.derived.setdefault(("event_keys_distinct", src.groups), {})  # cut_us (None: uncut) -> bool
    cut = src.cut_us
    if any(ok and (c is None or (cut is not None and cut <= c)) for c, ok in proofs.items()):
        return True
    if cut not in proofs:
        proofs[cut] = _event_keys_distinct(src)
    return proofs[cut]


def _event_keys_distinct(src) -> bool:
    """:func:`event_keys_distinct`, computed."""
    ev = src.table("events")
    ev = ev.filter(ev.event_type.isin(("read", "click")))
    keys = ev.select(_h=_event_key_hash(src, ev))
    if src.engine.kind == "duckdb":
        chunks, n = [], 0
        for batch in src.engine.con._to_duckdb_relation(keys).to_arrow_reader(1_000_000):
            n += batch.num_rows
            if n > EVENT_HASHES_SORTED_IN_MEMORY:
                break
            chunks.append(batch.column(0).to_numpy(zero_copy_only=False))
        else:
            hashes = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint64)
            del chunks
            return not any_repeated(hashes)
    found = src.execute(keys.aggregate(n=keys.count(), distinct=keys._h.nunique()))
    return int(found["n"].iloc[0]) == int(found["distinct"].iloc[0])


def _known_reads_and_clicks(src):
    """Expression, one cutoff (``src`` cut there), no read or click repeated (:func:`event_keys_distinct`):
    per (cut_id, group_id, member_id) with a read or click of a known post, ``reads`` and ``clicks``: those
    of posts of the member's own group known at the cutoff, from a semi join with the posts (no post column
    carried to the grouping): the one definition of reads and clicks at one cutoff without repeats (the
    exact grouping by (member, post) of :func:`_event_counts` gives the same counts, tests/test_feature_counts_fast.py)."""
    import ibis

    ev = src.table("events")
    posts = src.table("posts")
    rc = ev.filter(ev.event_type.isin(("read", "click")))
    known = posts.select(_post_group=posts.group_id, _post_id=posts.post_id)
    rc = rc.semi_join(known, [rc.group_id == known._post_group, rc.post_id == known._post_id])
    return rc.group_by(list(KEY_COLUMNS)).aggregate(
        reads=rc.count(where=rc.event_type == "read"), clicks=rc.count(where=rc.event_type == "click")).mutate(
        cut_id=ibis.literal(0, type="int64"))


def sign_in_day_words(src, cut_day: int, wmax: int, cuts: list[tuple[int, int]] | None = None):
    """Expression, one cutoff (``src`` cut there): per (group_id, member_id) with a sign-in in the last
    ``wmax`` days up to ``cut_day``, those days as the words ``_s<k>`` of :func:`_day_words`; only the
    sign-ins compute a local day and its bit.

    With ``cuts`` ((cut_us, cut_day) pairs, none after the cut of ``src``; ``cut_day`` is then unused), the
    words of each cutoff ``j`` in one pass over the sign-ins, as ``_s<j>_<k>``: those of the sign-ins up to
    its time in the last ``wmax`` days up to its day (per member with a sign-in in any cutoff's window; 0
    in the words of a cutoff where it has none)."""
    ev = src.table("events")
    si = src.with_local(ev.filter(ev.event_type == "sign_in"), "occurred_us")
    if cuts is None:
        si = si.filter(si.day > cut_day - wmax)
        return si.group_by(list(KEY_COLUMNS)).aggregate(**_day_words(si.day, cut_day, wmax, "_s"))
    si = si.filter(si.day > min(day for _, day in cuts) - wmax)
    words: dict = {}
    for j, (us, day) in enumerate(cuts):
        words.update(_day_words(si.day, day, wmax, f"_s{j}_", when=si.occurred_us <= us))
    return si.group_by(list(KEY_COLUMNS)).aggregate(**words)


def expect_sign_in_cutoffs(src, cuts_us) -> None:
    """Tell :func:`count_member_features` on ``src`` (and its cuts) the cutoffs it will be asked for next, one
    at a time (churn's panel): its first count of sign-in days then counts them at each of these cutoffs up
    to its own in one pass over the sign-ins (:func:`sign_in_day_words` with ``cuts``), and the later ones
    read theirs from the memo. Counts asked for at other cutoffs are computed as usual."""
    src.derived[("sign_in_cutoffs", src.groups)] = sorted({int(c) for c in cuts_us})


def _event_counts(src, cuts_us, cut_days, cuts, wmax: int, with_reads: bool, with_sign_in: bool,
                  events_distinct: bool = False):
    """Expression: per (cut_id, group_id, member_id) with events, ``reads`` / ``clicks`` (distinct posts
    read / clicked, of posts known at the cutoff) and ``sign_in`` (days with a sign-in in the last
    ``wmax`` days up to the cutoff).

    With ``events_distinct`` (no key repeats: :func:`event_keys_distinct`), reads and clicks are counted as
    events, at several cutoffs from the segment each is known in (at one cutoff :func:`member_feature_counts`
    counts them with :func:`_known_reads_and_clicks`, and sign-in days in windows of up to
    :data:`DAY_WORDS_UP_TO` days with :func:`sign_in_day_words`)."""
    import ibis

    multi = len(cuts_us) > 1
    ev = src.table("events")
    kinds = [*(("read", "click") if with_reads else ()), *(("sign_in",) if with_sign_in else ())]
    ev = ev.filter(ev.event_type.isin(kinds))
    wanted = ibis.literal(False)
    if with_reads:
        posts = src.table("posts")
        ev = _with_posts_known(ev, posts)
        wanted = _reads_counted(ev)
        if multi:  # a post counts as read once both the read and the post are known
            known_us = ibis.greatest(ev.occurred_us, ev._posted_us)
    if with_sign_in:
        ev = src.with_local(ev, "occurred_us")
        wanted = wanted | ((ev.event_type == "sign_in") & (ev.day > cut_days[0] - wmax))
        sign_day = ibis.ifelse(ev.event_type == "sign_in", ev.day, ibis.null("int64"))
    else:
        sign_day = ibis.null("int64")
    # one pass over the events: one row per (member, post read or clicked, or local sign-in day)
    post = ibis.ifelse(ev.event_type == "sign_in", ibis.null("string"), ev.post_id)
    ev = ev.filter(wanted)
    if not multi:  # whether each post was read / clicked (a group-by on a flag and a text key)
        is_day = ev.event_type == "sign_in"
        token = ibis.ifelse(is_day, sign_day.cast("string"), post)
        ev = ev.group_by([*KEY_COLUMNS, is_day.name("_is_day"), token.name("_token")]).aggregate(
            **({"_read": (ev.event_type == "read").any(), "_click": (ev.event_type == "click").any()}
               if with_reads else {}))
        return ev.group_by(list(KEY_COLUMNS)).aggregate(
            **({"reads": ev._token.count(where=~ev._is_day & ev._read),
                "clicks": ev._token.count(where=~ev._is_day & ev._click)} if with_reads else {}),
            **({"sign_in": ev._token.count(where=ev._is_day)} if with_sign_in else {})).mutate(
            cut_id=ibis.literal(0, type="int64"))
    from groupstats.tables.event_counts_at_cuts import event_counts_at_cuts

    return event_counts_at_cuts(ev, cuts_us, cut_days, cuts, wmax, with_reads, with_sign_in, events_distinct,
                                known_us if with_reads else None, sign_day, post)


def member_feature_counts(src, cuts_us, windows: tuple[int, ...], recent_w: int, long_w: int,
                          types_present: set, day_words: bool = False, events_distinct: bool = False,
                          sign_ins_apart: bool = False, message_mix: bool = True):
    """Expression: per cutoff and present member, the counts every feature is made from.

    Parameters
    ----------
    src : Source
        The dataset's tables (uncut, or cut at the last cutoff or later).
    cuts_us : list of int
        Ascending distinct cutoffs, UTC microseconds.
    windows, recent_w, long_w
        Window lengths (days) for ``a<W>`` (active days) and ``m<W>`` (messages), the latter also for
        the trend's two windows.
    types_present : set of str
        Event types in the data up to the last cutoff (read / click / sign_in counts only if present).
    day_words, events_distinct : bool, default False
        One cutoff only, ways to the same counts with less work (:func:`count_member_features` uses them):
        active days and sign-in days as bit words ``_a<k>`` / ``_s<k>`` (:func:`_day_words`) instead of
        ``a<W>`` and ``sign_in``; reads and clicks counted as events, exact only when no member read or
        clicked a post twice (:func:`event_keys_distinct`).
    sign_ins_apart : bool, default False
        With ``day_words`` and ``events_distinct``: no sign-in days in the expression (the caller counts them
        with :func:`sign_in_day_words`, in a query of their own). (At one cutoff with ``events_distinct``
        the reads and clicks always come from :func:`_known_reads_and_clicks`.)
    message_mix : bool, default True
        False: without t_<type>, evening, night and weekend (:data:`MIX_SUMS`), which only the message-mix
        features read (churn's models leave them out).

    Returns
    -------
    Expression with one row per (cut_id, group_id, member_id) present at cutoff ``cuts_us[cut_id]``:
    first_join_us, and (NULL where the member has none): n, last_us, replies, mentions, t_<type>,
    evening, night, weekend, m<W>, a<W>, post_replies, posts_present, reads, clicks, sign_in.
    """
    from groupstats.tables.churn_features import cutoff_table

    cuts_us = [int(c) for c in cuts_us]
    if not cuts_us or cuts_us != sorted(set(cuts_us)):
        raise ValueError(f"cuts_us must be ascending and distinct, got {cuts_us}")
    src = src.cut(cuts_us[-1])
    cut_days = [local_day(src, c) for c in cuts_us]
    cuts = cutoff_table({"cut_us": cuts_us, "cut_day": cut_days})
    memberships = present_memberships_expr(src, cuts)
    keys = ["cut_id", *KEY_COLUMNS]
    out = memberships.group_by(keys).aggregate(first_join_us=memberships.joined_us.min())
    windows_m = sorted({*windows, recent_w, long_w})
    day_words = day_words and len(cuts_us) == 1
    parts = [_message_counts(src, cuts_us, cut_days, cuts, windows, windows_m, day_words, message_mix)]
    has_posts = src.has("posts")
    with_reads = has_posts and bool(types_present & {"read", "click"})
    with_sign_in = src.has("events") and "sign_in" in types_present
    if len(cuts_us) == 1 and events_distinct:
        # one cutoff, no read or click repeated: reads and clicks have one definition, a semi join with the
        # posts (:func:`_known_reads_and_clicks`); sign-in days beside them, unless the caller counts them
        if with_reads:
            parts.append(_known_reads_and_clicks(src))
        if with_sign_in and day_words and not sign_ins_apart:  # the words of the caller's own query, here
            import ibis

            parts.append(sign_in_day_words(src, cut_days[0], windows[-1]).mutate(
                cut_id=ibis.literal(0, type="int64")))
        elif with_sign_in and not day_words:
            parts.append(_event_counts(src, cuts_us, cut_days, cuts, windows[-1], False, True, events_distinct))
    elif with_reads or with_sign_in:
        parts.append(_event_counts(src, cuts_us, cut_days, cuts, windows[-1], with_reads, with_sign_in,
                                   events_distinct))
    if has_posts:
        parts.append(posts_present_expr(memberships, src.table("posts")))
    for part in parts:
        out = out.left_join(part, keys).drop(*(f"{k}_right" for k in keys))
    return out


def count_member_features(src, cuts_us, windows: tuple[int, ...], recent_w: int, long_w: int,
                          types_present: set, message_mix: bool = True):
    """The frame of :func:`member_feature_counts` (``a<W>``, ``reads``, ``clicks``, ``sign_in`` as there;
    ``message_mix`` as there), computed on the engine of ``src``.

    It takes shorter ways to the same counts: when no member read or clicked a post twice
    (:func:`event_keys_distinct`, exact), reads and clicks counted as events (at any number of cutoffs);
    with one cutoff, the days with messages or sign-ins in each window as bits per member (windows up to
    :data:`DAY_WORDS_UP_TO` days): no grouping by (member, day) or (member, post), which cost most of
    the time at 10M messages.
    """
    cuts_us = [int(c) for c in cuts_us]
    day_words = len(cuts_us) == 1 and windows[-1] <= DAY_WORDS_UP_TO
    # (without reads or clicks counted, only sign-in days: nothing to prove)
    reads = src.has("events") and src.has("posts") and bool(types_present & {"read", "click"})
    events_distinct = not reads or event_keys_distinct(src.cut(cuts_us[-1]))
    apart = day_words and events_distinct and src.has("events") and "sign_in" in types_present
    counts = src.execute(member_feature_counts(src, cuts_us, windows, recent_w, long_w, types_present,
                                               day_words=day_words, events_distinct=events_distinct,
                                               sign_ins_apart=apart, message_mix=message_mix))
    if day_words:
        words = [c for c in counts.columns if c.startswith("_a") or c.startswith("_s")]
        for w in windows:
            counts[f"a{w}"] = count_day_bits(counts, "_a", w)
        if "_s0" in counts:  # (0 where the member has no event; the features read NULL as 0 too)
            counts["sign_in"] = count_day_bits(counts, "_s", windows[-1])
        counts = counts.drop(columns=words)
    if apart:
        counts["sign_in"] = _sign_in_days(src.cut(cuts_us[-1]), counts, windows[-1])
    return counts


def _sign_in_days(src, counts: pd.DataFrame, wmax: int) -> np.ndarray:
    """Per row of ``counts`` (one cutoff, ``src`` cut there), the days with a sign-in in the last ``wmax``
    days (0 for none): :func:`sign_in_day_words` executed on its own (in the query of the other counts, the
    events would be read by two consumers, which DuckDB materialises) and its bits counted.

    At the first of the cutoffs announced by :func:`expect_sign_in_cutoffs`, the days at every announced
    cutoff up to it are counted in the same pass and kept (with the derived tables) until asked for."""
    memo = src.derived.setdefault(("sign_in_days", src.groups, wmax), {})  # cut_us -> days per member
    cut = src.cut_us
    if cut not in memo:
        key = ("sign_in_cutoffs", src.groups)
        expected = src.derived.get(key, [])
        more = [c for c in expected if c < cut and c not in memo]
        src.derived[key] = [c for c in expected if c > cut]  # (those up to this cutoff are counted now)
        if more:  # the expected cutoffs up to this one, in one pass (their sign-ins are all known here)
            cuts = [(c, local_day(src, c)) for c in [*more, cut]]
            words = src.execute(sign_in_day_words(src, 0, wmax, cuts))
            keys = words[list(KEY_COLUMNS)]
            for j, (c, _) in enumerate(cuts):
                memo[c] = (keys, count_day_bits(words, f"_s{j}_", wmax))
        else:
            words = src.execute(sign_in_day_words(src, local_day(src, cut), wmax))
            memo[cut] = (words[list(KEY_COLUMNS)], count_day_bits(words, "_s", wmax))
    from groupstats.tables.member_numbers import number_members

    keys, days = memo.pop(cut)
    # each row of ``counts`` matched to its member's days (0 for none) through one numbering of both frames' keys
    numbered, (at_counts, at_keys) = number_members(counts, keys)
    by_member = np.zeros(len(numbered), dtype=np.int64)
    by_member[at_keys] = days
    return by_member[at_counts]
