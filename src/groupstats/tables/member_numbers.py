"""Members numbered by their keys (group_id, member_id), so that frames are matched by integer arrays.

Tables of members at several cutoffs, their counts and their labels are matched member by member many
times; a MultiIndex of two text columns per match cost most of that time. Two numberings:

- :func:`number_members`: one numbering of the members of several pandas frames (the distinct keys sorted,
  as ``sort_values`` orders them), and each row's number: frames are matched by looking numbers up in an
  array (churn's counts, flags, labels and features; the sign-in days of member features).
- :func:`number_members_in_table`: a number per distinct key of one pyarrow Table in the order of first
  appearance, and the first row of each (the counts of members at several cutoffs, computed per row of the
  engine's table).

Keys that are missing (invalid data, stopped by the dataset checks) are not told apart from one another.
"""
from __future__ import annotations

KEYS = ("group_id", "member_id")


def number_members(*frames):
    """The distinct (group_id, member_id) of executed frames, sorted, and for each frame each row's position
    among them (one numbering for all the frames): ``(keys, [positions, ...])``."""
    import numpy as np
    import pandas as pd

    groups = pd.concat([f["group_id"] for f in frames], ignore_index=True)
    members = pd.concat([f["member_id"] for f in frames], ignore_index=True)
    g, g_keys = pd.factorize(groups, sort=True)
    m, m_keys = pd.factorize(members, sort=True)
    width = max(len(m_keys), 1)
    uniq, member = np.unique(g.astype(np.int64) * width + m, return_inverse=True)
    keys = pd.DataFrame({"group_id": pd.Series(g_keys.take(uniq // width)).astype("str"),
                         "member_id": pd.Series(m_keys.take(uniq % width)).astype("str")})
    member = member.ravel().astype(np.int64)
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return keys, [member[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def number_members_in_table(per):
    """A number per distinct (group_id, member_id) of the pyarrow Table ``per`` (int64 array over its rows)
    and the first row of each number."""
    import numpy as np
    import pandas as pd

    code = None
    for k in KEYS:
        c, uniq = pd.factorize(per.column(k).to_pandas(), use_na_sentinel=False)
        code = c.astype(np.int64) if code is None else code * len(uniq) + c
    codes, uniq = pd.factorize(code)
    first_row = np.full(len(uniq), len(code), dtype=np.int64)
    np.minimum.at(first_row, codes, np.arange(len(code), dtype=np.int64))
    return codes.astype(np.int64), first_row
