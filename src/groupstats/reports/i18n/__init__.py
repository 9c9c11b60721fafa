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

from groupstats.checks import finite_number as _finite

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

from groupstats.reports.i18n import (catalogue_audit, catalogue_core, catalogue_experiments,  # noqa: E402
                                     catalogue_members, catalogue_monitor, catalogue_results)

#: key -> {lang: text}. Keys are dotted by area: ``verdict.*``, ``card.*``, ``unit.*``,
#: ``col.*`` (table headers), ``fig.*`` (figure titles / axes), and one prefix per report or result.
#: The entries live in one module per area (``catalogue_*.py``); analysis modules add none.
CATALOGUE: dict[str, dict[str, str]] = {}
for _area in (catalogue_core, catalogue_experiments, catalogue_members, catalogue_audit, catalogue_monitor,
              catalogue_results):
    _overlap = set(CATALOGUE) & set(_area.ENTRIES)
    assert not _overlap, f"catalogue keys defined twice: {sorted(_overlap)}"
    CATALOGUE.update(_area.ENTRIES)


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
    """Add catalogue entries at run time (e.g. a user's own report); every entry needs every language.

    groupstats' own texts are written in the ``catalogue_*`` modules, not registered.
    """
    for key, texts in entries.items():
        missing = [lang for lang in LANGS if lang not in texts]
        if missing:
            raise ValueError(f"catalogue entry {key!r} lacks {missing}")
        CATALOGUE[key] = texts


def fmt_num(x: Any, lang: str | None = None, digits: int = 3, signed: bool = False) -> str:
    """A number for people: thousands separators, at most ``digits`` significant decimals.

    ``signed`` writes '+' before positive numbers and shows an infinite interval end as
    "unbounded" (without it an infinity, like NaN, shows as '–').
    """
    if signed:
        try:
            if math.isinf(float(x)):
                return ("-" if float(x) < 0 else "+") + t("word.unbounded", lang)
        except (TypeError, ValueError):
            pass
    if not _finite(x):
        return "–"
    x = float(x)
    sign = "+" if signed and x > 0 else ""
    if x == int(x) and abs(x) < 1e15:
        return f"{sign}{int(x):,}"
    magnitude = math.floor(math.log10(abs(x))) if x != 0 else 0
    decimals = max(0, digits - 1 - magnitude)
    return f"{sign}{x:,.{min(decimals, digits)}f}"


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


def arm_name(arm: Any, lang: str | None = None) -> str:
    """An experiment arm in the language: a slot ('evening' -> '晚间'), the control arm, a preset mix
    by its shares ('干货 30%, 轻互动 50%, 生活化 20%'); any other arm id stays as it is."""
    text = str(arm)
    if f"slot.{text}" in CATALOGUE:
        return t(f"slot.{text}", lang)
    if text == "control":
        return t("word.control", lang)
    try:
        from groupstats.analyses.content_mix import mix_presets

        preset = mix_presets().get(text)
    except Exception:  # pragma: no cover - presets unreadable: the id as it is
        preset = None
    return mix_text(preset.shares, lang) if preset is not None else text


def note_text(note: str, lang: str | None = None) -> str:
    """An analysis's note (an English caveat written where it arises) in ``lang``.

    The catalogue's ``note.*`` entries are the notes' templates: a note that matches an entry's
    English text (its ``{placeholders}`` matching any text) is rewritten with the entry's text in
    ``lang``; a note no entry matches is shown as it is.
    """
    import re

    lang = check_lang(lang)
    if lang == "en":
        return note
    for key, texts in CATALOGUE.items():
        if not key.startswith("note.") and key not in NOTE_SENTENCES:
            continue
        pattern = _NOTE_PATTERNS.get(key)
        if pattern is None:
            parts = re.split(r"\{(\w+)\}", texts["en"])
            regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
            pattern = _NOTE_PATTERNS[key] = re.compile(regex + "$", re.S)
        m = pattern.match(note)
        if m:  # a captured word the catalogue knows (``word.<text>``) is translated too
            values = {k: t(f"word.{v}", lang) if f"word.{v}" in CATALOGUE else
                      t(f"metric.{v}", lang) if k == "metric" and f"metric.{v}" in CATALOGUE else v
                      for k, v in m.groupdict().items()}
            if "types" in values:  # a list of content types
                values["types"] = join([content_type_name(x.strip(), lang) for x in values["types"].split(",")], lang)
            return texts[lang].format(**values)
    return note


_NOTE_PATTERNS: dict = {}
#: catalogue sentences that analyses also pass on as notes (besides the ``note.*`` entries)
NOTE_SENTENCES = ("bayes.readout",)


#: the content types of the data model's examples (free labels: any other label stays as it is)
CONTENT_TYPE_NAMES = {
    "practical": ("干货", "practical"), "interactive": ("轻互动", "interactive"),
    "lifestyle": ("生活化", "lifestyle"), "announcement": ("公告", "announcement"),
    "ugc": ("用户原创", "UGC"), "emotional": ("情感", "emotional"), "marketing": ("营销", "marketing"),
    "activity": ("活动通知", "activity notices"), "other": ("其他", "other"),
}


def content_type_name(label: str, lang: str | None = None) -> str:
    """A content type in the language ('practical' -> '干货'); unknown labels stay as they are."""
    names = CONTENT_TYPE_NAMES.get(str(label))
    return str(label) if names is None else names[0 if check_lang(lang) == "zh" else 1]


def mix_text(shares, lang: str | None = None) -> str:
    """A content mix as 'type percent' pairs in the language, e.g. '干货 30%, 轻互动 50%'."""
    return ", ".join(f"{content_type_name(c, lang)} {100 * float(v):g}%" for c, v in dict(shares).items())


def english_words(min_length: int = 4) -> set[str]:
    """Every English word of the catalogue (lower case, at least ``min_length`` letters).

    A Chinese page's visible text must contain none of them (tests check this). Names that the
    Chinese texts use as well (ROC, Brier, Holm, groupstats, ...) are left out.
    """
    import re

    def found(lang: str) -> set[str]:
        out: set[str] = set()
        for texts in CATALOGUE.values():
            text = re.sub(r"\{[^}]*\}", " ", texts[lang])
            out.update(w.lower() for w in re.findall(r"[A-Za-z]+", text) if len(w) >= min_length)
        return out

    return found("en") - found("zh")


def fmt_p_eq(p: Any) -> str:
    """A p-value after 'p': '< 0.001' or '= 0.032' (so a sentence reads 'p < 0.001', 'p = 0.032')."""
    text = fmt_p(p)
    return text if text.startswith("<") or text == "–" else f"= {text}"


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


