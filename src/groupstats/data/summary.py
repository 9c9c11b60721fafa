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

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("summaryres.title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.i18n import CATALOGUE, t
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.to_frame()
        frame["name"] = [t(f"table.{n}", lang) if f"table.{n}" in CATALOGUE else n for n in frame["table"]]
        frame["file"] = [f"`{n}`" for n in frame["table"]]  # the data model's name, as code
        return format_frame(frame, [("name", "overview.col.table", "text"), ("file", "overview.col.file", "text"),
                                    ("rows", "overview.col.rows", "int")], lang)

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import CATALOGUE, arm_name, fmt_num, join, note_text, t

        lang = self._lang(lang)
        text = t("summaryres.counts", lang, groups=fmt_num(self.n_groups, lang), members=fmt_num(self.n_members, lang),
                 start=f"{self.start:%Y-%m-%d %H:%M}", end=f"{self.end:%Y-%m-%d %H:%M}", tz=self.dataset.tz)
        missing = [n for n in TABLE_NAMES if n not in self.rows]
        if missing:
            text += "\n" + t("summaryres.missing", lang, tables=", ".join(missing))
        if len(self.experiments):
            text += "\n" + t("summaryres.experiments", lang, n=len(self.experiments))
            for exp in self.experiments.itertuples(index=False):
                design = f"audit.design.{exp.design}"
                # slots and the control arm in words; other arm ids (a preset mix) as they are
                arms = exp.arms if lang == "en" else join(
                    [arm_name(a, lang) if a == "control" or f"slot.{a}" in CATALOGUE else a
                     for a in exp.arms.split(", ")], lang)
                text += "\n  " + t("summaryres.experiment", lang, id=exp.experiment_id, arms=arms,
                                    design=exp.design if lang == "en" else t(design, lang),
                                    groups=exp.n_groups, start=f"{exp.start:%Y-%m-%d}", end=f"{exp.end:%Y-%m-%d}")
        elif self.dataset.assignments is not None:
            text += "\n" + t("summaryres.no_experiments", lang)
        for note in self.notes:
            text += "\n" + t("summaryres.note", lang, note=note_text(note, lang))
        return text
