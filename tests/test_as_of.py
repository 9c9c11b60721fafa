"""Analysing an experiment as of a date (--as-of), with the sequential and Bayesian read-outs, on the sample."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from groupstats.cli import main

CUT = pd.Timestamp("2026-03-15 23:59:59.999999", tz="Asia/Shanghai")


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_abtest_as_of_sequential_json_on_sample(capsys, sample_path, sample):
    d = _json(capsys, ["abtest", str(sample_path), "--experiment", "slot_switchback", "--metric", "replies",
                       "--as-of", "2026-03-15", "--sequential", "--json", "--lang", "en"])
    assert d["sequential"] is True
    assert pd.Timestamp(d["as_of"]) == CUT
    summary = d["summary"]
    assert pd.Timestamp(summary["end"]) <= CUT
    # posts of the last 24 h before the cutoff (their read window runs past it) are excluded and counted
    posted = sample.posts["posted_at"]
    assert summary["n_incomplete"] == int(((posted > CUT - pd.Timedelta("24h")) & (posted <= CUT)).sum()) > 0
    assert summary["n_posts_total"] == int((posted <= CUT).sum())
    # weekly switchback from 2026-01-05: 10 periods started by 2026-03-15, 12 groups; 18 planned
    settings = d["sequential_settings"]
    assert settings["n_units"] == 120 and settings["planned_units"] == 216 and settings["unit"] == "group-period"
    for c in d["comparisons"]:
        assert c["p_value"] >= c["p_value_fixed"]
        assert c["ci_low"] <= c["ci_low_fixed"] and c["ci_high"] >= c["ci_high_fixed"]
        assert c["significant"] == (c["p_adjusted"] < 0.05)
        b = c["bayes"]
        assert set(b) == {"prob_better", "expected_loss", "ci_low", "ci_high"}
        assert 0 <= b["prob_better"] <= 1 and b["expected_loss"] >= 0 and b["ci_low"] < b["ci_high"]
    assert "may be read at any time" in d["conclusion"]
    assert "chance that 'evening' beats 'morning'" in d["conclusion"]


def test_as_of_uses_only_data_up_to_the_date(sample, sample_in_memory):
    """Same result from (a) the whole dataset with as_of (opened from Parquet: the engine reads the
    files), (b) the same in memory, (c) a dataset that never had the later rows."""
    from groupstats.analyses.slot_experiment import analyse_slot_experiment

    a = analyse_slot_experiment(sample, "slot_switchback", "replies", as_of="2026-03-15", standardise=False)
    b = analyse_slot_experiment(sample_in_memory, "slot_switchback", "replies", as_of="2026-03-15",
                                standardise=False)
    c = analyse_slot_experiment(sample.as_of(CUT), "slot_switchback", "replies", standardise=False)
    cols = ["arm", "diff", "se", "p_value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(a.comparisons[cols], b.comparisons[cols])
    pd.testing.assert_frame_equal(a.comparisons[cols], c.comparisons[cols])
    assert a.summary["n_posts"] == b.summary["n_posts"] == c.summary["n_posts"]
    assert a.summary["n_incomplete"] == b.summary["n_incomplete"] == c.summary["n_incomplete"]
    # and it differs from the analysis of all the data
    full = analyse_slot_experiment(sample, "slot_switchback", "replies", standardise=False)
    assert full.summary["n_posts"] > a.summary["n_posts"]
    assert a.summary["as_of"] == CUT and full.summary["as_of"] is None


def test_as_of_errors_exit_2(capsys, sample_path):
    assert main(["abtest", str(sample_path), "--experiment", "slot_switchback", "--as-of", "2025-12-01"]) == 2
    assert "had not started" in capsys.readouterr().err
    assert main(["abtest", str(sample_path), "--experiment", "slot_switchback", "--as-of", "15/03/2026"]) == 2
    assert main(["mix", str(sample_path), "--target", "interactive_352", "--as-of", "2026-03-15"]) == 2
    assert "--experiment" in capsys.readouterr().err


def test_compare_as_of_with_a_time_column(tmp_path, capsys):
    rng = np.random.default_rng(4)
    n = 800
    shop = rng.integers(0, 24, n)
    frame = pd.DataFrame({"shop": shop, "variant": np.where(shop % 2 == 0, "A", "B"), "y": rng.poisson(3, n),
                          "day": (pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 40, n), unit="D")
                                  + pd.to_timedelta(rng.integers(0, 24, n), unit="h")).strftime("%Y-%m-%dT%H:%M")})
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    argv = ["compare", str(path), "--arm", "variant", "--metric", "y", "--cluster", "shop", "--json"]
    d = _json(capsys, argv + ["--as-of", "2026-03-20", "--time-column", "day", "--sequential"])
    kept = frame.loc[pd.to_datetime(frame["day"]) < pd.Timestamp("2026-03-21")]
    assert d["n_rows_after_as_of"] == n - len(kept)
    assert sum(a["n_units"] for a in d["arms"]) == len(kept)
    expected_units = kept.assign(date=pd.to_datetime(kept["day"]).dt.normalize())[["shop", "date"]].drop_duplicates()
    assert d["sequential"] is True and d["sequential_settings"]["n_units"] == len(expected_units)
    assert d["sequential_settings"]["unit"] == "cluster-day"
    assert d["comparisons"][0]["p_value"] >= d["comparisons"][0]["p_value_fixed"]
    assert set(d["comparisons"][0]["bayes"]) == {"prob_better", "expected_loss", "ci_low", "ci_high"}
    # the same rows compared directly give the same (fixed-horizon) estimate
    kept.to_csv(tmp_path / "kept.csv", index=False)
    ref = _json(capsys, ["compare", str(tmp_path / "kept.csv"), "--arm", "variant", "--metric", "y", "--cluster",
                         "shop", "--json"])
    assert d["comparisons"][0]["diff"] == pytest.approx(ref["comparisons"][0]["diff"])
    assert d["comparisons"][0]["p_value_fixed"] == pytest.approx(ref["comparisons"][0]["p_value"])
    # --as-of needs the time column; a bad time is named with its row
    assert main(argv + ["--as-of", "2026-03-20"]) == 2
    assert "--time-column" in capsys.readouterr().err
    frame.loc[5, "day"] = "soon"
    frame.to_csv(path, index=False)
    assert main(argv + ["--as-of", "2026-03-20", "--time-column", "day"]) == 2
    err = capsys.readouterr().err
    assert "'day'" in err and "row" in err and "'soon'" in err


def test_mix_as_of_sequential(capsys, sample_path):
    d = _json(capsys, ["mix", str(sample_path), "--experiment", "mix_policy", "--as-of", "2026-04-01",
                       "--sequential", "--json"])
    assert d["sequential"] is True and pd.Timestamp(d["as_of"]) == pd.Timestamp("2026-04-01 23:59:59.999999",
                                                                                 tz="Asia/Shanghai")
    settings = d["sequential_settings"]
    assert settings["unit"] == "group-day" and 0 < settings["n_units"] < settings["planned_units"]
    assert d["n_incomplete"] > 0  # posts of the last 24 h before the cutoff
    for c in d["comparisons"]:
        assert c["p_value"] >= c["p_value_fixed"]
        assert set(c["bayes"]) == {"prob_better", "expected_loss", "ci_low", "ci_high"}


def test_plan_slots_takes_the_planned_end(capsys, sample_path, tmp_path):
    d = _json(capsys, ["plan-slots", str(sample_path), "--start", "2026-05-11", "--end", "2026-06-21", "--sims", "20",
                       "--json", "--write", str(tmp_path / "plan.csv")])
    # 2026-05-11 (Monday) to 2026-06-21 (Sunday): 6 whole weeks, ending at midnight after the last day
    assert d["weeks"] == 6
    assert pd.Timestamp(d["end"]) == pd.Timestamp("2026-06-22", tz="Asia/Shanghai")
    written = pd.read_csv(tmp_path / "plan.csv")
    assert pd.to_datetime(written["end_at"]).max() == pd.Timestamp("2026-06-22", tz="Asia/Shanghai")
    assert main(["plan-slots", str(sample_path), "--start", "2026-05-11", "--end", "2026-05-01"]) == 2
    assert "before the start" in capsys.readouterr().err


def test_monitor_experiment_on_sample(sample):
    from groupstats.analyses.monitor import monitor_experiment
    from groupstats.analyses.slot_experiment import analyse_slot_experiment

    mon = monitor_experiment(sample, "slot_switchback", "replies", step="21D")
    dates = sorted(mon.timeline["date"].unique())
    # first look after one full cycle (3 arms x 1 week from 2026-01-05), then every 21 days, and the last day
    assert pd.Timestamp(dates[0]) == pd.Timestamp("2026-01-26")
    assert pd.Timestamp(dates[-1]) == pd.Timestamp("2026-05-04")
    assert all((b - a) <= np.timedelta64(21, "D") for a, b in zip(dates, dates[1:]))
    # each look is the sequential analysis as of that date
    day = pd.Timestamp(dates[2])
    ref = analyse_slot_experiment(sample, "slot_switchback", "replies", as_of=f"{day:%Y-%m-%d}", sequential=True)
    got = mon.timeline.loc[mon.timeline["date"] == day].set_index("arm")
    want = ref.comparisons.set_index("arm")
    for arm in ("evening", "noon"):
        assert got.loc[arm, "rel_low"] == pytest.approx(want.loc[arm, "rel_ci_low"], rel=1e-9)
        assert got.loc[arm, "p_value"] == pytest.approx(want.loc[arm, "p_adjusted"], rel=1e-9)
        assert got.loc[arm, "prob_better"] == pytest.approx(ref.bayes.set_index("arm").loc[arm, "prob_better"])
    # the planted +36% evening effect: stop and adopt evening; the card says so in both languages
    assert mon.recommendation["code"] == "stop_adopt" and mon.recommendation["arm"] == "evening"
    assert mon.conclusion("en").answer == "supported" and "evening" in mon.conclusion("en").next_step
    assert "晚间" in mon.conclusion("zh").key_number
    d = json.loads(mon.to_json())
    assert d["sequential"] is True and d["recommendation"]["code"] == "stop_adopt"
    assert len(d["timeline"]) == len(mon.timeline)
    table = mon.table("zh", every_days=21)
    assert len(table) == 2 * len(dates) and "晚间" in set(table["时段"])


def test_monitor_recommendation_rule():
    from groupstats.analyses.monitor import _recommend

    def look(rel, low, high, sig, prob):
        return pd.DataFrame({"arm": ["noon", "evening"], "rel_diff": rel, "rel_low": low, "rel_high": high,
                             "significant": sig, "prob_better": prob})

    now = pd.Timestamp("2026-03-01 23:59:59.999999", tz="UTC")  # the end of the look day
    end = pd.Timestamp("2026-03-16", tz="UTC")  # planned end, exclusive: 2026-03-02 .. 2026-03-15 left
    assert _recommend(look([0.1, 0.3], [-0.1, 0.1], [0.3, 0.5], [False, True], [0.8, 0.99]), 0.1, now, end) == \
        {"code": "stop_adopt", "arm": "evening", "days_left": 14}
    assert _recommend(look([-0.3, 0.0], [-0.5, -0.2], [-0.1, 0.2], [True, False], [0.01, 0.5]), 0.1, now,
                      end)["code"] == "stop_keep_control"
    assert _recommend(look([0.01, 0.02], [-0.05, -0.06], [0.07, 0.09], [False, False], [0.6, 0.7]), 0.1, now,
                      end) == {"code": "stop_futile", "arm": "evening", "days_left": 14}
    wide = look([0.05, 0.08], [-0.2, -0.2], [0.3, 0.4], [False, False], [0.7, 0.8])
    assert _recommend(wide, 0.1, now, end) == {"code": "continue", "arm": "evening", "days_left": 14}
    last_day = pd.Timestamp("2026-03-15 23:59:59.999999", tz="UTC")
    assert _recommend(wide, 0.1, last_day, end) == {"code": "stop_planned_end", "arm": "evening", "days_left": 0}


def test_as_of_after_the_data_end_is_the_data_end(sample):
    from groupstats.analyses.slot_experiment import analyse_slot_experiment

    late = analyse_slot_experiment(sample, "slot_switchback", "replies", as_of="2026-12-31", standardise=False)
    assert late.summary["as_of"] == sample.end
    # posts of the last day are not complete: their windows run past the data, whatever the date asked for
    assert late.summary["n_incomplete"] == int((sample.posts["posted_at"] > sample.end - pd.Timedelta("24h")).sum()) > 0
