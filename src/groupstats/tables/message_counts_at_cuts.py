"""The message counts of :func:`groupstats.tables.feature_counts.member_feature_counts` at several cutoffs,
from one grouping of the messages per (member, segment, span of days).

Churn's panel needs the member features at a dozen cutoffs (:func:`groupstats.tables.features.member_features_at`).
Each message is known at cutoff ``k`` exactly when its *segment* (how many cutoffs come before it,
:func:`groupstats.tables.feature_counts.segment`) is at most ``k``. The local days are cut into *spans*, each
wholly inside or outside every window of every cutoff, a cutoff's date a span of its own
(:func:`day_spans`), and each span within a *word* of :data:`SPAN_DAYS` days. The engine groups the messages
once per (member, segment, span) (:func:`message_spans`: their sums, last time, count and the days they fall
on as bits of their word, ``bit_or``); then, in numpy on that table of a few rows per member
(:func:`counts_from_spans`):

- history up to each cutoff: the sums per (member, segment), cumulated over the segments;
- windows: the spans in each cutoff's windows, with only the part of the cutoff's own date known at it:
  messages summed, and active days as the set bits of each word OR-ed over the spans (a cutoff's date can
  hold two segments, the messages up to the cutoff and after it, and its day counts once).

The result comes back to the caller's expression as an in-memory table. The engine had done those two steps
as joins with the cutoffs and aggregations (~820k and 2.2M rows at 10M messages), which cost more engine time
than grouping the 9.6M messages (engine CPU of the 9-cutoff member features at 10M: 18.6 -> 13.6 s with
the event counts done alike, :mod:`groupstats.tables.event_counts_at_cuts`). A grouping per (member, local
day, segment) first (2.9M groups at 10M messages), then per span, gave the same numbers with ~30% more engine
time.
"""
from __future__ import annotations

from groupstats.tables.member_numbers import number_members_in_table

#: The longest span of days (a span's days are bits 0-62 of a 64-bit integer).
SPAN_DAYS = 63


