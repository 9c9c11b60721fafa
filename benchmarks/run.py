"""Benchmark suite: ``python -m benchmarks.run`` (or ``make bench``).

Generates (once, cached under ``benchmarks/data/``) simulated datasets of about
1M and 10M messages, then runs every case of :mod:`benchmarks.cases` in a fresh
process, ``--reps`` times, and records per case: the timed part (``inner``,
e.g. the derived table after loading), the whole process's wall time, its CPU
time (user + system: less sensitive than wall time to other load on a shared
machine) and its peak memory (max RSS, from ``os.wait4``). Writes
``benchmarks/results/results.json`` and ``results.md`` and prints the markdown.

Options
-------
--quick              1M messages only (also: environment variable ``BENCH_QUICK=1``).
--sizes 1,10         dataset sizes in millions of messages.
--reps N             repetitions per case (default 3; slow in-memory cases at 10M: 2).
--cases a,b          only these cases (an unknown name is an error that lists the known ones).
--large N            also build an N-million-message dataset partitioned by month from
                     relabelled copies of the 10M one, and time the out-of-core cases on it
                     (by default ``LARGE_CASES``; with --cases also the analysis commands, never the
                     in-memory pandas cases; one repetition each).
--many-groups        also time the cases (by default ``MANY_GROUPS_CASES``: features, derived tables
                     and the analysis commands) on the many-groups shape (2,150 groups x 60 days,
                     ~185k memberships; see ``data.ensure_many_groups``).
--tag LABEL          a label stored in results.json with the code measured (git HEAD, whether the
                     tree was dirty, a digest of the ``src`` imported; per variant too).
--timeout S          seconds before a case's process is killed (default 900).

A case asked for that a shape cannot run (an in-memory case at 100M, an analysis whose
experiment the dataset does not assign) is recorded and printed as refused, with the reason.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import data

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
PYTHON = sys.executable
GROUPSTATS = str(Path(PYTHON).with_name("groupstats"))

#: (case, what it times, engine, analysis module needed or None)
CASES = [
    ("load", "load + validate all tables", "pandas", None),
    ("post_outcomes", "post_outcomes (after load)", "pandas", None),
    ("member_day_activity", "member_day_activity (after load)", "pandas", None),
    ("group_day_metrics", "group_day_metrics (after load)", "pandas", None),
    ("member_features", "member_features (after load)", "pandas", None),
    ("scale_validate", "validate (out-of-core)", "duckdb", None),
    ("scale_post_outcomes", "post_outcomes (out-of-core)", "duckdb", None),
    ("scale_member_day_activity", "member_day_activity (out-of-core)", "duckdb", None),
    ("scale_member_day_activity_parquet", "member_day_activity (out-of-core, written to Parquet)", "duckdb", None),
    ("scale_group_day_metrics", "group_day_metrics (out-of-core)", "duckdb", None),
    ("scale_member_features", "member_features (out-of-core)", "duckdb", None),
    ("cli_features", "`groupstats features` whole process", "cli", None),
    ("cli_features_novalidate", "`groupstats features --no-validate` whole process", "cli", None),
    ("baseline_pandas", "baseline: 13 features, plain pandas groupby", "pandas", None),
    ("baseline_duckdb", "baseline: 13 features, one DuckDB SQL query", "duckdb", None),
    ("slot_experiment", "A/B: analyse_slot_experiment (after load)", "pandas", "groupstats.analyses.slot_experiment"),
    ("mix_experiment", "mix: analyse_mix_experiment (after load)", "pandas", "groupstats.analyses.content_mix"),
    ("churn_backtest", "churn: backtest (after load)", "pandas", "groupstats.analyses.churn"),
    ("segmentation", "segmentation: features + MemberSegmentation.fit", "pandas", "groupstats.analyses.segmentation"),
    ("cli_abtest", "`groupstats abtest --experiment slot_switchback` whole process", "cli", "groupstats.analyses.slot_experiment"),
    ("cli_mix", "`groupstats mix --experiment mix_policy` whole process", "cli", "groupstats.analyses.content_mix"),
    ("cli_segment", "`groupstats segment` whole process", "cli", "groupstats.analyses.segmentation"),
    ("churn_risk", "churn: open the dataset + churn_risk (library call)", "duckdb", "groupstats.analyses.churn"),
    ("cli_churn", "`groupstats churn --out CSV` whole process", "cli", "groupstats.analyses.churn"),
]
KNOWN = tuple(c[0] for c in CASES)
#: Whole-process analysis commands: case -> (command, options after the dataset path).
CLI_ANALYSES = {
    "cli_abtest": ("abtest", ["--experiment", "slot_switchback", "--metric", "replies"]),
    "cli_mix": ("mix", ["--experiment", "mix_policy", "--metric", "messages_per_member_day"]),
    "cli_segment": ("segment", []),
    "cli_churn": ("churn", []),  # plus --out <per-process CSV>, see command()
}
#: Experiments a case analyses: the dataset's assignments must have it, or the case is refused.
EXPERIMENT_OF = {"cli_abtest": "slot_switchback", "slot_experiment": "slot_switchback",
                 "cli_mix": "mix_policy", "mix_experiment": "mix_policy"}
#: Cases run on the many-groups shape: whole processes and out-of-core tables (its assignments have
#: both experiments, slot_switchback and mix_policy, and 60 days are enough for churn's one labelled cutoff).
MANY_GROUPS_CASES = ("cli_features", "cli_features_novalidate", "cli_abtest", "cli_mix", "cli_segment", "cli_churn",
                     "churn_risk", "scale_validate", "scale_member_features", "scale_post_outcomes",
                     "scale_group_day_metrics", "scale_member_day_activity", "scale_member_day_activity_parquet",
                     "baseline_duckdb")
#: Cases run out of core on the ~100M set (the in-memory cases and the analyses would load it into pandas).
LARGE_CASES = ("cli_features", "cli_features_novalidate", "scale_validate", "scale_member_day_activity",
               "scale_member_day_activity_parquet", "scale_group_day_metrics", "scale_member_features",
               "scale_post_outcomes", "baseline_duckdb")
#: Cases the ~100M set accepts with --cases: the default ones and the analysis commands (the engine
#: computes their derived tables on the files); not the pandas cases, which would load ~100M rows into memory.
LARGE_ALLOWED = (*LARGE_CASES, "cli_abtest", "cli_mix", "cli_segment", "cli_churn", "churn_risk")
#: In-memory cases that take minutes at 10M on a shared 2-core machine: fewer repetitions there.
SLOW = {"load", "post_outcomes", "member_day_activity", "group_day_metrics", "member_features", "slot_experiment",
        "mix_experiment", "churn_backtest", "segmentation"}
TIMEOUT = 900


def _available(case: str, module: str | None) -> str | None:
    """None if the case can run, else why not."""
    if module and importlib.util.find_spec(module) is None:
        return f"not available ({module} not present)"
    if case.startswith("scale_"):
        from groupstats.tables import scale as scale

        if not hasattr(scale, case[len("scale_"):].replace("_parquet", "")):
            return "not available (not implemented in groupstats.tables.scale)"
    return None


def command(case: str, path: Path, pid: int | None = None) -> tuple[list[str], Path | None]:
    """The command line of a case and the output file it writes (None if it writes none).

    Output files are named per runner process (``pid``), so concurrent runs do not collide.
    """
    pid = os.getpid() if pid is None else pid
    if case.startswith("cli_features"):
        out = Path(f"/tmp/groupstats_bench_features_{pid}.parquet")
        cmd = [GROUPSTATS, "features", str(path), "--out", str(out)]
        if case.endswith("novalidate"):
            cmd.append("--no-validate")
        return cmd, out
    if case in CLI_ANALYSES:
        name, options = CLI_ANALYSES[case]
        cmd = [GROUPSTATS, name, str(path), *options]
        if case == "cli_churn":
            out = Path(f"/tmp/groupstats_bench_churn_{pid}.csv")
            return [*cmd, "--out", str(out)], out
        return cmd, None
    return [PYTHON, "-m", "benchmarks.cases", case, str(path)], None


def assigned_experiments(path: Path) -> set[str] | None:
    """Experiment ids in a dataset's assignments table (None if it has no such table)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    for candidate, fmt in ((path / "assignments.parquet", "parquet"), (path / "assignments", "parquet"),
                           (path / "assignments.csv", "csv")):
        if candidate.exists():
            table = pads.dataset(candidate, format=fmt).to_table(columns=["experiment_id"])
            return {str(x) for x in pc.unique(table.column("experiment_id")).to_pylist() if x is not None}
    return None


