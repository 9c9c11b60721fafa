"""Realised mix per group and week, and compliance with a target mix (distance, chance level, exact
multinomial test)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import local_date
from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable

from groupstats.analyses.content_mix.targets import (_check_categories, apply_mapping, load_mapping,
                                                     marketing_cap, parse_mix)


# ======================================================================================
# realised mix and compliance
# ======================================================================================
def _week_start(dates: pd.Series) -> pd.Series:
    """Monday of the (local, naive) date's week."""
    return dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")


def _select_posts(ds: Dataset, start=None, end=None) -> pd.DataFrame:
    posts = ds.require("posts", "the content-mix analysis")
    keep = np.ones(len(posts), dtype=bool)
    if start is not None:
        keep &= (posts["posted_at"] >= ds.timestamp(start)).to_numpy()
    if end is not None:
        keep &= (posts["posted_at"] < ds.timestamp(end) + pd.Timedelta(days=1)).to_numpy() \
            if len(str(end)) <= 10 else (posts["posted_at"] <= ds.timestamp(end)).to_numpy()
    return posts.loc[keep]


def realised_mix(ds: Dataset, mapping=None, freq: str = "W", start=None, end=None) -> pd.DataFrame:
    """Posts per content category per group and period.

    Parameters
    ----------
    ds : Dataset
        Needs ``posts``.
    mapping : dict or path, optional
        Label mapping (see :func:`load_mapping`).
    freq : {"W", "D"}
        Weeks (Monday start, local time) or days.

    Returns
    -------
    DataFrame of shape (n_group_periods, 3 + n_categories)
        Columns group_id, period_start, n_posts, then one count column per category.
    """
    if freq not in ("W", "D"):
        raise ParameterError(f"freq must be 'W' (weeks) or 'D' (days), got {freq!r}.")
    posts = _select_posts(ds, start, end)
    mapping = load_mapping(mapping)
    date = local_date(posts["posted_at"])
    period = _week_start(date) if freq == "W" else date
    frame = pd.DataFrame({"group_id": posts["group_id"].to_numpy(), "period_start": period.to_numpy(),
                          "category": apply_mapping(posts["content_type"], mapping).to_numpy()})
    counts = frame.groupby(["group_id", "period_start", "category"]).size().unstack(fill_value=0)
    counts.columns = [str(c) for c in counts.columns]
    counts.insert(0, "n_posts", counts.sum(axis=1))
    return counts.reset_index()


