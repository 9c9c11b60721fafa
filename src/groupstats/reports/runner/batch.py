"""Running a batch of reports (in parallel threads, each driving a warm kernel) and collecting their
outcomes."""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from groupstats.errors import ParameterError

from groupstats.reports.runner.planning import ReportJob
from groupstats.reports.runner.header import (DEFAULT_KERNEL, _load_quietly, _table_rows, dataset_info,
                                              kernel_python, report_lang)
from groupstats.reports.runner.privacy import find_private_values, private_values
from groupstats.reports.runner.applicability import _mark_not_applicable, job_not_applicable
from groupstats.reports.runner.outcomes import ReportBatch, ReportOutcome
from groupstats.reports.runner.execution import DEFAULT_TIMEOUT, _withhold, execute_report
from groupstats.reports.runner.html_export import _embed_batch_font
from groupstats.reports.runner.index_page import write_index
from groupstats.reports.runner.warm_kernel import KERNELS


def run_reports(jobs: Sequence[ReportJob], out_dir: str | Path, kernel_name: str = DEFAULT_KERNEL,
                timeout: float | None = DEFAULT_TIMEOUT, show_code: bool = False, n_jobs: int = 1,
                progress: bool | None = None, echo=None, fresh_kernels: bool = False) -> ReportBatch:
    """Execute reports (in parallel with ``n_jobs`` > 1), check privacy, write the index.

    Parameters
    ----------
    jobs : sequence of ReportJob
        From :func:`plan_reports`.
    out_dir : str or Path
        Folder for ``<name>.ipynb``, ``<name>.html``, ``index.html`` and ``index.json``.
    kernel_name : str
        Jupyter kernel (default ``python3``: this environment's interpreter).
    timeout : float or None
        Seconds a single cell may run (None: no limit).
    show_code : bool
        Keep the code in the HTML pages.
    n_jobs : int
        Reports run at once (threads of this process, each driving its own kernel).
        A kernel runs one report after the other and is reset to a fresh kernel's state
        before each (see :mod:`groupstats.reports.runner.warm_kernel`); kernels are kept
        for the next batch of this process.
    progress : bool or None
        Show a tqdm progress bar (None: only on a terminal).
    echo : callable, optional
        Called with one line per finished report.
    fresh_kernels : bool
        Start a new kernel for every report and shut it down after (slower; for a notebook
        that needs a brand-new interpreter).

    Returns
    -------
    ReportBatch
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    if n_jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {n_jobs}.")
    if timeout is not None and timeout <= 0:
        raise ParameterError(f"--timeout must be a positive number of seconds, got {timeout}.")
    python = kernel_python(kernel_name)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_paths = sorted({j.parameters["data_path"] for j in jobs if "data_path" in j.parameters})
    infos, private, table_rows = {}, {}, {}
    for path in data_paths:
        try:
            dataset = _load_quietly(path)
        except Exception:
            dataset = None
        infos[path] = dataset_info(path, dataset)
        private[path] = private_values(path, dataset) if dataset is not None else {}
        table_rows[path] = _table_rows(path) if dataset is not None else None
    t0 = time.perf_counter()
    outcomes: dict[str, ReportOutcome] = {}
    for job in jobs:  # reports the dataset cannot support are listed with the reason, not run
        reason = job_not_applicable(job, table_rows.get(job.parameters.get("data_path")))
        if reason is not None:
            outcomes[job.name] = ReportOutcome(
                name=job.name, notebook=str(job.notebook), title=job.title, parameters=job.parameters,
                status="not_applicable", started_at="", seconds=0.0, ipynb="", html="", kernel=kernel_name,
                lang=report_lang(job), reason=reason)
            if echo is not None:
                echo(f"n/a    {job.name}  not applicable: {reason}")
    runnable = [job for job in jobs if job.name not in outcomes]
    bar = tqdm(total=len(runnable), desc="reports", unit="report", disable=False if progress else
               (None if progress is None else True), file=sys.stderr)

    def finished(job: ReportJob, outcome: ReportOutcome) -> None:
        data_path = job.parameters.get("data_path")
        if outcome.ok and private.get(data_path):
            import nbformat

            hits = find_private_values(nbformat.read(outcome.ipynb, as_version=4), private[data_path])
            if hits:
                _withhold(outcome, hits)
        _mark_not_applicable(outcome)
        outcomes[job.name] = outcome
        bar.update(1)
        bar.set_postfix_str(job.name[:30])
        state = {"ok": "ok    ", "not_applicable": "n/a   "}.get(outcome.status, "FAILED")
        line = f"{state} {job.name}  {outcome.seconds:.1f} s  {outcome.html}"
        if outcome.status == "not_applicable":
            line += f"  not applicable: {outcome.reason}"
        if echo is not None:
            bar.clear()
            echo(line)
            bar.refresh()

    def args(job):
        return (job, out_dir, kernel_name, timeout, show_code,
                infos.get(job.parameters.get("data_path"), {"path": "(none)", "error": "no data_path"}), python,
                False)

    def run(job):
        kernel = KERNELS.acquire(kernel_name, fresh=fresh_kernels)
        try:
            return execute_report(*args(job), kernel=kernel)
        finally:
            KERNELS.release(kernel, keep=not fresh_kernels)

    def failed(job, exc):  # the runner itself failed on this report: still report it
        return ReportOutcome(name=job.name, notebook=str(job.notebook), title=job.title, parameters=job.parameters,
                             status="failed", started_at="", seconds=0.0, ipynb="", html="",
                             error=f"{type(exc).__name__}: {exc}", kernel=kernel_name)

    try:
        if n_jobs == 1 or len(runnable) <= 1:
            for job in runnable:
                finished(job, run(job))
        else:
            with ThreadPoolExecutor(max_workers=min(n_jobs, len(runnable)), thread_name_prefix="report") as pool:
                futures = {pool.submit(run, job): job for job in runnable}
                try:
                    for future in as_completed(futures):
                        job = futures[future]
                        try:
                            outcome = future.result()
                        except Exception as exc:
                            outcome = failed(job, exc)
                        finished(job, outcome)
                except BaseException:  # Ctrl-C: stop the kernels so the threads end now
                    pool.shutdown(wait=False, cancel_futures=True)
                    KERNELS.shutdown_all()
                    raise
    finally:
        bar.close()
    batch = ReportBatch(outcomes=[outcomes[j.name] for j in jobs if j.name in outcomes], out_dir=out_dir,
                        index_path=out_dir / "index.html", datasets=infos, kernel=kernel_name, python=python,
                        seconds=time.perf_counter() - t0)
    write_index(batch, embed_font=False)
    _embed_batch_font(batch)
    return batch
