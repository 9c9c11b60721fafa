"""Group health: group-day and group-week metrics judged against editable thresholds.

:func:`group_day_health` and :func:`group_week_health` compute, per group, the activity
and membership metrics playbooks talk about (operators excluded throughout):

===========================  =======================================================================
column                       definition
===========================  =======================================================================
n_messages                   member messages (no system messages, no operators)
n_members                    members present at some time of the day (week: mean over days)
messages_per_day             n_messages / days
messages_per_member_day      n_messages / member-days present
n_active_members             members who sent a message that day
active_share                 active member-days / member-days present
read_rate                    readers within 24 h summed over the period's posts / members present
                             summed over those posts
n_joins, n_exits             memberships starting / ending
join_rate, exit_rate         joins / exits over n_members
exit_rate_30d, join_rate_30d exits (joins) in the trailing 4 weeks over their mean n_members,
                             scaled to 30 days (weekly table only; NaN while those weeks hold fewer
                             than 7 days: scaling less than a week to 30 days is extrapolation)
silent_share                 among members in the group for at least ``silent_days`` days, the share
                             who sent nothing in the last ``silent_days`` days (week: pooled over days)
n_complaints, complaint_rate ``complaint`` events; over n_members
max_daily_complaints         most complaints on one day of the week
n_red_packets                red-packet messages; red_packets_per_day
age_days, lifecycle_stage    days since the group was created (``groups.created_at``, else its first
                             join) at the start of the period; stage 0-30 launch, 31-90 growth,
                             91-180 maturity, 181+ decline ("怎么弄微信群聊(创建微信群聊方法)")
===========================  =======================================================================

:func:`assess_health` judges every group-week against the thresholds of a YAML file (default
``presets/health_thresholds.yaml``, each threshold citing its playbook article), marks it
ok / warning / alert, and ranks the groups that need attention. :func:`own_history` sets each
group's recent weeks against its own earlier weeks, for every judged metric, so that groups can
be ranked by change as well as by level (a threshold that flags nearly every group says little;
a group that is worse than its own usual says more).

Modules: :mod:`~.metrics` (group-day and group-week tables), :mod:`~.thresholds` (the YAML file and
judging), :mod:`~.own_history`, :mod:`~.result` (:class:`HealthResult`), :mod:`~.assess`.
"""
from __future__ import annotations

from groupstats.analyses.health.assess import assess_health
from groupstats.analyses.health.metrics import (HEALTH_METRICS, LIFECYCLE_STAGES, MIN_DAYS_30D, group_day_health,
                                                group_week_health, lifecycle_stage)
from groupstats.analyses.health.own_history import UNUSUAL_Z, own_history
from groupstats.analyses.health.result import HealthResult
from groupstats.analyses.health.thresholds import DEFAULT_THRESHOLDS_FILE, STATUS_ORDER, _judge, load_thresholds

__all__ = ["group_day_health", "group_week_health", "load_thresholds", "assess_health", "HealthResult",
           "own_history", "lifecycle_stage", "HEALTH_METRICS", "LIFECYCLE_STAGES", "DEFAULT_THRESHOLDS_FILE",
           "UNUSUAL_Z"]
