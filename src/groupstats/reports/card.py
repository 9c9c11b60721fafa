"""The conclusion card every report, notebook and result opens with.

A :class:`ConclusionCard` holds the answer to one question in plain words, in the report's
language: the question, the verdict, the key number with its interval in a sentence, what to
do next and the caveat that matters. It renders as HTML in notebooks and reports
(``_repr_html_``), as text (``str``) and as a dict (``to_dict``) for ``--json``.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass

from groupstats.reports.i18n import check_lang, t

ANSWERS = ("supported", "contradicted", "not_shown", "not_testable", "needs_more_data")
_BADGE = {"supported": "#1a7f37", "contradicted": "#cf222e", "not_shown": "#9a6700",
          "not_testable": "#57606a", "needs_more_data": "#0969da"}


@dataclass
class ConclusionCard:
    """The conclusion of one analysis.

    Attributes:
        question: the question, in plain words.
        answer: one of ``supported``, ``contradicted``, ``not_shown``, ``not_testable``,
            ``needs_more_data``.
        key_number: the key number with its interval, in a sentence.
        next_step: what to do next.
        caveat: the caveat that matters (e.g. the smallest effect the data could detect).
        lang: ``zh`` (default) or ``en``; the other fields are already in this language.
    """

    question: str
    answer: str
    key_number: str = ""
    next_step: str = ""
    caveat: str = ""
    lang: str = "zh"

    def __post_init__(self) -> None:
        self.lang = check_lang(self.lang)
        if self.answer not in ANSWERS:
            raise ValueError(f"answer must be one of {ANSWERS} (got {self.answer!r})")

    @property
    def verdict_text(self) -> str:
        return t(f"verdict.{self.answer}", self.lang)

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict_text": self.verdict_text}

    def _rows(self) -> list[tuple[str, str]]:
        rows = [("card.question", self.question), ("card.answer", self.verdict_text),
                ("card.key_number", self.key_number), ("card.next_step", self.next_step),
                ("card.caveat", self.caveat)]
        return [(t(key, self.lang), value) for key, value in rows if value]

    def __str__(self) -> str:
        lines = [t("card.title", self.lang)]
        lines += [f"{label}: {value}" for label, value in self._rows()]
        return "\n".join(lines)

    def to_html(self) -> str:
        colour = _BADGE[self.answer]
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in self._rows())
        badge = (f'<span class="gs-badge" style="background:{colour}">{html.escape(self.verdict_text)}</span>')
        return (f'<div class="gs-conclusion" data-answer="{self.answer}">'
                f'<h2>{html.escape(t("card.title", self.lang))} {badge}</h2>'
                f'<table class="gs-card">{rows}</table></div>')

    _repr_html_ = to_html