def refusal(case: str, path: Path, shape: str, allowed: tuple[str, ...] | None) -> str | None:
    """Why ``case`` cannot run on the dataset ``path`` of ``shape`` (None if it can)."""
    if allowed is not None and case not in allowed:
        return (f"refused: not run on the {shape} shape (its cases: {', '.join(c for c in KNOWN if c in allowed)})")
    experiment = EXPERIMENT_OF.get(case)
    if experiment:
        have = assigned_experiments(path)
        if have is None:
            return f"refused: {path} has no assignments table (needs experiment '{experiment}')"
        if experiment not in have:
            return (f"refused: {path}'s assignments have no experiment '{experiment}' "
                    f"(they have: {', '.join(sorted(have)) or 'none'})")
    return None


def snapshot(rev: str) -> tuple[str, str]:
    """Extract ``src`` of git revision ``rev`` of this repository (``git archive``) to a folder under /tmp;
    return (its src folder, the full commit id). The commit is recorded in ``COMMIT`` beside it."""
    import tarfile
    import tempfile

    repo = ROOT.parent
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"--variant: no git revision {rev!r} in {repo}")
    sha = commit.stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"groupstats_bench_src_{sha[:12]}"
    if not (folder / "COMMIT").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha, "src"],
                                 capture_output=True, check=True).stdout
        import io

        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        (folder / "COMMIT").write_text(sha + "\n")
    return str(folder / "src"), sha


