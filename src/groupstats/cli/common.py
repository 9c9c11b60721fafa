"""Command modules of the ``groupstats`` CLI; each has ``register(app)``."""
from __future__ import annotations

import json

import typer


def emit(result, as_json: bool) -> None:
    """Print a result object as JSON (``--json``) or as its readable table."""
    if as_json:
        typer.echo(result.to_json())
    else:
        typer.echo(result.to_string())


def load(data: str, tz: str | None = None, tables: list[str] | None = None, validate: bool = True):
    """Load a dataset for a command (resolving ``sample``)."""
    from groupstats.data.dataset import load_dataset
    from groupstats.paths import resolve_data_path

    return load_dataset(resolve_data_path(data), tz=tz, tables=tables, validate=validate)


def dumps(obj) -> str:
    from groupstats.results import to_jsonable

    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)
