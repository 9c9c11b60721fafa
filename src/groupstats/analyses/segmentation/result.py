"""The segmentation result object (profiles, stability, assignments, plots) and the group association."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from groupstats.tables.features import KEY_COLUMNS
from groupstats.results import Result, to_jsonable

from groupstats.analyses.segmentation.preparation import add_derived_columns

if TYPE_CHECKING:
    from groupstats.analyses.segmentation.estimator import MemberSegmentation


# ==========================================================================================
# result
# ==========================================================================================
class SegmentationResult(Result):
    """Segments of members: selection scores, stability, profiles, assignments.

    ``to_frame()`` is the segment profile table; ``assignments`` has one row per
    (group_id, member_id) with ``segment`` (name), ``segment_id`` and, with tiers,
    ``tier``; ``comparison`` (a :class:`~groupstats.analyses.tiers.TierComparison`) holds the
    tiers-vs-segments crosstab and adjusted Rand index.
    """

    title = "Member segments"

    def __init__(self, model: MemberSegmentation, tiers=None):
        self.model = model
        self.k = model.k_
        self.method = model.method_
        self.evidence = model.evidence_
        self.features = model.features
        self.selection = model.selection_
        self.selection_note = model.selection_note_
        self.stability = model.stability_
        self.profiles = model.profiles_
        self.columns_used = list(model.pipeline_.named_steps["prepare"].columns_)
        self.columns_dropped = list(model.pipeline_.named_steps["prepare"].dropped_)
        feats = model.features_
        self.cutoff = feats.attrs.get("cutoff")
        assign = feats[list(KEY_COLUMNS)].copy().reset_index(drop=True)
        assign["segment_id"] = model.labels_
        assign["segment"] = np.asarray(model.segment_names_, dtype=object)[model.labels_]
        self.tiers = tiers
        self.comparison = None
        if tiers is not None:
            from groupstats.analyses.tiers import compare_tiers_segments

            tier_frame = tiers.assignments if hasattr(tiers, "assignments") else tiers
            assign = assign.merge(tier_frame[[*KEY_COLUMNS, "tier"]], on=list(KEY_COLUMNS), how="left")
            self.comparison = compare_tiers_segments(assign["tier"], assign["segment"],
                                                     tier_order=getattr(tiers, "order", None),
                                                     segment_order=list(model.segment_names_))
        self.assignments = assign
        self.group_association = group_association(assign["group_id"], assign["segment_id"])

    def to_frame(self) -> pd.DataFrame:
        return self.profiles.copy()

    def to_dict(self) -> dict:
        out = {"method": self.method, "features": self.features, "cutoff": self.cutoff, "k": self.k,
               "selection_note": self.selection_note, "selection_scores": self.selection,
               "k_evidence": {key: v for key, v in self.evidence.items() if key != "text"},
               "stability": self.stability, "columns_used": self.columns_used,
               "columns_dropped": self.columns_dropped, "n_members": int(len(self.assignments)),
               "group_association_cramers_v": self.group_association,
               "segments": self.profiles, "conclusion": self.conclusion()}
        if self.comparison is not None:
            out["tiers_vs_segments"] = self.comparison.to_dict()
        return to_jsonable(out)

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import segments

        return segments.card(self, lang)

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("segres.title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        """The profiles for people: segment names and feature headers in ``lang``."""
        from groupstats.reports.i18n import CATALOGUE
        from groupstats.reports.pages.segments import segment_name
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.profiles.copy()
        frame["name"] = [segment_name(x, lang) for x in frame["name"]]
        columns = [("name", "seg.col.segment", "text"), ("size", "seg.col.size", "int"), ("share", "col.share", "pct")]
        for c in frame.columns:
            if c in ("segment", "name", "size", "share"):
                continue
            key = f"feature.{c}" if f"feature.{c}" in CATALOGUE else f"field.{c}"
            columns.append((c, key, "pct" if c.endswith(("_share", "_rate")) or c.startswith("share_") else "num"))
        return format_frame(frame, columns, lang)

    def _selection_text(self, lang: str) -> str:
        """The choice of k in ``lang`` (the estimator writes it in English; catalogue templates ``note.seg_*``)."""
        import re

        from groupstats.reports.i18n import note_text

        if lang == "en":
            return self.selection_note
        sentences = re.split(r"(?<=[.)])\s+(?=[A-Zk0-9])", self.selection_note.strip())
        return "".join(note_text(x, lang) for x in sentences if x)

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import fmt_num, fmt_pct, join, t
        from groupstats.reports.pages.segments import segment_name

        lang = self._lang(lang)
        kind = t(f"segres.kind.{'rate' if self.method == 'rate_mixture' else 'features'}.{self.features}", lang)
        sep = "" if lang == "zh" else " "
        parts = [t("segres.members", lang, n=fmt_num(len(self.assignments), lang), k=self.k, method=self.method,
                   kind=kind) + sep + self._selection_text(lang)]
        sizes = join([f"{segment_name(r['name'], lang)} {fmt_pct(r['share'], lang, digits=0)}"
                      for _, r in self.profiles.iterrows()], lang)
        parts.append(t("segres.sizes", lang, sizes=sizes))
        st = self.stability
        if st.get("n_bootstrap"):
            level = "stable" if st["ari_mean"] >= 0.8 else "moderate" if st["ari_mean"] >= 0.6 else "unstable"
            parts.append(t("segres.stability", lang, ari=f"{st['ari_mean']:.2f}", low=f"{st['ari_low']:.2f}",
                           high=f"{st['ari_high']:.2f}", level=t(f"segres.level.{level}", lang)))
        v = self.group_association
        if v == v:
            parts.append(t("segres.groups", lang, v=f"{v:.2f}")
                         + (t("segres.groups_follow", lang) if v >= 0.4 and self.features == "raw" else
                            t("segres.period", lang)))
        if self.columns_dropped:
            parts.append(t("segres.dropped", lang, columns=", ".join(self.columns_dropped)))
        if self.comparison is not None:
            parts.append(self.comparison.conclusion(lang))
        return "\n".join(parts)

    # ---- plots -------------------------------------------------------------------------------
    def plot_pca(self, ax=None):
        """Members on the first two principal components of the scaled features, coloured by segment."""
        import matplotlib.pyplot as plt
        import seaborn as sns
        from sklearn.decomposition import PCA

        Z = self.model.transform(self.model.features_)
        pca = PCA(n_components=2, random_state=0).fit(Z)
        xy = pca.transform(Z)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 5))
        order = list(self.model.segment_names_)
        sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=self.assignments["segment"], hue_order=order, s=18,
                        alpha=0.7, ax=ax, linewidth=0)
        ev = pca.explained_variance_ratio_
        ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
        ax.set_title("Members by segment (PCA of the segmentation features)")
        ax.legend(title="segment", fontsize="small")
        return ax

    def plot_profiles(self, columns: Sequence[str] | None = None):
        """Box plots of key raw features by segment (one panel per feature); returns the figure."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        feats = add_derived_columns(self.model.features_).reset_index(drop=True)
        columns = list(columns) if columns is not None else [
            c for c in ("messages_per_day", "active_day_share", "recency_days", "read_rate", "sign_in_rate",
                        "share_replies") if c in feats and not feats[c].isna().all()]
        data = feats[columns].copy()
        data["segment"] = self.assignments["segment"].to_numpy()
        long = data.melt(id_vars="segment", var_name="feature", value_name="value")
        n = len(columns)
        ncols = min(3, n)
        nrows = int(np.ceil(n / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
        order = list(self.model.segment_names_)
        for ax, col in zip(axes.ravel(), columns):
            sub = long.loc[long["feature"] == col]
            sns.boxplot(data=sub, x="segment", y="value", order=order, ax=ax, showfliers=False)
            ax.set_title(col)
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=35, labelsize="small")
            if col == "messages_per_day":
                ax.set_yscale("symlog", linthresh=0.1)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        fig.suptitle("Segment profiles (most to least engaged)")
        fig.tight_layout()
        return fig


def group_association(groups, segments) -> float:
    """Cramer's V (0-1) between group and segment: near 0 when segments cut across groups,
    near 1 when segments simply sort the groups. NaN with one group or one segment."""
    from scipy.stats.contingency import association

    table = pd.crosstab(np.asarray(groups), np.asarray(segments)).to_numpy()
    if min(table.shape) < 2:
        return float("nan")
    return float(association(table, method="cramer"))
