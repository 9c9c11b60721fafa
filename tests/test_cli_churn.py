"""CLI: groupstats churn DATA [--cutoff DATE] --horizon H [--definition ...] --out risk.csv [--json]."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from groupstats.analyses import churn as churn
from groupstats.cli import main


@pytest.fixture(scope="module")
def sim_path(tmp_path_factory):
    from groupstats.data.simulate import write_simulation

    folder, _ = write_simulation(tmp_path_factory.mktemp("churn_sim") / "data", n_groups=8, days=80, seed=3,
                                 members_per_group=40)
    return folder


def test_cli_scores_every_present_member_and_prints_backtest(sim_path, tmp_path, capsys):
    out = tmp_path / "risk.csv"
    code = main(["churn", str(sim_path), "--horizon", "14", "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    risk = pd.read_csv(out, dtype={"group_id": str, "member_id": str})
    assert not risk.duplicated(["group_id", "member_id"]).any()
    assert risk["risk"].between(0, 1).all()
    assert {"driver_1", "top_drivers"}.issubset(risk.columns)
    # every member present at the end of the data is scored (scoring date = end of data)
    from groupstats import load_dataset

    ds = load_dataset(sim_path)
    present = churn.present_members(ds, churn.data_end_day(ds))
    assert len(risk) == len(present) == payload["n_scored"]
    models = {row["model"] for row in payload["backtest"]["metrics"]}
    assert models == {"recency", "logistic", "hgb", "bgnbd"}
    assert payload["evaluation_at_scoring_date"] is None  # no outcomes after the end of the data
    # the backtest is one horizon before the scoring date and uses only data up to it
    assert pd.Timestamp(payload["backtest"]["cutoffs"]["evaluation"]) + pd.Timedelta(days=14) == \
        pd.Timestamp(payload["scoring_cutoff"])


def test_cli_evaluates_when_outcomes_are_known(sim_path, tmp_path, capsys):
    out = tmp_path / "risk.csv"
    code = main(["churn", str(sim_path), "--cutoff", "2026-03-10", "--horizon", "14", "--definition", "either",
                 "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    ev = payload["evaluation_at_scoring_date"]
    assert ev is not None
    rows = {(r["model"], r["population"]): r for r in ev["all_models"]}
    assert 0.5 < rows[(payload["model"], "all")]["roc_auc"] <= 1
    # the evaluated scores are the ones written
    risk = pd.read_csv(out, dtype={"group_id": str, "member_id": str})
    assert rows[(payload["model"], "all")]["n"] == len(risk)


def test_cli_too_little_history_exits_2_with_how_much(sim_path, tmp_path, capsys):
    code = main(["churn", str(sim_path), "--cutoff", "2026-01-25", "--horizon", "14",
                 "--out", str(tmp_path / "r.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "needs at least 28 days of data before the scoring date" in err  # 14 days of features + the horizon
    assert not (tmp_path / "r.csv").exists()
    code = main(["churn", str(sim_path), "--definition", "gone", "--out", str(tmp_path / "r.csv")])
    assert code == 2
    assert "--definition must be one of" in capsys.readouterr().err


def test_cli_reports_the_checks_problems_and_writes_nothing(sample_path, tmp_path, capsys, monkeypatch):
    """The checks of a Parquet dataset run while the model is computed: a failed check exits 2 with the
    problems load_dataset names, in place of the error the work met on the invalid data, and no scores
    are written. (The model's work is replaced by one that fails, to keep the test short.)"""
    import shutil

    import pandas as pd

    from groupstats.data.dataset import load_dataset
    from groupstats.errors import DataValidationError

    folder = tmp_path / "broken"
    shutil.copytree(sample_path, folder)
    messages = pd.read_parquet(folder / "messages.parquet")
    messages.loc[8, "message_id"] = messages.loc[7, "message_id"]
    messages.to_parquet(folder / "messages.parquet", index=False)
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    from groupstats.errors import InsufficientDataError

    worked = []

    def failing_work(dataset, **kwargs):
        worked.append(dataset)
        raise InsufficientDataError("the work's own error")

    monkeypatch.setattr(churn, "churn_risk", failing_work)
    out = tmp_path / "risk.csv"
    assert main(["churn", str(folder), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert len(worked) == 1  # the work ran while the checks did
    assert str(info.value) in captured.err and "duplicate keys" in captured.err
    assert "the work's own error" not in captured.err and not out.exists()
