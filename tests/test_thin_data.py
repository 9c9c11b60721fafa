"""Thin data never crashes: every analysis command on odd datasets runs or exits 2 saying what is missing.

The odd datasets (see ``thin_datasets.py``) are the shapes real chat exports have: a group of two,
nobody ever left, nobody silent, one day of data, and chat only (no posts, events, assignments).
"""
from __future__ import annotations

import re

import pandas as pd
import pytest
import typer

from groupstats.cli import app, main
from thin_datasets import ODD_DATASETS, build_all

#: How each analysis command is run on a dataset folder (its required options filled in).
INVOCATIONS = {
    "health": lambda p, out: ["health", p, "--json"],
    "churn": lambda p, out: ["churn", p, "--horizon", "7", "--out", str(out / "churn.csv"), "--json"],
    "segment": lambda p, out: ["segment", p, "--json"],
    "features": lambda p, out: ["features", p, "--out", str(out / "features.csv")],
    "abtest": lambda p, out: ["abtest", p, "--experiment", "slot_switchback", "--json"],
    "mix --experiment": lambda p, out: ["mix", p, "--experiment", "mix_policy", "--json"],
    "mix --target": lambda p, out: ["mix", p, "--target", "interactive_352", "--json"],
    "mix --content-types": lambda p, out: ["mix", p, "--content-types", "--json"],
    "plan-slots": lambda p, out: ["plan-slots", p, "--sims", "20", "--json"],
    "audit": lambda p, out: ["audit", p, "--json"],
    "validate": lambda p, out: ["validate", p, "--json"],
}
#: Commands that do not read a dataset folder (compare is run on tables made from the datasets).
NOT_ON_A_DATASET = {"import", "simulate", "report", "compare"}

#: Words of a message that says what is missing.
SAYS_WHAT_IS_MISSING = re.compile(
    r"missing|needs? |at least|too little|too few|no post|have no|has no|not enough|same outcome|"
    r"only \d+ |fewer than", re.IGNORECASE)

#: Commands that need posts (and assignments for experiments): on a chat-only dataset they must
#: refuse naming the table.
NEEDS_TABLE = {"abtest": "posts", "mix --experiment": "assignments", "mix --target": "posts",
               "mix --content-types": "posts", "plan-slots": "posts"}
#: What a chat export without posts still supports: these must run.
RUNS_ON_CHAT_ONLY = {"health", "segment", "features", "validate", "churn"}


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("odd"))


def test_every_dataset_command_is_exercised():
    names = set(typer.main.get_command(app).commands)
    covered = {k.split()[0] for k in INVOCATIONS} | NOT_ON_A_DATASET
    assert names <= covered, f"add an invocation for {sorted(names - covered)} to INVOCATIONS"


def test_odd_datasets_are_what_they_claim(odd):
    from groupstats import load_dataset

    two = load_dataset(odd["two_members"])
    assert two.members["member_id"].nunique() == 2 and two.members["group_id"].nunique() == 1
    assert load_dataset(odd["nobody_left"]).members["left_at"].isna().all()
    silent = load_dataset(odd["nobody_silent"])
    per_day = silent.messages.groupby(["member_id", silent.messages["sent_at"].dt.date]).size()
    assert len(per_day) == silent.members["member_id"].nunique() * 56   # everyone, every day
    one = load_dataset(odd["one_day"])
    assert one.messages["sent_at"].dt.date.nunique() == 1
    for name in ("chat_only", "chat_only_csv"):
        ds = load_dataset(odd[name])
        assert ds.posts is None and ds.events is None and ds.assignments is None and ds.groups is None


#: chat_only_csv is chat_only stored as CSV: it matters only where Parquet takes another engine.
CASES = [(d, c) for d in ODD_DATASETS for c in INVOCATIONS
         if d != "chat_only_csv" or c in ("features", "segment", "health", "validate")]


@pytest.mark.parametrize("dataset, command", CASES, ids=[f"{d}-{c}" for d, c in CASES])
def test_command_runs_or_says_what_is_missing(capsys, odd, tmp_path, dataset, command):
    code = main(INVOCATIONS[command](str(odd[dataset]), tmp_path))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code in (0, 2), (code, captured.err[-2000:])
    if code == 2:
        assert captured.err.startswith("error: ") and SAYS_WHAT_IS_MISSING.search(captured.err), captured.err
    else:
        assert captured.out.strip()
    if dataset.startswith("chat_only") or dataset in ("two_members", "nobody_silent"):
        if command in NEEDS_TABLE:
            assert code == 2 and f"'{NEEDS_TABLE[command]}' table is missing" in captured.err, captured.err
    if dataset.startswith("chat_only") or dataset == "nobody_left":
        if command in RUNS_ON_CHAT_ONLY:
            assert code == 0, captured.err


@pytest.mark.parametrize("rows, words", [
    ("A,1,g1\nB,2,g2\n", "at least 2"),                 # one row per arm
    ("A,1,g1\nA,2,g1\n", "fewer than 2 arms"),          # a single arm
    ("", "fewer than 2 arms"),                          # no rows at all
])
def test_compare_on_thin_tables(capsys, tmp_path, rows, words):
    table = tmp_path / "t.csv"
    table.write_text("arm,y,g\n" + rows)
    for extra in ([], ["--cluster", "g"]):
        code = main(["compare", str(table), "--arm", "arm", "--metric", "y", *extra])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and SAYS_WHAT_IS_MISSING.search(err), err


def test_compare_on_a_single_cluster_says_so(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("arm,y,g\nA,1,g1\nB,2,g1\nA,3,g1\nB,5,g1\n")
    code = main(["compare", str(table), "--arm", "arm", "--metric", "y", "--cluster", "g"])
    err = capsys.readouterr().err
    assert code == 2 and "Only 1 cluster(s) of 'g'" in err


# --- the two crashes of real exports, at their cause -----------------------------------------
def test_time_to_churn_when_nobody_left(odd):
    """Regression: no membership has left_at (most WhatsApp exports) raised AttributeError."""
    from groupstats import load_dataset
    from groupstats.analyses.churn import churn_survival, time_to_churn

    ds = load_dataset(odd["nobody_left"])
    silent = time_to_churn(ds, horizon=7, definition="silent")
    left = time_to_churn(ds, horizon=7, definition="left")
    either = time_to_churn(ds, horizon=7, definition="either")
    assert len(left) == len(silent) > 0
    assert left["event"].sum() == 0 and (left["cause"] == 0).all()          # nobody left: all censored
    assert (left["duration"] == left.attrs["censor_day"]).all()
    # with no one leaving, "either" is exactly "silent"
    pd.testing.assert_series_equal(either["duration"], silent["duration"])
    pd.testing.assert_series_equal(either["event"], silent["event"])
    assert silent["event"].sum() > 0
    frame = churn_survival(ds, horizon=7, definition="either").to_frame()   # the view that crashed
    assert 0 < frame["events"].sum() <= frame["n"].sum() <= len(either)
