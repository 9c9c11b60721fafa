"""Every notebook in notebooks/: structure, and a run through the report runner on data/sample.

The notebooks are executed ONCE per test session (``groupstats report all
--jobs 2`` into a shared temporary folder; with pytest-xdist the first worker
runs them under a file lock and the others reuse the result), then each
notebook's outputs are checked: the run succeeded, its HTML page embeds a
figure and carries the header, the code is hidden, and recorded values exist.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from groupstats import __version__
from groupstats.reports.notebook import read_records
from groupstats.reports.i18n import t
from groupstats.reports.runner import HEADER_TAG, declared_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"
NOTEBOOK_PATHS = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.startswith("."))
IDS = [p.stem for p in NOTEBOOK_PATHS]


def test_notebooks_exist():
    assert "data_overview" in IDS


# --------------------------------------------------------------------------------------
# structure (no execution)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_notebook_structure(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', want exactly one"
    assert tagged[0].cell_type == "code"
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"{path.name}: kernelspec {spec}"
    assert spec.get("language") == "python"
    assert nb.metadata.get("language_info", {}).get("name") == "python"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: stored outputs in {cell.source[:40]!r}"
            assert cell.execution_count is None, f"{path.name}: stored execution count"
    # typed literals only: every statement of the parameters cell is an annotated literal assignment
    tree = ast.parse(tagged[0].source)
    for stmt in tree.body:
        assert isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name), \
            f"{path.name}: parameters cell line {stmt.lineno} is not `name: type = literal`"
        ast.literal_eval(stmt.value)
    declared = declared_parameters(path)
    assert "data_path" in declared, f"{path.name} has no data_path parameter"
    assert declared["data_path"].kind == "str"
    from groupstats.paths import resolve_data_path

    assert Path(resolve_data_path(declared["data_path"].default)).resolve() == SAMPLE.resolve()


# --------------------------------------------------------------------------------------
# one batch run of every notebook per session
# --------------------------------------------------------------------------------------
def embedded_images(page: str) -> int:
    """Number of images embedded in an HTML page as data URIs (base64 PNG/JPEG/SVG)."""
    return len(re.findall(r'<img\b[^>]*\bsrc="data:image/(?:png|jpeg|svg\+xml);base64,[A-Za-z0-9+/]{100}', page))


def _outcome(index: dict, name: str) -> dict:
    found = [r for r in index["reports"] if r["name"] == name]
    assert found, f"{name} missing from index.json"
    return found[0]


@pytest.mark.slow
def test_all_reports_succeed(report_run):
    code, out, index = report_run
    failed = {r["name"]: r["error"] for r in index["reports"] if r["status"] != "ok"}
    assert failed == {}
    assert code == 0
    assert sorted(r["name"] for r in index["reports"]) == IDS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_report_content(report_run, path):
    _, out, index = report_run
    outcome = _outcome(index, path.stem)
    assert outcome["status"] == "ok", outcome["error"]
    page = (out / f"{path.stem}.html").read_text(encoding="utf-8")
    # at least one figure, embedded so the page works without the notebook folder
    assert embedded_images(page) >= 1, f"{path.stem}: no embedded figure"
    # header: dataset, date range, version, run time, status
    assert str(SAMPLE.resolve()) in page
    assert "2026-01-05" in page and "2026-05-04" in page  # the sample's date range
    assert t("header.version", "zh") in page and __version__ in page
    assert t("header.status", "zh") in page
    assert t("header.parameters", "zh") in page and "lang = zh" in page      # the values used, defaults too
    # manager view: no code (the parameters cell is hidden), no machine records
    assert "data_path: str" not in page
    assert "[recorded " not in page
    # the executed notebook has the header cell first and the recorded results
    executed = nbformat.read(str(out / f"{path.stem}.ipynb"), as_version=4)
    header = [i for i, c in enumerate(executed.cells) if HEADER_TAG in c.metadata.get("tags", [])]
    card = [i for i, c in enumerate(executed.cells) for o in c.get("outputs", [])
            if "gs-conclusion" in str(o.get("data", {}).get("text/html", ""))]
    assert len(header) == 1 and card and header[0] == card[0] + 1   # the header follows the card
    records = read_records(out / f"{path.stem}.ipynb")
    assert records, f"{path.stem} records no key results"
    assert outcome["n_records"] == len(records)
    numbers = [v for v in records.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert all(math.isfinite(v) for v in numbers)


@pytest.mark.slow
def test_data_overview_records_match_the_sample(report_run, sample):
    _, out, _ = report_run
    records = read_records(out / "data_overview.ipynb")
    messages = sample.messages
    assert records["n_messages"] == len(messages)
    assert records["n_groups"] == sample.groups["group_id"].nunique() == 12
    assert records["n_members"] == sample.members["member_id"].nunique()
    start, end = sample.date_range()
    assert pd.Timestamp(records["date_range"][0]) == start
    assert pd.Timestamp(records["date_range"][1]) == end
    assert records["n_days"] == 120
    assert records["tables_present"] == ["groups", "members", "messages", "posts", "events", "assignments"]
    spoken = messages.loc[messages["msg_type"] != "system"]  # members' and operators' messages
    by_hour = spoken["sent_at"].dt.hour.value_counts()
    assert records["peak_hour"] == int(by_hour.idxmax())
    daily = spoken.groupby([spoken["group_id"], spoken["sent_at"].dt.date]).size()
    assert daily.size == 12 * 120  # every group has messages every day in the sample
    assert records["median_messages_per_group_day"] == pytest.approx(float(daily.median()))
    page = (out / "data_overview.html").read_text(encoding="utf-8")
    assert embedded_images(page) >= 2  # per-day lines and hour profile
    assert "最忙的时段" in page


@pytest.mark.slow
def test_index_lists_every_report(report_run):
    _, out, index = report_run
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in IDS:
        assert f'href="{name}.html"' in page
        assert f'href="{name}.ipynb"' in page
    assert page.count("<tr class='row-ok'>") == len(IDS)
    assert "FAILED" not in page
    assert str(SAMPLE.resolve()) in page and "88,517 条消息" in page
    assert __version__ in page
    for report in index["reports"]:
        assert report["parameters"]["data_path"] == str(SAMPLE.resolve())
        assert 0 < report["seconds"] < 300
        assert f"{report['seconds']:.1f}" in page
    # the kernel ran this environment's interpreter
    assert Path(index["python"]).parent == Path(sys.executable).parent


# --------------------------------------------------------------------------------------
# pages people decide from (issue 14): card first, one language, figures that render
# --------------------------------------------------------------------------------------
def visible_text(page: str) -> str:
    """What a reader sees: tags, styles, scripts, embedded data and code spans removed."""
    import html

    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return html.unescape(text)


def test_every_notebook_declares_lang_defaulting_to_zh():
    for path in NOTEBOOK_PATHS:
        declared = declared_parameters(path)
        assert "lang" in declared and declared["lang"].default == "zh", path.name
        nb = nbformat.read(str(path), as_version=4)
        # no text for readers in the notebook itself: markdown cells would be shown untranslated
        assert not [c for c in nb.cells if c.cell_type == "markdown"], path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_page_opens_with_its_conclusion_card_in_chinese(report_run, path):
    from groupstats.reports.i18n import english_words

    _, out, index = report_run
    page = (out / f"{path.stem}.html").read_text(encoding="utf-8")
    body = page[page.index("<body"):]
    first_card = body.find('class="gs-conclusion"')
    assert first_card > 0, f"{path.stem}: no conclusion card"
    # nothing but the title comes before the card: no header, heading, table or figure
    before = body[:first_card]
    assert "<h2" not in before and "<table" not in before and "<img" not in before
    assert t("header.about", "zh") not in before
    assert body.count('class="gs-conclusion"') == 1                      # printed once
    assert "<h2>结论" in body[first_card:first_card + 300]
    text = visible_text(page)
    assert "<Dataset" not in text and "object at 0x" not in text          # no raw reprs
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)} & english_words()
    assert words == set(), f"{path.stem}: English words on the Chinese page: {sorted(words)}"
    assert t("index.defaults", "zh") not in text                           # values, not "(defaults)"
    # every figure rendered its Chinese text: no missing-glyph warning in any output
    executed = json.loads((out / f"{path.stem}.ipynb").read_text(encoding="utf-8"))
    streams = " ".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
                       if o.get("output_type") == "stream")
    assert "missing from font" not in streams and "Glyph" not in streams
    headline = _outcome(index, path.stem)["headline"]
    assert headline["answer"] in ("supported", "contradicted", "not_shown", "not_testable", "needs_more_data")
    assert headline["text"] and headline["text"] in text


@pytest.mark.slow
def test_index_summarises_in_workflow_order(report_run):
    from groupstats.reports.runner import REPORT_ORDER

    _, out, index = report_run
    page = (out / "index.html").read_text(encoding="utf-8")
    order = [m.group(1) for m in re.finditer(r'<a href="([a-z_]+)\.html">', page)]
    expected = sorted(IDS, key=lambda n: (REPORT_ORDER.index(n) if n in REPORT_ORDER else 99, n))
    assert order == expected
    assert order[0] == ("playbook_audit" if "playbook_audit" in IDS else "data_overview")
    assert page.count('class="badge"') == len(IDS)
    for report in index["reports"]:
        assert report["headline"]["text"] in visible_text(page)
    assert "(Asia/Shanghai)" in page and " UTC" not in visible_text(page)


@pytest.mark.slow
def test_health_churn_and_mix_pages_fix_what_misled(report_run, sample):
    _, out, _ = report_run
    health = read_records(out / "group_health.ipynb")
    page = (out / "group_health.html").read_text(encoding="utf-8")
    assert "read_rate" in health["alerted_metrics"]
    # the full alert table: one row per group-week with a warning or an alert
    table = page[page.index(t("health.h.alerts", "zh")):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") - 1 == health["n_alert_rows"] > 30
    assert "标记了大多数群" in page                                         # a threshold flags most groups
    assert embedded_images(page) >= len(health["alerted_metrics"]) == 4
    churn = read_records(out / "churn_risk.ipynb")
    assert max(churn["top_silent_days"]) < 30                               # the action list holds active members
    assert churn["n_already_silent"] > 0
    mix = read_records(out / "content_mix.ipynb")
    assign = sample.assignments.loc[sample.assignments["experiment_id"] == "mix_policy"]
    treated = set(assign.loc[assign["arm"] != "control", "group_id"])
    assert treated and set(mix["compliance"]["groups"]) == treated     # control groups are left out
