"""Helpers shared by the importer tests: fixture paths, imports, leak checks, a simulated WeChatMsg export."""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pandas as pd

from groupstats.data.importers import import_chats

IMPORTS = Path(__file__).resolve().parent / "data" / "imports"

#: Per format: inputs and options for the hand-written fixtures.
FIXTURES = {
    "wechatmsg": dict(inputs=sorted((IMPORTS / "wechatmsg").glob("*.csv")), options={}),
    "wecom": dict(inputs=[IMPORTS / "wecom" / "archive.jsonl"],
                  options={"member_changes": IMPORTS / "wecom" / "member_changes.csv"}),
    "telegram": dict(inputs=[IMPORTS / "telegram" / "result.json", IMPORTS / "telegram" / "single_chat.json"],
                     options={}),
    "whatsapp": dict(inputs=sorted((IMPORTS / "whatsapp").glob("*.txt")), options={"date_order": "mdy"}),
    "csv": dict(inputs=[IMPORTS / "csv" / "chat_log.csv"], options={"mapping": IMPORTS / "csv" / "mapping.yaml"}),
    "pywxdump": dict(inputs=[IMPORTS / "pywxdump" / "2233445566@chatroom_0_5000.csv"], options={}),
    # auto: a MemoTrace CSV and WhatsApp exports in ten locales in one import
    "auto": dict(inputs=[IMPORTS / "memotrace" / "统计学习群.csv", *sorted((IMPORTS / "whatsapp_locales").glob("*.txt"))],
                 options={"date_order": "mdy"}),
}

