"""groupstats: statistics for chat-group communities.

Test the operating rules of thumb of chat groups (posting windows, content
mixes, churn thresholds, member tiers) on your own data before changing policy.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_dataset", "Dataset", "simulate_community"]


def __getattr__(name):  # lazy imports keep `groupstats --help` fast
    if name in ("load_dataset", "Dataset"):
        from groupstats.data import dataset as dataset
        return getattr(dataset, name)
    if name == "simulate_community":
        from groupstats.data.simulate import simulate_community
        return simulate_community
    raise AttributeError(f"module 'groupstats' has no attribute {name!r}")
