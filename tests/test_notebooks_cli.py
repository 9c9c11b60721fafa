"""The notebooks and the command line give identical results on the sample (issue 13).

The notebooks' numbers are those recorded by the session's one `groupstats report all` run
(``batch_records``, conftest); the CLI runs in this process with ``--json``. Both open the
dataset with ``load_dataset`` (the notebooks in memory, the CLI through the same loader), so any
difference would be a second code path.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from groupstats.cli import main


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_abtest_cli_equals_posting_time_notebook(batch_records, capsys, sample_path):
    rec = batch_records("posting_time_ab")  # experiment slot_switchback, metric replies, window 2h
    d = _json(capsys, ["abtest", str(sample_path), "--experiment", "slot_switchback", "--metric", "replies",
                       "--window", "2h", "--json"])
    cols = ["arm", "rel_diff", "rel_ci_low", "rel_ci_high", "p_adjusted", "significant"]
    cli = pd.DataFrame(d["comparisons"])[cols].sort_values("arm").reset_index(drop=True)
    nb = pd.DataFrame(rec["comparisons"])[cols].sort_values("arm").reset_index(drop=True)
    assert len(cli) == 2 and set(cli["arm"]) == {"noon", "evening"}
    pd.testing.assert_frame_equal(cli, nb, check_dtype=False, rtol=1e-12, atol=0)
    assert d["srm"]["ok"] == rec["srm_ok"]


def test_mix_cli_equals_content_mix_notebook(batch_records, capsys, sample_path):
    rec = batch_records("content_mix")["experiment"]  # mix_policy, messages_per_member_day
    d = _json(capsys, ["mix", str(sample_path), "--experiment", "mix_policy", "--metric",
                       "messages_per_member_day", "--json"])
    row = d["comparisons"][0]
    assert d["method"] == rec["method"]
    for key in ("rel_diff", "rel_ci_low", "rel_ci_high", "p_value"):
        np.testing.assert_allclose(row[key], rec[key], rtol=1e-12, atol=0, err_msg=key)
    assert d["srm"]["ok"] == rec["srm_ok"]


def test_segment_cli_equals_segmentation_notebook(batch_records, capsys, sample_path):
    rec = batch_records("member_segmentation")  # k auto, default method, activity tiers, seed 0
    d = _json(capsys, ["segment", str(sample_path), "--tiers", "activity", "--seed", "0", "--json"])
    assert d["k"] == rec["k"] and d["method"] == rec["method"] and d["n_members"] == rec["n_members"]
    assert [s["size"] for s in d["segments"]] == rec["segment_sizes"]
    np.testing.assert_allclose(d["stability"]["ari_mean"], rec["stability_ari"], rtol=1e-12, atol=0)
