"""Posting-slot experiment analysis: metrics, ITT arms, inference by simulation, sample truth."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from groupstats.data.dataset import Dataset
from groupstats.stats.design import switchback_arm_matrix
from groupstats.errors import InsufficientDataError, MissingTableError, ParameterError
from groupstats.analyses.slot_experiment import (analyse_slot_experiment, group_standardise, post_metric_frame,
                                        switchback_ols_cr2)
from groupstats.stats.compare import compare_arms

TZ = "Asia/Shanghai"


def _ts(values):
    return pd.Series(pd.to_datetime(values)).dt.tz_localize(TZ)


@pytest.fixture(scope="module")
def tiny():
    """One group, three days, five posts; hand-countable messages."""
    posts_at = {"P1": "2026-03-02 19:00", "P5": "2026-03-02 20:00", "P2": "2026-03-03 08:00",
                "P3": "2026-03-04 08:00", "P4": "2026-03-04 18:10"}
    member_msgs = [("m1", "2026-03-02 19:10"), ("m2", "2026-03-02 19:30"), ("m1", "2026-03-02 20:30"),
                   ("m1", "2026-03-02 09:00"), ("m1", "2026-03-03 19:05"), ("m2", "2026-03-03 20:15"),
                   ("m2", "2026-03-03 08:30"), ("m1", "2026-03-04 19:20"), ("m1", "2026-03-04 20:50"),
                   ("m1", "2026-03-04 21:10")]
    rows = [(f"x{i}", m, t) for i, (m, t) in enumerate(member_msgs)]
    rows += [(f"msg_{p}", "o1", t) for p, t in posts_at.items()]
    rows += [("op_chat", "o1", "2026-03-03 19:30")]           # operators' chatter never counts
    messages = pd.DataFrame({"message_id": [r[0] for r in rows], "group_id": "g1",
                             "member_id": [r[1] for r in rows], "sent_at": _ts([r[2] for r in rows]),
                             "msg_type": "text"})
    members = pd.DataFrame({"group_id": "g1", "member_id": ["o1", "m1", "m2"],
                            "joined_at": _ts(["2026-01-01"] * 3), "role": ["owner", "member", "member"]})
    posts = pd.DataFrame({"post_id": list(posts_at), "group_id": "g1", "posted_at": _ts(list(posts_at.values())),
                          "content_type": "practical", "member_id": "o1",
                          "message_id": [f"msg_{p}" for p in posts_at]})
    # day 1 morning arm, day 2 evening arm, day 3 morning arm (a one-day switchback)
    assignments = pd.DataFrame({"experiment_id": "exp", "group_id": "g1", "arm": ["morning", "evening", "morning"],
                                "start_at": _ts(["2026-03-02", "2026-03-03", "2026-03-04"]),
                                "end_at": _ts(["2026-03-03", "2026-03-04", "2026-03-05"])})
    return Dataset.from_frames(messages=messages, members=members, posts=posts, assignments=assignments, tz=TZ)


def test_incremental_responses_hand_computed(tiny):
    frame = post_metric_frame(tiny, "incremental_responses", window="2h").set_index("post_id")
    # P1 19:00 day 1: responses 19:10, 19:30 (20:30 goes to P5, posted 20:00). Its window is cut at
    # P5, so the usual chatter is counted over 19:00-20:00: day 2 has 19:05 (not 20:15, not the operator);
    # day 3 is excluded (P4 at 18:10 lies within 2 h before the window's end).
    expected = {"P1": (2, 1.0), "P5": (1, 1.0), "P2": (1, 1.0), "P3": (0, 1.0), "P4": (1, 1.0)}
    for post, (responses, usual) in expected.items():
        assert frame.loc[post, "responses"] == responses, post
        assert frame.loc[post, "usual_chatter"] == pytest.approx(usual), post
        assert frame.loc[post, "incremental_responses"] == pytest.approx(responses - usual), post
    assert frame.loc["P1", "n_reference_days"] == 1 and frame.loc["P5", "n_reference_days"] == 1


def test_itt_arm_is_the_assignment_at_posted_at_and_compliance(tiny):
    from groupstats.analyses.slot_experiment import _experiment_assignments, assign_arms
    from groupstats.analyses.slots import parse_slots

    posts = tiny.posts.set_index("post_id")
    arms = assign_arms(posts, _experiment_assignments(tiny, "exp"))
    # P2 is posted at 08:00 (the morning slot) on an evening day: its arm is evening (intent to treat)
    assert arms["arm"].to_dict() == {"P1": "morning", "P5": "morning", "P2": "evening", "P3": "morning",
                                     "P4": "morning"}
    inside = parse_slots().in_slot(posts["posted_at"], arms["arm"])
    assert inside.tolist() == [False, False, False, True, False]
    washed = assign_arms(posts, _experiment_assignments(tiny, "exp"), washout="10h")
    assert washed["in_washout"].tolist() == [False, False, True, True, False]


def test_small_experiment_compliance_and_errors(small_sim):
    ds, _ = small_sim
    res = analyse_slot_experiment(ds, "slot_switchback", "replies", window="2h")
    comp = res.compliance.set_index("arm")
    assert comp["n_posts"].to_dict() == res.arms.set_index("arm")["n_units"].to_dict()
    assert res.summary["compliance"] == pytest.approx(0.9, abs=0.04)      # planted compliance 0.9
    assert res.srm["unit"] == "allocated units" and res.srm["ok"]
    with pytest.raises(ParameterError, match="Unknown experiment 'nope'.*slot_switchback"):
        analyse_slot_experiment(ds, "nope")
    with pytest.raises(ParameterError, match="Unknown metric"):
        analyse_slot_experiment(ds, "slot_switchback", "likes")
    no_events = Dataset.from_frames(messages=ds.messages, members=ds.members, groups=ds.groups, posts=ds.posts,
                                    assignments=ds.assignments, validate=False)
    with pytest.raises(MissingTableError, match="'events' table is missing.*read_rate"):
        analyse_slot_experiment(no_events, "slot_switchback", "read_rate")
    # an assigned arm without posts: assign a fourth arm to a period after the data end
    extra = pd.DataFrame({"experiment_id": "slot_switchback", "group_id": ds.groups["group_id"].iloc[:1],
                          "arm": "night", "start_at": ds.end + pd.Timedelta(days=1),
                          "end_at": ds.end + pd.Timedelta(days=8)})
    more = Dataset.from_frames(messages=ds.messages, members=ds.members, groups=ds.groups, posts=ds.posts,
                               assignments=pd.concat([ds.assignments, extra], ignore_index=True), validate=False)
    with pytest.raises(InsufficientDataError, match="'night'.*no analysable posts"):
        analyse_slot_experiment(more, "slot_switchback")


def test_vectorised_estimator_equals_compare_arms():
    rng = np.random.default_rng(3)
    G, P, m = 9, 6, 8
    arms = switchback_arm_matrix(rng.lognormal(size=G), 3, P, rng)
    g = np.repeat(np.arange(G), P * m)
    w = np.tile(np.repeat(np.arange(P), m), G)
    wd = rng.integers(0, 7, len(g))
    a = arms[g, w]
    y = rng.poisson(3 * rng.lognormal(0, 1, G)[g] * (1 + 0.2 * a)).astype(float)
    fast = switchback_ols_cr2(y, a, g, [g, w, wd])
    frame = pd.DataFrame({"arm": a, "y": y, "g": g.astype(str), "w": w.astype(str), "wd": wd.astype(str)})
    ref = compare_arms(frame, arm="arm", metric="y", control=0, cluster="g", fixed_effects=["g", "w", "wd"],
                       correction="none").comparisons
    for col in ("diff", "ci_low", "ci_high", "rel_diff", "rel_ci_low", "rel_ci_high", "p_value", "df"):
        np.testing.assert_allclose(fast[col][:, 0], ref[col].to_numpy(float), rtol=1e-6, err_msg=col)


def _switchback_sims(G, n_designs, reps, effects=(1.0, 1.0, 1.0), seed=0, periods=6, posts=14):
    """Post-level switchbacks: strong group differences (log-normal sd 1) and group-week shocks."""
    from groupstats.analyses.slot_experiment import single_blas_thread

    with single_blas_thread():      # small matrices: BLAS threads only contend on a shared machine
        return _switchback_sims_inner(G, n_designs, reps, effects, seed, periods, posts)


def _switchback_sims_inner(G, n_designs, reps, effects, seed, periods, posts):
    rng = np.random.default_rng(seed)
    truth = np.asarray(effects[1:]) / effects[0] - 1
    rejected, naive, covered, n = 0, 0, 0, 0
    for _ in range(n_designs):
        level = 3 * rng.lognormal(0, 1.0, G)
        arms = switchback_arm_matrix(level, 3, periods, rng)
        g = np.repeat(np.arange(G), periods * posts)
        w = np.tile(np.repeat(np.arange(periods), posts), G)
        wd = np.tile(np.arange(periods * posts) % 7, G)
        a = arms[g, w]
        shock = rng.lognormal(-0.08, 0.4, (G * periods, reps))[g * periods + w]
        y = rng.poisson((level[g] * np.asarray(effects)[a])[:, None] * shock).astype(float)
        fit = switchback_ols_cr2(group_standardise(y, g), a, g, [g, w, wd])
        rejected += (fit["p_value"] < 0.05).sum()
        covered += ((fit["rel_ci_low"] <= truth[:, None]) & (truth[:, None] <= fit["rel_ci_high"])).sum()
        n += fit["p_value"].size
        naive += (sps.ttest_ind(y[a == 1], y[a == 0], equal_var=False, axis=0).pvalue < 0.05).sum()
    return rejected / n, naive / (n_designs * reps), covered / n


@pytest.mark.parametrize("groups", [10, 24])
def test_aa_false_positive_rate_near_alpha_and_naive_test_fails(groups):
    # 25 designs x 40 replications = 1000 A/A experiments, two comparisons each
    fpr, naive_fpr, _ = _switchback_sims(groups, 25, 40, seed=groups)
    assert 0.035 <= fpr <= 0.065, fpr
    assert naive_fpr > 0.10, naive_fpr          # a per-post test ignoring groups and weeks over-rejects


def test_planted_effect_ci_coverage():
    # 25 designs x 24 replications = 600 experiments, evening-like +40% and noon-like +15%
    _, _, coverage = _switchback_sims(16, 25, 24, effects=(1.0, 1.15, 1.4), seed=99)
    assert 0.93 <= coverage <= 0.97, coverage


def test_sample_evening_ci_covers_planted_truth(sample, sample_truth):
    res = analyse_slot_experiment(sample, "slot_switchback", "replies", window="2h")
    truth = sample_truth["slot_experiment"]["itt_rel_effect"]
    row = res.comparisons.set_index("arm").loc["evening"]
    assert row["rel_ci_low"] <= truth["evening"] <= row["rel_ci_high"]
    assert row["significant"]
    assert res.design == "switchback" and res.control == "morning"
    assert res.srm["ok"] and res.summary["n_groups"] == 12


def test_conclusion_differs_between_planted_and_aa_runs():
    from groupstats.data.simulate import simulate_community

    common = dict(n_groups=8, days=63, members_per_group=40, events=False)
    planted, _ = simulate_community(seed=5, slot_effects={"morning": 1.0, "noon": 1.0, "evening": 1.8,
                                                          "off_peak": 1.0}, **common)
    null, _ = simulate_community(seed=5, slot_effects={"morning": 1.0, "noon": 1.0, "evening": 1.0,
                                                       "off_peak": 1.0}, **common)
    res_p = analyse_slot_experiment(planted, "slot_switchback", "replies")
    res_n = analyse_slot_experiment(null, "slot_switchback", "replies")
    assert res_p.supported() == ["evening"] and res_n.supported() == []
    text_p, text_n = res_p.conclusion(), res_n.conclusion()
    assert "SUPPORTED: 'evening' gets more replies" in text_p
    assert "do not support" in text_n and "Minimum detectable effect" in text_n
    assert "SUPPORTED:" not in text_n


@pytest.mark.slow
def test_notebook_runs_on_sample(batch_records, sample_truth):
    from groupstats.reports.i18n import slot_name

    # executed once per session by `report all` (conftest): experiment slot_switchback, metric replies
    records = batch_records("posting_time_ab")
    assert records["design"] == "switchback" and records["srm_ok"] is True
    evening = next(r for r in records["comparisons"] if r["arm"] == "evening")
    assert evening["rel_ci_low"] <= sample_truth["slot_experiment"]["itt_rel_effect"]["evening"] <= \
        evening["rel_ci_high"]
    assert "evening" in records["supported"]
    assert records["card"]["answer"] == "supported" and slot_name("evening", "zh") in records["card"]["key_number"]
    assert 19 <= records["heatmap_peak_hour"] <= 22          # the simulated evening-heavy chatter


# ------------------------------------------------------------------ red-packet exclusion
def test_red_packet_exclusion_hand_counted(tiny):
    # m2 sends a red packet at 19:08 after P1 (19:00): without exclusion it and m1's 19:10 message count
    # as responses to P1; with a 10-minute exclusion both are dropped, with 30 minutes also m2's 19:30
    extra = pd.DataFrame({"message_id": ["rp1"], "group_id": "g1", "member_id": "m2",
                          "sent_at": _ts(["2026-03-02 19:08"]), "msg_type": "red_packet"})
    ds = Dataset.from_frames(messages=pd.concat([tiny.messages, extra], ignore_index=True),
                             members=tiny.members, posts=tiny.posts, assignments=tiny.assignments, tz=TZ)
    plain = post_metric_frame(ds, "responses").set_index("post_id")["responses"]
    ten = post_metric_frame(ds, "responses", exclude_red_packets="10min").set_index("post_id")["responses"]
    half = post_metric_frame(ds, "responses", exclude_red_packets="30min").set_index("post_id")["responses"]
    assert plain["P1"] == 3 and ten["P1"] == 1 and half["P1"] == 0
    others = ["P2", "P3", "P4", "P5"]
    assert (ten[others] == plain[others]).all() and (half[others] == plain[others]).all()
    # the original tiny data has no red packet: exclusion changes nothing
    base = post_metric_frame(tiny, "responses").set_index("post_id")["responses"]
    assert base.equals(post_metric_frame(tiny, "responses", exclude_red_packets=True)
                       .set_index("post_id")["responses"])
    assert plain["P1"] == base["P1"] + 1


def test_red_packet_exclusion_through_the_slot_analysis(sample):
    kw = dict(metric="responses", standardise=False)
    plain = analyse_slot_experiment(sample, "slot_switchback", **kw)
    excl = analyse_slot_experiment(sample, "slot_switchback", exclude_red_packets="10min", **kw)
    assert (sample.messages["msg_type"] == "red_packet").sum() > 50
    a0, a1 = plain.arms.set_index("arm"), excl.arms.set_index("arm")
    assert a0["n_units"].equals(a1["n_units"])            # the same posts, fewer counted responses
    assert (a1["mean"] <= a0["mean"]).all() and (a1["mean"] < a0["mean"]).any()
    assert excl.summary["exclude_red_packets"] == "10min"
    post0 = post_metric_frame(sample, "responses").set_index("post_id")["responses"]
    post1 = post_metric_frame(sample, "responses", exclude_red_packets="10min").set_index("post_id")["responses"]
    assert (post1 <= post0.reindex(post1.index)).all() and (post1 < post0.reindex(post1.index)).any()
    # the same community without red packets: the exclusion is a no-op, the analysis identical
    no_rp = Dataset.from_frames(messages=sample.messages.loc[sample.messages["msg_type"] != "red_packet"],
                                members=sample.members, groups=sample.groups, posts=sample.posts,
                                assignments=sample.assignments, tz=sample.tz, validate=False)
    b0 = analyse_slot_experiment(no_rp, "slot_switchback", **kw)
    b1 = analyse_slot_experiment(no_rp, "slot_switchback", exclude_red_packets="10min", **kw)
    pd.testing.assert_frame_equal(b0.arms, b1.arms)
    pd.testing.assert_frame_equal(b0.comparisons, b1.comparisons)


# ------------------------------------------------------------------ Poisson count path vs statsmodels
def test_switchback_count_path_equals_statsmodels_poisson_glm(sample, monkeypatch):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    import groupstats.stats.compare as gstats

    seen = {}
    original = gstats.compare_arms

    def recording(frame, **kwargs):
        seen["frame"], seen["kwargs"] = frame.copy(), kwargs
        return original(frame, **kwargs)

    monkeypatch.setattr(gstats, "compare_arms", recording)
    res = analyse_slot_experiment(sample, "slot_switchback", "replies", kind="count", method="cr1")
    frame, kw = seen["frame"], seen["kwargs"]
    assert kw["kind"] == "count" and kw["fixed_effects"] == ["group_id", "period", "weekday"]
    assert res.method == "poisson-cr1"
    groups = pd.factorize(frame["group_id"])[0]
    ref = smf.glm("replies ~ C(arm, Treatment('morning')) + C(group_id) + C(period) + C(weekday)", frame,
                  family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": groups})
    comp = res.comparisons.set_index("arm")
    for arm in ("noon", "evening"):
        name = f"C(arm, Treatment('morning'))[T.{arm}]"
        log_rr = np.log1p(comp.loc[arm, "rel_diff"])
        assert log_rr == pytest.approx(ref.params[name], rel=1e-6, abs=1e-9), arm
        assert log_rr / comp.loc[arm, "statistic"] == pytest.approx(ref.bse[name], rel=1e-4), arm
        assert comp.loc[arm, "df"] == frame["group_id"].nunique() - 1
    # the default (CR2) path has the same point estimate and Bell-McCaffrey df below G - 1
    cr2 = analyse_slot_experiment(sample, "slot_switchback", "replies", kind="count").comparisons.set_index("arm")
    np.testing.assert_allclose(cr2["rel_diff"].to_numpy(float), comp["rel_diff"].to_numpy(float), rtol=1e-9)
    assert (cr2["df"] < frame["group_id"].nunique() - 1).all()


@pytest.mark.parametrize("metric", ["replies", "incremental_responses"])
def test_analysis_on_out_of_core_outcomes_is_identical(sample_in_memory, metric):
    """A dataset opened from Parquet (post outcomes computed by the engine from the files) gives the same
    result as the same data in memory; only the usual-chatter baseline reads the messages into pandas."""
    from groupstats.data.dataset import load_dataset
    from groupstats.paths import sample_data_path

    kw = dict(window="90min", exclude_red_packets="10min", seed=0)
    expected = analyse_slot_experiment(sample_in_memory, "slot_switchback", metric, **kw)
    opened = load_dataset(sample_data_path())
    got = analyse_slot_experiment(opened, "slot_switchback", metric, **kw)
    assert opened.is_loaded("messages") == (metric == "incremental_responses")
    assert not opened.is_loaded("events")
    assert got.to_dict() == expected.to_dict()
    pd.testing.assert_frame_equal(got.to_frame(), expected.to_frame())
