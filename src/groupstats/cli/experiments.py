"""Experiment commands: ``abtest``, ``compare`` and ``plan-slots``."""
from __future__ import annotations

import typer

from groupstats.cli.engine_options import engine_option, spark_master_option

from groupstats.cli.monitoring_options import as_of_option, n_opt_option, prior_sd_option, sequential_option
from groupstats.cli.common import date_callback, dumps, duration_callback, echo_notes, load, timestamp_format_option
from groupstats.cli.language_option import lang_option


def _parse_ratio(text: str | None):
    """'1:1:2' (sorted arm order) or 'morning=1,evening=2' -> list or dict; None stays None."""
    from groupstats.errors import ParameterError

    if text is None or text == "":
        return None
    try:
        if "=" in text:
            return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(",") if p.strip())}
        return [float(x) for x in text.replace(",", ":").split(":") if x.strip()]
    except ValueError as exc:
        raise ParameterError(f"--expected-ratio {text!r} is malformed; write 1:1:2 (arms in sorted order) "
                             "or morning=1,evening=2.") from exc


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _comparison_json(result, experiment: str, extra: dict | None = None) -> str:
    """The JSON contract shared by abtest and compare (``extra``: keys added by compare's monitoring options).

    ``conclusion`` is in the result's language (``--lang``); every other key and value is not.
    """
    d = result.to_dict()
    d.update(extra or {})
    arms = [{k: a.get(k) for k in ("arm", "n_units", "n_clusters", "mean")} | {
        k: v for k, v in a.items() if k not in ("arm", "n_units", "n_clusters", "mean")} for a in d["arms"]]
    out = {"experiment": experiment, "metric": d["metric"], "method": d["method"], "arms": arms,
           "comparisons": d["comparisons"], "srm": d["srm"]}
    out.update({k: v for k, v in d.items() if k not in out})
    if "conclusion" not in out:
        out["conclusion"] = result.conclusion()
    return dumps(out)


