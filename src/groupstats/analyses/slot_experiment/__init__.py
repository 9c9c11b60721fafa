"""Analysis of posting-slot experiments (switchback or group-randomised) from a dataset.

:func:`analyse_slot_experiment` turns a dataset with ``posts`` and
``assignments`` into one :class:`SlotExperimentResult`:

1. **Outcome per post** (:func:`post_metric_frame`), named

   - ``replies`` (default): member quote-replies to the post within ``window``;
   - ``responses``: member messages in the group within ``window`` (each
     attributed to the latest post before it);
   - ``incremental_responses``: ``responses`` minus the group's usual member
     messages in the same clock window on days when it posted at another
     time (:func:`usual_chatter`): ``responses`` alone mixes the post's effect
     with the hour's usual chatter, which favours the evening by construction;
   - ``responders``: distinct members among the responses;
   - ``read_rate`` / ``click_rate``: distinct readers / clickers within 24 h
     over members present at posting time, a ratio of sums when aggregated
     (needs ``events``).

2. **Arm of each post = its group's assignment at ``posted_at``** (intent to
   treat), whatever the clock time of the post. The share of posts inside
   their arm's slot is reported as *compliance*. Posts outside every
   assignment period are not analysed; with ``washout`` the first hours or
   days of each period are dropped against carryover.

3. **Comparison** with :func:`groupstats.stats.compare.compare_arms`, clustered by
   group (CR2 standard errors with Bell-McCaffrey degrees of freedom, which
   stay honest with 8-30 groups). Switchback designs (a group's arm changes by
   period) compare arms *within* groups: fixed effects of group, period and
   weekday. Group-randomised designs compare groups, with week and weekday
   effects. Holm (default) or Benjamini-Hochberg correction across arms.

4. **SRM check** against the assignments: group-periods per arm, not posts
   (post counts are not randomised).

The conclusion text is generated from the numbers. :func:`switchback_ols_cr2`
is the same estimator vectorised over many outcome vectors for one design; the
power planner (:mod:`groupstats.stats.design`) and the simulation tests use it.

Modules: ``outcomes`` (metrics, outcome per post), ``arms`` (assignments, design, arm per
post), ``result`` (SlotExperimentResult), ``analysis`` (analyse_slot_experiment),
``simulation`` (switchback_ols_cr2 and helpers). Every name stays importable from
``groupstats.analyses.slot_experiment``.
"""
from __future__ import annotations

from groupstats.analyses.slot_experiment.outcomes import (MetricSpec, METRICS, _metric_spec, _local_us,
                                                          _US_PER_DAY, usual_chatter, post_metric_frame,
                                                          _with_usual_chatter)
from groupstats.analyses.slot_experiment.arms import _experiment_assignments, experiment_design, assign_arms
from groupstats.analyses.slot_experiment.result import _pct, _p, SlotExperimentResult
from groupstats.analyses.slot_experiment.analysis import (_comparison_frame, analyse_slot_experiment,
                                                          _cut_outcomes, _observed_units)
from groupstats.analyses.slot_experiment.simulation import (single_blas_thread, _dummies, switchback_ols_cr2,
                                                            group_standardise, holm_adjust)

__all__ = ["METRICS", "analyse_slot_experiment", "SlotExperimentResult", "post_metric_frame",
           "usual_chatter", "assign_arms", "experiment_design", "switchback_ols_cr2", "group_standardise", "holm_adjust"]
