"""The report runner: parameter typing and rejection, grids, failures, timeouts, privacy, the kernel.

Notebooks used here live in tests/data/notebooks (raises, typed_params,
kernel_trouble, leaks, warm_state). Each test that executes notebooks runs a handful of
small ones through the same code path as ``groupstats report``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from groupstats.cli import main
from groupstats.errors import ParameterError
from groupstats.reports.notebook import read_records
from groupstats.reports.runner import (coerce_parameter, declared_parameters,
                                find_private_values, load_grid, parse_assignments, plan_reports)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TEST_NOTEBOOKS = Path(__file__).resolve().parent / "data" / "notebooks"
RAISES = TEST_NOTEBOOKS / "raises.ipynb"
TYPED = TEST_NOTEBOOKS / "typed_params.ipynb"
TROUBLE = TEST_NOTEBOOKS / "kernel_trouble.ipynb"
LEAKS = TEST_NOTEBOOKS / "leaks.ipynb"
WARM = TEST_NOTEBOOKS / "warm_state.ipynb"


def visible_text(page: str) -> str:
    """The text of an HTML page without tags (syntax highlighting splits code into spans)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _index(out: Path) -> dict:
    return {r["name"]: r for r in json.loads((out / "index.json").read_text(encoding="utf-8"))["reports"]}


# --------------------------------------------------------------------------------------
# declared parameters and typing (no execution)
# --------------------------------------------------------------------------------------
def test_declared_parameter_kinds():
    declared = declared_parameters(TYPED)
    kinds = {name: d.kind for name, d in declared.items()}
    assert kinds == {"data_path": "str", "n": "int", "ratio": "float", "flag": "bool", "label": "str",
                     "items": "list", "names": "list", "start": "date", "cutoff": "date", "options": "dict"}
    assert declared["items"].element_kind == "int"      # from the default [1, 2]
    assert declared["names"].element_kind == "str"      # from the annotation list[str]
    assert declared["cutoff"].nullable and not declared["n"].nullable
    assert declared["n"].default == 3 and declared["n"].help == "a whole number"
    # agrees with papermill's own inspection where papermill's pattern reads the line (it skips
    # `cutoff: str | None = None`, which the ast-based reading handles)
    import papermill as pm

    inspected = pm.inspect_notebook(str(TYPED))
    assert set(inspected) == set(declared) - {"cutoff"}
    assert inspected["n"]["inferred_type_name"] == "int"


def test_coerce_text_to_declared_kinds():
    declared = declared_parameters(TYPED)

    def c(name, text):
        return coerce_parameter(declared[name], text, "typed_params")

    assert c("n", "7") == 7 and isinstance(c("n", "7"), int)
    assert c("ratio", "0.25") == 0.25 and c("ratio", "2") == 2.0 and isinstance(c("ratio", "2"), float)
    assert c("flag", "true") is True and c("flag", "No") is False and c("flag", "1") is True
    assert c("label", "3") == "3"                        # str stays text
    assert c("items", "3,4") == [3, 4]
    assert c("items", "[5, 6]") == [5, 6]
    assert c("names", "g01, g02") == ["g01", "g02"]
    assert c("names", "") == []
    assert c("start", "2026-02-01") == "2026-02-01"
    assert c("start", "2026-02-01T18:00") == "2026-02-01T18:00"
    assert c("cutoff", "none") is None
    assert c("options", "{a: 2, b: [1]}") == {"a": 2, "b": [1]}
    # typed values from a grid file
    assert coerce_parameter(declared["n"], 4) == 4
    assert coerce_parameter(declared["ratio"], 1) == 1.0
    import datetime as dt

    assert coerce_parameter(declared["start"], dt.date(2026, 3, 1)) == "2026-03-01"


@pytest.mark.parametrize("name, text, expected", [
    ("n", "3.5", "whole number"), ("n", "abc", "whole number"), ("ratio", "fast", r"number \(float\)"),
    ("flag", "maybe", "true or false"), ("start", "2026-02-30", "ISO format"),
    ("start", "March 1st", "ISO format"), ("items", "a,b", "whole number"), ("options", "[1, 2]", "mapping"),
    ("n", "none", "cannot be None"),
])
def test_coerce_rejects_bad_values(name, text, expected):
    declared = declared_parameters(TYPED)
    with pytest.raises(ParameterError, match=expected) as err:
        coerce_parameter(declared[name], text, "typed_params")
    assert repr(name) in str(err.value) and "typed_params" in str(err.value)
    with pytest.raises(ParameterError):
        coerce_parameter(declared["n"], True)  # a bool is not an int


