"""CLI: groupstats mix / health."""
from __future__ import annotations

import json

import pytest

from groupstats.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_mix_experiment_json_has_abtest_keys(capsys, sample_truth):
    code, out, _ = run(capsys, "mix", "sample", "--experiment", "mix_policy", "--metric", "replies_per_post", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"experiment", "metric", "method", "arms", "comparisons", "srm"} <= set(data)
    assert data["experiment"] == "mix_policy" and data["metric"] == "replies_per_post"
    comp = data["comparisons"][0]
    assert comp["arm"] == "interactive_352" and comp["control"] == "control"
    assert comp["rel_ci_low"] < comp["rel_diff"] < comp["rel_ci_high"]
    assert {a["arm"] for a in data["arms"]} == set(sample_truth["mix_experiment"]["arms"])
    assert data["srm"]["ok"] is True


def test_mix_target_compliance(capsys):
    code, out, _ = run(capsys, "mix", "sample", "--target", "practical:30,interactive:50,lifestyle:20", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["target"]["shares"] == pytest.approx({"practical": 0.3, "interactive": 0.5, "lifestyle": 0.2})
    assert data["n_group_weeks"] > 100 and 0 <= data["share_consistent"] <= 1
    assert data["mean_tv_distance"] > data["mean_expected_tv"]
    code, out, _ = run(capsys, "mix", "sample", "--target", "manage_4321", "--lang", "en")
    assert code == 0 and "Content-mix compliance" in out


@pytest.mark.parametrize("target, words", [
    ("practical:30,interactive:40,lifestyle:20", "sums to 90%"),
    ("practical:70,emotional:20,marketing:10", "no mapping provides"),
])
def test_mix_bad_target_exits_2(capsys, target, words):
    code, _, err = run(capsys, "mix", "sample", "--target", target)
    assert code == 2 and words in err and "Traceback" not in err


def test_mix_mapping_file_makes_target_valid(capsys, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("ugc: emotional\nlifestyle: emotional\nannouncement: marketing\ninteractive: practical\n",
                    encoding="utf-8")
    code, out, _ = run(capsys, "mix", "sample", "--target", "interact_721", "--mapping", str(path), "--json")
    assert code == 0
    assert json.loads(out)["marketing"]["share"] > 0.15   # announcements are ~20% of posts


def test_mix_needs_exactly_one_mode(capsys):
    code, _, err = run(capsys, "mix", "sample")
    assert code == 2 and "exactly one" in err
    code, _, err = run(capsys, "mix", "sample", "--experiment", "nope")
    assert code == 2 and "experiments present" in err


def test_health_json_and_thresholds(capsys, tmp_path):
    code, out, _ = run(capsys, "health", "sample", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["attention"]) == 12 and data["attention"][0]["rank"] == 1
    assert sum(data["status_counts"].values()) == len(data["weeks"])
    path = tmp_path / "lenient.yaml"
    path.write_text("thresholds:\n  messages_per_day:\n    healthy: above\n    warning: 1\n    alert: 0.5\n",
                    encoding="utf-8")
    code, out, _ = run(capsys, "health", "sample", "--thresholds", str(path), "--json")
    lenient = json.loads(out)
    assert code == 0 and lenient["status_counts"].get("alert", 0) < data["status_counts"].get("alert", 0)
    path.write_text("thresholds:\n  messages_per_day:\n    healthy: sideways\n", encoding="utf-8")
    code, _, err = run(capsys, "health", "sample", "--thresholds", str(path))
    assert code == 2 and "healthy must be" in err
