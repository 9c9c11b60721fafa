"""Planning a batch: which notebook runs with which parameters (report jobs, parameter grids, the
dataset folder)."""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groupstats.errors import ParameterError

from groupstats.reports.runner.parameters import (DeclaredParameter, coerce_parameter, declared_parameters,
                                                  find_notebooks)


# --------------------------------------------------------------------------------------
# planning: which notebook runs with which parameters
# --------------------------------------------------------------------------------------
@dataclass
class ReportJob:
    """One notebook run: the notebook, the output name and the typed parameters."""

    notebook: Path
    name: str
    parameters: dict[str, Any]
    title: str = ""


@dataclass
class GridSpec:
    """A grid file: one notebook over several parameter sets.

    Attributes
    ----------
    notebook : str
        Notebook name or path.
    parameters : dict
        Fixed for every run.
    runs : list of dict
        Parameter sets: every explicit ``runs`` entry combined with every
        combination of the ``grid`` lists (cartesian product).
    """

    notebook: str
    parameters: dict[str, Any]
    runs: list[dict[str, Any]]


def load_grid(path: str | Path) -> GridSpec:
    """Read a grid file (YAML or TOML).

    The file has ``notebook`` (name or path), optional ``parameters`` (fixed
    values), and ``grid`` (name -> list of values; every combination runs)
    and/or ``runs`` (a list of parameter mappings)::

        notebook: member_segmentation
        parameters: {window_days: 28}
        grid:
          k: [3, 4, 5]
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"Grid file {path} does not exist.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            spec = tomllib.loads(text)
        else:
            import yaml

            spec = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / tomllib.TOMLDecodeError
        raise ParameterError(f"Grid file {path} cannot be read: {exc}") from exc
    if not isinstance(spec, dict):
        raise ParameterError(f"Grid file {path} must be a mapping with keys notebook, parameters, grid, runs.")
    unknown = set(spec) - {"notebook", "parameters", "grid", "runs"}
    if unknown:
        raise ParameterError(f"Grid file {path} has unknown key(s) {sorted(unknown)}; use notebook, "
                             f"parameters, grid, runs.")
    if not isinstance(spec.get("notebook"), str):
        raise ParameterError(f"Grid file {path} must name the notebook to run (notebook: NAME).")
    fixed = spec.get("parameters") or {}
    grid = spec.get("grid") or {}
    runs = spec.get("runs") or [{}]
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise ParameterError(f"In {path}, 'parameters' and 'grid' must be mappings of name to value(s).")
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise ParameterError(f"In {path}, 'runs' must be a list of mappings of name to value.")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"In {path}, grid entry {name!r} must be a non-empty list of values.")
    names = list(grid)
    combos = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    expanded = [{**run, **combo} for run in runs for combo in combos]
    if not spec.get("grid") and not spec.get("runs"):
        raise ParameterError(f"Grid file {path} has neither 'grid' nor 'runs': nothing to vary.")
    notebook = spec["notebook"]
    if not notebook.endswith(".ipynb") and ("/" in notebook or notebook.startswith(".")):
        notebook = str((path.parent / notebook).resolve())
    elif notebook.endswith(".ipynb") and not Path(notebook).is_absolute():
        candidate = path.parent / notebook
        notebook = str(candidate.resolve()) if candidate.exists() else notebook
    return GridSpec(notebook=notebook, parameters=fixed, runs=expanded)


def _title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip() or fallback
    return fallback


def _slug(parameters: Mapping[str, Any]) -> str:
    parts = []
    for key, value in parameters.items():
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}-{text}")
    slug = re.sub(r"[^A-Za-z0-9._,-]+", "_", "_".join(parts)).strip("_")
    return slug[:60] or "run"


def _check_names(given: Iterable[str], declared: Mapping[Path, Mapping[str, DeclaredParameter]],
                 source: str) -> None:
    valid = sorted(set().union(*[set(d) for d in declared.values()])) if declared else []
    unknown = [n for n in given if n not in valid]
    if unknown:
        names = ", ".join(Path(p).stem for p in declared)
        raise ParameterError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} {source}: none of the selected notebooks "
            f"({names}) declares {'it' if len(unknown) == 1 else 'them'}. Valid parameters: "
            f"{', '.join(valid) or '(none)'}. Nothing was run.")


def resolve_data(data: str | Path) -> Path:
    """The dataset folder for ``--data`` (``sample`` is the bundled sample), made absolute."""
    from groupstats.paths import resolve_data_path

    path = Path(resolve_data_path(str(data))).expanduser()
    if not path.is_dir():
        raise ParameterError(f"Dataset folder {data} does not exist (--data takes a dataset folder or "
                             f"'sample'). Nothing was run.")
    return path.resolve()


def plan_reports(targets: Sequence[str] = ("all",), data: str | Path = "sample",
                 parameters: Mapping[str, Any] | None = None, grid: GridSpec | str | Path | None = None,
                 folder: Path | None = None, lang: str | None = None) -> list[ReportJob]:
    """Decide every run and check every parameter before anything executes.

    Parameters
    ----------
    targets : sequence of str
        Notebook names, paths, or ``"all"`` (ignored when ``grid`` names the notebook).
    data : str or Path
        Dataset folder (or ``"sample"``); sets ``data_path`` of every notebook
        that declares it (a grid may vary ``data_path``).
    parameters : mapping, optional
        ``name -> value`` (text from the command line or typed values); each
        applies to the selected notebooks that declare it. Grid values override.
    grid : GridSpec or path, optional
        Run one notebook over several parameter sets (see :func:`load_grid`).
    folder : Path, optional
        Notebooks folder for names (default ``notebooks/`` of the repository).
    lang : {"zh", "en"}, optional
        Language of the reports: sets ``lang`` of every notebook that declares it (default:
        the notebook's own default, ``zh``).

    Returns
    -------
    list of ReportJob
        One per run, parameters converted to the declared kinds.

    Raises
    ------
    ParameterError
        Unknown notebook, parameter name not declared by any selected
        notebook (the message lists the valid ones), value not of the
        declared kind, missing dataset folder.
    """
    import nbformat

    parameters = dict(parameters or {})
    if lang is not None:
        from groupstats.reports.i18n import check_lang

        lang = check_lang(lang)
    if "data_path" in parameters:
        raise ParameterError("Set the dataset with --data DIR (data=...), not as the parameter data_path.")
    if grid is not None and not isinstance(grid, GridSpec):
        grid = load_grid(grid)
    notebooks = find_notebooks([grid.notebook] if grid is not None else list(targets), folder)
    declared = {nb: declared_parameters(nb) for nb in notebooks}
    _check_names(parameters, declared, "given with -p")
    runs: list[dict[str, Any]] = [{}]
    if grid is not None:
        _check_names(grid.parameters, declared, "in the grid file's parameters")
        for run in grid.runs:
            _check_names(run, declared, "in the grid file")
        runs = [{**grid.parameters, **parameters, **run} for run in grid.runs]
    else:
        runs = [parameters]
    data_path = resolve_data(data)
    jobs: list[ReportJob] = []
    for nb_path in notebooks:
        decl = declared[nb_path]
        title = _title_of(nbformat.read(str(nb_path), as_version=4), nb_path.stem)
        for i, run in enumerate(runs):
            values: dict[str, Any] = {}
            if "data_path" in decl:
                given = run.get("data_path")
                values["data_path"] = str(resolve_data(given) if given is not None else data_path)
            for name, raw in run.items():
                if name in decl and name != "data_path":
                    values[name] = coerce_parameter(decl[name], raw, nb_path.stem)
            if lang is not None and "lang" in decl:
                values["lang"] = lang
            name = nb_path.stem
            if grid is not None:
                varied = {k: values[k] for k in grid.runs[i] if k in values}
                name = f"{nb_path.stem}--{i + 1:02d}-{_slug(varied)}"
            jobs.append(ReportJob(notebook=nb_path, name=name, parameters=values, title=title))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ParameterError("Two runs would write the same report file; give each notebook once.")
    return jobs