def test_date_detection_rules():
    from groupstats.reports.runner import _looks_like_date_parameter

    assert _looks_like_date_parameter("start", "2026-01-05", "")
    assert not _looks_like_date_parameter("label", "plain", "")
    assert not _looks_like_date_parameter("start", "morning", "")      # default says it is not a date
    assert _looks_like_date_parameter("cutoff", "", "")                 # name says so, empty default
    assert _looks_like_date_parameter("as_of", None, "")
    assert _looks_like_date_parameter("when", "", "ISO date or empty")   # the comment says so


def test_parse_assignments():
    assert parse_assignments(["k=4", "groups=g01,g02", "eq=a=b"]) == {"k": "4", "groups": "g01,g02", "eq": "a=b"}
    with pytest.raises(ParameterError, match="name=value"):
        parse_assignments(["k"])
    with pytest.raises(ParameterError, match="name=value"):
        parse_assignments(["2k=1"])


def test_parameters_apply_to_the_notebooks_that_declare_them():
    jobs = plan_reports([str(RAISES), str(TYPED)], data="sample",
                        parameters={"n": "5", "message": "custom", "items": "7,8"})
    by_name = {j.name: j.parameters for j in jobs}
    assert by_name["raises"] == {"data_path": str(SAMPLE.resolve()), "message": "custom"}
    assert by_name["typed_params"] == {"data_path": str(SAMPLE.resolve()), "n": 5, "items": [7, 8]}


def test_unknown_parameter_rejected_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["report", str(RAISES), str(TYPED), "--out", str(out), "-p", "n=2", "-p", "colour=red"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'colour'" in err and ("Valid parameters: cutoff, data_path, flag, items, label, message, n, names, options, ratio, start."
                                in err)
    assert "Nothing was run" in err
    assert not out.exists()  # no notebook ran, nothing was written