def code_id(src: str | Path | None = None) -> dict:
    """What code a run measures: the git HEAD of the folder (and whether the tree was dirty there) when
    it is in a git work tree, and a digest of its Python files (which also identifies a snapshot made
    with ``git archive``). ``src``: the folder groupstats is imported from (default: this checkout's src)."""
    import hashlib

    folder = Path(src).resolve() if src else ROOT.parent / "src"
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*.py")):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes())
    out = {"src": str(folder), "src_sha256": digest.hexdigest()[:16]}

    def git(*args):
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if (folder.parent / "COMMIT").exists():  # a snapshot made by snapshot(): exactly that commit, clean
        out.update({"git_head": (folder.parent / "COMMIT").read_text().strip(), "dirty": False, "snapshot": True})
    elif head:
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
        out.update({"git_head": head, "dirty": bool(dirty), "dirty_files": (dirty or "").splitlines()[:20]})
    return out


def error_summary(stderr: str, limit: int = 600) -> str:
    """The error a failed case printed: its last exception line (``SomeError: ...``, for DuckDB errors
    the line that says what ran out) rather than only the last line, which is often a documentation link."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "failed (no output)"
    for i in range(len(lines) - 1, -1, -1):
        head = lines[i].split(":", 1)[0]
        if head.endswith(("Error", "Exception")) or head.startswith("error"):
            return " ".join(lines[i:])[:limit]
    return lines[-1][:limit]


def run_once(case: str, path: Path, src: str | None = None) -> dict:
    """Run one case in a fresh process; return wall/CPU seconds, inner seconds, peak RSS and the
    machine's load averages (1, 5, 15 min, as ``uptime`` prints them) before and after.

    ``src``: another checkout's ``src`` folder to import groupstats from (PYTHONPATH), to time a
    version before a change against the current one in the same run.
    """
    cmd, out_file = command(case, path)
    loads = os.getloadavg()
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), str(ROOT.parent)])
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    timeout = float(os.environ.get("GROUPSTATS_BENCH_TIMEOUT", TIMEOUT))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        usage = _child_usage()
        return {"error": f"timeout after {timeout:.0f} s (peak RSS {usage['maxrss_mb']:.0f} MB, "
                         f"CPU {usage['cpu']:.0f} s when killed)"}
    finally:
        if out_file is not None:
            out_file.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN as a running max / sum
    usage = _child_usage()
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode} after {wall:.0f} s (peak RSS {usage['maxrss_mb']:.0f} MB): "
                         + error_summary(stderr), "load_before": [round(x, 2) for x in loads],
                "load_after": [round(x, 2) for x in os.getloadavg()],
                "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    result = {"wall_s": wall, "cpu_s": usage["cpu"], "peak_rss_mb": usage["maxrss_mb"], "load1": loads[0],
              "load_before": [round(x, 2) for x in loads],
              "load_after": [round(x, 2) for x in os.getloadavg()],
              "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    if case.startswith("cli_"):
        result["inner_s"] = wall
    else:
        line = json.loads(stdout.strip().splitlines()[-1])
        result["inner_s"] = line["seconds"]
        result["rows"] = line["rows"]
    return result


_PREV = {"cpu": 0.0}


def _child_usage() -> dict:
    """CPU time of the last reaped child (difference of RUSAGE_CHILDREN sums) and its max RSS.

    ``ru_maxrss`` of RUSAGE_CHILDREN is the largest of all reaped children, so each
    case's peak is measured exactly only when it is at least as large as the earlier
    ones; :func:`_run_isolated` runs every case in a fresh runner process for that.
    """
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    out = {"cpu": cpu - _PREV["cpu"], "maxrss_mb": ru.ru_maxrss / 1024}
    _PREV["cpu"] = cpu
    return out


def _run_isolated(case: str, path: Path, reps: int, src: str | None = None) -> list[dict]:
    """Run ``reps`` repetitions of a case, each from a fresh runner (so max RSS is that case's)."""
    results = []
    for _ in range(reps):
        extra = ["--_src", src] if src else []
        proc = subprocess.run([PYTHON, "-m", "benchmarks.run", "--_one", case, str(path), *extra], cwd=ROOT.parent,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            results.append({"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]})
        else:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if "error" in results[-1]:
            break
    return results


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"status": runs[0]["error"] if runs else "not run",
                "failed_run": {k: runs[0].get(k) for k in ("at", "load_before", "load_after")} if runs else None}
    out = {"status": "ok", "n": len(ok), "rows": ok[0].get("rows"),
           "runs": [{k: r.get(k) for k in ("at", "wall_s", "cpu_s", "peak_rss_mb", "load_before", "load_after")}
                    for r in ok]}
    for key in ("inner_s", "wall_s", "cpu_s", "peak_rss_mb", "load1"):
        values = [r[key] for r in ok]
        out[key] = statistics.median(values)
        out[key + "_min"], out[key + "_max"] = min(values), max(values)
    return out


def markdown(results: dict) -> str:
    meta = results["meta"]
    code = meta.get("code", {})
    head = (f"git HEAD {code['git_head'][:10]}{' (dirty tree)' if code.get('dirty') else ''}"
            if code.get("git_head") else f"src {code.get('src', '?')}")
    variants = "; ".join(f"variant {name}: " + (f"{c['git_head'][:10]}{' dirty' if c.get('dirty') else ''}"
                                                  if c.get("git_head") else c["src"]) + f" (src {c['src_sha256']})"
                         for name, c in meta.get("variants", {}).items())
    lines = [f"Run {meta['date']} on {meta['machine']} ({meta['cores']} cores), Python {meta['python']}; "
             f"{head}{'; ' + variants if variants else ''}{'; tag ' + meta['tag'] if meta.get('tag') else ''}; "
             f"load average before the run {meta['load_before']:.1f} (other developers' jobs share the cores).",
             "", "Times in seconds: median of n runs [min-max]. *inner*: the timed call (after loading, where "
                 "the case loads); *wall*/*CPU*: the whole process (start-up, imports, loading); peak RSS of the "
                 "process. Ratios: whole-process wall and CPU time against the DuckDB SQL baseline of the same "
                 "shape in the same run; load: the 1-minute load average before the case's runs (median).", ""]
    lines.append("| size | case | n | inner s | wall s | CPU s | peak RSS MB | wall / DuckDB | CPU / DuckDB |"
                 " wall / pandas | load |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, cases in results["sizes"].items():
        base = cases.get("baseline_duckdb", {})
        pbase = cases.get("baseline_pandas", {})
        described = {x[0]: x[1] for x in CASES}

        def position(key):
            name = key.split("@")[0]
            return (KNOWN.index(name) if name in KNOWN else len(KNOWN), key)

        for case in sorted(cases, key=position):
            name, _, variant = case.partition("@")
            desc = described.get(name, name) + (f" [{variant}]" if variant else "")
            r = cases.get(case)
            if r is None:
                continue
            label = f"{desc}"
            if r["status"] != "ok":
                lines.append(f"| {size} | {label} | | {r['status']} | | | | | | | |")
                continue

            def rng(k, fmt="{:.2f}"):
                return f"{fmt.format(r[k])} [{fmt.format(r[k + '_min'])}-{fmt.format(r[k + '_max'])}]"

            def ratio(key, b):
                return f"{r[key] / b[key]:.2f}" if b.get("status") == "ok" else ""

            lines.append(f"| {size} | {label} | {r['n']} | {rng('inner_s')} | {rng('wall_s')} | {rng('cpu_s')} | "
                         f"{r['peak_rss_mb']:.0f} | {ratio('wall_s', base)} | {ratio('cpu_s', base)} | "
                         f"{ratio('wall_s', pbase)} | {r['load1']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="1,10", help="sizes in millions of messages, or 'none'")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cases", default=None)
    parser.add_argument("--slow-reps", type=int, default=2,
                        help="repetitions of the slow in-memory cases at 10M messages and more")
    parser.add_argument("--large", type=int, default=0)
    parser.add_argument("--many-groups", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--merge", action="store_true",
                        help="update the cases run in an existing results.json instead of starting afresh")
    parser.add_argument("--interleave", action="store_true",
                        help="run the cases of a dataset in turns (A, B, C, A, B, C, ...) rather than all "
                             "repetitions of one case after the other: fairer ratios on a shared machine")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC",
                        help="also run the cases with groupstats imported from SRC (another checkout's src "
                             "folder), recorded as CASE@NAME; e.g. before=/tmp/before/src; SRC git:REV "
                             "extracts REV's src from this repository (e.g. head=git:HEAD: the committed code, "
                             "not the shared tree's uncommitted edits)")
    parser.add_argument("--variants-only", action="store_true",
                        help="with --variant: run groupstats only from the variants' sources (the baselines too)")
    parser.add_argument("--tag", default=None, help="a label for this run, stored in results.json")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds before a case's process is killed (default {TIMEOUT})")
    parser.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_src", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        print(json.dumps(run_once(args._one[0], Path(args._one[1]), args._src)))
        return 0
    if any("=" not in v for v in args.variant):
        parser.error("--variant takes NAME=SRC, e.g. before=/tmp/before/src")
    variants = dict(v.split("=", 1) for v in args.variant)
    variants = {name: snapshot(src[4:])[0] if src.startswith("git:") else src for name, src in variants.items()}
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    sizes = [1] if quick else [] if args.sizes in ("", "none") else [int(s) for s in args.sizes.split(",")]
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
    unknown = [c for c in wanted or () if c not in KNOWN]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}; known cases: {', '.join(KNOWN)}")
    os.environ["GROUPSTATS_BENCH_TIMEOUT"] = str(args.timeout)  # read by the --_one runners
    results = {"meta": {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
                        "cores": os.cpu_count(), "python": platform.python_version(),
                        "load_before": os.getloadavg()[0], "tag": args.tag, "timeout_s": args.timeout,
                        "argv": sys.argv[1:] if argv is None else list(argv),
                        "code": code_id(),
                        "variants": {name: code_id(src) for name, src in variants.items()}}, "sizes": {}}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.merge and (out_dir / "results.json").exists():
        previous = json.loads((out_dir / "results.json").read_text())
        previous["meta"].setdefault("merged_runs", []).append(
            {k: results["meta"][k] for k in ("date", "tag", "code", "variants", "argv")})
        results["sizes"] = previous["sizes"]
        results["meta"] = {**previous["meta"], **{k: results["meta"][k] for k in
                                                  ("load_before", "tag", "code", "variants", "argv")}}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    def save():
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))
        (out_dir / "results.md").write_text(markdown(results))

    plan = [(f"{m}M", data.ensure_dataset, m) for m in sizes]
    if args.large:
        plan.append((f"{args.large}M (partitioned by month)", None, args.large))
    if args.many_groups:
        plan.append(("many groups (2,150 x 60 days)", "many_groups", 0))
    for label, make, millions in plan:
        if make == "many_groups":
            path, default, allowed = data.ensure_many_groups(log=log), MANY_GROUPS_CASES, None
            shape = "many-groups"
        elif make is not None:
            log(f"dataset {label}: {data.dataset_dir(millions)}")
            path, default, allowed, shape = make(millions, log=log), None, None, f"{millions}M"
        else:
            base = data.ensure_dataset(10, log=log)
            copies = max(1, round(millions / 10))
            path = data.replicate(base, data.DATA_DIR / f"rep_{copies * 10}m", copies, log=log)
            default, allowed, shape = LARGE_CASES, LARGE_ALLOWED, f"{copies * 10}M (out of core)"
        names = [c for c in CASES if (c[0] in wanted if wanted else default is None or c[0] in default)]
        meta_file = path / "dataset.json"
        n_msgs = json.loads(meta_file.read_text()).get("n_messages") if meta_file.exists() else None
        cases = results["sizes"].setdefault(label, {})
        results["meta"].setdefault("messages", {})[label] = n_msgs
        todo = []
        for case, desc, engine, module in names:
            why = refusal(case, path, shape, allowed) or _available(case, module)
            if why:
                cases[case] = {"status": why}
                log(f"  {case}: {why}")
                continue
            if make is None:  # the ~100M set: one repetition of each case
                reps = 1
            elif make != "many_groups" and millions >= 10 and case in SLOW:
                reps = max(1, min(args.reps, args.slow_reps))
            else:
                reps = args.reps
            baseline = case.startswith("baseline_")
            if baseline or not args.variants_only:
                todo.append((case, None, reps))
            todo += [(case, name, reps) for name in variants if not baseline]
        runs_of: dict = {}
        code_ids = {None: results["meta"]["code"], **results["meta"]["variants"]}
        rounds = max((r for *_, r in todo), default=0) if args.interleave else 1
        for round_ in range(rounds):
            for case, variant, reps in todo:
                key = case if variant is None else f"{case}@{variant}"
                if args.interleave and (round_ >= reps or any("error" in r for r in runs_of.get(key, ()))):
                    continue
                runs = _run_isolated(case, path, 1 if args.interleave else reps,
                                     variants.get(variant) if variant else None)
                runs_of.setdefault(key, []).extend(runs)
                cases[key] = {**summarise(runs_of[key]), "code": code_ids.get(variant)}
                r = cases[key]
                log(f"  {key}: " + (f"wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, "
                                    f"peak {r['peak_rss_mb']:.0f} MB, load {os.getloadavg()[0]:.1f}"
                                    if r["status"] == "ok" else r["status"]))
                save()
    save()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
