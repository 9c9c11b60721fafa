"""Run the analysis notebooks as reports: papermill execution, HTML pages, an index.

A *report* is one parameterised notebook from ``notebooks/`` executed with
papermill on a dataset. For every run the runner writes

* ``<name>.ipynb``: the executed notebook (for analysts), with a header cell;
* ``<name>.html``: a page a manager opens in a browser (code hidden unless
  ``show_code``; figures embedded as images; the header at the top gives the
  dataset path and date range, the parameters, the groupstats version, the
  kernel and the run time; a failed run shows the failing cell and its error);
* ``index.html`` / ``index.json``: every report of the batch with its
  parameters, run time and status.

Parameters given as text (``-p key=value`` on the command line) or in a grid
file are checked *before anything runs* against the parameters cell of each
selected notebook: a name no selected notebook declares is an error listing
the valid names, and each value is converted to the type the notebook
declares (``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``, and dates
written as ISO strings, which are checked to parse).

Failures are contained: a cell that raises, a cell that exceeds the timeout or
a kernel that dies marks that report failed (its executed notebook and HTML
page still exist) and the batch carries on. Reports never show raw message
text or nicknames: after each run the outputs are scanned for values of such
columns of the dataset and, if any appear, the HTML page is withheld and the
run is reported as failed.

Example
-------
>>> from groupstats.reports.runner import plan_reports, run_reports
>>> jobs = plan_reports(["all"], data="sample", parameters={"k": "4"})   # doctest: +SKIP
>>> batch = run_reports(jobs, "reports", n_jobs=2)                     # doctest: +SKIP
>>> batch.index_path, [o.name for o in batch.failures]                 # doctest: +SKIP

Modules: ``parameters`` (notebooks and their declared parameters), ``planning`` (jobs and grids),
``header`` (the page header), ``privacy`` (private values in outputs), ``applicability``
(reports a dataset cannot support), ``outcomes`` (ReportOutcome, ReportBatch), ``execution``
(one report), ``html_export`` (the page and its font), ``batch`` (running a batch),
``index_page`` (the index), ``warm_kernel`` (kernels reused across reports, reset between
them). Every name stays importable from ``groupstats.reports.runner``.
"""
from __future__ import annotations

from groupstats.reports.runner.parameters import (_TRUE, _FALSE, _NULL, _SCALAR_KINDS, _DATE_NAME_TOKENS,
                                                  _ISO_DATE, notebooks_dir, available_notebooks,
                                                  find_notebooks, DeclaredParameter, _parameters_cell,
                                                  _annotation_kind, _value_kind, _looks_like_date_parameter,
                                                  declared_parameters, _parse_iso, parse_assignments,
                                                  _scalar, coerce_parameter)
from groupstats.reports.runner.planning import (ReportJob, GridSpec, load_grid, _title_of, _slug,
                                                _check_names, resolve_data, plan_reports)
from groupstats.reports.runner.header import (HEADER_TAG, DEFAULT_KERNEL, kernel_python, dataset_info,
                                              _table_rows, _load_quietly, _fmt_value, _md_escape,
                                              report_lang, parameters_used, local_time, _header_markdown)
from groupstats.reports.runner.privacy import (PRIVATE_COLUMNS, MIN_PRIVATE_LENGTH, PRIVATE_KEY_LENGTH,
                                               private_values, _output_texts, find_private_values)
from groupstats.reports.runner.applicability import (REPORT_NEEDS,
                                                     not_applicable_reason, NOT_APPLICABLE_ERRORS,
                                                     _mark_not_applicable, job_not_applicable)
from groupstats.reports.runner.outcomes import ReportOutcome, ReportBatch
from groupstats.reports.runner.execution import (DEFAULT_TIMEOUT, _error_marker_cells,
                                                 _started_cells, execute_report, _card_cell,
                                                 _header_position, _withhold)
from groupstats.reports.runner.warm_kernel import KERNELS, KernelPool, WarmKernel
from groupstats.reports.runner.html_export import html_page, _embed_batch_font
from groupstats.reports.runner.batch import run_reports
from groupstats.reports.runner.index_page import REPORT_ORDER, report_order_key, write_index

