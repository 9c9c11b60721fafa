"""The ``groupstats`` command line.

Each command group lives in its own module under :mod:`groupstats.cli.common`
and registers its commands on :data:`app`; heavy libraries are imported inside
the commands so ``groupstats --help`` starts fast. Errors raised on purpose
(:class:`~groupstats.errors.GroupstatsError`) become a message on stderr and
exit code 2, never a traceback.
"""
from __future__ import annotations

import importlib
import sys

import typer

from groupstats.errors import GroupstatsError

app = typer.Typer(
    name="groupstats",
    help="Statistics for chat-group communities: test operating rules of thumb on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Modules that register commands on ``app`` (one per concern).
COMMAND_MODULES = [
    "groupstats.cli.data",
    "groupstats.cli.churn",
    "groupstats.cli.importing",
    "groupstats.cli.experiments",
    "groupstats.cli.report",
    "groupstats.cli.members",
    "groupstats.cli.mix_health",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        from groupstats import __version__

        typer.echo(__version__)
        raise typer.Exit()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        # with standalone_mode=False click *returns* the code of typer.Exit(code=N)
        returned = app(args=argv, standalone_mode=False)
    except GroupstatsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        return int(code or 0)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 1
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return returned if isinstance(returned, int) and not isinstance(returned, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
