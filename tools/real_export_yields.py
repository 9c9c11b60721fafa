"""What each real export in tests/data/real yields: writes tests/data/real/YIELDS.md.

For every file: ``groupstats import auto`` (rows read, imported, rejected and skipped, by reason; members
and leavers), then ``groupstats report all --lang en`` on the imported dataset (which reports ran "ok" and
which are "not applicable", with the reason). Files whose imports are the same dataset (the same chat in
several date formats) share one report run. Refused files are listed with the first line of the refusal.

    .venv/bin/python tools/real_export_yields.py [--out tests/data/real/YIELDS.md] [--work DIR]

Takes a few minutes (one report batch per distinct dataset).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import re
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
#: Files whose every date reads both ways: the order their phone wrote (as in tests/test_real_exports.py).
DATE_ORDER = {"chatanalytics_android_en_4A_11M.txt": "mdy"}
#: Short names of the reports, in the index's order.
REPORTS = ["playbook_audit", "data_overview", "group_health", "member_segmentation", "churn_risk",
           "posting_time_ab", "content_mix", "experiment_monitor", "plan_slots"]


def _run(args: list) -> tuple[int, str, str]:
    from groupstats.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def dataset_digest(folder: Path) -> str:
    """What the analyses read of an imported dataset: its tables (group ids numbered in order of
    appearance: a chat's id depends on the exported text, e.g. its date format) and its time zone."""
    import pandas as pd

    digest = hashlib.sha256()
    for table in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(table)
        if "group_id" in frame:
            frame["group_id"] = pd.factorize(frame["group_id"])[0]
        digest.update(table.name.encode() + ",".join(frame.columns).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(str(json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("tz")).encode())
    return digest.hexdigest()[:16]


def _reasons(by_reason: dict) -> str:
    return ", ".join(f"{n} {code}" for code, n in sorted(by_reason.items())) if by_reason else ""


def _short(reason: str) -> str:
    """A reason in a few words for the table."""
    if "posts" in reason and "table" in reason:
        return "no posts table"
    if "Too little history" in reason:
        found = re.search(r"at least (\d+) days", reason)
        return f"too little history ({found.group(1)} days needed)" if found else "too little history"
    if "same outcome" in reason:
        return "every member has the same outcome"
    return reason.split(". ")[0][:80]


def yields(work: Path) -> list[dict]:
    salt = work / "salt.key"
    salt.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    rows, reports = [], {}
    for path in sorted(p for p in REAL.rglob("*") if p.is_file() and p.suffix != ".md"):
        rel = path.relative_to(REAL)
        out = work / "data" / re.sub(r"[^\w.-]+", "_", str(rel))
        args = ["import", "auto", path, "--out", out, "--salt-file", salt, "--json"]
        if path.name in DATE_ORDER:
            args += ["--date-order", DATE_ORDER[path.name]]
        code, stdout, err = _run(args)
        row = {"file": str(rel), "code": code}
        if code != 0:
            row["refusal"] = err.strip().splitlines()[0].removeprefix("error: ")
            rows.append(row)
            print(f"{rel}: refused", file=sys.stderr)
            continue
        counts = json.loads(stdout)
        (per_file,) = counts["per_file"].values()
        row.update(read=counts["read"], imported=counts["imported"], rejected=counts["rejected"],
                   rejected_by=_reasons(counts["rejected_by_reason"]), skipped=counts["skipped"],
                   skipped_by=_reasons(counts["skipped_by_reason"]), members=per_file["members"],
                   leavers=per_file["leavers"], date_order=DATE_ORDER.get(path.name))
        digest = dataset_digest(out)
        if digest not in reports:
            code, stdout, _ = _run(["report", "all", "--data", out, "--out", work / "reports" / digest,
                                    "--lang", "en"])
            index = json.loads((work / "reports" / digest / "index.json").read_text(encoding="utf-8"))
            reports[digest] = {"code": code, "reports": {r["name"]: r for r in index["reports"]},
                               "first": str(rel)}
        row["report"] = reports[digest]
        rows.append(row)
        print(f"{rel}: {row['read']} read, reports exit {reports[digest]['code']}", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["# What each real export yields",
             "",
             "Generated by `tools/real_export_yields.py` (do not edit by hand): `groupstats import auto` on each",
             "file of this folder, then `groupstats report all --lang en` on the imported dataset. read =",
             "imported + rejected + skipped (rows of the file: WhatsApp message headers and lines before the",
             "first, Telegram messages, CSV records). Members and leavers are membership rows the import",
             "wrote (people who wrote or were named in system lines; silent members are not in an export).",
             "Reports: the 9 reports of `report all`; \"ok\" ran, \"n/a\" were not applicable (reason).",
             "",
             "| file | read | imported | rejected | skipped | members | leavers | reports ok | not applicable (reason) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["code"] != 0:
            lines.append(f"| {row['file']} | refused (exit {row['code']}): {row['refusal'][:160]} | | | | | | | |")
            continue
        rep = row["report"]
        ok = [n for n in REPORTS if rep["reports"].get(n, {}).get("status") == "ok"]
        na = {}
        for n in REPORTS:
            r = rep["reports"].get(n, {})
            if r.get("status") == "not_applicable":
                na.setdefault(_short(r.get("reason", "")), []).append(n)
        failed = [n for n in REPORTS if rep["reports"].get(n, {}).get("status") not in ("ok", "not_applicable")]
        rejected = f"{row['rejected']}" + (f" ({row['rejected_by']})" if row["rejected_by"] else "")
        skipped = f"{row['skipped']}" + (f" ({row['skipped_by']})" if row["skipped_by"] else "")
        name = row["file"] + (f" (`--date-order {row['date_order']}`)" if row.get("date_order") else "")
        na_text = "; ".join(f"{', '.join(v)}: {k}" for k, v in na.items())
        if failed:
            na_text += f"; FAILED: {', '.join(failed)}"
        lines.append(f"| {name} | {row['read']} | {row['imported']} | {rejected} | {skipped} | {row['members']} | "
                     f"{row['leavers']} | {', '.join(ok)} | {na_text} |")
    imported = [r for r in rows if r["code"] == 0]
    lines += ["", f"{len(rows)} files: {len(imported)} imported, {len(rows) - len(imported)} refused; "
                  f"{len({r['report']['first'] for r in imported})} distinct datasets; `report all` exit codes: "
                  f"{sorted({r['report']['code'] for r in imported})}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REAL / "YIELDS.md")
    parser.add_argument("--work", type=Path, default=None, help="folder for the imports and reports "
                                                                "(default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yields-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        text = markdown(yields(work))
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
