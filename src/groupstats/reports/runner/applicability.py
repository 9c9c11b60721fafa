"""Which reports a dataset can support, decided from its tables before anything runs, and the reason
shown for a report that does not apply."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from groupstats.reports.runner.planning import ReportJob
from groupstats.reports.runner.header import report_lang


# --------------------------------------------------------------------------------------
# applicability: which reports a dataset can support, decided from its tables before papermill
# --------------------------------------------------------------------------------------
#: Tables a report needs besides messages and members (which every valid dataset has), by notebook.
REPORT_NEEDS: dict[str, tuple[str, ...]] = {
    "posting_time_ab": ("posts", "assignments"),
    "experiment_monitor": ("posts", "assignments"),
    "content_mix": ("posts", "assignments"),
    "plan_slots": ("posts",),
}


# the words of this module are in the catalogue (reports/i18n/catalogue_core.py)


def not_applicable_reason(report: str, table_rows: Mapping[str, int], lang: str = "en") -> str | None:
    """Why report ``report`` (a notebook stem) cannot run on a dataset, or None if it can.

    ``table_rows`` maps each table the dataset has to its number of rows. A report is not
    applicable when a table it needs (:data:`REPORT_NEEDS`) is absent or empty, e.g.
    "no posts table: posting-time A/B needs posts and assignments".
    """
    from groupstats.reports.i18n import t

    needs = REPORT_NEEDS.get(report.split("--", 1)[0], ())
    for table in needs:
        rows = table_rows.get(table)
        if rows is None or rows == 0:
            return t("applicability.no_table" if rows is None else "applicability.empty_table", lang,
                     table=table, report=t(f"report.{report.split('--', 1)[0]}", lang),
                     needs=f" {t('applicability.and', lang)} ".join(needs))
    return None


#: Errors by which an analysis says the data cannot support it (too little history, a missing
#: table): a report stopped by one of them is not applicable, with the error's message as reason.
NOT_APPLICABLE_ERRORS = ("InsufficientDataError", "MissingTableError")


def _mark_not_applicable(outcome: "ReportOutcome") -> None:
    """Turn a run stopped by an :data:`NOT_APPLICABLE_ERRORS` error into ``not_applicable``.

    Its page is kept: it shows where the analysis stopped and the message.
    """
    ename, _, evalue = (outcome.error or "").partition(": ")
    if outcome.status == "failed" and ename in NOT_APPLICABLE_ERRORS:
        from groupstats.reports.i18n import note_text

        # the analysis's message in the report's language (the catalogue's note templates)
        outcome.status, outcome.reason = "not_applicable", note_text(evalue, outcome.lang)


def job_not_applicable(job: ReportJob, table_rows: Mapping[str, int] | None) -> str | None:
    """:func:`not_applicable_reason` of a planned run (None when the dataset could not be read:
    the run then fails and its page shows why)."""
    if table_rows is None:
        return None
    return not_applicable_reason(Path(job.notebook).stem, table_rows, report_lang(job))
