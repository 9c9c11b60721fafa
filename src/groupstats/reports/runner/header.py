"""What the page header shows: the kernel's Python, the dataset's path, dates and tables, the parameter
values used and the run's times."""
from __future__ import annotations

import datetime as _dt
import html
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from groupstats.errors import ParameterError

from groupstats.reports.runner.parameters import declared_parameters
from groupstats.reports.runner.planning import ReportJob


#: Tag of the header cell the runner inserts at the top of every executed notebook.
HEADER_TAG = "groupstats-report-header"
DEFAULT_KERNEL = "python3"


# --------------------------------------------------------------------------------------
# kernel and dataset information for the header
# --------------------------------------------------------------------------------------
def kernel_python(kernel_name: str = DEFAULT_KERNEL) -> str:
    """The interpreter a kernel runs (as jupyter_client resolves it).

    A kernelspec whose command starts with ``python`` runs this interpreter
    (``sys.executable``), which is how papermill's ``python3`` stays in the
    project's environment.

    Raises
    ------
    ParameterError
        When no kernel of that name is installed (the message lists them).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        names = ", ".join(sorted(manager.find_kernel_specs())) or "(none)"
        raise ParameterError(
            f"There is no Jupyter kernel named {kernel_name!r}. Installed kernels: {names}. Register the "
            f"project's environment with `.venv/bin/python -m ipykernel install --sys-prefix --name python3`, "
            f"or pick one with --kernel. Nothing was run.") from None
    command = spec.argv[0] if spec.argv else ""
    if command in ("python", "python3", "{python}") or command.startswith("python3."):
        return sys.executable
    return command


def dataset_info(data_path: str | Path, dataset=None) -> dict:
    """Path, date range and timezone of a dataset, for report headers (never raises)."""
    info: dict[str, Any] = {"path": str(data_path)}
    try:
        ds = _load_quietly(data_path) if dataset is None else dataset
        start, end = ds.date_range()
        info.update(start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}", tz=str(ds.tz),
                    n_messages=ds.n_rows("messages"))
    except Exception as exc:  # the notebooks will report the problem in full
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _table_rows(data_path) -> dict[str, int]:
    """Rows of every table file of a dataset folder (Parquet from its metadata, CSV by lines), unloaded."""
    rows: dict[str, int] = {}
    for file in sorted(Path(data_path).glob("*.parquet")) + sorted(Path(data_path).glob("*.csv")):
        if file.stem in rows:
            continue
        try:
            if file.suffix == ".parquet":
                import pyarrow.parquet as pq

                rows[file.stem] = int(pq.ParquetFile(file).metadata.num_rows)
            else:
                with open(file, "rb") as fh:
                    rows[file.stem] = max(sum(1 for _ in fh) - 1, 0)
        except Exception:  # unreadable: the notebook reports it
            rows[file.stem] = 1
    return rows


def _load_quietly(data_path):
    from groupstats.data.dataset import load_dataset

    return load_dataset(data_path, validate=False, tables=[])


def _fmt_value(value) -> str:
    """A parameter value as the header shows it: text as it is, an empty text as ``""`` (``cutoff =``
    with nothing after it read as cut-off text), anything else as JSON."""
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


#: Style of the header table: values are code that wraps, between values and inside a long value (a
#: path, a mix), so a long list of parameters stays readable however narrow the page.
_HEADER_STYLE = ("<style>table.gs-header td:first-child { white-space: nowrap; vertical-align: top; } "
                 "table.gs-header code { display: inline-block; max-width: 100%; white-space: pre-wrap; "
                 "overflow-wrap: anywhere; margin: 0 .4em .2em 0; }</style>")


def _code_html(text) -> str:
    """``text`` as an HTML code element (MathJax leaves code alone, so ``$`` stays as is)."""
    import html as _html

    return f"<code>{_html.escape(str(text), quote=False)}</code>"


def report_lang(job: ReportJob) -> str:
    """The language of a report: its ``lang`` parameter, else the notebook's default, else English
    (a notebook without a ``lang`` parameter is not translated)."""
    if job.parameters.get("lang"):
        return str(job.parameters["lang"])
    try:
        declared = declared_parameters(job.notebook).get("lang")
    except Exception:  # an unreadable notebook fails later, with its own message
        declared = None
    return str(declared.default) if declared is not None and declared.default else "en"


def parameters_used(job: ReportJob) -> dict[str, Any]:
    """Every parameter value the notebook ran with: the declared defaults overridden by the job's."""
    try:
        values = {name: d.default for name, d in declared_parameters(job.notebook).items()}
    except Exception:
        values = {}
    values.update(job.parameters)
    return values


def local_time(utc_text: str, tz: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) as ``YYYY-MM-DD HH:MM (zone)`` in the dataset's time zone."""
    if not utc_text:
        return ""
    try:
        ts = _dt.datetime.strptime(utc_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_dt.timezone.utc)
        if tz:
            from zoneinfo import ZoneInfo

            ts = ts.astimezone(ZoneInfo(tz))
            return f"{ts:%Y-%m-%d %H:%M} ({tz})"
    except Exception:
        return f"{utc_text} UTC"
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def _header_markdown(job: ReportJob, info: Mapping, kernel_name: str, python: str, started_at: str,
                     seconds: float, status: str, error: str | None, failed_source: str | None,
                     failed_cell: int | None) -> str:
    from groupstats import __version__
    from groupstats.reports.i18n import LANGS, fmt_num, t

    lang = report_lang(job)
    lang = lang if lang in LANGS else "en"
    if "error" in info:
        date_range = t("header.unavailable", lang, error=info["error"])
    else:
        date_range = t("header.range", lang, start=info["start"], end=info["end"], tz=info["tz"],
                       n=fmt_num(info["n_messages"], lang))
    esc = html.escape
    params = " ".join(_code_html(f"{k} = {_fmt_value(v)}") for k, v in parameters_used(job).items()
                      if k != "data_path")
    rows = [(t("header.dataset", lang), _code_html(info["path"])), (t("header.date_range", lang), esc(date_range)),
            (t("header.parameters", lang), params or esc(t("index.defaults", lang))),
            (t("header.version", lang), esc(__version__)),
            (t("header.kernel", lang), f"{esc(kernel_name)} ({_code_html(python)})"),
            (t("header.run", lang), esc(t("header.run_value", lang, when=local_time(started_at, info.get("tz")),
                                          seconds=f"{seconds:.1f}"))),
            (t("header.status", lang), esc(t("header.ok", lang)) if status == "ok" else
             f"<b>{esc(t('header.failed', lang))}</b>: {esc(error or '')}")]
    # an HTML table (one line: a markdown cell's HTML block ends at a blank line), so the values
    # can wrap; markdown inside it is not interpreted
    body = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows)
    about = f"{esc(t('header.about', lang))}: {esc(job.title)}"
    lines = [f'{_HEADER_STYLE}<table class="gs-header"><thead><tr><th>{about}</th><th></th></tr></thead>'
             f"<tbody>{body}</tbody></table>".replace("\n", " ")]
    if status != "ok":
        where = f"In [{failed_cell}]" if failed_cell is not None else "start-up"
        lines += ["", f"**{t('header.did_not_finish', lang, where=where)}** `{_md_escape(error)}`"]
        if failed_source:
            lines += ["", t("header.failing_cell", lang), "", "```python", failed_source.rstrip(), "```"]
    return "\n".join(lines)
