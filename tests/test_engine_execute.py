"""The engine's own conversion of DuckDB results to pandas (groupstats.engine._duckdb_execute) gives
exactly the frame Ibis's ``expr.execute()`` gives: same columns, dtypes, values and NULLs; except that a
whole-number sum, which Ibis hands over as Python ``Decimal`` objects, comes as int64 (float64 with NaN
where NULL), the same numbers."""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from groupstats.engine import _duckdb_execute, connect


@pytest.fixture(scope="module")
def engine():
    return connect("duckdb", threads=1)


def _frame(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    gaps = rng.random(n) < 0.3
    return pd.DataFrame({
        "key": np.arange(n),
        "n_sent": pd.array(np.where(gaps, None, rng.integers(-5, 10**15, n)), dtype="Int64"),
        "rate": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "label": pd.Series(np.where(gaps, None, rng.choice(["a", "bé", "c"], n)), dtype=object),
        "flag": pd.array(np.where(gaps, None, rng.random(n) < 0.5), dtype="boolean"),
        "at": pd.Series(pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC")).where(~gaps),
    })


def _as_numbers(old: pd.DataFrame) -> pd.DataFrame:
    """Ibis's frame with its whole-number sums as the engine gives them: DuckDB sums BIGINTs into HUGEINTs,
    which Ibis hands over as Python ``Decimal`` objects (None for NULL); the engine casts them to int64
    (float64 with NaN where a value is NULL), the same numbers."""
    from decimal import Decimal

    out = old.copy()
    for name in out.columns:
        col = out[name]
        values = col.dropna()
        if col.dtype == object and len(values) and all(isinstance(v, Decimal) for v in values):
            assert all(v == int(v) for v in values), name
            out[name] = (col.astype("int64") if not col.isna().any()
                         else col.map(lambda v: np.nan if v is None else float(int(v))).astype("float64"))
    return out


def _same(new, old) -> None:
    old = _as_numbers(old)
    assert list(new.columns) == list(old.columns)
    assert list(map(str, new.dtypes)) == list(map(str, old.dtypes))
    pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_columns_with_nulls_of_every_kind_convert_as_ibis_does(engine):
    t = engine.register(_frame())
    expr = t.order_by("key").mutate(
        empty_int=ibis.null("int64"), empty_text=ibis.null("string"),
        listed=ibis.array([t.key, t.key + 1]),
        grouped=t.n_sent.sum().over(group_by=t.label), big=t.key * 10**12)
    new, old = _duckdb_execute(engine.con, expr), expr.execute()
    _same(new, old)
    assert new["n_sent"].isna().sum() > 100 and new["label"].isna().sum() > 100 and new["empty_int"].isna().all()


def test_aggregates_scalars_and_empty_results(engine):
    t = engine.register(_frame())
    agg = t.group_by("label").aggregate(n=t.count(), top=t.n_sent.max(), mean=t.rate.mean()).order_by("label")
    _same(_duckdb_execute(engine.con, agg), agg.execute())
    empty = t.filter(t.key < 0).select("n_sent", "label", "at")
    _same(_duckdb_execute(engine.con, empty), empty.execute())
    total = t.n_sent.sum()
    assert _duckdb_execute(engine.con, total) == total.execute()
    column = t.order_by("key").n_sent
    pd.testing.assert_series_equal(_duckdb_execute(engine.con, column), column.execute(), check_exact=True)


def test_member_feature_counts_on_the_sample_are_identical(sample):
    """The widest result the package fetches (a column per feature count, NULL where a member has none)."""
    from groupstats.engine import source_of
    from groupstats.tables.features import KEY_COLUMNS, member_feature_counts

    src = source_of(sample)
    src = src.cut(src.message_range_us()[1])
    expr = member_feature_counts(src, [src.cut_us], (7, 30, 90), 30, 90, {"read", "click", "sign_in"})
    expr = expr.order_by(list(KEY_COLUMNS))
    new, old = _duckdb_execute(src.engine.con, expr), expr.execute()
    _same(new, old)
    assert new.isna().any().sum() >= 3
    # Ibis gives some of these sums as Decimal objects; the engine as numbers
    assert (old.dtypes == object).sum() > (new.dtypes == object).sum()


def test_a_sum_beyond_int64_keeps_ibis_conversion(engine):
    t = engine.register(pd.DataFrame({"g": [1, 1, 2], "x": [9 * 10**18, 9 * 10**18, 5]}))
    expr = t.group_by("g").aggregate(s=t.x.sum()).order_by("g")
    new, old = _duckdb_execute(engine.con, expr), expr.execute()
    pd.testing.assert_frame_equal(new, old, check_exact=True)  # not cast: 1.8e19 does not fit in int64
    assert int(new["s"].iloc[0]) == 18 * 10**18
    small = t.filter(t.g == 2).group_by("g").aggregate(s=t.x.sum())
    assert str(_duckdb_execute(engine.con, small)["s"].dtype) == "int64"
