"""``groupstats segment`` checks a Parquet dataset while it segments (as ``features`` does): the same
problems as ``load_dataset``, nothing shown or written when a check fails."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from groupstats.cli import main
from groupstats.data.dataset import load_dataset
from groupstats.errors import DataValidationError


def test_segment_reports_the_checks_problems_and_writes_nothing(sample_path, tmp_path, capsys):
    folder = tmp_path / "broken"
    shutil.copytree(sample_path, folder)
    messages = pd.read_parquet(folder / "messages.parquet")
    messages.loc[3, "msg_type"] = "telegram"
    messages.loc[8, "message_id"] = messages.loc[7, "message_id"]
    messages.to_parquet(folder / "messages.parquet", index=False)
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    out = tmp_path / "segments.csv"
    assert main(["segment", str(folder), "--out", str(out), "--tiers", "none"]) == 2
    captured = capsys.readouterr()
    assert str(info.value) in captured.err and "unknown categories telegram" in captured.err
    assert "duplicate keys" in captured.err
    assert not out.exists() and "segment" not in captured.out.lower()
