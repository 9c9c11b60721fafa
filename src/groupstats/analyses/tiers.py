"""Rule-based member tiers (operators' rules of thumb) and their comparison with segments.

Tier rule sets are small YAML presets in ``groupstats/presets/tiers/`` (see
:func:`list_presets`); each cites the playbook article its thresholds come from.
Users can write their own file in the same format and pass its path.

Two kinds of presets:

``kind: rules``
    ``tiers`` is a list of ``{name, all: [{metric, op, value}, ...]}`` checked in
    order; a member gets the first tier whose conditions all hold, else
    ``default``. ``op`` is one of ``>=, >, <=, <, ==, !=``. A condition on a missing
    value (e.g. ``trend`` of a member without history) is false.
``kind: points``
    ``points`` gives points per ``sign_in`` day, per ``valid_message`` (a member
    text message with at least ``min_text_len`` characters) and per ``task``
    event; ``ladder`` lists ``{name, min}``: a member gets the highest tier whose
    minimum he reaches. ``period_days`` (null = all data up to the cutoff) limits
    the points to the last days. Where the data lack what a points source needs
    (no ``sign_in`` or ``task`` events, no ``text_len``), those points are not
    counted and the result says so.

Both kinds have ``name``, ``title``, ``source`` (the playbook article's title),
and ``order`` (tier names from most to least engaged).

Metrics available to rules (all from data up to the cutoff; an *interaction* is a
member message, system messages excluded): every column of
:func:`groupstats.tables.features.member_features` plus

- ``interactions_per_day`` / ``_per_week`` / ``_per_month``: messages in the last
  30 days per observable day (x 7, x 30);
- ``daily_activity_rank_in_group``: percentile rank (0-1] of
  ``interactions_per_day`` within the member's group (ties share their average rank);
- ``days_since_interaction``: ``recency_days``, or for a member who never sent a
  message, the days he has been observed (tenure within the data).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError
from groupstats.tables.features import KEY_COLUMNS, member_features
from groupstats.results import Result, to_jsonable

OPS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less, "==": np.equal,
       "!=": np.not_equal}
POINT_SOURCES = ("sign_in", "valid_message", "task")
TIER_METRICS = ("interactions_per_day", "interactions_per_week", "interactions_per_month",
                "daily_activity_rank_in_group", "days_since_interaction")


def _preset_dir() -> Path:
    from groupstats.paths import PRESETS_DIR

    return PRESETS_DIR / "tiers"


def list_presets() -> list[str]:
    """Names of the tier presets shipped with groupstats."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml"))


def load_preset(preset) -> dict:
    """A tier preset as a validated dict: a shipped preset's name, a YAML file path, or a dict."""
    import yaml

    if isinstance(preset, dict):
        spec = dict(preset)
        origin = "<dict>"
    else:
        text = str(preset)
        path = Path(os.path.expanduser(text))
        if path.suffix.lower() in (".yaml", ".yml") or path.exists():
            if not path.is_file():
                raise ParameterError(f"Tier preset file {path} does not exist.")
            origin = str(path)
        elif text in list_presets():
            path = _preset_dir() / f"{text}.yaml"
            origin = f"preset '{text}'"
        else:
            raise ParameterError(f"Unknown tier preset {text!r}: use one of {', '.join(list_presets())} "
                                 "or the path of a YAML file in the same format (see docs/segmentation.md).")
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ParameterError(f"{origin} is not valid YAML: {exc}") from exc
        if not isinstance(spec, dict):
            raise ParameterError(f"{origin} must be a YAML mapping with name, kind, order, ...")
    _validate(spec, origin)
    spec.setdefault("origin", origin)
    return spec


