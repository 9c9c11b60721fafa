"""Fuzzing: any input imports or is rejected with a documented reason, never a crash."""
from __future__ import annotations

import csv
import io
import json
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupstats.errors import GroupstatsError
from groupstats.data.importers import RejectReason, SkipReason, import_chats, parse_inputs

REJECT_CODES = {r.code for r in RejectReason}
SKIP_CODES = {r.code for r in SkipReason}
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
names = st.sampled_from(["张三", "李四", "wxid_a", "wxid_b", "", "Anna", "+49 1", "You"])
times = st.one_of(st.integers(-10**13, 10**13), st.sampled_from(["", "abc", "2025-03-01 09:00:00", "1e400",
                                                                  "nan", "1740790800", "1740790800123"]))


def _accounted(parsed) -> None:
    """Every row read is in exactly one outcome, and every reason is documented."""
    assert set(parsed.rejected["reason"]) <= REJECT_CODES
    assert set(parsed.skipped["reason"]) <= SKIP_CODES
    rows = pd.concat([parsed.messages[["source_file", "source_row"]], parsed.events[["source_file", "source_row"]],
                      parsed.rejected[["source_file", "source_row"]], parsed.skipped[["source_file", "source_row"]]])
    per_file = rows.drop_duplicates().groupby("source_file").size().to_dict()
    assert per_file == {k: v for k, v in parsed.read.items() if v}


def _run(fmt: str, name: str, content: bytes, **options) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            parsed = parse_inputs(fmt, [path], "Asia/Shanghai", **options)
        except GroupstatsError as exc:  # a clear, deliberate error about the whole file
            assert str(exc)
            return
        _accounted(parsed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                report = import_chats(fmt, [path], Path(folder) / "out", salt_file=Path(folder) / "salt",
                                      **options)
            except GroupstatsError as exc:
                assert "No message could be imported" in str(exc) or "not" in str(exc)
                return
        assert report.read == report.imported + report.n_rejected + report.n_skipped


wechat_rows = st.lists(st.tuples(
    st.sampled_from(["1", "3", "49", "10000", "10002", "9999", "x", ""]),
    st.sampled_from(["0", "57", "4", "2001", "", "5"]),
    times, st.one_of(texts, st.sampled_from(['"张三"邀请"李四"加入了群聊', '"李四"通过扫描"张三"分享的二维码加入群聊',
                                              '"张三"将"李四"移出了群聊', '"李四" 撤回了一条消息', "你撤回了一条消息",
                                              '"张三" 拍了拍 "李四"', "<msg><appmsg><title>t</title><refermsg>"
                                              "<chatusr>wxid_a</chatusr><createtime>1740790800</createtime>"
                                              "</refermsg></appmsg></msg>", "<sysmsg type=\"pat\"><b"])),
    names, names, st.booleans()), max_size=12)


@FUZZ
@given(rows=wechat_rows)
def test_fuzz_wechatmsg(rows):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent",
                     "StrTime", "Remark", "NickName", "Sender"])
    for i, (typ, sub, when, content, name, sender, short) in enumerate(rows):
        row = [i, 5, typ, sub, 0, when, 2, content, "", name, name, sender]
        writer.writerow(row[:7] if short else row)
    _run("wechatmsg", "chat.csv", buf.getvalue().encode("utf-8-sig"))


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13), texts),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
wecom_records = st.fixed_dictionaries({}, optional={
    "msgid": st.one_of(texts, st.integers()), "action": st.sampled_from(["send", "recall", "switch", "x"]),
    "from": st.one_of(names, json_values), "roomid": st.sampled_from(["", "wr1", "wr2"]),
    "msgtime": times, "msgtype": st.one_of(st.sampled_from(["text", "image", "revoke", "mixed", "zzz"]),
                                           json_values),
    "text": st.one_of(st.fixed_dictionaries({"content": texts}), json_values),
    "mixed": json_values})


@FUZZ
@given(lines=st.lists(st.one_of(wecom_records.map(lambda r: json.dumps(r, ensure_ascii=False)), texts),
                      max_size=10))
def test_fuzz_wecom(lines):
    _run("wecom", "archive.jsonl", "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8"))


tg_message = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.integers(0, 50), texts, json_values), "type": st.sampled_from(["message", "service", "x"]),
    "date_unixtime": times, "date": st.sampled_from(["2025-03-01T09:00:00", "bad"]),
    "from": names, "from_id": st.sampled_from(["user1", "user2", "", None]),
    "actor": names, "actor_id": st.sampled_from(["user1", "user3", None]),
    "action": st.sampled_from(["invite_members", "remove_members", "join_group_by_link", "create_group",
                               "pin_message", "zzz"]),
    "members": st.one_of(st.lists(names, max_size=3), json_values),
    "reply_to_message_id": st.one_of(st.integers(0, 50), json_values),
    "media_type": st.one_of(st.sampled_from(["sticker", "voice_message", "weird"]), json_values),
    "text": st.one_of(texts, st.lists(st.one_of(texts, st.fixed_dictionaries(
        {"type": st.sampled_from(["mention", "plain"]), "text": texts})), max_size=3), json_values)})
