"""Errors and warnings that tell the analyst what to do next.

Every error groupstats raises on purpose derives from :class:`GroupstatsError`;
the CLI turns these into a one-paragraph message on stderr and a non-zero exit,
never a traceback.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence


class GroupstatsError(Exception):
    """Base class of every error groupstats raises on purpose."""

    exit_code = 2


class DataValidationError(GroupstatsError, ValueError):
    """A table of a dataset breaks a rule of the data model.

    Attributes
    ----------
    problems : list of Problem
        Every rule broken, each naming its file, column and offending rows.
    """

    def __init__(self, problems: Sequence["Problem"], header: str | None = None):
        self.problems = list(problems)
        lines = [header or f"The dataset is invalid ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class Problem:
    """One broken rule: where (file, column, rows), what is wrong, and the offending values.

    ``values``, when given, holds the offending value of each row in ``rows`` (same order; a
    tuple for a rule on several columns); the message then shows up to five of them with their
    rows, e.g. ``group_id 'grp_nowhere' (row 5)``.
    """

    __slots__ = ("file", "column", "rows", "message", "n_rows", "values")

    #: How many offending values (with their rows) a message shows.
    MAX_VALUES_SHOWN = 5

    def __init__(self, file: str, column: str | None, message: str,
                 rows: Iterable[int] | None = None, n_rows: int | None = None,
                 values: Iterable | None = None):
        self.file = file
        self.column = column
        self.message = message
        rows = [] if rows is None else list(rows)
        self.n_rows = len(rows) if n_rows is None else n_rows
        self.rows = rows[:10]
        # one value per named row; without row numbers (files the engine does not number), a few values
        self.values = None if values is None else \
            list(values)[:len(self.rows) or self.MAX_VALUES_SHOWN]

    @staticmethod
    def _show(value) -> str:
        if isinstance(value, tuple):
            return "(" + ", ".join(Problem._show(v) for v in value) + ")"
        return "empty" if value is None else repr(str(value))

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.message}"
        if self.values and not self.rows:
            label = self.column if self.column and "," not in self.column else \
                f"({self.column})" if self.column else ""
            shown = self.values[:self.MAX_VALUES_SHOWN]
            cases = ", ".join(f"{label} {self._show(v)}".strip() for v in shown)
            more = f" and {self.n_rows - len(shown)} more" if self.n_rows > len(shown) else ""
            text += f" ({self.n_rows} row(s)): {cases}{more}"
        elif self.values:
            shown = list(zip(self.values, self.rows))[:self.MAX_VALUES_SHOWN]
            label = self.column if self.column and "," not in self.column else \
                f"({self.column})" if self.column else ""
            cases = ", ".join(f"{label} {self._show(v)} (row {r})".strip() for v, r in shown)
            more = f" and {self.n_rows - len(shown)} more" if self.n_rows > len(shown) else ""
            text += f": {cases}{more} (row numbers count data rows from 1)"
        elif self.n_rows:
            shown = ", ".join(str(r) for r in self.rows)
            more = f" and {self.n_rows - len(self.rows)} more" if self.n_rows > len(self.rows) else ""
            text += f" (rows {shown}{more}; row numbers count data rows from 1)"
        return text

    def to_dict(self) -> dict:
        out = {"file": self.file, "column": self.column, "message": self.message,
               "rows": [int(r) for r in self.rows], "n_rows": int(self.n_rows)}
        if self.values is not None:
            out["values"] = [list(map(str, v)) if isinstance(v, tuple) else (None if v is None else str(v))
                             for v in self.values]
        return out


class MissingTableError(GroupstatsError, LookupError):
    """An analysis needs a table that the dataset does not have."""

    def __init__(self, table: str, needed_for: str, path: str | None = None):
        where = f" in {path}" if path else ""
        super().__init__(
            f"The '{table}' table is missing{where}, and {needed_for} needs it. "
            f"Add {table}.parquet or {table}.csv to the dataset folder "
            f"(see the data model in README.md).")
        self.table = table


class SampleNotFoundError(GroupstatsError, FileNotFoundError):
    """The bundled sample dataset is asked for, but this installation is not a checkout."""


class InsufficientDataError(GroupstatsError, ValueError):
    """Too little data (history, groups, members) for the analysis asked for."""


class ParameterError(GroupstatsError, ValueError):
    """A parameter value is out of range or of the wrong kind."""


class NotFittedError(GroupstatsError, AttributeError):
    """A method needing a fitted estimator was called before ``fit``."""


class ConvergenceError(GroupstatsError, RuntimeError):
    """A numerical fit did not converge; the message says what to try."""


class StatisticalWarning(UserWarning):
    """A result is valid but should be read with care (few clusters, sparse cells...)."""
