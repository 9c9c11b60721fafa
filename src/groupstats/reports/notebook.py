"""Helpers for notebooks executed by papermill.

``record(name, value)`` stores a key result in the executed notebook's output
(as a display with a groupstats-specific MIME type) so tests and the report
runner can read it back with :func:`read_records` without parsing HTML.

:func:`setup_plots` sets the plotting defaults of every report, including a CJK font shipped with
the package dependencies (so Chinese titles and group names render on machines without a system
CJK font). :class:`Page` shows headings, sentences, conclusion cards and tables from the message
catalogue (:mod:`groupstats.reports.i18n`) in the report's language, so a notebook spells out no
text a reader sees.
"""
from __future__ import annotations

import html as _html
import json
from pathlib import Path

from groupstats.results import to_jsonable

RECORD_MIME = "application/vnd.groupstats.record+json"
#: Family name of the CJK font registered by :func:`setup_plots`.
CJK_FAMILY = "Noto Sans CJK SC"
_CJK_FILE = "NotoSansCJKsc-Regular.otf"


def record(name: str, value) -> None:
    """Record ``value`` under ``name`` in the executing notebook's outputs."""
    from IPython.display import display

    payload = {"name": name, "value": to_jsonable(value)}
    display({RECORD_MIME: payload, "text/plain": f"[recorded {name}]"}, raw=True,
            metadata={RECORD_MIME: {"groupstats_record": True}})


def read_records(notebook_path: str | Path) -> dict:
    """All values recorded by :func:`record` in an executed notebook, by name."""
    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    found = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found[payload["name"]] = payload["value"]
    return found


def cjk_font_path() -> Path | None:
    """The Noto Sans CJK SC font file shipped by the ``mplfonts`` dependency (None if absent)."""
    import importlib.util

    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / _CJK_FILE
    return path if path.is_file() else None


def register_cjk_font() -> str | None:
    """Register the shipped CJK font with matplotlib and put it first in ``font.sans-serif``.

    Returns the family name, or None when the font is not installed (then a system CJK font,
    if any, is used).
    """
    import matplotlib
    from matplotlib import font_manager

    path = cjk_font_path()
    if path is None:
        return None
    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    fonts = [CJK_FAMILY] + [f for f in matplotlib.rcParams["font.sans-serif"] if f != CJK_FAMILY]
    matplotlib.rcParams["font.sans-serif"] = fonts
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False
    return CJK_FAMILY


def setup_plots(lang: str = "zh") -> None:
    """Seaborn defaults used by every groupstats notebook, with a font that renders Chinese."""
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 100
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    # seaborn resets the font settings: register the CJK font after it
    register_cjk_font()


#: Page style: the conclusion card, badges and tables that fit the page.
PAGE_CSS = """
<style>
.gs-conclusion { border: 2px solid #d0d7de; border-radius: 8px; padding: .4em 1.2em .8em; margin: .5em 0 1.2em;
  background: #f6f8fa; }
.gs-conclusion h2 { margin: .4em 0 .5em; }
.gs-badge { color: #fff; border-radius: 1em; padding: .1em .7em; font-size: .75em; vertical-align: middle;
  margin-left: .4em; white-space: nowrap; }
table.gs-card { width: 100%; margin: 0 !important; table-layout: auto !important; }
table.gs-card th { text-align: left !important; white-space: nowrap !important; padding: .3em 1.2em .3em 0 !important;
  vertical-align: top; min-width: max-content;
  color: #57606a; background: none !important; width: 1%; }
table.gs-card td { text-align: left !important; padding: .3em 0; font-size: 1.05em; }
.jp-RenderedHTMLCommon table { margin-left: 0 !important; margin-right: auto !important; }
.gs-table-wrap { max-width: 100%; overflow-x: auto; margin: .4em 0 1em; }
.gs-table-wrap.gs-tall { max-height: 32em; overflow-y: auto; }
table.gs-table { border-collapse: collapse; font-size: .92em; table-layout: auto !important; }
table.gs-table th { background: #f3f3f3; position: sticky; top: 0; text-align: left !important; white-space: normal;
  padding: .35em .6em; border-bottom: 1px solid #bbb; }
table.gs-table td { padding: .3em .6em; border-bottom: 1px solid #e3e3e3; white-space: normal;
  overflow-wrap: anywhere; max-width: 28em; text-align: left !important; }
table.gs-table td.num { text-align: right !important; white-space: nowrap; font-variant-numeric: tabular-nums; }
.gs-caption { color: #57606a; font-size: .9em; margin: .2em 0 .8em; }
.gs-warn { border-left: 4px solid #cf222e; background: #fff5f5; padding: .5em 1em; margin: .6em 0; }
.gs-keynums { display: flex; flex-wrap: wrap; gap: .8em; margin: .6em 0 1em; }
.gs-keynum { border: 1px solid #d0d7de; border-radius: 6px; padding: .4em .9em; min-width: 8em; }
.gs-keynum b { display: block; font-size: 1.4em; }
.gs-keynum span { color: #57606a; font-size: .85em; }
</style>
"""


