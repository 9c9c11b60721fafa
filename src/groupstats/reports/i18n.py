"""One message catalogue for everything a reader sees, in Chinese (``zh``, default) and English.

Every user-facing string of reports, notebooks, result text and the CLI's plain output is
looked up here with :func:`t`; nothing a reader sees is spelled out in a notebook. Number
formatting follows the language (:func:`fmt_pct`, :func:`fmt_num`, :func:`fmt_p`,
:func:`fmt_interval`).

>>> t("verdict.supported", "zh"), t("verdict.supported", "en")
('成立', 'supported')
>>> fmt_pct(0.3612, "zh"), fmt_p(0.0004)
('36.1%', '< 0.001')
"""
from __future__ import annotations

import math
from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

#: key -> {lang: text}. Keys are dotted by area: ``verdict.*``, ``card.*``, ``unit.*``,
#: ``col.*`` (table headers), ``fig.*`` (figure titles / axes), and one prefix per report.
CATALOGUE: dict[str, dict[str, str]] = {
    # conclusion card
    "card.title": {"zh": "结论", "en": "Conclusion"},
    "card.question": {"zh": "问题", "en": "Question"},
    "card.answer": {"zh": "回答", "en": "Answer"},
    "card.key_number": {"zh": "关键数字", "en": "Key number"},
    "card.next_step": {"zh": "下一步", "en": "What to do next"},
    "card.caveat": {"zh": "注意", "en": "Caveat"},
    # verdicts (the audit's and every card's answer)
    "verdict.supported": {"zh": "成立", "en": "supported"},
    "verdict.contradicted": {"zh": "不成立", "en": "contradicted"},
    "verdict.not_shown": {"zh": "未能证明", "en": "not shown"},
    "verdict.not_testable": {"zh": "无法检验", "en": "not testable"},
    "verdict.needs_more_data": {"zh": "需要更多数据", "en": "needs more data"},
    # units and small words
    "unit.percent": {"zh": "%", "en": "%"},
    "unit.days": {"zh": "天", "en": "days"},
    "unit.weeks": {"zh": "周", "en": "weeks"},
    "unit.groups": {"zh": "个群", "en": "groups"},
    "unit.members": {"zh": "位成员", "en": "members"},
    "unit.replies_per_post": {"zh": "每帖回复数", "en": "replies per post"},
    "word.ci95": {"zh": "95% 区间", "en": "95% interval"},
    "word.unbounded": {"zh": "无上界", "en": "unbounded"},
    "word.yes": {"zh": "是", "en": "yes"},
    "word.no": {"zh": "否", "en": "no"},
    "word.others": {"zh": "其他", "en": "others"},
    "word.none": {"zh": "无", "en": "none"},
    "word.list_sep": {"zh": "、", "en": ", "},
    # health status words
    "status.ok": {"zh": "正常", "en": "ok"},
    "status.warning": {"zh": "预警", "en": "warning"},
    "status.alert": {"zh": "警报", "en": "alert"},
    # metric names (tables, axes, legends)
    "metric.messages_per_day": {"zh": "日均发言数", "en": "messages per day"},
    "metric.messages_per_member_day": {"zh": "人均日发言数", "en": "messages per member and day"},
    "metric.read_rate": {"zh": "阅读率", "en": "read rate"},
    "metric.exit_rate_30d": {"zh": "30 天退群率", "en": "30-day exit rate"},
    "metric.silent_share": {"zh": "沉默成员占比", "en": "share of members silent"},
    "metric.complaint_rate": {"zh": "投诉率", "en": "complaint rate"},
    "metric.max_daily_complaints": {"zh": "单日最多投诉数", "en": "most complaints in a day"},
    "metric.active_share": {"zh": "活跃成员占比", "en": "share of members active"},
    "metric.replies": {"zh": "每帖回复数", "en": "replies per post"},
    "metric.responders": {"zh": "每帖回应人数", "en": "responders per post"},
    "metric.responses": {"zh": "每帖后的成员消息数", "en": "member messages after a post"},
    "metric.incremental_responses": {"zh": "每帖新增成员消息数", "en": "extra member messages after a post"},
    "metric.click_rate": {"zh": "点击率", "en": "click rate"},
    "metric.messages_per_member_day_mix": {"zh": "人均日发言数", "en": "messages per member and day"},
    # slot names
    "slot.morning": {"zh": "早间", "en": "morning"},
    "slot.noon": {"zh": "午间", "en": "noon"},
    "slot.evening": {"zh": "晚间", "en": "evening"},
    "slot.night": {"zh": "夜间", "en": "night"},
    "slot.afternoon": {"zh": "下午", "en": "afternoon"},
    # report header (inserted by the runner)
    "header.report": {"zh": "报告", "en": "Report"},
    "header.dataset": {"zh": "数据集", "en": "Dataset"},
    "header.date_range": {"zh": "数据时间范围", "en": "Date range"},
    "header.range": {"zh": "{start} 至 {end}({tz}),共 {n} 条消息",
                     "en": "{start} to {end} ({tz}), {n} messages"},
    "header.unavailable": {"zh": "无法读取({error})", "en": "unavailable ({error})"},
    "header.parameters": {"zh": "参数(本次实际使用的值)", "en": "Parameters (values used)"},
    "header.version": {"zh": "groupstats 版本", "en": "groupstats version"},
    "header.kernel": {"zh": "内核", "en": "Kernel"},
    "header.run": {"zh": "运行", "en": "Run"},
    "header.run_value": {"zh": "{when},用时 {seconds} 秒", "en": "{when}, {seconds} s"},
    "header.status": {"zh": "状态", "en": "Status"},
    "header.ok": {"zh": "完成", "en": "ok"},
    "header.failed": {"zh": "失败", "en": "FAILED"},
    "header.about": {"zh": "关于本报告", "en": "About this report"},
    "header.did_not_finish": {"zh": "本报告未能完成:在 {where} 处出错(错误见下方执行停止处):",
                              "en": "This report did not finish. It failed at {where} (the error is shown below, "
                                    "where execution stopped):"},
    "header.failing_cell": {"zh": "出错的单元:", "en": "The failing cell:"},
    # index page
    "index.title": {"zh": "groupstats 报告", "en": "groupstats reports"},
    "index.datasets": {"zh": "数据集", "en": "Dataset(s)"},
    "index.all_ok": {"zh": "全部 {n} 份报告运行完成。", "en": "All {n} reports ran."},
    "index.some_failed": {"zh": "{bad} / {n} 份报告失败;其页面显示出错的单元和错误。",
                          "en": "{bad} of {n} reports FAILED; their pages show the failing cell and error."},
    "index.report": {"zh": "报告", "en": "Report"},
    "index.headline": {"zh": "结论", "en": "Headline"},
    "index.verdict": {"zh": "判断", "en": "Verdict"},
    "index.details": {"zh": "参数与运行", "en": "Parameters and run"},
    "index.notebook": {"zh": "已执行的 notebook", "en": "Executed notebook"},
    "index.generated": {"zh": "生成于 {when}", "en": "generated {when}"},
    "index.total": {"zh": "总用时 {seconds} 秒", "en": "total {seconds} s"},
    "index.started": {"zh": "开始于 {when}", "en": "started {when}"},
    "index.runtime": {"zh": "用时 {seconds} 秒", "en": "{seconds} s"},
    "index.messages": {"zh": "{n} 条消息", "en": "{n} messages"},
    "index.failed": {"zh": "失败", "en": "FAILED"},
    "index.defaults": {"zh": "(默认值)", "en": "(defaults)"},
}