def _validate(spec: dict, origin: str) -> None:
    def bad(msg):
        raise ParameterError(f"Tier preset {origin}: {msg}")

    for key in ("name", "kind", "order"):
        if key not in spec:
            bad(f"missing '{key}'.")
    if spec["kind"] not in ("rules", "points"):
        bad(f"kind must be 'rules' or 'points', not {spec['kind']!r}.")
    order = list(spec["order"])
    if spec["kind"] == "rules":
        if not isinstance(spec.get("tiers"), list) or not spec["tiers"]:
            bad("'tiers' must be a non-empty list of {name, all: [conditions]}.")
        if "default" not in spec:
            bad("missing 'default' (the tier of members matching no rule).")
        for tier in spec["tiers"]:
            if "name" not in tier or not isinstance(tier.get("all"), list) or not tier["all"]:
                bad(f"each tier needs 'name' and a non-empty 'all' list of conditions; got {tier!r}.")
            for cond in tier["all"]:
                if not isinstance(cond, dict) or set(cond) != {"metric", "op", "value"}:
                    bad(f"a condition is {{metric, op, value}}; got {cond!r}.")
                if cond["op"] not in OPS:
                    bad(f"op {cond['op']!r} is not one of {', '.join(OPS)}.")
                if not isinstance(cond["value"], (int, float)):
                    bad(f"value of {cond!r} must be a number.")
        names = [t["name"] for t in spec["tiers"]] + [spec["default"]]
    else:
        points = spec.get("points")
        if not isinstance(points, dict) or not set(points) <= set(POINT_SOURCES):
            bad(f"'points' must map some of {', '.join(POINT_SOURCES)} to numbers; got {points!r}.")
        ladder = spec.get("ladder")
        if not isinstance(ladder, list) or not ladder or not all({"name", "min"} <= set(r) for r in ladder):
            bad("'ladder' must be a list of {name, min}.")
        mins = [r["min"] for r in ladder]
        if mins != sorted(mins) or len(set(mins)) != len(mins):
            bad("ladder minimums must be strictly increasing.")
        names = [r["name"] for r in ladder]
        if int(spec.get("min_text_len", 5)) < 0:
            bad("min_text_len must be >= 0.")
    missing = sorted(set(names) - set(order))
    if missing:
        bad(f"'order' lacks tier(s) {missing}.")


def tier_metrics(features: pd.DataFrame) -> pd.DataFrame:
    """Add the rule metrics (:data:`TIER_METRICS`) to a member feature frame (needs ``messages_30d``)."""
    out = features.copy()
    days = np.minimum(30, out["observed_days"]).clip(lower=1).astype(float)
    out["interactions_per_day"] = out["messages_30d"] / days
    out["interactions_per_week"] = out["interactions_per_day"] * 7
    out["interactions_per_month"] = out["interactions_per_day"] * 30
    out["daily_activity_rank_in_group"] = out.groupby("group_id")["interactions_per_day"].rank(
        method="average", pct=True)
    never = out["recency_days"].isna()
    out["days_since_interaction"] = out["recency_days"]
    out.loc[never, "days_since_interaction"] = np.minimum(out.loc[never, "tenure_days"],
                                                          out.loc[never, "observed_days"])
    return out


