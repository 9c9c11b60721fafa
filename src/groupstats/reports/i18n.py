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
