"""What a dataset holds: :class:`DatasetSummary` (``ds.summary()``, ``groupstats validate``) and
the experiments of its assignments table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.schema import TABLE_NAMES
from groupstats.results import Result


def experiments_in(assignments: pd.DataFrame | None) -> pd.DataFrame:
    """The experiments an assignments table holds: one row per experiment_id.

    Columns: ``experiment_id``, ``arms`` (sorted, comma-separated), ``design`` (``switchback``
    when some group changes arm over time, else ``group-randomised``), ``n_groups``, ``start``
    (first ``start_at``) and ``end`` (last ``end_at``). Empty when there is no assignments table.
    """
    columns = ["experiment_id", "arms", "design", "n_groups", "start", "end"]
    if assignments is None or assignments.empty:
        return pd.DataFrame(columns=columns)
    by_exp = assignments.groupby("experiment_id", sort=True)
    arms_per_group = assignments.groupby(["experiment_id", "group_id"])["arm"].nunique()
    switchback = arms_per_group.gt(1).groupby(level="experiment_id").any()
    out = pd.DataFrame({
        "arms": by_exp["arm"].agg(lambda arms: ", ".join(sorted(pd.unique(arms.astype(str))))),
        "design": np.where(switchback.reindex(by_exp.size().index, fill_value=False),
                           "switchback", "group-randomised"),
        "n_groups": by_exp["group_id"].nunique(),
        "start": by_exp["start_at"].min(),
        "end": by_exp["end_at"].max(),
    })
    return out.rename_axis("experiment_id").reset_index()[columns]


class DatasetSummary(Result):
    """Rows per table, date range, groups and members of a dataset (deferred tables are counted by
    the engine, not read)."""

    title = "Dataset summary"

    def __init__(self, dataset):
        self.dataset = dataset
        start, end = dataset.date_range()
        self.start, self.end = start, end
        self.n_groups = int(dataset.members["group_id"].nunique())
        self.n_members = int(dataset.members["member_id"].nunique())
        self.rows = {name: dataset.n_rows(name) for name in dataset.table_names}
        self.notes = list(dataset.metadata.get("notes", []))
        self.experiments = experiments_in(dataset.assignments)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"table": list(self.rows), "rows": list(self.rows.values())})

    def to_dict(self) -> dict:
        return {"path": str(self.dataset.path) if self.dataset.path else None, "tz": self.dataset.tz,
                "rows": self.rows, "start": self.start, "end": self.end, "n_groups": self.n_groups,
                "n_members": self.n_members, "notes": self.notes,
                "experiments": [dict(exp, arms=exp["arms"].split(", "))
                                for exp in self.experiments.to_dict(orient="records")]}

    def conclusion(self, lang: str | None = None) -> str:
        text = (f"{self.n_groups} groups, {self.n_members} distinct members, messages from "
                f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} ({self.dataset.tz}).")
        missing = [n for n in TABLE_NAMES if n not in self.rows]
        if missing:
            text += f"\nTables not present (needed only by some analyses): {', '.join(missing)}."
        if len(self.experiments):
            text += f"\nExperiments in assignments ({len(self.experiments)}):"
            for exp in self.experiments.itertuples(index=False):
                text += (f"\n  {exp.experiment_id}: {exp.design}, arms {exp.arms}, {exp.n_groups} group(s), "
                         f"{exp.start:%Y-%m-%d} to {exp.end:%Y-%m-%d}")
        elif self.dataset.assignments is not None:
            text += "\nExperiments in assignments: none (the table is empty)."
        for note in self.notes:
            text += f"\nNote: {note}"
        return text
