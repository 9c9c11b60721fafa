"""Executing one report: papermill in a kernel whose stderr goes to a log, the header cell, the failing
cell marked, the privacy check and the HTML page."""
from __future__ import annotations

import datetime as _dt
import html
import logging
import threading
import time
from contextlib import contextmanager
from collections.abc import Mapping
from pathlib import Path

from groupstats.reports.runner.planning import ReportJob
from groupstats.reports.runner.header import (DEFAULT_KERNEL, HEADER_TAG, _header_markdown, dataset_info,
                                              kernel_python, report_lang)
from groupstats.reports.runner.outcomes import ReportOutcome
from groupstats.reports.runner.html_export import html_page
from groupstats.reports.runner.warm_kernel import WarmKernel, engine_name


DEFAULT_TIMEOUT = 600.0


def _error_marker_cells(nb, index: int, ename: str, evalue: str) -> None:
    """Add an error output and papermill-style error anchor to cell ``index`` (timeouts, dead kernels)."""
    import nbformat

    cell = nb.cells[index]
    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    anchor = nbformat.v4.new_markdown_cell('<span id="papermill-error-cell" style="color:red; font-size:1.5em;">'
                                           f'Execution stopped here: {html.escape(ename)}</span>')
    anchor.metadata["tags"] = ["papermill-error-cell-tag"]
    nb.cells.insert(index, anchor)


_QUIET = threading.Lock()
_quiet_runs = 0
_papermill_level = logging.NOTSET


@contextmanager
def _quiet_papermill():
    """Papermill's logger silenced while any report runs (reports run in several threads)."""
    global _quiet_runs, _papermill_level
    logger = logging.getLogger("papermill")
    with _QUIET:
        if _quiet_runs == 0:
            _papermill_level = logger.level
            logger.setLevel(logging.CRITICAL)
        _quiet_runs += 1
    try:
        yield
    finally:
        with _QUIET:
            _quiet_runs -= 1
            if _quiet_runs == 0:
                logger.setLevel(_papermill_level)


def _started_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]


