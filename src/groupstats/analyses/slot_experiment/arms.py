"""Arms, periods and design of a slot experiment: the assignments, switchback or group-randomised, and
the arm of each post at its posting time (intent to treat)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.errors import ParameterError


# ------------------------------------------------------------------------------------------
# arms, periods, design
# ------------------------------------------------------------------------------------------
def _experiment_assignments(ds: Dataset, experiment: str) -> pd.DataFrame:
    table = ds.require("assignments", f"the analysis of experiment '{experiment}'")
    known = sorted(pd.unique(table["experiment_id"]).tolist())
    rows = table.loc[table["experiment_id"] == experiment]
    if rows.empty:
        raise ParameterError(f"Unknown experiment {experiment!r}: the assignments table has "
                             f"{', '.join(map(repr, known)) or 'no experiments'}. Pass one of these "
                             "with --experiment.")
    return rows.sort_values(["group_id", "start_at"], kind="stable").reset_index(drop=True)


def experiment_design(assignments: pd.DataFrame) -> str:
    """``"switchback"`` if some group changes arm over time, else ``"group-randomised"``."""
    arms_per_group = assignments.groupby("group_id")["arm"].nunique()
    return "switchback" if (arms_per_group > 1).any() else "group-randomised"


def assign_arms(posts: pd.DataFrame, assignments: pd.DataFrame, washout=None) -> pd.DataFrame:
    """Give each post its group's arm at ``posted_at`` (intent to treat).

    Parameters
    ----------
    posts : DataFrame with group_id, posted_at (n rows)
    assignments : DataFrame of one experiment: group_id, arm, start_at, end_at
    washout : duration, optional
        Posts within this time after the start of their assignment period get
        ``in_washout = True``.

    Returns
    -------
    DataFrame (n rows, same index) with columns arm (None outside every
    assignment period), period_start, period_end, in_washout.
    """
    # integer group codes for the as-of join (``by`` on Arrow strings is slow: 4 s at 200k posts)
    codes, _ = pd.factorize(pd.concat([posts["group_id"], assignments["group_id"]], ignore_index=True))
    probe = posts[["posted_at"]].assign(_g=codes[:len(posts)], _row=np.arange(len(posts)))
    probe = probe.sort_values("posted_at", kind="stable")
    right = assignments[["arm", "start_at", "end_at"]].assign(_g=codes[len(posts):])
    right = right.sort_values("start_at", kind="stable")
    merged = pd.merge_asof(probe, right, left_on="posted_at", right_on="start_at", by="_g",
                           direction="backward")
    inside = (merged["arm"].notna() & (merged["posted_at"] < merged["end_at"])).to_numpy()
    out = pd.DataFrame(index=np.arange(len(posts)))
    rows = merged["_row"].to_numpy()
    arm = np.full(len(posts), None, dtype=object)
    arm[rows] = np.where(inside, merged["arm"].to_numpy(dtype=object), None)
    out["arm"] = pd.Series(arm, dtype=object)
    back = np.argsort(rows, kind="stable")  # merged row of each post (merge_asof keeps every post once)
    for col in ("start_at", "end_at"):
        # reordered as a datetime array: .to_numpy() would make 200k Timestamp objects to parse back
        values = merged[col].where(inside).iloc[back]
        out["period_" + col.split("_")[0]] = pd.Series(values.array, index=out.index)
    if washout is not None:
        from groupstats.tables.derived import _timedelta

        wo = _timedelta(washout, "washout")
        since_start = posts["posted_at"].reset_index(drop=True) - out["period_start"]
        out["in_washout"] = (since_start < wo).to_numpy() & out["arm"].notna().to_numpy()
    else:
        out["in_washout"] = False
    out.index = posts.index
    return out
