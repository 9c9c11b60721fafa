"""Side files of an import: roster, operators list and posts plan (small CSV/Excel tables), and the
matching of a posts plan to operator messages."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import DataValidationError, GroupstatsError, ParameterError, Problem
from groupstats.data.schema import OPERATOR_ROLES
from groupstats.data.importers.common import any_timestamp, clean_str, read_text


def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """Read a small CSV or Excel file as strings (for rosters, plans, operators)."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"The {what} file {path} does not exist.")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            frame = pd.read_excel(path, dtype=str)
        else:
            frame = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False, na_values=[""],
                                sep=None, engine="python")
    except GroupstatsError:
        raise
    except Exception as exc:  # noqa: BLE001 - turn any reader failure into a clear message
        raise DataValidationError([Problem(str(path), None, f"cannot be read as the {what}: {exc}")]) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _pick(frame: pd.DataFrame, names: tuple[str, ...], file: str, what: str, required: bool = True):
    for name in names:
        if name in frame.columns:
            return name
    if required:
        raise DataValidationError([Problem(file, names[0], f"the {what} needs a column named "
                                                           f"{' or '.join(names)}; it has: "
                                                           f"{', '.join(frame.columns)}")])
    return None


def read_roster(path, tz: str) -> pd.DataFrame:
    """Roster: group, member, joined_at, optional left_at, role, name (source ids).

    Returns columns group, member, joined_at, left_at (UTC Timestamps or None),
    role, name, source_row.
    """
    frame = read_table(path, "roster")
    file = str(path)
    gcol = _pick(frame, ("group", "group_id"), file, "roster")
    mcol = _pick(frame, ("member", "member_id"), file, "roster")
    jcol = _pick(frame, ("joined_at", "joined"), file, "roster")
    lcol = _pick(frame, ("left_at", "left"), file, "roster", required=False)
    rcol = _pick(frame, ("role",), file, "roster", required=False)
    ncol = _pick(frame, ("name", "nickname", "display_name"), file, "roster", required=False)
    out = pd.DataFrame({
        "group": frame[gcol].map(clean_str), "member": frame[mcol].map(clean_str),
        "joined_at": frame[jcol].map(lambda v: any_timestamp(v, tz)),
        "left_at": frame[lcol].map(lambda v: any_timestamp(v, tz)) if lcol else None,
        "role": frame[rcol].map(clean_str).str.lower() if rcol else None,
        "name": frame[ncol].map(clean_str) if ncol else None,
        "source_row": np.arange(1, len(frame) + 1)})
    problems = []
    bad = out["group"].isna() | out["member"].isna()
    if bad.any():
        problems.append(Problem(file, "group, member", "empty group or member", np.flatnonzero(bad) + 1))
    bad = out["joined_at"].isna()
    if bad.any():
        problems.append(Problem(file, jcol, "missing or unreadable joined_at", np.flatnonzero(bad) + 1))
    if lcol:
        bad = frame[lcol].map(clean_str).notna() & out["left_at"].isna()
        if bad.any():
            problems.append(Problem(file, lcol, "unreadable left_at", np.flatnonzero(bad) + 1))
    if rcol:
        bad = out["role"].notna() & ~out["role"].isin(["owner", "admin", "member"])
        if bad.any():
            problems.append(Problem(file, rcol, "role must be owner, admin or member", np.flatnonzero(bad) + 1))
    if problems:
        raise DataValidationError(problems, header=f"The roster {file} has problems:")
    return out