def _reference(n: int, q: np.ndarray, n_sim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square statistics (sorted) and TV distances of n_sim multinomial(n, q) draws."""
    rng = np.random.default_rng([seed, n])
    draws = rng.multinomial(n, q, size=n_sim).astype(float)
    expected = n * q
    chi2 = (((draws - expected) ** 2) / expected).sum(axis=1)
    tv = 0.5 * np.abs(draws / n - q).sum(axis=1)
    return np.sort(chi2), tv


def _compliance_stats(counts: np.ndarray, other: np.ndarray, q: np.ndarray, n_sim: int,
                      seed: int) -> pd.DataFrame:
    """TV distance, its expectation under perfect compliance, and the Monte-Carlo GOF p-value.

    counts : (m, K) posts per target category; other : (m,) posts outside the target.
    """
    n = counts.sum(axis=1) + other
    m = len(n)
    tv = np.full(m, np.nan)
    exp_tv = np.full(m, np.nan)
    p = np.full(m, np.nan)
    chi2 = np.full(m, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = counts / n[:, None]
        tv = 0.5 * (np.abs(share - q[None, :]).sum(axis=1) + other / n)
        chi2 = (((counts - n[:, None] * q[None, :]) ** 2) / (n[:, None] * q[None, :])).sum(axis=1)
    chi2 = np.where(other > 0, np.inf, chi2)  # a post outside the target is impossible under compliance
    for size in np.unique(n[n > 0]):
        rows = n == size
        ref_chi2, ref_tv = _reference(int(size), q, n_sim, seed)
        exp_tv[rows] = ref_tv.mean()
        # p = (1 + #{sim >= obs}) / (n_sim + 1), with a tolerance for ties
        n_ge = n_sim - np.searchsorted(ref_chi2, chi2[rows] - 1e-9, side="left")
        p[rows] = (1 + n_ge) / (n_sim + 1)
    return pd.DataFrame({"tv_distance": tv, "expected_tv": exp_tv, "excess_tv": tv - exp_tv,
                         "chi2": chi2, "p_value": p})


class MixComplianceResult(Result):
    """Realised content mix against a target, per group-week.

    Attributes
    ----------
    target : MixTarget
    table : DataFrame
        One row per group-week: group_id, week_start, n_posts, share_<category> (target
        categories and ``share_other`` for posts outside the target), marketing_share,
        over_marketing_cap, tv_distance (total-variation distance from the target, 0..1),
        expected_tv (its mean under perfect compliance at that n_posts), excess_tv,
        p_value (Monte-Carlo multinomial goodness of fit), consistent (p_value >= alpha).
    by_group, by_week : DataFrame
        Summaries over weeks per group and over groups per week.
    marketing : dict
        category, cap, source, overall share, group-weeks over the cap.
    """

    def __init__(self, target, table, by_group, by_week, marketing, alpha, mapping, notes):
        self.target = target
        self.table = table
        self.by_group = by_group
        self.by_week = by_week
        self.marketing = marketing
        self.alpha = alpha
        self.mapping = mapping
        self.notes = notes

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Content-mix compliance with target {self.target.compact()} (per group, over weeks)"

    def to_frame(self) -> pd.DataFrame:
        return self.by_group.copy()

    def to_dict(self) -> dict:
        return to_jsonable({
            "target": self.target.to_dict(), "alpha": self.alpha, "mapping": self.mapping,
            "n_group_weeks": len(self.table), "share_consistent": self.share_consistent,
            "mean_tv_distance": float(self.table["tv_distance"].mean()),
            "mean_expected_tv": float(self.table["expected_tv"].mean()),
            "marketing": self.marketing, "groups": self.by_group, "weeks": self.by_week,
            "notes": self.notes})

    @property
    def share_consistent(self) -> float:
        return float(self.table["consistent"].mean()) if len(self.table) else float("nan")

    #: the per-group summary for people (header key, kind of value)
    text_columns = (("group_id", "col.group", "text"), ("weeks", "mix.col.weeks", "int"),
                    ("posts", "ab.col.posts", "int"), ("mean_tv", "mix.col.tv", "num"),
                    ("mean_expected_tv", "field.mean_expected_tv", "num"), ("mean_excess_tv", "mix.col.excess", "num"),
                    ("share_weeks_consistent", "mix.col.consistent", "pct"), ("share_other", "field.share_other", "pct"),
                    ("marketing_share", "field.marketing_share", "pct"), ("weeks_over_cap", "field.weeks_over_cap", "int"))

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import mix_text, t

        lang = self._lang(lang)
        return t("compres.title", lang, target=mix_text(self.target.shares, lang))

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import content_type_name, join, mix_text, note_text, t

        lang = self._lang(lang)
        table = self.table
        target = mix_text(self.target.shares, lang)
        first = t("compres.checked", lang, n=len(table), target=target)
        if self.target.source:
            first += t("compres.preset", lang, name=self.target.name, source=self.target.source)
        first += t("compres.consistent", lang, share=f"{100 * self.share_consistent:.0f}%", alpha=f"{self.alpha:g}",
                   reject=f"{100 * self.alpha:g}%")
        lines = [first, t("compres.distance", lang, mean=f"{table['tv_distance'].mean():.3f}",
                          expected=f"{table['expected_tv'].mean():.3f}")]
        worst = self.by_group.sort_values("mean_excess_tv", ascending=False).head(3)
        if len(worst):
            lines.append(t("compres.furthest", lang, groups=join(
                [f"{r.group_id} ({r.mean_excess_tv:+.3f})" for r in worst.itertuples()], lang)))
        mk = self.marketing
        lines.append(t("compres.marketing", lang, category=content_type_name(mk["category"], lang),
                       share=f"{100 * (mk['share'] or 0):.1f}%", cap=f"{100 * mk['cap']:g}%", source=mk["source"],
                       n=mk["group_weeks_over_cap"]))
        lines += [note_text(n, lang) for n in self.notes]
        return "\n".join(lines)

    def plot(self, ax=None):
        """Excess distance from the target over weeks, one line per group."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        sns.lineplot(data=self.table, x="week_start", y="excess_tv", hue="group_id", ax=ax, legend=False,
                     alpha=0.6)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("distance from target minus chance (TV)")
        ax.set_title(f"Compliance with {self.target.compact()}")
        return ax


