"""Content mix: target parsing, compliance against chance, experiment recovery and A/A calibration."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from groupstats.analyses.content_mix import (_compliance_stats, _group_level, _itt_comparison, analyse_mix_experiment, check_compliance,
                                    content_type_engagement, load_mapping, mix_experiment_table, mix_presets,
                                    parse_mix)
from groupstats.data.dataset import Dataset
from groupstats.tables.derived import member_messages, post_outcomes
from groupstats.errors import ParameterError
from groupstats.data.simulate import simulate_community


# ----------------------------------------------------------------------------- targets
def test_parse_compact_and_presets():
    t = parse_mix("practical:30, interactive:50,lifestyle:20")
    assert t.shares == pytest.approx({"practical": 0.3, "interactive": 0.5, "lifestyle": 0.2})
    assert parse_mix("interactive_352").shares == t.shares
    presets = mix_presets()
    assert presets["manage_4321"].shares == pytest.approx(
        {"practical": 0.4, "announcement": 0.3, "ugc": 0.2, "interactive": 0.1})
    assert presets["interact_721"].shares["marketing"] == pytest.approx(0.1)
    for p in presets.values():
        assert p.source in ("维护微信群活跃度", "微信群如何经营和管理(微信群运营与管理)", "微信群怎么互动(群聊互动技巧)")


@pytest.mark.parametrize("spec, words", [
    ("practical:30,interactive:40,lifestyle:20", "sums to 90%"),
    ("practical:30,interactive:50,lifestyle:30", "sums to 110%"),
    ("practical:30,practical:70", "twice"),
    ("practical:abc,interactive:100", "not a number"),
    ("practical:-10,interactive:110", ">= 0"),
    ("practical 30 interactive 70", "Unknown mix preset"),
    ("practical:30;interactive:70", "Cannot read"),
])
def test_bad_targets_give_clear_errors(spec, words):
    with pytest.raises(ParameterError, match=words):
        parse_mix(spec)


def test_target_category_no_post_carries(sample):
    with pytest.raises(ParameterError, match="'emotional', 'marketing'.*no mapping provides"):
        check_compliance(sample, "interact_721")


def test_mapping_provides_categories(sample, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("ugc: emotional\nannouncement: marketing\ninteractive: practical\nlifestyle: emotional\n",
                    encoding="utf-8")
    assert load_mapping(path)["ugc"] == "emotional"
    result = check_compliance(sample, "interact_721", mapping=path)
    share = (sample.posts["content_type"] == "announcement").mean()
    assert result.marketing["share"] == pytest.approx(share)
    expected_over = result.table["marketing_share"] > 0.15
    assert result.marketing["group_weeks_over_cap"] == int(expected_over.sum())
    assert result.table["share_other"].max() == 0


# ----------------------------------------------------------------------------- compliance
def test_expected_distance_matches_exact_multinomial_expectation():
    q = np.array([0.3, 0.5, 0.2])
    n = 7
    exact = 0.0
    for a in range(n + 1):
        for b in range(n + 1 - a):
            c = n - a - b
            prob = sps.multinomial.pmf([a, b, c], n, q)
            exact += prob * 0.5 * np.abs(np.array([a, b, c]) / n - q).sum()
    stats = _compliance_stats(np.array([[2.0, 4.0, 1.0]]), np.zeros(1), q, n_sim=20000, seed=1)
    assert stats["expected_tv"].iloc[0] == pytest.approx(exact, abs=0.003)
    assert stats["tv_distance"].iloc[0] == pytest.approx(0.5 * (abs(2 / 7 - .3) + abs(4 / 7 - .5) + abs(1 / 7 - .2)))


def test_gof_p_value_matches_chi_square_for_many_posts():
    q = np.array([0.3, 0.5, 0.2])
    counts = np.array([[70.0, 95.0, 35.0], [60.0, 100.0, 40.0], [45.0, 120.0, 35.0]])
    stats = _compliance_stats(counts, np.zeros(3), q, n_sim=20000, seed=2)
    for row, p_mc in zip(counts, stats["p_value"]):
        assert p_mc == pytest.approx(sps.chisquare(row, 200 * q).pvalue, abs=0.015)


def _posts_dataset(n_groups, weeks, per_week, shares, seed):
    """Groups whose posts follow ``shares`` exactly in distribution (perfect compliance)."""
    rng = np.random.default_rng(seed)
    cats = np.array(list(shares))
    n = n_groups * weeks * per_week
    group = np.repeat([f"g{i:02d}" for i in range(n_groups)], weeks * per_week)
    week = np.tile(np.repeat(np.arange(weeks), per_week), n_groups)
    day = week * 7 + np.tile(np.arange(per_week) % 7, n_groups * weeks)
    posted = pd.Timestamp("2026-03-02 09:00", tz="Asia/Shanghai") + pd.to_timedelta(day, unit="D") \
        + pd.to_timedelta(np.tile(np.arange(per_week), n_groups * weeks), unit="min")
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(n)], "group_id": group, "posted_at": posted,
                          "content_type": cats[rng.choice(len(cats), n, p=list(shares.values()))]})
    gids = sorted(set(group))
    members = pd.DataFrame({"group_id": gids, "member_id": "u1",
                            "joined_at": pd.Timestamp("2026-01-01", tz="Asia/Shanghai")})
    messages = pd.DataFrame({"message_id": [f"m{i}" for i in range(len(gids))], "group_id": gids,
                             "member_id": "u1", "sent_at": pd.Timestamp("2026-03-02 08:00", tz="Asia/Shanghai")})
    return Dataset.from_frames(messages=messages, members=members, posts=posts)


def test_perfect_compliance_is_rejected_at_about_alpha():
    ds = _posts_dataset(60, 5, 7, {"practical": 0.3, "interactive": 0.5, "lifestyle": 0.2}, seed=3)
    result = check_compliance(ds, "interactive_352", n_sim=4000)
    assert len(result.table) == 300
    rejected = 1 - result.share_consistent
    assert 0.01 <= rejected <= 0.10          # 5% nominal; discrete statistic
    # and a group following another mix is flagged far more often
    # with 21 posts a week, a group following 60/20/20 is flagged most weeks (power ~0.8)
    other = _posts_dataset(20, 5, 21, {"practical": 0.6, "interactive": 0.2, "lifestyle": 0.2}, seed=4)
    assert 1 - check_compliance(other, "interactive_352").share_consistent > 0.6


def test_compliance_on_sample_treated_groups_closer(sample, sample_truth):
    result = check_compliance(sample, "interactive_352", start="2026-03-01")
    treated = set(sample_truth["mix_experiment"]["treated_groups"])
    g = result.by_group.assign(treated=result.by_group["group_id"].isin(treated))
    means = g.groupby("treated")["mean_excess_tv"].mean()
    assert means[True] < means[False] - 0.15
    assert (result.table["expected_tv"] > 0).all()


# ----------------------------------------------------------------------------- experiment
@pytest.fixture(scope="module")
def sim40():
    return simulate_community(n_groups=40, days=84, seed=1, members_per_group=40)


@pytest.fixture(scope="module")
def table40(sim40):
    return mix_experiment_table(sim40[0], "mix_policy")


def test_experiment_table_counts_add_up(sim40, table40):
    ds, truth = sim40
    msgs = member_messages(ds)
    assert table40["n_messages"].sum() == len(msgs)
    po = post_outcomes(ds)
    assert table40["replies"].sum() == po["replies"].sum()
    assert table40["n_posts"].sum() == len(po)
    pre = table40.loc[table40["period"] == "pre", "week"]
    assert pre.max() == -1 and table40["week"].min() == -math.ceil(truth["mix_experiment"]["start_day"] / 7)
    ratio = table40["n_messages"] / table40["member_days"]
    assert np.allclose(ratio, table40["messages_per_member_day"])


@pytest.mark.parametrize("metric", ["messages_per_member_day", "replies_per_post"])
def test_planted_effect_recovered(sim40, table40, metric):
    ds, truth = sim40
    planted = truth["mix_experiment"]["rel_effect"][metric]
    result = analyse_mix_experiment(ds, "mix_policy", metric, table=table40)
    row = result.comparisons.iloc[0]
    assert result.adjustment == "cuped" and row["arm"] == "interactive_352"
    assert row["rel_ci_low"] < planted < row["rel_ci_high"]
    assert row["rel_ci_low"] > -0.05                   # and the effect is positive beyond noise
    assert result.srm["ok"]
    assert set(result.to_dict()) >= {"experiment", "metric", "method", "arms", "comparisons", "srm"}
    did = analyse_mix_experiment(ds, "mix_policy", metric, table=table40, adjustment="did", compliance=False)
    assert did.comparisons["rel_ci_low"].iloc[0] < planted < did.comparisons["rel_ci_high"].iloc[0]


def test_read_rate_has_no_planted_effect(sim40, table40):
    ds, truth = sim40
    row = analyse_mix_experiment(ds, "mix_policy", "read_rate", table=table40, compliance=False).comparisons.iloc[0]
    assert row["rel_ci_low"] < 0 < row["rel_ci_high"]


def test_unadjusted_arm_means_are_ratios_of_sums(sim40, table40):
    ds, _ = sim40
    result = analyse_mix_experiment(ds, "mix_policy", "replies_per_post", table=table40, adjustment="none",
                                    compliance=False)
    post = table40.loc[table40["period"] == "post"]
    sums = post.groupby("arm")[["replies", "n_posts"]].sum()
    expected = (sums["replies"] / sums["n_posts"]).to_dict()
    got = dict(zip(result.arms["arm"], result.arms["mean"]))
    assert got == pytest.approx(expected)


def test_compliance_view_first_stage(sim40):
    ds, truth = sim40
    result = analyse_mix_experiment(ds, "mix_policy", "messages_per_member_day")
    info = result.compliance_summary["arms"]["interactive_352"]
    # 90% of posts follow the policy, 10% are uniform over 5 types: dose close to 0.9 vs 0
    assert 0.75 < info["mean_dose_arm"] < 1.0 and abs(info["mean_dose_control"]) < 0.15
    treated = set(truth["mix_experiment"]["treated_groups"])
    comp = result.compliance
    assert comp.loc[comp["group_id"].isin(treated), "arm"].eq("interactive_352").all()


@pytest.mark.slow
def test_aa_false_positive_rate_near_alpha():
    """No planted effect; re-randomise the arm labels of 40 groups 200 times (CUPED, the default)."""
    ds, _ = simulate_community(n_groups=40, days=84, seed=11, members_per_group=40, mix_effect=0.0)
    table = mix_experiment_table(ds, "mix_policy")
    rng = np.random.default_rng(2024)
    reps = 200
    for metric in ("messages_per_member_day", "replies_per_post"):
        groups = _group_level(table, metric)
        rejected = 0
        for _ in range(reps):
            relabelled = groups.assign(arm=rng.permutation(np.repeat(["control", "interactive_352"], 20)))
            comparison, _ = _itt_comparison(table, relabelled, metric, "cuped", "control", 0.05, "holm")
            rejected += bool(comparison.comparisons["p_value"].iloc[0] < 0.05)
        # binomial(200, 0.05): sd 1.5 points
        assert 0.01 <= rejected / reps <= 0.10, (metric, rejected / reps)


def test_unknown_experiment_and_metric(sample):
    with pytest.raises(ParameterError, match="experiments present"):
        analyse_mix_experiment(sample, "nope")
    with pytest.raises(ParameterError, match="Unknown metric"):
        analyse_mix_experiment(sample, "mix_policy", "likes")
    with pytest.raises(ParameterError, match="not group-randomised"):
        analyse_mix_experiment(sample, "slot_switchback")


# ----------------------------------------------------------------------------- observational
def test_observational_view_labelled_and_sensible(sample, sample_truth):
    result = content_type_engagement(sample, metric="replies")
    assert "OBSERVATIONAL" in result.title and "Observational" in result.conclusion()
    comp = result.to_frame().set_index("arm")
    effects = sample_truth["content_reply_effects"]
    assert result.baseline == "practical"
    assert comp.loc["interactive", "rel_diff"] > 0 and comp.loc["lifestyle", "rel_diff"] < 0
    ratio = effects["ugc"] / effects["practical"] - 1
    assert comp.loc["ugc", "rel_ci_low"] < ratio < comp.loc["ugc", "rel_ci_high"]


def test_content_mix_notebook(run_notebook):
    _, records = run_notebook("content_mix", metric="replies_per_post")
    exp = records["experiment"]
    assert exp["metric"] == "replies_per_post" and exp["rel_ci_low"] < exp["rel_diff"] < exp["rel_ci_high"]
    assert records["compliance"]["target"] == "practical:30,interactive:50,lifestyle:20"
    assert 0 <= records["compliance"]["share_consistent"] <= 1


def test_mix_table_on_out_of_core_tables_is_identical(sample_in_memory):
    """A dataset opened from Parquet (tables computed by the engine from the files, messages and events
    never read into pandas) gives the same table and result as the same data in memory."""
    from groupstats.analyses.content_mix import analyse_mix_experiment, mix_experiment_table
    from groupstats.data.dataset import load_dataset
    from groupstats.paths import sample_data_path

    opened = load_dataset(sample_data_path())
    got = mix_experiment_table(opened, "mix_policy")
    expected = mix_experiment_table(sample_in_memory, "mix_policy")
    pd.testing.assert_frame_equal(got, expected)
    assert (analyse_mix_experiment(opened, "mix_policy").to_dict()
            == analyse_mix_experiment(sample_in_memory, "mix_policy").to_dict())
    assert not opened.is_loaded("messages") and not opened.is_loaded("events")
