"""CLI: abtest, compare, plan-slots (JSON contract, tables, clear errors)."""
import json

import numpy as np
import pandas as pd
import pytest

from groupstats.cli import main

ARM_KEYS = {"arm", "n_units", "n_clusters", "mean"}
COMPARISON_KEYS = {"arm", "control", "diff", "ci_low", "ci_high", "rel_diff", "rel_ci_low", "rel_ci_high",
                   "p_value", "p_adjusted"}


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_abtest_json_contract_on_sample(capsys, sample_path, sample_truth):
    d = _json(capsys, ["abtest", str(sample_path), "--experiment", "slot_switchback", "--metric", "replies",
                       "--window", "2h", "--control", "morning", "--alpha", "0.05", "--json"])
    assert d["experiment"] == "slot_switchback" and d["metric"] == "replies" and d["method"] == "ols-cr2"
    assert all(ARM_KEYS <= set(a) for a in d["arms"]) and {a["arm"] for a in d["arms"]} == {"morning", "noon",
                                                                                            "evening"}
    assert all(COMPARISON_KEYS <= set(c) for c in d["comparisons"])
    assert {"p_value", "ok"} <= set(d["srm"]) and d["srm"]["ok"] is True
    evening = next(c for c in d["comparisons"] if c["arm"] == "evening")
    assert evening["rel_ci_low"] <= sample_truth["slot_experiment"]["itt_rel_effect"]["evening"] <= \
        evening["rel_ci_high"]


def test_compare_csv_json_and_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"variant": np.repeat(["A", "B"], 200), "y": rng.normal(size=400),
                          "shop": np.tile(np.arange(20), 20)})
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    d = _json(capsys, ["compare", str(path), "--arm", "variant", "--metric", "y", "--cluster", "shop", "--json"])
    assert d["experiment"] == "exp" and all(COMPARISON_KEYS <= set(c) for c in d["comparisons"])
    assert all(ARM_KEYS <= set(a) for a in d["arms"]) and {"p_value", "ok"} <= set(d["srm"])
    assert main(["compare", str(path), "--arm", "variant", "--metric", "y", "--lang", "en"]) == 0
    assert "Comparison of 'y'" in capsys.readouterr().out


def test_plan_slots_prints_mde_and_writes_assignments(tmp_path, capsys, sample_path):
    out = tmp_path / "plan.csv"
    code = main(["plan-slots", str(sample_path), "--arms", "morning,noon,evening", "--weeks", "6", "--mde",
                 "0.1", "--sims", "40", "--write", str(out), "--experiment-id", "next_test", "--lang", "en"])
    text = capsys.readouterr().out
    assert code == 0 and "minimum detectable effect" in text and "wrote 72 assignment rows" in text
    table = pd.read_csv(out)
    assert set(table["arm"]) == {"morning", "noon", "evening"} and table["group_id"].nunique() == 12


@pytest.mark.parametrize("argv, message", [
    (["abtest", "SAMPLE", "--experiment", "nope"], "Unknown experiment 'nope'"),
    (["abtest", "SAMPLE", "--experiment", "slot_switchback", "--metric", "likes"], "Unknown metric"),
    (["abtest", "SAMPLE", "--experiment", "slot_switchback", "--control", "night"], "not an arm"),
    (["plan-slots", "SAMPLE", "--arms", "morning,brunch"], "not slots"),
    (["compare", "missing.csv", "--arm", "a", "--metric", "y"], "does not exist"),
])
def test_bad_input_exits_2_with_message(argv, message, capsys, sample_path):
    argv = [str(sample_path) if a == "SAMPLE" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_events_table_exits_2(tmp_path, capsys, sample):
    folder = tmp_path / "no_events"
    for name, table in sample.tables.items():
        if name != "events":
            folder.mkdir(exist_ok=True)
            table.to_parquet(folder / f"{name}.parquet")
    assert main(["abtest", str(folder), "--experiment", "slot_switchback", "--metric", "read_rate"]) == 2
    err = capsys.readouterr().err
    assert "'events' table is missing" in err and "read_rate" in err