class Page:
    """Writes a report's visible text from the catalogue, in one language.

    >>> page = Page("en")            # doctest: +SKIP
    >>> page.title("health.title")   # doctest: +SKIP
    """

    def __init__(self, lang: str = "zh"):
        from groupstats.reports.i18n import check_lang

        self.lang = check_lang(lang)
        self._styled = False

    def t(self, key: str, **values) -> str:
        from groupstats.reports.i18n import t

        return t(key, self.lang, **values)

    def _html(self, body: str) -> None:
        from IPython.display import HTML, display

        if not self._styled:
            body = PAGE_CSS + body
            self._styled = True
        display(HTML(body))

    def title(self, key: str, intro: str | None = None, **values) -> None:
        """The page's title (h1) and an optional introduction paragraph (catalogue keys)."""
        body = f"<h1>{_html.escape(self.t(key, **values))}</h1>"
        if intro:
            body += f"<p>{_html.escape(self.t(intro, **values))}</p>"
        self._html(body)

    def heading(self, key: str, level: int = 2, **values) -> None:
        self._html(f"<h{level}>{_html.escape(self.t(key, **values))}</h{level}>")

    def text(self, key: str, css: str = "", **values) -> None:
        cls = f' class="{css}"' if css else ""
        self._html(f"<p{cls}>{_html.escape(self.t(key, **values))}</p>")

    def say(self, sentence: str, css: str = "") -> None:
        """A sentence already built from the catalogue (e.g. by a card builder)."""
        cls = f' class="{css}"' if css else ""
        self._html(f"<p{cls}>{_html.escape(sentence)}</p>")

    def caption(self, key: str, **values) -> None:
        self.text(key, css="gs-caption", **values)

    def warn(self, sentence: str) -> None:
        self.say(sentence, css="gs-warn")

    def card(self, card) -> None:
        """The conclusion card (first thing after the title)."""
        self._html(card.to_html())

    def key_numbers(self, items) -> None:
        """Key numbers as tiles: ``[(label, formatted value), ...]``."""
        tiles = "".join(f'<div class="gs-keynum"><b>{_html.escape(str(v))}</b><span>{_html.escape(label)}</span>'
                        f"</div>" for label, v in items)
        self._html(f'<div class="gs-keynums">{tiles}</div>')

    def table(self, frame, columns, tall: bool = False, caption: str | None = None) -> None:
        """A table for people (see :func:`groupstats.reports.tables.people_table`)."""
        from groupstats.reports.tables import people_table

        body = people_table(frame, columns, self.lang, tall=tall)
        if caption:
            body += f'<p class="gs-caption">{_html.escape(caption)}</p>'
        self._html(body)