def check_lang(lang: str | None) -> str:
    """Return ``lang`` if it is a supported language (``None`` -> the default), else raise."""
    if lang is None:
        return DEFAULT_LANG
    if lang not in LANGS:
        from groupstats.errors import ParameterError

        raise ParameterError(f"lang must be one of {', '.join(LANGS)} (got {lang!r}).")
    return lang


def t(key: str, lang: str | None = None, **values: Any) -> str:
    """The catalogue text of ``key`` in ``lang``, formatted with ``values`` (``str.format``).

    A missing key raises ``KeyError`` so that no English text slips into a Chinese page.
    """
    lang = check_lang(lang)
    text = CATALOGUE[key][lang]
    return text.format(**values) if values else text


def register(entries: dict[str, dict[str, str]]) -> None:
    """Add catalogue entries (one dict per report module); every entry needs every language."""
    for key, texts in entries.items():
        missing = [lang for lang in LANGS if lang not in texts]
        if missing:
            raise ValueError(f"catalogue entry {key!r} lacks {missing}")
        CATALOGUE[key] = texts


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, lang: str | None = None, digits: int = 3) -> str:
    """A number for people: thousands separators, at most ``digits`` significant decimals."""
    if not _finite(x):
        return "–"
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    magnitude = math.floor(math.log10(abs(x))) if x != 0 else 0
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{min(decimals, digits)}f}"


def fmt_pct(x: Any, lang: str | None = None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: 0.3612 -> '36.1%' (``signed`` -> '+36.1%')."""
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isinf(v):
        return t("word.unbounded", lang)
    if math.isnan(v):
        return "–"
    return f"{100 * v:{'+' if signed else ''}.{digits}f}%"


def fmt_date(ts: Any, tz: str | None = None, lang: str | None = None, time: bool = False) -> str:
    """A date (``2026-05-04``; with ``time`` ``2026-05-04 18:30``) in the time zone ``tz``.

    ``tz`` is the dataset's zone; a naive timestamp is taken to be in it already.
    """
    import pandas as pd

    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return "–"
    ts = pd.Timestamp(ts)
    if tz is not None:
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    return f"{ts:%Y-%m-%d %H:%M}" if time else f"{ts:%Y-%m-%d}"


def join(items, lang: str | None = None) -> str:
    """Items joined by the language's list separator ('、' in Chinese, ', ' in English)."""
    return t("word.list_sep", lang).join(str(i) for i in items)


def slot_name(arm: str, lang: str | None = None) -> str:
    """A slot arm in the language ('evening' -> '晚间'); other arm ids stay as they are."""
    key = f"slot.{arm}"
    return t(key, lang) if key in CATALOGUE else str(arm)


def english_words(min_length: int = 4) -> set[str]:
    """Every English word of the catalogue (lower case, at least ``min_length`` letters).

    A Chinese page's visible text must contain none of them (tests check this).
    """
    import re

    words: set[str] = set()
    for texts in CATALOGUE.values():
        text = re.sub(r"\{[^}]*\}", " ", texts["en"])
        words.update(w.lower() for w in re.findall(r"[A-Za-z]+", text) if len(w) >= min_length)
    return words


def fmt_p(p: Any) -> str:
    """A p-value: '< 0.001', or three decimals ('0.032')."""
    if not _finite(p):
        return "–"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_interval(low: Any, high: Any, lang: str | None = None, pct: bool = True, signed: bool = True) -> str:
    """'25.0%–47.0%' (an infinite end shows as unbounded, never as NaN)."""
    f = (lambda v: fmt_pct(v, lang, signed=signed)) if pct else (lambda v: fmt_num(v, lang))
    return f"{f(low)}–{f(high)}"