def register(app: typer.Typer) -> None:
    @app.command("abtest")
    def abtest(
        data: str = typer.Argument(..., help="Dataset folder (with posts and assignments), or 'sample'."),
        experiment: str = typer.Option(..., "--experiment", help="experiment_id in the assignments table."),
        metric: str = typer.Option("replies", "--metric", help="Primary metric: replies, responses, "
                                   "incremental_responses, responders, read_rate, click_rate."),
        window: str = typer.Option("2h", "--window", help="Response window after each post (with a unit: "
                                   "2h, 30min, 1D).", callback=duration_callback),
        control: str = typer.Option(None, "--control", help="Control arm (default morning, else the first)."),
        alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
        correction: str = typer.Option("holm", "--correction", help="holm, bh, bonferroni or none."),
        washout: str = typer.Option(None, "--washout", help="Drop posts this long after each period "
                                    "starts (e.g. 1D, 6h) against carryover.", callback=duration_callback),
        exclude_red_packets: str = typer.Option(None, "--exclude-red-packets", help="Exclude red packets "
                                                "and the messages this long after them (e.g. 10min).",
                                                callback=duration_callback),
        kind: str = typer.Option(None, "--kind", help="Override the comparison kind (e.g. count for "
                                 "Poisson rate ratios)."),
        secondary: str = typer.Option(None, "--secondary", help="Comma-separated exploratory metrics."),
        slots: str = typer.Option(None, "--slots", help="Slot definitions, e.g. "
                                  "'morning=07-09,noon=12-14,evening=19-21' (the default)."),
        expected_ratio: str = typer.Option(None, "--expected-ratio", help="Planned allocation of "
                                           "group-periods, e.g. 1:1:1 or morning=1,evening=2."),
        seed: int = typer.Option(None, "--seed", help="Seed for anything random (bootstrap)."),
        method: str = typer.Option("auto", "--method", help="auto (CR2), cr1, bootstrap or wild (wild cluster bootstrap, Webb weights)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        timestamp_format: str = timestamp_format_option(),
        as_of: str = as_of_option(),
        sequential: bool = sequential_option("group-periods for switchbacks, group-days otherwise"),
        n_opt: float = n_opt_option(),
        prior_sd: float = prior_sd_option(),
        engine: str = engine_option(),
        spark_master: str = spark_master_option(),
        lang: str = lang_option(),
    ) -> None:
        """Analyse a posting-slot experiment (switchback or group-randomised) of a dataset."""
        from groupstats.analyses.slot_experiment import analyse_slot_experiment

        ds = load(data, engine=engine, spark_master=spark_master)
        result = analyse_slot_experiment(
            ds, experiment, metric, window=window, control=control, alpha=alpha, correction=correction,
            slots=slots, washout=washout, exclude_red_packets=exclude_red_packets, kind=kind,
            method=method, expected_ratio=_parse_ratio(expected_ratio), secondary=_split(secondary),
            seed=seed, as_of=as_of, sequential=sequential, n_opt=n_opt, prior_sd=prior_sd)
        result.in_language(lang)
        if as_json:
            typer.echo(_comparison_json(result, experiment))
        else:
            typer.echo(result.to_string())
            echo_notes(result.notes + list(result.comparison.notes), lang)

    @app.command("compare")
    def compare(
        table: str = typer.Argument(..., help="Tidy CSV/TSV/Parquet file, one row per unit."),
        arm: str = typer.Option(..., "--arm", help="Column with the arm of each row."),
        metric: str = typer.Option(..., "--metric", help="Outcome column."),
        kind: str = typer.Option("mean", "--kind", help="mean, proportion, count or ratio."),
        denominator: str = typer.Option(None, "--denominator", help="Denominator column (kind ratio)."),
        cluster: str = typer.Option(None, "--cluster", help="Cluster column (e.g. group id)."),
        covariate: str = typer.Option(None, "--covariate", help="Pre-period covariate (CUPED)."),
        fixed_effects: str = typer.Option(None, "--fixed-effects", help="Comma-separated fixed-effect "
                                          "columns (switchback designs)."),
        control: str = typer.Option(None, "--control", help="Control arm (default: first in sorted order)."),
        alpha: float = typer.Option(0.05, "--alpha"),
        correction: str = typer.Option("holm", "--correction", help="holm, bh, bonferroni or none."),
        method: str = typer.Option("auto", "--method", help="auto, cr2, cr1, model, negbin, bootstrap or wild (wild cluster bootstrap, Webb weights; needs --cluster)."),
        expected_ratio: str = typer.Option(None, "--expected-ratio", help="Planned allocation, e.g. 1:1."),
        seed: int = typer.Option(None, "--seed", help="Bootstrap seed (bootstrap, wild)."),
        n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap replications (bootstrap, wild)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        as_of: str = as_of_option("rows whose --time-column is later are left out"),
        time_column: str = typer.Option(None, "--time-column", help="Column with each row's time (for --as-of, "
                                        "and the days counted as units by --sequential)."),
        sequential: bool = sequential_option("cluster-days with --time-column, else clusters, else rows"),
        n_opt: float = n_opt_option("the units in the table"),
        prior_sd: float = prior_sd_option(),
        lang: str = lang_option(),
    ) -> None:
        """Compare arms on any tidy table (the comparison engine, for experiments run elsewhere)."""
        from pathlib import Path

        from groupstats.stats.compare import compare_arms, compare_table
        from groupstats.stats.sequential import monitored_table, monitoring_readout

        options = dict(arm=arm, metric=metric, kind=kind, denominator=denominator,
                       control=control, cluster=cluster, covariate=covariate,
                       fixed_effects=_split(fixed_effects), alpha=alpha, correction=correction,
                       method=method, expected_ratio=_parse_ratio(expected_ratio), n_boot=n_boot, seed=seed)
        if as_of is None and time_column is None and not sequential:
            result = compare_table(table, **options).in_language(lang)
            result, extra = monitoring_readout(result, {}, prior_sd=prior_sd)
        else:
            frame, info = monitored_table(table, time_column=time_column, as_of=as_of, cluster=cluster)
            result = compare_arms(frame, **options).in_language(lang)
            result, extra = monitoring_readout(result, info, sequential=sequential, n_opt=n_opt,
                                               prior_sd=prior_sd)
        if as_json:
            typer.echo(_comparison_json(result.in_language(lang), Path(table).stem, extra))
        else:
            typer.echo(result.in_language(lang).to_string())
            echo_notes(result.notes + extra.get("monitoring_notes", []), lang)

    @app.command("plan-slots")
    def plan_slots(
        data: str = typer.Argument(..., help="Dataset folder with posts (your history), or 'sample'."),
        arms: str = typer.Option("morning,noon,evening", "--arms", help="Comma-separated arms (slots)."),
        weeks: int = typer.Option(8, "--weeks", help="Planned length in weeks."),
        mde: float = typer.Option(0.10, "--mde", help="Relative effect to detect (0.1 = +10%)."),
        metric: str = typer.Option("replies", "--metric", help="Metric (as in abtest)."),
        design: str = typer.Option("switchback", "--design", help="switchback or group-randomised."),
        groups: int = typer.Option(None, "--groups", help="Number of groups (default: those in the data)."),
        control: str = typer.Option(None, "--control", help="Control arm."),
        alpha: float = typer.Option(0.05, "--alpha"),
        power: float = typer.Option(0.80, "--power", help="Target power."),
        sims: int = typer.Option(200, "--sims", help="Simulated experiments."),
        seed: int = typer.Option(0, "--seed", help="Seed of the simulation and of the schedule."),
        window: str = typer.Option("2h", "--window", help="Response window after each post (2h, 30min, 1D).",
                                   callback=duration_callback),
        slots: str = typer.Option(None, "--slots", help="Slot definitions (arms must be slot names)."),
        start: str = typer.Option(None, "--start", help="First day of the experiment (for --write); "
                                  "default the Monday after the data end.", callback=date_callback),
        experiment_id: str = typer.Option("slot_test", "--experiment-id", help="Id of the written experiment."),
        write: str = typer.Option(None, "--write", help="Write the assignments: a dataset folder (added to "
                                  "its assignments table) or a .csv/.parquet file."),
        replace: bool = typer.Option(False, "--replace", help="Replace an experiment id already written."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        timestamp_format: str = timestamp_format_option(),
        planned_end: str = typer.Option(None, "--end", help="Planned last day (YYYY-MM-DD): the weeks run from "
                                        "--start to it (instead of --weeks).", callback=date_callback),
        lang: str = lang_option(),
    ) -> None:
        """Power / minimum detectable effect of a posting-slot test, and its assignments."""
        import pandas as pd

        from groupstats.stats.design import plan_slot_experiment, randomise_groups, switchback_schedule, write_assignments
        from groupstats.errors import ParameterError
        from groupstats.analyses.slots import parse_slots

        scheme = parse_slots(slots)
        arm_list = _split(arms)
        unknown = [a for a in arm_list if a not in scheme.names and a != "off_peak"]
        if unknown:
            raise ParameterError(f"Arm(s) {unknown} are not slots; the slots are {', '.join(scheme.names)} "
                                 "(define others with --slots).")
        ds = load(data)
        dated = None
        if planned_end is not None:
            from groupstats.stats.design import planned_weeks

            if start is None:
                last = ds.end.normalize()
                start = str((last + pd.Timedelta(days=7 - last.day_of_week)).date())
            dated = planned_weeks(start, planned_end, ds.tz, design)
            weeks = dated[2]
        plan = plan_slot_experiment(ds, arms=arm_list, weeks=weeks, mde=mde, metric=metric, design=design,
                                    n_groups=groups, control=control, alpha=alpha, power=power, n_sims=sims,
                                    seed=seed, window=window)
        if dated is not None:
            plan.start, plan.end = dated[0], dated[1]
            plan.notes.extend(dated[3])
        written = None
        if write:
            group_ids = sorted(pd.unique(ds.posts["group_id"])) if ds.posts is not None else \
                sorted(pd.unique(ds.members["group_id"]))
            sizes = ds.members.groupby("group_id")["member_id"].nunique()
            if start is None:
                end = ds.end.normalize()
                first = end + pd.Timedelta(days=7 - end.day_of_week)
            else:
                first = ds.timestamp(start)
            if plan.design == "switchback":
                table = switchback_schedule(group_ids, arm_list, first, weeks, sizes=sizes, seed=seed,
                                            experiment_id=experiment_id, tz=ds.tz)
            else:
                stop = dated[1] if dated is not None else first + pd.Timedelta(weeks=weeks)
                table = randomise_groups(group_ids, arm_list, first, stop,
                                         sizes=sizes, seed=seed, experiment_id=experiment_id, tz=ds.tz)
            written = write_assignments(table, write, replace=replace)
            plan.assignments = table
        plan.in_language(lang)
        if as_json:
            out = plan.to_dict()
            if written is not None:
                out["written_to"] = str(written)
            typer.echo(dumps(out))
        else:
            typer.echo(plan.to_string())
            echo_notes(plan.notes, lang)
            if written is not None:
                from groupstats.reports.i18n import t

                typer.echo(t("cli.wrote_assignments", lang, n=len(plan.assignments), experiment=experiment_id,
                             path=written))