#: Raw names, source ids and texts of each fixture that must never appear without --keep-text.
SECRETS = {
    "wechatmsg": ["张三", "李四", "王五", "赵六", "孙八", "wxid_zs001", "wxid_ls002", "wxid_ww003", "wxid_zl004",
                  "wxid_qq005", "欢迎大家", "第一行", "同意", "我先走了", "春季读书清单", "讲义", "第二天早上好",
                  "撤回", "拍了拍"],
    "wecom": ["zhangwei", "wmEXTcustomer01", "wmEXTcustomer02", "lina", "各位早上好", "作业交了", "恭喜发财",
              "报名小程序", "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "不属于群"],
    "telegram": ["Olga", "Ivan Petrov", "Maria K", "Pavel S", "Lena V", "user1000001", "user2000002",
                 "Добро пожаловать", "Первый рецепт", "Кулинарный клуб", "Nobody Known", "from nobody",
                 "1777000001"],
    "whatsapp": ["Anna Schmidt", "Bernd Müller", "+49 151 23456789", "Maria Lopez", "Tom Baker", "Jin Park",
                 "Sam Green", "Priya", "Omar", "Willkommen", "Bananen", "Piranesi", "tomatoes", "Datum kaputt"],
    "csv": ["u1001", "u1002", "u1003", "大家好", "欢迎", "第二个群", "没有发送者", "时间坏了", "shop-1"],
    "pywxdump": ["wxid_zheng01", "wxid_lin02", "郑会员", "林主任", "各位晚上好", "好的，收到", "第二页见"],
    "auto": ["陈老师", "周同学", "吴同学", "欢迎两位", "统计入门", "Lucía Gómez", "Pablo Ruiz", "Иван Петров", "张伟",
             "Giulia Rossi", "Bienvenidos", "tomatoes", "Garden Club", "Club de lectura", "+34 600"],
}


def run_import(fmt: str, out: Path, salt: Path, **extra):
    spec = FIXTURES[fmt]
    options = {**spec["options"], **extra}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_chats(fmt, spec["inputs"], out, salt_file=salt, **options)


def output_text(folder: Path) -> str:
    """Everything written to ``folder`` as text: CSV/JSON verbatim, Parquet cells and column names."""
    import pyarrow.parquet as pq

    chunks = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            chunks.append(" ".join(table.column_names))
            chunks.append(table.to_pandas().astype(str).to_csv(index=False))
            chunks.append(str(table.schema.metadata))
        elif path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(chunks)


# --------------------------------------------------------------------------------------
# a simulated community written as WeChatMsg exports (for round trips and notebooks)
# --------------------------------------------------------------------------------------
TYPE_CODES = {"text": (1, 0), "image": (3, 0), "voice": (34, 0), "video": (43, 0), "sticker": (47, 0),
              "link": (49, 5), "file": (49, 6), "red_packet": (49, 2001), "mini_program": (49, 33),
              "other": (50, 0)}
HEADER = ["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime",
          "Remark", "NickName", "Sender"]


def write_wechatmsg_export(ds, folder: Path) -> dict:
    """Write a simulated dataset as WeChatMsg CSVs (one per group) + roster + posts plan.

    Times are whole seconds; quote-replies become 49/57 rows whose refermsg names
    the quoted sender and time. Returns expected counts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    msgs = ds.messages.copy()
    msgs["secs"] = (msgs["sent_at"].dt.tz_convert("UTC").astype("int64") // 10**6).astype("int64")
    # whole seconds must stay unique per sender for the quote lookup and the ids to be exact
    msgs = msgs.sort_values(["group_id", "member_id", "secs"]).reset_index(drop=True)
    bump = msgs.groupby(["group_id", "member_id", "secs"]).cumcount()
    msgs["secs"] = msgs["secs"] + bump
    msgs = msgs.loc[msgs["msg_type"] != "system"]
    by_id = msgs.set_index("message_id")[["member_id", "secs"]]
    n_reply = 0
    for gi, (group, sub) in enumerate(msgs.groupby("group_id")):
        rows = []
        for lid, rec in enumerate(sub.sample(frac=1.0, random_state=gi).itertuples(), start=1):
            typ, subtype = TYPE_CODES[rec.msg_type]
            text_len = 0 if pd.isna(rec.text_len) else int(rec.text_len)
            mentions = 0 if pd.isna(rec.n_mentions) else int(rec.n_mentions)
            content = ""
            if rec.msg_type == "text":
                content = "".join(f"@m{i}\u2005" for i in range(mentions)) + "字" * max(text_len, 0)
            reply = rec.reply_to if isinstance(rec.reply_to, str) and rec.reply_to in by_id.index else None
            if reply is not None:
                typ, subtype = 49, 57
                quoted = by_id.loc[reply]
                content = (f"<msg><appmsg><title>{'回' * max(text_len, 1)}</title><type>57</type><refermsg>"
                           f"<chatusr>wxid_{quoted['member_id']}</chatusr><createtime>{int(quoted['secs'])}"
                           f"</createtime></refermsg></appmsg></msg>")
                n_reply += 1
            name = f"昵称{rec.member_id}"
            rows.append([lid, gi + 1, typ, subtype, 0, int(rec.secs), 2, content, "", name, name,
                         f"wxid_{rec.member_id}"])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
        (folder / f"group_{gi + 1}.csv").write_text(buf.getvalue(), encoding="utf-8-sig")
    talker = {g: str(i + 1) for i, g in enumerate(sorted(msgs["group_id"].unique()))}
    members = ds.members.loc[ds.members["group_id"].isin(talker)]
    roster = pd.DataFrame({"group": members["group_id"].map(talker), "member": "wxid_" + members["member_id"],
                           "joined_at": members["joined_at"].map(lambda t: t.isoformat()),
                           "left_at": members["left_at"].map(lambda t: "" if pd.isna(t) else t.isoformat()),
                           "role": members["role"]})
    roster.to_csv(folder / "roster.csv", index=False)
    plan = None
    if ds.posts is not None:
        posts = ds.posts.loc[ds.posts["message_id"].isin(msgs["message_id"])]
        plan = pd.DataFrame({"group": posts["group_id"].map(talker),
                             "planned_at": (posts["posted_at"] - pd.Timedelta(minutes=3)).map(
                                 lambda t: t.isoformat()),
                             "content_type": posts["content_type"]})
        plan.to_csv(folder / "posts_plan.csv", index=False)
    return {"n_messages": len(msgs), "n_members": len(members), "n_replies": n_reply,
            "n_posts": 0 if plan is None else len(plan)}
