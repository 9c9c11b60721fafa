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
    "groupstats.cli.audit",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def _print_version(value: bool) -> None:
    if value:
        from groupstats import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the version and exit.")) -> None:
    """Statistics for chat-group communities: test operating rules of thumb on your own data."""


def _usage_exception_types() -> tuple[type[BaseException], ...]:
    """The click exception classes a command line can raise.

    typer (0.20 and later) vendors click as ``typer._click`` and raises *its* exceptions; older typer
    raises those of the ``click`` package. Both are caught, whichever are installed.
    """
    types: list[type[BaseException]] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        types.append(module.ClickException)
    return tuple(types)


def _closest_option(exc) -> list[str]:
    """The one option of the command closest to a misspelled one (``--thresold`` -> ``--thresholds``).

    click lists every option that shares a prefix (``--help`` among them); a single suggestion
    reads as "Did you mean --thresholds?".
    """
    import difflib

    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return []
    names = [opt for param in ctx.command.params for opt in (*getattr(param, "opts", ()),
                                                             *getattr(param, "secondary_opts", ()))
             if opt.startswith("-") and opt not in ctx.help_option_names]
    return difflib.get_close_matches(exc.option_name, names, n=1, cutoff=0.5)


def _show_click_exception(exc) -> int:
    """Print a click usage error as a few lines (usage, hint, error) on stderr; return its exit code."""
    if getattr(exc, "option_name", None) and hasattr(exc, "possibilities"):  # NoSuchOption
        closest = _closest_option(exc)
        exc.possibilities = None
        exc.message = f"No such option: {exc.option_name}." + (f" Did you mean {closest[0]}?" if closest else "")
    try:
        exc.show()
    except Exception:  # pragma: no cover - a broken show() must still not give a traceback
        typer.echo(f"error: {exc}", err=True)
    return int(getattr(exc, "exit_code", 2) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Usage errors (unknown command, misspelled option, missing or out-of-range value) print the
    usage line, a hint and the error, and return 2; errors raised on purpose
    (:class:`~groupstats.errors.GroupstatsError`) print their message and return 2. Neither
    prints a traceback.
    """
    from groupstats.cli.common import reset_command_state

    if argv is None:  # the console script: the process ends after the command
        import atexit
        import gc

        # at exit, skip the last garbage collection over every object of the imported libraries
        # (0.3-1.5 s measured after `groupstats features` at 10M messages); files are closed by then
        atexit.register(gc.freeze)
        # collect every 100k allocations, not 700: the imports of pandas, Ibis and sqlglot set off
        # ~460 collections (0.35-0.6 s CPU of `groupstats features`; 0.1-0.2 s with this)
        gc.set_threshold(100_000, 20, 10)
        from groupstats.cli import lazy_compilers

        lazy_compilers.install()  # Ibis's SQL compilers imported when used (~0.1 s CPU)
        from groupstats.engine.process_memory import keep_freed_memory

        keep_freed_memory()  # no huge-page requests, freed memory reused: far less kernel time (see module)
    usage_errors = _usage_exception_types()
    reset_command_state()
    try:
        # with standalone_mode=False click *returns* the code of typer.Exit(code=N)
        returned = app(args=argv, standalone_mode=False)
    except GroupstatsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except usage_errors as exc:
        return _show_click_exception(exc)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        return int(code or 0)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 1
    return returned if isinstance(returned, int) and not isinstance(returned, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
