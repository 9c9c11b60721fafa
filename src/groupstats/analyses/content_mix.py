"""Content mix: realised mixes, compliance with a target, and mix-policy experiments.

Three questions about the kinds of posts operators publish (``posts.content_type``):

1. **Does a group follow a target mix?** :func:`check_compliance` computes the realised
   mix per group and week, its total-variation distance from the target, the distance
   expected *by chance alone* under perfect compliance at that number of posts (a week of
   7 posts never matches 30/50/20 exactly) and an exact Monte-Carlo multinomial
   goodness-of-fit p-value; and the share of marketing posts against a cap.
2. **Does a mix policy work?** :func:`analyse_mix_experiment` analyses a group-randomised
   experiment (``assignments``) on group-week outcomes (``messages_per_member_day``,
   ``active_share``, ``replies_per_post``, ``read_rate``), each a ratio of sums, compared at
   group level with :func:`groupstats.stats.compare.compare_arms` (clusters = groups), adjusted
   for the pre-period (CUPED by default, or difference-in-differences), intent-to-treat,
   with a compliance view (how far each group's realised mix moved toward its arm's mix).
3. **Which content types get more engagement?** :func:`content_type_engagement` is an
   *observational* comparison of engagement per post by content type with group fixed
   effects: not randomised, so read it as a description, not as a causal effect.

Targets are written compactly (``"practical:30,interactive:50,lifestyle:20"``) or named
by a preset shipped in ``presets/mixes.yaml`` (``interactive_352``, ``manage_4321``,
``interact_721``; each cites its playbook article). A mapping file translates an
analyst's own content labels to a target's categories.

Example
-------
>>> from groupstats import load_dataset
>>> from groupstats.analyses.content_mix import check_compliance, analyse_mix_experiment
>>> ds = load_dataset("data/sample")                                # doctest: +SKIP
>>> check_compliance(ds, "practical:30,interactive:50,lifestyle:20")  # doctest: +SKIP
>>> analyse_mix_experiment(ds, "mix_policy", "messages_per_member_day")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset
from groupstats.tables.derived import group_day_metrics, local_date, member_messages, post_outcomes
from groupstats.errors import InsufficientDataError, ParameterError, StatisticalWarning
from groupstats.paths import PRESETS_DIR
from groupstats.results import Result, to_jsonable
from groupstats.data.schema import OPERATOR_ROLES

__all__ = ["MixTarget", "parse_mix", "mix_presets", "marketing_cap", "load_mapping", "apply_mapping",
           "realised_mix", "check_compliance", "MixComplianceResult", "mix_experiment_table",
           "analyse_mix_experiment", "MixExperimentResult", "content_type_engagement",
           "ContentEngagementResult", "MIX_METRICS"]

MIXES_FILE = PRESETS_DIR / "mixes.yaml"
OTHER = "(other)"

#: Group-week outcomes of a mix experiment: name -> (numerator column, denominator column, text).
MIX_METRICS = {
    "messages_per_member_day": ("n_messages", "member_days",
                                "member messages (operators excluded) over member-days present"),
    "active_share": ("n_active", "n_present",
                     "members who sent a message in the week over members present in the week"),
    "replies_per_post": ("replies", "n_posts", "member quote-replies within 2 h over posts"),
    "read_rate": ("readers", "post_reach",
                  "readers within 24 h summed over the week's posts over members present summed over them"),
}


# ======================================================================================
# targets, presets and mappings
# ======================================================================================
@dataclass(frozen=True)
class MixTarget:
    """A target content mix.

    Attributes
    ----------
    shares : dict of str -> float
        Share of posts per category, summing to 1.
    name : str
        Preset name or the compact text it was parsed from.
    source : str or None
        Playbook article the preset comes from (title), None for a custom mix.
    """

    shares: dict
    name: str
    source: str | None = None

    @property
    def categories(self) -> list[str]:
        return list(self.shares)

    def vector(self, categories: list[str]) -> np.ndarray:
        """Shares over ``categories`` (0 for categories not in the target)."""
        return np.array([self.shares.get(c, 0.0) for c in categories], dtype=float)

    def compact(self) -> str:
        return ",".join(f"{c}:{100 * s:g}" for c, s in self.shares.items())

    def to_dict(self) -> dict:
        return {"name": self.name, "shares": dict(self.shares), "percent": self.compact(),
                "source": self.source}


@lru_cache(maxsize=1)
def _load_mix_file() -> dict:
    import yaml

    return yaml.safe_load(MIXES_FILE.read_text(encoding="utf-8"))


def mix_presets() -> dict[str, MixTarget]:
    """The content-mix presets shipped with groupstats (``presets/mixes.yaml``), by name."""
    raw = _load_mix_file()["presets"]
    return {name: _target_from_percent(spec["mix"], name, spec.get("source"))
            for name, spec in raw.items()}


def marketing_cap() -> tuple[str, float, str]:
    """Default marketing cap: (category, share in [0, 1], source article titles)."""
    raw = _load_mix_file()["marketing_cap"]
    return str(raw.get("category", "marketing")), float(raw["value"]) / 100, str(raw.get("source"))


def _target_from_percent(percent: dict, name: str, source: str | None) -> MixTarget:
    values = {}
    for cat, val in percent.items():
        cat = str(cat).strip()
        if not cat:
            raise ParameterError(f"Mix {name!r} has an empty category name; write e.g. "
                                 "'practical:30,interactive:50,lifestyle:20'.")
        if cat in values:
            raise ParameterError(f"Mix {name!r} names category {cat!r} twice; give each category once.")
        try:
            number = float(val)
        except (TypeError, ValueError):
            raise ParameterError(f"Mix {name!r}: the percentage of {cat!r} is {val!r}, not a number; "
                                 "write e.g. 'practical:30'.") from None
        if not math.isfinite(number) or number < 0:
            raise ParameterError(f"Mix {name!r}: the percentage of {cat!r} must be a number >= 0, "
                                 f"got {val!r}.")
        values[cat] = number
    total = sum(values.values())
    if not values:
        raise ParameterError("The target mix is empty; write e.g. 'practical:30,interactive:50,lifestyle:20'.")
    if abs(total - 100) > 1e-6:
        raise ParameterError(
            f"The target mix {name!r} sums to {total:g}%, not 100%; percentages of the categories "
            f"({', '.join(f'{c}:{v:g}' for c, v in values.items())}) must add up to exactly 100.")
    return MixTarget({c: v / 100 for c, v in values.items()}, name=name, source=source)


_PAIR = re.compile(r"^\s*([^:=,]+?)\s*[:=]\s*([^:=,]*?)\s*%?\s*$")


def parse_mix(spec) -> MixTarget:
    """Parse a target mix.

    Parameters
    ----------
    spec : str, dict or MixTarget
        A preset name (``"interactive_352"``), compact text
        (``"practical:30,interactive:50,lifestyle:20"``; ``=`` and ``%`` accepted), or a
        dict ``{category: percent}``.

    Returns
    -------
    MixTarget

    Raises
    ------
    ParameterError
        Unknown preset, unreadable text, negative or non-numeric percentages, repeated
        categories, or percentages not summing to 100.
    """
    if isinstance(spec, MixTarget):
        return spec
    if isinstance(spec, dict):
        return _target_from_percent(spec, name=",".join(f"{k}:{v}" for k, v in spec.items()), source=None)
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"A target mix must be text such as 'practical:30,interactive:50,lifestyle:20' "
                             f"or a preset name ({', '.join(mix_presets())}); got {spec!r}.")
    text = spec.strip()
    presets = mix_presets()
    if ":" not in text and "=" not in text:
        if text in presets:
            return presets[text]
        raise ParameterError(f"Unknown mix preset {text!r}; presets: {', '.join(presets)}; or write the mix "
                             "as category:percent pairs, e.g. 'practical:30,interactive:50,lifestyle:20'.")
    percent = {}
    for part in text.split(","):
        if not part.strip():
            continue
        match = _PAIR.match(part)
        if match is None:
            raise ParameterError(f"Cannot read {part.strip()!r} in the target mix {text!r}; write "
                                 "category:percent pairs separated by commas, e.g. "
                                 "'practical:30,interactive:50,lifestyle:20'.")
        cat, val = match.group(1), match.group(2)
        if cat in percent:
            raise ParameterError(f"Mix {text!r} names category {cat!r} twice; give each category once.")
        percent[cat] = val
    return _target_from_percent(percent, name=text, source=None)


def load_mapping(mapping) -> dict[str, str]:
    """Read a label mapping: analyst label -> target category.

    Parameters
    ----------
    mapping : dict, str or Path, or None
        A dict, or a file: YAML / JSON (``label: category``; a top-level ``mapping:`` key is
        allowed) or CSV with columns ``label,category``.

    Returns
    -------
    dict of str -> str (empty for None)
    """
    if mapping is None:
        return {}
    if isinstance(mapping, dict):
        raw = mapping
    else:
        path = Path(mapping)
        if not path.exists():
            raise ParameterError(f"Mapping file {path} does not exist; write a YAML file with lines "
                                 "'your_label: category' (or a CSV with columns label,category).")
        text = path.read_text(encoding="utf-8-sig")
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
                if not {"label", "category"} <= set(frame.columns):
                    raise ParameterError(f"Mapping file {path} needs columns 'label' and 'category'; it has "
                                         f"{', '.join(frame.columns)}.")
                raw = dict(zip(frame["label"], frame["category"]))
            elif path.suffix.lower() == ".json":
                raw = json.loads(text)
            else:
                import yaml

                raw = yaml.safe_load(text)
        except ParameterError:
            raise
        except Exception as exc:
            raise ParameterError(f"Mapping file {path} cannot be read ({exc}); write YAML lines "
                                 "'your_label: category'.") from exc
        if isinstance(raw, dict) and isinstance(raw.get("mapping"), dict):
            raw = raw["mapping"]
        if not isinstance(raw, dict):
            raise ParameterError(f"Mapping file {path} must hold 'label: category' pairs.")
    out = {}
    for key, val in raw.items():
        if key is None or val is None or not str(key).strip() or not str(val).strip():
            raise ParameterError(f"The mapping has an empty label or category ({key!r}: {val!r}); every "
                                 "line must read 'your_label: category'.")
        out[str(key).strip()] = str(val).strip()
    return out


def apply_mapping(content_type: pd.Series, mapping: dict | None) -> pd.Series:
    """Translate content labels with ``mapping``; labels not in it are kept."""
    labels = content_type.astype("str").str.strip()
    if not mapping:
        return labels
    return labels.map(lambda v: mapping.get(v, v)).astype("str")


def _check_categories(target: MixTarget, carried: set, mapping: dict, what: str) -> None:
    provided = set(mapping.values())
    missing = [c for c in target.categories if c not in carried and c not in provided]
    if missing:
        raise ParameterError(
            f"Target category(ies) {', '.join(repr(c) for c in missing)} of the mix {target.name!r} "
            f"appear in no post of {what} and no mapping provides them; the posts carry: "
            f"{', '.join(sorted(carried)) or '(none)'}. Fix the target's category names, or pass a "
            "mapping file (--mapping FILE with lines 'your_label: category') that translates your "
            "content labels to the target's categories.")


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

    def conclusion(self) -> str:
        t = self.table
        lines = [
            f"{len(t)} group-weeks checked against {self.target.compact()}"
            + (f" (preset '{self.target.name}' from \"{self.target.source}\")" if self.target.source else "")
            + f": {100 * self.share_consistent:.0f}% are consistent with perfect compliance (multinomial "
              f"goodness of fit, p >= {self.alpha:g}); chance alone would reject about {100 * self.alpha:g}%.",
            f"Mean distance from the target {t['tv_distance'].mean():.3f} (total variation) against "
            f"{t['expected_tv'].mean():.3f} expected by chance at these numbers of posts.",
        ]
        worst = self.by_group.sort_values("mean_excess_tv", ascending=False).head(3)
        if len(worst):
            lines.append("Furthest from the target (excess distance over chance): " + ", ".join(
                f"{r.group_id} ({r.mean_excess_tv:+.3f})" for r in worst.itertuples()) + ".")
        mk = self.marketing
        lines.append(f"Marketing ('{mk['category']}') share {100 * (mk['share'] or 0):.1f}% of posts against a cap "
                     f"of {100 * mk['cap']:g}% (\"{mk['source']}\"); {mk['group_weeks_over_cap']} group-week(s) "
                     "over the cap.")
        lines += self.notes
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


# ======================================================================================
# mix-policy experiments
# ======================================================================================
def _experiment_assignments(ds: Dataset, experiment_id: str) -> pd.DataFrame:
    assignments = ds.require("assignments", "the content-mix experiment analysis")
    rows = assignments.loc[assignments["experiment_id"] == experiment_id]
    if rows.empty:
        known = sorted(assignments["experiment_id"].unique())
        raise ParameterError(f"Experiment {experiment_id!r} is not in the assignments table; experiments "
                             f"present: {', '.join(known) or '(none)'}.")
    arms_per_group = rows.groupby("group_id")["arm"].nunique()
    if (arms_per_group > 1).any():
        raise ParameterError(
            f"Experiment {experiment_id!r} gives some groups more than one arm "
            f"({', '.join(arms_per_group.index[arms_per_group > 1][:5])}), so it is not group-randomised; "
            "analyse a switchback design with groupstats.stats.compare.compare_arms and fixed effects instead.")
    return rows.groupby("group_id", as_index=False).agg(arm=("arm", "first"), start_at=("start_at", "min"),
                                                         end_at=("end_at", "max"))


def mix_experiment_table(ds: Dataset, experiment_id: str, read_window="24h", reply_window="2h",
                         group_days: pd.DataFrame | None = None,
                         outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Group-week outcomes of a group-randomised experiment, pre- and post-period.

    Weeks are counted from each group's assignment start (week 0 starts on the local date
    of ``start_at``); negative weeks form the pre-period (before the assignment), weeks
    inside ``[start_at, end_at)`` the experiment period.

    Returns
    -------
    DataFrame, one row per (group_id, week)
        group_id, arm, week, week_start, period ("pre" / "post"), days, n_messages,
        member_days, n_active, n_present, n_posts, replies, readers, post_reach, and the four
        metrics of :data:`MIX_METRICS` as ratios (NaN where the denominator is 0).

    ``group_days`` and ``outcomes``, if given, are the dataset's
    :func:`~groupstats.tables.derived.group_day_metrics` and its
    :func:`~groupstats.tables.derived.post_outcomes` for these windows, already computed (e.g. the
    identical out-of-core :mod:`groupstats.tables.scale` tables the CLI uses for Parquet datasets);
    ``ds`` then needs only messages, members, posts and assignments.
    """
    assign = _experiment_assignments(ds, experiment_id)
    assign = assign.assign(start_date=local_date(assign["start_at"]),
                           end_date=local_date(assign["end_at"] - pd.Timedelta(microseconds=1)))
    start_of = assign.set_index("group_id")["start_date"]
    end_of = assign.set_index("group_id")["end_date"]

    def week_of(groups: pd.Series, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        start = groups.map(start_of)
        end = groups.map(end_of)
        days = (dates.to_numpy() - start.to_numpy()) / np.timedelta64(1, "D")
        inside = start.notna().to_numpy() & (dates <= end).to_numpy()
        week = np.floor(np.where(inside, days, np.nan) / 7)
        return week, inside

    gd = group_day_metrics(ds) if group_days is None else group_days
    gd = gd.loc[gd["group_id"].isin(start_of.index)].reset_index(drop=True)
    week, inside = week_of(gd["group_id"], gd["date"])
    gd = gd.assign(week=week).loc[inside]
    base = gd.groupby(["group_id", "week"], as_index=False).agg(
        days=("date", "size"), n_messages=("n_messages", "sum"), member_days=("n_members", "sum"))

    # distinct active members per group-week
    msgs = member_messages(ds)
    msgs = msgs.loc[msgs["group_id"].isin(start_of.index)]
    mdate = local_date(msgs["sent_at"])
    mweek, minside = week_of(msgs["group_id"], mdate)
    act = pd.DataFrame({"group_id": msgs["group_id"].to_numpy(), "week": mweek, "member_id": msgs["member_id"].to_numpy()})
    act = act.loc[minside].groupby(["group_id", "week"])["member_id"].nunique().rename("n_active")

    # distinct members present at some time in the group-week (operators excluded)
    members = ds.members.loc[~ds.members["role"].isin(OPERATOR_ROLES) & ds.members["group_id"].isin(start_of.index)]
    grid = base[["group_id", "week"]].copy()
    grid["week_start"] = grid["group_id"].map(start_of) + pd.to_timedelta(grid["week"] * 7, unit="D")
    grid["week_end"] = (grid["week_start"] + pd.Timedelta(days=7)).where(
        grid["week_start"] + pd.Timedelta(days=7) <= grid["group_id"].map(end_of) + pd.Timedelta(days=1),
        grid["group_id"].map(end_of) + pd.Timedelta(days=1))
    pairs = members[["group_id", "member_id", "joined_at", "left_at"]].merge(grid, on="group_id")
    tz = ds.tz
    ws = pairs["week_start"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    we = pairs["week_end"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    present = (pairs["joined_at"] < we) & (pairs["left_at"].isna() | (pairs["left_at"] >= ws))
    pres = pairs.loc[present].groupby(["group_id", "week"])["member_id"].nunique().rename("n_present")

    # posts: replies within the reply window, readers within the read window
    if ds.posts is not None and len(ds.posts):
        po = post_outcomes(ds, window=reply_window, read_window=read_window) if outcomes is None else outcomes
        po = po.loc[po["group_id"].isin(start_of.index)]
        pweek, pinside = week_of(po["group_id"], po["date"])
        po = po.assign(week=pweek).loc[pinside]
        po_agg = po.groupby(["group_id", "week"]).agg(
            n_posts=("post_id", "size"), replies=("replies", "sum"),
            readers=("readers", lambda s: s.sum(min_count=1)), post_reach=("n_present", "sum"))
    else:
        po_agg = pd.DataFrame(columns=["n_posts", "replies", "readers", "post_reach"])
    out = (base.merge(grid[["group_id", "week", "week_start"]], on=["group_id", "week"])
           .join(act, on=["group_id", "week"]).join(pres, on=["group_id", "week"])
           .join(po_agg, on=["group_id", "week"]))
    for col in ("n_active", "n_present", "n_posts", "replies", "post_reach"):
        out[col] = out[col].fillna(0).astype("int64")
    has_events = ds.events is not None if outcomes is None else outcomes.attrs.get("has_events", True)
    if not has_events:
        out["readers"] = np.nan
    else:
        out["readers"] = out["readers"].fillna(0).astype(float)
    out["week"] = out["week"].astype("int64")
    out["arm"] = out["group_id"].map(assign.set_index("group_id")["arm"]).astype("str")
    out["period"] = np.where(out["week"] < 0, "pre", "post")
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (num, den, _) in MIX_METRICS.items():
            out[name] = np.where(out[den] > 0, out[num] / out[den], np.nan)
    cols = ["group_id", "arm", "week", "week_start", "period", "days", "n_messages", "member_days", "n_active",
            "n_present", "n_posts", "replies", "readers", "post_reach", *MIX_METRICS]
    return out[cols].sort_values(["group_id", "week"], kind="stable").reset_index(drop=True)


def _group_level(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per group: post- and pre-period sums and ratios of ``metric``."""
    num, den, _ = MIX_METRICS[metric]
    parts = []
    for period in ("post", "pre"):
        sub = table.loc[table["period"] == period].groupby("group_id")[[num, den]].sum()
        sub.columns = [f"{period}_num", f"{period}_den"]
        parts.append(sub)
    arms = table.groupby("group_id")["arm"].first()
    out = pd.concat([arms, *parts], axis=1).reset_index()
    for col in ("post_num", "post_den", "pre_num", "pre_den"):
        out[col] = out[col].fillna(0.0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["post_ratio"] = np.where(out["post_den"] > 0, out["post_num"] / out["post_den"], np.nan)
        out["pre_ratio"] = np.where(out["pre_den"] > 0, out["pre_num"] / out["pre_den"], np.nan)
    return out


def _mix_dose(ds: Dataset, assign: pd.DataFrame, arms: list, control, arm_targets: dict | None,
              mapping: dict) -> tuple[pd.DataFrame, dict, list]:
    """Compliance view: per group, how far the realised post-period mix moved from the control
    mix toward its arm's mix (dose 0 = control mix, 1 = the arm's mix)."""
    notes = []
    posts = ds.posts
    if posts is None or posts.empty:
        return pd.DataFrame(), {}, ["No posts table: no compliance view."]
    presets = mix_presets()
    cats_all = sorted(set(apply_mapping(posts["content_type"], mapping)))
    date = local_date(posts["posted_at"])
    starts = posts["group_id"].map(assign.set_index("group_id")["start_at"])
    ends = posts["group_id"].map(assign.set_index("group_id")["end_at"])
    in_post = ((posts["posted_at"] >= starts) & (posts["posted_at"] < ends)).to_numpy()
    in_pre = (posts["posted_at"] < starts).to_numpy()
    labels = apply_mapping(posts["content_type"], mapping).to_numpy()
    frame = pd.DataFrame({"group_id": posts["group_id"].to_numpy(), "category": labels, "date": date.to_numpy()})

    targets: dict = {}
    sources: dict = {}
    for a in arms:
        spec = (arm_targets or {}).get(a, presets.get(str(a)))
        if spec is not None:
            targets[a] = parse_mix(spec)
            sources[a] = targets[a].name
    if control not in targets:
        if in_pre.any():
            pre = frame.loc[in_pre, "category"].value_counts(normalize=True)
            targets[control] = MixTarget({str(k): float(v) for k, v in pre.items()}, name="pre-period mix")
            sources[control] = "realised pre-period mix of all groups (status quo)"
        else:
            notes.append(f"No target mix for control arm {control!r} and no pre-period: no compliance view.")
            return pd.DataFrame(), {}, notes
    cats = sorted(set(cats_all) | {c for t in targets.values() for c in t.categories})
    counts = (frame.loc[in_post].groupby(["group_id", "category"]).size().unstack(fill_value=0)
              .reindex(columns=cats, fill_value=0))
    shares = counts.div(counts.sum(axis=1), axis=0)
    arm_of = assign.set_index("group_id")["arm"]
    out = pd.DataFrame({"group_id": shares.index, "arm": arm_of.reindex(shares.index).to_numpy(),
                        "n_posts": counts.sum(axis=1).to_numpy()})
    c_vec = targets[control].vector(cats)
    summary = {"targets": {str(a): t.compact() for a, t in targets.items()}, "target_sources": sources,
               "arms": {}}
    for a in arms:
        if a not in targets:
            notes.append(f"No target mix for arm {a!r} (not a preset name; pass arm_targets): no dose for it.")
            continue
        t_vec = targets[a].vector(cats)
        own = shares.to_numpy()
        out[f"tv_to_{a}"] = 0.5 * np.abs(own - t_vec[None, :]).sum(axis=1)
        if a == control:
            continue
        axis = t_vec - c_vec
        norm = axis @ axis
        if norm <= 0:
            notes.append(f"Arm {a!r} has the same target mix as the control: no dose.")
            continue
        out[f"dose_{a}"] = (own - c_vec[None, :]) @ axis / norm
        in_arm = out["arm"] == str(a)
        in_ctl = out["arm"] == str(control)
        first_stage = float(out.loc[in_arm, f"dose_{a}"].mean() - out.loc[in_ctl, f"dose_{a}"].mean())
        summary["arms"][str(a)] = {"mean_dose_arm": float(out.loc[in_arm, f"dose_{a}"].mean()),
                                   "mean_dose_control": float(out.loc[in_ctl, f"dose_{a}"].mean()),
                                   "first_stage": first_stage,
                                   "mean_tv_to_own_target": float(out.loc[in_arm, f"tv_to_{a}"].mean())}
    return out, summary, notes


class MixExperimentResult(Result):
    """A group-randomised content-mix experiment on one group-week metric.

    Attributes
    ----------
    experiment_id, metric : str
    adjustment : str
        ``"cuped"``, ``"did"`` or ``"none"``.
    comparison : ComparisonResult
        Intent-to-treat comparison (group level, clusters = groups).
    arms, comparisons : DataFrame
        From ``comparison`` (``comparisons`` columns as in :mod:`groupstats.stats.compare`).
    srm : dict
    groups : DataFrame
        One row per group: arm, pre/post sums and ratios of the metric.
    weekly : DataFrame
        Group-week table of :func:`mix_experiment_table`.
    compliance : DataFrame
        One row per group: arm, posts, distance to each arm's target, dose toward each arm.
    compliance_summary : dict
        Targets used; per arm mean dose, first stage and the Wald (per unit dose) effect.
    """

    def __init__(self, experiment_id, metric, adjustment, comparison, groups, weekly, compliance,
                 compliance_summary, notes):
        self.experiment_id = experiment_id
        self.metric = metric
        self.adjustment = adjustment
        self.comparison = comparison
        self.groups = groups
        self.weekly = weekly
        self.compliance = compliance
        self.compliance_summary = compliance_summary
        self.notes = notes

    arms = property(lambda self: self.comparison.arms)
    comparisons = property(lambda self: self.comparison.comparisons)
    srm = property(lambda self: self.comparison.srm)

    @property
    def method(self) -> str:
        return f"{self.adjustment}+{self.comparison.method}" if self.adjustment != "none" else self.comparison.method

    @property
    def title(self) -> str:  # type: ignore[override]
        return (f"Content-mix experiment '{self.experiment_id}': {self.metric} (intent-to-treat, group level, "
                f"{self.method})")

    def to_frame(self) -> pd.DataFrame:
        return self.comparisons.copy()

    def to_dict(self) -> dict:
        base = self.comparison.to_dict()
        return to_jsonable({
            "experiment": self.experiment_id, "metric": self.metric,
            "metric_definition": MIX_METRICS[self.metric][2], "method": self.method,
            "kind": base["kind"], "adjustment": self.adjustment, "analysis": "intent-to-treat",
            "alpha": base["alpha"], "correction": base["correction"],
            "sequential": getattr(self, "sequential", None) is not None,
            "sequential_settings": getattr(self, "sequential", None), "as_of": getattr(self, "as_of", None),
            "n_incomplete": getattr(self, "n_incomplete", 0),
            "arms": base["arms"], "comparisons": self._comparison_records(base["comparisons"]), "srm": base["srm"],
            "groups": self.groups, "compliance": {**self.compliance_summary, "groups": self.compliance},
            "notes": list(base["notes"]) + list(self.notes)})

    def _comparison_records(self, records: list) -> list:
        """Comparison rows for JSON, each with its Bayesian read-out under ``bayes``."""
        bayes = getattr(self, "bayes", None)
        if bayes is not None:
            from groupstats.stats.bayes import bayes_records

            readout = bayes_records(bayes)
            for row in records:
                row["bayes"] = readout.get(str(row["arm"]))
        return records

    def _monitoring_lines(self) -> list:
        lines = []
        bayes = getattr(self, "bayes", None)
        if bayes is not None:
            level = f"{100 * (1 - self.comparison.alpha):g}%"
            from groupstats.stats.bayes import describe

            lines += [describe(row, level) for row in bayes.itertuples(index=False)]
        if getattr(self, "sequential", None) is not None:
            from groupstats.stats.sequential import SEQUENTIAL_NOTE

            sq = self.sequential
            lines.append(f"{SEQUENTIAL_NOTE} So far {sq['n_units']:,} of the {sq['planned_units']:,} planned "
                         f"group-days (tuned to be tightest at {sq['n_opt']:,.0f}).")
        return lines

    def conclusion(self) -> str:
        lines = [f"Intent-to-treat, {self.metric} ({MIX_METRICS[self.metric][2]}), groups as units"
                 + {"cuped": ", adjusted for each group's pre-period level (CUPED).",
                    "did": ", difference-in-differences against each group's pre-period.",
                    "none": ", no pre-period adjustment."}[self.adjustment]]
        lines.append(self.comparison.conclusion())
        for arm, info in self.compliance_summary.get("arms", {}).items():
            text = (f"Compliance view: groups in {arm!r} moved {100 * info['mean_dose_arm']:.0f}% of the way from "
                    f"the control mix to the arm's mix (control groups {100 * info['mean_dose_control']:.0f}%)")
            wald = info.get("wald_rel_effect")
            if wald is not None and np.isfinite(wald):
                text += (f"; scaled to full compliance the effect would be {100 * wald:+.1f}% "
                         f"(CI {100 * info['wald_rel_ci_low']:+.1f}% to {100 * info['wald_rel_ci_high']:+.1f}%; "
                         "Wald estimate, first-stage uncertainty ignored)")
            lines.append(text + ".")
        lines += self._monitoring_lines()
        lines += self.notes
        return "\n".join(lines)

    def conclusion_card(self, lang: str = "zh"):
        """The conclusion as a :class:`~groupstats.reports.card.ConclusionCard` in ``lang`` (zh/en)."""
        from groupstats.reports.pages import mix

        return mix.card(self, lang)

    def plot(self, ax=None):
        """Weekly metric (ratio of sums over groups) by arm, experiment start marked."""
        import matplotlib.pyplot as plt

        num, den, _ = MIX_METRICS[self.metric]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        weekly = self.weekly.groupby(["arm", "week"])[[num, den]].sum()
        ratio = (weekly[num] / weekly[den]).rename(self.metric).reset_index()
        for arm, sub in ratio.groupby("arm"):
            ax.plot(sub["week"], sub[self.metric], marker="o", label=str(arm))
        ax.axvline(-0.5, color="black", lw=0.8, ls="--")
        ax.set_xlabel("week relative to assignment start")
        ax.set_ylabel(self.metric)
        ax.legend(title="arm")
        ax.set_title(f"{self.experiment_id}: {self.metric} by arm")
        return ax


def _itt_comparison(table: pd.DataFrame, groups: pd.DataFrame, metric: str, adjustment: str, control,
                    alpha: float, correction: str):
    """The intent-to-treat comparison of one metric at group level; returns (ComparisonResult, notes)."""
    from groupstats.stats.compare import compare_arms

    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        if adjustment == "none":
            post = table.loc[(table["period"] == "post") & table["group_id"].isin(groups["group_id"])]
            num, den, _ = MIX_METRICS[metric]
            post = post.loc[post[den] > 0]
            comparison = compare_arms(post, arm="arm", metric=num, kind="ratio", denominator=den,
                                      cluster="group_id", control=control, alpha=alpha, correction=correction,
                                      method="cr2")
        elif adjustment == "cuped":
            comparison = compare_arms(groups, arm="arm", metric="post_num", kind="ratio", denominator="post_den",
                                      covariate="pre_ratio", control=control, alpha=alpha,
                                      correction=correction, method="cr2")
            notes.append("CUPED: each group's experiment-period ratio regressed on arm and its pre-period "
                         "ratio, weighted by its denominator; HC2 standard errors (each group is a cluster).")
        else:
            groups = groups.assign(expected=groups["post_den"] * groups["pre_ratio"])
            if (groups["expected"] <= 0).any():
                raise InsufficientDataError(
                    f"adjustment='did' divides by each group's pre-period {metric}, which is 0 for "
                    f"{', '.join(groups.loc[groups['expected'] <= 0, 'group_id'])}; use adjustment='cuped'.")
            comparison = compare_arms(groups, arm="arm", metric="post_num", kind="ratio", denominator="expected",
                                      control=control, alpha=alpha, correction=correction, method="cr2")
            notes.append("Difference-in-differences on the ratio scale: per arm, the experiment-period total of "
                         "the numerator over its expected value had each group kept its pre-period ratio "
                         "(arm means are these indices; rel_diff is the relative effect); HC2 standard errors "
                         "with groups as units.")
    return comparison, notes


def analyse_mix_experiment(ds: Dataset, experiment_id: str, metric: str = "messages_per_member_day",
                           adjustment: str = "auto", control=None, alpha: float = 0.05,
                           correction: str = "holm", arm_targets: dict | None = None, mapping=None,
                           table: pd.DataFrame | None = None, compliance: bool = True, as_of=None,
                           sequential: bool = False, n_opt: float | None = None,
                           prior_sd: float = 0.3) -> MixExperimentResult:
    """Analyse a group-randomised content-mix experiment (intent-to-treat, group level).

    Parameters
    ----------
    ds : Dataset
        Needs ``assignments`` (and ``posts``; ``events`` for ``read_rate``).
    experiment_id : str
        ``assignments.experiment_id`` of the experiment; each group must have one arm.
    metric : str
        One of :data:`MIX_METRICS`: ``messages_per_member_day``, ``active_share``,
        ``replies_per_post``, ``read_rate``; each a ratio of sums over group-weeks.
    adjustment : {"auto", "cuped", "did", "none"}
        ``cuped``: regression of each group's experiment-period ratio (weighted by its
        denominator) on arm and its pre-period ratio, HC2/CR2 standard errors with groups as
        units; ``did``: difference-in-differences on the ratio scale: per arm, the sum of the
        numerator over its expected value had each group kept its pre-period ratio
        (``sum(num) / sum(den * pre_ratio)``), compared as a ratio of sums (delta method, HC2);
        ``none``: ratio of sums per arm with the cluster delta method (CR2, clusters = groups).
        ``auto``: ``cuped`` when every group has a pre-period, else ``none``.
    control : arm label, optional
        Default ``"control"`` if present, else the first arm in sorted order.
    alpha, correction : see :func:`groupstats.stats.compare.compare_arms`.
    arm_targets : dict, optional
        Target mix per arm for the compliance view (``{arm: "practical:30,..."}``); arms named
        like a preset use it; the control defaults to the pooled pre-period mix.
    mapping : dict or path, optional
        Label mapping for the compliance view.
    table : DataFrame, optional
        A precomputed :func:`mix_experiment_table` (e.g. with re-randomised arms).
    compliance : bool
        Compute the compliance view (needs ``posts``); switch off for fast repeated runs.
    as_of : date or date-time, optional
        Analyse with data up to the end of that day (or that time) only; posts whose outcome
        window runs past it are excluded and counted. Not with ``table``.
    sequential : bool
        Always-valid p-values and confidence sequences (:mod:`groupstats.stats.sequential`),
        with group-days as units.
    n_opt : float, optional
        Group-days at which the confidence sequence is tightest (default: those the assignments plan).
    prior_sd : float
        Prior SD of the relative effect for the Bayesian read-out (:mod:`groupstats.stats.bayes`).

    Returns
    -------
    MixExperimentResult
    """
    if metric not in MIX_METRICS:
        raise ParameterError(f"Unknown metric {metric!r}; choose one of {', '.join(MIX_METRICS)}.")
    if adjustment not in ("auto", "cuped", "did", "none"):
        raise ParameterError(f"adjustment must be 'auto', 'cuped', 'did' or 'none', got {adjustment!r}.")
    if metric == "read_rate" and ds.events is None:
        from groupstats.errors import MissingTableError

        raise MissingTableError("events", "the read_rate metric", str(ds.path) if ds.path else None)
    notes: list[str] = []
    cutoff, n_incomplete, planned = None, 0, None
    if sequential:
        from groupstats.stats.sequential import planned_units

        planned = planned_units(_experiment_assignments(ds, experiment_id), "group-randomised")
    if as_of is not None:
        from groupstats.stats.sequential import as_of_cutoff

        if table is not None:
            raise ParameterError("as_of cuts the dataset before the group-week table is built; pass either "
                                 "as_of or a precomputed table, not both.")
        cutoff = min(as_of_cutoff(as_of, ds.tz), ds.end)  # never past the end of the data
        ds = ds.as_of(cutoff)
        outcomes = post_outcomes(ds) if ds.posts is not None and len(ds.posts) else None
        if outcomes is not None:
            n_incomplete = int((~outcomes["complete"]).sum())
            outcomes = outcomes.loc[outcomes["complete"]]
        table = mix_experiment_table(ds, experiment_id, outcomes=outcomes)
        notes.append(f"As of {cutoff:%Y-%m-%d %H:%M}: only data up to then; {n_incomplete} post(s) whose outcome "
                     "window runs past it were excluded.")
    if table is None:
        table = mix_experiment_table(ds, experiment_id)
    groups = _group_level(table, metric)
    if (groups["post_den"] <= 0).any():
        bad = groups.loc[groups["post_den"] <= 0, "group_id"].tolist()
        notes.append(f"Group(s) {', '.join(bad)} have no experiment-period data for {metric}; left out.")
        groups = groups.loc[groups["post_den"] > 0].reset_index(drop=True)
    arms = sorted(groups["arm"].unique())
    if len(arms) < 2:
        raise InsufficientDataError(f"Experiment {experiment_id!r} has fewer than 2 arms with data ({arms}).")
    if control is None:
        control = "control" if "control" in arms else arms[0]
    has_pre = bool((groups["pre_den"] > 0).all())
    if adjustment == "auto":
        adjustment = "cuped" if has_pre else "none"
    if adjustment in ("cuped", "did") and not has_pre:
        raise InsufficientDataError(
            f"adjustment={adjustment!r} needs a pre-period for every group, but "
            f"{int((groups['pre_den'] <= 0).sum())} group(s) have no data before their assignment; "
            "use adjustment='none'.")
    comparison, adj_notes = _itt_comparison(table, groups, metric, adjustment, control, alpha, correction)
    notes += adj_notes
    comparison.metric = metric
    comp_summary, comp_notes = {}, []
    compliance_table = pd.DataFrame()
    if compliance and ds.posts is not None:
        assign = _experiment_assignments(ds, experiment_id)
        assign = assign.assign(arm=assign["group_id"].map(groups.set_index("group_id")["arm"]).fillna(assign["arm"]))
        compliance_table, comp_summary, comp_notes = _mix_dose(ds, assign, arms, control, arm_targets,
                                                         load_mapping(mapping))
        for a, info in comp_summary.get("arms", {}).items():
            row = comparison.comparisons.loc[comparison.comparisons["arm"].astype(str) == a]
            fs = info["first_stage"]
            if len(row) and fs > 0.05:
                r = row.iloc[0]
                info.update({"wald_rel_effect": float(r["rel_diff"]) / fs,
                             "wald_rel_ci_low": float(r["rel_ci_low"]) / fs,
                             "wald_rel_ci_high": float(r["rel_ci_high"]) / fs})
    result = MixExperimentResult(experiment_id, metric, adjustment, comparison, groups, table, compliance_table,
                                 comp_summary, notes + comp_notes)
    return _monitoring_fields(result, table, alpha, correction, planned, n_opt, prior_sd, cutoff, n_incomplete)


def _monitoring_fields(result, table, alpha, correction, planned, n_opt, prior_sd, cutoff, n_incomplete):
    """Add the as-of cutoff, the sequential (always-valid) comparison (when ``planned`` units are
    given) and the Bayesian read-out."""
    from groupstats.stats.bayes import bayes_readout
    from groupstats.stats.sequential import sequential_comparisons, with_comparisons

    result.as_of, result.n_incomplete = cutoff, n_incomplete
    result.sequential = None
    if planned is not None:
        units = int(table.loc[table["period"] == "post", "days"].sum())
        n_opt_used = planned if n_opt is None else n_opt
        result.comparison = with_comparisons(result.comparison, sequential_comparisons(
            result.comparison.comparisons, units, n_opt_used, alpha, correction))
        result.sequential = {"n_units": units, "n_opt": float(n_opt_used), "planned_units": planned,
                             "unit": "group-day",
                             "boundary": float(result.comparison.comparisons["boundary"].iloc[0]),
                             "method": "asymptotic confidence sequence (Waudby-Smith et al.)"}
    result.bayes = bayes_readout(result.comparison.comparisons, alpha=alpha, prior_sd=prior_sd)
    return result


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

    def conclusion(self) -> str:
        comp = self.comparison.comparisons.sort_values("rel_diff", ascending=False)
        parts = [f"{r.arm} {100 * r.rel_diff:+.0f}% ({100 * r.rel_ci_low:+.0f}% to {100 * r.rel_ci_high:+.0f}%)"
                 for r in comp.itertuples()]
        return (f"Observational, not an experiment: within the same {' and '.join(self.fixed_effects)}, posts of "
                f"each type compared with '{self.baseline}' posts on {self.metric} ({self.n_posts} posts): "
                + "; ".join(parts) + ". Content types are chosen by operators, so these differences may "
                "reflect topics, timing or campaigns; test a mix policy with a randomised experiment.")


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

