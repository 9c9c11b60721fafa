"""Member features without the message mix (``message_mix=False``) are the full features less those columns.

Churn's panel asks for them so (its models leave the message mix out): the engine then skips the counts of
message types and times. The other columns, rows and ``attrs`` must be those of the full features, at one
cutoff and at several in one pass, and the models must see the same columns either way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.analyses import churn
from groupstats.analyses.churn import features as churn_features_module
from groupstats.data.simulate import simulate_community
from groupstats.errors import ParameterError
from groupstats.tables.features import MESSAGE_MIX_COLUMNS, feature_columns, member_features_at


def assert_lean_is_full_less_the_mix(lean: pd.DataFrame, full: pd.DataFrame) -> None:
    assert not set(MESSAGE_MIX_COLUMNS) & set(lean.columns)
    assert set(MESSAGE_MIX_COLUMNS) <= set(full.columns)
    pd.testing.assert_frame_equal(lean, full.drop(columns=list(MESSAGE_MIX_COLUMNS)), check_exact=True)
    assert lean.attrs == full.attrs


@pytest.mark.parametrize(("seed", "tz", "windows", "days"), [
    (1, "Asia/Shanghai", (7, 30, 90), (20, 41, 55)),
    (4, "Europe/Berlin", (3, 14), (9, 30)),         # the March clock change inside the data
    (10, "America/New_York", (5, 52, 60), (33,)),
])
def test_lean_features_are_the_full_ones_less_the_mix(seed, tz, windows, days):
    ds, _ = simulate_community(n_groups=4, days=70, seed=seed, members_per_group=25, tz=tz, start="2026-02-20")
    first = churn.data_start_day(ds)
    cuts = [first + pd.Timedelta(days=d) for d in days]
    full = member_features_at(ds, cuts, windows=windows)
    lean = member_features_at(ds, cuts, windows=windows, message_mix=False)  # one pass for all the cutoffs
    for lf, ff in zip(lean, full):
        assert_lean_is_full_less_the_mix(lf, ff)
    for cut, ff in zip(cuts, full):  # and one cutoff at a time (the shorter ways of one cutoff)
        lf = member_features_at(ds, [cut], windows=windows, message_mix=False)[0]
        assert_lean_is_full_less_the_mix(lf, ff)
    assert full[-1]["share_image"].gt(0).any() and full[-1]["share_evening"].gt(0).any()
    assert list(lean[0].columns[2:]) == feature_columns(windows, message_mix=False)


def test_the_sample_and_normalised_features(sample):
    full = member_features_at(sample, ["2026-03-15", "2026-04-01"], normalise_within_group=True)
    lean = member_features_at(sample, ["2026-03-15", "2026-04-01"], normalise_within_group=True,
                              message_mix=False)
    for lf, ff in zip(lean, full):
        assert_lean_is_full_less_the_mix(lf, ff)
    with pytest.raises(ParameterError, match="message_mix"):
        member_features_at(sample, ["2026-03-15"], message_mix="no")


def test_the_models_read_no_message_mix_column(sample):
    """What the panel leaves out is exactly what the models leave out: their columns are the same."""
    full = member_features_at(sample, ["2026-03-15"])[0]
    excluded = [c for c in full.columns if c.startswith(churn.EXCLUDED_PREFIX) and c not in churn.KEPT_SHARES]
    assert sorted(excluded) == sorted(MESSAGE_MIX_COLUMNS)
    lean = full.drop(columns=list(MESSAGE_MIX_COLUMNS))
    assert churn.model_feature_columns(lean) == churn.model_feature_columns(full)


@pytest.mark.parametrize("seed", [3, 8])
def test_a_panel_without_the_mix_gives_the_same_scores(seed, monkeypatch):
    """churn_risk's panel asks for no message mix: its scores, drivers and notes are those of a panel with it."""
    ds, _ = simulate_community(n_groups=4, days=75, seed=seed, members_per_group=20)
    asked = []
    real_init = churn_features_module._Panel.__init__

    def recording(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        asked.append(self.message_mix)

    monkeypatch.setattr(churn_features_module._Panel, "__init__", recording)
    lean = churn.churn_risk(ds, horizon=14, n_boot=50)
    assert asked == [False]

    def with_mix(self, *args, **kwargs):
        kwargs["message_mix"] = True
        real_init(self, *args, **kwargs)
        asked.append(self.message_mix)

    monkeypatch.setattr(churn_features_module._Panel, "__init__", with_mix)
    full = churn.churn_risk(ds, horizon=14, n_boot=50)
    assert asked == [False, True]
    pd.testing.assert_frame_equal(lean.scores, full.scores, check_exact=True)
    assert lean.notes == full.notes and lean.model == full.model
    assert np.isfinite(lean.scores["risk"]).all() and lean.scores["top_drivers"].str.len().gt(0).any()
