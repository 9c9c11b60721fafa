"""Finding the report notebooks, reading the parameters each declares (name, kind, default, help) and
converting given values to those kinds."""
from __future__ import annotations

import ast
import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groupstats.errors import GroupstatsError, ParameterError


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
