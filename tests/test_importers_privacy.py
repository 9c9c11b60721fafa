"""Pseudonyms, no leaks, idempotent re-import, roster / operators / posts plan."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

from groupstats import load_dataset
from groupstats.data.importers import SaltCreatedWarning, import_chats
from importers_helpers import FIXTURES, SECRETS, output_text, run_import


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_no_raw_name_or_text_without_keep_text(fmt, tmp_path):
    salt = tmp_path / "salt.key"
    for out_format in ("parquet", "csv"):
        out = tmp_path / out_format
        run_import(fmt, out, salt, out_format=out_format)
        text = output_text(out)
        leaked = [s for s in SECRETS[fmt] if s in text]
        assert not leaked, f"{fmt} ({out_format}) output contains {leaked}"
    # with --keep-text the same strings are there (the check above can fail)
    kept = tmp_path / "kept"
    run_import(fmt, kept, salt, keep_text=True, out_format="csv")
    text = output_text(kept)
    assert sum(s in text for s in SECRETS[fmt]) >= 2


def test_same_salt_same_pseudonyms_other_salt_other_pseudonyms(tmp_path):
    a1 = run_import("telegram", tmp_path / "a1", tmp_path / "salt_a")
    run_import("telegram", tmp_path / "a2", tmp_path / "salt_a")
    run_import("telegram", tmp_path / "b", tmp_path / "salt_b")
    ids = {name: set(load_dataset(tmp_path / name).members["member_id"]) for name in ("a1", "a2", "b")}
    assert ids["a1"] == ids["a2"] and len(ids["a1"]) == 5
    assert not ids["a1"] & ids["b"]
    msg = {name: set(load_dataset(tmp_path / name).messages["message_id"]) for name in ("a1", "b")}
    assert not msg["a1"] & msg["b"]
    # the same member in another format and file keeps the pseudonym (same salt, same source id)
    roster = tmp_path / "roster.csv"
    roster.write_text("group,member,joined_at\n1777000001,user1000001,2025-02-01\n", encoding="utf-8")
    run_import("telegram", tmp_path / "r", tmp_path / "salt_a", roster=roster)
    assert set(load_dataset(tmp_path / "r").members["member_id"]) == ids["a1"]
    assert a1.n_members == 5


def test_salt_created_once_with_warning(tmp_path):
    salt = tmp_path / "deep" / "salt.key"
    spec = FIXTURES["csv"]
    with pytest.warns(SaltCreatedWarning, match="Keep it safe"):
        import_chats("csv", spec["inputs"], tmp_path / "o1", salt_file=salt, **spec["options"])
    first = salt.read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaltCreatedWarning)
        import_chats("csv", spec["inputs"], tmp_path / "o2", salt_file=salt, **spec["options"])
    assert salt.read_text() == first and len(first.strip()) == 64
    assert oct(salt.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_reimport_is_idempotent(fmt, tmp_path):
    salt, out = tmp_path / "salt", tmp_path / "out"
    first = run_import(fmt, out, salt)
    before = load_dataset(out)
    rejected_before = (out / "rejected.csv").read_text(encoding="utf-8")
    second = run_import(fmt, out, salt)
    after = load_dataset(out)
    pd.testing.assert_frame_equal(before.messages, after.messages)
    pd.testing.assert_frame_equal(before.members, after.members)
    assert (out / "rejected.csv").read_text(encoding="utf-8") == rejected_before
    assert second.imported == 0
    assert second.skipped.get("already_imported", 0) == first.imported
    assert second.read == second.imported + second.n_rejected + second.n_skipped


def test_reimport_with_other_salt_is_refused(tmp_path):
    run_import("csv", tmp_path / "out", tmp_path / "salt_a")
    with pytest.raises(Exception, match="another salt"):
        run_import("csv", tmp_path / "out", tmp_path / "salt_b")


def test_later_export_merges_into_earlier_import(tmp_path):
    first, second = FIXTURES["wechatmsg"]["inputs"]
    salt, out = tmp_path / "salt", tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_chats("wechatmsg", [first], out, salt_file=salt)
        report = import_chats("wechatmsg", [second], out, salt_file=salt)
    both = run_import("wechatmsg", tmp_path / "both", salt)
    merged, together = load_dataset(out), load_dataset(tmp_path / "both")
    assert report.skipped == {"already_imported": 7} and report.imported == 4
    assert set(merged.messages["message_id"]) == set(together.messages["message_id"])
    assert len(merged.messages) == len(together.messages) == both.n_messages


def test_roster_operators_and_posts_plan(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "group,member,joined_at,left_at,role,name\n"
        "5,wxid_zs001,2025-01-10 08:00,,owner,张三\n"
        "5,wxid_silent01,2025-02-01 20:00,,member,沉默者\n"
        "5,wxid_silent02,2025-01-15 20:00,2025-02-15 09:00,member,\n", encoding="utf-8")
    plan = tmp_path / "plan.csv"
    plan.write_text("group,planned_at,content_type\n"
                    "读书会群,2025-03-01 09:00,announcement\n"      # group given by name
                    "5,2025-03-01 10:05,practical\n"
                    "5,2025-03-01 15:00,interactive\n", encoding="utf-8")
    out = tmp_path / "out"
    report = run_import("wechatmsg", out, tmp_path / "salt", roster=roster, posts_plan=plan)
    ds = load_dataset(out)
    notes = " ".join(ds.metadata["notes"])
    assert "Silent members are missing" not in notes
    assert "1 posts plan row(s) matched no operator message" in notes
    assert report.unmatched_plan == 1
    unmatched = pd.read_csv(out / "posts_plan_unmatched.csv")
    assert unmatched["plan_row"].tolist() == [3]
    posts = ds.posts.sort_values("posted_at")
    assert posts["content_type"].tolist() == ["announcement", "practical"]
    assert posts["posted_at"].tolist() == [pd.Timestamp("2025-03-01 09:01", tz="Asia/Shanghai"),
                                           pd.Timestamp("2025-03-01 10:00", tz="Asia/Shanghai")]
    assert posts["message_id"].isin(ds.messages["message_id"]).all()
    owner = ds.members.loc[ds.members["role"] == "owner"]
    assert len(owner) == 1 and owner["joined_at_source"].iloc[0] == "roster"
    assert owner["joined_at"].iloc[0] == pd.Timestamp("2025-01-10 08:00", tz="Asia/Shanghai")
    assert len(ds.members) == 7  # 5 from the export + 2 silent
    assert ds.members["left_at"].notna().sum() == 2
    assert "沉默者" not in output_text(out)
    # the operators list marks operators without a roster
    ops = tmp_path / "ops.txt"
    ops.write_text("# operators\nuser1000001\n", encoding="utf-8")
    run_import("telegram", tmp_path / "tg", tmp_path / "salt", operators=ops)
    tg = load_dataset(tmp_path / "tg")
    assert tg.operators.shape[0] == 1
    assert tg.operator_mask(tg.messages).sum() == 3  # messages 102, 109 (pin) and 119


def test_bad_roster_is_reported(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("group,member,joined_at,role\n5,wxid_a,yesterday,boss\n", encoding="utf-8")
    with pytest.raises(Exception, match="joined_at") as err:
        run_import("wechatmsg", tmp_path / "out", tmp_path / "salt", roster=roster)
    assert "role must be owner, admin or member" in str(err.value)
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "messages.parquet").exists()


def test_simulated_export_round_trip(tmp_path, small_sim):
    from importers_helpers import write_wechatmsg_export

    ds, _ = small_sim
    expected = write_wechatmsg_export(ds, tmp_path / "export")
    files = sorted((tmp_path / "export").glob("group_*.csv"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = import_chats("wechatmsg", files, tmp_path / "out", salt_file=tmp_path / "salt",
                              roster=tmp_path / "export" / "roster.csv",
                              posts_plan=tmp_path / "export" / "posts_plan.csv")
    imported = load_dataset(tmp_path / "out")
    assert report.read == report.imported == expected["n_messages"]
    assert len(imported.messages) == expected["n_messages"]
    assert len(imported.members) == expected["n_members"]
    assert imported.messages["reply_to"].notna().sum() == expected["n_replies"]
    assert report.n_posts >= 0.95 * expected["n_posts"]
    original = ds.messages.loc[ds.messages["msg_type"] != "system"]
    plain = original.loc[(original["msg_type"] == "text") & original["reply_to"].isna()]
    # the writer puts n_mentions "@m<i>\u2005" (4 characters each) before text_len characters
    expected_len = plain["text_len"].fillna(0).sum() + 4 * plain["n_mentions"].fillna(0).sum()
    assert imported.messages.loc[imported.messages["source_type"] == "1", "text_len"].sum() == expected_len
    plain_imported = imported.messages.loc[imported.messages["source_type"] == "1"]
    assert plain_imported["n_mentions"].sum() == plain["n_mentions"].fillna(0).sum()
    assert imported.members["role"].value_counts().to_dict() == ds.members["role"].value_counts().to_dict()
