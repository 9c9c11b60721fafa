"""The ``groupstats import`` command: chat exports -> a pseudonymised dataset."""
from __future__ import annotations

from pathlib import Path

import typer

from groupstats.cli.common import duration_callback
from groupstats.cli.language_option import lang_option


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_exports(
        format: str = typer.Argument(..., help="auto (detect each file's format from its shape), wechatmsg, "
                                                "pywxdump, wecom, telegram, whatsapp or csv."),
        inputs: list[Path] = typer.Argument(..., help="Export file(s); several groups or several exports of "
                                                      "one group merge into one dataset."),
        out: Path = typer.Option(..., "--out", help="Dataset folder to write (an earlier import there with "
                                                    "the same salt is merged, without duplicates)."),
        tz: str = typer.Option("Asia/Shanghai", "--tz", help="Timezone of the dataset and of naive times."),
        salt_file: Path = typer.Option(None, "--salt-file", help="Salt for the pseudonyms (created on first "
                                                                 "use; default ~/.config/groupstats/"
                                                                 "import-salt.key or $GROUPSTATS_SALT_FILE)."),
        keep_text: bool = typer.Option(False, "--keep-text", help="Keep message text and display names "
                                                                  "(dropped by default)."),
        roster: Path = typer.Option(None, "--roster", help="CSV/Excel: group, member, joined_at[, left_at, "
                                                           "role, name] in the source's ids; adds silent "
                                                           "members."),
        operators: Path = typer.Option(None, "--operators", help="Source ids of operators (one per line, or "
                                                                 "CSV with member[, group, role])."),
        posts_plan: Path = typer.Option(None, "--posts-plan", help="CSV: group, planned_at, content_type; "
                                                                   "matched to the nearest operator message."),
        post_tolerance: str = typer.Option("30min", "--post-tolerance", help="Largest gap between a planned "
                                                                              "post and its message.",
                                              callback=duration_callback),
        date_order: str = typer.Option(None, "--date-order", help="whatsapp: dmy or mdy for ambiguous dates."),
        mapping: Path = typer.Option(None, "--mapping", help="csv: YAML column mapping."),
        maps: list[str] = typer.Option(None, "--map", help="csv: FIELD=COLUMN (member, time, group, type, "
                                                           "text, message_id, reply_to, name) or "
                                                           "group_value=NAME; repeatable."),
        member_changes: Path = typer.Option(None, "--member-changes", help="wecom: member additions/removals "
                                                                           "(group, member, change, time)."),
        group_id: str = typer.Option(None, "--group-id", help="Put every input in this one group (default: each "
                                                              "chat's own id, or one derived from its content; "
                                                              "never the file name)."),
        fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
        lang: str = lang_option("the counts; --json stays as it is"),
    ) -> None:
        """Import chat exports into a validated, pseudonymised groupstats dataset.

        Prints the counts: read = imported + rejected + skipped (by reason),
        and for each file also the members and leavers it names. Rejected
        rows are listed in OUT/rejected.csv (pseudonymised). 'auto' picks
        each file's importer from its content and refuses, with exit 2,
        files no importer reads (saying what they are).
        """
        import warnings

        from groupstats.errors import ParameterError
        from groupstats.data.importers import import_chats
        from groupstats.cli.common import dumps

        mapping_arg = None
        if format == "csv" or mapping or maps:
            mapping_arg = {}
            for item in maps or []:
                key, sep, value = item.partition("=")
                if not sep or not key.strip():
                    raise ParameterError(f"--map takes FIELD=COLUMN, not {item!r}.")
                mapping_arg[key.strip()] = value
            if mapping:
                mapping_arg["mapping_file"] = str(mapping)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = import_chats(format, [str(p) for p in inputs], out, tz=tz, salt_file=salt_file,
                                  keep_text=keep_text, roster=roster, operators=operators, posts_plan=posts_plan,
                                  date_order=date_order, mapping=mapping_arg, member_changes=member_changes,
                                  post_tolerance=post_tolerance, out_format=fmt, group_id=group_id)
        for warning in caught:
            typer.echo(f"warning: {warning.message}", err=True)
        if as_json:
            typer.echo(dumps(report.to_dict()))
        else:
            typer.echo(report.to_text(lang))
