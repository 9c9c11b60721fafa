"""Statistics engine against the specialised libraries, as whole processes in the same run.

``python -m benchmarks.stats_engine [--reps 3] [--cases a,b]``

Shapes (issue 16): a switchback table of 200,000 posts in 300 groups (clusters) over 26 weeks,
three arms switching by group-week, with group and week fixed effects; and 200,000 BG/NBD
customers. Each case runs in a fresh process; the runner records its wall time, CPU time
(user + system) and peak RSS (``os.wait4``), ``--reps`` times, and prints a markdown table with
each groupstats case's ratio to its reference in the same run:

* ``gs_mean_cr2``: ``groupstats compare TABLE --metric y --cluster group --fixed-effects group,week``
  (default CR2 with Bell-McCaffrey df) vs ``pf_feols_crv1``: ``pyfixest.feols("y ~ C(arm) | group + week",
  vcov={"CRV1": "group"})``;
* ``gs_count_cr2``: the same with ``--kind count --metric replies`` (PPML, CR2) vs ``pf_fepois_crv1``:
  ``pyfixest.fepois("replies ~ C(arm) | group + week", vcov={"CRV1": "group"})``;
* ``gs_mean_cr2_2150``: the first case on 258k posts in 2,150 groups over 9 weeks (the shape whose dense
  design ran out of memory) vs ``pf_feols_crv1_2150``;
* ``gs_bgnbd``: ``BetaGeoModel().fit`` on 200k customers vs ``lifetimes_bgnbd``:
  ``lifetimes.BetaGeoFitter().fit``.

Every process reads the same Parquet file and prints its estimate, so the work is comparable
(reading, fitting, inference, printing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
PYTHON = sys.executable
GROUPSTATS = str(Path(PYTHON).with_name("groupstats"))
SWITCHBACK = DATA / "switchback_200k.parquet"
CUSTOMERS = DATA / "bgnbd_200k.parquet"
#: the shape that ran out of memory in issue 16 (258k posts in 2,150 groups over 60 days)
MANY_GROUPS = DATA / "switchback_258k_2150groups.parquet"


def make_switchback(path: Path = SWITCHBACK, n_rows: int = 200_000, n_groups: int = 300, n_weeks: int = 26,
                    seed: int = 20261205) -> Path:
    """Posts of a switchback test: arm by group-week, group and week effects, unequal group sizes."""
    import numpy as np
    import pandas as pd

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 1.0, n_groups)
    group = rng.choice(n_groups, size=n_rows, p=size / size.sum())
    week = rng.integers(0, n_weeks, n_rows)
    arm_of_cell = rng.integers(0, 3, (n_groups, n_weeks))
    arm = arm_of_cell[group, week]
    g_eff, w_eff = rng.normal(0, 1.0, n_groups), rng.normal(0, 0.3, n_weeks)
    y = 3 + g_eff[group] + w_eff[week] + 0.05 * (arm == 1) + rng.normal(0, 1.5, n_rows)
    replies = rng.poisson(np.exp(0.5 + 0.5 * g_eff[group] + w_eff[week] + 0.05 * (arm == 2)) * rng.gamma(2, 0.5, n_rows))
    frame = pd.DataFrame({"group": np.char.add("g", group.astype(str)), "week": week,
                          "arm": np.array(["control", "B", "C"])[arm], "y": y, "replies": replies})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def make_many_groups(path: Path = MANY_GROUPS) -> Path:
    return make_switchback(path, n_rows=258_000, n_groups=2150, n_weeks=9, seed=20261206)


def make_customers(path: Path = CUSTOMERS, n: int = 200_000, seed: int = 20261205) -> Path:
    import numpy as np

    from groupstats.stats.bgnbd import simulate_bgnbd

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    sim = simulate_bgnbd([0.6, 3.0, 0.8, 2.5], rng.uniform(20, 52, n), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sim[["frequency", "recency", "T"]].to_parquet(path, index=False)
    return path


_PF = ("import pandas as pd, pyfixest as pf; d = pd.read_parquet({path!r}); "
       "f = pf.{fn}('{metric} ~ C(arm, contr.treatment(base=\"control\")) | group + week', d, vcov={{'CRV1': 'group'}}); "
       "print(f.tidy().to_string())")
CASES = {
    "gs_mean_cr2": ("groupstats compare, mean, group + week FE, CR2 (default)", "pf_feols_crv1",
                    lambda: [GROUPSTATS, "compare", str(SWITCHBACK), "--arm", "arm", "--metric", "y", "--cluster", "group",
                             "--fixed-effects", "group,week", "--control", "control", "--json"]),
    "pf_feols_crv1": ("pyfixest feols, group + week FE, CRV1", None,
                      lambda: [PYTHON, "-c", _PF.format(path=str(SWITCHBACK), fn="feols", metric="y")]),
    "gs_count_cr2": ("groupstats compare, count (PPML), group + week FE, CR2", "pf_fepois_crv1",
                     lambda: [GROUPSTATS, "compare", str(SWITCHBACK), "--arm", "arm", "--metric", "replies", "--kind",
                              "count", "--cluster", "group", "--fixed-effects", "group,week", "--control", "control",
                              "--json"]),
    "pf_fepois_crv1": ("pyfixest fepois, group + week FE, CRV1", None,
                       lambda: [PYTHON, "-c", _PF.format(path=str(SWITCHBACK), fn="fepois", metric="replies")]),
    "gs_mean_cr2_2150": ("groupstats compare, mean, 258k posts in 2,150 groups, group + week FE, CR2", "pf_feols_crv1_2150",
                         lambda: [GROUPSTATS, "compare", str(MANY_GROUPS), "--arm", "arm", "--metric", "y", "--cluster",
                                  "group", "--fixed-effects", "group,week", "--control", "control", "--json"]),
    "pf_feols_crv1_2150": ("pyfixest feols, 258k posts in 2,150 groups, CRV1", None,
                           lambda: [PYTHON, "-c", _PF.format(path=str(MANY_GROUPS), fn="feols", metric="y")]),
    "gs_bgnbd": ("groupstats BetaGeoModel.fit, 200k customers", "lifetimes_bgnbd",
                 lambda: [PYTHON, "-c", "import pandas as pd; from groupstats.stats.bgnbd import BetaGeoModel; "
                          f"d = pd.read_parquet({str(CUSTOMERS)!r}); "
                          "m = BetaGeoModel().fit(d.frequency, d.recency, d['T']); print(m.params_.to_dict())"]),
    "lifetimes_bgnbd": ("lifetimes BetaGeoFitter.fit, 200k customers", None,
                        lambda: [PYTHON, "-c", "import pandas as pd; from lifetimes import BetaGeoFitter; "
                                 f"d = pd.read_parquet({str(CUSTOMERS)!r}); "
                                 "m = BetaGeoFitter().fit(d.frequency, d.recency, d['T']); print(m.params_.to_dict())"]),
}


def run_once(cmd: list[str]) -> dict:
    """Wall, CPU (user + system) seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{err[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "out": out}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    make_switchback()
    make_many_groups()
    make_customers()
    names = [c for c in args.cases.split(",") if c]
    results = {}
    for rep in range(args.reps):            # interleave the cases so load changes hit all of them
        for name in names:
            res = run_once(CASES[name][2]())
            results.setdefault(name, []).append(res)
            print(f"rep {rep + 1} {name}: wall {res['wall']:.2f} s, cpu {res['cpu']:.2f} s, "
                  f"rss {res['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {args.reps} repetitions, median [min-max]\n")
    print("| case | wall s | CPU s | peak RSS MB | wall / reference | CPU / reference |")
    print("|---|---|---|---|---|---|")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "rss_mb")} for n, rs in results.items()}
    for name in names:
        label, ref, _ = CASES[name]
        rs = results[name]
        walls = [r["wall"] for r in rs]
        ratio_w = f"{med[name]['wall'] / med[ref]['wall']:.2f}" if ref in med else ""
        ratio_c = f"{med[name]['cpu'] / med[ref]['cpu']:.2f}" if ref in med else ""
        print(f"| {label} | {med[name]['wall']:.2f} [{min(walls):.2f}-{max(walls):.2f}] | {med[name]['cpu']:.2f} | "
              f"{med[name]['rss_mb']:.0f} | {ratio_w} | {ratio_c} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
