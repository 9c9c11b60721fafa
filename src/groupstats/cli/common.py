"""Command modules of the ``groupstats`` CLI; each has ``register(app)``."""
from __future__ import annotations

import contextvars
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import typer


def emit(result, as_json: bool, lang: str | None = None) -> None:
    """Print a result object as JSON (``--json``) or as its readable table, in ``lang`` (``--lang``).

    The language changes only the text for people: the table and conclusion, and the JSON's
    ``conclusion``; the JSON's keys and other values stay as they are.
    """
    if lang is not None:
        result.in_language(lang)
    if as_json:
        typer.echo(result.to_json())
    else:
        typer.echo(result.to_string())


def echo_notes(notes, lang: str | None = None) -> None:
    """Print an analysis's notes (caveats), each on a line headed in ``lang``."""
    from groupstats.reports.i18n import note_text, t

    for note in notes:
        typer.echo(t("result.note", lang, note=note_text(note, lang)))


def load(data: str, tz: str | None = None, tables: list[str] | None = None, validate: bool = True,
         timestamp_format: str | None = None, engine: str = "duckdb", spark_master: str | None = None):
    """Load a dataset for a command (resolving ``sample``).

    ``timestamp_format`` defaults to the ``--timestamp-format`` of the running command (see
    :func:`timestamp_format_option`), else the dataset's ``dataset.json``, else ISO 8601 only.
    """
    from groupstats.data.dataset import load_dataset
    from groupstats.paths import resolve_data_path

    if timestamp_format is None:
        timestamp_format = _TIMESTAMP_FORMAT.get()
    return load_dataset(resolve_data_path(data), tz=tz, tables=tables, validate=validate,
                        timestamp_format=timestamp_format, engine=engine, spark_master=spark_master)


def load_checking(data: str, tz: str | None = None, tables: list[str] | None = None, validate: bool = True,
                  timestamp_format: str | None = None, engine: str = "duckdb", spark_master: str | None = None,
                  checks_on_idle_cores: bool = True):
    """:func:`load`, with a Parquet dataset's checks running while the command computes:
    ``(dataset, checks)``; do the work inside ``with checks:`` and write nothing before leaving it
    (see :func:`~groupstats.data.loading.load_dataset_checking`, also for ``checks_on_idle_cores``).

    The checks take the cores the command leaves idle (``checks_on_idle_cores``), as measured on the
    many-groups shape in paired runs (2026-12-06): ``features`` 0.969x, ``segment`` 0.956x and ``churn``
    1.1-1.6 s less wall time than with the checks at the normal priority."""
    from groupstats.data.loading import load_dataset_checking
    from groupstats.paths import resolve_data_path

    if timestamp_format is None:
        timestamp_format = _TIMESTAMP_FORMAT.get()
    return load_dataset_checking(resolve_data_path(data), tz=tz, tables=tables, validate=validate,
                                 timestamp_format=timestamp_format, engine=engine, spark_master=spark_master,
                                 checks_on_idle_cores=checks_on_idle_cores)


@contextmanager
def written_once_checked(out: Path, checks):
    """Write a command's output file while its dataset's checks finish, and put it in place only once
    they pass: yields the path to write (a hidden file beside ``out``, with its suffix); leaving the
    block waits for the checks (``checks``, from :func:`load_checking`), then moves that file onto ``out``
    in one step. If the checks fail or the work raises, the file is removed and ``out`` is left as it was
    (so are the folders above it: those made for it are removed again).

    Writing no longer waits for the checks' last queries (they run at low priority, see
    :func:`~groupstats.data.loading.load_dataset_checking`): ``features`` on the many-groups shape
    wrote its 0.13 s of Parquet after a 0.4 s wait for them.
    """
    out = Path(out)
    part = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    made = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with checks:
            yield part
    except BaseException:
        part.unlink(missing_ok=True)
        for folder in made:  # (innermost first; one holding anything else stays)
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    os.replace(part, out)


def dumps(obj) -> str:
    from groupstats.results import to_jsonable

    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------------------
# values typed on the command line: one parser per kind, used as option callbacks
# --------------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(\.\d+)?\s*[A-Za-z]+\s*)+$")
_BARE_NUMBER = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}"
                       r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$")


