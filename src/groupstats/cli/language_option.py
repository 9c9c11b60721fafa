"""The ``--lang`` option of every command whose plain output is read by people (one declaration).

The plain output (result tables, conclusions, summaries) is drawn from the message catalogue
(:mod:`groupstats.reports.i18n`) in the chosen language; ``--json`` keys and values stay as they
are, except the ``conclusion`` text. The CLI's own help and errors stay in English.
"""
from __future__ import annotations

import typer

LANG_HELP = "Language of the printed output: zh (Chinese, default) or en"


def _check_lang(ctx: typer.Context, param: typer.CallbackParam, value: str | None):
    from groupstats.reports.i18n import LANGS

    if value is not None and value not in LANGS:  # a usage error: usage line, hint, exit 2
        raise typer.BadParameter(f"{value!r} is not a language; use one of {', '.join(LANGS)}.")
    return value


def lang_option(what: str = "tables, conclusions and summaries; --json keys and values stay as they are, "
                            "except 'conclusion'"):
    """``lang: str = lang_option()``: ``--lang zh|en``, default zh, checked before the command runs."""
    return typer.Option("zh", "--lang", help=f"{LANG_HELP} ({what}).", callback=_check_lang)
