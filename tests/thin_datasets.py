"""Odd but valid datasets, the shapes real chat exports have: built small, by hand or simulated.

Each is a folder written with :meth:`Dataset.save` (Parquet, like ``groupstats import``), named
after what is odd about it:

- ``two_members``: one group of 2 members (its owner and one member), five weeks of chat;
- ``nobody_left``: a simulated community with ``left_at`` empty everywhere (most WhatsApp exports);
- ``nobody_silent``: every member writes every day, so no member ever has a silent window;
- ``one_day``: a simulated community cut to a single day of messages;
- ``chat_only``: messages and members only: no posts, no events, no assignments, no groups
  (what an import of a chat export gives);
- ``chat_only_csv``: the same, stored as CSV (the in-memory code path instead of the out-of-core one).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.data.dataset import Dataset

ODD_DATASETS = ("two_members", "nobody_left", "nobody_silent", "one_day", "chat_only", "chat_only_csv")


def _chat(group_members: dict[str, list[str]], days: int, per_day: int, seed: int,
          start: str = "2026-01-05") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Members (first of each group its owner, all joined before the start) and messages where
    every member writes ``per_day`` messages every day at random minutes."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    members = pd.DataFrame([
        {"group_id": g, "member_id": m, "joined_at": t0 - pd.Timedelta(days=30),
         "role": "owner" if i == 0 else "member"}
        for g, ids in group_members.items() for i, m in enumerate(ids)])
    senders = members.loc[members.index.repeat(days * per_day)].reset_index(drop=True)
    day = np.tile(np.repeat(np.arange(days), per_day), len(members))
    minute = rng.integers(7 * 60, 23 * 60, len(senders))
    sent = t0 + pd.to_timedelta(day, unit="D") + pd.to_timedelta(minute, unit="min")
    messages = pd.DataFrame({"message_id": [f"m{i}" for i in range(len(senders))],
                             "group_id": senders["group_id"], "member_id": senders["member_id"],
                             "sent_at": sent, "msg_type": "text",
                             "text_len": rng.integers(1, 80, len(senders))})
    messages = messages.sort_values("sent_at", kind="stable").reset_index(drop=True)
    return members, messages


def _base():
    from groupstats.data.simulate import simulate_community

    ds, _ = simulate_community(n_groups=3, days=42, seed=11, members_per_group=12, events=True)
    return ds


def build_all(folder: Path) -> dict[str, Path]:
    """Write every odd dataset under ``folder``; return {name: path}."""
    folder = Path(folder)
    base = _base()
    tz = base.tz
    out: dict[str, Dataset] = {}

    members, messages = _chat({"g1": ["owner1", "m1"]}, days=35, per_day=2, seed=1)
    out["two_members"] = Dataset.from_frames(tz=tz, members=members, messages=messages)

    members = base.members.assign(left_at=pd.NaT)
    out["nobody_left"] = Dataset.from_frames(tz=tz, messages=base.messages, members=members,
                                             groups=base.groups, posts=base.posts, events=base.events,
                                             assignments=base.assignments)

    members, messages = _chat({"g1": ["o1", *[f"a{i}" for i in range(5)]],
                               "g2": ["o2", *[f"b{i}" for i in range(4)]]}, days=56, per_day=1, seed=2)
    out["nobody_silent"] = Dataset.from_frames(tz=tz, members=members, messages=messages)

    day = base.messages["sent_at"].dt.normalize().iloc[len(base.messages) // 2]
    cut = base.as_of(day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    keep = cut.messages["sent_at"] >= day
    messages = cut.messages.loc[keep]
    messages = messages.assign(reply_to=messages["reply_to"].where(
        messages["reply_to"].isin(messages["message_id"])))
    posts = cut.posts.loc[cut.posts["posted_at"] >= day]
    posts = posts.assign(message_id=posts["message_id"].where(posts["message_id"].isin(messages["message_id"])))
    events = cut.events.loc[(cut.events["occurred_at"] >= day) & cut.events["post_id"].isin(posts["post_id"])]
    out["one_day"] = Dataset.from_frames(tz=tz, messages=messages, members=cut.members, groups=cut.groups,
                                         posts=posts, events=events, assignments=cut.assignments)

    chat = Dataset.from_frames(tz=tz, messages=base.messages.drop(columns=["reply_to"]), members=base.members)
    out["chat_only"] = chat
    paths = {name: ds.save(folder / name) for name, ds in out.items()}
    paths["chat_only_csv"] = chat.save(folder / "chat_only_csv", format="csv")
    return paths
