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
    """One broken rule: where (file, column, rows) and what is wrong."""

    __slots__ = ("file", "column", "rows", "message", "n_rows")

    def __init__(self, file: str, column: str | None, message: str,
                 rows: Iterable[int] | None = None, n_rows: int | None = None):
        self.file = file
        self.column = column
        self.message = message
        rows = [] if rows is None else list(rows)
        self.n_rows = len(rows) if n_rows is None else n_rows
        self.rows = rows[:10]

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.message}"
        if self.n_rows:
            shown = ", ".join(str(r) for r in self.rows)
            more = f" and {self.n_rows - len(self.rows)} more" if self.n_rows > len(self.rows) else ""
            text += f" (rows {shown}{more}; row numbers count data rows from 1)"
        return text

    def to_dict(self) -> dict:
        return {"file": self.file, "column": self.column, "message": self.message,
                "rows": [int(r) for r in self.rows], "n_rows": int(self.n_rows)}


class MissingTableError(GroupstatsError, LookupError):
    """An analysis needs a table that the dataset does not have."""

    def __init__(self, table: str, needed_for: str, path: str | None = None):
        where = f" in {path}" if path else ""
        super().__init__(
            f"The '{table}' table is missing{where}, and {needed_for} needs it. "
            f"Add {table}.parquet or {table}.csv to the dataset folder "
            f"(see the data model in README.md).")
        self.table = table


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
