"""The playbook audit (groupstats.analyses.audit, `groupstats audit`).

- its small statistics against references (statsmodels);
- the decision rules of experiment-backed claims (intersection-union test, direction, Holm);
- on simulated data with a planted slot and mix effect (arms renamed to opaque labels, so the
  experiments must be recognised from what the arms did): the experiment-backed verdicts match
  the truth; in the A/A version they are not supported; without assignments the causal rules are
  at most not_shown and name the experiment to run; both languages;
- the command line (--json in English, text in Chinese, bad --lang).

The 200-dataset A/A check is in tests/test_audit_simulation.py.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from groupstats.analyses.audit import CAUSAL_RULES, RULE_IDS, ROW_KEYS, audit, detect_experiments
from groupstats.analyses.audit.experiments import AnalysisCache, claim_test, claim_verdict, experiment_rows
from groupstats.analyses.audit.rules import load_rules
from groupstats.stats.intervals import cluster_mean_ci, cluster_ratio_ci, invert_relative
from groupstats.stats.multiplicity import adjusted_levels
from groupstats.data.dataset import TABLE_NAMES, Dataset
from groupstats.data.simulate import simulate_community

CJK = re.compile(r"[\u4e00-\u9fff]")
NO_SLOT_EFFECT = {"morning": 1.0, "noon": 1.0, "evening": 1.0, "off_peak": 1.0}
OPAQUE = {"morning": "arm_a", "noon": "arm_b", "evening": "arm_c", "control": "arm_x", "interactive_352": "arm_y"}


# --------------------------------------------------------------------------------------
# statistics against references
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_ratio_ci_matches_weighted_regression(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(5, 30))
    groups = np.repeat(np.arange(n_groups), rng.integers(1, 8, n_groups))
    den = rng.integers(1, 50, len(groups)).astype(float)
    num = rng.binomial(den.astype(int), rng.uniform(0.1, 0.9, n_groups)[groups]).astype(float)
    got = cluster_ratio_ci(num, den, groups, alpha=0.1)
    tot = pd.DataFrame({"y": num, "d": den, "g": groups}).groupby("g").sum()
    fit = sm.WLS(tot["y"], tot["d"], weights=1 / tot["d"]).fit(cov_type="HC1")
    assert got["estimate"] == pytest.approx(num.sum() / den.sum())
    assert got["estimate"] == pytest.approx(float(fit.params.iloc[0]))
    assert got["se"] == pytest.approx(float(fit.bse.iloc[0]), rel=1e-10)
    q = sps.t.ppf(0.95, n_groups - 1)
    assert got["ci_low"] == pytest.approx(got["estimate"] - q * got["se"])
    assert got["ci_high"] == pytest.approx(got["estimate"] + q * got["se"])


def test_cluster_mean_ci_is_the_one_sample_t_interval():
    values = np.array([0.2, 0.5, 0.4, np.nan, 0.9, 0.3])
    got = cluster_mean_ci(values, alpha=0.05)
    ref = sps.ttest_1samp(values[np.isfinite(values)], 0.0).confidence_interval(0.95)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert got["n_clusters"] == 5


@pytest.mark.parametrize("seed", range(4))
def test_holm_levels_match_statsmodels_and_intervals_match_verdicts(seed):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 7))
    z = rng.normal(0, 1, m) + rng.choice([0.0, 3.0], m)
    p = 2 * sps.norm.sf(np.abs(z))
    adj, level = adjusted_levels(p, 0.05, "holm")
    assert adj == pytest.approx(multipletests(p, 0.05, "holm")[1])
    # a z interval at the hypothesis' own level excludes 0 exactly when Holm rejects it
    half = sps.norm.ppf(1 - level / 2)
    excludes = np.abs(z) > half
    assert (excludes == (adj < 0.05)).all()
    badj, blevel = adjusted_levels(p, 0.05, "bonferroni")
    assert badj == pytest.approx(multipletests(p, 0.05, "bonferroni")[1])
    assert blevel == pytest.approx(np.full(m, 0.05 / m))


def test_invert_relative():
    rel, low, high = invert_relative(0.25, 0.1, 0.5)
    assert rel == pytest.approx(1 / 1.25 - 1)
    assert (low, high) == pytest.approx((1 / 1.5 - 1, 1 / 1.1 - 1))
    assert invert_relative(-0.5, -1.2, 0.1)[2] == np.inf


def test_claim_test_and_verdict():
    # the focal arm beats both comparators: intersection-union p = the larger p
    assert claim_test([0.3, 0.1], [0.001, 0.03]) == (0.03, "for")
    # one comparator beats it: Bonferroni over the comparators, direction against
    assert claim_test([0.3, -0.1], [0.001, 0.02]) == (0.04, "against")
    assert claim_verdict("for", 0.01, 0.05) == "supported"
    assert claim_verdict("for", 0.01, 0.05, complete=False) == "not_shown"
    assert claim_verdict("against", 0.01, 0.05) == "contradicted"
    assert claim_verdict("for", 0.2, 0.05) == "not_shown"
    assert claim_verdict("for", float("nan"), 0.05) == "not_shown"


# --------------------------------------------------------------------------------------
# simulated datasets (arms renamed: recognition must come from the data)
# --------------------------------------------------------------------------------------
def _replace(ds: Dataset, **tables) -> Dataset:
    frames = {name: getattr(ds, name) for name in TABLE_NAMES if getattr(ds, name) is not None}
    frames.update(tables)
    frames = {k: v for k, v in frames.items() if v is not None}
    return Dataset.from_frames(tz=ds.tz, validate=False, **frames)


def _opaque(ds: Dataset) -> Dataset:
    assignments = ds.assignments.assign(arm=ds.assignments["arm"].map(OPAQUE))
    assert assignments["arm"].notna().all()
    return _replace(ds, assignments=assignments)


def _simulate(seed, **overrides):
    ds, truth = simulate_community(n_groups=12, days=56, seed=seed, members_per_group=25, **overrides)
    return _opaque(ds), truth


def _check_rows(result, lang):
    frame = result.to_frame()
    assert list(frame.columns) == list(ROW_KEYS)
    assert list(frame["id"]) == list(RULE_IDS)
    assert frame["verdict"].isin(["supported", "contradicted", "not_shown", "not_testable"]).all()
    assert frame["evidence"].isin(["experiment", "observational"]).all()
    for c in result.claims:
        assert c["source"] and c["claim"] and c["test"] and c["reason"], c["id"]
        if c["id"] in CAUSAL_RULES and c["evidence"] == "observational":
            assert c["verdict"] in ("not_shown", "not_testable"), c["id"]
        if c["estimate"] is not None and c["ci_low"] is not None:
            assert c["ci_low"] <= c["estimate"] <= c["ci_high"], c["id"]
        if c["evidence"] == "experiment":
            # significance matches the interval drawn at the hypothesis' multiplicity level
            excludes_zero = c["ci_low"] > 0 or c["ci_high"] < 0
            assert excludes_zero == (c["p_adjusted"] < 0.05), c["id"]
        text = c["claim"] + c["test"]
        if lang == "zh":
            assert CJK.search(text), c["id"]
        else:
            assert not CJK.search(text), c["id"]
            assert not CJK.search(c["reason"].replace(c["source"], "")), c["id"]


def test_planted_effects_recognised_and_supported_in_both_languages():
    ds, truth = _simulate(11, mix_effect=0.8)
    assert truth["slot_experiment"]["itt_rel_effect"]["evening"] > 0.3
    experiments = {e["experiment_id"]: e for e in detect_experiments(ds)}
    slot, mix = experiments["slot_switchback"], experiments["mix_policy"]
    assert slot["is_slot"] and not slot["is_mix"]
    assert {a["arm"]: a["window"] for a in slot["arms"]} == {"arm_a": "morning", "arm_b": "noon", "arm_c": "evening"}
    assert mix["is_mix"] and not mix["is_slot"]
    assert {a["arm"]: a["nearest_preset"] for a in mix["arms"]} == {"arm_x": "manage_4321", "arm_y": "interactive_352"}
    assert all(a["preset_match"] for a in mix["arms"])

    en = audit(ds, lang="en")
    _check_rows(en, "en")
    assert en.verdict("evening_slot") == "supported"
    assert en.verdict("mix_352") == "supported"
    assert en.verdict("mix_40_30_20_10") == "contradicted"   # the same comparison, seen from the other arm
    for rid in ("evening_slot", "mix_352", "mix_40_30_20_10"):
        assert en.row(rid)["evidence"] == "experiment"
    assert en.row("mix_352")["ci_low"] > 0 and en.row("mix_40_30_20_10")["ci_high"] < 0
    # the planted evening effect lies in the reported interval of the binding comparison (evening vs noon)
    itt = truth["slot_experiment"]["itt_rate_ratio"]
    row = en.row("evening_slot")
    assert row["ci_low"] <= itt["evening"] / itt["noon"] - 1 <= row["ci_high"]
    # no arm near 7:2:1 and no marketing posts: not testable, with the experiment to run
    for rid in ("mix_721", "marketing_cap_15"):
        assert en.row(rid)["evidence"] == "observational"
        assert en.verdict(rid) in ("not_shown", "not_testable")
        assert "randomise_groups" in en.row(rid)["reason"]
    # multiplicity: 3:5:2 and 40/30/20/10 rest on one comparison -> 2 hypotheses
    m = en.multiplicity
    assert m["method"] == "holm" and m["n_hypotheses"] == 2
    assert sorted(map(sorted, (h["rules"] for h in m["hypotheses"]))) == [
        ["evening_slot"], ["mix_352", "mix_40_30_20_10"]]
    assert "Holm" in m["description"]
    described = {e["experiment_id"]: e for e in en.experiments}
    assert described["slot_switchback"]["kind"] == "slot" and described["mix_policy"]["kind"] == "mix"
    assert "manage_4321" in described["mix_policy"]["description"]
    _check_descriptive_rows(en)
    payload = json.loads(en.to_json())
    assert set(payload) >= {"claims", "multiplicity", "experiments"}

    # the same audit in Chinese: same numbers and verdicts, other words
    zh = audit(ds, lang="zh", cache=en.cache)
    _check_rows(zh, "zh")
    assert [c["verdict"] for c in zh.claims] == [c["verdict"] for c in en.claims]
    assert [c["estimate"] for c in zh.claims] == [c["estimate"] for c in en.claims]
    assert zh.row("evening_slot")["claim"] != en.row("evening_slot")["claim"]
    card = zh.card()
    assert card.lang == "zh" and "条经验" in card.key_number
    table = zh.summary_table()
    assert len(table) == len(RULE_IDS) and "判断" in table.columns
    text = zh.to_string()
    assert text.startswith("运营经验体检") and "[成立] evening_slot" in text

    # without assignments: causal rules at most not_shown, naming the experiment to run
    bare = _replace(ds, assignments=None)
    no_exp = audit(bare, lang="en", cache=AnalysisCache(bare).share_tables(en.cache))
    _check_rows(no_exp, "en")
    for rid in CAUSAL_RULES:
        row = no_exp.row(rid)
        assert row["evidence"] == "observational" and row["verdict"] in ("not_shown", "not_testable"), rid
        assert ("plan-slots" in row["reason"]) if rid == "evening_slot" else ("randomise_groups" in row["reason"])
    # the planted evening effect still shows as an association, with its interval, but only 'not shown'
    slot_row = no_exp.row("evening_slot")
    assert slot_row["verdict"] == "not_shown" and slot_row["estimate"] > 0
    assert "Observational association" in slot_row["reason"]
    assert no_exp.multiplicity["n_hypotheses"] == 0 and no_exp.experiments == []

    # misleading arm names change nothing: recognition reads the posts, not the labels
    swapped = {"arm_a": "evening", "arm_b": "morning", "arm_c": "noon", "arm_x": "interactive_352",
               "arm_y": "control"}
    liar = _replace(ds, assignments=ds.assignments.assign(arm=ds.assignments["arm"].map(swapped)))
    found = {e["experiment_id"]: e for e in detect_experiments(liar)}
    assert {a["arm"]: a["window"] for a in found["slot_switchback"]["arms"]} == {
        "evening": "morning", "morning": "noon", "noon": "evening"}
    assert {a["arm"]: a["nearest_preset"] for a in found["mix_policy"]["arms"]} == {
        "interactive_352": "manage_4321", "control": "interactive_352"}

    # an experiment without a noon arm cannot support "beats 07-09 AND 12-14": not shown, naming the test to run
    no_noon = _replace(ds, assignments=ds.assignments.loc[ds.assignments["arm"] != "arm_b"])
    rows, multiplicity, failed = experiment_rows(detect_experiments(no_noon), load_rules(), "en",
                                                 AnalysisCache(no_noon).share_tables(en.cache))
    assert failed == {}
    slot_row = rows["evening_slot"]
    assert slot_row["evidence"] == "experiment" and slot_row["verdict"] == "not_shown"
    assert [c["comparator"] for c in slot_row["comparisons"]] == ["arm_a"]
    assert slot_row["comparisons"][0]["rel"] > 0 and "plan-slots" in slot_row["reason"] and "12-14" in slot_row["reason"]


def test_aa_version_supports_no_experiment_claim():
    ds, truth = _simulate(12, mix_effect=0.0, slot_effects=NO_SLOT_EFFECT)
    result = audit(ds, lang="en")
    _check_rows(result, "en")
    backed = [c for c in result.claims if c["evidence"] == "experiment"]
    assert {c["id"] for c in backed} == {"evening_slot", "mix_352", "mix_40_30_20_10"}
    assert all(c["verdict"] != "supported" for c in backed), [(c["id"], c["p_adjusted"]) for c in backed]


def _check_descriptive_rows(result):
    """Descriptive rules against what the simulator plants: a concentrated, stable core (10% of
    members at 5 messages a day), tiers of very different activity, fading members."""
    core = result.row("core_top20")
    assert core["verdict"] == "supported" and core["estimate"] > 0.6
    assert 0.5 < core["stability"] <= 1
    silent = result.row("silent_30d_churned")
    assert silent["evidence"] == "observational"
    if silent["estimate"] is not None:
        assert 0 <= silent["ci_low"] <= silent["estimate"] <= silent["ci_high"] <= 1
    assert ("suggested_threshold_days" in silent) and "60" in silent["test"]
    points = result.row("points_tiers")
    assert points["verdict"] == "supported"   # planted tiers differ ~4-fold in activity
    assert all(p["upper_mean"] > p["lower_mean"] for p in points["comparisons"])
    health = result.row("health_thresholds")
    assert {d["metric"] for d in health["details"]} >= {"messages_per_day", "silent_share"}
    for d in health["details"]:
        if d.get("share_flagged") is not None:
            assert 0 <= d["share_flagged"] <= 1
    assert result.row("lifecycle_decline")["verdict"] in ("not_shown", "not_testable", "supported", "contradicted")


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    ds, _ = simulate_community(n_groups=6, days=35, seed=3, members_per_group=15, posts_per_day=1)
    return str(ds.save(tmp_path_factory.mktemp("audit") / "data", format="parquet"))


def test_cli_json_english(small_folder, capsys):
    """One run of the command (the Chinese text output is result.to_string(), checked above)."""
    from groupstats.cli import main

    assert main(["audit", small_folder, "--json", "--lang", "en"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"claims", "multiplicity", "experiments"}
    assert [c["id"] for c in out["claims"]] == list(RULE_IDS)
    for c in out["claims"]:
        assert set(ROW_KEYS) <= set(c)
        assert not CJK.search(c["claim"])
    assert {e["experiment_id"] for e in out["experiments"]} == {"slot_switchback", "mix_policy"}


def test_cli_bad_language_exits_2(small_folder, capsys):
    from groupstats.cli import main

    assert main(["audit", small_folder, "--lang", "fr"]) == 2
    err = capsys.readouterr().err  # the shared --lang option: a usage error naming the languages
    assert "Usage:" in err and "'fr' is not a language; use one of zh, en" in err


def test_cli_missing_rules_file_exits_2(small_folder, tmp_path, capsys):
    from groupstats.cli import main

    assert main(["audit", small_folder, "--rules", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml does not exist" in capsys.readouterr().err


def test_rules_file_overrides_and_checks(tmp_path):
    custom = tmp_path / "rules.yaml"
    custom.write_text("alpha: 0.01\nmultiplicity: bonferroni\nrules:\n  silent_30d_churned:\n    gone_below: 0.5\n",
                      encoding="utf-8")
    rules = load_rules(custom)
    assert rules["alpha"] == 0.01 and rules["multiplicity"] == "bonferroni"
    assert rules["rules"]["silent_30d_churned"]["gone_below"] == 0.5
    assert rules["rules"]["silent_30d_churned"]["silent_days"] == 30            # defaults kept
    assert rules["rules"]["evening_slot"]["source"] == "微信群怎么互动(群聊互动技巧)"
    from groupstats.errors import ParameterError

    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  sunday_posts: {}\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="unknown rule"):
        load_rules(bad)
    bad.write_text("alpha: 2\nrules: {}\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="alpha"):
        load_rules(bad)


def test_every_rule_cites_a_playbook_article():
    titles = {"维护微信群活跃度", "微信群如何经营和管理(微信群运营与管理)", "微信群怎么互动(群聊互动技巧)",
              "怎么弄微信群聊(创建微信群聊方法)"}
    rules = load_rules()
    for rid in RULE_IDS:
        cited = {s.strip() for s in rules["rules"][rid]["source"].split(";")}
        assert cited and cited <= titles, rid
