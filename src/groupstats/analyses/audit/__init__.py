"""The playbook audit: which rules of thumb from the operations articles hold in a dataset.

``audit(ds, lang)`` returns an :class:`AuditResult` with one row per rule
(:data:`RULE_IDS`): the claim, its source article, the test, the evidence (``experiment`` or
``observational``), the estimate with its interval, the verdict (``supported``,
``contradicted``, ``not_shown``, ``not_testable``) and the reason, which for rules the data
cannot settle names the experiment or data that would.

- :mod:`.rules`: rule ids, settings (``presets/audit_rules.yaml``), catalogue texts, row format.
- :mod:`.detect`: experiments recognised from what their arms did (windows, content mixes).
- :mod:`.experiments`: causal rules: experiment-backed verdicts with Holm across them, else
  observational associations (at most ``not_shown``).
- :mod:`.observational`: descriptive rules (silence, core 20%, points tiers, health, lifecycle).
- Interval helpers and multiplicity levels come from :mod:`groupstats.stats.intervals` and
  :mod:`groupstats.stats.multiplicity` (the comparison engine's rule).
"""
from groupstats.analyses.audit.rules import CAUSAL_RULES, RULE_IDS, ROW_KEYS, VERDICTS, load_rules
from groupstats.analyses.audit.detect import detect_experiments
from groupstats.analyses.audit.run import AuditResult, audit

__all__ = ["audit", "AuditResult", "detect_experiments", "load_rules", "RULE_IDS", "CAUSAL_RULES", "ROW_KEYS",
           "VERDICTS"]
