"""Assembly of a dataset from parsed rows (the last step of every import).

:func:`assemble`

* pseudonymises ids (:mod:`~groupstats.data.importers.pseudonyms`) and drops names and text unless asked,
* merges several inputs (and an earlier import in the output folder), dropping duplicate messages by
  their source message id,
* turns joins, leaves and removals (plus roster rows and first appearances) into ``members`` rows
  (:func:`build_memberships`),
* marks operators and matches a posts plan to operator messages
  (:mod:`~groupstats.data.importers.side_files`),
* accounts for every input row: ``read = imported + rejected + skipped`` (:class:`ImportReport`).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import GroupstatsError
from groupstats.data.schema import DEFAULT_TZ, OPERATOR_ROLES
from groupstats.data.importers.common import to_tz
from groupstats.data.importers.pseudonyms import Pseudonymiser, SaltCreatedWarning
from groupstats.data.importers.rows import Parsed, RejectReason, SkipReason
from groupstats.data.importers.side_files import match_posts_plan, read_operators, read_posts_plan, read_roster

#: Version of the importer output layout (stored in dataset.json).
IMPORTER_VERSION = 1
#: Default tolerance when matching a posts plan to operator messages.
DEFAULT_POST_TOLERANCE = pd.Timedelta(minutes=30)
REJECTED_FILE = "rejected.csv"
UNMATCHED_PLAN_FILE = "posts_plan_unmatched.csv"


@dataclass
class ImportOptions:
    """Options of one import (see ``groupstats import --help``)."""

    format: str
    tz: str = DEFAULT_TZ
    salt_file: str | None = None
    keep_text: bool = False
    roster: str | None = None
    operators: str | None = None
    posts_plan: str | None = None
    post_tolerance: pd.Timedelta = DEFAULT_POST_TOLERANCE
    out_format: str = "parquet"


@dataclass
class ImportReport:
    """What an import did: counts by outcome and reason, notes, where it wrote.

    ``read == imported + rejected + skipped`` (rows of the input files).
    """

    out: Path
    read: int
    imported: int
    rejected: dict
    skipped: dict
    n_messages: int
    n_members: int
    n_groups: int
    n_posts: int
    unmatched_plan: int
    notes: list
    warnings: list
    per_file: dict
    n_leavers: int = 0

    @property
    def n_rejected(self) -> int:
        return int(sum(self.rejected.values()))

    @property
    def n_skipped(self) -> int:
        return int(sum(self.skipped.values()))

    def to_dict(self) -> dict:
        return {"out": str(self.out), "read": self.read, "imported": self.imported,
                "rejected": self.n_rejected, "rejected_by_reason": dict(self.rejected),
                "skipped": self.n_skipped, "skipped_by_reason": dict(self.skipped),
                "messages": self.n_messages, "members": self.n_members, "leavers": self.n_leavers,
                "groups": self.n_groups,
                "posts": self.n_posts, "unmatched_plan_rows": self.unmatched_plan,
                "per_file": self.per_file, "notes": list(self.notes)}

    def to_text(self, lang: str = "en") -> str:
        """The counts for people, in ``lang`` (catalogue ``importres.*``; reason codes and files as they are)."""
        from groupstats.reports.i18n import fmt_num, note_text, t

        def n(x) -> str:
            return fmt_num(x, lang)

        lines = [t("importres.read", lang, read=n(self.read), imported=n(self.imported),
                   rejected=n(self.n_rejected), skipped=n(self.n_skipped))]
        for code, k in sorted(self.rejected.items()):
            lines.append("  " + t("importres.rejected", lang, code=code, n=n(k)))
        for code, k in sorted(self.skipped.items()):
            lines.append("  " + t("importres.skipped", lang, code=code, n=n(k)))
        if len(self.per_file) > 1 or any("members" in v for v in self.per_file.values()):
            for file, c in sorted(self.per_file.items()):
                lines.append("  " + t("importres.file", lang, file=file, read=n(c["read"]),
                                      imported=n(c.get("imported", 0)), rejected=n(c.get("rejected", 0)),
                                      skipped=n(c.get("skipped", 0)), members=n(c.get("members", 0)),
                                      leavers=n(c.get("leavers", 0))))
        lines.append(t("importres.wrote", lang, messages=n(self.n_messages), members=n(self.n_members),
                       leavers=n(self.n_leavers), groups=self.n_groups, posts=n(self.n_posts), out=self.out))
        if self.unmatched_plan:
            lines.append(t("importres.unmatched", lang, n=self.unmatched_plan, file=UNMATCHED_PLAN_FILE))
        lines += [t("result.note", lang, note=note_text(x, lang)) for x in self.notes]
        return "\n".join(lines)


SILENT_NOTE = ("Silent members are missing: the export shows only members who wrote or were named in system "
               "messages, so member counts are too low and rates over members present too high. Re-import "
               "with --roster FILE (group, member, joined_at, left_at, role) to add them.")


def _first_seen_note(n: int) -> str:
    return (f"{n} membership(s) start at the member's first appearance in the export because no join was "
            f"recorded (column joined_at_source = first_seen): their tenure is understated.")


def assemble(parsed: Parsed, options: ImportOptions, out: str | os.PathLike):
    """Build, validate and save the canonical dataset; return an :class:`ImportReport`."""
    from groupstats.data.dataset import METADATA_FILE, Dataset, load_dataset

    tz = options.tz
    out = Path(out)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", SaltCreatedWarning)
        pseudo = Pseudonymiser(options.salt_file)
    for rec in records:
        caught.append(str(rec.message))
        warnings.warn(rec.message, rec.category, stacklevel=2)
    notes = list(parsed.notes)

    messages = parsed.messages.copy()
    events = parsed.events.copy()
    rejected = parsed.rejected.copy()
    skipped = parsed.skipped.copy()

    # -- roster and operators (source ids) ----------------------------------------------
    roster = read_roster(options.roster, tz) if options.roster else None
    operators = read_operators(options.operators) if options.operators else None
    group_alias = {name: gid for gid, name in parsed.groups.items() if name}

    def canon_group(values: pd.Series) -> pd.Series:
        return values.map(lambda g: group_alias.get(g, g) if g not in parsed.groups else g)

    if roster is not None:
        roster["group"] = canon_group(roster["group"])

    # -- duplicates: the same source message or membership change twice -------------------
    messages["message_id"] = pseudo.series(
        "message", messages["group"].astype(str) + "|" + messages["source_msg_id"].astype(str))
    dup_msg = messages["message_id"].duplicated(keep="first").to_numpy()
    events_key = (events["group"].astype(str) + "|" + events["member"].astype(str) + "|"
                  + events["time"].astype(str) + "|" + events["kind"].astype(str))
    dup_evt = events_key.duplicated(keep="first").to_numpy()

    # -- earlier import in --out: merge, do not duplicate --------------------------------
    existing = None
    meta_file = out / METADATA_FILE
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        importer = meta.get("importer")
        if importer is None:
            raise GroupstatsError(f"{out} already holds a dataset that was not written by groupstats import; "
                                  f"choose an empty --out folder.")
        if importer.get("salt_fingerprint") != pseudo.fingerprint:
            raise GroupstatsError(f"{out} holds an import made with another salt (pseudonyms would not match); "
                                  f"pass the same --salt-file as before, or choose a new --out folder.")
        if importer.get("format") != options.format:
            notes.append(f"merged with an earlier import in this folder (format {importer.get('format')})")
        existing = load_dataset(out, tz=tz)
    old_ids = set(existing.messages["message_id"]) if existing is not None else set()
    already_msg = messages["message_id"].isin(old_ids).to_numpy() & ~dup_msg

    # hashed member / group ids
    messages["member_id"] = pseudo.series("member", messages["member"])
    messages["group_id"] = pseudo.series("group", messages["group"])
    events["member_id"] = pseudo.series("member", events["member"])
    events["group_id"] = pseudo.series("group", events["group"])
    if existing is not None:
        old_events = _events_from_members(existing.members)
        old_keys = set(zip(old_events["group_id"], old_events["member_id"],
                           old_events["time"].astype(str), old_events["kind"]))
        new_keys = list(zip(events["group_id"], events["member_id"],
                            pd.Series(events["time"]).astype(str), events["kind"]))
        already_evt = np.array([k in old_keys for k in new_keys], dtype=bool) & ~dup_evt
    else:
        already_evt = np.zeros(len(events), dtype=bool)

    # -- members and leavers named by each file (before duplicates are dropped) -------------
    people = pd.concat([messages.loc[messages["msg_type"] != "system", ["source_file", "member_id"]],
                        events.loc[events["kind"] != "seen", ["source_file", "member_id"]]], ignore_index=True)
    file_members = people.groupby("source_file")["member_id"].nunique().to_dict() if len(people) else {}
    leaves = events.loc[events["kind"] == "leave"]
    file_leavers = leaves.groupby("source_file")["member_id"].nunique().to_dict() if len(leaves) else {}

    # -- row accounting ------------------------------------------------------------------
    status = _row_status(messages, events, rejected, skipped, dup_msg, dup_evt, already_msg, already_evt)
    keep_msg = ~(dup_msg | already_msg)
    messages = messages.loc[keep_msg].reset_index(drop=True)
    events = events.loc[~(dup_evt | already_evt)].reset_index(drop=True)

    # -- quote-replies -------------------------------------------------------------------
    has_reply = messages["reply_to_source"].notna()
    reply_ids = pseudo.series("message", messages["group"].astype(str) + "|"
                              + messages["reply_to_source"].astype(str)).where(has_reply, None)
    known = set(messages["message_id"]) | old_ids
    dangling = has_reply & ~reply_ids.isin(known)
    if dangling.any():
        notes.append(f"{int(dangling.sum())} quote-reply(ies) quote a message that is not in the export; "
                     f"reply_to is left empty for them.")
    messages["reply_to"] = reply_ids.where(~dangling, None)

    # -- members -------------------------------------------------------------------------
    seen = messages[["group_id", "member_id", "sent_at"]].rename(columns={"sent_at": "time"})
    seen["kind"] = "seen"
    seen["how"] = "first_seen"
    evt = events[["group_id", "member_id", "time", "kind", "how"]].copy()
    parts = [seen, evt]
    roles = pd.DataFrame(columns=["group_id", "member_id", "role"])
    if roster is not None:
        rg = pseudo.series("group", roster["group"])
        rm = pseudo.series("member", roster["member"])
        joins = pd.DataFrame({"group_id": rg, "member_id": rm, "time": to_tz(roster["joined_at"], tz),
                              "kind": "join", "how": "roster"})
        left = roster["left_at"].notna() if "left_at" in roster else pd.Series(False, index=roster.index)
        leaves = pd.DataFrame({"group_id": rg[left], "member_id": rm[left],
                               "time": to_tz(roster.loc[left, "left_at"], tz), "kind": "leave", "how": "roster"})
        parts += [joins, leaves]
        has_role = roster["role"].notna()
        roles = pd.DataFrame({"group_id": rg[has_role], "member_id": rm[has_role],
                              "role": roster.loc[has_role, "role"]})
    if parsed.roles:
        found = pd.DataFrame(parsed.roles, columns=["group", "member", "role"])
        roles = pd.concat([roles, pd.DataFrame({"group_id": pseudo.series("group", found["group"]),
                                                "member_id": pseudo.series("member", found["member"]),
                                                "role": found["role"]})], ignore_index=True)
    if existing is not None:
        parts.append(_events_from_members(existing.members))
        old_roles = existing.members.loc[existing.members["role"] != "member", ["group_id", "member_id", "role"]]
        roles = pd.concat([old_roles, roles], ignore_index=True)
    parts = [p for p in parts if len(p)]
    members = build_memberships(pd.concat(parts, ignore_index=True) if parts else None, tz)
    if existing is not None:
        old_msgs = existing.messages[["group_id", "member_id"]].drop_duplicates()
        members = _ensure_pairs(members, old_msgs, existing.messages, tz)

    if operators is not None:
        og = operators["group"].map(lambda g: None if g is None else g)
        og = canon_group(og.fillna("")).where(og.notna(), None)
        op = pd.DataFrame({"member_id": pseudo.series("member", operators["member"]),
                           "group_id": pseudo.series("group", og), "role": operators["role"]})
        specific = op.loc[op["group_id"].notna()]
        anywhere = op.loc[op["group_id"].isna(), ["member_id", "role"]].merge(
            members[["group_id", "member_id"]].drop_duplicates(), on="member_id")
        roles = pd.concat([roles, specific, anywhere[["group_id", "member_id", "role"]]], ignore_index=True)
    if len(roles):
        rank = roles["role"].map({"owner": 0, "admin": 1, "member": 2})
        roles = roles.assign(rank=rank).sort_values("rank").drop_duplicates(["group_id", "member_id"])
        members = members.merge(roles[["group_id", "member_id", "role"]], on=["group_id", "member_id"],
                                how="left")
        members["role"] = members["role"].fillna("member")
    else:
        members["role"] = "member"

    # display names only when asked
    if options.keep_text:
        names = pd.concat([
            pd.DataFrame({"group_id": messages["group_id"], "member_id": messages["member_id"],
                          "name": messages["name"]}),
            pd.DataFrame({"group_id": events["group_id"], "member_id": events["member_id"], "name": events["name"]}),
        ], ignore_index=True).dropna(subset=["name"])
        if roster is not None and roster["name"].notna().any():
            names = pd.concat([names, pd.DataFrame({"group_id": pseudo.series("group", roster["group"]),
                                                    "member_id": pseudo.series("member", roster["member"]),
                                                    "name": roster["name"]}).dropna(subset=["name"])])
        names = names.drop_duplicates(["group_id", "member_id"], keep="last")
        members = members.merge(names, on=["group_id", "member_id"], how="left")
        if existing is not None and "name" in existing.members:
            old = existing.members[["group_id", "member_id", "name"]].dropna().drop_duplicates(
                ["group_id", "member_id"]).rename(columns={"name": "old_name"})
            members = members.merge(old, on=["group_id", "member_id"], how="left")
            members["name"] = members["name"].fillna(members.pop("old_name"))

    # -- canonical messages --------------------------------------------------------------
    msg_cols = ["message_id", "group_id", "member_id", "sent_at", "msg_type", "reply_to", "n_mentions",
                "text_len", "source_type"]
    if options.keep_text:
        msg_cols.append("text")
    new_messages = messages[msg_cols].copy()
    if existing is not None:
        old = existing.messages.copy()
        for col in msg_cols:
            if col not in old.columns:
                old[col] = None
        new_messages = pd.concat([old[msg_cols], new_messages], ignore_index=True)
    new_messages = new_messages.sort_values(["sent_at", "message_id"], kind="stable").reset_index(drop=True)

    # -- groups --------------------------------------------------------------------------
    gids = pd.unique(pd.concat([members["group_id"], new_messages["group_id"]]))
    group_names = {pseudo.one("group", g): n for g, n in parsed.groups.items()}
    groups = pd.DataFrame({"group_id": gids})
    if options.keep_text:
        groups["name"] = groups["group_id"].map(group_names)
    if existing is not None and existing.groups is not None:
        groups = pd.concat([existing.groups.reindex(columns=groups.columns), groups]).drop_duplicates(
            "group_id", keep="first")

    # -- posts ---------------------------------------------------------------------------
    posts, unmatched = None, None
    if options.posts_plan:
        plan = read_posts_plan(options.posts_plan, tz)
        plan["group"] = canon_group(plan["group"])
        plan["group_id"] = pseudo.series("group", plan["group"])
        plan["planned_at"] = to_tz(plan["planned_at"], tz)
        posts, unmatched = match_posts_plan(plan, new_messages, members, options.post_tolerance)
        if existing is not None and existing.posts is not None:
            posts = pd.concat([existing.posts.reindex(columns=posts.columns), posts]).drop_duplicates(
                "post_id", keep="last")
        if len(unmatched):
            notes.append(f"{len(unmatched)} posts plan row(s) matched no operator message within "
                         f"{options.post_tolerance}; see {UNMATCHED_PLAN_FILE}.")
    elif existing is not None and existing.posts is not None:
        posts = existing.posts

    # -- notes ---------------------------------------------------------------------------
    n_first_seen = int((members["joined_at_source"] == "first_seen").sum())
    if n_first_seen:
        notes.append(_first_seen_note(n_first_seen))
    had_roster = roster is not None or (existing is not None and bool(existing.metadata.get("importer", {})
                                                                          .get("roster")))
    if not had_roster:
        notes.append(SILENT_NOTE)
    if members["role"].isin(OPERATOR_ROLES).sum() == 0:
        notes.append("No operators are marked (pass --operators FILE or a roster with a role column): "
                     "analyses of operator posts will find none.")
    if existing is not None:
        for note in existing.metadata.get("notes", []):
            if note not in notes and not note.startswith(tuple(_REPLACED_NOTE_STARTS)):
                notes.append(note)

    # -- rejected.csv ------------------------------------------------------------------
    rej = rejected.copy()
    rej["group_id"] = pseudo.series("group", rej["group"])
    rej["member_id"] = pseudo.series("member", rej["member"])
    rej["sent_at"] = to_tz(rej["sent_at"], tz) if len(rej) else rej["sent_at"]
    rej_cols = ["source_file", "source_row", "reason", "group_id", "member_id", "sent_at", "detail"]
    if options.keep_text:
        rej_cols.append("text")
    rej = rej[rej_cols]

    # -- counts --------------------------------------------------------------------------
    read_total = int(sum(parsed.read.values()))
    counts_rejected = status.loc[status["outcome"] == "rejected", "reason"].value_counts().to_dict()
    counts_skipped = status.loc[status["outcome"] == "skipped", "reason"].value_counts().to_dict()
    n_imported = int((status["outcome"] == "imported").sum())
    accounted = n_imported + sum(counts_rejected.values()) + sum(counts_skipped.values())
    if accounted != read_total:  # a parser bug, never the user's data
        raise GroupstatsError(f"internal accounting error: read {read_total} rows but accounted for "
                              f"{accounted}; please report this with the format name.")
    per_file = {}
    for file, n in parsed.read.items():
        sub = status.loc[status["source_file"] == file, "outcome"].value_counts().to_dict()
        per_file[file] = {"read": int(n), **{k: int(sub.get(k, 0)) for k in ("imported", "rejected", "skipped")},
                          "members": int(file_members.get(file, 0)), "leavers": int(file_leavers.get(file, 0))}

    counts = {"read": read_total, "imported": n_imported, "rejected": {k: int(v) for k, v in counts_rejected.items()},
              "skipped": {k: int(v) for k, v in counts_skipped.items()}}
    metadata = {
        "source": f"groupstats import {options.format}",
        "importer": {"format": options.format, "version": IMPORTER_VERSION,
                     "salt_fingerprint": pseudo.fingerprint, "keep_text": bool(options.keep_text),
                     "roster": bool(had_roster), "operators": options.operators is not None,
                     "posts_plan": options.posts_plan is not None, "inputs": sorted(parsed.read),
                     "counts": counts,
                     "reasons": {r.code: r.description for r in RejectReason}},
        "notes": notes,
    }
    if existing is not None:
        metadata["importer"]["inputs"] = sorted(set(metadata["importer"]["inputs"])
                                                | set(existing.metadata["importer"].get("inputs", [])))
    if new_messages.empty:
        meaning = {r.code: r.description for r in (*RejectReason, *SkipReason)}
        examples = rejected.dropna(subset=["detail"]).drop_duplicates("reason").set_index("reason")["detail"]
        meaning.update({k: f"e.g. {v}" for k, v in examples.items()})
        raise GroupstatsError("No message could be imported: " + "; ".join(
            f"{n} {k} ({meaning.get(k, '')})" for k, n in {**counts_rejected, **counts_skipped}.items()) +
            ". Check the format name and the input files (reasons: docs/importing.md).")
    dataset = Dataset.from_frames(tz=tz, metadata=metadata, messages=new_messages, members=members,
                                  groups=groups, posts=posts)
    dataset.save(out, format=options.out_format)
    if existing is not None and (out / REJECTED_FILE).exists():
        old_rej = pd.read_csv(out / REJECTED_FILE, dtype=str, keep_default_na=False, na_values=[""])
        rej = pd.concat([old_rej, rej.astype("object").astype(str).where(rej.notna(), None)], ignore_index=True)
        rej = rej.drop_duplicates(["source_file", "source_row", "reason"], keep="first")
    _write_csv(rej, out / REJECTED_FILE)
    if unmatched is not None and len(unmatched):
        _write_csv(unmatched, out / UNMATCHED_PLAN_FILE)
    elif (out / UNMATCHED_PLAN_FILE).exists() and options.posts_plan:
        (out / UNMATCHED_PLAN_FILE).unlink()
    return ImportReport(out=out, read=read_total, imported=n_imported, rejected=counts["rejected"],
                        skipped=counts["skipped"], n_messages=len(dataset.messages),
                        n_members=len(dataset.members), n_groups=int(dataset.members["group_id"].nunique()),
                        n_leavers=int(dataset.members["left_at"].notna().sum()),
                        n_posts=0 if dataset.posts is None else len(dataset.posts),
                        unmatched_plan=0 if unmatched is None else len(unmatched), notes=notes,
                        warnings=caught, per_file=per_file)


_REPLACED_NOTE_STARTS = ("Silent members are missing", "No operators are marked")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].map(lambda t: t.isoformat() if not pd.isna(t) else "")
    out.to_csv(path, index=False, encoding="utf-8")


def _row_status(messages, events, rejected, skipped, dup_msg, dup_evt, already_msg, already_evt) -> pd.DataFrame:
    """One outcome per source row: imported if anything of it survives, else skipped/rejected."""
    def frame(df, outcome, reason):
        if not len(df):
            return pd.DataFrame(columns=["source_file", "source_row", "outcome", "reason", "rank"])
        out = pd.DataFrame({"source_file": df["source_file"].to_numpy(),
                            "source_row": df["source_row"].to_numpy()})
        out["outcome"] = outcome
        out["reason"] = reason if isinstance(reason, str) else np.asarray(reason)
        return out

    parts = []
    m_state = np.where(dup_msg, "duplicate", np.where(already_msg, "already_imported", ""))
    e_state = np.where(dup_evt, "duplicate", np.where(already_evt, "already_imported", ""))
    for df, state in ((messages, m_state), (events, e_state)):
        if not len(df):
            continue
        if "kind" in df:  # 'seen' events (an inviter was there) only support the row's main events
            main = (df["kind"] != "seen").to_numpy()
            df, state = df.loc[main], state[main]
        ok = state == ""
        parts.append(frame(df.loc[ok], "imported", ""))
        parts.append(frame(df.loc[~ok], "skipped", state[~ok]))
    parts.append(frame(rejected, "rejected", rejected["reason"].to_numpy() if len(rejected) else ""))
    parts.append(frame(skipped, "skipped", skipped["reason"].to_numpy() if len(skipped) else ""))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["source_file", "source_row", "outcome", "reason"])
    status = pd.concat(parts, ignore_index=True)
    status["rank"] = status["outcome"].map({"imported": 0, "skipped": 1, "rejected": 2})
    status.loc[status["reason"] == "duplicate", "rank"] = 1
    status.loc[status["reason"] == "already_imported", "rank"] = 1
    status = status.sort_values(["source_file", "source_row", "rank"], kind="stable")
    return status.drop_duplicates(["source_file", "source_row"], keep="first").reset_index(drop=True)


def _events_from_members(members: pd.DataFrame) -> pd.DataFrame:
    """Membership rows of an earlier import back into join/seen/leave events."""
    source = members["joined_at_source"] if "joined_at_source" in members else pd.Series("recorded",
                                                                                         index=members.index)
    how = members["joined_how"] if "joined_how" in members else pd.Series("recorded", index=members.index)
    how = np.where(source.to_numpy() == "roster", "roster", how.fillna("recorded").to_numpy())
    joins = pd.DataFrame({"group_id": members["group_id"], "member_id": members["member_id"],
                          "time": members["joined_at"],
                          "kind": np.where(source.to_numpy() == "first_seen", "seen", "join"),
                          "how": how})
    left = members["left_at"].notna()
    leaves = pd.DataFrame({"group_id": members.loc[left, "group_id"], "member_id": members.loc[left, "member_id"],
                           "time": members.loc[left, "left_at"], "kind": "leave", "how": "recorded"})
    return pd.concat([joins, leaves], ignore_index=True)


def _ensure_pairs(members, pairs, old_messages, tz) -> pd.DataFrame:
    """Every (group, member) of earlier messages keeps a membership row (defensive; normally true)."""
    have = pd.MultiIndex.from_frame(members[["group_id", "member_id"]])
    missing = pairs.loc[~pd.MultiIndex.from_frame(pairs).isin(have)]
    if missing.empty:
        return members
    first = old_messages.groupby(["group_id", "member_id"])["sent_at"].min().rename("time").reset_index()
    first = first.merge(missing, on=["group_id", "member_id"])
    first["kind"], first["how"] = "seen", "first_seen"
    return pd.concat([members, build_memberships(first, tz)], ignore_index=True)


def build_memberships(events: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Turn join / seen / leave events into non-overlapping membership spells.

    Parameters
    ----------
    events : DataFrame
        group_id, member_id, time (tz-aware), kind (``join``, ``seen`` or
        ``leave``), how (invite, qr_code, roster, first_seen, ...).

    Returns
    -------
    DataFrame
        group_id, member_id, joined_at, left_at, joined_at_source (``recorded``,
        ``roster`` or ``first_seen``), joined_how. A member who writes while
        out of the group (after a leave, or before any join) starts a spell at
        that message; a leave with no spell open starts and ends a spell at the
        leave (the member was there before the export began).
    """
    cols = ["group_id", "member_id", "joined_at", "left_at", "joined_at_source", "joined_how"]
    if events is None or events.empty:
        return pd.DataFrame(columns=cols)
    ev = events[["group_id", "member_id", "time", "kind", "how"]].copy()
    ev["time"] = to_tz(ev["time"], tz)
    ev = ev.drop_duplicates(["group_id", "member_id", "time", "kind"])
    order = {"join": 0, "seen": 1, "leave": 2}
    ev["k"] = ev["kind"].map(order)
    ev = ev.sort_values(["group_id", "member_id", "time", "k"], kind="stable").reset_index(drop=True)
    same = (ev["group_id"].eq(ev["group_id"].shift()) & ev["member_id"].eq(ev["member_id"].shift())).to_numpy()
    in_after = (ev["kind"] != "leave").to_numpy()  # state after each event
    prev_in = np.zeros(len(ev), dtype=bool)
    prev_in[1:] = in_after[:-1]
    prev_in &= same
    start = ~prev_in  # joins/seen when out, and leaves when out, open a spell
    spell = np.cumsum(start)
    ev["spell"] = spell
    starts = ev.loc[start, ["spell", "group_id", "member_id", "time", "kind", "how"]].rename(
        columns={"time": "joined_at"})
    ends = ev.loc[ev["kind"] == "leave", ["spell", "time"]].drop_duplicates("spell").rename(
        columns={"time": "left_at"})
    out = starts.merge(ends, on="spell", how="left")
    source = np.where(out["kind"] == "join", np.where(out["how"] == "roster", "roster", "recorded"), "first_seen")
    out["joined_at_source"] = source
    out["joined_how"] = np.where(out["kind"] == "join", out["how"], "first_seen")
    out["left_at"] = to_tz(out["left_at"], tz)
    return out[cols].reset_index(drop=True)
