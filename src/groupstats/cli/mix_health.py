"""Commands ``mix`` (content-mix experiments and compliance) and ``health`` (group health)."""
from __future__ import annotations

import typer

from groupstats.cli.engine_options import engine_option, spark_master_option

from groupstats.cli.monitoring_options import as_of_option, n_opt_option, prior_sd_option, sequential_option
from groupstats.cli.common import date_callback, emit, load, timestamp_format_option
from groupstats.cli.language_option import lang_option


def register(app: typer.Typer) -> None:
    @app.command("mix")
    def mix(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        experiment: str = typer.Option(None, "--experiment", help="experiment_id of a group-randomised mix "
                                                                   "experiment in assignments."),
        metric: str = typer.Option("messages_per_member_day", "--metric",
                                   help="messages_per_member_day, active_share, replies_per_post or read_rate."),
        target: str = typer.Option(None, "--target", help="Target mix for a compliance check, e.g. "
                                                          "practical:30,interactive:50,lifestyle:20, or a preset "
                                                          "(interactive_352, manage_4321, interact_721)."),
        mapping: str = typer.Option(None, "--mapping", help="YAML/CSV file translating your content labels "
                                                            "to the target's categories (label: category)."),
        adjustment: str = typer.Option("auto", "--adjustment", help="Pre-period adjustment: auto, cuped, did "
                                                                    "or none."),
        content_types: bool = typer.Option(False, "--content-types",
                                           help="Observational view: replies per post by content type with "
                                                "group fixed effects."),
        start: str = typer.Option(None, "--start", help="First date of the compliance check (YYYY-MM-DD).",
                                  callback=date_callback),
        end: str = typer.Option(None, "--end", help="Last date of the compliance check (YYYY-MM-DD).",
                                callback=date_callback),
        alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        as_of: str = as_of_option("with --experiment"),
        sequential: bool = sequential_option("group-days; with --experiment"),
        n_opt: float = n_opt_option(),
        prior_sd: float = prior_sd_option(),
        timestamp_format: str = timestamp_format_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option(),
    ) -> None:
        """Analyse a content-mix experiment (--experiment) or check compliance with a target mix (--target).

        With --experiment the JSON has the keys of `groupstats abtest` (arms, comparisons, srm) plus
        experiment, metric and method. Exits with code 2 on a bad target (categories no post carries,
        percentages not summing to 100) or an unknown experiment.
        """
        from groupstats.analyses.content_mix import analyse_mix_experiment, check_compliance, content_type_engagement
        from groupstats.errors import ParameterError

        chosen = sum(x is not None and x is not False for x in (experiment, target)) + int(content_types)
        if chosen != 1:
            raise ParameterError("Give exactly one of --experiment ID (experiment analysis), --target MIX "
                                 "(compliance check) or --content-types (observational view).")
        if experiment is None and (as_of is not None or sequential):
            raise ParameterError("--as-of and --sequential apply to an experiment analysis; add --experiment ID.")
        monitoring = dict(as_of=as_of, sequential=sequential, n_opt=n_opt, prior_sd=prior_sd)
        ds = load(data, engine=engine, spark_master=spark_master)
        if experiment is not None:
            result = analyse_mix_experiment(ds, experiment, metric=metric, adjustment=adjustment,
                                            alpha=alpha, mapping=mapping, **monitoring)
        elif target is not None:
            result = check_compliance(ds, target, mapping=mapping, start=start, end=end, alpha=alpha)
        else:
            result = content_type_engagement(ds, mapping=mapping, alpha=alpha)
        emit(result, as_json, lang)

    @app.command("health")
    def health(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        thresholds: str = typer.Option(None, "--thresholds", help="Thresholds YAML file (default: the shipped "
                                                                   "presets/health_thresholds.yaml)."),
        start: str = typer.Option(None, "--start", help="First date (YYYY-MM-DD).", callback=date_callback),
        end: str = typer.Option(None, "--end", help="Last date (YYYY-MM-DD).", callback=date_callback),
        recent_weeks: int = typer.Option(4, "--recent-weeks", min=1, help="Weeks over which groups are ranked."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        timestamp_format: str = timestamp_format_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option(),
    ) -> None:
        """Judge each group-week against health thresholds and rank the groups needing attention."""
        from groupstats.analyses.health import assess_health

        ds = load(data, engine=engine, spark_master=spark_master)
        emit(assess_health(ds, thresholds=thresholds, start=start, end=end, recent_weeks=recent_weeks), as_json, lang)
