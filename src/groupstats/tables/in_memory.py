"""Pandas helpers for analyses that work on frames they already hold.

The derived tables themselves are engine expressions (:mod:`groupstats.tables.derived`); these
are the few in-memory pieces some analyses still need on a dataset's (or a cut dataset's)
frames: member messages, counting rows of a group up to a time, members present at given
times, red-packet bursts, local dates. Reading ``ds.messages`` here reads a deferred table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset, non_operator_members


def local_date(times: pd.Series) -> pd.Series:
    """Local calendar date (naive midnight) of tz-aware timestamps."""
    return times.dt.tz_localize(None).dt.normalize()


def member_messages(ds: Dataset, include_operators: bool = False) -> pd.DataFrame:
    """Messages sent by members: no system messages, no operators unless asked."""
    msgs = ds.messages
    keep = (msgs["msg_type"] != "system").to_numpy()
    if not include_operators:
        keep = keep & ~ds.operator_mask(msgs)
    return msgs.loc[keep]


# ------------------------------------------------------------------------------------------
# counting rows of the same group up to a time, vectorised with composite keys
# ------------------------------------------------------------------------------------------
def _int_us(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.as_unit("us").dt.tz_localize(None).to_numpy().astype("int64")


def _count_up_to(event_group: np.ndarray, event_time: np.ndarray, query_group: np.ndarray,
                 query_time: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """For each query, the number of events of the same group with time <= (or <) the query time.

    Groups are integer codes; times are int64. One sort and two ``searchsorted``
    calls, whatever the number of groups.
    """
    if len(event_time) == 0:
        return np.zeros(len(query_time), dtype=np.int64)
    tmin = min(event_time.min(), query_time.min() if len(query_time) else event_time.min())
    tmax = max(event_time.max(), query_time.max() if len(query_time) else event_time.max())
    span = int(tmax - tmin) + 3
    n_groups = int(max(event_group.max(), query_group.max() if len(query_group) else 0)) + 1
    if n_groups * span >= 2 ** 62:  # fall back to one pass per group
        out = np.zeros(len(query_time), dtype=np.int64)
        for g in np.unique(query_group):
            ev = np.sort(event_time[event_group == g])
            q = query_group == g
            out[q] = np.searchsorted(ev, query_time[q], side="right" if inclusive else "left")
        return out
    ev_key = np.sort(event_group.astype(np.int64) * span + (event_time - tmin + 1))
    q_key = query_group.astype(np.int64) * span + (query_time - tmin + 1)
    group_floor = query_group.astype(np.int64) * span
    upto = np.searchsorted(ev_key, q_key, side="right" if inclusive else "left")
    return upto - np.searchsorted(ev_key, group_floor, side="left")


def members_present(ds: Dataset, group_id: pd.Series | np.ndarray, at: pd.Series,
                    include_operators: bool = False) -> np.ndarray:
    """Number of members in each group at each time (joined at or before, not yet left).

    Parameters
    ----------
    group_id : array of shape (n,)
    at : Series of tz-aware timestamps, shape (n,)

    Returns
    -------
    ndarray of int, shape (n,)
    """
    return count_members_present(ds.members, group_id, at, include_operators=include_operators)


def count_members_present(members: pd.DataFrame, group_id, at: pd.Series,
                          include_operators: bool = False) -> np.ndarray:
    """:func:`members_present` on a members table (group_id, joined_at, left_at, role)."""
    if not include_operators:
        members = non_operator_members(members)
    codes, uniques = pd.factorize(pd.concat([members["group_id"], pd.Series(np.asarray(group_id))],
                                            ignore_index=True))
    m_codes, q_codes = codes[:len(members)], codes[len(members):]
    q_time = _int_us(pd.Series(at).reset_index(drop=True))
    joined = _count_up_to(m_codes, _int_us(members["joined_at"]), q_codes, q_time)
    has_left = members["left_at"].notna().to_numpy()
    left = _count_up_to(m_codes[has_left], _int_us(members.loc[has_left, "left_at"]), q_codes, q_time)
    return joined - left




def red_packet_burst_mask(ds: Dataset, messages: pd.DataFrame, quiet: pd.Timedelta) -> np.ndarray:
    """True for red-packet messages and messages within ``quiet`` after a red packet in their group.

    In memory, for analyses that filter a frame they already hold; the derived tables use
    :func:`without_red_packet_bursts`.
    """
    rp = ds.messages.loc[ds.messages["msg_type"] == "red_packet", ["group_id", "sent_at"]]
    is_rp = (messages["msg_type"] == "red_packet").to_numpy()
    if rp.empty:
        return is_rp
    rp = rp.rename(columns={"sent_at": "rp_at"}).sort_values("rp_at", kind="stable")
    probe = messages[["group_id", "sent_at"]].assign(_row=np.arange(len(messages))).sort_values("sent_at",
                                                                                                kind="stable")
    merged = pd.merge_asof(probe, rp, left_on="sent_at", right_on="rp_at", by="group_id", direction="backward")
    near = (merged["rp_at"].notna() & (merged["sent_at"] - merged["rp_at"] <= quiet)).to_numpy()
    out = np.zeros(len(messages), dtype=bool)
    out[merged["_row"].to_numpy()] = near
    return out | is_rp
