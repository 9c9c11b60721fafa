"""``audit(ds)``: every playbook rule checked on one dataset, as one :class:`AuditResult`."""
from __future__ import annotations

import html
import re

import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.reports.i18n import check_lang, fmt_interval, fmt_num, fmt_pct, t
from groupstats.results import Result, to_jsonable
from groupstats.analyses.audit.detect import detect_experiments
from groupstats.analyses.audit.experiments import AnalysisCache, causal_rows
from groupstats.analyses.audit.observational import core_row, health_row, lifecycle_row, points_row, silent_row
from groupstats.analyses.audit.rules import RULE_IDS, ROW_KEYS, load_rules, make_row

__all__ = ["audit", "AuditResult"]

_OBSERVATIONAL = {"silent_30d_churned": silent_row, "core_top20": core_row, "points_tiers": points_row,
                  "health_thresholds": health_row, "lifecycle_decline": lifecycle_row}


def _describe_experiment(e: dict, tested: list[str], lang: str) -> dict:
    """A detected experiment with one sentence per arm saying how it was matched."""
    arms = []
    for a in e["arms"]:
        if a["n_posts"] == 0:
            arms.append(t("audit.arm.noposts", lang, arm=a["arm"]))
            continue
        if a["window"] is not None:
            slot = t("audit.arm.slot", lang, arm=a["arm"], share=fmt_pct(a["window_share"], lang),
                     window=t(f"audit.window.{a['window']}", lang) if a["window"] in ("morning", "noon", "evening")
                     else a["window"])
        else:
            slot = t("audit.arm.noslot", lang, arm=a["arm"], share=fmt_pct(a["window_share"], lang))
        mix_text = ", ".join(f"{k} {fmt_pct(v, lang, digits=0)}" for k, v in
                             sorted(a["mix"].items(), key=lambda kv: -kv[1])[:5])
        mix = t("audit.arm.mix", lang, mix=mix_text, preset=a["nearest_preset"],
                dist=fmt_num(a["preset_distance"], lang, digits=2),
                match=t("audit.arm.matched" if a["preset_match"] else "audit.arm.unmatched", lang))
        arms.append(slot + ", " + mix)
    kind = ("both" if e["is_slot"] and e["is_mix"] else "slot" if e["is_slot"] else "mix" if e["is_mix"] else "none")
    design = t(f"audit.design.{e['design']}", lang) if e["design"] in ("switchback", "group-randomised") else e["design"]
    text = t("audit.experiment.line", lang, experiment=e["experiment_id"], design=design, n_groups=e["n_groups"],
             kind=t(f"audit.kind.{kind}", lang), arms="; ".join(arms) + ".")
    return {**e, "kind": kind, "tests_rules": tested, "how_matched": arms, "description": text}


