"""Helpers for notebooks executed by papermill.

``record(name, value)`` stores a key result in the executed notebook's output
(as a display with a groupstats-specific MIME type) so tests and the report
runner can read it back with :func:`read_records` without parsing HTML.
"""
from __future__ import annotations

import json
from pathlib import Path

from groupstats.results import to_jsonable

RECORD_MIME = "application/vnd.groupstats.record+json"


def record(name: str, value) -> None:
    """Record ``value`` under ``name`` in the executing notebook's outputs."""
    from IPython.display import display

    payload = {"name": name, "value": to_jsonable(value)}
    display({RECORD_MIME: payload, "text/plain": f"[recorded {name}]"}, raw=True,
            metadata={RECORD_MIME: {"groupstats_record": True}})


def read_records(notebook_path: str | Path) -> dict:
    """All values recorded by :func:`record` in an executed notebook, by name."""
    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    found = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found[payload["name"]] = payload["value"]
    return found


def setup_plots() -> None:
    """Seaborn defaults used by every groupstats notebook."""
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 100
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
