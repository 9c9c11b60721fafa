"""The benchmark runner's command lines, case selection and refusals (no dataset is timed here)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks import cases, run


def test_unknown_case_names_are_refused_listing_the_known_ones(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        run.main(["--sizes", "none", "--cases", "baseline_duckdb,churn,cli_nothing", "--out", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown case(s): churn, cli_nothing" in err
    for known in ("cli_churn", "churn_risk", "baseline_duckdb", "cli_features_novalidate"):
        assert known in err
    assert not (tmp_path / "results.json").exists()


def test_every_case_of_the_runner_has_a_definition():
    cli = {c for c in run.KNOWN if c.startswith("cli_")}
    assert cli == {"cli_features", "cli_features_novalidate", *run.CLI_ANALYSES}
    assert set(run.KNOWN) - cli <= set(cases.CASES)
    assert "churn_risk" in run.KNOWN and "cli_churn" in run.KNOWN
    assert set(run.MANY_GROUPS_CASES) <= set(run.KNOWN) and set(run.LARGE_CASES) <= set(run.LARGE_ALLOWED) <= set(
        run.KNOWN)


def test_cli_churn_writes_its_csv_to_a_file_of_its_own_process(tmp_path):
    cmd, out = run.command("cli_churn", tmp_path, pid=4242)
    assert cmd == [run.GROUPSTATS, "churn", str(tmp_path), "--out", "/tmp/groupstats_bench_churn_4242.csv"]
    assert str(out) == cmd[-1]
    other, _ = run.command("cli_churn", tmp_path, pid=4243)
    assert other[-1] != cmd[-1]
    features, fout = run.command("cli_features_novalidate", tmp_path, pid=4242)
    assert features == [run.GROUPSTATS, "features", str(tmp_path), "--out", str(fout), "--no-validate"]
    abtest, none = run.command("cli_abtest", tmp_path, pid=4242)
    assert abtest[:3] == [run.GROUPSTATS, "abtest", str(tmp_path)] and "--out" not in abtest and none is None
    library, _ = run.command("churn_risk", tmp_path)
    assert library[-3:] == ["benchmarks.cases", "churn_risk", str(tmp_path)]


def _assignments(folder, experiments):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"experiment_id": experiments, "group_id": [f"g{i}" for i in range(len(experiments))]}
                 ).to_parquet(folder / "assignments.parquet")
    return folder


def test_analyses_are_refused_when_the_dataset_does_not_assign_their_experiment(tmp_path):
    only_slots = _assignments(tmp_path / "a", ["slot_switchback", "slot_switchback"])
    assert run.refusal("cli_abtest", only_slots, "many-groups", run.MANY_GROUPS_CASES) is None
    why = run.refusal("cli_mix", only_slots, "many-groups", run.MANY_GROUPS_CASES)
    assert why.startswith("refused:") and "'mix_policy'" in why and "slot_switchback" in why
    none = tmp_path / "b"
    none.mkdir()
    assert "no assignments table" in run.refusal("cli_abtest", none, "10M", None)
    # cases without an experiment do not need assignments
    assert run.refusal("cli_segment", none, "many-groups", run.MANY_GROUPS_CASES) is None
    assert run.refusal("cli_churn", none, "many-groups", run.MANY_GROUPS_CASES) is None


def test_the_100m_set_refuses_the_in_memory_cases_by_name():
    for case in ("load", "member_features", "baseline_pandas", "slot_experiment"):
        why = run.refusal(case, run.data.DATA_DIR, "100M (out of core)", run.LARGE_ALLOWED)
        assert why.startswith("refused: not run on the 100M (out of core) shape")
        listed = why.split("(its cases: ")[1].rstrip(")").split(", ")
        assert "scale_member_features" in listed and "cli_churn" in listed and case not in listed
    assert run.refusal("scale_validate", run.data.DATA_DIR, "100M (out of core)", run.LARGE_ALLOWED) is None


def test_a_refused_case_is_recorded_and_shown_not_skipped(tmp_path, monkeypatch):
    folder = _assignments(tmp_path / "shape", ["slot_switchback"])
    monkeypatch.setattr(run.data, "ensure_many_groups", lambda log=print: folder)
    assert run.main(["--sizes", "none", "--many-groups", "--cases", "cli_mix", "--out", str(tmp_path / "r"),
                     "--tag", "test"]) == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    shape = results["sizes"]["many groups (2,150 x 60 days)"]
    assert shape["cli_mix"]["status"].startswith("refused:") and "mix_policy" in shape["cli_mix"]["status"]
    assert list(shape) == ["cli_mix"]
    table = (tmp_path / "r" / "results.md").read_text()
    assert "refused:" in table and "mix_policy" in table
    meta = results["meta"]
    assert meta["tag"] == "test" and meta["code"]["src"].endswith("src") and len(meta["code"]["src_sha256"]) == 16


def test_code_id_records_head_and_dirtiness_of_the_checkout_and_of_a_snapshot(tmp_path):
    code = run.code_id()
    assert len(code["git_head"]) == 40 and isinstance(code["dirty"], bool)
    snap = tmp_path / "snap"
    (snap / "src" / "pkg").mkdir(parents=True)
    (snap / "src" / "pkg" / "a.py").write_text("x = 1\n")
    (snap / "COMMIT").write_text("f" * 40 + "\n")
    first = run.code_id(snap / "src")
    assert first["git_head"] == "f" * 40 and first["dirty"] is False and first["snapshot"] is True
    (snap / "src" / "pkg" / "a.py").write_text("x = 2\n")
    assert run.code_id(snap / "src")["src_sha256"] != first["src_sha256"]


def test_the_baseline_reads_a_month_partitioned_messages_folder(tmp_path):
    (tmp_path / "messages" / "month=2026-01").mkdir(parents=True)
    assert cases.read_parquet_sql(tmp_path, "messages") == (
        f"read_parquet('{tmp_path / 'messages'}/**/*.parquet', hive_partitioning = false)")
    assert cases.read_parquet_sql(tmp_path, "members") == f"read_parquet('{tmp_path / 'members'}.parquet')"


def test_markdown_shows_ratios_peak_memory_load_and_the_code():
    ok = {"status": "ok", "n": 1, "inner_s": 2.0, "wall_s": 2.0, "cpu_s": 4.0, "peak_rss_mb": 1000.0, "load1": 3.5}
    ok = {**ok, **{f"{k}_{m}": ok[k] for k in ("inner_s", "wall_s", "cpu_s") for m in ("min", "max")}}
    slow = {**ok, "wall_s": 6.0, "cpu_s": 10.0, "peak_rss_mb": 812.0, "load1": 7.25}
    results = {"meta": {"date": "d", "machine": "m", "cores": 2, "python": "3", "load_before": 1.0, "tag": "t",
                        "code": {"src": "/x/src", "src_sha256": "0" * 16, "git_head": "a" * 40, "dirty": True},
                        "variants": {"head": {"src": "/s/src", "src_sha256": "1" * 16, "git_head": "b" * 40,
                                              "dirty": False}}},
               "sizes": {"10M": {"baseline_duckdb": ok, "cli_churn@head": slow}}}
    text = run.markdown(results)
    assert "git HEAD aaaaaaaaaa (dirty tree)" in text and "variant head: bbbbbbbbbb" in text
    row = next(line for line in text.splitlines() if "groupstats churn" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6:] == ["812", "3.00", "2.50", "", "7.2"]


def test_replicate_relabels_each_copy_and_resumes_after_an_interrupted_copy(tmp_path):
    import duckdb

    from benchmarks import data

    sample = data.DATA_DIR.parent.parent / "data" / "sample"
    dst = tmp_path / "rep"
    data.replicate(sample, dst, 2, log=lambda m: None)
    con = duckdb.connect()

    def read(name, folder=dst):
        where = folder / name
        return (f"read_parquet('{where}/**/*.parquet', hive_partitioning = false)" if where.is_dir()
                else f"read_parquet('{where}.parquet')")

    n, distinct, r1 = con.execute(
        f"SELECT count(*), count(DISTINCT message_id), "
        f"count(*) FILTER (message_id LIKE 'r1\\_%' ESCAPE '\\') FROM {read('messages')}").fetchone()
    (orig,) = con.execute(f"SELECT count(*) FROM {read('messages', sample)}").fetchone()
    assert n == distinct == 2 * orig and r1 == orig
    for name in ("events", "members", "posts", "groups", "assignments"):
        (copied,) = con.execute(f"SELECT count(*) FROM {read(name)}").fetchone()
        (source,) = con.execute(f"SELECT count(*) FROM {read(name, sample)}").fetchone()
        assert copied == 2 * source, name
    # a reply points into its own copy; the group of a message exists in that copy's groups
    (bad,) = con.execute(
        f"SELECT count(*) FROM {read('messages')} m ANTI JOIN {read('groups')} g USING (group_id)").fetchone()
    (cross,) = con.execute(
        f"""SELECT count(*) FROM {read('messages')} WHERE reply_to IS NOT NULL
            AND split_part(reply_to, '_', 1) <> split_part(message_id, '_', 1)""").fetchone()
    assert bad == 0 and cross == 0
    assert json.loads((dst / "dataset.json").read_text())["copies"] == 2 and not list(dst.glob(".*_done"))
    # interrupted in copy 1 of the events: copy 0 is kept, copy 1 rewritten, nothing doubled
    (dst / "COMPLETE").unlink()
    (dst / ".messages_r0_done").write_text("ok\n")
    (dst / ".messages_r1_done").write_text("ok\n")
    (dst / ".events_r0_done").write_text("ok\n")
    import shutil

    stray = next((dst / "events").rglob("r1_0.parquet"))
    shutil.copy(stray, stray.with_name("r1_9.parquet"))  # left by the interrupted copy
    kept = {p: p.stat().st_mtime_ns for p in (dst / "events").rglob("r0_*.parquet")}
    data.replicate(sample, dst, 2, log=lambda m: None)
    assert con.execute(f"SELECT count(*) FROM {read('events')}").fetchone()[0] == 2 * con.execute(
        f"SELECT count(*) FROM {read('events', sample)}").fetchone()[0]
    assert {p: p.stat().st_mtime_ns for p in (dst / "events").rglob("r0_*.parquet")} == kept
    assert (dst / "COMPLETE").exists() and not stray.with_name("r1_9.parquet").exists()


def test_a_failed_case_reports_its_exception_not_the_documentation_link_after_it():
    stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
              "_duckdb.OutOfMemoryException: Out of Memory Error: could not allocate block of size 256.0 KiB "
              "(488.2 MiB/488.2 MiB used)\n\nPossible solutions:\n* Reducing the number of threads\n"
              "See also https://duckdb.org/docs/current/guides/performance/how_to_tune_workloads\n")
    summary = run.error_summary(stderr)
    assert summary.startswith("_duckdb.OutOfMemoryException: Out of Memory Error: could not allocate")
    assert summary.endswith("how_to_tune_workloads")
    assert run.error_summary("error: The 'posts' table is missing in /x\n") == "error: The 'posts' table is missing in /x"
    assert run.error_summary("") == "failed (no output)"


def test_a_failed_run_keeps_its_time_and_load_and_is_not_repeated(tmp_path, monkeypatch):
    folder = _assignments(tmp_path / "shape", ["slot_switchback", "mix_policy"])
    monkeypatch.setattr(run.data, "ensure_many_groups", lambda log=print: folder)
    calls = []

    def failing(case, path, reps, src=None):
        calls.append(case)
        return [{"error": "exit 1 after 3 s (peak RSS 9 MB): _duckdb.OutOfMemoryException: Out of Memory Error",
                 "at": "2026-12-05 19:00:00 UTC", "load_before": [4.0, 3.0, 2.0], "load_after": [5.0, 3.5, 2.1]}]

    monkeypatch.setattr(run, "_run_isolated", failing)
    assert run.main(["--sizes", "none", "--many-groups", "--interleave", "--reps", "2", "--cases", "cli_segment",
                     "--out", str(tmp_path / "r")]) == 0
    assert calls == ["cli_segment"]  # the second round does not re-run a failed case
    shape = json.loads((tmp_path / "r" / "results.json").read_text())["sizes"]["many groups (2,150 x 60 days)"]
    assert shape["cli_segment"]["status"].endswith("OutOfMemoryException: Out of Memory Error")
    assert shape["cli_segment"]["failed_run"] == {"at": "2026-12-05 19:00:00 UTC", "load_before": [4.0, 3.0, 2.0],
                                                  "load_after": [5.0, 3.5, 2.1]}
