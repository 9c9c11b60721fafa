"""Where things are: the repository, the bundled sample data, presets.

Notebooks call :func:`resolve_data_path` on their ``data_path`` parameter so
they run from any working directory (papermill, JupyterLab, cron).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PRESETS_DIR = PACKAGE_DIR / "presets"


def repo_root() -> Path | None:
    """The checkout that holds ``src/groupstats`` (None for a non-editable install)."""
    candidate = PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists() and (candidate / "src" / "groupstats").is_dir():
        return candidate
    return None


def sample_data_path() -> Path:
    """The bundled sample dataset (``data/sample`` of the repository).

    The environment variable ``GROUPSTATS_SAMPLE`` overrides it.
    """
    env = os.environ.get("GROUPSTATS_SAMPLE")
    if env:
        return Path(env)
    root = repo_root()
    if root is None:
        from groupstats.errors import SampleNotFoundError

        raise SampleNotFoundError(
            "The sample dataset ships with the groupstats repository (data/sample); this "
            "installation is not a checkout. Set GROUPSTATS_SAMPLE to its folder or pass a data path.")
    return root / "data" / "sample"


def read_preset_copy(file: Path, what: str, shipped: Path):
    """The YAML content of ``file``, an analyst's edited copy of the shipped preset ``shipped``.

    A missing file or one that is not YAML is a :class:`~groupstats.errors.ParameterError` that names
    ``what`` (e.g. "Thresholds file") and the file, and for a missing one the preset to copy.
    """
    import yaml

    from groupstats.errors import ParameterError

    if not file.exists():
        raise ParameterError(f"{what} {file} does not exist; copy {shipped} and edit it.")
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"{what} {file} is not valid YAML: {exc}") from exc


def resolve_data_path(data_path: str | os.PathLike | None) -> Path:
    """Resolve a notebook's ``data_path`` parameter to an existing folder.

    ``None``, ``""`` and ``"sample"`` mean the bundled sample dataset. A
    relative path is tried against the working directory, then against the
    repository root, so a notebook runs from any folder.
    """
    if data_path in (None, "", "sample", "data/sample"):
        return sample_data_path()
    path = Path(data_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    root = repo_root()
    if root is not None and (root / path).exists():
        return root / path
    return path
