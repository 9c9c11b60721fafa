"""Commands on datasets: ``validate`` and ``simulate``."""
from __future__ import annotations

from pathlib import Path

import typer

from groupstats.cli.common import dumps, emit, load, timestamp_format_option
from groupstats.cli.language_option import lang_option


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        path: str = typer.Argument(..., help="Dataset folder (one .parquet or .csv file per table), or 'sample'."),
        tz: str = typer.Option(None, "--tz", help="Timezone for naive timestamps (default: the dataset's, "
                                                  "else Asia/Shanghai)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        timestamp_format: str = timestamp_format_option(),
        lang: str = lang_option("the summary"),
    ) -> None:
        """Check a dataset against the data model and print a summary.

        Exits with code 2 and a message naming the file, column and rows of
        every problem when the data are invalid.
        """
        dataset = load(path, tz=tz)
        summary = dataset.summary()
        if as_json:
            typer.echo(summary.to_json())
        else:
            from groupstats.reports.i18n import t

            typer.echo(t("cli.valid_dataset", lang, path=dataset.path))
            emit(summary, False, lang)

    @app.command("simulate")
    def simulate(
        out: Path = typer.Option(..., "--out", help="Folder to write the dataset and truth.json to."),
        groups: int = typer.Option(12, "--groups", min=2, help="Number of groups."),
        days: int = typer.Option(120, "--days", min=14, help="Days of activity."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same data)."),
        fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
        members: float = typer.Option(80.0, "--members", help="Median members per group."),
        no_events: bool = typer.Option(False, "--no-events", help="Skip the events table (faster at scale)."),
        lang: str = lang_option("the summary lines"),
    ) -> None:
        """Generate a realistic community with planted ground truth (truth.json)."""
        from groupstats.errors import ParameterError
        from groupstats.data.simulate import write_simulation

        if fmt not in ("parquet", "csv"):
            raise ParameterError(f"--format must be parquet or csv, not {fmt!r}.")
        folder, truth = write_simulation(out, n_groups=groups, days=days, seed=seed, format=fmt,
                                         members_per_group=members, events=not no_events)
        from groupstats.reports.i18n import fmt_num, t

        typer.echo(t("cli.wrote_simulation", lang, n=fmt_num(truth["n_messages"], lang), groups=groups, days=days,
                     path=folder))
        typer.echo(t("cli.planted_truth", lang) + dumps({"slot_experiment": truth["slot_experiment"]["itt_rel_effect"],
                                              "mix_experiment": truth["mix_experiment"]["rel_effect"]}))
