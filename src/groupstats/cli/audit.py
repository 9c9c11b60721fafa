"""Command ``audit``: check the playbook's rules of thumb on a dataset."""
from __future__ import annotations

import typer

from groupstats.cli.common import dumps, load, timestamp_format_option
from groupstats.cli.language_option import lang_option


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit_command(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        as_json: bool = typer.Option(False, "--json", help="Print {\"claims\": [...], \"multiplicity\": ..., "
                                                           "\"experiments\": [...]} as JSON."),
        lang: str = lang_option("claims, tests, reasons and verdicts, in the table and in --json"),
        rules: str = typer.Option(None, "--rules", help="Audit rules YAML (default: the shipped "
                                                        "presets/audit_rules.yaml)."),
        timestamp_format: str = timestamp_format_option(),
    ) -> None:
        """Which of the playbook's rules of thumb hold in these groups, and how sure are we?

        One row per rule: claim, source article, test, evidence (experiment or observational),
        estimate with interval, verdict (supported, contradicted, not_shown, not_testable) and the
        reason, naming the experiment or data that would settle a rule the data cannot.
        """
        from groupstats.analyses.audit import audit
        from groupstats.reports.i18n import check_lang

        lang = check_lang(lang)
        ds = load(data)
        result = audit(ds, lang=lang, rules=rules)
        if as_json:
            typer.echo(dumps(result.to_dict()))
        else:
            typer.echo(result.to_string())