def test_bad_value_rejected_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["report", str(TYPED), str(RAISES), "--out", str(out), "-p", "start=2026-13-01"])
    err = capsys.readouterr().err
    assert code == 2 and "'start'" in err and "ISO format" in err
    assert not out.exists()
    assert main(["report", str(TYPED), "--out", str(out), "-p", "data_path=x"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["report", "no_such_report", "--out", str(out)]) == 2
    assert "no report notebook named 'no_such_report'" in capsys.readouterr().err
    assert main(["report", str(TYPED), "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(TYPED), "--kernel", "no-such-kernel", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no Jupyter kernel named 'no-such-kernel'" in err and "python3" in err
    assert not out.exists()


def test_list_shows_parameters(capsys):
    assert main(["report", str(TYPED), "--list"]) == 0
    text = capsys.readouterr().out
    assert "typed_params" in text and "n: int = 3" in text and "start: date (ISO string)" in text


def test_grid_files(tmp_path):
    yaml_file = tmp_path / "grid.yaml"
    yaml_file.write_text("notebook: typed_params.ipynb\nparameters: {label: fixed}\n"
                         "grid:\n  n: [1, 2, 3]\n  flag: [true, false]\n", encoding="utf-8")
    (tmp_path / "typed_params.ipynb").write_bytes(TYPED.read_bytes())
    grid = load_grid(yaml_file)
    assert grid.notebook == str((tmp_path / "typed_params.ipynb").resolve())
    assert len(grid.runs) == 6 and {"n": 2, "flag": False} in grid.runs
    toml_file = tmp_path / "grid.toml"
    toml_file.write_text(f'notebook = "{TYPED}"\n[[runs]]\nn = 1\n[[runs]]\nn = 2\nstart = 2026-02-01\n',
                         encoding="utf-8")
    jobs = plan_reports(grid=toml_file)
    assert [j.name for j in jobs] == ["typed_params--01-n-1", "typed_params--02-n-2_start-2026-02-01"]
    assert jobs[1].parameters["start"] == "2026-02-01"  # a TOML date becomes an ISO string
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"notebook: {TYPED}\ngrid: {{nn: [1, 2]}}\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="'nn'.*Valid parameters"):
        plan_reports(grid=bad)
    bad.write_text(f"notebook: {TYPED}\ngird: {{n: [1, 2]}}\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="unknown key"):
        load_grid(bad)


def test_find_private_values():
    private = {"messages.text": {"我们明天早上八点在公园门口集合吧", "short"},
               "members.nickname": {"小王同学"}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="counts only: 12, 40\n")]
    assert find_private_values(nb, private) == {}
    # a truncated display of a long message is still caught (first characters), and so is a name in HTML
    nb.cells[0].outputs.append(nbformat.v4.new_output(
        "execute_result", data={"text/html": "<td>我们明天早上八点在公园门口集合...</td><td>小王同学</td>",
                                "text/plain": "..."}, execution_count=1))
    hits = find_private_values(nb, private)
    assert set(hits) == {"messages.text", "members.nickname"}
    assert hits["members.nickname"] == ["小王同学"]


# --------------------------------------------------------------------------------------
# running notebooks
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_grid_batch_types_and_kernel(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebook: {TYPED}\nparameters:\n  ratio: 2\n"
                    "grid:\n  n: [1, 2]\n  items: [[3, 4]]\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["report", "batch", str(grid), "--data", "sample", "--out", str(out), "--jobs", "2",
                 "-p", "flag=yes", "-p", "start=2026-03-01", "-p", "names=x,y", "-p", "cutoff=none"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "2 of 2 report(s) ok" in text and f"index: {out.resolve() / 'index.html'}" in text
    index = _index(out)
    assert sorted(index) == ["typed_params--01-n-1_items-3,4", "typed_params--02-n-2_items-3,4"]
    for i, name in enumerate(sorted(index), start=1):
        records = read_records(out / f"{name}.ipynb")
        assert records["values"] == {"data_path": str(SAMPLE.resolve()), "n": i, "ratio": 2.0, "flag": True,
                                     "label": "plain", "items": [3, 4], "names": ["x", "y"],
                                     "start": "2026-03-01", "cutoff": None, "options": {"a": 1}}
        assert records["types"] == {"data_path": "str", "n": "int", "ratio": "float", "flag": "bool",
                                    "label": "str", "items": "list", "names": "list", "start": "str",
                                    "cutoff": "NoneType", "options": "dict"}
        assert records["item_types"] == ["int", "int"]
        # the kernel is this environment's interpreter, not some other python on the machine
        assert Path(records["executable"]).parent == Path(sys.executable).parent
        assert Path(records["prefix"]).resolve() == Path(sys.prefix).resolve()
        assert (out / f"{name}.html").exists()
        assert index[name]["parameters"]["n"] == i


@pytest.mark.slow
def test_failures_are_contained_and_reported(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", str(RAISES), str(TYPED), str(TROUBLE), "--out", str(out), "--jobs", "2",
                 "-p", "mode=exit", "-p", "n=5"])
    captured = capsys.readouterr().out
    assert code == 1
    index = _index(out)
    assert index["typed_params"]["status"] == "ok"
    assert read_records(out / "typed_params.ipynb")["values"]["n"] == 5
    # the raising notebook: summary names it, its page shows the failing cell and the error
    assert index["raises"]["status"] == "failed"
    assert index["raises"]["error"] == "ValueError: planted failure (value=42)"
    assert index["raises"]["failed_cell"] == 4  # parameters, injected parameters, print, raise
    assert "2 failed" in captured and "raises (In [4]): ValueError: planted failure (value=42)" in captured
    page = (out / "raises.html").read_text(encoding="utf-8")
    assert "FAILED" in page and "This report did not finish" in page
    assert "ValueError" in page and "planted failure (value=42)" in page
    assert 'raise ValueError(f"{message} (value={value})")' in visible_text(page)  # the failing cell
    assert "before the failure" in page  # output of the cells that ran
    executed = nbformat.read(str(out / "raises.ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ValueError"]
    assert "unreachable" not in read_records(out / "raises.ipynb")
    # the dead kernel is reported like any failure
    assert index["kernel_trouble"]["status"] == "failed"
    assert index["kernel_trouble"]["error"].startswith("DeadKernelError")
    assert "kernel_trouble (In [4]): DeadKernelError" in captured
    assert "os._exit(1)" in visible_text((out / "kernel_trouble.html").read_text(encoding="utf-8"))
    # the index shows both states
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<tr class='row-failed'>") == 2 and page.count("<tr class='row-ok'>") == 1
    assert "2 of 3 reports FAILED" in page and "planted failure (value=42)" in page


@pytest.mark.slow
def test_cell_timeout_is_a_failure(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", str(TROUBLE), "--out", str(out), "-p", "seconds=60", "--timeout", "2"])
    captured = capsys.readouterr().out
    assert code == 1
    outcome = _index(out)["kernel_trouble"]
    assert outcome["error"].startswith("CellTimeoutError: the cell ran longer than the timeout of 2 s")
    assert outcome["seconds"] < 40  # the 60 s sleep was cut short
    assert "kernel_trouble (In [4]): CellTimeoutError" in captured
    page = (out / "kernel_trouble.html").read_text(encoding="utf-8")
    assert "time.sleep(seconds)" in visible_text(page) and "CellTimeoutError" in page and "KeyboardInterrupt" not in page
    assert "started" in page


@pytest.mark.slow
def test_reports_never_show_raw_text_or_names(small_sim, tmp_path, capsys):
    ds, _ = small_sim
    messages = ds.messages.copy()
    members = ds.members.copy()
    messages.loc[:, "text"] = [f"secret message number {i:06d} about the meetup" for i in range(len(messages))]
    members.loc[:, "nickname"] = [f"RealName{i:05d}" for i in range(len(members))]
    from groupstats.data.dataset import Dataset

    leaky = Dataset.from_frames(messages=messages, members=members, groups=ds.groups, posts=ds.posts,
                                events=ds.events, assignments=ds.assignments, tz=ds.tz)
    data = leaky.save(tmp_path / "leaky", format="parquet")
    out = tmp_path / "out"
    code = main(["report", "data_overview", str(LEAKS), "--data", str(data), "--out", str(out), "--jobs", "2"])
    captured = capsys.readouterr().out
    index = _index(out)
    # the overview is clean: it never shows the text or nickname columns
    assert index["data_overview"]["status"] == "ok", index["data_overview"]["error"]
    overview_html = (out / "data_overview.html").read_text(encoding="utf-8")
    overview_nb = (out / "data_overview.ipynb").read_text(encoding="utf-8")
    for page in (overview_html, overview_nb):
        assert "secret message" not in page and "RealName" not in page
    assert read_records(out / "data_overview.ipynb")["n_messages"] == len(messages)
    # a notebook that prints them is caught: failed, page withheld, columns named
    assert code == 1
    assert index["leaks"]["status"] == "failed"
    assert index["leaks"]["error"].startswith("PrivacyError")
    assert set(index["leaks"]["privacy"]) == {"messages.text", "members.nickname"}
    withheld = (out / "leaks.html").read_text(encoding="utf-8")
    assert "withheld" in withheld and "secret message" not in withheld and "RealName" not in withheld
    assert "leaks" in captured and "PrivacyError" in captured


# --------------------------------------------------------------------------------------
# warm kernels: one kernel runs several reports, each from a fresh kernel's state
# --------------------------------------------------------------------------------------
def _code_counts(path: Path) -> list:
    return [c.execution_count for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]


@pytest.mark.slow
def test_a_warm_kernel_leaks_nothing_from_one_report_to_the_next(tmp_path):
    from groupstats.reports.runner import ReportJob, run_reports

    out = tmp_path / "out"
    jobs = [ReportJob(WARM, "planter", {"plant": True}, "planter"),
            ReportJob(WARM, "looker", {"plant": False}, "looker")]
    batch = run_reports(jobs, out, n_jobs=1)
    assert [o.status for o in batch.outcomes] == ["ok", "ok"], batch.summary()
    planter, looker = read_records(out / "planter.ipynb"), read_records(out / "looker.ipynb")
    assert looker["pid"] == planter["pid"]  # the same kernel ran both reports
    assert planter["leaked_name"] is False and looker["leaked_name"] is False
    # the planter set lines.linewidth = 7.5, font.family = monospace and left a figure open
    # and the working directory changed; the looker sees a fresh kernel's values
    assert looker["linewidth"] == planter["linewidth"] != 7.5
    assert looker["font_family"] == planter["font_family"] != ["monospace"]
    assert looker["open_figures"] == planter["open_figures"] == 0
    assert looker["cwd"] == planter["cwd"] == str(out.resolve())
    # numbering restarts: In [1] for the first code cell of each report, as in a new kernel
    assert _code_counts(out / "looker.ipynb") == _code_counts(out / "planter.ipynb") == [1, 2, 3, 4]
    assert looker["execution_count"] == planter["execution_count"]
    # --fresh-kernels: a kernel of its own, shut down after the report
    fresh = run_reports([ReportJob(WARM, "fresh", {}, "fresh")], tmp_path / "fresh", fresh_kernels=True)
    assert fresh.outcomes[0].ok, fresh.summary()
    assert read_records(tmp_path / "fresh" / "fresh.ipynb")["pid"] != planter["pid"]


@pytest.mark.slow
def test_a_dead_kernel_is_replaced_for_the_next_report(tmp_path):
    from groupstats.reports.runner import KERNELS, ReportJob, run_reports

    out = tmp_path / "out"
    jobs = [ReportJob(WARM, "before", {}, "before"),
            ReportJob(TROUBLE, "kernel_trouble", {"mode": "exit"}, "trouble"),
            ReportJob(WARM, "after", {}, "after")]
    batch = run_reports(jobs, out, n_jobs=1)
    status = {o.name: (o.status, o.error) for o in batch.outcomes}
    assert status["before"] == ("ok", None) and status["after"] == ("ok", None)
    assert status["kernel_trouble"][1].startswith("DeadKernelError")
    # the report after the crash ran in a new kernel, from the start
    assert read_records(out / "after.ipynb")["pid"] != read_records(out / "before.ipynb")["pid"]
    assert _code_counts(out / "after.ipynb") == _code_counts(out / "before.ipynb") == [1, 2, 3]
    # and the process keeps only live kernels for its next batch
    assert all(kernel.alive() for kernel in KERNELS._idle)


# --------------------------------------------------------------------------------------
# the page header
# --------------------------------------------------------------------------------------
def test_header_shows_every_parameter_value_in_wrapping_code(tmp_path):
    """Long parameter lists and long values wrap instead of running off the page (issue 14): each
    value is its own code element that may break inside; markdown and MathJax characters stay as is."""
    import nbformat as nbf

    from groupstats.reports.runner import HEADER_TAG, ReportJob, html_page
    from groupstats.reports.runner.header import _header_markdown

    values = {"label": "a|b *c* _d_ $x$ <b>", "items": [3, 4], "flag": True, "empty": "",
              "start": "/very/long/path/" + "segment_" * 30 + "end.yaml"}
    values.update({f"extra_{i}": f"value_{i}_" + "x" * 20 for i in range(8)})
    job = ReportJob(TYPED, "typed_params", values, "Typed")
    info = {"path": "/tmp/data", "start": "2026-01-01 00:00", "end": "2026-02-01 00:00", "tz": "UTC",
            "n_messages": 12}
    header = _header_markdown(job, info, "python3", sys.executable, "2026-12-05 10:00:00", 1.5, "ok",
                              None, None, None)
    assert "\n\n" not in header.split("</table>")[0]  # one HTML block: a blank line would end it
    nb = nbf.v4.new_notebook()
    cell = nbf.v4.new_markdown_cell(header)
    cell.metadata["tags"] = [HEADER_TAG]
    nb.cells = [cell]
    page = html_page(nb, "Typed", embed_font=False)
    import re

    style = re.search(r"table\.gs-header code \{([^}]*)\}", page)
    assert style and "white-space: pre-wrap" in style.group(1) and "overflow-wrap: anywhere" in style.group(1)
    table = page[page.index('<table class="gs-header">'):]
    shown = {visible_text(text) for text in re.findall(r"<code>(.*?)</code>", table[:table.index("</table>")],
                                                       flags=re.S)}
    for name, value in values.items():   # every value, unchanged, in its own wrapping code element
        text = (value or '""') if isinstance(value, str) else json.dumps(value)  # empty text shows as ""
        assert f"{name} = {text}" in shown, name
    defaults = {name: d.default for name, d in declared_parameters(TYPED).items()
                if name not in values and name != "data_path"}
    assert defaults  # the notebook's defaults are shown too
    for name, value in defaults.items():
        assert f"{name} = {value if isinstance(value, str) else json.dumps(value)}" in shown, name


def test_font_subset_is_kept_on_disk_between_runs(tmp_path, monkeypatch):
    from groupstats.reports import webfont

    monkeypatch.setenv("GROUPSTATS_CACHE_DIR", str(tmp_path))
    first = webfont.subset_woff("结论")
    files = list((tmp_path / "webfont").glob("*.woff"))
    assert first.startswith(b"wOFF") and [f.read_bytes() for f in files] == [first]
    files[0].write_bytes(b"wOFF planted")   # a later run reads the file instead of subsetting again
    assert webfont.subset_woff("结论") == b"wOFF planted"
    from groupstats.reports.notebook import cjk_font_path

    assert webfont._cache_file(cjk_font_path(), "结") != files[0]   # keyed by the characters
    files[0].write_bytes(b"half a fi")      # a damaged file is subset again and rewritten
    assert webfont.subset_woff("结论") == first == files[0].read_bytes()
