"""Switchback schedules, stratified randomisation, assignments, power from history."""
import numpy as np
import pandas as pd
import pytest

from groupstats.data.dataset import Dataset, load_dataset
from groupstats.stats.design import (group_arm_vector, plan_slot_experiment, randomise_groups, switchback_arm_matrix,
                               switchback_schedule, write_assignments)
from groupstats.errors import ParameterError


def test_switchback_matrix_balanced_by_period_stratum_and_group():
    rng = np.random.default_rng(1)
    sizes = rng.lognormal(4, 0.6, 12)
    codes = switchback_arm_matrix(sizes, 3, 9, rng)
    order = np.argsort(sizes)
    for p in range(9):
        for block in (order[0:3], order[3:6], order[6:9], order[9:12]):
            assert sorted(codes[block, p]) == [0, 1, 2]         # each size stratum has every arm each period
    for g in range(12):
        assert np.bincount(codes[g], minlength=3).tolist() == [3, 3, 3]   # every group gets every arm equally


def test_schedule_is_seeded_and_valid_assignments(small_sim, tmp_path):
    ds, _ = small_sim
    groups = ds.groups["group_id"]
    a = switchback_schedule(groups, "morning,noon,evening", "2026-06-01", 6, seed=4, tz=ds.tz)
    b = switchback_schedule(groups, ["morning", "noon", "evening"], "2026-06-01", 6, seed=4, tz=ds.tz)
    c = switchback_schedule(groups, ["morning", "noon", "evening"], "2026-06-01", 6, seed=5, tz=ds.tz)
    pd.testing.assert_frame_equal(a, b)
    assert not a["arm"].equals(c["arm"])
    assert len(a) == 8 * 6 and a["start_at"].min() == pd.Timestamp("2026-06-01", tz=ds.tz)
    assert (a["end_at"] - a["start_at"] == pd.Timedelta(days=7)).all()
    # it is a valid assignments table of the data model, and round-trips through a dataset folder
    folder = ds.save(tmp_path / "ds")
    write_assignments(a.assign(experiment_id="new_test"), folder)
    loaded = load_dataset(folder)
    assert set(loaded.assignments["experiment_id"]) == {"slot_switchback", "mix_policy", "new_test"}
    with pytest.raises(ParameterError, match="already in"):
        write_assignments(a.assign(experiment_id="new_test"), folder)
    out = write_assignments(a, tmp_path / "plan.csv")
    assert len(pd.read_csv(out)) == len(a)


def test_group_randomisation_stratified_by_size():
    rng = np.random.default_rng(0)
    sizes = np.arange(10) * 10.0
    for _ in range(20):
        codes = group_arm_vector(sizes, 2, rng)
        assert all(codes[2 * i] != codes[2 * i + 1] for i in range(5))   # pairs of similar size split
    table = randomise_groups([f"g{i}" for i in range(7)], ["a", "b", "c"], "2026-06-01", "2026-07-01",
                             sizes=np.arange(7), seed=2)
    assert table["arm"].value_counts().sort_index().tolist() in ([3, 2, 2], [2, 3, 2], [2, 2, 3])
    Dataset  # noqa: B018 (imported for the data model)
    with pytest.raises(ParameterError, match="after start"):
        randomise_groups(["a", "b"], ["x", "y"], "2026-06-01", "2026-05-01")


def test_power_from_history_is_calibrated_and_sees_group_variance(small_sim):
    ds, _ = small_sim
    plan = plan_slot_experiment(ds, weeks=6, mde=0.3, n_sims=120, seed=3)
    # the simulated sampling SD gives the MDE; planting exactly that effect gives about the target power
    check = plan_slot_experiment(ds, weeks=6, mde=round(plan.mde_rel, 3), n_sims=120, seed=4)
    assert 0.6 <= check.power_at_mde <= 0.95, (plan.mde_rel, check.power_at_mde)
    assert plan.false_positive_rate <= 0.1
    # a group-randomised test on the same history has to beat the real group-to-group variance
    grouped = plan_slot_experiment(ds, weeks=6, mde=0.3, n_sims=60, seed=3, design="group-randomised")
    assert grouped.mde_rel > 2 * plan.mde_rel
    assert "weeks" in plan.conclusion() and plan.to_dict()["mde_rel"] == pytest.approx(plan.mde_rel)
    with pytest.raises(ParameterError, match="at least one week per arm"):
        plan_slot_experiment(ds, weeks=2)
