"""A seeded, vectorised simulator of chat-group communities with planted truth.

:func:`simulate_community` returns a :class:`~groupstats.data.dataset.Dataset` and a
``truth`` dict (also written as ``truth.json`` by :func:`write_simulation`):

- **Member tiers** (``core``, ``active``, ``casual``, ``silent``) with very
  different daily message rates, overlapping through a log-normal individual
  factor (``member_rate_sigma``).
- **Fading members**: a share of members start fading on a random day (their
  rate halves every ``fade_half_life_days``); most of them later leave.
- **Strong group differences**: each group's activity is multiplied by a
  log-normal factor (``group_activity_sigma``).
- **Evening-heavy hours** (the hour-of-day profile :data:`HOUR_WEIGHTS`) and
  quieter weekends.
- **A switchback posting-slot experiment** (``slot_switchback``): each group's
  arm (``morning``, ``noon``, ``evening``) changes every week in a balanced
  order; operators post ``posts_per_day`` posts a day inside the arm's slot
  (``slot_compliance`` of them; the rest go to off-peak hours). Replies to a
  post are multiplied by ``slot_effects`` of the clock slot it was posted in.
  The intent-to-treat effect on ``replies`` is in ``truth["slot_experiment"]``.
- **A group-randomised content-mix experiment** (``mix_policy``) from day
  ``mix_start_day``: groups, stratified by size, get the ``control`` mix or the
  ``interactive_352`` mix; every member message in a treated group is
  multiplied by ``1 + mix_effect``. Content types change replies by
  ``content_reply_effects``, chosen so both mixes have the same mean: the
  planted effect on member messages and on replies per post is exactly
  ``mix_effect``.
- Operator posts with content types, reads (and clicks on practical posts)
  within hours of each post, daily sign-ins, tasks, complaints, red packets
  followed by bursts of thank-you messages, join system messages.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``, so
the same arguments give the same dataset. The work is vectorised over
member-days and messages; 10 million messages take a minute or two.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError
from groupstats.data.schema import DEFAULT_TZ

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
US_PER_MIN = 60_000_000

#: Share of member messages by hour of day (local time): evening-heavy.
HOUR_WEIGHTS = np.array([
    0.8, 0.4, 0.2, 0.1, 0.1, 0.2, 0.6, 2.0, 3.0, 3.0, 3.2, 3.4,
    4.0, 4.2, 3.0, 2.8, 2.8, 3.0, 3.6, 5.0, 6.5, 7.0, 5.5, 2.5,
])
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

#: Default posting slots (local clock): [start hour, end hour).
DEFAULT_SLOTS = {"morning": (7, 9), "noon": (12, 14), "evening": (19, 21)}

MIX_POLICIES = {
    "control": {"practical": 0.40, "announcement": 0.30, "ugc": 0.20, "interactive": 0.10},
    "interactive_352": {"practical": 0.30, "interactive": 0.50, "lifestyle": 0.20},
}

MEMBER_MSG_TYPES = np.array(["text", "image", "sticker", "voice", "link", "video", "file",
                             "mini_program", "red_packet", "other"])
MEMBER_MSG_TYPE_P = np.array([0.70, 0.09, 0.10, 0.04, 0.03, 0.015, 0.005, 0.007, 0.003, 0.01])


@dataclass
class SimulationConfig:
    """Every knob of the simulator, with defaults that give a plausible community."""

    n_groups: int = 12
    days: int = 120
    seed: int = 0
    start: str = "2026-01-05"  # a Monday
    tz: str = DEFAULT_TZ
    members_per_group: float = 80.0
    group_size_sigma: float = 0.5
    min_members: int = 8
    tier_shares: dict = field(default_factory=lambda: {"core": 0.10, "active": 0.25, "casual": 0.35,
                                                       "silent": 0.30})
    tier_rates: dict = field(default_factory=lambda: {"core": 5.0, "active": 1.2, "casual": 0.25,
                                                      "silent": 0.02})
    member_rate_sigma: float = 0.6
    group_activity_sigma: float = 0.7
    weekend_factor: float = 0.8
    late_join_share: float = 0.25
    fade_share: float = 0.25
    fade_half_life_days: float = 7.0
    leave_share_of_faders: float = 0.6
    posts_per_day: int = 2
    slot_effects: dict = field(default_factory=lambda: {"morning": 1.0, "noon": 1.1, "evening": 1.4,
                                                        "off_peak": 0.9})
    slot_compliance: float = 0.9
    switchback_period_days: int = 7
    replies_per_member_post: float = 0.03
    responses_per_reply: float = 1.0
    mix_start_day: int | None = None
    mix_effect: float = 0.15
    mix_compliance: float = 0.9
    content_reply_effects: dict = field(default_factory=lambda: {
        "practical": 1.0, "interactive": 1.4, "lifestyle": 0.6, "announcement": 1.0, "ugc": 1.4})
    read_prob: dict = field(default_factory=lambda: {"core": 0.95, "active": 0.85, "casual": 0.6,
                                                     "silent": 0.3})
    click_prob: float = 0.3
    sign_in_prob: dict = field(default_factory=lambda: {"core": 0.6, "active": 0.3, "casual": 0.08,
                                                        "silent": 0.02})
    task_rate: float = 0.01
    complaint_rate: float = 0.001
    red_packet_burst: float = 8.0
    events: bool = True

    def validate(self) -> None:
        if self.n_groups < 2:
            raise ParameterError(f"n_groups must be at least 2, got {self.n_groups}.")
        if self.days < 14:
            raise ParameterError(f"days must be at least 14 (two switchback periods), got {self.days}.")
        if not np.isclose(sum(self.tier_shares.values()), 1.0):
            raise ParameterError("tier_shares must sum to 1.")
        if not 0 <= self.slot_compliance <= 1 or not 0 <= self.mix_compliance <= 1:
            raise ParameterError("compliance shares must lie in [0, 1].")
        missing = {c for p in MIX_POLICIES.values() for c in p} - set(self.content_reply_effects)
        if missing:
            raise ParameterError(f"content_reply_effects lacks {sorted(missing)}.")


def _slot_of_hour(hours: np.ndarray) -> np.ndarray:
    out = np.full(hours.shape, "off_peak", dtype=object)
    for name, (lo, hi) in DEFAULT_SLOTS.items():
        out[(hours >= lo) & (hours < hi)] = name
    return out


def _mix_mean_effect(policy: dict, effects: dict, compliance: float) -> float:
    types = sorted(effects)
    on_policy = sum(share * effects[c] for c, share in policy.items())
    uniform = np.mean([effects[c] for c in types])
    return compliance * on_policy + (1 - compliance) * uniform


def _ids(prefix: str, n: int, width: int | None = None) -> np.ndarray:
    width = width or max(1, len(str(max(n - 1, 0))))
    return (prefix + pd.Series(np.arange(n)).astype("str").str.zfill(width)).to_numpy()


def _pick_weighted(rng, group_of_draw: np.ndarray, group_start: np.ndarray, cum_weights: np.ndarray,
                   group_total: np.ndarray) -> np.ndarray:
    """For each draw, a member index of its group, with probability proportional to weight.

    ``cum_weights`` is the running sum of weights over members sorted by group;
    one ``searchsorted`` serves every draw.
    """
    base = np.where(group_start[group_of_draw] > 0, cum_weights[group_start[group_of_draw] - 1], 0.0)
    target = base + rng.random(len(group_of_draw)) * group_total[group_of_draw]
    idx = np.searchsorted(cum_weights, target, side="right")
    return np.minimum(idx, len(cum_weights) - 1)


def simulate_community(n_groups: int = 12, days: int = 120, seed: int = 0, **overrides):
    """Simulate a community; return ``(dataset, truth)``.

    Parameters
    ----------
    n_groups, days, seed : int
        Number of groups, length of the observation window in days, random seed.
    **overrides
        Any field of :class:`SimulationConfig` (e.g. ``mix_effect=0.0`` for an
        A/A content-mix run, ``members_per_group=300`` for scale).

    Returns
    -------
    dataset : Dataset
        Tables messages, members, groups, posts, events (unless ``events=False``)
        and assignments, validated.
    truth : dict
        The planted ground truth (see the module docstring).
    """
    from groupstats.data.dataset import Dataset

    config = SimulationConfig(n_groups=n_groups, days=days, seed=seed, **overrides)
    config.validate()
    rng = np.random.default_rng(config.seed)
    n_days = config.days
    mix_start = config.mix_start_day if config.mix_start_day is not None else n_days // 3
    start_local = pd.Timestamp(config.start).normalize()
    start_us = int(start_local.value // 1000)  # naive local time in microseconds

    # ---- groups ----------------------------------------------------------------------
    G = config.n_groups
    group_ids = _ids("g", G, width=max(2, len(str(G - 1))))
    sizes = np.maximum(config.min_members, np.round(
        config.members_per_group * rng.lognormal(-config.group_size_sigma ** 2 / 2, config.group_size_sigma, G)
    ).astype(int))
    group_mult = rng.lognormal(-config.group_activity_sigma ** 2 / 2, config.group_activity_sigma, G)
    group_age_days = rng.uniform(0, 400, G)
    created_us = start_us - (group_age_days * US_PER_DAY).astype(np.int64)

    # ---- members ---------------------------------------------------------------------
    N = int(sizes.sum())
    member_group = np.repeat(np.arange(G), sizes)
    group_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos_in_group = np.arange(N) - group_start[member_group]
    role = np.where(pos_in_group == 0, "owner", np.where(pos_in_group == 1, "admin", "member"))
    is_operator = pos_in_group < 2
    tier_names = np.array(list(config.tier_shares))
    tier_choice = rng.choice(len(tier_names), N, p=list(config.tier_shares.values()))
    tier = np.where(is_operator, "operator", tier_names[tier_choice])
    tier_rate = np.array([config.tier_rates.get(t, 0.0) for t in tier_names])
    base_rate = np.where(is_operator, 0.5, tier_rate[tier_choice])
    rate = base_rate * rng.lognormal(-config.member_rate_sigma ** 2 / 2, config.member_rate_sigma, N) \
        * group_mult[member_group]
    # joins: founders join between group creation and the start; late joiners during the window
    late = (rng.random(N) < config.late_join_share) & ~is_operator
    join_us = np.where(
        late, start_us + (rng.uniform(0, n_days * 0.8, N) * US_PER_DAY).astype(np.int64),
        created_us[member_group] + (rng.uniform(0, 1, N) * (start_us - created_us[member_group])).astype(np.int64))
    join_us = np.where(is_operator, created_us[member_group], join_us)
    join_day = (join_us - start_us) / US_PER_DAY
    fader = (rng.random(N) < config.fade_share) & ~is_operator
    fade_day = np.where(fader, np.maximum(join_day, 0) + rng.uniform(5, n_days, N), np.inf)
    leaver = fader & (rng.random(N) < config.leave_share_of_faders)
    leave_day = np.where(leaver, fade_day + rng.exponential(20, N), np.inf)
    leave_day = np.where(leave_day >= n_days, np.inf, leave_day)
    leave_us = np.where(np.isfinite(leave_day), start_us + (np.nan_to_num(leave_day, posinf=0) * US_PER_DAY),
                        np.nan)

    # ---- content-mix experiment assignment (stratified by size) -----------------------
    order = np.argsort(sizes + rng.random(G) * 1e-3)
    treated = np.zeros(G, dtype=bool)
    for pair in range(0, G - 1, 2):
        pick = rng.integers(2)
        treated[order[pair + pick]] = True
    if G % 2 == 1 and rng.random() < 0.5:
        treated[order[-1]] = True
    mix_arm = np.where(treated, "interactive_352", "control")

    # ---- member-day message counts ---------------------------------------------------
    day = np.arange(n_days)
    weekday = (start_local.day_of_week + day) % 7
    day_factor = np.where(weekday >= 5, config.weekend_factor, 1.0)
    present_frac = np.clip(np.minimum(day[None, :] + 1, leave_day[:, None]) -
                           np.maximum(day[None, :], join_day[:, None]), 0, 1)
    fade = np.where(day[None, :] >= fade_day[:, None],
                    0.5 ** ((day[None, :] - fade_day[:, None]) / config.fade_half_life_days), 1.0)
    mix_mult = np.where(treated[member_group][:, None] & (day[None, :] >= mix_start), 1 + config.mix_effect, 1.0)
    lam = rate[:, None] * day_factor[None, :] * fade * present_frac * np.where(is_operator[:, None], 1.0, mix_mult)
    counts = rng.poisson(lam)
    m_idx, d_idx = np.nonzero(counts)
    reps = counts[m_idx, d_idx]
    msg_member = np.repeat(m_idx, reps)
    msg_day = np.repeat(d_idx, reps)
    n_bg = len(msg_member)
    hours = rng.choice(24, n_bg, p=HOUR_WEIGHTS)
    msg_us = start_us + msg_day.astype(np.int64) * US_PER_DAY + hours.astype(np.int64) * US_PER_HOUR \
        + rng.integers(0, US_PER_HOUR, n_bg)
    msg_type = MEMBER_MSG_TYPES[rng.choice(len(MEMBER_MSG_TYPES), n_bg, p=MEMBER_MSG_TYPE_P)]
    msg_reply_to_post = np.full(n_bg, -1)

    # ---- switchback slot schedule and posts -------------------------------------------
    arms = np.array(list(DEFAULT_SLOTS))
    period_days = config.switchback_period_days
    n_periods = int(np.ceil(n_days / period_days))
    offsets = rng.permutation(np.arange(G) % len(arms))
    orders = np.array([rng.permutation(len(arms)) for _ in range(G)])
    period_arm_idx = orders[np.arange(G)[:, None], (offsets[:, None] + np.arange(n_periods)[None, :]) % len(arms)]
    P_per_day = config.posts_per_day
    post_group = np.repeat(np.arange(G), n_days * P_per_day)
    post_day = np.tile(np.repeat(day, P_per_day), G)
    post_arm = arms[period_arm_idx[post_group, post_day // period_days]]
    in_slot = rng.random(len(post_group)) < config.slot_compliance
    slot_lo = np.array([DEFAULT_SLOTS[a][0] for a in arms])
    slot_hi = np.array([DEFAULT_SLOTS[a][1] for a in arms])
    arm_i = np.searchsorted(arms, post_arm, sorter=np.argsort(arms))
    arm_i = np.argsort(arms)[arm_i]
    slot_minutes = (slot_hi - slot_lo) * 60
    minute_in_slot = slot_lo[arm_i] * 60 + (rng.random(len(post_group)) * slot_minutes[arm_i]).astype(int)
    off_peak_hours = np.array([h for h in range(8, 23) if _slot_of_hour(np.array([h]))[0] == "off_peak"])
    minute_off = rng.choice(off_peak_hours, len(post_group)) * 60 + rng.integers(0, 60, len(post_group))
    post_minute = np.where(in_slot, minute_in_slot, minute_off)
    post_us = start_us + post_day.astype(np.int64) * US_PER_DAY + post_minute.astype(np.int64) * US_PER_MIN \
        + rng.integers(0, US_PER_MIN, len(post_group))
    post_clock_slot = _slot_of_hour(post_minute // 60)
    # content types: the mix policy in force (control before the experiment), with compliance
    content_types = np.array(sorted(config.content_reply_effects))
    policy_of_post = np.where(treated[post_group] & (post_day >= mix_start), "interactive_352", "control")
    post_content = np.empty(len(post_group), dtype=object)
    for name, policy in MIX_POLICIES.items():
        sel = policy_of_post == name
        cats = np.array(list(policy))
        post_content[sel] = cats[rng.choice(len(cats), sel.sum(), p=list(policy.values()))]
    off_policy = rng.random(len(post_group)) >= config.mix_compliance
    post_content[off_policy] = content_types[rng.integers(0, len(content_types), off_policy.sum())]
    operator_of_group = group_start + rng.integers(0, 2, G)
    post_member = operator_of_group[post_group]

    # replies and non-quote responses to posts
    active_weight = np.where(is_operator, 0.0, rate)
    cum_w = np.cumsum(active_weight)
    group_total = np.bincount(member_group, weights=active_weight, minlength=G)
    slot_mult = np.array([config.slot_effects[s] for s in post_clock_slot])
    content_mult = np.array([config.content_reply_effects[c] for c in post_content])
    post_mix_mult = np.where(treated[post_group] & (post_day >= mix_start), 1 + config.mix_effect, 1.0)
    group_n = sizes.astype(float)
    mu_replies = config.replies_per_member_post * group_n[post_group] * np.sqrt(group_mult[post_group]) \
        * slot_mult * content_mult * post_mix_mult
    n_replies = rng.poisson(mu_replies)
    n_resp = rng.poisson(mu_replies * config.responses_per_reply)
    for kind, n_k in (("reply", n_replies), ("response", n_resp)):
        src_post = np.repeat(np.arange(len(post_group)), n_k)
        who = _pick_weighted(rng, post_group[src_post], group_start, cum_w, group_total)
        delay = (rng.exponential(25.0, len(src_post)) * US_PER_MIN).astype(np.int64) + US_PER_MIN // 2
        t = post_us[src_post] + delay
        msg_member = np.concatenate([msg_member, who])
        msg_us = np.concatenate([msg_us, t])
        msg_type = np.concatenate([msg_type, np.where(rng.random(len(who)) < 0.85, "text", "sticker")])
        msg_reply_to_post = np.concatenate([msg_reply_to_post, src_post if kind == "reply"
                                            else np.full(len(src_post), -1)])

    # red-packet bursts: thank-you messages within 3 minutes of each red packet
    rp = np.flatnonzero(msg_type == "red_packet")
    n_burst = rng.poisson(config.red_packet_burst, len(rp))
    src = np.repeat(rp, n_burst)
    who = _pick_weighted(rng, member_group[msg_member[src]], group_start, cum_w, group_total)
    msg_member = np.concatenate([msg_member, who])
    msg_us = np.concatenate([msg_us, msg_us[src] + rng.integers(US_PER_MIN // 6, 3 * US_PER_MIN, len(src))])
    msg_type = np.concatenate([msg_type, np.where(rng.random(len(src)) < 0.5, "sticker", "text")])
    msg_reply_to_post = np.concatenate([msg_reply_to_post, np.full(len(src), -1)])

    # keep member messages only while the member is in the group, inside the window
    end_us = start_us + n_days * US_PER_DAY
    leave_cmp = np.where(np.isnan(leave_us), np.inf, leave_us)
    keep = (msg_us >= join_us[msg_member]) & (msg_us < leave_cmp[msg_member]) & (msg_us >= start_us) \
        & (msg_us < end_us)
    msg_member, msg_us, msg_type, msg_reply_to_post = (a[keep] for a in (msg_member, msg_us, msg_type,
                                                                          msg_reply_to_post))
    # operator post messages and join system messages
    n_member_msgs = len(msg_member)
    joins_in_window = np.flatnonzero((join_us >= start_us) & (join_us < end_us))
    all_member = np.concatenate([msg_member, post_member, joins_in_window])
    all_us = np.concatenate([msg_us, post_us, join_us[joins_in_window]])
    all_type = np.concatenate([msg_type, np.where(post_content == "practical", "link", "text"),
                               np.full(len(joins_in_window), "system")])
    all_reply_post = np.concatenate([msg_reply_to_post, np.full(len(post_us) + len(joins_in_window), -1)])
    is_post_msg = np.zeros(len(all_us), dtype=bool)
    is_post_msg[n_member_msgs:n_member_msgs + len(post_us)] = True
    order = np.argsort(all_us, kind="stable")
    all_member, all_us, all_type, all_reply_post, is_post_msg = (
        a[order] for a in (all_member, all_us, all_type, all_reply_post, is_post_msg))
    n_msgs = len(all_us)
    message_ids = _ids("m", n_msgs, width=max(7, len(str(n_msgs))))
    post_index_in_msgs = np.empty(len(post_us), dtype=np.int64)
    post_positions = np.flatnonzero(is_post_msg)
    post_order_in_msgs = order[post_positions] - n_member_msgs
    post_index_in_msgs[post_order_in_msgs] = post_positions
    reply_to = np.where(all_reply_post >= 0, message_ids[post_index_in_msgs[np.maximum(all_reply_post, 0)]], None)
    text_like = all_type == "text"
    text_len = np.where(text_like, np.maximum(1, rng.lognormal(2.4, 0.9, n_msgs).astype(int)), 0)
    text_len = np.where(is_post_msg, rng.integers(80, 600, n_msgs), text_len)
    n_mentions = np.where(all_type == "system", 0, rng.poisson(0.05, n_msgs))

    member_ids = _ids("u", N, width=max(5, len(str(N))))
    tz = config.tz

    def to_ts(us: np.ndarray) -> pd.Series:
        values = pd.to_datetime(np.asarray(us, dtype="int64"), unit="us")
        return pd.Series(values).dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False).dt.as_unit("us")

    messages = pd.DataFrame({
        "message_id": message_ids,
        "group_id": group_ids[member_group[all_member]],
        "member_id": member_ids[all_member],
        "sent_at": to_ts(all_us),
        "msg_type": all_type,
        "reply_to": pd.array(reply_to, dtype="str"),
        "n_mentions": n_mentions.astype("int64"),
        "text_len": text_len.astype("int64"),
    })
    leave_ts = to_ts(np.nan_to_num(leave_us, nan=0).astype(np.int64))
    leave_ts[np.isnan(leave_us)] = pd.NaT
    members = pd.DataFrame({
        "group_id": group_ids[member_group],
        "member_id": member_ids,
        "joined_at": to_ts(join_us),
        "left_at": leave_ts,
        "role": role,
    })
    groups = pd.DataFrame({
        "group_id": group_ids,
        "name": [f"Simulated group {i + 1}" for i in range(G)],
        "group_type": rng.choice(np.array(["education", "ecommerce", "interest"]), G),
        "created_at": to_ts(created_us),
    })
    post_ids = np.empty(len(post_us), dtype=object)  # numbered in time order
    post_ids[np.argsort(post_us, kind="stable")] = _ids("p", len(post_us), width=max(6, len(str(len(post_us)))))
    posts = pd.DataFrame({
        "post_id": post_ids,
        "group_id": group_ids[post_group],
        "posted_at": to_ts(post_us),
        "content_type": post_content.astype(str),
        "member_id": member_ids[post_member],
        "message_id": message_ids[post_index_in_msgs],
    }).sort_values("posted_at", kind="stable").reset_index(drop=True)

    # ---- assignments -----------------------------------------------------------------
    period_start = start_us + np.arange(n_periods) * period_days * US_PER_DAY
    period_end = np.minimum(period_start + period_days * US_PER_DAY, end_us)
    sw = pd.DataFrame({
        "experiment_id": "slot_switchback",
        "group_id": np.repeat(group_ids, n_periods),
        "arm": arms[period_arm_idx.ravel()],
        "start_at": to_ts(np.tile(period_start, G)),
        "end_at": to_ts(np.tile(period_end, G)),
    })
    mix = pd.DataFrame({
        "experiment_id": "mix_policy",
        "group_id": group_ids,
        "arm": mix_arm,
        "start_at": to_ts(np.full(G, start_us + mix_start * US_PER_DAY)),
        "end_at": to_ts(np.full(G, end_us)),
    })
    assignments = pd.concat([sw, mix], ignore_index=True)

    tables = dict(messages=messages, members=members, groups=groups, posts=posts, assignments=assignments)
    if config.events:
        tables["events"] = _simulate_events(rng, config, post_ids, post_group, post_us, post_content, member_ids,
                                            member_group, group_ids, group_start, sizes, tier, tier_names,
                                            join_us, leave_cmp, fade_day, start_us, end_us, n_days, is_operator)
    dataset = Dataset.from_frames(tz=tz, metadata={"source": "groupstats simulator", "seed": config.seed},
                                  **tables)

    # ---- truth -----------------------------------------------------------------------
    comp = config.slot_compliance
    arm_names = [str(a) for a in arms]
    itt = {a: comp * config.slot_effects[a] + (1 - comp) * config.slot_effects["off_peak"] for a in arm_names}
    truth = {
        "config": asdict(config),
        "n_messages": int(n_msgs),
        "slot_experiment": {
            "experiment_id": "slot_switchback", "design": "switchback", "arms": arm_names,
            "control": "morning", "period_days": period_days, "metric": "replies",
            "slot_effects": dict(config.slot_effects), "compliance": comp,
            "itt_rate_ratio": {a: itt[a] / itt["morning"] for a in arm_names},
            "itt_rel_effect": {a: itt[a] / itt["morning"] - 1 for a in arm_names},
        },
        "mix_experiment": {
            "experiment_id": "mix_policy", "design": "group-randomised", "arms": ["control", "interactive_352"],
            "control": "control", "policies": MIX_POLICIES, "start_day": mix_start,
            "rel_effect": {"messages_per_member_day": config.mix_effect, "replies_per_post": config.mix_effect,
                           "read_rate": 0.0},
            "content_mean_effect": {k: _mix_mean_effect(v, config.content_reply_effects, config.mix_compliance)
                                    for k, v in MIX_POLICIES.items()},
            "treated_groups": [str(g) for g in group_ids[treated]],
        },
        "content_reply_effects": dict(config.content_reply_effects),
        "groups": {"group_id": [str(g) for g in group_ids], "activity_multiplier": group_mult.tolist(),
                   "size": sizes.tolist(), "age_days_at_start": group_age_days.tolist()},
        "members": {
            "member_id": [str(m) for m in member_ids], "group_id": [str(g) for g in group_ids[member_group]],
            "tier": [str(t) for t in tier],
            "rate": rate.tolist(), "fader": fader.tolist(),
            "fade_day": [None if not np.isfinite(x) else float(x) for x in fade_day],
            "leaves": np.isfinite(leave_day).tolist(),
        },
    }
    return dataset, truth


def _simulate_events(rng, config, post_ids, post_group, post_us, post_content, member_ids, member_group, group_ids,
                     group_start, sizes, tier, tier_names, join_us, leave_cmp, fade_day, start_us, end_us,
                     n_days, is_operator) -> pd.DataFrame:
    """Reads and clicks on posts, daily sign-ins, tasks and complaints."""
    # reads: each member present at posting time reads with a tier-dependent probability
    # (lower once fading). Pairs (post, member of its group) are formed group by group block.
    read_p = np.array([config.read_prob.get(t, 0.0) for t in tier])
    read_p[is_operator] = 0.0
    n_pairs = sizes[post_group]
    pair_post = np.repeat(np.arange(len(post_group)), n_pairs)
    pair_member = group_start[post_group[pair_post]] + (
        np.arange(len(pair_post)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs))
    t_post = post_us[pair_post]
    present = (join_us[pair_member] <= t_post) & (leave_cmp[pair_member] > t_post)
    post_day = (t_post - start_us) / US_PER_DAY
    fading = np.where(post_day >= fade_day[pair_member],
                      0.5 ** ((post_day - fade_day[pair_member]) / config.fade_half_life_days), 1.0)
    reads = present & (rng.random(len(pair_post)) < read_p[pair_member] * fading)
    r_post, r_member = pair_post[reads], pair_member[reads]
    r_time = post_us[r_post] + (rng.lognormal(np.log(60), 1.2, len(r_post)) * US_PER_MIN).astype(np.int64)
    clicks = (post_content[r_post] == "practical") & (rng.random(len(r_post)) < config.click_prob)
    c_post, c_member = r_post[clicks], r_member[clicks]
    c_time = r_time[clicks] + (rng.exponential(2, clicks.sum()) * US_PER_MIN).astype(np.int64)
    # daily sign-ins, tasks and complaints on member-days
    p_sign = np.array([config.sign_in_prob.get(t, 0.0) for t in tier])
    day = np.arange(n_days)
    day_start = start_us + day * US_PER_DAY
    present_day = (join_us[:, None] <= day_start[None, :]) & (leave_cmp[:, None] > day_start[None, :] + US_PER_DAY)
    fade_f = np.where(day[None, :] >= fade_day[:, None],
                      0.5 ** ((day[None, :] - fade_day[:, None]) / config.fade_half_life_days), 1.0)
    frames = []
    for kind, prob in (("sign_in", p_sign[:, None] * fade_f), ("task", config.task_rate * fade_f),
                       ("complaint", np.full((1, 1), config.complaint_rate))):
        hit = present_day & (rng.random(present_day.shape) < prob) & ~is_operator[:, None]
        m, d = np.nonzero(hit)
        t = day_start[d] + rng.integers(7 * US_PER_HOUR, 23 * US_PER_HOUR, len(d))
        frames.append((kind, m, t, np.full(len(m), -1)))
    frames.append(("read", r_member, r_time, r_post))
    frames.append(("click", c_member, c_time, c_post))
    kinds = np.concatenate([np.full(len(f[1]), f[0]) for f in frames])
    mem = np.concatenate([f[1] for f in frames])
    when = np.concatenate([f[2] for f in frames])
    post = np.concatenate([f[3] for f in frames])
    keep = (when < end_us) & (when < leave_cmp[mem])
    kinds, mem, when, post = kinds[keep], mem[keep], when[keep], post[keep]
    order = np.argsort(when, kind="stable")
    kinds, mem, when, post = kinds[order], mem[order], when[order], post[order]
    values = pd.to_datetime(when, unit="us")
    return pd.DataFrame({
        "group_id": group_ids[member_group[mem]],
        "member_id": member_ids[mem],
        "occurred_at": pd.Series(values).dt.tz_localize(config.tz, nonexistent="shift_forward",
                                                        ambiguous=False).dt.as_unit("us"),
        "event_type": kinds,
        "post_id": pd.array(np.where(post >= 0, post_ids[np.maximum(post, 0)], None), dtype="str"),
    })


def write_simulation(out: str | Path, n_groups: int = 12, days: int = 120, seed: int = 0,
                     format: str = "parquet", **overrides) -> tuple[Path, dict]:
    """Simulate and write the dataset to ``out`` with its ``truth.json``."""
    dataset, truth = simulate_community(n_groups=n_groups, days=days, seed=seed, **overrides)
    folder = dataset.save(out, format=format)
    (Path(folder) / "truth.json").write_text(json.dumps(truth, indent=1, default=str), encoding="utf-8")
    return Path(folder), truth
