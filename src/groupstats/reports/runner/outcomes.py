"""What a run produced: one ReportOutcome per report and the ReportBatch that collects them with the
index."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from groupstats.reports.runner.header import DEFAULT_KERNEL


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