def parse_duration(text: str, option: str = "duration"):
    """A positive duration with a unit (``2h``, ``30min``, ``1D``, ``1h30min``) as a Timedelta.

    A bare number is refused: pandas would read ``2`` as 2 nanoseconds, which silently turns
    every windowed count into zero.
    """
    import pandas as pd

    from groupstats.errors import ParameterError

    value = str(text).strip()
    if _BARE_NUMBER.match(value):
        raise ParameterError(f"{option} needs a unit: {value!r} is a bare number. Write e.g. "
                             f"{value}h (hours), {value}min (minutes) or {value}D (days).")
    delta = None
    if _DURATION.match(value):
        try:
            delta = pd.Timedelta(value)
        except (ValueError, TypeError):
            delta = None
    if delta is None:
        raise ParameterError(f"{option} must be a duration with a unit such as 2h, 30min or 1D, "
                             f"not {value!r}.")
    if delta <= pd.Timedelta(0):
        raise ParameterError(f"{option} must be positive, not {value!r}.")
    return delta


def parse_date(text: str, option: str = "date"):
    """An ISO 8601 date (``YYYY-MM-DD``), optionally with a time (``2026-04-05T18:00``), as a Timestamp.

    Anything else (``04/05/2026``, ``5 April``) is refused rather than guessed: day-first and
    month-first readings differ.
    """
    import pandas as pd

    from groupstats.errors import ParameterError

    value = str(text).strip()
    hint = (f"{option} takes an ISO date, YYYY-MM-DD, optionally with a time (2026-04-05 or "
            f"2026-04-05T18:00)")
    if not _ISO_DATE.match(value):
        example = ""
        parts = re.split(r"[/.\-]", value)
        if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
            a, b, year = parts
            readings = [f"{year}-{m:02d}-{d:02d}" for m, d in ((int(b), int(a)), (int(a), int(b))) if 1 <= m <= 12 and 1 <= d <= 31]
            readings = list(dict.fromkeys(readings))
            if readings:
                example = f" ({value!r} could be {' or '.join(readings)})"
        raise ParameterError(f"{hint}; not {value!r}{example}.")
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{hint}; {value!r} is not a real date or time.") from exc


def _option_name(param) -> str:
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
    return opts[0] if opts else f"--{getattr(param, 'name', 'value')}"


def _as_usage_error(parse, value, param):
    from groupstats.errors import ParameterError

    option = _option_name(param)
    try:
        parse(value, option)
    except ParameterError as exc:  # click prefixes "Invalid value for '--window': "
        raise typer.BadParameter(str(exc).removeprefix(f"{option} ")) from None
    return value


def duration_callback(ctx: typer.Context, param: typer.CallbackParam, value: str | None):
    """Option callback: check a duration (see :func:`parse_duration`); the text is passed on unchanged."""
    return value if value is None else _as_usage_error(parse_duration, value, param)


def date_callback(ctx: typer.Context, param: typer.CallbackParam, value: str | None):
    """Option callback: check an ISO date (see :func:`parse_date`); the text is passed on unchanged."""
    return value if value is None else _as_usage_error(parse_date, value, param)


#: ``--timestamp-format`` of the running command, read by :func:`load`.
_TIMESTAMP_FORMAT: contextvars.ContextVar[str | None] = contextvars.ContextVar("timestamp_format",
                                                                                 default=None)


def reset_command_state() -> None:
    """Forget the options of an earlier command run in this process (``cli.main`` calls it first)."""
    _TIMESTAMP_FORMAT.set(None)


def _remember_timestamp_format(ctx: typer.Context, param: typer.CallbackParam, value: str | None):
    _TIMESTAMP_FORMAT.set(value)  # set on every invocation (None when not given)
    return value


TIMESTAMP_FORMAT_HELP = ("strftime format of non-ISO timestamps in the dataset's CSV files, e.g. "
                         "'%d/%m/%Y %H:%M' (also settable as \"timestamp_format\" in dataset.json). "
                         "Default: ISO 8601 only; other forms are refused, never guessed.")


def timestamp_format_option():
    """The ``--timestamp-format`` option every command that loads a dataset declares.

    Its value reaches :func:`load` (the shared loader) through a callback, so a command only
    declares ``timestamp_format: str = timestamp_format_option()``.
    """
    return typer.Option(None, "--timestamp-format", help=TIMESTAMP_FORMAT_HELP,
                        callback=_remember_timestamp_format)