def day_spans(cut_days, windows):
    """Edges cutting the local days into spans, each wholly inside or outside every window of every cutoff,
    each cutoff's date a span of its own, and each within one *word* of :data:`SPAN_DAYS` days (word i: the
    days ``edges[0] + 1 + i * SPAN_DAYS`` onwards), and the spans in each cutoff's windows, a dict of lists
    (cut_id_, span, word, own, in<W>): the days before its date within its last W days (``in<W>`` 1 or 0)
    and its own date (``own`` 1, in every window). Span i holds the days in (edges[i - 1], edges[i]].
    """
    wanted = sorted({cd - w for cd in cut_days for w in windows} | {cd - 1 for cd in cut_days} | set(cut_days))
    base = wanted[0]
    edges = sorted(set(wanted) | set(range(base + SPAN_DAYS, wanted[-1], SPAN_DAYS)))
    rows = {"cut_id_": [], "span": [], "word": [], "own": [], **{f"in{w}": [] for w in windows}}
    for k, cd in enumerate(cut_days):
        for i in range(1, len(edges)):
            before = edges[i - 1] >= cd - max(windows) and edges[i] <= cd - 1
            own = edges[i - 1] == cd - 1 and edges[i] == cd
            if before or own:
                rows["cut_id_"].append(k)
                rows["span"].append(i)
                rows["word"].append((edges[i] - base - 1) // SPAN_DAYS)
                rows["own"].append(int(own))
                for w in windows:
                    rows[f"in{w}"].append(int(own or edges[i - 1] >= cd - w))
    return edges, rows


def message_spans(msgs, aggregates: dict, cut_days, windows_m):
    """Expression: the messages ``msgs`` grouped per (group_id, member_id, seg, span): the ``aggregates``
    and ``_bits`` (the days of the group as bits of their span's word, ``bit_or``), and the edges of the
    spans (:func:`day_spans` of ``cut_days`` and ``windows_m``)."""
    import ibis

    from groupstats.tables.feature_counts import KEY_COLUMNS, bit_or_aggregate, edge_index, int64_one

    edges, _ = day_spans(cut_days, windows_m)
    base = edges[0]
    span = edge_index(msgs.day, edges)
    # a day's bit in its word (the days before the first edge and after the last: no bits, in no window)
    inside = (msgs.day > base) & (msgs.day <= edges[-1])
    shift = ibis.ifelse(inside, (msgs.day - base - 1) % SPAN_DAYS, 0).cast("int32")
    one = int64_one(msgs.day)
    msgs = msgs.mutate(span=span)
    return msgs.group_by([*KEY_COLUMNS, "seg", "span"]).aggregate(
        **aggregates, _bits=bit_or_aggregate()(ibis.ifelse(inside, one << shift, 0))), edges


def message_counts_at_cuts(msgs, aggregates: dict, sums: list, cuts, cut_days, windows, windows_m):
    """Expression: per (cut_id, group_id, member_id) with messages up to the cutoff, the sums ``sums`` of
    ``aggregates`` (the per-member message counts, over ``msgs``), ``last_us``, and the windowed counts
    ``m<W>`` (messages, W in ``windows_m``) and ``a<W>`` (active days, W in ``windows``) in the last W local
    days up to the cutoff's date (NULL where none).

    The engine groups the messages per (member, segment, span) (:func:`message_spans`, executed here);
    the counts at each cutoff are then computed from that small table in numpy
    (:func:`counts_from_spans`) and come back as an in-memory table, which the caller's expression joins.
    ``msgs``: the messages with ``day`` (local), ``sent_us`` and ``seg`` (their segment); ``cuts``: the
    cutoff table (cut_id, cut_us, cut_day) (unused: the cutoffs are ``cut_days``'s); ``cut_days`` ascending.
    """
    import ibis

    per, edges = message_spans(msgs, aggregates, cut_days, windows_m)
    return ibis.memtable(counts_from_spans(per.to_pyarrow(), sums, cut_days, edges, windows, windows_m))


def counts_from_spans(per, sums: list, cut_days, edges, windows, windows_m):
    """The table of :func:`message_counts_at_cuts` (a pyarrow Table) from ``per``, the executed
    :func:`message_spans` (a pyarrow Table), as the engine would join and aggregate it:

    - history up to cutoff k: the sums of the rows with segment <= k (cumulative sums over the segments
      of each member), ``last_us`` their maximum; a row per (cutoff, member) with such rows;
    - windows: the rows of the spans in cutoff k's windows (:func:`day_spans`), those of its own date
      only with segment <= k; ``m<W>`` the messages, ``a<W>`` the set bits of the words OR-ed per member
      and word (a day of two segments counts once); NULL where no row.
    """
    import numpy as np
    import pyarrow as pa

    from groupstats.tables.churn_features import running_max, running_sum
    from groupstats.tables.feature_counts import KEY_COLUMNS

    n_cuts = len(cut_days)
    seg = per.column("seg").to_numpy(zero_copy_only=False)
    keep = ~np.isnan(seg) if seg.dtype.kind == "f" else np.ones(len(seg), bool)
    if not keep.all():  # (a NULL segment, a message with no time, is in no cutoff's history or window)
        per = per.filter(pa.array(keep))
        seg = seg[keep]
    seg = seg.astype(np.int64)
    member, first_row = number_members_in_table(per)
    n_members = len(first_row)

    def col(name):
        return per.column(name).to_numpy(zero_copy_only=False).astype(np.int64)

    # history: per (member, segment) then cumulative over the segments (segments past the last cutoff: none)
    in_hist = seg < n_cuts
    at = member[in_hist] * n_cuts + seg[in_hist]
    size = n_members * n_cuts

    def cumulative(values):
        return running_sum(at, values[in_hist], n_members, n_cuts)

    known = cumulative(np.ones(len(seg))) > 0
    out_member, out_cut = np.nonzero(known)
    pick = out_member * n_cuts + out_cut
    columns = {"cut_id": pa.array(out_cut.astype(np.int64))}
    take = pa.array(first_row[out_member])
    for k in KEY_COLUMNS:
        columns[k] = per.column(k).take(take)
    for s in sums:
        columns[s] = pa.array(np.rint(cumulative(col(s).astype(np.float64))).astype(np.int64).ravel()[pick])
    columns["last_us"] = pa.array(running_max(at, col("last_us")[in_hist], n_members, n_cuts).ravel()[pick])
    # windows
    _, rows = day_spans(cut_days, windows_m)
    n_spans = len(edges) + 1
    span = per.column("span").to_numpy(zero_copy_only=False).astype(np.int64)
    span = np.where((span >= 0) & (span < n_spans), span, 0)  # (span 0 and len(edges): in no window)
    words = np.zeros(n_spans, dtype=np.int64)
    words[rows["span"]] = rows["word"]
    n_words = int(words.max()) + 1
    bits = per.column("_bits").to_numpy(zero_copy_only=False)
    bits = np.where(np.isnan(bits), 0, bits).astype(np.int64) if bits.dtype.kind == "f" else bits.astype(np.int64)
    n = col("n").astype(np.float64)
    # rows ordered by (member, word): the OR of a member's bits per word is one reduceat
    word_key = member * n_words + words[span]
    order = np.argsort(word_key, kind="stable")
    word_key, span_o, seg_o, bits_o = word_key[order], span[order], seg[order], bits[order]
    member_o, n_o = member[order], n[order]
    cut_of = np.asarray(rows["cut_id_"], dtype=np.int64)
    m_out = {w: np.zeros(size) for w in windows_m}
    m_any = {w: np.zeros(size, bool) for w in windows_m}
    a_out = {w: np.zeros(size) for w in windows}
    for k in range(n_cuts):
        mine = cut_of == k
        spans_k = np.asarray(rows["span"])[mine]
        mine_span = np.zeros(n_spans, bool)
        mine_span[spans_k] = True
        at = np.flatnonzero(mine_span[span_o])  # the rows of cutoff k's spans (still by member and word)
        if not len(at):
            continue
        key_k, span_k, member_k, n_k, bits_k = word_key[at], span_o[at], member_o[at], n_o[at], bits_o[at]
        starts_k = np.flatnonzero(np.r_[True, key_k[1:] != key_k[:-1]])
        slot_k = key_k[starts_k] // n_words * n_cuts + k
        own = np.zeros(n_spans, bool)
        own[spans_k] = np.asarray(rows["own"])[mine] == 1
        base_ok = ~own[span_k] | (seg_o[at] <= k)
        for w in windows_m:
            inside = np.zeros(n_spans, bool)
            inside[spans_k] = np.asarray(rows[f"in{w}"])[mine] == 1
            inc = inside[span_k] & base_ok
            slot = member_k[inc] * n_cuts + k
            m_out[w] += np.bincount(slot, weights=n_k[inc], minlength=size)
            m_any[w] |= np.bincount(slot, minlength=size) > 0
            if w in a_out:
                ored = np.bitwise_or.reduceat(np.where(inc, bits_k, 0), starts_k)
                a_out[w] += np.bincount(slot_k, weights=np.bitwise_count(ored).astype(np.float64), minlength=size)
    for w in windows_m:
        columns[f"m{w}"] = pa.array(np.rint(m_out[w][pick]).astype(np.int64), mask=~m_any[w][pick])
    for w in windows:
        columns[f"a{w}"] = pa.array(np.rint(a_out[w][pick]).astype(np.int64), mask=~m_any[w][pick])
    return pa.table(columns)
