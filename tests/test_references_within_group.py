"""A quote or an event counts for a post of its own group only.

References stay within a group in every chat export; the definitions say so explicitly (the joins
match the group as well as the id), so a table is the same whether it is computed in one pass or a
bucket of groups at a time (groupstats.tables.group_buckets). Here a member of another group quotes a
post, and reads and clicks it, within the windows: the post's outcomes must be exactly those without
these foreign references, and a member of the post's own group doing the same must change them.
"""
from __future__ import annotations

import pandas as pd
import pytest

from groupstats.data.dataset import Dataset, load_dataset
from groupstats.paths import sample_data_path
from groupstats.tables import derived


@pytest.fixture(scope="module")
def sample():
    return load_dataset(sample_data_path())


def _frames(ds) -> dict:
    return {name: getattr(ds, name).copy() for name in ("groups", "members", "messages", "posts", "events",
                                                        "assignments")}


def _with_references(ds, post, quoting_group: str, seed: int):
    """``ds`` plus one quote of ``post`` and a read and a click of it, 5-20 minutes after it was posted, by a
    non-operator member of ``quoting_group`` (a new message and two new events)."""
    frames = _frames(ds)
    members = frames["members"]
    who = members.loc[(members["group_id"] == quoting_group) & (members["role"] == "member")]
    member = who["member_id"].sample(1, random_state=seed).iloc[0]
    at = post.posted_at + pd.Timedelta(minutes=5 + seed % 15)
    msgs = frames["messages"]
    row = msgs.iloc[[0]].copy()
    row[["message_id", "group_id", "member_id", "msg_type", "reply_to"]] = [
        f"mx{seed}", quoting_group, member, "text", post.message_id]
    row["sent_at"] = at
    frames["messages"] = pd.concat([msgs, row], ignore_index=True)
    ev = frames["events"]
    new = ev.iloc[[0, 0]].copy()
    new["group_id"], new["member_id"], new["post_id"] = quoting_group, member, post.post_id
    new["event_type"] = ["read", "click"]
    new["occurred_at"] = [at, at + pd.Timedelta(minutes=1)]
    frames["events"] = pd.concat([ev, new], ignore_index=True)
    return Dataset.from_frames(tz=ds.tz, **frames)


@pytest.mark.parametrize("seed", [1, 12])
def test_references_from_another_group_do_not_count(sample, seed):
    posts = sample.posts.dropna(subset=["message_id"])
    post = posts.iloc[(seed * 397) % len(posts)]
    other = sorted(set(sample.groups["group_id"]) - {post.group_id})[seed % 5]
    before = derived.post_outcomes(sample).set_index("post_id")
    foreign = derived.post_outcomes(_with_references(sample, post, other, seed)).set_index("post_id")
    pd.testing.assert_frame_equal(foreign, before, check_exact=True)
    # the same references from the post's own group do count: the test can fail
    own = derived.post_outcomes(_with_references(sample, post, post.group_id, seed)).set_index("post_id")
    changed = own.loc[post.post_id, ["replies", "readers", "clickers"]] - before.loc[
        post.post_id, ["replies", "readers", "clickers"]]
    assert changed["replies"] == 1
    assert changed["readers"] in (0, 1) and changed["clickers"] in (0, 1)
    assert changed["readers"] + changed["clickers"] >= 1
    others = own.index != post.post_id
    pd.testing.assert_frame_equal(own.loc[others, ["replies", "readers", "clickers"]],
                                  before.loc[others, ["replies", "readers", "clickers"]], check_exact=True)


@pytest.mark.parametrize("cutoffs", [None, ["2026-02-15", "2026-04-01"]])
def test_member_features_count_references_of_their_own_group(sample, cutoffs):
    from groupstats.tables.features import member_features, member_features_at

    def feats(ds):
        return [member_features(ds)] if cutoffs is None else member_features_at(ds, cutoffs)

    posts = sample.posts.dropna(subset=["message_id"])
    post = posts.loc[posts["posted_at"] < pd.Timestamp("2026-02-10", tz=sample.tz)].iloc[-1]
    other = sorted(set(sample.groups["group_id"]) - {post.group_id})[3]
    before = feats(sample)
    for got, exp in zip(feats(_with_references(sample, post, other, 3)), before):
        cols = ["post_replies", "read_rate", "click_rate"]
        pd.testing.assert_frame_equal(got[cols], exp[cols], check_exact=True)
    # from the post's own group, the member's quote and reads count (the test can fail)
    own = feats(_with_references(sample, post, post.group_id, 3))
    for got, exp in zip(own, before):
        assert got["post_replies"].sum() == exp["post_replies"].sum() + 1
        assert (got["read_rate"].fillna(0) >= exp["read_rate"].fillna(0)).all()
        assert (got["read_rate"].fillna(0) > exp["read_rate"].fillna(0)).sum() <= 1
