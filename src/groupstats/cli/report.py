"""``groupstats report``: run the analysis notebooks as HTML reports (see :mod:`groupstats.reports.runner`)."""
from __future__ import annotations

from pathlib import Path

import typer

from groupstats.cli.language_option import lang_option


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        targets: list[str] = typer.Argument(
            None, help="Notebook names (in notebooks/), paths to .ipynb files, or 'all'. "
                       "'batch GRID.yaml' runs a grid file (same as --grid)."),
        data: str = typer.Option("sample", "--data", help="Dataset folder (sets each notebook's data_path), "
                                                          "or 'sample'."),
        out: Path = typer.Option(Path("reports"), "--out", help="Folder for the HTML pages, executed "
                                                                "notebooks and index.html."),
        param: list[str] = typer.Option(None, "-p", "--param", help="name=value, parsed to the type the "
                                                                    "notebook declares; repeatable."),
        grid: Path = typer.Option(None, "--grid", help="YAML/TOML file: one notebook over a grid of parameters."),
        show_code: bool = typer.Option(False, "--show-code", help="Keep the code in the HTML pages."),
        kernel: str = typer.Option("python3", "--kernel", help="Jupyter kernel (python3 is this environment)."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Reports run in parallel (one kernel each, "
                                                                "reused for the next report after a reset)."),
        fresh_kernels: bool = typer.Option(False, "--fresh-kernels", help="A new kernel for every report "
                                                                         "(slower; no kernel reuse)."),
        timeout: float = typer.Option(600.0, "--timeout", help="Seconds a single cell may run."),
        list_only: bool = typer.Option(False, "--list", help="List the notebooks and their parameters; run nothing."),
        lang: str = lang_option("the reports and the index"),
    ) -> None:
        """Execute notebooks with papermill and write HTML reports plus an index.html.

        Every parameter is checked against the notebooks' parameters cells before
        anything runs. A failing report still gets its page (showing the failing
        cell and error); the others carry on; the command then exits with code 1
        and names each failure.
        """
        from groupstats.errors import ParameterError
        from groupstats.reports.runner import (available_notebooks, declared_parameters, find_notebooks, parse_assignments,
                               plan_reports, run_reports)

        targets = list(targets or [])
        if targets[:1] == ["batch"] and not any(p.stem == "batch" for p in available_notebooks()):
            if len(targets) != 2 or grid is not None:
                raise ParameterError("Use: groupstats report batch GRID.yaml --data DIR --out DIR.")
            grid, targets = Path(targets[1]), []
        if list_only:
            for nb in find_notebooks(targets or ["all"]):
                typer.echo(nb.stem)
                for decl in declared_parameters(nb).values():
                    typer.echo(f"    {decl.describe()}" + (f"    # {decl.help}" if decl.help else ""))
            return
        if grid is None and not targets:
            raise ParameterError("Name the report(s) to run (a notebook name, 'all', or --grid FILE); "
                                 "see `groupstats report --list`.")
        planned = plan_reports(targets or ["all"], data=data, parameters=parse_assignments(param or []),
                               grid=grid, lang=lang)
        typer.echo(f"index (open this first): {Path(out).resolve() / 'index.html'}")
        typer.echo(f"running {len(planned)} report(s) into {out} with kernel {kernel} ({jobs} at a time), lang {lang}")
        batch = run_reports(planned, out, kernel_name=kernel, timeout=timeout, show_code=show_code, n_jobs=jobs,
                            echo=typer.echo, fresh_kernels=fresh_kernels)
        typer.echo(batch.summary())
        typer.echo(f"index: {batch.index_path}")
        if batch.failures:
            raise SystemExit(1)  # cli.main returns the code of a SystemExit
