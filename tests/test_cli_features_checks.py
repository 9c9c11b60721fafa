"""``groupstats features`` checks a Parquet dataset while it computes (data.loading.load_dataset_checking):
the same problems as ``load_dataset``, nothing written when a check fails, and the check's error
in place of whatever the computation on invalid data raised."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from groupstats.cli import main
from groupstats.data.dataset import load_dataset
from groupstats.data.loading import load_dataset_checking
from groupstats.errors import DataValidationError
from groupstats.engine import thread_priority
from test_thread_priority import _until


def _copy_sample(sample_path, folder, **changes):
    shutil.copytree(sample_path, folder)
    for name, change in changes.items():
        table = pd.read_parquet(folder / f"{name}.parquet")
        change(table)
        table.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _break_messages(m):
    m.loc[3, "msg_type"] = "telegram"
    m.loc[8, "message_id"] = m.loc[7, "message_id"]


def test_features_command_reports_the_checks_problems_and_writes_nothing(sample_path, tmp_path, capsys):
    folder = _copy_sample(sample_path, tmp_path / "broken", messages=_break_messages)
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    out = tmp_path / "features.parquet"
    assert main(["features", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(info.value) in err and "unknown categories telegram" in err and "duplicate keys" in err
    assert not out.exists()


@pytest.mark.parametrize("command, name", [("features", "features.parquet"), ("features", "features.csv"),
                                           ("churn", "risk.csv")])
def test_output_is_written_meanwhile_and_put_in_place_only_once_checked(sample_path, tmp_path, monkeypatch,
                                                                        command, name):
    """The output is written while the checks finish and moved onto --out only once they pass: on a
    failed check an older file at --out is left as it was and no partial file remains; on valid data
    the file written inside the block, before the wait for the checks, is the one put in place."""
    from groupstats.cli import common

    folder = _copy_sample(sample_path, tmp_path / "broken", messages=_break_messages)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / name
    out.write_bytes(b"the previous run's output")
    assert main([command, str(folder), "--out", str(out), "--lang", "en"]) == 2
    assert out.read_bytes() == b"the previous run's output"
    assert [p.name for p in out_dir.iterdir()] == [name]
    # into folders that do not exist yet: none is left behind
    assert main([command, str(folder), "--out", str(tmp_path / "new" / "deeper" / name), "--lang", "en"]) == 2
    assert not (tmp_path / "new").exists()
    # valid data: the file written inside the block, before the checks are waited for, is moved in place
    order: list = []
    real = common.written_once_checked

    def recording(out_path, checks):
        class Recorded:
            def __enter__(self):
                order.append("enter")
                return checks.__enter__()

            def __exit__(self, *exc):
                order.append(("written before the wait", any(out_dir.glob(f".*partial*{out_path.suffix}"))))
                return checks.__exit__(*exc)
        return real(out_path, Recorded())

    monkeypatch.setattr(common, "written_once_checked", recording)
    monkeypatch.setattr(f"groupstats.cli.{'members' if command == 'features' else 'churn'}.written_once_checked",
                        recording)
    assert main([command, str(sample_path), "--out", str(out)]) == 0
    assert order == ["enter", ("written before the wait", True)]
    assert [p.name for p in out_dir.iterdir()] == [name]
    reader = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
    written = reader(out)
    assert len(written) > 100 and {"group_id", "member_id"} <= set(written.columns)


def test_the_checks_error_replaces_the_computations_error(sample_path, tmp_path, capsys):
    """Every member an owner: the features find nobody present; the unknown category still wins."""
    def all_owners(members):
        members["role"] = "owner"

    folder = _copy_sample(sample_path, tmp_path / "owners", messages=_break_messages, members=all_owners)
    assert main(["features", str(folder), "--out", str(tmp_path / "f.parquet"), "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "unknown categories telegram" in err and "No (non-operator) member" not in err
    clean = _copy_sample(sample_path, tmp_path / "owners_only", members=all_owners)
    assert main(["features", str(clean), "--out", str(tmp_path / "g.parquet"), "--lang", "en"]) == 2
    assert "No (non-operator) member" in capsys.readouterr().err


def test_checks_meanwhile_pass_on_valid_data_with_the_same_results(sample_path):
    from groupstats.tables.features import member_features

    ds, checks = load_dataset_checking(sample_path)
    with checks:
        features = member_features(ds)
    checks.wait()
    pd.testing.assert_frame_equal(features, member_features(load_dataset(sample_path)))


def test_large_datasets_are_checked_before_the_work(sample_path, tmp_path, monkeypatch):
    """Beyond CHECKS_MEANWHILE_UP_TO messages the checks run first (bounded memory): the error comes
    from opening the dataset, with the same problems."""
    from groupstats.data import loading

    folder = _copy_sample(sample_path, tmp_path / "broken", messages=_break_messages)
    ds, checks = load_dataset_checking(folder)
    with pytest.raises(DataValidationError) as meanwhile:
        checks.wait()
    monkeypatch.setattr(loading, "CHECKS_MEANWHILE_UP_TO", 0)
    with pytest.raises(DataValidationError) as first:
        load_dataset_checking(folder)
    assert str(first.value) == str(meanwhile.value)


def _recording_checks(monkeypatch) -> list:
    """Record, for each check run, the DuckDB threads of its connection, the nice values of the threads
    that opening the connection started (DuckDB's workers) and its own thread's nice value."""
    import os
    import threading

    from groupstats.data import loading
    from groupstats.engine import connection
    from groupstats.tables import checks as checks_module

    seen: list = []
    real_connect, real_validate = connection.connect, checks_module.validate_source

    def connect(*args, **kwargs):
        before = thread_priority._tasks()
        engine = real_connect(*args, **kwargs)
        started = thread_priority._tasks() - before
        threads = engine.con.con.execute("SELECT current_setting('threads')").fetchone()[0]
        seen.append({"threads": int(threads), "started": len(started),
                     "started_nice": {os.getpriority(os.PRIO_PROCESS, task) for task in started}})
        return engine

    def validate(src):
        seen[-1]["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen[-1]["thread"] = threading.current_thread().name
        return real_validate(src)

    monkeypatch.setattr(connection, "connect", connect)
    monkeypatch.setattr("groupstats.engine.connect", connect)
    monkeypatch.setattr(checks_module, "validate_source", validate)
    assert loading  # (the loader imports both at call time)
    return seen


def test_checks_on_idle_cores_run_at_low_priority_with_the_same_problems(sample_path, tmp_path, monkeypatch):
    """On idle cores: the checks' thread and the DuckDB workers its connection starts run at nice 19,
    on every core DuckDB would use; the problems found are the same."""
    import os

    folder = _copy_sample(sample_path, tmp_path / "broken", messages=_break_messages)
    seen = _recording_checks(monkeypatch)
    ds, checks = load_dataset_checking(folder)
    with pytest.raises(DataValidationError) as normal:
        checks.wait()
    ds, checks = load_dataset_checking(folder, checks_on_idle_cores=True)
    # (waiting puts them back to the normal priority: let them start first)
    assert _until(lambda: sum("nice" in s for s in seen) == 2)
    assert checks._thread.is_alive() or checks._error is not None
    with pytest.raises(DataValidationError) as idle:
        checks.wait()
    assert str(idle.value) == str(normal.value)
    import duckdb

    default_threads = int(duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0])
    # (the process's own connection, when this test opens it first, runs no check)
    seen[:] = [s for s in seen if "thread" in s]
    assert [s["thread"] for s in seen] == ["groupstats-checks", "groupstats-checks"]
    normal_nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert normal_nice != 19
    # (lowered only where this process may raise the priority again: tests/test_thread_priority.py)
    idle_nice = 19 if thread_priority.can_restore() else normal_nice
    assert seen[1]["threads"] == default_threads and seen[1]["nice"] == idle_nice
    assert seen[1]["started"] >= default_threads - 1 and seen[1]["started_nice"] <= {idle_nice}
    assert seen[0]["threads"] == default_threads and seen[0]["nice"] == normal_nice
    assert seen[0]["started"] >= default_threads - 1 and seen[0]["started_nice"] <= {normal_nice}
    assert os.getpriority(os.PRIO_PROCESS, 0) == normal_nice  # the caller's thread is left as it was
    # valid data: the same results, the checks pass
    from groupstats.tables.features import member_features

    ds, checks = load_dataset_checking(sample_path, checks_on_idle_cores=True)
    with checks:
        features = member_features(ds)
    pd.testing.assert_frame_equal(features, member_features(load_dataset(sample_path)))


@pytest.mark.parametrize("command, out", [("churn", "risk.csv"), ("features", "f.parquet"),
                                         ("segment", "segments.csv")])
def test_the_commands_that_check_meanwhile_check_on_idle_cores(sample_path, tmp_path, monkeypatch, capsys,
                                                               command, out):
    """The commands ask for their checks on idle cores: the checks' thread asks to lower its priority
    before its connection opens (whether it is lowered then depends on whether the command waits for
    the checks already; the tests above and tests/test_thread_priority.py check what follows)."""
    import threading

    from groupstats.data.loading import PendingValidation

    folder = _copy_sample(sample_path, tmp_path / "broken", messages=_break_messages)
    seen = _recording_checks(monkeypatch)
    asked: list = []
    real = PendingValidation.lower_priority

    def lower_priority(self):
        asked.append((threading.current_thread().name, len(seen)))
        return real(self)

    monkeypatch.setattr(PendingValidation, "lower_priority", lower_priority)
    out = tmp_path / out
    assert main([command, str(folder), "--out", str(out), "--lang", "en"]) == 2
    assert "unknown categories telegram" in capsys.readouterr().err and not out.exists()
    checked = [s for s in seen if s.get("thread") == "groupstats-checks"]
    assert len(checked) == 1 and len(asked) == 1
    name, connections_before = asked[0]
    assert name == "groupstats-checks" and seen[connections_before] is checked[0]  # before connecting
