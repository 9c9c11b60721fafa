"""Recognise the experiments in ``assignments`` from what the arms actually did.

Arm names are never read. For every experiment the posts made under each arm (intent to
treat: the group's arm at ``posted_at``) give

- the arm's **realised posting window**: the share of its posts in each of the playbook's
  windows (07-09, 12-14, 19-21); an arm is matched to the window holding most of its posts
  when that window holds at least ``min_window_share`` of them;
- the arm's **realised content mix**: shares of ``content_type``; it is matched to the nearest
  preset mix of ``presets/mixes.yaml`` (total-variation distance) when within
  ``max_preset_distance``; its marketing share is kept for the marketing cap.

An experiment is a *slot experiment* when at least two of its arms are matched to different
windows, and a *content-mix experiment* when it is group-randomised and two of its arms'
realised mixes differ by at least ``min_mix_difference``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.analyses.slot_experiment import assign_arms, experiment_design
from groupstats.analyses.slots import parse_slots

__all__ = ["detect_experiments", "tv_distance"]

PLAYBOOK_SLOTS = "morning=07:00-09:00,noon=12:00-14:00,evening=19:00-21:00"


def tv_distance(a: dict, b: dict) -> float:
    """Total-variation distance between two mixes given as {category: share}."""
    cats = set(a) | set(b)
    return 0.5 * float(sum(abs(a.get(c, 0.0) - b.get(c, 0.0)) for c in cats))


def _slot_scheme(windows: dict | None):
    if not windows:
        return parse_slots(PLAYBOOK_SLOTS)
    return parse_slots(",".join(f"{k}={v}" for k, v in windows.items()))


def detect_experiments(ds, recognition: dict | None = None, windows: dict | None = None,
                       marketing_category: str = "marketing") -> list[dict]:
    """One dict per experiment of ``ds.assignments`` describing what its arms did.

    Returns
    -------
    list of dict with keys experiment_id, design, n_groups, is_slot, is_mix, arms (list of dict:
    arm, n_posts, window, window_share, window_shares, mix, nearest_preset, preset_distance,
    preset_match, marketing_share), max_mix_difference, how_matched (a sentence per arm).
    """
    from groupstats.analyses.content_mix import mix_presets

    rec = {"min_window_share": 0.5, "min_mix_difference": 0.15, "max_preset_distance": 0.15,
           **(recognition or {})}
    if ds.assignments is None or ds.assignments.empty:
        return []
    scheme = _slot_scheme(windows)
    presets = {name: dict(target.shares) for name, target in mix_presets().items()}
    posts = ds.posts if ds.posts is not None else pd.DataFrame(columns=["group_id", "posted_at", "content_type"])
    out = []
    for exp_id, rows in ds.assignments.groupby("experiment_id", sort=True):
        rows = rows.sort_values(["group_id", "start_at"], kind="stable").reset_index(drop=True)
        design = experiment_design(rows)
        arms_all = sorted(pd.unique(rows["arm"]).astype(str).tolist())
        info = {"experiment_id": str(exp_id), "design": design, "n_groups": int(rows["group_id"].nunique()),
                "arms": [], "is_slot": False, "is_mix": False, "max_mix_difference": 0.0}
        sub = posts.loc[posts["group_id"].isin(rows["group_id"])].reset_index(drop=True)
        if len(sub):
            arm_of = assign_arms(sub, rows)["arm"]
            sub = sub.assign(_arm=arm_of.to_numpy()).loc[arm_of.notna().to_numpy()]
        labels = scheme.label(sub["posted_at"]) if len(sub) else np.array([], dtype=object)
        sub = sub.assign(_window=labels)
        for arm in arms_all:
            part = sub.loc[sub["_arm"].astype(str) == arm] if len(sub) else sub
            n = int(len(part))
            entry = {"arm": arm, "n_posts": n, "window": None, "window_share": np.nan, "window_shares": {},
                     "mix": {}, "nearest_preset": None, "preset_distance": np.nan, "preset_match": False,
                     "marketing_share": np.nan}
            if n:
                shares = part["_window"].value_counts(normalize=True)
                entry["window_shares"] = {str(k): float(v) for k, v in shares.items()}
                named = shares.drop(labels=[x for x in shares.index if x not in scheme.names])
                if len(named):
                    best = str(named.idxmax())
                    entry["window_share"] = float(named.max())
                    if named.max() >= rec["min_window_share"]:
                        entry["window"] = best
                mix = part["content_type"].astype(str).value_counts(normalize=True)
                entry["mix"] = {str(k): float(v) for k, v in mix.items()}
                entry["marketing_share"] = float(mix.get(marketing_category, 0.0))
                dists = {name: tv_distance(entry["mix"], p) for name, p in presets.items()}
                nearest = min(dists, key=dists.get)
                entry["nearest_preset"] = nearest
                entry["preset_distance"] = dists[nearest]
                entry["preset_match"] = bool(dists[nearest] <= rec["max_preset_distance"])
            info["arms"].append(entry)
        windows_matched = {a["window"] for a in info["arms"] if a["window"] is not None}
        info["is_slot"] = len(windows_matched) >= 2 and len(
            [a for a in info["arms"] if a["window"] is not None]) == len(windows_matched)
        mixes = [a["mix"] for a in info["arms"] if a["n_posts"]]
        diff = max((tv_distance(a, b) for i, a in enumerate(mixes) for b in mixes[i + 1:]), default=0.0)
        info["max_mix_difference"] = diff
        info["is_mix"] = design == "group-randomised" and diff >= rec["min_mix_difference"]
        out.append(info)
    return out