def read_operators(path) -> pd.DataFrame:
    """Operators: a CSV with ``member`` (and optional ``group``) or one source id per line."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"The operators file {path} does not exist.")
    first = read_text(path).splitlines()[:1]
    header = first[0].strip().lower() if first else ""
    if path.suffix.lower() in (".xlsx", ".xls") or re.search(r"\b(member|member_id)\b", header):
        frame = read_table(path, "operators list")
        mcol = _pick(frame, ("member", "member_id"), str(path), "operators list")
        gcol = _pick(frame, ("group", "group_id"), str(path), "operators list", required=False)
        rcol = _pick(frame, ("role",), str(path), "operators list", required=False)
        out = pd.DataFrame({"member": frame[mcol].map(clean_str),
                            "group": frame[gcol].map(clean_str) if gcol else None,
                            "role": frame[rcol].map(clean_str).str.lower() if rcol else "admin"})
    else:
        ids = [line.strip() for line in read_text(path).splitlines()]
        out = pd.DataFrame({"member": [i for i in ids if i and not i.startswith("#")]})
        out["group"] = None
        out["role"] = "admin"
    out = out.loc[out["member"].notna()].reset_index(drop=True)
    out.loc[~out["role"].isin(OPERATOR_ROLES), "role"] = "admin"
    return out


def read_posts_plan(path, tz: str) -> pd.DataFrame:
    """Posts plan: group, planned time, content_type -> group, planned_at (UTC), content_type, plan_row."""
    frame = read_table(path, "posts plan")
    file = str(path)
    gcol = _pick(frame, ("group", "group_id"), file, "posts plan")
    tcol = _pick(frame, ("planned_at", "time", "posted_at", "planned_time"), file, "posts plan")
    ccol = _pick(frame, ("content_type", "type"), file, "posts plan")
    out = pd.DataFrame({"group": frame[gcol].map(clean_str),
                        "planned_at": frame[tcol].map(lambda v: any_timestamp(v, tz)),
                        "content_type": frame[ccol].map(clean_str),
                        "plan_row": np.arange(1, len(frame) + 1)})
    bad = out.isna().any(axis=1)
    if bad.any():
        raise DataValidationError([Problem(file, None, "empty group or content_type, or unreadable planned "
                                                       "time", np.flatnonzero(bad) + 1)])
    return out


def match_posts_plan(plan: pd.DataFrame, messages: pd.DataFrame, members: pd.DataFrame,
                     tolerance: pd.Timedelta) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match each planned post to the nearest operator message in its group.

    Parameters
    ----------
    plan : DataFrame
        group_id, planned_at (tz-aware), content_type, plan_row.
    messages : DataFrame
        Canonical messages (message_id, group_id, member_id, sent_at, msg_type).
    members : DataFrame
        Canonical members with role.
    tolerance : Timedelta
        Largest distance between planned and actual time.

    Returns
    -------
    posts : DataFrame
        post_id, group_id, posted_at, content_type, member_id, message_id, planned_at.
    unmatched : DataFrame
        plan_row, group_id, planned_at, content_type of plan rows with no match.
        Each message serves at most one plan row (the nearest one).
    """
    ops = members.loc[members["role"].isin(OPERATOR_ROLES), ["group_id", "member_id"]].drop_duplicates()
    cand = messages.loc[messages["msg_type"] != "system"].merge(ops, on=["group_id", "member_id"])
    cand = cand[["message_id", "group_id", "member_id", "sent_at"]].sort_values("sent_at")
    left = plan.sort_values("planned_at").reset_index(drop=True)
    if len(cand):
        matched = pd.merge_asof(left, cand, left_on="planned_at", right_on="sent_at", by="group_id",
                                direction="nearest", tolerance=tolerance)
    else:
        matched = left.assign(message_id=None, member_id=None, sent_at=pd.NaT)
    matched["distance"] = (matched["sent_at"] - matched["planned_at"]).abs()
    ok = matched["message_id"].notna()
    best = matched.loc[ok].sort_values(["distance", "plan_row"]).drop_duplicates("message_id", keep="first")
    used = set(best["plan_row"])
    unmatched = matched.loc[~matched["plan_row"].isin(used), ["plan_row", "group_id", "planned_at", "content_type"]]
    posts = pd.DataFrame({
        "post_id": "p_" + best["message_id"].str.removeprefix("msg_"),
        "group_id": best["group_id"], "posted_at": best["sent_at"], "content_type": best["content_type"],
        "member_id": best["member_id"], "message_id": best["message_id"], "planned_at": best["planned_at"]})
    return posts.sort_values("posted_at").reset_index(drop=True), unmatched.sort_values("plan_row").reset_index(
        drop=True)