class AuditResult(Result):
    """The playbook audit of one dataset.

    Attributes
    ----------
    claims : list of dict
        One row per rule (:data:`~groupstats.analyses.audit.rules.RULE_IDS` order) with the keys
        id, claim, source, test, evidence, estimate, ci_low, ci_high, unit, verdict, reason
        (and extras: p_value, p_adjusted, comparisons, details, ...).
    multiplicity : dict
        method, alpha, n_hypotheses, hypotheses (rules, experiment, p_value, p_adjusted, level),
        description.
    experiments : list of dict
        Every experiment of ``assignments`` with what its arms did and how they were matched.
    lang : str
    """

    def __init__(self, claims: list, multiplicity: dict, experiments: list, lang: str, rules_file: str,
                 cache: AnalysisCache | None = None):
        self.cache = cache   # the tables and analyses behind the rows (reusable for another language)
        self.claims = claims
        self.multiplicity = multiplicity
        self.experiments = experiments
        self.lang = lang
        self.rules_file = rules_file
        self.title = t("audit.title", lang)

    def to_frame(self) -> pd.DataFrame:
        """One row per rule, the columns of :data:`ROW_KEYS`."""
        return pd.DataFrame([{k: c.get(k) for k in ROW_KEYS} for c in self.claims], columns=list(ROW_KEYS))

    def to_dict(self) -> dict:
        return to_jsonable({"claims": self.claims, "multiplicity": self.multiplicity,
                            "experiments": self.experiments, "lang": self.lang, "rules_file": self.rules_file})

    def verdict(self, rule_id: str) -> str:
        return next(c["verdict"] for c in self.claims if c["id"] == rule_id)

    def row(self, rule_id: str) -> dict:
        return next(c for c in self.claims if c["id"] == rule_id)

    def counts(self) -> dict:
        out = {v: 0 for v in ("supported", "contradicted", "not_shown", "not_testable")}
        for c in self.claims:
            out[c["verdict"]] += 1
        return out

    def summary_table(self) -> pd.DataFrame:
        """The verdicts for a person: claim, verdict, evidence, estimate with interval, reason."""
        lang = self.lang

        signed_units = (t("audit.unit.rel", lang), t("audit.unit.rel_activity", lang))

        def est(c):
            if c["estimate"] is None:
                return ""
            signed = c["unit"] in signed_units      # relative differences carry a sign; shares do not
            text = fmt_pct(c["estimate"], lang, signed=signed)
            if c["ci_low"] is not None and c["ci_high"] is not None:
                text += " " + fmt_interval(c["ci_low"], c["ci_high"], lang, signed=signed)
            return text

        rows = [{t("audit.col.id", lang): c["id"], t("audit.col.claim", lang): c["claim"],
                 t("audit.col.verdict", lang): t(f"verdict.{c['verdict']}", lang),
                 t("audit.col.evidence", lang): t(f"audit.evidence.{c['evidence']}", lang),
                 t("audit.col.estimate", lang): est(c) + (f" ({c['unit']})" if c["unit"] and c["estimate"] is not None else ""),
                 t("audit.col.reason", lang): c["reason"]} for c in self.claims]
        return pd.DataFrame(rows)

    #: Columns of :meth:`summary_frame` for :meth:`groupstats.reports.notebook.Page.table`.
    SUMMARY_COLUMNS = [("id", "audit.col.id", "text"), ("claim", "audit.col.claim", "text"),
                       ("verdict", "audit.col.verdict", "text"), ("evidence", "audit.col.evidence", "text"),
                       ("estimate", "audit.col.estimate", "text"), ("reason", "audit.col.reason", "text")]

    def summary_frame(self) -> pd.DataFrame:
        """:meth:`summary_table` with plain column names (see :data:`SUMMARY_COLUMNS`)."""
        frame = self.summary_table()
        frame.columns = [c for c, _, _ in self.SUMMARY_COLUMNS]
        return frame

    def plot(self, ax=None):
        """Each rule's estimate with its interval (relative effects and associations), by verdict.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        from groupstats.reports.card import _BADGE

        rel_units = (t("audit.unit.rel", self.lang), t("audit.unit.rel_activity", self.lang))
        rows = [c for c in self.claims if c["estimate"] is not None and c["unit"] in rel_units
                and c["ci_low"] is not None and c["ci_high"] is not None]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.6 * max(len(rows), 1) + 1.6))
        for i, c in enumerate(rows):
            low = max(c["ci_low"], -1.0)
            high = min(c["ci_high"], 3.0)
            colour = _BADGE[c["verdict"]]
            ax.plot([100 * low, 100 * high], [i, i], color=colour, lw=2)
            ax.plot([100 * min(c["estimate"], 3.0)], [i], "o", color=colour,
                    mfc="white" if c["evidence"] == "observational" else colour)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{c['id']} ({t('verdict.' + c['verdict'], self.lang)})" for c in rows])
        ax.invert_yaxis()
        ax.set_xlabel(t("audit.fig.x", self.lang))
        ax.set_title(t("audit.fig.title", self.lang))
        return ax

    def summary_html(self) -> str:
        """The verdict table as HTML for a report page (data labels in code type on Chinese pages)."""
        frame = self.summary_frame()
        heads = "".join(f"<th>{html.escape(t(key, self.lang))}</th>" for _, key, _ in self.SUMMARY_COLUMNS)
        rows = ["<tr>" + "".join(f"<td>{html_text(str(v), self.lang)}</td>" for v in rec) + "</tr>"
                for rec in frame.itertuples(index=False, name=None)]
        return (f'<div class="gs-table-wrap"><table class="gs-table"><thead><tr>{heads}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table></div>')

    def details_html(self) -> str:
        """Every rule in full (claim, source, test, evidence, reason), then the experiments and the
        multiplicity correction, as HTML for a report page."""
        lang = self.lang
        parts = []
        for c in self.claims:
            parts.append(f"<h3>{html_text(c['id'], lang)} · {html.escape(t('verdict.' + c['verdict'], lang))} · "
                         f"{html_text(c['claim'], lang)}</h3>")
            for label, value in (("audit.col.source", c["source"]), ("audit.col.test", c["test"]),
                                 ("audit.col.evidence", t("audit.evidence." + c["evidence"], lang)),
                                 ("audit.col.reason", c["reason"])):
                parts.append(f"<p><b>{html.escape(t(label, lang))}</b>: {html_text(value, lang)}</p>")
        parts.append(f"<h2>{html.escape(t('audit.h.experiments', lang))}</h2>")
        parts += [f"<p>{html_text(e['description'], lang)}</p>" for e in self.experiments] or \
            [f"<p>{html.escape(t('audit.reason.no_assignments', lang))}</p>"]
        parts.append(f"<h2>{html.escape(t('audit.h.multiplicity', lang))}</h2>")
        parts.append(f"<p>{html_text(self.multiplicity['description'], lang)}</p>")
        return "".join(parts)

    def show(self, what: str = "summary") -> None:
        """Display ``summary_html()`` (``"summary"``) or ``details_html()`` (``"details"``) in a notebook."""
        from IPython.display import HTML, display

        display(HTML(self.summary_html() if what == "summary" else self.details_html()))

    def conclusion(self, lang: str | None = None) -> str:
        n = self.counts()
        lines = [t("audit.card.key", self.lang, n=len(self.claims), **n), self.multiplicity["description"]]
        lines += [e["description"] for e in self.experiments]
        return "\n".join(lines)

    def card(self):
        """The :class:`~groupstats.reports.card.ConclusionCard` the report opens with."""
        from groupstats.reports.card import ConclusionCard

        n = self.counts()
        answer = ("supported" if n["supported"] and not n["contradicted"] else
                  "contradicted" if n["contradicted"] and not n["supported"] else
                  "not_shown" if n["supported"] + n["contradicted"] + n["not_shown"] else "not_testable")
        return ConclusionCard(question=t("audit.question", self.lang), answer=answer,
                              key_number=t("audit.card.key", self.lang, n=len(self.claims), **n),
                              next_step=t("audit.card.next", self.lang),
                              caveat=t("audit.card.caveat", self.lang, method=self.multiplicity["method"].capitalize(),
                                       m=self.multiplicity["n_hypotheses"]),
                              lang=self.lang)

    def to_string(self) -> str:
        lang = self.lang
        lines = [self.title, ""]
        for c in self.claims:
            verdict_text = t("verdict." + c["verdict"], lang)
            evidence_text = t("audit.evidence." + c["evidence"], lang)
            head = f"[{verdict_text}] {c['id']}: {c['claim']}"
            lines.append(head)
            lines.append(f"  {t('audit.col.source', lang)}: {c['source']}")
            lines.append(f"  {t('audit.col.test', lang)}: {c['test']}")
            lines.append(f"  {t('audit.col.evidence', lang)}: {evidence_text}")
            if c["estimate"] is not None:
                signed = c["unit"] in (t("audit.unit.rel", lang), t("audit.unit.rel_activity", lang))
                lines.append(f"  {t('audit.col.estimate', lang)}: {fmt_pct(c['estimate'], lang, signed=signed)} "
                             f"{fmt_interval(c['ci_low'], c['ci_high'], lang, signed=signed)} ({c['unit']})")
            lines.append(f"  {t('audit.col.reason', lang)}: {c['reason']}")
            lines.append("")
        lines.append(self.conclusion())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.card().to_html() + self.summary_table().to_html(index=False)


def audit(ds, lang: str = "zh", rules=None, cache: AnalysisCache | None = None) -> AuditResult:
    """Check every playbook rule on ``ds``.

    Parameters
    ----------
    ds : Dataset
        Needs ``messages`` and ``members``; ``posts`` and ``assignments`` for the causal rules,
        ``events`` for points and read rates (rules that lack their data are ``not_testable``).
    lang : {"zh", "en"}
        Language of every text of the rows.
    rules : path, optional
        An audit rules YAML file (default ``presets/audit_rules.yaml``).
    cache : AnalysisCache, optional
        Tables and analyses already computed for this ``ds``, e.g. ``result.cache`` of an audit in
        the other language (a cache made for another dataset is ignored).

    Returns
    -------
    AuditResult
    """
    lang = check_lang(lang)
    spec = load_rules(rules)
    experiments = detect_experiments(ds, spec["recognition"], spec["rules"]["evening_slot"].get("windows"),
                                     spec["rules"]["marketing_cap_15"].get("category", "marketing"))
    if cache is None or cache.ds is not ds:
        cache = AnalysisCache(ds, window=spec["rules"]["evening_slot"].get("window", "2h"))
    causal, multiplicity = causal_rows(ds, experiments, spec, lang, cache)
    rows = []
    for rid in RULE_IDS:
        if rid in causal:
            rows.append(causal[rid])
            continue
        try:
            rows.append(_OBSERVATIONAL[rid](ds, spec, lang, cache))
        except GroupstatsError as exc:
            rows.append(make_row(rid, spec, lang, evidence="observational", verdict="not_testable",
                                 reason=t("audit.reason.error", lang, error=str(exc)),
                                 test_values=_TEST_VALUES(rid, spec, lang)))
    m = multiplicity["n_hypotheses"]
    multiplicity["description"] = (t("audit.multiplicity", lang, m=m, method=multiplicity["method"].capitalize(),
                                     alpha=f"{multiplicity['alpha']:g}") if m else t("audit.multiplicity.none", lang))
    tested = {}
    for h in multiplicity["hypotheses"]:
        tested.setdefault(h["experiment"], []).extend(h["rules"])
    described = [_describe_experiment(e, tested.get(e["experiment_id"], []), lang) for e in experiments]
    return AuditResult(rows, multiplicity, described, lang, spec["file"], cache)


#: A command (``groupstats audit DATA``, ``groupstats mix DATA --experiment ID``) up to its last word.
_COMMAND = re.compile(r"groupstats(?: +-{0,2}[A-Za-z0-9_.\-]+)+")
#: A data label: a word with letters (ids such as ``slot_switchback`` or ``interactive_352``, arm and tier
#: labels, method names, dotted Python names); numbers, signs and punctuation around it stay text.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_PLAIN = {"p"}  # statistical notation read as text (p < 0.001)


def html_text(text: str, lang: str) -> str:
    """``text`` escaped for HTML; on Chinese pages commands and Latin labels (experiment ids, arm
    and tier labels, preset names, method names) are set in code type, each label on its own, so
    that numbers, punctuation and Chinese words around them read as text: they are data, not words
    to translate."""
    if lang != "zh":
        return html.escape(text)
    out, pos = [], 0
    pattern = re.compile(f"{_COMMAND.pattern}|{_LABEL.pattern}")
    for m in pattern.finditer(text):
        word = m.group(0)
        out.append(html.escape(text[pos:m.start()]))
        out.append(html.escape(word) if word in _PLAIN else f"<code>{html.escape(word)}</code>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _TEST_VALUES(rid: str, spec: dict, lang: str) -> dict:
    r = spec["rules"][rid]
    return {"silent_30d_churned": {"within": f"{float(r.get('within_days', 60)):g}",
                                   "level": fmt_pct(float(r.get("gone_below", 0.2)), lang)},
            "core_top20": {"share": fmt_pct(float(r.get("min_message_share", 0.5)), lang),
                           "stab": fmt_pct(float(r.get("min_stability", 0.5)), lang)},
            "points_tiers": {"days": r.get("horizon_days", 30)},
            "health_thresholds": {"weeks": r.get("following_weeks", 4)}}.get(rid, {})
