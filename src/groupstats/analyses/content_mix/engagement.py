"""Observational view: engagement per post by content type, with group fixed effects."""
from __future__ import annotations

import warnings

import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import post_outcomes
from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.results import Result, to_jsonable

from groupstats.analyses.content_mix.targets import apply_mapping, load_mapping
from groupstats.analyses.content_mix.compliance import _week_start


# ======================================================================================
# observational view: engagement per post by content type
# ======================================================================================
class ContentEngagementResult(Result):
    """OBSERVATIONAL comparison of engagement per post by content type (group fixed effects).

    Content types are not randomised: operators choose them, and they may go with times,
    topics or campaigns that also move engagement. Read the differences as descriptions.
    """

    def __init__(self, comparison, metric, fixed_effects, baseline, n_posts):
        self.comparison = comparison
        self.metric = metric
        self.fixed_effects = fixed_effects
        self.baseline = baseline
        self.n_posts = n_posts

    @property
    def title(self) -> str:  # type: ignore[override]
        return (f"OBSERVATIONAL (not randomised): {self.metric} per post by content type vs "
                f"{self.baseline!r}, {' + '.join(self.fixed_effects)} fixed effects")

    def to_frame(self) -> pd.DataFrame:
        return self.comparison.comparisons.copy()

    def to_dict(self) -> dict:
        base = self.comparison.to_dict()
        return to_jsonable({"view": "observational", "metric": self.metric, "baseline": self.baseline,
                            "fixed_effects": self.fixed_effects, "n_posts": self.n_posts,
                            "method": base["method"], "arms": base["arms"],
                            "comparisons": base["comparisons"], "notes": base["notes"]})

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import content_type_name, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        return t("engres.title", lang, metric=translate_metric(self.metric, lang),
                 baseline=content_type_name(self.baseline, lang),
                 fixed_effects=" + ".join(t(f"engres.fe.{f}", lang) for f in self.fixed_effects))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.i18n import content_type_name
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.comparison.comparisons.copy()
        for col in ("arm", "control"):
            frame[col] = [content_type_name(a, lang) for a in frame[col]]
        columns = [("arm", "mix.col.type", "text"), *[c for c in self.comparison.text_columns if c[0] != "arm"]]
        return format_frame(frame, [c for c in columns if c[0] in frame], lang)

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import content_type_name, fmt_num, join, t
        from groupstats.reports.tables import translate_metric

        lang = self._lang(lang)
        comp = self.comparison.comparisons.sort_values("rel_diff", ascending=False)
        parts = [f"{content_type_name(r.arm, lang)} {100 * r.rel_diff:+.0f}% ({100 * r.rel_ci_low:+.0f}% "
                 f"{t('engres.to', lang)} {100 * r.rel_ci_high:+.0f}%)" for r in comp.itertuples()]
        return t("engres.conclusion", lang, fixed_effects=t("engres.and", lang).join(
            t(f"engres.fe.{f}", lang) for f in self.fixed_effects), baseline=content_type_name(self.baseline, lang),
            metric=translate_metric(self.metric, lang), n=fmt_num(self.n_posts, lang),
            parts=t("healthres.sep", lang).join(parts))


def content_type_engagement(ds: Dataset, metric: str = "replies", mapping=None, baseline=None,
                            fixed_effects: str = "group", alpha: float = 0.05) -> ContentEngagementResult:
    """Engagement per post by content type with group fixed effects (observational).

    Parameters
    ----------
    metric : str
        A column of :func:`groupstats.tables.derived.post_outcomes`: ``replies``, ``responses``,
        ``responders``, ``read_rate``, ``click_rate``.
    mapping : dict or path, optional
        Label mapping applied to ``content_type``.
    baseline : str, optional
        Content type the others are compared with; default the most frequent.
    fixed_effects : {"group", "group_week"}
        ``group``: within-group comparisons; ``group_week``: within group-week (also removes
        trends and experiment periods).

    Returns
    -------
    ContentEngagementResult
    """
    from groupstats.stats.compare import compare_arms

    allowed = ("replies", "responses", "responders", "read_rate", "click_rate")
    if metric not in allowed:
        raise ParameterError(f"metric must be one of {', '.join(allowed)}, got {metric!r}.")
    if fixed_effects not in ("group", "group_week"):
        raise ParameterError(f"fixed_effects must be 'group' or 'group_week', got {fixed_effects!r}.")
    po = post_outcomes(ds)
    po = po.loc[po["complete"] & po[metric].notna()].copy()
    if po.empty:
        raise InsufficientDataError(f"No post has a complete {metric} outcome (posts need their whole response "
                                    "window inside the data); the content-type view needs posts.")
    po["content_type"] = apply_mapping(po["content_type"], load_mapping(mapping))
    po["group_week"] = po["group_id"] + "|" + _week_start(po["date"]).dt.strftime("%Y-%m-%d")
    counts = po["content_type"].value_counts()
    if baseline is None:
        baseline = str(counts.index[0])
    elif baseline not in counts.index:
        raise ParameterError(f"Baseline content type {baseline!r} has no posts; types: {', '.join(counts.index)}.")
    fe = ["group_id"] if fixed_effects == "group" else ["group_week"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        comparison = compare_arms(po, arm="content_type", metric=metric, kind="mean", control=baseline,
                                  cluster="group_id", fixed_effects=fe, alpha=alpha, method="cr2")
    return ContentEngagementResult(comparison, metric, [fixed_effects], baseline, int(len(po)))
