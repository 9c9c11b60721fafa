"""The console script skips the last garbage collection at exit (gc.freeze in an atexit handler) and
collects less often, and nothing it wrote is lost by that; a call of ``main([...])`` (tests, notebooks)
leaves the collector alone."""
from __future__ import annotations

import gc
import subprocess
import sys

import pandas as pd

from groupstats.cli import main


def test_only_the_console_script_freezes_the_collector_at_exit(monkeypatch):
    registered, thresholds = [], []
    monkeypatch.setattr("atexit.register", lambda fn, *a, **k: registered.append(fn))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: thresholds.append(t))
    monkeypatch.setattr("groupstats.engine.process_memory.keep_freed_memory", lambda: None)  # not this process
    assert main(["--version"]) == 0
    assert registered == [] and thresholds == []
    monkeypatch.setattr(sys, "argv", ["groupstats", "--version"])
    assert main() == 0
    assert registered == [gc.freeze] and thresholds == [(100_000, 20, 10)]


def test_features_written_by_the_console_script_are_complete(sample, tmp_path):
    from groupstats.paths import sample_data_path
    from groupstats.tables.features import member_features

    out = tmp_path / "f.parquet"
    done = subprocess.run([sys.executable, "-m", "groupstats.cli.root", "features", str(sample_data_path()),
                           "--out", str(out), "--cutoff", "2026-03-15"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    written = pd.read_parquet(out)
    expected = member_features(sample, cutoff="2026-03-15")
    expected.attrs = {}
    pd.testing.assert_frame_equal(written, expected, check_exact=True)
