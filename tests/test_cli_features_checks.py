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
