"""The per-cutoff message and event counts made in numpy from the engine's small groupings
(tables/message_counts_at_cuts.py, tables/event_counts_at_cuts.py), against counts made row by row."""
import numpy as np
import pandas as pd
import pyarrow as pa

from groupstats.tables.event_counts_at_cuts import counts_from_segments
from groupstats.tables.message_counts_at_cuts import SPAN_DAYS, counts_from_spans, day_spans


def _messages(rng, cut_days, n=400):
    """Random messages (group_id, member_id, day, seg): a message of a cutoff's own date may come after
    the cutoff (segment k + 1), one of an earlier day is known at it."""
    day = rng.integers(cut_days[0] - 150, cut_days[-1] + 1, n)
    seg = np.searchsorted(np.asarray(cut_days), day)  # days before cut_days[k] have segment <= k
    at_cut = np.isin(day, cut_days) & (rng.random(n) < 0.5) & (seg < len(cut_days) - 1)
    seg = seg + at_cut
    return pd.DataFrame({"group_id": rng.choice(["g1", "g2"], n), "member_id": rng.choice(["a", "b", "c", "d"], n),
                         "day": day, "seg": seg, "sent_us": day * 10 + seg, "reply": rng.integers(0, 2, n)})


def test_message_counts_from_spans_match_row_by_row_counts():
    rng = np.random.default_rng(3)
    cut_days, windows = [1000, 1007, 1090], (7, 30, 90)
    msgs = _messages(rng, cut_days)
    edges, _ = day_spans(cut_days, windows)
    base = edges[0]
    msgs["span"] = np.searchsorted(edges, msgs["day"].to_numpy(), side="left")
    inside = (msgs["day"] > base) & (msgs["day"] <= edges[-1])
    shift = np.where(inside, (msgs["day"].to_numpy() - base - 1) % SPAN_DAYS, 0)
    msgs["bit"] = np.where(inside, np.left_shift(np.int64(1), shift), 0)
    per = msgs.groupby(["group_id", "member_id", "seg", "span"], as_index=False).agg(
        n=("day", "size"), replies=("reply", "sum"), last_us=("sent_us", "max"),
        _bits=("bit", lambda b: np.bitwise_or.reduce(b.to_numpy())))
    got = counts_from_spans(pa.Table.from_pandas(per, preserve_index=False), ["n", "replies"], cut_days, edges,
                            windows, list(windows)).to_pandas()
    got = got.set_index(["cut_id", "group_id", "member_id"]).sort_index()
    rows = []
    for k, cd in enumerate(cut_days):
        known = msgs[msgs["seg"] <= k]
        for (g, m), part in known.groupby(["group_id", "member_id"]):
            row = {"cut_id": k, "group_id": g, "member_id": m, "n": len(part), "replies": part["reply"].sum(),
                   "last_us": part["sent_us"].max()}
            for w in windows:
                win = part[(part["day"] > cd - w) & (part["day"] <= cd)]
                row[f"m{w}"] = len(win) if len(win) else pd.NA
                row[f"a{w}"] = win["day"].nunique() if len(win) else pd.NA
            rows.append(row)
    want = pd.DataFrame(rows).set_index(["cut_id", "group_id", "member_id"]).sort_index()
    assert len(want) == len(got) > 20
    for col in want.columns:
        assert got[col].astype("Int64").tolist() == want[col].astype("Int64").tolist(), col


def test_event_counts_from_segments_keep_reads_clicks_and_sign_ins_apart():
    cut_days = [100, 110]
    ev = pa.table({
        "group_id": ["g"] * 5, "member_id": ["a", "a", "b", "b", "c"],
        "day": pa.array([None, None, None, 105, 99], pa.int64()),
        "_r": pa.array([0, None, None, None, None], pa.int64()),
        "_c": pa.array([None, 1, 1, None, None], pa.int64()),
        "_s": pa.array([None, None, None, 1, 0], pa.int64()),
        "_n": pa.array([2, 3, 1, 1, 1], pa.int64())})
    got = counts_from_segments(ev, cut_days, 7, True, True).to_pandas()
    got = got.set_index(["cut_id", "member_id"]).sort_index()
    # a: 2 reads from cutoff 0, 3 clicks from cutoff 1; b: a click at 1, a sign-in on day 105 (in 1's 7 days?
    # no: 104..110 holds it); c: a sign-in on day 99, in cutoff 0's window (94..100) only
    assert list(got.index) == [(0, "a"), (0, "c"), (1, "a"), (1, "b")]
    assert got["reads"].astype("Int64").tolist() == [2, pd.NA, 2, pd.NA]
    assert got["clicks"].astype("Int64").tolist() == [pd.NA, pd.NA, 3, 1]
    assert got["sign_in"].astype("Int64").tolist() == [pd.NA, 1, pd.NA, 1]
