"""The labels path (members present at a cutoff, their churn labels, the engine's flags split per cutoff)
equals a straightforward computation from the definition, written for this test with Python loops over
the membership rows and the activity times: no sorting, numbering or matching of keys.

Present at a cutoff: a (group, member) pair with no owner/admin row anywhere in the data, one of whose
non-operator memberships joined by the cutoff and had not left by then (``left_at`` missing or after
it); the membership that counts is the one joined last (equal join times: the later row). The datasets
are small simulated communities (several seeds, sizes, time zones, cutoffs) with memberships added for
the edge cases: rejoins, overlapping memberships, leaving and joining exactly at a cutoff, operators who
are also members (in the same group, before or after the cutoffs, and in another group), equal join
times, and cutoffs at which nobody or no flagged member is present. The labels are compared through the
memoised memberships of one :class:`ChurnData` (cutoffs in any order, flags of every cutoff from one
engine pass) and through a fresh dataset per call.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.analyses import churn
from groupstats.analyses.churn import labels as churn_labels_module
from groupstats.data.dataset import Dataset
from groupstats.data.simulate import simulate_community
from test_churn_features import _activity

OPERATORS = ("owner", "admin")
KEYS = ["group_id", "member_id"]
DAY = pd.Timedelta(days=1)

#: (seed, groups, members per group, days, tz, start, cutoff days after the data start, horizon, activity)
CASES = [
    (3, 3, 14, 50, "Asia/Shanghai", "2026-01-05", (10, 17, 24), 14, ("message",)),
    (8, 4, 12, 45, "Europe/Berlin", "2026-03-02", (20, 12), 10, ("message", "read")),  # DST on 2026-03-29
    (21, 2, 25, 40, "America/New_York", "2026-02-20", (7, 14, 25, 21), 7, ("message",)),
]
IDS = ["shanghai", "berlin_dst", "new_york_4_cuts"]


def _membership(template: pd.Series, **changes) -> dict:
    row = template.to_dict()
    row.update(changes)
    return row


def _with_edge_memberships(ds: Dataset, cuts: list, seed: int) -> Dataset:
    """``ds`` with memberships added or changed around ``cuts`` (sorted here), rows shuffled."""
    rng = np.random.default_rng(seed)
    first, second, last = sorted(cuts)[0], sorted(cuts)[1], sorted(cuts)[-1]
    m = ds.members.copy()
    regular = m.index[(m["role"] == "member") & (m["joined_at"] < first - 3 * DAY) & m["left_at"].isna()]
    a, b, c, d, e, f, g, h = rng.choice(regular, size=8, replace=False)
    extra = []
    # a: leaves before the first cutoff, rejoins between the first two
    m.loc[a, "left_at"] = first - 2 * DAY
    extra.append(_membership(m.loc[a], joined_at=first + DAY, left_at=pd.NaT))
    # b: a second, overlapping membership joined later that leaves after the last cutoff: it is the one that counts
    extra.append(_membership(m.loc[b], joined_at=first - DAY, left_at=last + 3 * DAY))
    # c: leaves exactly at the second cutoff (gone then); d's second membership joins exactly at it (present)
    m.loc[c, "left_at"] = second
    m.loc[d, "left_at"] = first + 2 * DAY
    extra.append(_membership(m.loc[d], joined_at=second, left_at=pd.NaT))
    # e: an admin row in its group, joined after the last cutoff; f: an owner row before the first cutoff
    extra.append(_membership(m.loc[e], role="admin", joined_at=last + DAY, left_at=pd.NaT))
    extra.append(_membership(m.loc[f], role="owner", joined_at=first - 5 * DAY, left_at=pd.NaT))
    # g: an admin in another group, a member in its own
    other = sorted(set(m["group_id"]) - {m.loc[g, "group_id"]})[0]
    extra.append(_membership(m.loc[g], group_id=other, role="admin"))
    # h: two memberships with the same join time; the later row (after the shuffle) counts for ``left``
    extra.append(_membership(m.loc[h], left_at=second + DAY))
    # a member who joins after the last cutoff only
    extra.append(_membership(m.loc[a], member_id="late_joiner", joined_at=last + DAY, left_at=pd.NaT))
    members = pd.concat([m, pd.DataFrame(extra).astype(m.dtypes.to_dict())], ignore_index=True)
    members = members.iloc[rng.permutation(len(members))].reset_index(drop=True)
    return Dataset(messages=ds.messages, members=members, groups=ds.groups, posts=ds.posts, events=ds.events,
                   tz=ds.tz)


def _community(case):
    seed, n_groups, per_group, days, tz, start, offsets, horizon, activity = case
    ds, _ = simulate_community(n_groups=n_groups, days=days, seed=seed, members_per_group=per_group, tz=tz,
                               start=start)
    begin = churn.data_start_day(ds)
    cuts = [(begin + k * DAY).tz_localize(None).normalize().tz_localize(tz) for k in offsets]
    return _with_edge_memberships(ds, cuts, seed), cuts, horizon, activity


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def community(request):
    return _community(request.param)


def _reference_rows(members: pd.DataFrame, cut: pd.Timestamp) -> list:
    """Row positions in ``members`` of the memberships present at ``cut``, in key order."""
    operator_pairs = {(r.group_id, r.member_id) for r in members.itertuples() if r.role in OPERATORS}
    chosen: dict = {}
    for i, r in enumerate(members.itertuples(index=False)):
        key = (r.group_id, r.member_id)
        if r.role in OPERATORS or key in operator_pairs:
            continue
        if r.joined_at <= cut and (pd.isna(r.left_at) or r.left_at > cut):
            if key not in chosen or r.joined_at >= members["joined_at"].iat[chosen[key]]:
                chosen[key] = i  # joined later, or at the same time in a later row
    return [chosen[key] for key in sorted(chosen)]


def _reference_present(members: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    return members.iloc[_reference_rows(members, cut)][[*KEYS, "joined_at", "left_at"]].reset_index(drop=True)


def _reference_labels(ds: Dataset, cut, horizon: int, kind: str, activity) -> pd.DataFrame:
    times = _activity(ds, activity)
    stop = cut + horizon * DAY
    present = _reference_present(ds.members, cut)
    silent, left, before = [], [], []
    for g, u, left_at in zip(present["group_id"], present["member_id"], present["left_at"]):
        acts = times.get((g, u), [])
        silent.append(not any(cut < t <= stop for t in acts))
        left.append(bool(pd.notna(left_at) and left_at <= stop))
        before.append(any(cut - horizon * DAY < t <= cut for t in acts))
    silent, left = np.array(silent, bool), np.array(left, bool)
    out = present[KEYS].copy()
    out["silent"], out["left"] = silent, left
    out["churned"] = {"silent": silent, "left": left, "either": silent | left}[kind]
    out["active_before"] = np.array(before, bool)
    out.attrs.update({"cutoff": cut, "horizon": horizon, "definition": kind, "activity": list(activity)})
    return out


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert [repr(t) for t in got.dtypes] == [repr(t) for t in expected.dtypes]
    assert isinstance(got.index, pd.RangeIndex) and got.index.equals(expected.index)
    assert got.attrs == expected.attrs


def test_the_edge_cases_are_in_the_data(community):
    """The added memberships do what the cases need (else the comparisons below would not test them)."""
    ds, cuts, _, _ = community
    m = ds.members
    keys = m.set_index(KEYS).index
    assert keys.duplicated().any()  # rejoins and repeated memberships
    assert any(m["left_at"].eq(c).any() and m["joined_at"].eq(c).any() for c in cuts)
    operators = m.loc[m["role"].isin(OPERATORS)].set_index(KEYS).index
    members = m.loc[~m["role"].isin(OPERATORS)].set_index(KEYS).index
    assert members.isin(operators).sum() >= 2  # operators who are also members
    assert m.loc[m["role"].isin(OPERATORS), "member_id"].isin(m.loc[m["role"] == "member", "member_id"]).sum() >= 3
    assert m.duplicated([*KEYS, "joined_at"]).any()  # equal join times


def test_present_members_equal_the_definition(community):
    ds, cuts, _, _ = community
    data = churn.churn_data(ds)
    for cut in [*cuts, *reversed(cuts)]:  # the memberships of ``data`` are computed once, then reused
        expected = _reference_present(ds.members, cut)
        assert len(expected) > 10
        _assert_same(churn.present_members(data, cut), expected)
        _assert_same(churn.present_members(ds, cut), expected)  # a fresh ChurnData
    first = min(cuts)
    got = churn.present_members(data, first)
    # the pairs with an operator row anywhere are left out, rejoiners counted once, at their last membership
    operators = ds.members.loc[ds.members["role"].isin(OPERATORS)].set_index(KEYS).index
    assert not got.set_index(KEYS).index.isin(operators).any()
    assert not got.duplicated(KEYS).any()


def test_present_members_before_anyone_joined_is_empty(community):
    ds, _, _, _ = community
    cut = ds.members["joined_at"].min() - DAY
    got = churn.present_members(churn.churn_data(ds), cut)
    expected = _reference_present(ds.members, cut)
    assert len(expected) == 0
    _assert_same(got, expected)


def test_memberships_follow_a_replaced_members_table(community):
    """The memoised memberships belong to the members table they were computed from."""
    ds, cuts, _, _ = community
    data = churn.churn_data(ds)
    cut = max(cuts)
    churn.present_members(data, cut)
    fewer = ds.members.loc[ds.members["group_id"] != ds.members["group_id"].iloc[0]].reset_index(drop=True)
    data.members = fewer
    expected = _reference_present(fewer, cut)
    assert len(expected) < len(_reference_present(ds.members, cut))
    _assert_same(churn.present_members(data, cut), expected)


@pytest.mark.parametrize("kind", ["silent", "left", "either"])
def test_churn_labels_equal_the_definition(community, kind):
    ds, cuts, horizon, activity = community
    data = churn.churn_data(ds)
    flags = churn.activity_flags(data, activity, cuts, horizon)  # every cutoff in one engine pass
    for cut in cuts:
        expected = _reference_labels(ds, cut, horizon, kind, activity)
        assert expected["active_before"].any() and (~expected["silent"]).any()
        assert expected["silent"].any() or "read" in activity  # reads keep nearly everyone active
        _assert_same(churn.churn_labels(data, cut, horizon, kind, activity, _flags=flags[cut]), expected)
    cut = cuts[-1]
    expected = _reference_labels(ds, cut, horizon, kind, activity)
    assert expected["left"].any()
    _assert_same(churn.churn_labels(ds, cut, horizon, kind, activity), expected)  # flags of this cutoff only


def test_churn_labels_with_nobody_present_or_no_flags(community):
    ds, cuts, horizon, activity = community
    data = churn.churn_data(ds)
    early = (ds.members["joined_at"].min() - DAY).tz_localize(None).normalize().tz_localize(ds.tz)
    expected = _reference_labels(ds, early, horizon, "either", activity)
    assert len(expected) == 0
    _assert_same(churn.churn_labels(data, early, horizon, "either", activity), expected)
    # a cutoff whose flags frame has no rows: everyone present is silent and was not active before
    cut = cuts[0]
    engine_flags = pd.DataFrame({"cut_id": np.zeros(0, np.int64), "group_id": pd.Series([], dtype="str"),
                                 "member_id": pd.Series([], dtype="str"), "after": np.zeros(0, np.int64),
                                 "before": np.zeros(0, np.int64)})
    no_flags = churn_labels_module._flags_by_cut(engine_flags, [cut])[cut]
    got = churn.churn_labels(data, cut, horizon, "either", activity, _flags=no_flags)
    present = _reference_present(ds.members, cut)
    assert len(got) == len(present) > 10
    assert got["silent"].all() and got["churned"].all() and not got["active_before"].any()
    pd.testing.assert_frame_equal(got[KEYS], present[KEYS])


def _flags_frame(seed: int, n: int, n_cuts: int, dtype) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "cut_id": rng.integers(0, n_cuts, n).astype(np.int64),  # not sorted; some cutoffs may have no rows
        "group_id": pd.Series([f"g{k}" for k in rng.integers(0, 5, n)], dtype=dtype),
        "member_id": pd.Series([f"m{k}" for k in rng.integers(0, 50, n)], dtype=dtype),
        "after": rng.integers(0, 4, n).astype(np.int32), "before": rng.integers(0, 4, n)})


@pytest.mark.parametrize("seed, n, n_cuts, dtype", [
    (0, 200, 4, "str"),
    (1, 3, 5, object),  # object key columns (e.g. from another engine), cutoffs without rows
    (2, 0, 2, "str"),
    (3, 50, 3, pd.StringDtype("python", na_value=np.nan)),
])
def test_flags_by_cut_equal_a_selection_per_cutoff(seed, n, n_cuts, dtype):
    flags = _flags_frame(seed, n, n_cuts, dtype)
    cuts = [pd.Timestamp("2026-01-05", tz="Asia/Shanghai") + k * DAY for k in range(n_cuts)]
    got = churn_labels_module._flags_by_cut(flags, cuts)
    assert list(got) == cuts
    for k, cut in enumerate(cuts):
        rows = [r for r in flags.itertuples(index=False) if r.cut_id == k]
        # what pandas makes of lists of Python strings: ``str`` columns, ``object`` when there are none
        expected = pd.DataFrame({"group_id": np.array([r.group_id for r in rows], dtype=object),
                                 "member_id": np.array([r.member_id for r in rows], dtype=object),
                                 "after": np.array([r.after for r in rows], dtype=np.int64),
                                 "before": np.array([r.before for r in rows], dtype=np.int64)})
        _assert_same(got[cut], expected)
        assert (expected["group_id"].dtype == object) == (not rows)
