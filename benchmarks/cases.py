"""Benchmark cases; each runs in its own process: ``python -m benchmarks.cases CASE DATASET``.

A case prints one JSON line ``{"seconds": ..., "rows": ...}``: ``seconds`` is
the timed part (e.g. the derived table, after loading the dataset); the runner
also records the whole process's wall time and peak memory (max RSS).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

#: Baseline features: a dozen per-member activity features, the way an analyst would write them.
BASELINE_FEATURES = ("n_messages", "active_days", "recency_days", "tenure_days", "messages_7d", "messages_30d",
                     "messages_90d", "active_days_30d", "share_text", "share_replies", "share_mentions",
                     "share_evening", "share_weekend")
MSG_COLUMNS = ["group_id", "member_id", "sent_at", "msg_type", "reply_to", "n_mentions"]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _rows(out) -> int | None:
    try:
        return len(out)
    except TypeError:
        frame = out.to_frame() if hasattr(out, "to_frame") else None
        return None if frame is None else len(frame)


# ---- in-memory groupstats ---------------------------------------------------------------------------------
def case_load(path):
    from groupstats.data.dataset import load_dataset

    return _timed(lambda: load_dataset(path))


def _loaded(path, tables=None):
    from groupstats.data.dataset import load_dataset

    return load_dataset(path, tables=tables)


def case_post_outcomes(path):
    from groupstats.tables.derived import post_outcomes

    ds = _loaded(path)
    return _timed(lambda: post_outcomes(ds))


def case_member_day_activity(path):
    from groupstats.tables.derived import member_day_activity

    ds = _loaded(path)
    return _timed(lambda: member_day_activity(ds))


def case_group_day_metrics(path):
    from groupstats.tables.derived import group_day_metrics

    ds = _loaded(path)
    return _timed(lambda: group_day_metrics(ds))


def case_member_features(path):
    from groupstats.tables.features import member_features

    ds = _loaded(path)
    return _timed(lambda: member_features(ds))


def case_slot_experiment(path):
    from groupstats.analyses.slot_experiment import analyse_slot_experiment

    ds = _loaded(path)
    return _timed(lambda: analyse_slot_experiment(ds, "slot_switchback", seed=0))


def case_mix_experiment(path):
    from groupstats.analyses.content_mix import analyse_mix_experiment

    ds = _loaded(path)
    return _timed(lambda: analyse_mix_experiment(ds, "mix_policy"))


def case_churn_backtest(path):
    from groupstats.analyses.churn import backtest

    ds = _loaded(path)
    return _timed(lambda: backtest(ds, random_state=0))


def case_churn_risk(path):
    """What ``groupstats churn`` computes: the dataset opened on its engine (validated there), then churn_risk."""
    from groupstats.analyses.churn import churn_risk
    from groupstats.data.dataset import load_dataset

    return _timed(lambda: churn_risk(load_dataset(path), random_state=0))


def case_segmentation(path):
    from groupstats.tables.features import member_features
    from groupstats.analyses.segmentation import MemberSegmentation

    ds = _loaded(path)
    return _timed(lambda: MemberSegmentation(random_state=0).fit(member_features(ds)))


# ---- out-of-core (DuckDB over Parquet) ---------------------------------------------------------------------
def case_scale_member_day_activity(path):
    from groupstats.tables import scale as scale

    return _timed(lambda: scale.member_day_activity(path))


def case_scale_member_day_activity_parquet(path):
    import shutil

    from groupstats.tables import scale as scale

    import os

    out = Path(f"/tmp/groupstats_bench_member_day_activity_{os.getpid()}")  # concurrent runs do not collide
    shutil.rmtree(out, ignore_errors=True)
    try:
        seconds, n = _timed(lambda: scale.member_day_activity(path, out=out))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return seconds, [0] * int(n)


def case_scale_group_day_metrics(path):
    from groupstats.tables import scale as scale

    return _timed(lambda: scale.group_day_metrics(path))


def case_scale_post_outcomes(path):
    from groupstats.tables import scale as scale

    return _timed(lambda: scale.post_outcomes(path))


def case_scale_member_features(path):
    from groupstats.tables import scale as scale

    return _timed(lambda: scale.member_features(path))


def case_scale_validate(path):
    from groupstats.tables import scale as scale

    return _timed(lambda: scale.validate(path))


# ---- baselines ---------------------------------------------------------------------------------------------
def read_parquet_sql(path, name: str) -> str:
    """DuckDB SQL reading table ``name`` of a dataset folder: ``name.parquet``, or the folder ``name/`` of
    Parquet files (e.g. ``messages/month=2026-01/*.parquet`` in the ~100M set; the month is not a column)."""
    folder = Path(path) / name
    if folder.is_dir():
        return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = false)"
    return f"read_parquet('{Path(path) / name}.parquet')"


def case_baseline_pandas(path):
    """Plain pandas: read the needed columns, then groupby code as an analyst would write it."""
    import pandas as pd

    def run():
        m = pd.read_parquet(Path(path) / "messages.parquet", columns=MSG_COLUMNS)
        members = pd.read_parquet(Path(path) / "members.parquet", columns=["group_id", "member_id", "joined_at"])
        m = m[m["msg_type"] != "system"]
        cut = m["sent_at"].max()
        m["date"] = m["sent_at"].dt.tz_localize(None).dt.normalize()
        cut_date = cut.tz_localize(None).normalize()
        m["age"] = (cut_date - m["date"]).dt.days
        m["is_text"] = m["msg_type"] == "text"
        m["is_reply"] = m["reply_to"].notna()
        m["has_mention"] = m["n_mentions"].fillna(0) > 0
        m["evening"] = m["sent_at"].dt.hour.between(19, 22)
        m["weekend"] = m["sent_at"].dt.day_of_week >= 5
        for w in (7, 30, 90):
            m[f"in_{w}"] = m["age"] < w
        g = m.groupby(["group_id", "member_id"])
        f = g.agg(n_messages=("sent_at", "size"), last_at=("sent_at", "max"), active_days=("date", "nunique"),
                  messages_7d=("in_7", "sum"), messages_30d=("in_30", "sum"), messages_90d=("in_90", "sum"),
                  share_text=("is_text", "mean"), share_replies=("is_reply", "mean"),
                  share_mentions=("has_mention", "mean"), share_evening=("evening", "mean"),
                  share_weekend=("weekend", "mean"))
        f["active_days_30d"] = m[m["in_30"]].groupby(["group_id", "member_id"])["date"].nunique()
        f["active_days_30d"] = f["active_days_30d"].fillna(0)
        f["recency_days"] = (cut - f["last_at"]).dt.total_seconds() / 86400
        first_join = members.groupby(["group_id", "member_id"])["joined_at"].min()
        f["tenure_days"] = (cut - first_join.reindex(f.index)).dt.total_seconds() / 86400
        f = f.drop(columns="last_at").reset_index()
        f.to_parquet("/tmp/groupstats_bench_baseline_pandas.parquet", index=False)
        return f

    return _timed(run)


def case_baseline_duckdb(path):
    """One DuckDB SQL query over the Parquet files, written to Parquet."""
    import os

    import tempfile

    import duckdb

    out = f"/tmp/groupstats_bench_baseline_duckdb_{os.getpid()}.parquet"  # concurrent runs do not collide

    def run():
        # spill to the system's temporary folder (DuckDB's default is ./.tmp in the working directory)
        con = duckdb.connect(config={"temp_directory": str(Path(tempfile.gettempdir()) / "groupstats-bench")})
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        msgs = read_parquet_sql(path, "messages")
        members = read_parquet_sql(path, "members")
        con.execute(f"""
            COPY (
            WITH l AS (
                SELECT group_id, member_id, sent_at, msg_type, reply_to, n_mentions,
                       timezone('Asia/Shanghai', sent_at) AS lt
                FROM {msgs} WHERE msg_type <> 'system'),
            m AS (SELECT *, CAST(lt AS DATE) AS d, hour(lt) AS h, isodow(lt) AS dow FROM l),
            c AS (SELECT max(sent_at) AS cut, CAST(timezone('Asia/Shanghai', max(sent_at)) AS DATE) AS cut_date
                  FROM m),
            j AS (SELECT group_id, member_id, min(joined_at) AS joined FROM {members} GROUP BY ALL)
            SELECT group_id, member_id, count(*) AS n_messages, count(DISTINCT d) AS active_days,
                   (epoch(cut) - epoch(max(sent_at))) / 86400 AS recency_days,
                   (epoch(cut) - epoch(joined)) / 86400 AS tenure_days,
                   count(*) FILTER (cut_date - d < 7) AS messages_7d,
                   count(*) FILTER (cut_date - d < 30) AS messages_30d,
                   count(*) FILTER (cut_date - d < 90) AS messages_90d,
                   count(DISTINCT d) FILTER (cut_date - d < 30) AS active_days_30d,
                   avg((msg_type = 'text')::INT) AS share_text, avg((reply_to IS NOT NULL)::INT) AS share_replies,
                   avg((coalesce(n_mentions, 0) > 0)::INT) AS share_mentions,
                   avg((h BETWEEN 19 AND 22)::INT) AS share_evening, avg((dow >= 6)::INT) AS share_weekend
            FROM m CROSS JOIN c LEFT JOIN j USING (group_id, member_id)
            GROUP BY group_id, member_id, cut, cut_date, joined
            ) TO '{out}' (FORMAT parquet)""")
        return con.execute(f"SELECT count(*) FROM '{out}'").fetchone()

    seconds, n = _timed(run)
    os.unlink(out)
    return seconds, [0] * int(n[0])


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, path = argv[0], argv[1]
    if name not in CASES:
        print(f"unknown case {name!r}; known cases: {', '.join(sorted(CASES))}", file=sys.stderr)
        return 2
    seconds, out = CASES[name](path)
    print(json.dumps({"seconds": seconds, "rows": _rows(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