def _rule_tiers(spec: dict, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    n = len(frame)
    tier = np.full(n, None, dtype=object)
    notes = []
    for rule in spec["tiers"]:
        hold = np.ones(n, dtype=bool)
        for cond in rule["all"]:
            if cond["metric"] not in frame:
                raise ParameterError(f"Tier rule '{rule['name']}' uses unknown metric {cond['metric']!r}; "
                                     f"use {', '.join(TIER_METRICS)} or a member_features column.")
            values = frame[cond["metric"]].to_numpy(dtype=float)
            if np.isnan(values).all():
                notes.append(f"rule '{rule['name']}' needs {cond['metric']}, which the data lack: "
                             "no member matched it.")
            with np.errstate(invalid="ignore"):
                hold &= OPS[cond["op"]](values, float(cond["value"])) & ~np.isnan(values)
        take = hold & (tier == None)  # noqa: E711 - elementwise on an object array
        tier[take] = rule["name"]
    tier[tier == None] = spec["default"]  # noqa: E711
    return tier, notes


def _points(spec: dict, ds, cut, keys: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    from groupstats.tables.derived import local_date, member_messages

    cds = ds.as_of(cut)
    pts = spec["points"]
    notes = []
    start = None
    if spec.get("period_days"):
        start = cut - pd.Timedelta(days=float(spec["period_days"]))
    key_index = pd.MultiIndex.from_frame(keys[list(KEY_COLUMNS)])
    n = len(keys)

    def count(frame, unique_days=False):
        if start is not None:
            tcol = "sent_at" if "sent_at" in frame else "occurred_at"
            frame = frame.loc[frame[tcol] > start]
        if unique_days:
            frame = frame.assign(_day=local_date(frame["occurred_at"])).drop_duplicates(
                ["group_id", "member_id", "_day"])
        codes = key_index.get_indexer(pd.MultiIndex.from_arrays([frame["group_id"].to_numpy(),
                                                                 frame["member_id"].to_numpy()]))
        codes = codes[codes >= 0]
        return np.bincount(codes, minlength=n)

    out = keys[list(KEY_COLUMNS)].copy()
    events = cds.events
    types = set(events["event_type"].unique()) if events is not None and len(events) else set()
    for kind in ("sign_in", "task"):
        col = f"{kind}_{'days' if kind == 'sign_in' else 'count'}"
        if kind not in pts:
            continue
        if kind in types:
            ev = events.loc[(events["event_type"] == kind).to_numpy()]
            out[col] = count(ev, unique_days=(kind == "sign_in"))
        else:
            out[col] = 0
            why = "there is no events table" if events is None else f"the events table has no '{kind}' events"
            notes.append(f"{kind} points ({pts[kind]} each) could not be counted: {why}.")
    if "valid_message" in pts:
        msgs = member_messages(cds)
        min_len = int(spec.get("min_text_len", 5))
        if msgs["text_len"].notna().any() or len(msgs) == 0:
            valid = msgs.loc[(msgs["msg_type"] == "text").to_numpy()
                             & (msgs["text_len"].fillna(0).to_numpy(dtype=float) >= min_len)]
            out["valid_messages"] = count(valid)
        else:
            out["valid_messages"] = 0
            notes.append(f"valid-message points ({pts['valid_message']} each) could not be counted: the "
                         "messages have no text_len.")
    total = np.zeros(n)
    for kind, col in (("sign_in", "sign_in_days"), ("task", "task_count"), ("valid_message", "valid_messages")):
        if kind in pts and col in out:
            total = total + pts[kind] * out[col].to_numpy(dtype=float)
    out["points"] = total
    return out, notes


def assign_tiers(ds, preset="activity", cutoff=None, features: pd.DataFrame | None = None) -> "TierAssignment":
    """Tier of every present non-operator member under a preset, from data up to ``cutoff``.

    Parameters
    ----------
    ds : Dataset
    preset : str, path or dict
        A shipped preset name (:func:`list_presets`), a YAML file, or a dict in that format.
    cutoff : date/time, optional
        As in :func:`member_features`; default the last message.
    features : DataFrame, optional
        Raw member features at the same cutoff (computed if not given).

    Returns
    -------
    TierAssignment
    """
    spec = load_preset(preset)
    if features is None or "messages_30d" not in features or features.attrs.get("normalised"):
        features = member_features(ds, cutoff=cutoff if cutoff is not None else
                                   (features.attrs.get("cutoff") if features is not None else None))
    cut = features.attrs.get("cutoff")
    frame = tier_metrics(features)
    if spec["kind"] == "rules":
        tier, notes = _rule_tiers(spec, frame)
        used = sorted({c["metric"] for t in spec["tiers"] for c in t["all"]})
        table = frame[[*KEY_COLUMNS, *used]].copy()
    else:
        table, notes = _points(spec, ds, cut, frame)
        ladder = sorted(spec["ladder"], key=lambda r: r["min"])
        mins = np.array([r["min"] for r in ladder], dtype=float)
        names = np.array([r["name"] for r in ladder], dtype=object)
        idx = np.searchsorted(mins, table["points"].to_numpy(), side="right") - 1
        tier = np.where(idx >= 0, names[np.maximum(idx, 0)], names[0])
    table.insert(2, "tier", tier.astype(str))
    return TierAssignment(table.reset_index(drop=True), spec, notes, cut)


class TierAssignment(Result):
    """Members' tiers under a rule preset: counts per tier, notes on what could not be counted."""

    def __init__(self, assignments: pd.DataFrame, spec: dict, notes: list[str], cutoff):
        self.assignments = assignments
        self.spec = spec
        self.notes = notes
        self.cutoff = cutoff
        self.order = list(spec["order"])
        self.title = f"Tiers: {spec.get('title', spec['name'])}"

    def to_frame(self) -> pd.DataFrame:
        counts = self.assignments["tier"].value_counts().reindex(self.order, fill_value=0)
        return pd.DataFrame({"tier": self.order, "members": counts.to_numpy(),
                             "share": (counts / max(counts.sum(), 1)).to_numpy()})

    def to_dict(self) -> dict:
        return to_jsonable({"preset": self.spec["name"], "title": self.spec.get("title"),
                            "source": self.spec.get("source"), "cutoff": self.cutoff, "counts": self.to_frame(),
                            "notes": self.notes, "conclusion": self.conclusion()})

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("tiersres.title", self._lang(lang), preset=self.spec.get("title", self.spec["name"]))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        frame = self.to_frame()
        frame["tier"] = [tier_name(x, lang) for x in frame["tier"]]
        return format_frame(frame, [("tier", "seg.col.tier", "text"), ("members", "seg.col.size", "int"),
                                    ("share", "col.share", "pct")], lang)

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import fmt_num, fmt_pct, join, note_text, t

        lang = self._lang(lang)
        frame = self.to_frame()
        parts = join([f"{tier_name(r.tier, lang)} {fmt_pct(r.share, lang, digits=0)}" for r in frame.itertuples()],
                     lang)
        text = t("tiersres.conclusion", lang, n=fmt_num(len(self.assignments), lang), preset=self.spec["name"],
                 source=self.spec.get("source", "?"), parts=parts)
        for note in self.notes:
            text += "\n" + t("result.note", lang, note=note_text(note, lang))
        return text


def tier_name(tier, lang: str) -> str:
    """A tier in the language ('core' -> '核心'); tiers a preset names otherwise stay as they are."""
    from groupstats.reports.i18n import CATALOGUE, t

    key = f"tier.{tier}"
    return t(key, lang) if key in CATALOGUE else str(tier)


def compare_tiers_segments(tiers, segments, tier_order=None, segment_order=None) -> "TierComparison":
    """Crosstab and adjusted Rand index of two labelings of the same members.

    Parameters
    ----------
    tiers, segments : array-like of labels, same length (one per member)
    tier_order, segment_order : optional orders of the labels (most to least engaged)
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    t = pd.Series(np.asarray(tiers, dtype=object), name="tier")
    s = pd.Series(np.asarray(segments, dtype=object), name="segment")
    if len(t) != len(s):
        raise ParameterError("tiers and segments must label the same members (same length).")
    ok = t.notna() & s.notna()
    t, s = t[ok].astype(str), s[ok].astype(str)
    table = pd.crosstab(t, s)
    if tier_order is not None:
        table = table.reindex([x for x in tier_order if x in table.index]
                              + [x for x in table.index if x not in tier_order])
    if segment_order is not None:
        table = table.reindex(columns=[x for x in segment_order if x in table.columns]
                              + [x for x in table.columns if x not in segment_order])
    # the scores from integer codes in the labels' sorted order: the same contingency table as the
    # strings give, without sklearn's pass over 100k+ Python strings (1.7 s on 165k members)
    t_codes, s_codes = pd.factorize(t, sort=True)[0], pd.factorize(s, sort=True)[0]
    return TierComparison(table.fillna(0).astype(int), float(adjusted_rand_score(t_codes, s_codes)),
                          float(adjusted_mutual_info_score(t_codes, s_codes)))


class TierComparison(Result):
    """Tiers vs segments: crosstab (members), adjusted Rand index and adjusted mutual information."""

    title = "Tiers vs segments"

    def __init__(self, crosstab: pd.DataFrame, ari: float, ami: float):
        self.crosstab = crosstab
        self.ari = ari
        self.ami = ami

    def to_frame(self) -> pd.DataFrame:
        return self.crosstab.reset_index()

    def to_dict(self) -> dict:
        return to_jsonable({"adjusted_rand_index": self.ari, "adjusted_mutual_info": self.ami,
                            "crosstab": {str(k): v for k, v in self.crosstab.to_dict(orient="index").items()}})

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("tiersres.vs_title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.i18n import t

        lang = self._lang(lang)
        from groupstats.reports.pages.segments import segment_name

        frame = self.crosstab.copy()
        frame.index = [tier_name(x, lang) for x in frame.index]
        frame.columns = [segment_name(c, lang) for c in frame.columns]
        return frame.rename_axis(t("seg.col.tier", lang)).reset_index()

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import fmt_pct, t
        from groupstats.reports.pages.segments import segment_name

        lang = self._lang(lang)
        level = ("closely" if self.ari >= 0.6 else "partly" if self.ari >= 0.3 else "weakly" if self.ari >= 0.1
                 else "hardly")
        main = self.crosstab.idxmax(axis=1)
        share = (self.crosstab.max(axis=1) / self.crosstab.sum(axis=1).clip(lower=1))
        pairs = t("healthres.sep", lang).join(
            t("tiersres.pair", lang, tier=tier_name(x, lang), segment=segment_name(main[x], lang),
              share=fmt_pct(share[x], lang, digits=0)) for x in self.crosstab.index if self.crosstab.loc[x].sum() > 0)
        return t("tiersres.agree", lang, level=t(f"tiersres.level.{level}", lang), ari=f"{self.ari:.2f}",
                 ami=f"{self.ami:.2f}", pairs=pairs)
