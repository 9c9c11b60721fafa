"""The member-segmentation report: card, segment profiles, box plots with feature name and unit,
and how the segments compare with the rule-based tiers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import CATALOGUE, fmt_num, fmt_pct, join, t

#: Features shown in the profiles and box plots, with their unit kind.
PROFILE_FEATURES = {"messages_per_day": "num", "active_day_share": "pct", "messages_30d": "num",
                    "recency_days": "days", "replies_per_post": "num", "read_rate": "pct", "tenure_days": "days"}


def segment_name(name: str, lang: str) -> str:
    """A segment's plain-words name in the language: 'core contributors (repliers) 2' -> '核心贡献者(爱回复)2'."""
    import re

    m = re.fullmatch(r"(.+?)(?: \((.+)\))?(?: (\d+))?", str(name))
    if m is None:
        return str(name)
    base, qualifier, number = m.groups()
    key = f"segment.{base.replace(' ', '_')}"
    if key not in CATALOGUE:
        return str(name)
    out = t(key, lang)
    if qualifier:
        qkey = f"segq.{qualifier}"
        q = t(qkey, lang) if qkey in CATALOGUE else qualifier
        out += f"({q})" if lang == "zh" else f" ({q})"
    if number:
        out += number if lang == "zh" else f" {number}"
    return out


def feature_label(name: str, lang: str) -> str:
    key = f"feature.{name}"
    label = t(key, lang) if key in CATALOGUE else name
    unit = t(f"seg.unit.{name}", lang) if f"seg.unit.{name}" in CATALOGUE else ""
    return f"{label}({unit})" if unit and lang == "zh" else (f"{label} ({unit})" if unit else label)


def card(result, lang: str = "zh") -> ConclusionCard:
    ari = result.comparison.ari
    stab = result.stability
    answer = "supported" if ari >= 0.5 else "contradicted" if ari < 0.2 else "not_shown"
    names = join([f"{segment_name(n, lang)} {fmt_pct(s, lang, digits=0)}" for n, s in
                  zip(result.profiles["name"], result.profiles["share"])], lang)
    key = t("seg.key", lang, k=result.k, names=names, ari=f"{ari:.2f}")
    nxt = t("seg.next_" + answer, lang)
    v = result.group_association
    caveat = (t("seg.caveat", lang, low=f"{stab['ari_low']:.2f}", high=f"{stab['ari_high']:.2f}", v=f"{v:.2f}")
              if v is not None and np.isfinite(v) else  # one group: Cramér's V is undefined
              t("seg.caveat_one_group", lang, low=f"{stab['ari_low']:.2f}", high=f"{stab['ari_high']:.2f}"))
    return ConclusionCard(question=t("seg.question", lang), answer=answer, key_number=key, next_step=nxt,
                          caveat=caveat, lang=lang)


def show_profiles(result, page) -> None:
    lang = page.lang
    prof = result.profiles.copy()
    prof["seg"] = [segment_name(n, lang) for n in prof["name"]]
    cols = [("seg", "seg.col.segment", "text"), ("size", "seg.col.size", "int"), ("share", "col.share", "pct")]
    cols += [(f, f"feature.{f}", kind if kind != "days" else "days") for f, kind in PROFILE_FEATURES.items()
             if f in prof]
    page.table(prof, cols)
    page.caption("seg.profiles_note")


def plot_boxes(result, feats: pd.DataFrame, lang: str):
    import matplotlib.pyplot as plt

    from groupstats.analyses.segmentation import add_derived_columns

    merged = add_derived_columns(result.model.features_).reset_index(drop=True)
    merged["segment"] = result.assignments["segment_id"].to_numpy()
    names = dict(zip(result.profiles["segment"], [segment_name(n, lang) for n in result.profiles["name"]]))
    # a feature the data cannot measure (e.g. read rate without events) gets no empty panel
    features = [f for f in PROFILE_FEATURES if f in merged and merged[f].notna().any()]
    ncols = 4
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax in list(axes.flat)[len(features):]:
        ax.set_visible(False)
    order = list(result.profiles["segment"])
    for ax, f in zip(axes.flat, features):
        scale = 100 if PROFILE_FEATURES[f] == "pct" else 1
        data = [scale * merged.loc[merged["segment"] == s, f].dropna().to_numpy(float) for s in order]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(np.arange(1, len(order) + 1))
        ax.set_xticklabels([names[s] for s in order], rotation=30, ha="right", fontsize=8)
        ax.set_title(feature_label(f, lang), fontsize=9, wrap=True)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(t("seg.fig.boxes", lang), fontsize=11)
    fig.tight_layout()
    return fig


def show_tiers(result, tiers, page) -> None:
    lang = page.lang
    comp = result.comparison
    page.say(t("seg.tiers_sentence", lang, ari=f"{comp.ari:.2f}"))
    table = getattr(comp, "crosstab", None)
    if table is None:
        table = getattr(comp, "table", None)
    if isinstance(table, pd.DataFrame) and len(table):
        frame = table.copy()
        frame.index = [t(f"tier.{i}", lang) if f"tier.{i}" in CATALOGUE else str(i) for i in frame.index]
        frame.columns = [segment_name(c, lang) if not isinstance(c, (int, np.integer)) else
                         segment_name(dict(zip(result.profiles["segment"], result.profiles["name"])).get(c, c), lang)
                         for c in frame.columns]
        frame = frame.reset_index(names="tier")
        cols = [("tier", "seg.col.tier", "text")] + [(c, c, "int") for c in frame.columns if c != "tier"]
        page.table(frame, cols)
