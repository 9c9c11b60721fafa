"""Commands on members: ``features`` (member features as of a cutoff) and ``segment``."""
from __future__ import annotations

from pathlib import Path

import typer

from . import load


def _write_table(frame, out: Path) -> None:
    from ..errors import ParameterError

    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ParameterError(f"--out must end in .parquet or .csv, got {out.name!r}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    frame.attrs = {}
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)


def register(app: typer.Typer) -> None:
    @app.command("features")
    def features(
        data: str = typer.Argument(..., help="Dataset folder, or 'sample'."),
        out: Path = typer.Option(..., "--out", help="Output file, .parquet or .csv."),
        cutoff: str = typer.Option(None, "--cutoff", help="Use data up to this date/time (default: the last "
                                                          "message)."),
        within_group: bool = typer.Option(False, "--within-group",
                                          help="Write within-group percentile ranks instead of raw values."),
    ) -> None:
        """Write member features (one row per group_id, member_id) as of a cutoff."""
        from ..features import member_features

        ds = load(data)
        frame = member_features(ds, cutoff=cutoff, normalise_within_group=within_group)
        _write_table(frame, out)
        typer.echo(f"wrote features of {len(frame):,} members in {frame['group_id'].nunique()} groups "
                   f"({len(frame.columns) - 2} features, cutoff {frame.attrs.get('cutoff', '')}) to {out}")
