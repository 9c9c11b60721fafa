"""Command ``churn``: score every member's churn risk at a date, with a time-split backtest."""
from __future__ import annotations

from pathlib import Path

import typer

from groupstats.cli.engine_options import engine_option, spark_master_option

from groupstats.cli.common import (date_callback, emit, load_checking, timestamp_format_option,
                                   written_once_checked)
from groupstats.cli.language_option import lang_option
from groupstats.cli.table_files import write_csv


def _open(data: str, engine: str, spark_master: str | None):
    """The dataset for ``churn``, bound to its engine, and its pending checks: a Parquet folder is read by
    the engine (messages and events are read into pandas only if an in-memory step asks for them) and
    checked by the engine while the churn model is computed (:func:`~groupstats.cli.common.load_checking`:
    use the results only after leaving ``with checks:``, which raises a failed check's error). The checks take
    the cores the churn model leaves idle (its pandas work, fits and drivers run on one or two threads)."""
    return load_checking(data, engine=engine, spark_master=spark_master)


def register(app: typer.Typer) -> None:
    @app.command("churn")
    def churn(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        cutoff: str = typer.Option(None, "--cutoff", help="Scoring date (YYYY-MM-DD, taken at local midnight); "
                                                          "default: the end of the data.",
                                   callback=date_callback),
        horizon: int = typer.Option(30, "--horizon", min=1, help="Churn window in days after the scoring date."),
        definition: str = typer.Option("silent", "--definition",
                                       help="silent (no message in the horizon), left (leaves the group in it) "
                                            "or either."),
        out: Path = typer.Option(..., "--out", help="CSV to write: one row per (group_id, member_id) with risk "
                                                    "in [0, 1] and the top drivers."),
        as_json: bool = typer.Option(False, "--json", help="Print backtest metrics per model (and the evaluation "
                                                           "at the scoring date where there is one) as JSON."),
        timestamp_format: str = timestamp_format_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option(),
    ) -> None:
        """Churn risk of every member present at the scoring date.

        The model is trained only on earlier cutoffs whose horizon ends by the
        scoring date and calibrated on a later cutoff than it was trained on; the
        same procedure is backtested one horizon earlier when the history allows.
        With only one labelled cutoff (14 days of history + the horizon), it is
        trained there and calibrated by cross-fitting across groups, and the output
        says there is no out-of-time backtest. Where the data extend a full horizon
        past the scoring date, the scores are also judged against what happened.
        Exit code 2, saying how much history is needed, only when not even one
        labelled cutoff fits before the scoring date.
        """
        from groupstats.analyses.churn import DEFINITIONS, churn_risk
        from groupstats.errors import ParameterError

        if definition not in DEFINITIONS:
            raise ParameterError(f"--definition must be one of {', '.join(DEFINITIONS)}, not {definition!r}.")
        dataset, checks = _open(data, engine, spark_master)
        out = Path(out)
        # the scores are put in place only once the data passed every check
        with written_once_checked(out, checks) as part:
            result = churn_risk(dataset, cutoff=cutoff, horizon=horizon, definition=definition)
            write_csv(result.scores, part)  # (the bytes of to_csv, a fraction of its time)
        emit(result, as_json, lang)
        if not as_json:
            from groupstats.reports.i18n import fmt_num, t

            typer.echo("\n" + t("cli.wrote_risk", lang, n=fmt_num(len(result.scores), lang), path=out))
