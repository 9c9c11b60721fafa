"""The playbook rules the audit checks: ids, settings, words (zh / en) and the row format.

Settings and article titles come from ``presets/audit_rules.yaml``; every text a reader sees is
in the report catalogue under ``audit.*`` (:mod:`groupstats.reports.i18n.catalogue_audit`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from groupstats.errors import ParameterError
from groupstats.paths import PRESETS_DIR, read_preset_copy
from groupstats.reports.i18n import t

__all__ = ["RULE_IDS", "CAUSAL_RULES", "VERDICTS", "ROW_KEYS", "load_rules", "make_row", "AUDIT_RULES_FILE"]

AUDIT_RULES_FILE = PRESETS_DIR / "audit_rules.yaml"

#: The rules, in the order of the audit table.
RULE_IDS = ("evening_slot", "mix_352", "mix_721", "mix_40_30_20_10", "marketing_cap_15", "silent_30d_churned",
            "core_top20", "points_tiers", "health_thresholds", "lifecycle_decline")
#: Rules that claim an effect of something operators do: only an experiment can support or contradict them.
CAUSAL_RULES = ("evening_slot", "mix_352", "mix_721", "mix_40_30_20_10", "marketing_cap_15")
VERDICTS = ("supported", "contradicted", "not_shown", "not_testable")
#: Keys of every audit row, in order.
ROW_KEYS = ("id", "claim", "source", "test", "evidence", "estimate", "ci_low", "ci_high", "unit", "verdict",
            "reason")


def _read(path: str) -> dict:
    return read_preset_copy(Path(path), "Audit rules file", AUDIT_RULES_FILE)


@lru_cache(maxsize=1)
def _default_rules() -> dict:
    return _read(str(AUDIT_RULES_FILE))


def load_rules(path=None) -> dict:
    """The audit settings (default ``presets/audit_rules.yaml``), checked.

    Returns
    -------
    dict with alpha, multiplicity, recognition, rules ({id: settings with source}), file.
    """
    file = str(Path(path) if path is not None else AUDIT_RULES_FILE)
    raw = _default_rules() if path is None else _read(file)
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), dict):
        raise ParameterError(f"Audit rules file {file} needs a 'rules:' section (see {AUDIT_RULES_FILE}).")
    default = _default_rules()
    rules = {}
    for rid in RULE_IDS:
        spec = {**default["rules"][rid], **(raw["rules"].get(rid) or {})}
        if not spec.get("source"):
            raise ParameterError(f"{file}: rule {rid} needs a 'source' (the article's title).")
        rules[rid] = spec
    unknown = sorted(set(raw["rules"]) - set(RULE_IDS))
    if unknown:
        raise ParameterError(f"{file}: unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULE_IDS)}.")
    alpha = float(raw.get("alpha", default.get("alpha", 0.05)))
    if not 0 < alpha < 1:
        raise ParameterError(f"{file}: alpha must lie in (0, 1), got {alpha!r}.")
    method = str(raw.get("multiplicity", default.get("multiplicity", "holm")))
    if method not in ("holm", "bonferroni"):
        raise ParameterError(f"{file}: multiplicity must be 'holm' or 'bonferroni', got {method!r}.")
    recognition = {**default.get("recognition", {}), **(raw.get("recognition") or {})}
    return {"alpha": alpha, "multiplicity": method, "recognition": recognition, "rules": rules, "file": file}


def _num(x):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else (None if math.isnan(x) else x)


def make_row(rule_id: str, rules: dict, lang: str, *, evidence: str, verdict: str, reason: str,
             estimate=None, ci_low=None, ci_high=None, unit_key: str | None = None,
             test_values: dict | None = None, test_key: str | None = None, **extra) -> dict:
    """One audit row with the keys of :data:`ROW_KEYS` (plus ``extra`` keys, e.g. p_value, details)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if evidence not in ("experiment", "observational"):
        raise ValueError(f"evidence must be 'experiment' or 'observational', got {evidence!r}")
    if rule_id in CAUSAL_RULES and evidence == "observational" and verdict in ("supported", "contradicted"):
        raise ValueError(f"{rule_id}: an observational row of a causal claim cannot be {verdict}")
    row = {"id": rule_id, "claim": t(f"audit.{rule_id}.claim", lang), "source": rules["rules"][rule_id]["source"],
           "test": t(test_key or f"audit.{rule_id}.test", lang, **(test_values or {})), "evidence": evidence, "estimate": _num(estimate),
           "ci_low": _num(ci_low), "ci_high": _num(ci_high),
           "unit": t(unit_key, lang) if unit_key else None, "verdict": verdict, "reason": reason}
    row.update(extra)
    return row
