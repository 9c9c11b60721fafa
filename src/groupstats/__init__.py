"""groupstats: statistics for chat-group communities.

Test the operating rules of thumb of chat groups (posting windows, content
mixes, churn thresholds, member tiers) on your own data before changing policy.
"""
from __future__ import annotations

__version__ = "0.1.0"

#: Every public analysis and entry point, importable as ``from groupstats import NAME`` (loaded on first use).
_EXPORTS = {
    "load_dataset": "groupstats.data.dataset",
    "Dataset": "groupstats.data.dataset",
    "simulate_community": "groupstats.data.simulate",
    "post_outcomes": "groupstats.tables.derived",
    "member_day_activity": "groupstats.tables.derived",
    "group_day_metrics": "groupstats.tables.derived",
    "member_features": "groupstats.tables.features",
    "member_features_at": "groupstats.tables.features",
    "member_features_panel": "groupstats.tables.features",
    "analyse_slot_experiment": "groupstats.analyses.slot_experiment",
    "analyse_mix_experiment": "groupstats.analyses.content_mix",
    "check_compliance": "groupstats.analyses.content_mix",
    "content_type_engagement": "groupstats.analyses.content_mix",
    "assess_health": "groupstats.analyses.health",
    "segment_members": "groupstats.analyses.segmentation",
    "assign_tiers": "groupstats.analyses.tiers",
    "compare_tiers_segments": "groupstats.analyses.tiers",
    "churn_risk": "groupstats.analyses.churn",
    "backtest": "groupstats.analyses.churn",
    "time_to_churn": "groupstats.analyses.churn",
    "plan_slot_experiment": "groupstats.stats.design",
    "compare_arms": "groupstats.stats.compare",
    "check_scalar": "groupstats.checks",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):  # lazy imports keep `groupstats --help` fast
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'groupstats' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(__all__)
