"""Run the analysis notebooks as reports: papermill execution, HTML pages, an index.

A *report* is one parameterised notebook from ``notebooks/`` executed with
papermill on a dataset. For every run the runner writes

* ``<name>.ipynb``: the executed notebook (for analysts), with a header cell;
* ``<name>.html``: a page a manager opens in a browser (code hidden unless
  ``show_code``; figures embedded as images; the header at the top gives the
  dataset path and date range, the parameters, the groupstats version, the
  kernel and the run time; a failed run shows the failing cell and its error);
* ``index.html`` / ``index.json``: every report of the batch with its
  parameters, run time and status.

Parameters given as text (``-p key=value`` on the command line) or in a grid
file are checked *before anything runs* against the parameters cell of each
selected notebook: a name no selected notebook declares is an error listing
the valid names, and each value is converted to the type the notebook
declares (``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``, and dates
written as ISO strings, which are checked to parse).

Failures are contained: a cell that raises, a cell that exceeds the timeout or
a kernel that dies marks that report failed (its executed notebook and HTML
page still exist) and the batch carries on. Reports never show raw message
text or nicknames: after each run the outputs are scanned for values of such
columns of the dataset and, if any appear, the HTML page is withheld and the
run is reported as failed.

Example
-------
>>> from groupstats.reports.runner import plan_reports, run_reports
>>> jobs = plan_reports(["all"], data="sample", parameters={"k": "4"})   # doctest: +SKIP
>>> batch = run_reports(jobs, "reports", n_jobs=2)                     # doctest: +SKIP
>>> batch.index_path, [o.name for o in batch.failures]                 # doctest: +SKIP
"""
from __future__ import annotations

import ast
import copy
import datetime as _dt
import html
import itertools
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from groupstats.errors import GroupstatsError, ParameterError

#: Tag of the header cell the runner inserts at the top of every executed notebook.
HEADER_TAG = "groupstats-report-header"
#: Columns whose values must never appear in a report (raw text, names).
PRIVATE_COLUMNS = ("text", "content", "body", "nickname", "nick_name", "name", "real_name",
                   "display_name", "remark", "sender_name", "member_name", "wechat_id")
#: Shortest private value looked for in report outputs (shorter ones match by chance).
MIN_PRIVATE_LENGTH = 4
#: Private values are matched on their first characters (at most this many).
PRIVATE_KEY_LENGTH = 12
DEFAULT_TIMEOUT = 600.0
DEFAULT_KERNEL = "python3"

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_NULL = {"none", "null"}
_SCALAR_KINDS = ("int", "float", "bool", "str", "date")
_DATE_NAME_TOKENS = {"date", "cutoff", "start", "end", "since", "until", "asof", "day"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T].*)?$")


# --------------------------------------------------------------------------------------
# finding notebooks and their parameters
# --------------------------------------------------------------------------------------
def notebooks_dir() -> Path:
    """The folder of the report notebooks: ``notebooks/`` of the repository."""
    from groupstats.paths import repo_root

    root = repo_root()
    if root is None:
        raise GroupstatsError(
            "The report notebooks ship with the groupstats repository (notebooks/); this installation "
            "is not a checkout. Pass the path of a notebook (.ipynb) instead of its name.")
    return root / "notebooks"


def available_notebooks(folder: Path | None = None) -> list[Path]:
    """Every ``*.ipynb`` of the notebooks folder, sorted by name (checkpoints excluded)."""
    folder = notebooks_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def find_notebooks(targets: Sequence[str], folder: Path | None = None) -> list[Path]:
    """Resolve report names to notebook files.

    Parameters
    ----------
    targets : sequence of str
        ``"all"``, notebook names (file stems in the notebooks folder) or paths
        to ``.ipynb`` files.
    folder : Path, optional
        The notebooks folder (default :func:`notebooks_dir`).

    Returns
    -------
    list of Path
        Existing notebook files, without duplicates, in the order given.
    """
    if not targets:
        raise ParameterError("Name the report(s) to run: a notebook name, a path to an .ipynb file, or 'all'.")
    found: list[Path] = []
    for target in targets:
        if target == "all":
            nbs = available_notebooks(folder)
            if not nbs:
                raise ParameterError(f"There are no notebooks in {folder or notebooks_dir()}.")
            found.extend(nbs)
            continue
        path = Path(target).expanduser()
        if path.suffix == ".ipynb" or path.is_file():
            if not path.is_file():
                raise ParameterError(f"Notebook {path} does not exist.")
            found.append(path.resolve())
            continue
        candidate = (notebooks_dir() if folder is None else Path(folder)) / f"{target}.ipynb"
        if not candidate.is_file():
            names = ", ".join(p.stem for p in available_notebooks(folder)) or "(none)"
            raise ParameterError(f"There is no report notebook named {target!r}. Available: {names}; "
                                 f"or pass 'all', or the path of an .ipynb file.")
        found.append(candidate.resolve())
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class DeclaredParameter:
    """A parameter as declared in a notebook's ``parameters`` cell.

    Attributes
    ----------
    name : str
    kind : str
        ``int``, ``float``, ``bool``, ``str``, ``date`` (an ISO date string),
        ``list``, ``dict`` or ``any`` (no annotation and a ``None`` default).
    default : object
        The literal default value.
    nullable : bool
        ``None`` is allowed (annotation ``X | None``/``Optional[X]`` or a
        ``None`` default).
    element_kind : str or None
        Kind of the elements of a list (from ``list[int]`` or the default's
        elements), None when unknown.
    help : str
        The comment on the declaration line.
    """

    name: str
    kind: str
    default: Any = None
    nullable: bool = False
    element_kind: str | None = None
    help: str = ""

    def describe(self) -> str:
        kind = f"list[{self.element_kind}]" if self.kind == "list" and self.element_kind else self.kind
        if self.kind == "date":
            kind = "date (ISO string)"
        return f"{self.name}: {kind}" + (" | None" if self.nullable and self.kind != "any" else "") + \
            f" = {self.default!r}"


