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

Modules: ``targets`` (presets, target specs, label mappings, metric definitions),
``compliance`` (realised mix and compliance), ``experiment_table`` (the experiment's group-week
table and dose), ``experiment`` (the comparison and its result), ``engagement`` (the
observational view). Every name stays importable from ``groupstats.analyses.content_mix``.
"""
from __future__ import annotations

from groupstats.analyses.content_mix.targets import (MIXES_FILE, OTHER, MIX_METRICS, MixTarget,
                                                     _load_mix_file, mix_presets, marketing_cap,
                                                     _target_from_percent, _PAIR, parse_mix, load_mapping,
                                                     apply_mapping, _check_categories)
from groupstats.analyses.content_mix.compliance import (_week_start, _select_posts, realised_mix, _reference,
                                                        _compliance_stats, MixComplianceResult,
                                                        check_compliance)
from groupstats.analyses.content_mix.experiment_table import (_experiment_assignments, mix_experiment_table,
                                                              _group_level, _mix_dose)
from groupstats.analyses.content_mix.experiment import (MixExperimentResult, _itt_comparison,
                                                        analyse_mix_experiment, _monitoring_fields)
from groupstats.analyses.content_mix.engagement import ContentEngagementResult, content_type_engagement

__all__ = ["MixTarget", "parse_mix", "mix_presets", "marketing_cap", "load_mapping", "apply_mapping",
           "realised_mix", "check_compliance", "MixComplianceResult", "mix_experiment_table",
           "analyse_mix_experiment", "MixExperimentResult", "content_type_engagement",
           "ContentEngagementResult", "MIX_METRICS"]