tg_chat = st.fixed_dictionaries({"type": st.sampled_from(["private_supergroup", "personal_chat", "public_channel"]),
                                 "id": st.one_of(st.integers(1, 5), texts, json_values),
                                 "messages": st.one_of(st.lists(st.one_of(tg_message, json_values), max_size=6),
                                                       json_values)})


@FUZZ
@given(data=st.one_of(tg_chat, st.fixed_dictionaries({"chats": st.fixed_dictionaries(
    {"list": st.lists(st.one_of(tg_chat, json_values), max_size=3)})}), json_values))
def test_fuzz_telegram(data):
    _run("telegram", "result.json", json.dumps(data, ensure_ascii=False).encode("utf-8"))


wa_header = st.tuples(st.integers(0, 35), st.integers(0, 35), st.sampled_from(["19", "2019", "16"]),
                      st.integers(0, 25), st.integers(0, 59), st.sampled_from(["", " AM", " PM", " p.m."]),
                      st.booleans())
wa_body = st.one_of(st.tuples(names, texts).map(lambda t: f"{t[0]}: {t[1]}"),
                    st.sampled_from(["Anna added Bob and You", "Bob left", "You removed Anna",
                                     "Anna joined using this group's invite link", "Anna hat Bob hinzugefügt",
                                     "Messages and calls are end-to-end encrypted.", "Anna changed the subject",
                                     "Anna: This message was deleted", "Bob: <Media omitted>", ": x", "odd"]),
                    texts)


def _wa_line(header, body):
    a, b, y, h, mi, ampm, ios = header
    stamp = f"{a}/{b}/{y}, {h}:{mi:02d}{ampm}"
    return f"[{stamp}] {body}" if ios else f"{stamp} - {body}"


@FUZZ
@given(lines=st.lists(st.one_of(st.tuples(wa_header, wa_body).map(lambda t: _wa_line(*t)), texts), max_size=10),
       order=st.sampled_from([None, "dmy", "mdy"]))
def test_fuzz_whatsapp(lines, order):
    _run("whatsapp", "WhatsApp Chat with Fuzz.txt", "\n".join(lines).encode("utf-8"), date_order=order)


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["g1", "g2", ""]), names, times,
                               st.sampled_from(["text", "image", "join", "leave", "文本", "", "system"]),
                               texts, st.sampled_from(["m1", "m2", "", "m3"]), st.sampled_from(["m1", "", "zz"])),
                     max_size=10))
def test_fuzz_csv(rows):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["g", "who", "when", "kind", "body", "id", "quote"])
    writer.writerows(rows)
    mapping = {"group": "g", "member": "who", "time": "when", "type": "kind", "text": "body",
               "message_id": "id", "reply_to": "quote"}
    _run("csv", "table.csv", buf.getvalue().encode("utf-8"), mapping=mapping)


named_wechat_rows = st.lists(st.tuples(
    st.sampled_from(["文本", "图片", "系统消息", "拍一拍", "引用消息", "未知类型", "新类型", "", "系统通知", "动画表情"]),
    st.one_of(st.sampled_from(["2025-03-01 09:00:00", "2024/10/4 11:42", "2025-03-01 09:00", "04/10/2024 11:42",
                               "", "x", "1740790800"]), texts),
    st.one_of(texts, st.sampled_from(['"张三"邀请"李四"加入了群聊', '"张三"将"李四"移出了群聊', "同意\n引用：张三: hi",
                                      '{"src": "", "msg": "哦吼"}', "{not json"])),
    names, st.sampled_from(["0", "1", "", "x"]), st.sampled_from(["g1@chatroom", "wxid_friend", ""]),
    st.booleans()), max_size=12)


@FUZZ
@given(rows=named_wechat_rows, layout=st.sampled_from(["memotrace", "pywxdump", "pywxdump_content"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]))
def test_fuzz_memotrace_and_pywxdump(rows, layout, encoding):
    buf = io.StringIO()
    writer = csv.writer(buf)
    header = {"memotrace": ["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"],
              "pywxdump": ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src",
                           "CreateTime"],
              "pywxdump_content": ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "content",
                                   "CreateTime"]}[layout]
    writer.writerow(header)
    for i, (typ, when, content, name, is_sender, room, short) in enumerate(rows):
        if layout == "memotrace":
            row = [i, typ, name, when, content, name, name, "more"]
        elif layout == "pywxdump":
            row = [i, i + 100, typ, is_sender, name, room, content, "", when]
        else:
            row = [i, i + 100, typ, is_sender, name, room, content, when]
        writer.writerow(row[:5] if short else row)
    try:
        content = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:  # text GBK cannot hold: the same rows as UTF-8
        content = buf.getvalue().encode("utf-8")
    _run("auto", "chat.csv", content)
    _run("wechatmsg" if layout == "memotrace" else "pywxdump", "chat.csv", content)
