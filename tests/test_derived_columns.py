"""Derived tables computed for only the columns an analysis needs, and the analyses that ask for them.

``post_outcomes(counts=...)``, ``group_day_metrics(counts=...)`` and ``mix_experiment_table(metrics=...)``
must give exactly the columns of the whole table; ``abtest`` and ``mix`` must give exactly the results
they give from the whole tables. Each dataset here is opened afresh, so the subsets are computed by
the engine, not cut from a table another test left in the source's memo.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset
from groupstats.data.loading import load_dataset
from groupstats.errors import ParameterError
from groupstats.paths import sample_data_path
from groupstats.tables import derived


def fresh():
    """The sample opened from its Parquet files, with an empty memo of derived tables."""
    return load_dataset(sample_data_path(), validate=False)


def _same(got: pd.DataFrame, whole: pd.DataFrame):
    pd.testing.assert_frame_equal(got, whole.loc[:, list(got.columns)], check_exact=True)


@pytest.mark.parametrize("options,subsets", [
    ({}, [("replies",), ("responses",), ("responders",), ("readers", "n_present"), ("clickers",), ()]),
    ({"exclude_red_packets": "10min", "window": "90min"}, [("replies",), ("responders", "clickers")]),
    ({"as_of": "2026-03-01 12:00"}, [("responses", "replies"), ("n_present", "readers")])])
def test_post_outcome_counts_equal_the_whole_table(options, subsets):
    whole = derived.post_outcomes(fresh(), **options)
    ds = fresh()
    for counts in subsets:
        got = derived.post_outcomes(ds, counts=counts, **options)
        rates = {"read_rate"} if {"readers", "n_present"} <= set(counts) else set()
        expected_counts = set(counts) | rates
        assert set(got.columns) == {c for c in derived.POST_OUTCOME_COLUMNS
                                    if c not in derived.POST_OUTCOME_COUNTS + ("read_rate", "click_rate")
                                    or c in expected_counts}
        _same(got, whole)
        assert got.attrs == whole.attrs


def test_post_outcome_counts_not_asked_are_not_computed():
    """The replies alone need neither the events nor the attribution of every message to a post."""
    import ibis

    src = fresh().source
    sql = ibis.to_sql(derived.post_outcome_counts(src, 7_200_000_000, 86_400_000_000, counts=("replies",)))
    events_table = src.raw["events"].get_name()
    assert events_table not in sql and "LEAD(" not in sql.upper()
    full = ibis.to_sql(derived.post_outcome_counts(src, 7_200_000_000, 86_400_000_000))
    assert events_table in full and "LEAD(" in full.upper()


def test_post_outcome_subsets_come_from_the_memo():
    """Once the whole table is computed, any subset of it is cut from the memo, without the engine."""
    ds = fresh()
    whole = derived.post_outcomes(ds)
    src = ds.source
    executed = []
    original = src.engine.execute
    src.engine.execute = lambda expr: executed.append(expr) or original(expr)
    try:
        got = derived.post_outcomes(ds, counts=["responders", "replies"])
        again = derived.post_outcomes(ds, counts=["replies", "responders"])
    finally:
        src.engine.execute = original
    assert executed == []
    _same(got, whole)
    pd.testing.assert_frame_equal(got, again)


def test_unknown_counts_are_parameter_errors():
    ds = fresh()
    with pytest.raises(ParameterError, match="'reply'"):
        derived.post_outcomes(ds, counts=["reply"])
    with pytest.raises(ParameterError, match="'members'"):
        derived.group_day_metrics(ds, counts=["members"])


@pytest.mark.parametrize("options,subsets", [
    ({}, [("n_messages", "n_members"), ("n_members",), ("n_active_members", "n_members"), ("n_readers", "n_posts"),
          ()]),
    ({"as_of": "2026-03-01 12:34", "start": "2026-02-01"}, [("n_messages", "n_members"), ("n_exits", "n_complaints")])])
def test_group_day_counts_equal_the_whole_table(options, subsets):
    whole = derived.group_day_metrics(fresh(), **options)
    ds = fresh()
    for counts in subsets:
        got = derived.group_day_metrics(ds, counts=counts, **options)
        ratios = ({"messages_per_member"} if {"n_messages", "n_members"} <= set(counts) else set()) | (
            {"active_share"} if {"n_active_members", "n_members"} <= set(counts) else set())
        assert set(got.columns) == {"group_id", "date", *counts, *ratios}
        _same(got, whole)


def _members_dataset(tz: str, seed: int) -> Dataset:
    """Memberships joining and leaving exactly at local midnights, a second either side, and some
    (invalid) rows leaving before they join; a few messages so the dataset has a time range."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-03-20", "2026-04-20", freq="D", tz=tz)
    n = 300
    joined = days[rng.integers(0, len(days), n)] + pd.to_timedelta(rng.choice([0, 1, 3600 * 13, 86399], n),
                                                                   unit="s")
    left = pd.Series(joined + pd.to_timedelta(rng.choice([0, 1, 86399, 86400, 3 * 86400, -5, -2 * 86400], n),
                                              unit="s")).where(rng.random(n) < 0.7)
    members = pd.DataFrame({"group_id": rng.choice(["g1", "g2", "g3"], n), "member_id": [f"m{i}" for i in range(n)],
                            "joined_at": joined, "left_at": left,
                            "role": rng.choice(["member", "member", "member", "admin"], n)})
    m = 500
    messages = pd.DataFrame({"message_id": [f"x{i}" for i in range(m)], "group_id": rng.choice(["g1", "g2", "g3"], m),
                             "member_id": rng.choice(members["member_id"], m),
                             "sent_at": days[0] + pd.to_timedelta(rng.integers(0, 86400 * 31, m), unit="s"),
                             "msg_type": "text", "reply_to": pd.Series([None] * m, dtype="str"),
                             "n_mentions": 0, "text_len": 3})
    return Dataset(tz=tz, messages=messages, members=members)


