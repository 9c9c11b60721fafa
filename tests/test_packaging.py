"""The two dependency lists agree; every CLI command has --help; the repo layout is complete."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python": None, "pip": None, "python-duckdb": "duckdb"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_deps() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d) for d in project["dependencies"]}
    deps |= {_name(d) for d in project["optional-dependencies"]["dev"]}
    return deps


def _conda_deps() -> tuple[set[str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names, pip_section = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep.get("pip", [])
            names |= {_name(d) for d in pip_section if not d.startswith("-e")}
            continue
        name = _name(dep)
        mapped = CONDA_TO_PYPI.get(name, name)
        if mapped:
            names.add(mapped)
    return names, pip_section


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    conda, pip_section = _conda_deps()
    pyproject = _pyproject_deps()
    assert conda == pyproject, (f"only in environment.yml: {sorted(conda - pyproject)}; "
                                f"only in pyproject.toml: {sorted(pyproject - conda)}")
    assert "-e ." in pip_section, "environment.yml must install the package with pip -e ."


def test_environment_yml_is_derived_from_the_lock():
    import importlib.util

    spec = importlib.util.spec_from_file_location("environment_from_lock", ROOT / "tools" / "environment_from_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "environment.yml").read_text() == module.render(), "run `make environment`"


def test_lock_pins_every_dependency_within_its_lower_bound():
    from packaging.requirements import Requirement

    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked: dict[str, set[str]] = {}
    for package in lock["package"]:
        locked.setdefault(package["name"].lower().replace("_", "-"), set()).add(package.get("version"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is not in uv.lock: run `make lock`"
        assert all(requirement.specifier.contains(v) for v in locked[name]), (name, locked[name])


def test_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)


def test_required_top_level_layout():
    for name in ("notebooks", "src/groupstats", "data/sample", "environment.yml", "tests", "README.md",
                 "pyproject.toml", "Makefile", ".ci/run", "benchmarks", "uv.lock"):
        assert (ROOT / name).exists(), f"{name} is missing"
    assert "make test" in (ROOT / ".ci/run").read_text()


def _commands():
    from groupstats.cli import app

    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command, capsys):
    from groupstats.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and command in out


def test_top_level_help_lists_commands(capsys):
    from groupstats.cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in _commands():
        assert command in out


def test_main_passes_on_exit_codes_of_commands():
    import typer

    import groupstats.cli.root as cli

    probe = typer.Typer()

    @probe.command()
    def fail(code: int = 3):
        raise typer.Exit(code=code)

    @probe.command()
    def ok():
        return "not an exit code"

    original = cli.app
    try:
        cli.app = probe
        assert cli.main(["fail", "--code", "4"]) == 4
        assert cli.main(["ok"]) == 0
    finally:
        cli.app = original


def test_version_option_prints_the_version_and_exits_0(capsys):
    from groupstats import __version__
    from groupstats.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == __version__