def execute_report(job: ReportJob, out_dir: str | Path, kernel_name: str = DEFAULT_KERNEL,
                   timeout: float | None = DEFAULT_TIMEOUT, show_code: bool = False,
                   info: Mapping | None = None, python: str | None = None,
                   embed_font: bool = True, kernel: WarmKernel | None = None) -> ReportOutcome:
    """Execute one report with papermill and write its ``.ipynb`` and ``.html``.

    Never raises for a failing notebook: a cell error, a cell running longer
    than ``timeout`` seconds, or a dead kernel gives ``status="failed"`` with
    the error, and the executed notebook and HTML page still show what ran.

    ``kernel``: a :class:`~groupstats.reports.runner.warm_kernel.WarmKernel` (started here if it is
    not running) that is reset to a fresh kernel's state before the notebook and left running
    afterwards, unless the run timed out or the kernel died (then it is marked ``broken``). Without
    it, a kernel is started for this report alone and shut down after it.
    """
    import nbformat
    import papermill as pm

    from groupstats.reports.notebook import read_records

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / f"{job.name}.ipynb"
    page = out_dir / f"{job.name}.html"
    info = dict(info) if info is not None else dataset_info(job.parameters.get("data_path", ""))
    python = python or kernel_python(kernel_name)
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    error = failed_source = None
    failed_cell = None
    failure_kind = None
    kernel_log = out_dir / f"{job.name}.kernel.log"
    single_use = kernel is None
    if single_use:
        kernel = WarmKernel(kernel_name)
    log_offset = kernel.log_size()
    with _quiet_papermill():  # failures are reported by the runner, once
        try:
            # cwd=None: the kernel starts in, and its reset moves it to, out_dir (papermill's cwd
            # would chdir this whole process, which runs reports in several threads)
            pm.execute_notebook(str(job.notebook), str(ipynb), parameters=job.parameters, kernel_name=kernel_name,
                                cwd=None, progress_bar=False, log_output=False,
                                request_save_on_cell_execute=True, execution_timeout=timeout,
                                engine_name=engine_name(), warm_kernel=kernel, reset_cwd=str(out_dir))
            kernel.n_runs += 1
        except pm.PapermillExecutionError as exc:
            kernel.n_runs += 1
            error = f"{exc.ename}: {exc.evalue}"
            failed_source = exc.source
            failure_kind = "cell"
        except Exception as exc:  # timeout, dead kernel, kernel failed to start
            name = type(exc).__name__
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            if name == "CellTimeoutError":
                message = f"the cell ran longer than the timeout of {timeout:g} s (raise it with --timeout)"
            elif name == "DeadKernelError":
                message = "the kernel died while running a cell (out of memory, or the process exited)"
            error = f"{name}: {message}"
            failure_kind = "engine"
            kernel.broken = True  # busy with the timed-out cell, dead, or not reset: never reused
        finally:
            kernel_log.write_bytes(kernel.log_since(log_offset))
            if single_use:
                kernel.shutdown()
    seconds = time.perf_counter() - t0
    if ipynb.exists():
        nb = nbformat.read(str(ipynb), as_version=4)
    else:  # nothing was saved (kernel did not start): show the notebook as given
        nb = nbformat.read(str(job.notebook), as_version=4)
    failed_index = None  # position of the failing cell in nb.cells
    if failure_kind == "cell":
        marker = [i for i, c in enumerate(nb.cells) if 'id="papermill-error-cell"' in c.source]
        failed_index = marker[0] + 1 if marker else None
        if failed_index is not None and failed_index < len(nb.cells):
            cell = nb.cells[failed_index]
            ename, _, evalue = error.partition(": ")
            if not any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                    "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    elif failure_kind == "engine":
        started_cells = _started_cells(nb)
        if started_cells:
            failed_index = started_cells[-1]
            failed_source = nb.cells[failed_index].source
            ename, _, evalue = error.partition(": ")
            # the kernel is interrupted on shutdown: its KeyboardInterrupt is not the cause
            cell = nb.cells[failed_index]
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
            _error_marker_cells(nb, failed_index, ename, evalue)
            failed_index += 1
    if failed_index is not None and failed_index < len(nb.cells):
        # 1-based number among code cells: stable whatever markdown is inserted
        failed_cell = sum(1 for c in nb.cells[:failed_index + 1] if c.cell_type == "code")
    status = "ok" if error is None else "failed"
    started_at = f"{started:%Y-%m-%d %H:%M:%S}"
    titled = job
    if ipynb.exists():  # the report's own title in its language (recorded with its headline)
        recorded = read_records(ipynb).get("headline")
        if isinstance(recorded, dict) and recorded.get("title"):
            titled = ReportJob(notebook=job.notebook, name=job.name, parameters=job.parameters,
                               title=str(recorded["title"]))
    header = nbformat.v4.new_markdown_cell(_header_markdown(
        titled, info, kernel_name, python, started_at, seconds, status, error, failed_source, failed_cell))
    header.metadata["tags"] = [HEADER_TAG]
    nb.cells = [c for c in nb.cells if HEADER_TAG not in c.metadata.get("tags", [])]
    nb.cells.insert(_header_position(nb) if status == "ok" else 0, header)
    nbformat.write(nb, str(ipynb))
    page.write_text(html_page(nb, titled.title, show_code=show_code, embed_font=embed_font), encoding="utf-8")
    records = read_records(ipynb)
    headline = records.get("headline") if isinstance(records.get("headline"), dict) else None
    title = (headline or {}).get("title") or job.title
    return ReportOutcome(name=job.name, notebook=str(job.notebook), title=title, parameters=job.parameters,
                         status=status, started_at=started_at, seconds=round(seconds, 2), ipynb=str(ipynb),
                         html=str(page), error=error, failed_cell=failed_cell, kernel=kernel_name,
                         n_records=len(records), headline=headline, lang=report_lang(job))


def _card_cell(nb) -> int | None:
    """Index of the first cell whose output shows the conclusion card (None: no card)."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "gs-conclusion" in str(out.get("data", {}).get("text/html", "")):
                return i
    return None


def _header_position(nb) -> int:
    """The header goes right after the conclusion card (the card opens the page), else first."""
    card = _card_cell(nb)
    return 0 if card is None else card + 1


def _withhold(outcome: ReportOutcome, hits: Mapping[str, list[str]]) -> None:
    """Replace a report page that shows private values by a notice; mark the run failed."""
    columns = ", ".join(f"{col} ({len(vals)} value(s))" for col, vals in hits.items())
    outcome.privacy = {col: len(vals) for col, vals in hits.items()}
    outcome.status = "failed"
    outcome.error = (f"PrivacyError: the outputs show raw values of {columns}; the HTML page was withheld. "
                     f"Change the notebook to show ids and aggregates only.")
    Path(outcome.html).write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Report withheld</title></head><body>"
        f"<h1>{html.escape(outcome.title)}: report withheld</h1><p>{html.escape(outcome.error)}</p>"
        "</body></html>", encoding="utf-8")
