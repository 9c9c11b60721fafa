"""The one definition of each derived table, run by Spark (local mode), equals DuckDB's.

One module with one Spark session (startup is slow): the sample dataset is read by
Spark from its Parquet folder, every derived table is computed there and compared
with the same table computed by the embedded DuckDB, frame for frame (values,
dtypes, row order). Needs the ``spark`` extra (pyspark) and Java 17; CI installs
both (``make test``), so there it must run.
"""
from __future__ import annotations

import os

import pandas as pd
import pytest

if os.environ.get("CI"):
    import pyspark  # noqa: F401  - in CI the Spark engine must be tested, not skipped
else:
    pytest.importorskip("pyspark")

from groupstats.engine import Source, connect  # noqa: E402
from groupstats.paths import sample_data_path  # noqa: E402
from groupstats.tables import derived, features  # noqa: E402


#: JVM options of the test's local Spark: only the quick (C1) JIT compiler and the serial collector. The
#: tests run ~40 small queries in a JVM that lives a minute, so the optimising compiler's background
#: threads cost more CPU than their code saves (measured: ~100 -> ~55 s of CPU for this module, the same
#: frames). What is asserted is unchanged; a PYSPARK_SUBMIT_ARGS set by whoever runs the tests wins.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="module")
def spark_source():
    given = os.environ.get("PYSPARK_SUBMIT_ARGS")
    if given is None:
        os.environ["PYSPARK_SUBMIT_ARGS"] = f'--driver-java-options "{TEST_JVM_OPTIONS}" pyspark-shell'
    try:
        engine = connect("spark", spark_master="local[2]")  # the JVM starts here, with the options
    finally:
        if given is None:
            del os.environ["PYSPARK_SUBMIT_ARGS"]
    assert engine.spark.conf.get("spark.sql.session.timeZone") == "UTC"
    return Source.from_path(sample_data_path(), engine=engine)


@pytest.fixture(scope="module")
def duck_source():
    return Source.from_path(sample_data_path())


def test_post_outcomes_identical(spark_source, duck_source):
    kwargs = {"window": "90min", "exclude_red_packets": "10min", "as_of": "2026-03-20"}
    got = derived.post_outcomes(spark_source, **kwargs)
    expected = derived.post_outcomes(duck_source, **kwargs)
    pd.testing.assert_frame_equal(got, expected)
    assert got["responses"].sum() > 0 and got["readers"].sum() > 0 and not got["complete"].all()


def test_member_day_activity_identical(spark_source, duck_source):
    got = derived.member_day_activity(spark_source)
    expected = derived.member_day_activity(duck_source)
    pd.testing.assert_frame_equal(got, expected)
    assert {"n_read", "n_sign_in"} <= set(got.columns) and len(got) > 10_000


def test_group_day_metrics_identical(spark_source, duck_source):
    got = derived.group_day_metrics(spark_source, as_of="2026-03-01")
    expected = derived.group_day_metrics(duck_source, as_of="2026-03-01")
    pd.testing.assert_frame_equal(got, expected)
    assert got["n_members"].gt(0).all()


def test_member_features_identical(spark_source, duck_source):
    got = features.member_features(spark_source, cutoff="2026-03-15")
    expected = features.member_features(duck_source, cutoff="2026-03-15")
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs
    assert got["read_rate"].notna().any() and got["messages_total"].sum() > 0


def test_member_features_at_many_cutoffs_identical(spark_source, duck_source):
    """Several cutoffs in one pass (segments, spans of days, events per segment), midnights and one inside a day."""
    cutoffs = ["2026-02-01", "2026-03-01", "2026-03-15 12:30", "2026-04-01"]
    got = features.member_features_at(spark_source, cutoffs, windows=(7, 30))
    expected = features.member_features_at(duck_source, cutoffs, windows=(7, 30))
    for g, e in zip(got, expected):
        pd.testing.assert_frame_equal(g, e)
        assert g.attrs == e.attrs
    assert len({len(g) for g in got}) > 1 and got[-1]["sign_in_days_30d"].sum() > 0



def test_churn_features_and_labels_identical(spark_source, duck_source):
    """The churn-only features (all cutoffs of a panel in one pass), labels and silence spells."""
    from groupstats.analyses import churn

    got = churn.churn_features(spark_source, "2026-03-15", activity=("message", "read"))
    expected = churn.churn_features(duck_source, "2026-03-15", activity=("message", "read"))
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs
    assert got["act_days_28d"].sum() > 0 and got["read_days_14d"].sum() > 0 and got["never_active"].any()
    got = churn.churn_labels(spark_source, "2026-03-15", 30, "either")
    pd.testing.assert_frame_equal(got, churn.churn_labels(duck_source, "2026-03-15", 30, "either"))
    assert 0 < got["churned"].mean() < 1
    got = churn.silence_spells(spark_source, as_of="2026-02-15")
    pd.testing.assert_frame_equal(got, churn.silence_spells(duck_source, as_of="2026-02-15"))
    assert got["returned"].any() and len(got) > 1000
