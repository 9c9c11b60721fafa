"""Opening a Parquet dataset folder out of core (groupstats.data.loading._open_out_of_core): the
engine validates and computes; pandas reads a table only when it is asked for."""
from __future__ import annotations

import pandas as pd

from groupstats.data.dataset import load_dataset
from groupstats.data.schema import TABLE_NAMES


def test_tables_are_read_on_first_use_only_and_equal_the_files(sample_path):
    from groupstats.tables.features import member_features

    ds = load_dataset(sample_path)
    present = [n for n in TABLE_NAMES if (sample_path / f"{n}.parquet").exists()]
    assert ds.table_names == present and not any(ds.is_loaded(n) for n in present)
    assert ds.n_rows("members") == len(pd.read_parquet(sample_path / "members.parquet"))
    features = member_features(ds)  # runs on the engine: reads nothing into pandas
    assert len(features) > 0 and not any(ds.is_loaded(n) for n in present)
    members = ds.members
    assert ds.is_loaded("members") and ds.members is members
    stored = pd.read_parquet(sample_path / "members.parquet")
    assert list(members["member_id"]) == list(stored["member_id"])
    assert (members["joined_at"] == stored["joined_at"].dt.tz_convert(ds.tz)).all()
    assert str(members["joined_at"].dt.tz) == ds.tz
