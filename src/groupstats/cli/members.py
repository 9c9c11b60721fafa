"""Commands on members: ``features`` (member features as of a cutoff) and ``segment``."""
from __future__ import annotations

from pathlib import Path

import typer

from groupstats.cli.common import date_callback, load_checking, timestamp_format_option, written_once_checked
from groupstats.cli.engine_options import engine_option, spark_master_option
from groupstats.cli.language_option import lang_option
from groupstats.cli.table_files import check_table_suffix, write_table


def register(app: typer.Typer) -> None:
    _register_features(app)
    register_segment(app)


def _register_features(app: typer.Typer) -> None:
    @app.command("features")
    def features(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        out: Path = typer.Option(..., "--out", help="Output file, .parquet or .csv."),
        cutoff: str = typer.Option(None, "--cutoff", help="Use data up to this date/time (default: the last "
                                                          "message).", callback=date_callback),
        within_group: bool = typer.Option(False, "--within-group",
                                          help="Write within-group percentile ranks instead of raw values."),
        validate: bool = typer.Option(True, "--validate/--no-validate",
                                      help="Check the data model (in the engine for Parquet datasets, while the "
                                           "features are computed; nothing is written if a check fails). Skip it "
                                           "for a dataset already checked with 'groupstats validate'."),
        timestamp_format: str = timestamp_format_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option("the summary line"),
    ) -> None:
        """Write member features (one row per group_id, member_id) as of a cutoff."""
        from groupstats.tables.features import member_features

        check_table_suffix(out)
        # (the checks take the cores the feature passes leave idle: see load_checking)
        ds, checks = load_checking(data, validate=validate, engine=engine, spark_master=spark_master)
        # written meanwhile, in place only once the data passed every check
        with written_once_checked(out, checks) as part:
            frame = member_features(ds, cutoff=cutoff, normalise_within_group=within_group)
            write_table(frame, part)
        from groupstats.reports.i18n import fmt_num, t

        typer.echo(t("cli.wrote_features", lang, n=fmt_num(len(frame), lang), groups=frame["group_id"].nunique(),
                     features=len(frame.columns) - 2, cutoff=frame.attrs.get("cutoff", ""), path=out))


def register_segment(app: typer.Typer) -> None:
    @app.command("segment")
    def segment(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        cutoff: str = typer.Option(None, "--cutoff", help="Use data up to this date/time (default: the last "
                                                          "message).", callback=date_callback),
        k: str = typer.Option("auto", "--k", help="Number of segments, or 'auto' (lowest BIC over 2-8; "
                                                  "silhouette for kmeans)."),
        method: str = typer.Option("default", "--method",
                                   help="rate_mixture (the default: mixture on the log message rate with group "
                                        "effects), gmm or kmeans (k by silhouette, which favours k = 2)."),
        features: str = typer.Option("within_group", "--features",
                                     help="within_group (percentile ranks in each group) or raw."),
        tiers: str = typer.Option("activity", "--tiers", help="Tier preset (activity, points, rfm) or a YAML "
                                                              "file; 'none' to skip."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        out: Path = typer.Option(None, "--out", help="Write one row per (group_id, member_id) with segment and "
                                                     "tier to this .csv or .parquet file."),
        as_json: bool = typer.Option(False, "--json", help="Print k, selection scores, the evidence for k and "
                                                           "the runner-up, stability, profiles as JSON."),
        timestamp_format: str = timestamp_format_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option(),
    ) -> None:
        """Segment members from their activity up to a cutoff and compare with rule-based tiers."""
        from groupstats.errors import ParameterError
        from groupstats.analyses.segmentation import segment_members
        from groupstats.cli.common import emit

        if k != "auto":
            try:
                k_value = int(k)
            except ValueError as exc:
                raise ParameterError(f"--k must be 'auto' or a whole number, not {k!r}.") from exc
        else:
            k_value = "auto"
        tier_preset = None if tiers.lower() == "none" else tiers
        ds, checks = load_checking(data, engine=engine, spark_master=spark_master)
        with checks:  # a Parquet folder's checks run meanwhile; nothing is shown before they pass
            result = segment_members(ds, cutoff=cutoff, method=method, k=k_value, features=features,
                                     tiers=tier_preset, random_state=seed)
        if out is not None:
            cols = ["group_id", "member_id", "segment"] + (["tier"] if "tier" in result.assignments else [])
            write_table(result.assignments[cols], out)
        emit(result, as_json, lang)
        if out is not None and not as_json:
            from groupstats.reports.i18n import fmt_num, t

            typer.echo("\n" + t("cli.wrote_segments", lang, n=fmt_num(len(result.assignments), lang), path=out))
