"""Ibis's SQL compilers imported when used, for the console script.

``ibis.backends.sql.compilers`` imports the compiler of every backend Ibis has (Athena,
BigQuery, ClickHouse, ... twenty of them, with their sqlglot dialects) whenever one backend
is loaded: ~0.1 s CPU of every ``groupstats`` command, which uses DuckDB's compiler (and
Spark's with ``--engine spark``). :func:`install` makes that package import each compiler on
first use instead; every name of it stays importable (``from ibis.backends.sql.compilers
import PySparkCompiler``, ``compilers.duckdb``), so nothing else changes.

The names are read from the package's own ``__init__.py`` (its ``from
ibis.backends.sql.compilers.<module> import <Name>`` lines); if it reads none (another
Ibis), the package is imported as it is.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import re
import sys

PACKAGE = "ibis.backends.sql.compilers"
_IMPORT_LINE = re.compile(r"^from ibis\.backends\.sql\.compilers\.(\w+) import (\w+)\s*$", re.MULTILINE)


class _LazyCompilers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds :data:`PACKAGE` once (then leaves ``sys.meta_path``) and loads it as a lazy package."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def find_spec(self, fullname, path, target=None):
        if fullname != PACKAGE:
            return None
        sys.meta_path.remove(self)
        real = importlib.util.find_spec(fullname)
        if real is None or real.origin is None or not real.submodule_search_locations:
            return None
        try:
            with open(real.origin, encoding="utf-8") as file:
                text = file.read()
        except OSError:
            return None
        self.names = {name: module for module, name in _IMPORT_LINE.findall(text)}
        if not self.names:  # not the layout we know: the package as it is
            return None
        spec = importlib.util.spec_from_loader(fullname, self, origin=real.origin, is_package=True)
        spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        names = dict(self.names)
        module.__all__ = list(names)

        def __getattr__(attr: str):
            if attr.startswith("__"):
                raise AttributeError(attr)
            submodule = names.get(attr, attr)
            try:
                found = importlib.import_module(f"{PACKAGE}.{submodule}")
            except ModuleNotFoundError as exc:
                raise AttributeError(f"module {PACKAGE!r} has no attribute {attr!r}") from exc
            value = found if submodule == attr else getattr(found, attr)
            setattr(module, attr, value)
            return value

        module.__getattr__ = __getattr__


def install() -> None:
    """Import Ibis's SQL compilers on first use from now on (nothing if the package is already imported)."""
    if PACKAGE in sys.modules or any(isinstance(f, _LazyCompilers) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _LazyCompilers())
