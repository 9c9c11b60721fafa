"""Derived tables: the one place that turns raw tables into analysis units.

Every analysis reads these rather than recomputing them:

- :func:`post_outcomes` (:mod:`~groupstats.tables.derived.posts`): one row per
  operator post, with the member reaction within a window after it (quote-replies,
  all member messages, distinct responders), reads and clicks and their rates over
  members present at posting time.
- :func:`member_day_activity` (:mod:`~groupstats.tables.derived.member_days`): one
  row per (group, member, local date) on which the member did something.
- :func:`group_day_metrics` (:mod:`~groupstats.tables.derived.group_days`): one row
  per (group, local date) over the whole observation window, zeros included.
- :func:`members_present` (:mod:`groupstats.tables.in_memory`): how many
  (non-operator) members a group had at given times.

A module per table; what they share is in :mod:`~groupstats.tables.derived.inputs`
(the source at a cut, durations, day numbers) and
:mod:`~groupstats.tables.derived.count_selection` (the counts asked, tables memoised
on the source). Everything is importable from here
(``from groupstats.tables.derived import post_outcomes``), as are the pandas helpers
of :mod:`groupstats.tables.in_memory` and the activity profiles of
:mod:`groupstats.tables.profiles`.

Conventions
-----------
*Member messages* are messages that are not ``system`` messages and were not
sent by one of the group's operators (role ``owner`` or ``admin``): member-level
metrics exclude operators. Dates are local calendar dates in the dataset's
timezone (naive ``datetime64``).

Every function takes ``as_of``: with it, the dataset is first cut with
:meth:`Dataset.as_of`, so only messages, events, joins and leaves up to the
cutoff are used. Predictive analyses rely on this to avoid leakage.

One definition, any engine
--------------------------
Each table is defined once, as an Ibis expression over the canonical tables of a
:class:`groupstats.engine.Source` (``post_outcome_counts``,
``member_day_activity_expr``, ``group_day_counts``); the functions above run it on
the dataset's engine (DuckDB by default, Spark if the dataset was opened with
``engine="spark"``) and shape the small result in pandas. They accept a
``Dataset``, a dataset folder or a ``Source``. See docs/scaling.md.
"""
from __future__ import annotations

from groupstats.tables.derived.group_days import (GROUP_DAY_COLUMNS, GROUP_DAY_COUNTS, group_day_counts,
                                                  group_day_metrics, members_present_per_day)
from groupstats.tables.derived.inputs import _source, _timedelta, day_to_date  # noqa: F401 (imported from here)
from groupstats.tables.derived.member_days import (ACTIVITY_KEYS, EVENING_HOURS, event_types, member_day_activity,
                                                   member_day_activity_expr)
from groupstats.tables.derived.posts import (POST_OUTCOME_COLUMNS, POST_OUTCOME_COUNTS, attributed_messages,
                                             post_outcome_counts, post_outcomes, post_sequence, present_at,
                                             without_red_packet_bursts)
# pandas helpers for analyses that hold frames, and the activity profiles: re-exported here
from groupstats.tables.in_memory import (_count_up_to, _int_us, count_members_present, local_date,  # noqa: F401
                                         member_messages, members_present, red_packet_burst_mask)
from groupstats.tables.profiles import WEEKDAY_NAMES, hourly_profile, weekday_hour_activity

__all__ = ["ACTIVITY_KEYS", "EVENING_HOURS", "GROUP_DAY_COLUMNS", "GROUP_DAY_COUNTS", "POST_OUTCOME_COLUMNS",
           "POST_OUTCOME_COUNTS", "WEEKDAY_NAMES", "attributed_messages", "count_members_present", "day_to_date",
           "event_types", "group_day_counts", "group_day_metrics", "hourly_profile", "local_date",
           "member_day_activity", "member_day_activity_expr", "member_messages", "members_present",
           "members_present_per_day", "post_outcome_counts", "post_outcomes", "post_sequence", "present_at",
           "red_packet_burst_mask", "weekday_hour_activity", "without_red_packet_bursts"]
