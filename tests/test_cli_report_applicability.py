"""`groupstats report`: a report the dataset cannot support is listed as not applicable, with the reason.

Applicability is decided from the dataset's tables before papermill runs, so these reports are
never executed; the command exits 0 when every applicable report ran.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from groupstats.cli import main
from groupstats.reports.runner import REPORT_NEEDS, not_applicable_reason
from thin_datasets import build_all

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chat_only(tmp_path_factory):
    """A dataset with messages and members only, like an imported chat export."""
    return build_all(tmp_path_factory.mktemp("odd"))["chat_only"]


def _index(out: Path) -> dict:
    return {r["name"]: r for r in json.loads((out / "index.json").read_text(encoding="utf-8"))["reports"]}


def test_reason_names_the_missing_table_and_what_the_report_needs():
    chat = {"messages": 10, "members": 3}
    assert not_applicable_reason("posting_time_ab", chat) == \
        "no posts table: posting-time A/B needs posts and assignments"
    assert not_applicable_reason("posting_time_ab", {**chat, "posts": 4}) == \
        "no assignments table: posting-time A/B needs posts and assignments"
    assert not_applicable_reason("plan_slots", {**chat, "posts": 0}) == \
        "the posts table is empty: planning a slot test needs posts"
    assert not_applicable_reason("posting_time_ab", {**chat, "posts": 4, "assignments": 2}) is None
    assert not_applicable_reason("data_overview", {}) is None
    assert "posts" in not_applicable_reason("content_mix--02-x", chat)   # grid runs keep their notebook's needs
    assert not_applicable_reason("posting_time_ab", chat, "zh").startswith("没有 posts 表")


def test_every_report_with_needs_is_a_shipped_notebook():
    shipped = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert set(REPORT_NEEDS) <= shipped


def test_reports_the_dataset_cannot_support_are_not_run(capsys, tmp_path, chat_only):
    out = tmp_path / "out"
    code = main(["report", *REPORT_NEEDS, "--data", str(chat_only), "--out", str(out), "--lang", "en"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "posting_time_ab: not applicable: no posts table: posting-time A/B needs posts and assignments" in printed
    assert f"{len(REPORT_NEEDS)} not applicable to this dataset" in printed
    index = _index(out)
    assert {r["status"] for r in index.values()} == {"not_applicable"}
    assert index["plan_slots"]["reason"] == "no posts table: planning a slot test needs posts"
    assert not list(out.glob("*.ipynb"))                          # papermill never ran
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<tr class='row-not-applicable'>") == len(REPORT_NEEDS)
    assert "no posts table: the content-mix experiment needs posts and assignments" in page
    assert f"{len(REPORT_NEEDS)} report(s) not applicable to this dataset" in page


def _notebook(path: Path, body: str = "print(len(load_dataset(data_path).messages))") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('data_path: str = ""  # dataset folder\nlang: str = "en"  # language')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("from groupstats import load_dataset\n" + body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_applicable_reports_run_and_the_command_exits_0(capsys, tmp_path, chat_only):
    """A notebook named like a report that needs posts is skipped; one that needs only messages runs;
    one whose analysis says the data are too short is not applicable (with its message), not failed."""
    folder = tmp_path / "nb"
    folder.mkdir()
    needs_posts = _notebook(folder / "posting_time_ab.ipynb")
    overview = _notebook(folder / "data_overview.ipynb")
    too_short = _notebook(folder / "churn_risk.ipynb", body=(
        "from groupstats.errors import InsufficientDataError\n"
        "raise InsufficientDataError('Too little history: it needs at least 44 days of data')"))
    out = tmp_path / "out"
    code = main(["report", str(needs_posts), str(overview), str(too_short), "--data", str(chat_only),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    index = _index(out)
    assert index["data_overview"]["status"] == "ok" and (out / "data_overview.html").is_file()
    assert index["posting_time_ab"]["status"] == "not_applicable"
    assert not (out / "posting_time_ab.ipynb").exists()
    assert index["churn_risk"]["status"] == "not_applicable"
    assert index["churn_risk"]["reason"] == "Too little history: it needs at least 44 days of data"
    assert (out / "churn_risk.html").is_file()                  # its page shows where it stopped
    assert "1 of 1 applicable report(s) ok" in printed
    assert "churn_risk: not applicable: Too little history" in printed

    # (a notebook raising any other error still fails: tests/test_reports.py::test_failures_are_contained_and_reported)


def test_a_report_stopped_for_too_little_data_gives_its_reason_in_the_reports_language():
    """The reason an analysis gives (InsufficientDataError, English where it is raised) reaches a zh
    index in Chinese through the catalogue's note templates, with its numbers and dates intact."""
    from groupstats.reports.runner.applicability import _mark_not_applicable
    from groupstats.reports.runner.outcomes import ReportOutcome

    message = ("At the training cutoffs (2018-01-01, 2018-01-08) every member has the same outcome "
               "(not churned), so no model can be trained. Use another definition or horizon, or more data.")
    for lang, expect in (("zh", "所有成员的结果相同(均未流失)"), ("en", message)):
        outcome = ReportOutcome(name="churn_risk", notebook="churn_risk.ipynb", title="t", status="failed",
                                seconds=1.0, ipynb="x.ipynb", html="x.html",
                                error=f"InsufficientDataError: {message}", lang=lang, parameters={},
                                started_at="2026-12-05T00:00:00Z")
        _mark_not_applicable(outcome)
        assert outcome.status == "not_applicable"
        assert expect in outcome.reason and "2018-01-01, 2018-01-08" in outcome.reason
        if lang == "zh":
            assert "every member" not in outcome.reason