@pytest.mark.parametrize("tz,seed", [("Asia/Shanghai", 0), ("America/Santiago", 1), ("Europe/London", 2)])
def test_members_present_per_day_equals_brute_force(tz, seed):
    """n_members (running counts) equals the definition checked row by row: joined before the day
    ends and not left before it starts, around daylight-saving changes and exact midnights."""
    ds = _members_dataset(tz, seed)
    got = derived.group_day_metrics(ds, counts=["n_members"])
    members = ds.members.loc[~ds.members["role"].isin(["owner", "admin"])]
    day_start = got["date"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    day_end = (got["date"] + pd.Timedelta(days=1)).dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    expected = []
    for group, start, end in zip(got["group_id"], day_start, day_end):
        m = members.loc[members["group_id"] == group]
        expected.append(int(((m["joined_at"] < end) & (m["left_at"].isna() | (m["left_at"] >= start))).sum()))
    assert got["n_members"].tolist() == expected
    assert (got["n_members"] > 0).mean() > 0.5  # the data exercise the count, not only zeros


@pytest.fixture(scope="module")
def whole_mix_table():
    from groupstats.analyses.content_mix import mix_experiment_table

    return mix_experiment_table(fresh(), "mix_policy")


def test_mix_table_for_one_metric_equals_the_whole_table(whole_mix_table):
    from groupstats.analyses.content_mix import MIX_METRICS, mix_experiment_table

    ds = fresh()
    for metric, (num, den, _) in MIX_METRICS.items():
        got = mix_experiment_table(ds, "mix_policy", metrics=[metric])
        assert list(got.columns) == ["group_id", "arm", "week", "week_start", "period", "days", *sorted(
            {num, den}, key=list(whole_mix_table.columns).index), metric]
        _same(got, whole_mix_table)


@pytest.mark.parametrize("metric", ["messages_per_member_day", "read_rate"])
def test_mix_analysis_of_one_metric_equals_the_analysis_of_the_whole_table(whole_mix_table, metric):
    """The analysis builds only its metric's table; its result equals the one on the whole table."""
    from groupstats.analyses.content_mix import analyse_mix_experiment

    ds = fresh()
    assert (analyse_mix_experiment(ds, "mix_policy", metric).to_dict()
            == analyse_mix_experiment(ds, "mix_policy", metric, table=whole_mix_table).to_dict())


def test_mix_as_of_counts_incomplete_posts_as_before():
    from groupstats.analyses.content_mix import analyse_mix_experiment

    result = analyse_mix_experiment(fresh(), "mix_policy", "replies_per_post", as_of="2026-03-20 10:00")
    ds = fresh()
    cut = ds.as_of(pd.Timestamp("2026-03-20 10:00", tz=ds.tz))
    whole = derived.post_outcomes(cut)
    assert result.n_incomplete == int((~whole["complete"]).sum()) > 0


@pytest.mark.parametrize("metric,secondary,as_of", [("replies", (), None), ("read_rate", ("responders",), None),
                                                    ("incremental_responses", ("click_rate",), "2026-04-01")])
def test_slot_analysis_with_only_its_counts_equals_the_whole_table(metric, secondary, as_of, monkeypatch):
    """The slot analysis computes only the post outcome counts of its metrics; the result equals the
    one from the whole post outcomes table (as the analysis computed it before)."""
    from groupstats.analyses.slot_experiment import analyse_slot_experiment, analysis

    kw = dict(secondary=list(secondary), seed=0, as_of=as_of)
    got = analyse_slot_experiment(fresh(), "slot_switchback", metric, **kw)
    monkeypatch.setattr(analysis, "outcome_counts", lambda metrics: None)  # None: every count
    expected = analyse_slot_experiment(fresh(), "slot_switchback", metric, **kw)
    assert got.to_dict() == expected.to_dict()


def test_outcome_counts_of_metrics():
    from groupstats.analyses.slot_experiment.outcomes import outcome_counts

    assert outcome_counts(["replies"]) == ("replies",)
    assert outcome_counts(["incremental_responses", "responses"]) == ("responses",)
    assert outcome_counts(["read_rate", "click_rate"]) == ("readers", "n_present", "clickers")
    with pytest.raises(ParameterError):
        outcome_counts(["likes"])


def test_period_labels_equal_strftime():
    from groupstats.analyses.slot_experiment.analysis import _period_labels

    rng = np.random.default_rng(5)
    starts = pd.Series(pd.date_range("2026-01-01", periods=40, freq="6h", tz="Asia/Shanghai")
                       ).sample(3000, replace=True, random_state=1).reset_index(drop=True).rename("period_start")
    pd.testing.assert_series_equal(_period_labels(starts), starts.dt.strftime("%Y-%m-%dT%H:%M"))
    with_nat = starts.where(rng.random(len(starts)) > 0.01)
    pd.testing.assert_series_equal(_period_labels(with_nat), with_nat.dt.strftime("%Y-%m-%dT%H:%M"))
