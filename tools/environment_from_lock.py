"""Write environment.yml from uv.lock: the conda-forge environment pins the locked versions.

pyproject.toml keeps the lower bounds (what groupstats supports); uv.lock holds the exact
versions CI and ``make`` install; environment.yml is derived from the lock so that a conda
user gets the same versions. Run by ``make lock`` (and ``make environment``).
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name -> conda-forge name, where they differ
PYPI_TO_CONDA = {"duckdb": "python-duckdb"}
#: extras installed into the conda environment besides the core dependencies
EXTRAS = ("dev",)


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


#: the Python the conda environment is pinned to: the lowest one groupstats supports, which is
#: also what CI runs; the lock resolves some packages differently on newer Pythons
CONDA_PYTHON = "3.11"


def _applies(markers: list[str], python_full_version: str = CONDA_PYTHON + ".99") -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pip vendors packaging
        from pip._vendor.packaging.markers import Marker
    env = {"python_full_version": python_full_version, "python_version": CONDA_PYTHON,
           "sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython"}
    return not markers or any(Marker(m).evaluate(env) for m in markers)


def locked_versions(lock_path: Path) -> dict[str, str]:
    """Locked version of every package for CPython ``CONDA_PYTHON`` on Linux."""
    lock = tomllib.loads(lock_path.read_text())
    return {p["name"].lower().replace("_", "-"): p["version"] for p in lock["package"]
            if "version" in p and _applies(p.get("resolution-markers", []))}


def render(pyproject_path: Path = ROOT / "pyproject.toml", lock_path: Path = ROOT / "uv.lock") -> str:
    project = tomllib.loads(pyproject_path.read_text())["project"]
    versions = locked_versions(lock_path)
    lines = [
        "# Conda environment for groupstats (conda-forge), generated from uv.lock by",
        "# tools/environment_from_lock.py (`make environment`); do not edit by hand.",
        "#   conda env create -f environment.yml && conda activate groupstats",
        "name: groupstats",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={CONDA_PYTHON}",
        "  - pip",
    ]
    sections = [("core", project["dependencies"])]
    sections += [(f"{extra} extra", project["optional-dependencies"][extra]) for extra in EXTRAS]
    for title, requirements in sections:
        if title != "core":
            lines.append(f"  # {title}")
        for requirement in requirements:
            name = requirement_name(requirement)
            if name not in versions:
                sys.exit(f"{name} is in pyproject.toml but not in uv.lock: run `make lock`")
            lines.append(f"  - {PYPI_TO_CONDA.get(name, name)}=={versions[name]}")
    lines += ["  - pip:", "      - -e .", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (ROOT / "environment.yml").write_text(render())
    print("wrote environment.yml from uv.lock")
