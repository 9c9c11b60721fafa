"""CLI: groupstats features / segment, and the member segmentation notebook."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from groupstats.cli import main


@pytest.fixture(scope="module")
def sim_path(tmp_path_factory):
    from groupstats.data.simulate import write_simulation

    folder, _ = write_simulation(tmp_path_factory.mktemp("sim") / "data", n_groups=6, days=40, seed=5,
                                 members_per_group=40)
    return folder


def test_features_command(sim_path, tmp_path, capsys):
    out = tmp_path / "feats.parquet"
    assert main(["features", str(sim_path), "--cutoff", "2026-02-01", "--out", str(out), "--lang", "en"]) == 0
    frame = pd.read_parquet(out)
    assert not frame.duplicated(["group_id", "member_id"]).any()
    assert "messages_30d" in frame and "read_rate" in frame
    assert f"wrote features of {len(frame):,} members" in capsys.readouterr().out
    assert main(["features", str(sim_path), "--out", str(tmp_path / "f.txt")]) == 2
    assert "must end in .parquet or .csv" in capsys.readouterr().err


def test_segment_command_writes_members_and_json(sim_path, tmp_path, capsys):
    out = tmp_path / "members.csv"
    code = main(["segment", str(sim_path), "--cutoff", "2026-02-05", "--k", "3", "--method", "kmeans",
                 "--tiers", "points", "--seed", "1", "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["k"] == 3 and len(report["segments"]) == 3
    assert {"ari_mean", "ari_low", "ari_high"} <= set(report["stability"])
    assert "adjusted_rand_index" in report["tiers_vs_segments"]
    members = pd.read_csv(out)
    assert list(members.columns) == ["group_id", "member_id", "segment", "tier"]
    assert not members.duplicated(["group_id", "member_id"]).any()
    assert set(members["segment"]) == {s["name"] for s in report["segments"]}
    assert set(members["tier"]) <= {"newcomer", "advanced", "core"}
    # auto k: the selection scores are printed
    assert main(["segment", str(sim_path), "--method", "gmm", "--json", "--tiers", "none"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert len(auto["selection_scores"]) == 7 and sum(r["selected"] for r in auto["selection_scores"]) == 1


def test_segment_default_is_the_library_default_and_reports_the_runner_up(sim_path, capsys):
    from groupstats.analyses.segmentation import DEFAULT_METHOD, segment_members
    from groupstats import load_dataset

    assert main(["segment", str(sim_path), "--json", "--tiers", "none", "--seed", "3", "--lang", "en"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == DEFAULT_METHOD == "rate_mixture"
    lib = segment_members(load_dataset(sim_path), random_state=3).to_dict()
    assert report["k"] == lib["k"] and report["k_evidence"] == lib["k_evidence"]
    ev = report["k_evidence"]
    scores = {r["k"]: r["score"] for r in report["selection_scores"]}
    assert ev["chosen"]["k"] == report["k"] == min(scores, key=scores.get)
    runner = min((k for k in scores if k != report["k"]), key=scores.get)
    assert ev["runner_up"]["k"] == runner
    assert ev["delta"] == pytest.approx(scores[runner] - scores[report["k"]])
    assert f"Runner-up k = {runner}" in report["conclusion"]
    # the text output says the same
    assert main(["segment", str(sim_path), "--tiers", "none", "--seed", "3", "--lang", "en"]) == 0
    assert f"Runner-up k = {runner}: BIC higher by" in capsys.readouterr().out


def test_segment_command_errors(sim_path, capsys):
    assert main(["segment", str(sim_path), "--cutoff", "2020-01-01"]) == 2
    assert "Choose a later cutoff" in capsys.readouterr().err
    assert main(["segment", str(sim_path), "--method", "dbscan"]) == 2
    assert "kmeans" in capsys.readouterr().err
    assert main(["segment", str(sim_path), "--tiers", "unknown"]) == 2
    assert "Unknown tier preset" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_runs_on_sample(batch_records):
    records = batch_records("member_segmentation")  # executed once per session by `report all`
    assert records["features"] == "within_group" and records["n_members"] > 500
    assert records["method"] == "rate_mixture"  # the notebook follows the library default
    assert 2 <= records["k"] <= 8 and len(records["segment_names"]) == records["k"]
    assert sum(records["segment_sizes"]) == records["n_members"]
    assert 0 <= records["stability_ari"] <= 1
    # segments cut across the groups rather than sorting them (Cramer's V between group and segment)
    assert 0 <= records["group_association"] < 0.3
