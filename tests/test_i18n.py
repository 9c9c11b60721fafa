"""The message catalogue, number formats, tables for people, the conclusion card, the CJK font.

No notebook runs here (see tests/test_notebooks.py for the executed reports).
"""
from __future__ import annotations

import base64
import io
import re
import warnings

import pandas as pd
import pytest

from groupstats.errors import ParameterError
from groupstats.reports.card import ANSWERS, ConclusionCard
from groupstats.reports.i18n import (CATALOGUE, LANGS, english_words, fmt_date, fmt_interval, fmt_num, fmt_p,
                                     fmt_pct, register, slot_name, t)
from groupstats.reports.tables import people_table


def test_every_entry_has_every_language_and_placeholders_agree():
    for key, texts in CATALOGUE.items():
        assert set(LANGS) <= set(texts), key
        fields = {lang: sorted(set(re.findall(r"\{(\w+)\}", texts[lang]))) for lang in LANGS}
        assert fields["zh"] == fields["en"], f"{key}: placeholders differ {fields}"
        assert texts["zh"].strip() and texts["en"].strip(), key


def test_chinese_texts_hold_no_english_words_of_the_catalogue():
    words = english_words()
    assert "conclusion" in words and "supported" in words       # the list is not empty by accident
    bad = {}
    for key, texts in CATALOGUE.items():
        found = {w.lower() for w in re.findall(r"[A-Za-z]+", re.sub(r"\{[^}]*\}", " ", texts["zh"]))} & words
        if found:
            bad[key] = found
    assert bad == {}


def test_lookup_and_unknown_language():
    assert t("card.title", "zh") == "结论" and t("card.title", "en") == "Conclusion"
    assert t("card.title") == "结论"                                   # zh is the default
    with pytest.raises(ParameterError, match="lang must be one of"):
        t("card.title", "fr")
    with pytest.raises(KeyError):
        t("no.such.key", "en")
    with pytest.raises(ValueError, match="lacks"):
        register({"x.y": {"zh": "只有中文"}})
    assert slot_name("evening", "zh") == "晚间" and slot_name("g01", "zh") == "g01"


@pytest.mark.parametrize("value, text", [(0.717, "71.7%"), (0.3612, "36.1%"), (0.0, "0.0%"), (1.5, "150.0%")])
def test_fmt_pct(value, text):
    assert fmt_pct(value, "zh") == text == fmt_pct(value, "en")


def test_number_formats():
    assert fmt_num(1234567) == "1,234,567"
    assert fmt_num(1.920675) == "1.92" and fmt_num(0.123456) == "0.123" and fmt_num(12.3456) == "12.3"
    assert fmt_num(float("nan")) == "–"
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.03214) == "0.032" and fmt_p(0.5) == "0.500"
    assert fmt_pct(0.36, signed=True) == "+36.0%" and fmt_pct(-0.05, signed=True) == "-5.0%"
    assert fmt_interval(0.25, float("inf"), "zh") == "+25.0%–无上界"
    # dates in the dataset's zone: 20:00 UTC on 3 May is 4 May in Shanghai
    assert fmt_date(pd.Timestamp("2026-05-03 20:00", tz="UTC"), "Asia/Shanghai") == "2026-05-04"
    assert fmt_date(pd.Timestamp("2026-05-03 20:00", tz="UTC"), "UTC") == "2026-05-03"


def test_people_table_formats_values_and_translates_headers():
    frame = pd.DataFrame({"group_id": ["g01", "g02"], "share": [0.717, 0.05], "p": [0.0001, 0.0321],
                          "n": [12345, 7], "status": ["alert", "ok"]}, index=[5, 9])
    cols = [("group_id", "col.group", "text"), ("share", "col.share", "pct"), ("p", "ab.col.p_adjusted", "p"),
            ("n", "col.n", "int"), ("status", "col.status", "status")]
    zh = people_table(frame, cols, "zh")
    assert "<th>群</th>" in zh and "<th>占比</th>" in zh and "<th>状态</th>" in zh
    assert "71.7%" in zh and "5.0%" in zh and "&lt; 0.001" in zh and "0.032" in zh and "12,345" in zh
    assert "警报" in zh and "正常" in zh and "alert" not in zh
    assert ">5<" not in zh and ">9<" not in zh                      # no positional index
    assert 'class="gs-table-wrap"' in zh                            # scrolls inside its box when wide
    en = people_table(frame, cols, "en")
    assert "<th>Group</th>" in en and ">alert<" in en


@pytest.mark.parametrize("answer", ANSWERS)
def test_conclusion_card_renders_in_both_languages(answer):
    zh = ConclusionCard(question="问题?", answer=answer, key_number="多 36%", next_step="做", caveat="注意", lang="zh")
    en = ConclusionCard(question="Q?", answer=answer, key_number="36% more", lang="en")
    assert zh.to_html().startswith('<div class="gs-conclusion"') and "<h2>结论" in zh.to_html()
    assert t(f"verdict.{answer}", "zh") in zh.to_html() and t(f"verdict.{answer}", "en") in en.to_html()
    assert "Conclusion" in en.to_html() and "Caveat" not in en.to_html()   # empty fields are left out
    assert str(zh).splitlines()[0] == "结论"
    with pytest.raises(ValueError):
        ConclusionCard(question="q", answer="maybe")


def test_chinese_figure_renders_without_missing_glyphs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from groupstats.reports.notebook import CJK_FAMILY, cjk_font_path, setup_plots

    assert cjk_font_path() is not None, "the CJK font of the mplfonts dependency is missing"
    setup_plots("zh")
    assert matplotlib.rcParams["font.sans-serif"][0] == CJK_FAMILY
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], label="宝妈交流群-01")
    ax.set_title("晚间(19–21 点)发帖的回复数比早间多 36%")
    ax.set_xlabel("已沉默天数")
    ax.legend(title="群名")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    glyph = [str(w.message) for w in caught if "glyph" in str(w.message).lower() or "missing from" in str(w.message)]
    assert glyph == []
    # the same figure with only DejaVu Sans does warn: the check can fail
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    try:
        fig, ax = plt.subplots()
        ax.set_title("晚间发帖")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
        assert any("missing from" in str(w.message) for w in caught)
    finally:
        setup_plots("zh")


def test_pages_embed_the_cjk_characters_they_use():
    from fontTools.ttLib import TTFont

    from groupstats.reports.webfont import embed_cjk_font

    page = "<html><head><title>x</title></head><body><h1>结论</h1><p>晚间 36%</p></body></html>"
    out = embed_cjk_font(page)
    m = re.search(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", out)
    assert m and out.index("@font-face") < out.index("</head>")
    font = TTFont(io.BytesIO(base64.b64decode(m.group(1))))
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "结论晚间")
    assert ord("流") not in cmap                                    # a subset, not the whole font
    assert embed_cjk_font("<html><head></head><body>only ASCII</body></html>").count("@font-face") == 0
