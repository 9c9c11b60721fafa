"""What each report shows, in the report's language: its conclusion card, tables and figures.

One module per report. Each builds its :class:`~groupstats.reports.card.ConclusionCard` from the
numbers of an analysis result (``card(result, lang)``) and shows the evidence through a
:class:`~groupstats.reports.notebook.Page`; every visible word comes from the catalogue
(:mod:`groupstats.reports.i18n`). The notebooks call these functions and hold no text of their own.
"""
from __future__ import annotations


def headline(card, title: str) -> dict:
    """What the index shows for a report: title, verdict key and words, and the key number."""
    return {"title": title, "answer": card.answer, "verdict": card.verdict_text, "text": card.key_number}