def _parameters_cell(nb) -> tuple[int, Any]:
    hits = [(i, c) for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not hits:
        return -1, None
    return hits[0]


def _annotation_kind(node: ast.AST | None) -> tuple[str | None, bool, str | None]:
    """(kind, nullable, element_kind) of a type annotation."""
    if node is None:
        return None, False, None
    if isinstance(node, ast.Constant) and node.value is None:
        return None, True, None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # string annotation
        try:
            return _annotation_kind(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None, False, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation_kind(node.left), _annotation_kind(node.right)
        kind = left[0] or right[0]
        element = left[2] or right[2]
        return kind, left[1] or right[1] or None in (left[0], right[0]), element
    if isinstance(node, ast.Attribute):  # datetime.date, typing.List
        node = ast.Name(id=node.attr)
    if isinstance(node, ast.Name):
        name = node.id.lower()
        aliases = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list",
                   "tuple": "list", "sequence": "list", "dict": "dict", "mapping": "dict", "date": "date",
                   "datetime": "date"}
        return aliases.get(name), False, None
    if isinstance(node, ast.Subscript):
        outer = _annotation_kind(node.value)[0]
        inner = node.slice
        head = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if head == "Optional":
            kind, _, element = _annotation_kind(inner)
            return kind, True, element
        if outer == "list":
            if isinstance(inner, ast.Tuple):  # tuple[int, ...]
                inner = inner.elts[0]
            return "list", False, _annotation_kind(inner)[0]
        return outer, False, None
    return None, False, None


def _value_kind(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return None


def _looks_like_date_parameter(name: str, default, help_text: str) -> bool:
    if isinstance(default, str) and default:
        return bool(_ISO_DATE.match(default)) and _parse_iso(default) is not None
    if re.search(r"\b(date|iso)\b", help_text, flags=re.IGNORECASE):
        return True
    tokens = set(name.lower().replace("as_of", "asof").split("_"))
    return bool(tokens & _DATE_NAME_TOKENS) or name.endswith(("_at", "_on"))


def declared_parameters(notebook: str | Path) -> dict[str, DeclaredParameter]:
    """The parameters declared in a notebook's ``parameters`` cell, by name.

    Each declaration is a (preferably annotated) literal assignment,
    ``k: int = 4  # number of segments``. The kind comes from the annotation,
    else from the default value; a ``str`` whose default is an ISO date (or
    whose name or comment says it is a date, with an empty or None default)
    is a ``date``. The comment is the help text (as in
    ``papermill.inspect_notebook``).

    Returns
    -------
    dict of str to DeclaredParameter
        Empty when the notebook has no ``parameters`` cell.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    _, cell = _parameters_cell(nb)
    if cell is None:
        return {}
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"The parameters cell of {notebook} is not valid Python ({exc}); "
                             f"fix the notebook.") from exc
    lines = source.splitlines()
    found: dict[str, DeclaredParameter] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        else:
            continue
        try:
            default = ast.literal_eval(value_node) if value_node is not None else None
        except ValueError:
            default = None
        last_line = lines[stmt.end_lineno - 1] if stmt.end_lineno else ""
        help_text = last_line.split("#", 1)[1].strip() if "#" in last_line else ""
        kind, nullable, element = _annotation_kind(annotation)
        if kind is None:
            kind = _value_kind(default) or "any"
        nullable = nullable or default is None
        if kind == "list" and element is None and isinstance(default, (list, tuple)) and default:
            kinds = {_value_kind(v) for v in default}
            element = kinds.pop() if len(kinds) == 1 else None
        if kind == "str" and _looks_like_date_parameter(name, default, help_text):
            kind = "date"
        found[name] = DeclaredParameter(name=name, kind=kind, default=default, nullable=nullable,
                                        element_kind=element, help=help_text)
    return found


# --------------------------------------------------------------------------------------
# parsing parameter values
# --------------------------------------------------------------------------------------
def _parse_iso(text: str) -> _dt.date | None:
    text = text.strip()
    for parse in (_dt.date.fromisoformat, _dt.datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=4", "groups=g01,g02"]`` -> ``{"k": "4", "groups": "g01,g02"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ParameterError(f"Parameter {pair!r} is not of the form name=value (e.g. -p k=4).")
        out[name] = value
    return out


def _scalar(kind: str, value, where: str):
    """Convert one value to ``kind``; ``value`` is text (command line) or typed (grid file)."""
    text = isinstance(value, str)
    if kind == "int":
        if isinstance(value, bool):
            raise ParameterError(f"{where} expects a whole number (int), got {value!r}.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text:
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise ParameterError(f"{where} expects a whole number (int), got {value!r}.")
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if text:
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ParameterError(f"{where} expects a number (float), got {value!r}.")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ParameterError(f"{where} expects true or false (bool), got {value!r}.")
    if kind == "date":
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if text and (value.strip() == "" or _parse_iso(value) is not None):
            return value.strip()
        raise ParameterError(f"{where} expects a date in ISO format such as 2026-03-01 (or "
                             f"2026-03-01T18:00), got {value!r}.")
    if kind == "str":
        if text:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        raise ParameterError(f"{where} expects text (str), got {value!r}.")
    return value


def coerce_parameter(declared: DeclaredParameter, value, notebook: str = "") -> Any:
    """Convert a parameter value to the kind the notebook declares.

    Parameters
    ----------
    declared : DeclaredParameter
    value : str or object
        Text from the command line (``"4"``, ``"true"``, ``"g01,g02"``,
        ``"[3, 4]"``, ``"2026-03-01"``) or a typed value from a grid file.
    notebook : str
        Notebook name, for error messages.

    Returns
    -------
    object
        int, float, bool, str (dates stay ISO strings), list, dict or None.

    Raises
    ------
    ParameterError
        When the value cannot be read as the declared kind.
    """
    where = f"Parameter {declared.name!r}" + (f" of {notebook}" if notebook else "")
    kind = declared.kind
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULL and kind not in ("str",)):
        if declared.nullable or kind == "any":
            return None
        raise ParameterError(f"{where} ({declared.describe()}) cannot be None.")
    if kind in _SCALAR_KINDS:
        return _scalar(kind, value, where)
    if kind == "list":
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                import yaml

                try:
                    value = yaml.safe_load(stripped)
                except yaml.YAMLError as exc:
                    raise ParameterError(f"{where} expects a list such as [3, 4] or a,b; "
                                         f"cannot read {value!r}: {exc}") from exc
            else:
                value = [part.strip() for part in stripped.split(",") if part.strip()]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ParameterError(f"{where} expects a list (e.g. a,b or [3, 4]), got {value!r}.")
        if declared.element_kind in _SCALAR_KINDS:
            return [_scalar(declared.element_kind, v, f"{where} element") for v in value]
        return value
    if kind == "dict":
        if isinstance(value, str):
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise ParameterError(f"{where} expects a mapping such as {{a: 1}}: {exc}") from exc
        if not isinstance(value, dict):
            raise ParameterError(f"{where} expects a mapping such as {{a: 1, b: 2}}, got {value!r}.")
        return value
    # kind "any": read text as YAML (numbers, booleans, lists), else keep it
    if isinstance(value, str):
        import yaml

        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


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


# --------------------------------------------------------------------------------------
# kernel and dataset information for the header
# --------------------------------------------------------------------------------------
def kernel_python(kernel_name: str = DEFAULT_KERNEL) -> str:
    """The interpreter a kernel runs (as jupyter_client resolves it).

    A kernelspec whose command starts with ``python`` runs this interpreter
    (``sys.executable``), which is how papermill's ``python3`` stays in the
    project's environment.

    Raises
    ------
    ParameterError
        When no kernel of that name is installed (the message lists them).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        names = ", ".join(sorted(manager.find_kernel_specs())) or "(none)"
        raise ParameterError(
            f"There is no Jupyter kernel named {kernel_name!r}. Installed kernels: {names}. Register the "
            f"project's environment with `.venv/bin/python -m ipykernel install --sys-prefix --name python3`, "
            f"or pick one with --kernel. Nothing was run.") from None
    command = spec.argv[0] if spec.argv else ""
    if command in ("python", "python3", "{python}") or command.startswith("python3."):
        return sys.executable
    return command


def dataset_info(data_path: str | Path, dataset=None) -> dict:
    """Path, date range and timezone of a dataset, for report headers (never raises)."""
    info: dict[str, Any] = {"path": str(data_path)}
    try:
        ds = _load_quietly(data_path) if dataset is None else dataset
        start, end = ds.date_range()
        info.update(start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}", tz=str(ds.tz),
                    n_messages=int(len(ds.messages)))
    except Exception as exc:  # the notebooks will report the problem in full
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _table_rows(data_path) -> dict[str, int]:
    """Rows of every table file of a dataset folder (Parquet from its metadata, CSV by lines), unloaded."""
    rows: dict[str, int] = {}
    for file in sorted(Path(data_path).glob("*.parquet")) + sorted(Path(data_path).glob("*.csv")):
        if file.stem in rows:
            continue
        try:
            if file.suffix == ".parquet":
                import pyarrow.parquet as pq

                rows[file.stem] = int(pq.ParquetFile(file).metadata.num_rows)
            else:
                with open(file, "rb") as fh:
                    rows[file.stem] = max(sum(1 for _ in fh) - 1, 0)
        except Exception:  # unreadable: the notebook reports it
            rows[file.stem] = 1
    return rows


def _load_quietly(data_path):
    from groupstats.data.dataset import load_dataset

    return load_dataset(data_path, validate=False, tables=[])


def private_values(data_path: str | Path, dataset=None) -> dict[str, set[str]]:
    """Values of private columns (raw text, names) of a dataset, by ``table.column``.

    Only values of at least :data:`MIN_PRIVATE_LENGTH` characters that are not
    plain numbers or identifiers of the data are kept (short or numeric values
    would match by chance).
    """
    try:
        ds = _load_quietly(data_path) if dataset is None else dataset
    except Exception:
        return {}
    ids: set[str] = set()
    for table in (ds.messages, ds.members):
        for col in ("message_id", "group_id", "member_id"):
            if col in table.columns:
                ids.update(table[col].dropna().astype("str").unique().tolist())
    found: dict[str, set[str]] = {}
    for table_name, table in (("messages", ds.messages), ("members", ds.members)):
        for col in table.columns:
            if str(col).lower() not in PRIVATE_COLUMNS:
                continue
            values = {str(v).strip() for v in table[col].dropna().unique().tolist()}
            values = {v for v in values if len(v) >= MIN_PRIVATE_LENGTH and v not in ids
                      and not re.fullmatch(r"[\d\s.,:+-]+", v)}
            if values:
                found[f"{table_name}.{col}"] = values
    return found


def _output_texts(nb) -> list[str]:
    """Text of every output of a notebook (images excluded)."""
    texts: list[str] = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("tags") and HEADER_TAG in cell.metadata.tags:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                texts.append(out.get("evalue", ""))
                texts.extend(out.get("traceback", []))
            for mime, payload in out.get("data", {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue
                texts.append(payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False))
    return texts


def find_private_values(nb, private: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """Private values that appear in a notebook's outputs, by ``table.column``.

    A value counts as shown when its first :data:`PRIVATE_KEY_LENGTH`
    characters (all of it if shorter) appear in any output text, so a
    truncated display of a long message is caught too. Runs in time linear in
    the size of the outputs (a set lookup per position and distinct length).

    Returns
    -------
    dict of str to list of str
        Column -> values found (empty when the outputs are clean).
    """
    keys: dict[int, dict[str, str]] = {}
    for column, values in private.items():
        for value in values:
            key = value[:PRIVATE_KEY_LENGTH]
            keys.setdefault(len(key), {})[key] = column
    if not keys:
        return {}
    text = "\n".join(_output_texts(nb))
    text = html.unescape(text)
    hits: dict[str, list[str]] = {}
    for length, table in keys.items():
        for start in range(0, max(len(text) - length + 1, 0)):
            piece = text[start:start + length]
            column = table.get(piece)
            if column is not None and piece not in hits.get(column, []):
                hits.setdefault(column, []).append(piece)
    return hits


# --------------------------------------------------------------------------------------
# applicability: which reports a dataset can support, decided from its tables before papermill
# --------------------------------------------------------------------------------------
#: Tables a report needs besides messages and members (which every valid dataset has), by notebook.
REPORT_NEEDS: dict[str, tuple[str, ...]] = {
    "posting_time_ab": ("posts", "assignments"),
    "experiment_monitor": ("posts", "assignments"),
    "content_mix": ("posts", "assignments"),
    "plan_slots": ("posts",),
}


def _register_applicability_words() -> None:
    from groupstats.reports.i18n import register

    register({
        "index.not_applicable": {"zh": "不适用", "en": "not applicable"},
        "index.n_not_applicable": {"zh": "{n} 份报告不适用于此数据集(原因见下表),未运行。",
                                   "en": "{n} report(s) not applicable to this dataset (reasons below); not run."},
        "applicability.no_table": {"zh": "没有 {table} 表:{report}需要 {needs}",
                                   "en": "no {table} table: {report} needs {needs}"},
        "applicability.empty_table": {"zh": "{table} 表没有数据:{report}需要 {needs}",
                                      "en": "the {table} table is empty: {report} needs {needs}"},
        "applicability.and": {"zh": "和", "en": "and"},
        "report.posting_time_ab": {"zh": "发帖时段 A/B 检验", "en": "posting-time A/B"},
        "report.experiment_monitor": {"zh": "实验监测", "en": "the experiment monitor"},
        "report.content_mix": {"zh": "内容配比实验", "en": "the content-mix experiment"},
        "report.plan_slots": {"zh": "时段实验规划", "en": "planning a slot test"},
    })


_register_applicability_words()


def not_applicable_reason(report: str, table_rows: Mapping[str, int], lang: str = "en") -> str | None:
    """Why report ``report`` (a notebook stem) cannot run on a dataset, or None if it can.

    ``table_rows`` maps each table the dataset has to its number of rows. A report is not
    applicable when a table it needs (:data:`REPORT_NEEDS`) is absent or empty, e.g.
    "no posts table: posting-time A/B needs posts and assignments".
    """
    from groupstats.reports.i18n import t

    needs = REPORT_NEEDS.get(report.split("--", 1)[0], ())
    for table in needs:
        rows = table_rows.get(table)
        if rows is None or rows == 0:
            return t("applicability.no_table" if rows is None else "applicability.empty_table", lang,
                     table=table, report=t(f"report.{report.split('--', 1)[0]}", lang),
                     needs=f" {t('applicability.and', lang)} ".join(needs))
    return None


#: Errors by which an analysis says the data cannot support it (too little history, a missing
#: table): a report stopped by one of them is not applicable, with the error's message as reason.
NOT_APPLICABLE_ERRORS = ("InsufficientDataError", "MissingTableError")


def _mark_not_applicable(outcome: "ReportOutcome") -> None:
    """Turn a run stopped by an :data:`NOT_APPLICABLE_ERRORS` error into ``not_applicable``.

    Its page is kept: it shows where the analysis stopped and the message.
    """
    ename, _, evalue = (outcome.error or "").partition(": ")
    if outcome.status == "failed" and ename in NOT_APPLICABLE_ERRORS:
        outcome.status, outcome.reason = "not_applicable", evalue


def job_not_applicable(job: ReportJob, table_rows: Mapping[str, int] | None) -> str | None:
    """:func:`not_applicable_reason` of a planned run (None when the dataset could not be read:
    the run then fails and its page shows why)."""
    if table_rows is None:
        return None
    return not_applicable_reason(Path(job.notebook).stem, table_rows, report_lang(job))


# --------------------------------------------------------------------------------------
# executing one report
# --------------------------------------------------------------------------------------
@dataclass
class ReportOutcome:
    """What happened to one report run.

    Attributes
    ----------
    name : str
        Output file stem (``<name>.ipynb``, ``<name>.html``).
    status : str
        ``"ok"`` or ``"failed"``.
    error : str or None
        ``ErrorName: message`` of a failure (cell error, timeout, dead kernel,
        privacy check).
    failed_cell : int or None
        Number of the failing code cell counting every code cell of the executed notebook
        from 1 (its "In [n]" when run top to bottom), None when the kernel did not start.
    seconds : float
        Wall time of the run.
    """

    name: str
    notebook: str
    title: str
    parameters: dict[str, Any]
    status: str
    started_at: str
    seconds: float
    ipynb: str
    html: str
    error: str | None = None
    failed_cell: int | None = None
    kernel: str = DEFAULT_KERNEL
    n_records: int = 0
    privacy: dict[str, int] = field(default_factory=dict)
    #: The report's headline as the notebook recorded it (``record("headline", ...)``): title,
    #: answer (a verdict key), verdict (its words) and text (the key number in a sentence).
    headline: dict | None = None
    lang: str = "en"
    #: Why the report was not run (``status == "not_applicable"``): what the dataset lacks.
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt_value(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_lang(job: ReportJob) -> str:
    """The language of a report: its ``lang`` parameter, else the notebook's default, else English
    (a notebook without a ``lang`` parameter is not translated)."""
    if job.parameters.get("lang"):
        return str(job.parameters["lang"])
    try:
        declared = declared_parameters(job.notebook).get("lang")
    except Exception:  # an unreadable notebook fails later, with its own message
        declared = None
    return str(declared.default) if declared is not None and declared.default else "en"


def parameters_used(job: ReportJob) -> dict[str, Any]:
    """Every parameter value the notebook ran with: the declared defaults overridden by the job's."""
    try:
        values = {name: d.default for name, d in declared_parameters(job.notebook).items()}
    except Exception:
        values = {}
    values.update(job.parameters)
    return values


def local_time(utc_text: str, tz: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) as ``YYYY-MM-DD HH:MM (zone)`` in the dataset's time zone."""
    if not utc_text:
        return ""
    try:
        ts = _dt.datetime.strptime(utc_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_dt.timezone.utc)
        if tz:
            from zoneinfo import ZoneInfo

            ts = ts.astimezone(ZoneInfo(tz))
            return f"{ts:%Y-%m-%d %H:%M} ({tz})"
    except Exception:
        return f"{utc_text} UTC"
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def _header_markdown(job: ReportJob, info: Mapping, kernel_name: str, python: str, started_at: str,
                     seconds: float, status: str, error: str | None, failed_source: str | None,
                     failed_cell: int | None) -> str:
    from groupstats import __version__
    from groupstats.reports.i18n import LANGS, fmt_num, t

    lang = report_lang(job)
    lang = lang if lang in LANGS else "en"
    if "error" in info:
        date_range = t("header.unavailable", lang, error=info["error"])
    else:
        date_range = t("header.range", lang, start=info["start"], end=info["end"], tz=info["tz"],
                       n=fmt_num(info["n_messages"], lang))
    params = ", ".join(f"`{k} = {_fmt_value(v)}`" for k, v in parameters_used(job).items() if k != "data_path")
    rows = [(t("header.dataset", lang), f"`{info['path']}`"), (t("header.date_range", lang), date_range),
            (t("header.parameters", lang), params or t("index.defaults", lang)),
            (t("header.version", lang), __version__), (t("header.kernel", lang), f"{kernel_name} (`{python}`)"),
            (t("header.run", lang), t("header.run_value", lang, when=local_time(started_at, info.get("tz")),
                                      seconds=f"{seconds:.1f}")),
            (t("header.status", lang), t("header.ok", lang) if status == "ok" else
             f"**{t('header.failed', lang)}**: {error}")]
    lines = [f"| {t('header.about', lang)}: {_md_escape(job.title)} | |", "|---|---|"]
    lines += [f"| {_md_escape(k)} | {_md_escape(v)} |" for k, v in rows]
    if status != "ok":
        where = f"In [{failed_cell}]" if failed_cell is not None else "start-up"
        lines += ["", f"**{t('header.did_not_finish', lang, where=where)}** `{_md_escape(error)}`"]
        if failed_source:
            lines += ["", t("header.failing_cell", lang), "", "```python", failed_source.rstrip(), "```"]
    return "\n".join(lines)


def _error_marker_cells(nb, index: int, ename: str, evalue: str) -> None:
    """Add an error output and papermill-style error anchor to cell ``index`` (timeouts, dead kernels)."""
    import nbformat

    cell = nb.cells[index]
    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    anchor = nbformat.v4.new_markdown_cell('<span id="papermill-error-cell" style="color:red; font-size:1.5em;">'
                                           f'Execution stopped here: {html.escape(ename)}</span>')
    anchor.metadata["tags"] = ["papermill-error-cell-tag"]
    nb.cells.insert(index, anchor)


def _kernel_manager_class(stderr_path: Path):
    """An AsyncKernelManager whose kernel process writes its stderr to ``stderr_path``.

    The kernel's own warnings and crash messages then go to ``<name>.kernel.log``
    next to the report instead of cluttering the terminal (output of the
    notebook's code is not affected: it reaches the notebook through Jupyter).
    """
    from jupyter_client import AsyncKernelManager

    class _LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            with open(stderr_path, "ab") as log:
                kw["stderr"] = log
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return _LoggedKernelManager


def _started_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]


def html_page(nb, title: str, show_code: bool = False, embed_font: bool = True) -> str:
    """Export an executed notebook to a self-contained HTML page.

    Code is hidden unless ``show_code`` (outputs, markdown and the header
    stay); figures are embedded as base64 images; the outputs of
    :func:`groupstats.reports.notebook.record` (machine-readable results) are left out.
    """
    from nbconvert import HTMLExporter

    from groupstats.reports.notebook import RECORD_MIME

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if RECORD_MIME not in o.get("data", {})]
    exporter = HTMLExporter(template_name="lab", embed_images=True, exclude_input=not show_code,
                            exclude_input_prompt=not show_code, exclude_output_prompt=not show_code)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    if not embed_font:
        return body
    from groupstats.reports.webfont import embed_cjk_font

    return embed_cjk_font(body)


def execute_report(job: ReportJob, out_dir: str | Path, kernel_name: str = DEFAULT_KERNEL,
                   timeout: float | None = DEFAULT_TIMEOUT, show_code: bool = False,
                   info: Mapping | None = None, python: str | None = None,
                   embed_font: bool = True) -> ReportOutcome:
    """Execute one report with papermill and write its ``.ipynb`` and ``.html``.

    Never raises for a failing notebook: a cell error, a cell running longer
    than ``timeout`` seconds, or a dead kernel gives ``status="failed"`` with
    the error, and the executed notebook and HTML page still show what ran.
    """
    import nbformat
    import papermill as pm

    from groupstats.reports.notebook import read_records

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / f"{job.name}.ipynb"
    page = out_dir / f"{job.name}.html"
    info = dict(info) if info is not None else dataset_info(job.parameters.get("data_path", ""))
    python = python or kernel_python(kernel_name)
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    error = failed_source = None
    failed_cell = None
    failure_kind = None
    kernel_log = out_dir / f"{job.name}.kernel.log"
    kernel_log.write_bytes(b"")
    pm_logger = logging.getLogger("papermill")
    level = pm_logger.level
    pm_logger.setLevel(logging.CRITICAL)  # failures are reported by the runner, once
    try:
        pm.execute_notebook(str(job.notebook), str(ipynb), parameters=job.parameters, kernel_name=kernel_name,
                            cwd=str(out_dir), progress_bar=False, log_output=False,
                            request_save_on_cell_execute=True, execution_timeout=timeout,
                            kernel_manager_class=_kernel_manager_class(kernel_log))
    except pm.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        failed_source = exc.source
        failure_kind = "cell"
    except Exception as exc:  # timeout, dead kernel, kernel failed to start
        name = type(exc).__name__
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if name == "CellTimeoutError":
            message = f"the cell ran longer than the timeout of {timeout:g} s (raise it with --timeout)"
        elif name == "DeadKernelError":
            message = "the kernel died while running a cell (out of memory, or the process exited)"
        error = f"{name}: {message}"
        failure_kind = "engine"
    finally:
        pm_logger.setLevel(level)
    seconds = time.perf_counter() - t0
    if ipynb.exists():
        nb = nbformat.read(str(ipynb), as_version=4)
    else:  # nothing was saved (kernel did not start): show the notebook as given
        nb = nbformat.read(str(job.notebook), as_version=4)
    failed_index = None  # position of the failing cell in nb.cells
    if failure_kind == "cell":
        marker = [i for i, c in enumerate(nb.cells) if 'id="papermill-error-cell"' in c.source]
        failed_index = marker[0] + 1 if marker else None
        if failed_index is not None and failed_index < len(nb.cells):
            cell = nb.cells[failed_index]
            ename, _, evalue = error.partition(": ")
            if not any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                    "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    elif failure_kind == "engine":
        started_cells = _started_cells(nb)
        if started_cells:
            failed_index = started_cells[-1]
            failed_source = nb.cells[failed_index].source
            ename, _, evalue = error.partition(": ")
            # the kernel is interrupted on shutdown: its KeyboardInterrupt is not the cause
            cell = nb.cells[failed_index]
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
            _error_marker_cells(nb, failed_index, ename, evalue)
            failed_index += 1
    if failed_index is not None and failed_index < len(nb.cells):
        # 1-based number among code cells: stable whatever markdown is inserted
        failed_cell = sum(1 for c in nb.cells[:failed_index + 1] if c.cell_type == "code")
    status = "ok" if error is None else "failed"
    started_at = f"{started:%Y-%m-%d %H:%M:%S}"
    titled = job
    if ipynb.exists():  # the report's own title in its language (recorded with its headline)
        recorded = read_records(ipynb).get("headline")
        if isinstance(recorded, dict) and recorded.get("title"):
            titled = ReportJob(notebook=job.notebook, name=job.name, parameters=job.parameters,
                               title=str(recorded["title"]))
    header = nbformat.v4.new_markdown_cell(_header_markdown(
        titled, info, kernel_name, python, started_at, seconds, status, error, failed_source, failed_cell))
    header.metadata["tags"] = [HEADER_TAG]
    nb.cells = [c for c in nb.cells if HEADER_TAG not in c.metadata.get("tags", [])]
    nb.cells.insert(_header_position(nb) if status == "ok" else 0, header)
    nbformat.write(nb, str(ipynb))
    page.write_text(html_page(nb, titled.title, show_code=show_code, embed_font=embed_font), encoding="utf-8")
    records = read_records(ipynb)
    headline = records.get("headline") if isinstance(records.get("headline"), dict) else None
    title = (headline or {}).get("title") or job.title
    return ReportOutcome(name=job.name, notebook=str(job.notebook), title=title, parameters=job.parameters,
                         status=status, started_at=started_at, seconds=round(seconds, 2), ipynb=str(ipynb),
                         html=str(page), error=error, failed_cell=failed_cell, kernel=kernel_name,
                         n_records=len(records), headline=headline, lang=report_lang(job))


def _card_cell(nb) -> int | None:
    """Index of the first cell whose output shows the conclusion card (None: no card)."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "gs-conclusion" in str(out.get("data", {}).get("text/html", "")):
                return i
    return None


def _header_position(nb) -> int:
    """The header goes right after the conclusion card (the card opens the page), else first."""
    card = _card_cell(nb)
    return 0 if card is None else card + 1


def _withhold(outcome: ReportOutcome, hits: Mapping[str, list[str]]) -> None:
    """Replace a report page that shows private values by a notice; mark the run failed."""
    columns = ", ".join(f"{col} ({len(vals)} value(s))" for col, vals in hits.items())
    outcome.privacy = {col: len(vals) for col, vals in hits.items()}
    outcome.status = "failed"
    outcome.error = (f"PrivacyError: the outputs show raw values of {columns}; the HTML page was withheld. "
                     f"Change the notebook to show ids and aggregates only.")
    Path(outcome.html).write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Report withheld</title></head><body>"
        f"<h1>{html.escape(outcome.title)}: report withheld</h1><p>{html.escape(outcome.error)}</p>"
        "</body></html>", encoding="utf-8")


# --------------------------------------------------------------------------------------
# running a batch
# --------------------------------------------------------------------------------------
@dataclass
class ReportBatch:
    """The outcome of :func:`run_reports`: one :class:`ReportOutcome` per run, and the index."""

    outcomes: list[ReportOutcome]
    out_dir: Path
    index_path: Path
    datasets: dict[str, dict]
    kernel: str
    python: str
    seconds: float

    @property
    def failures(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def not_applicable(self) -> list[ReportOutcome]:
        """Reports the dataset cannot support (not run; each with its reason)."""
        return [o for o in self.outcomes if o.status == "not_applicable"]

    def summary(self) -> str:
        """Plain-words summary naming each failure and each report that was not applicable."""
        skipped = self.not_applicable
        n, bad = len(self.outcomes) - len(skipped), self.failures
        text = f"{n - len(bad)} of {n} {'applicable ' if skipped else ''}report(s) ok in {self.seconds:.0f} s."
        if bad:
            text += f" {len(bad)} failed:"
            for o in bad:
                where = f" (In [{o.failed_cell}])" if o.failed_cell is not None else ""
                text += f"\n  - {o.name}{where}: {o.error}  -> {o.html}"
        if skipped:
            text += f"\n{len(skipped)} not applicable to this dataset (not run):"
            for o in skipped:
                text += f"\n  - {o.name}: not applicable: {o.reason}"
        return text

    def to_dict(self) -> dict:
        from groupstats import __version__

        return {"version": __version__, "kernel": self.kernel, "python": self.python,
                "seconds": round(self.seconds, 2), "datasets": self.datasets,
                "reports": [o.to_dict() for o in self.outcomes]}


def run_reports(jobs: Sequence[ReportJob], out_dir: str | Path, kernel_name: str = DEFAULT_KERNEL,
                timeout: float | None = DEFAULT_TIMEOUT, show_code: bool = False, n_jobs: int = 1,
                progress: bool | None = None, echo=None) -> ReportBatch:
    """Execute reports (in parallel with ``n_jobs`` > 1), check privacy, write the index.

    Parameters
    ----------
    jobs : sequence of ReportJob
        From :func:`plan_reports`.
    out_dir : str or Path
        Folder for ``<name>.ipynb``, ``<name>.html``, ``index.html`` and ``index.json``.
    kernel_name : str
        Jupyter kernel (default ``python3``: this environment's interpreter).
    timeout : float or None
        Seconds a single cell may run (None: no limit).
    show_code : bool
        Keep the code in the HTML pages.
    n_jobs : int
        Reports run at once, each in its own process and kernel.
    progress : bool or None
        Show a tqdm progress bar (None: only on a terminal).
    echo : callable, optional
        Called with one line per finished report.

    Returns
    -------
    ReportBatch
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    if n_jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {n_jobs}.")
    if timeout is not None and timeout <= 0:
        raise ParameterError(f"--timeout must be a positive number of seconds, got {timeout}.")
    python = kernel_python(kernel_name)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_paths = sorted({j.parameters["data_path"] for j in jobs if "data_path" in j.parameters})
    infos, private, table_rows = {}, {}, {}
    for path in data_paths:
        try:
            dataset = _load_quietly(path)
        except Exception:
            dataset = None
        infos[path] = dataset_info(path, dataset)
        private[path] = private_values(path, dataset) if dataset is not None else {}
        table_rows[path] = _table_rows(path) if dataset is not None else None
    t0 = time.perf_counter()
    outcomes: dict[str, ReportOutcome] = {}
    for job in jobs:  # reports the dataset cannot support are listed with the reason, not run
        reason = job_not_applicable(job, table_rows.get(job.parameters.get("data_path")))
        if reason is not None:
            outcomes[job.name] = ReportOutcome(
                name=job.name, notebook=str(job.notebook), title=job.title, parameters=job.parameters,
                status="not_applicable", started_at="", seconds=0.0, ipynb="", html="", kernel=kernel_name,
                lang=report_lang(job), reason=reason)
            if echo is not None:
                echo(f"n/a    {job.name}  not applicable: {reason}")
    runnable = [job for job in jobs if job.name not in outcomes]
    bar = tqdm(total=len(runnable), desc="reports", unit="report", disable=False if progress else
               (None if progress is None else True), file=sys.stderr)

    def finished(job: ReportJob, outcome: ReportOutcome) -> None:
        data_path = job.parameters.get("data_path")
        if outcome.ok and private.get(data_path):
            import nbformat

            hits = find_private_values(nbformat.read(outcome.ipynb, as_version=4), private[data_path])
            if hits:
                _withhold(outcome, hits)
        _mark_not_applicable(outcome)
        outcomes[job.name] = outcome
        bar.update(1)
        bar.set_postfix_str(job.name[:30])
        state = {"ok": "ok    ", "not_applicable": "n/a   "}.get(outcome.status, "FAILED")
        line = f"{state} {job.name}  {outcome.seconds:.1f} s  {outcome.html}"
        if outcome.status == "not_applicable":
            line += f"  not applicable: {outcome.reason}"
        if echo is not None:
            bar.clear()
            echo(line)
            bar.refresh()

    def args(job):
        return (job, out_dir, kernel_name, timeout, show_code,
                infos.get(job.parameters.get("data_path"), {"path": "(none)", "error": "no data_path"}), python,
                False)

    try:
        if n_jobs == 1 or len(runnable) <= 1:
            for job in runnable:
                finished(job, execute_report(*args(job)))
        else:
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(runnable)), mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(execute_report, *args(job)): job for job in runnable}
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # the worker itself died: still report it
                        outcome = ReportOutcome(
                            name=job.name, notebook=str(job.notebook), title=job.title, parameters=job.parameters,
                            status="failed", started_at="", seconds=0.0, ipynb="", html="",
                            error=f"{type(exc).__name__}: {exc}", kernel=kernel_name)
                    finished(job, outcome)
    finally:
        bar.close()
    batch = ReportBatch(outcomes=[outcomes[j.name] for j in jobs if j.name in outcomes], out_dir=out_dir,
                        index_path=out_dir / "index.html", datasets=infos, kernel=kernel_name, python=python,
                        seconds=time.perf_counter() - t0)
    write_index(batch, embed_font=False)
    _embed_batch_font(batch)
    return batch


def _embed_batch_font(batch: ReportBatch) -> None:
    """Embed one CJK font subset (the characters of every page of the batch) into each page."""
    from groupstats.reports.webfont import embed_cjk_font, page_characters

    pages = [Path(o.html) for o in batch.outcomes if o.html and Path(o.html).is_file()] + [batch.index_path]
    texts = {p: p.read_text(encoding="utf-8") for p in pages}
    chars = "".join(sorted(set("".join(page_characters(text) for text in texts.values()))))
    for p, text in texts.items():
        p.write_text(embed_cjk_font(text, characters=chars), encoding="utf-8")


#: Order of the reports on the index: the audit of the playbook first, then the workflow
#: (overview, health, segments, churn, experiments), then the others by name.
REPORT_ORDER = ("playbook_audit", "data_overview", "group_health", "member_segmentation", "churn_risk",
                "posting_time_ab", "content_mix", "experiment_monitor", "plan_slots")


def report_order_key(name: str) -> tuple[int, str]:
    stem = name.split("--", 1)[0]
    return (REPORT_ORDER.index(stem) if stem in REPORT_ORDER else len(REPORT_ORDER), name)


def write_index(batch: ReportBatch, embed_font: bool = True) -> Path:
    """Write ``index.html`` (for people) and ``index.json`` (for programs) of a batch.

    One line per report in the workflow order (:data:`REPORT_ORDER`), with its headline result
    and verdict badge; times in the dataset's time zone; in the reports' language.
    """
    from groupstats import __version__
    from groupstats.reports.card import _BADGE
    from groupstats.reports.i18n import LANGS, fmt_num, t

    esc = html.escape
    langs = [o.lang for o in batch.outcomes if o.lang in LANGS]
    lang = max(set(langs), key=langs.count) if langs else "zh"
    tzs = [i.get("tz") for i in batch.datasets.values() if i.get("tz")]
    tz = tzs[0] if tzs else None
    rows = []
    for o in sorted(batch.outcomes, key=lambda o: report_order_key(o.name)):
        params = "<br>".join(f"<code>{esc(k)} = {esc(_fmt_value(v))}</code>" for k, v in o.parameters.items()
                             if k != "data_path") or esc(t("index.defaults", lang))
        h = o.headline or {}
        if o.status == "not_applicable":
            verdict = (f'<span class="not-applicable">{esc(t("index.not_applicable", lang))}</span>'
                       f'<div class="reason">{esc(o.reason or "")}</div>')
        elif not o.ok:
            verdict = (f'<span class="failed">{esc(t("index.failed", lang))}</span>'
                       f'<div class="error">{esc(o.error or "")}</div>')
        elif h.get("answer") in _BADGE:
            verdict = (f'<span class="badge" data-answer="{esc(h["answer"])}" style="background:'
                       f'{_BADGE[h["answer"]]}">{esc(h.get("verdict") or h["answer"])}</span>')
        else:
            verdict = f'<span class="ok">{esc(t("header.ok", lang))}</span>'
        headline = esc(h.get("text") or "")
        link = (f'<a href="{esc(Path(o.html).name)}">{esc(o.title)}</a>' if o.html else esc(o.title))
        nb_link = f'<a href="{esc(Path(o.ipynb).name)}">{esc(Path(o.ipynb).name)}</a>' if o.ipynb else ""
        data = esc(o.parameters.get("data_path", ""))
        row_class = {"ok": "row-ok", "not_applicable": "row-not-applicable"}.get(o.status, "row-failed")
        rows.append(f"<tr class='{row_class}'><td>{link}<div class='name'>{esc(o.name)}</div>"
                    f"</td><td class='verdict'>{verdict}</td><td>{headline}</td>"
                    f"<td class='details'>{params}<div class='data'>{data}</div>"
                    f"<div class='data'>{esc(t('index.started', lang, when=local_time(o.started_at, tz)))} &middot; "
                    f"<span class='num'>{esc(t('index.runtime', lang, seconds=f'{o.seconds:.1f}'))}</span></div>"
                    f"<div class='data'>{nb_link}</div></td></tr>")
    datasets = "".join(
        f"<li><code>{esc(p)}</code>: " + (
            esc(t("header.range", lang, start=i["start"], end=i["end"], tz=i["tz"], n=fmt_num(i["n_messages"], lang)))
            if "error" not in i else esc(t("header.unavailable", lang, error=i["error"]))) + "</li>"
        for p, i in batch.datasets.items())
    n_bad, n_na = len(batch.failures), len(batch.not_applicable)
    n_run = len(batch.outcomes) - n_na
    verdict = (f"<p class='ok'>{esc(t('index.all_ok', lang, n=n_run))}</p>" if not n_bad else
               f"<p class='failed'>{esc(t('index.some_failed', lang, bad=n_bad, n=n_run))}</p>")
    if n_na:
        verdict += f"<p class='not-applicable'>{esc(t('index.n_not_applicable', lang, n=n_na))}</p>"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8"><title>{esc(t('index.title', lang))}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; margin: 2em auto; max-width: 75em; color: #222; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .5em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} .num {{ white-space: nowrap; }}
td.verdict {{ white-space: nowrap; }} td.details {{ font-size: .85em; max-width: 22em; overflow-wrap: anywhere; }}
.badge {{ color: #fff; border-radius: 1em; padding: .15em .7em; font-size: .85em; }}
.ok {{ color: #1a7f37; }} .failed {{ color: #c62828; font-weight: 600; }}
.error {{ color: #c62828; font-weight: normal; font-size: .9em; max-width: 30em; white-space: normal; }}
.not-applicable {{ color: #777; font-weight: 600; }}
.reason {{ color: #555; font-weight: normal; font-size: .9em; max-width: 30em; white-space: normal; }}
.name, .data {{ color: #777; font-size: .85em; }} code {{ font-size: .9em; }}
</style></head><body>
<h1>{esc(t('index.title', lang))}</h1>
<p>{esc(t('index.datasets', lang))}:</p><ul>{datasets}</ul>
<p>groupstats {esc(__version__)} &middot; kernel {esc(batch.kernel)} (<code>{esc(batch.python)}</code>) &middot;
{esc(t('index.generated', lang, when=local_time(now, tz)))} &middot; {esc(t('index.total', lang, seconds=f'{batch.seconds:.0f}'))}</p>
{verdict}
<table><thead><tr><th>{esc(t('index.report', lang))}</th><th>{esc(t('index.verdict', lang))}</th>
<th>{esc(t('index.headline', lang))}</th><th>{esc(t('index.details', lang))}</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    from groupstats.reports.webfont import embed_cjk_font

    batch.index_path.write_text(embed_cjk_font(page) if embed_font else page, encoding="utf-8")
    (batch.out_dir / "index.json").write_text(json.dumps(batch.to_dict(), indent=2, ensure_ascii=False,
                                                         default=str), encoding="utf-8")
    return batch.index_path