def check_compliance(ds: Dataset, target, mapping=None, start=None, end=None, alpha: float = 0.05,
                     marketing_cap_share: float | None = None, n_sim: int = 4000,
                     seed: int = 0) -> MixComplianceResult:
    """Compare each group-week's realised content mix with a target mix.

    Parameters
    ----------
    ds : Dataset
        Needs ``posts``.
    target : str, dict or MixTarget
        Compact mix (``"practical:30,interactive:50,lifestyle:20"``) or preset name.
    mapping : dict or path, optional
        Translates content labels to the target's categories (see :func:`load_mapping`).
    start, end : date, optional
        Restrict to posts in this date range (inclusive).
    alpha : float
        Level of the goodness-of-fit test.
    marketing_cap_share : float, optional
        Cap on the marketing share in [0, 1]; default from ``presets/mixes.yaml`` (15%,
        "微信群如何经营和管理(微信群运营与管理)" and "微信群怎么互动(群聊互动技巧)").
    n_sim, seed : int
        Monte-Carlo draws per distinct number of posts, and their seed.

    Returns
    -------
    MixComplianceResult

    Raises
    ------
    ParameterError
        Bad target (see :func:`parse_mix`), or a target category that no post carries and no
        mapping provides.
    """
    target = parse_mix(target)
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie between 0 and 1, got {alpha!r}.")
    mapping = load_mapping(mapping)
    mix = realised_mix(ds, mapping=mapping, start=start, end=end)
    if mix.empty:
        raise InsufficientDataError("No posts in the selected date range; widen start/end.")
    carried = {c for c in mix.columns[3:] if mix[c].sum() > 0}
    _check_categories(target, carried, mapping, "the data")
    cats = target.categories
    counts = np.column_stack([mix[c].to_numpy() if c in mix else np.zeros(len(mix)) for c in cats]).astype(float)
    other_cols = [c for c in mix.columns[3:] if c not in cats]
    other = mix[other_cols].sum(axis=1).to_numpy(float) if other_cols else np.zeros(len(mix))
    q = target.vector(cats)
    stats = _compliance_stats(counts, other, q, n_sim, seed)
    n = mix["n_posts"].to_numpy(float)
    cap_cat, default_cap, cap_source = marketing_cap()
    cap = default_cap if marketing_cap_share is None else float(marketing_cap_share)
    if not 0 <= cap <= 1:
        raise ParameterError(f"marketing_cap_share must lie in [0, 1], got {marketing_cap_share!r}.")
    table = pd.DataFrame({"group_id": mix["group_id"], "week_start": mix["period_start"], "n_posts": n.astype(int)})
    for i, c in enumerate(cats):
        table[f"share_{c}"] = counts[:, i] / n
    table["share_other"] = other / n
    mk = mix[cap_cat].to_numpy(float) if cap_cat in mix else np.zeros(len(mix))
    table["marketing_share"] = mk / n
    table["over_marketing_cap"] = table["marketing_share"] > cap
    table = pd.concat([table, stats], axis=1)
    table["consistent"] = table["p_value"] >= alpha
    by_group = table.groupby("group_id", as_index=False).agg(
        weeks=("n_posts", "size"), posts=("n_posts", "sum"), mean_tv=("tv_distance", "mean"),
        mean_expected_tv=("expected_tv", "mean"), mean_excess_tv=("excess_tv", "mean"),
        share_weeks_consistent=("consistent", "mean"), share_other=("share_other", "mean"),
        marketing_share=("marketing_share", "mean"), weeks_over_cap=("over_marketing_cap", "sum"))
    by_week = table.groupby("week_start", as_index=False).agg(
        groups=("group_id", "size"), posts=("n_posts", "sum"), mean_tv=("tv_distance", "mean"),
        mean_expected_tv=("expected_tv", "mean"), share_consistent=("consistent", "mean"),
        marketing_share=("marketing_share", "mean"))
    notes = []
    if cap_cat not in carried:
        notes.append(f"No post is labelled '{cap_cat}', so the marketing share is 0; if your marketing "
                     f"posts carry another label, map it to '{cap_cat}' with a mapping file.")
    if other.sum() > 0:
        notes.append(f"{int(other.sum())} post(s) ({100 * other.sum() / n.sum():.1f}%) carry categories outside "
                     f"the target ({', '.join(c for c in other_cols if mix[c].sum() > 0)}); a week with any of "
                     "them is inconsistent with perfect compliance.")
    marketing = {"category": cap_cat, "cap": cap, "source": cap_source,
                 "share": float(mk.sum() / n.sum()), "group_weeks_over_cap": int(table["over_marketing_cap"].sum())}
    return MixComplianceResult(target, table, by_group, by_week, marketing, alpha, mapping, notes)
