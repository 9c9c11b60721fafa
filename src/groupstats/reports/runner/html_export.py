"""The HTML page of an executed notebook (code hidden, figures embedded) and the CJK font subset
embedded in a batch's pages."""
from __future__ import annotations

import copy
import threading
from pathlib import Path

from groupstats.reports.runner.outcomes import ReportBatch


_EXPORTERS = threading.local()


def _exporter(show_code: bool):
    """This thread's HTML exporter for ``show_code`` (built once: its templates load once)."""
    exporters = _EXPORTERS.__dict__.setdefault("by_show_code", {})
    if show_code not in exporters:
        from nbconvert import HTMLExporter

        exporters[show_code] = HTMLExporter(template_name="lab", embed_images=True, exclude_input=not show_code,
                                            exclude_input_prompt=not show_code,
                                            exclude_output_prompt=not show_code)
    return exporters[show_code]


def html_page(nb, title: str, show_code: bool = False, embed_font: bool = True) -> str:
    """Export an executed notebook to a self-contained HTML page.

    Code is hidden unless ``show_code`` (outputs, markdown and the header
    stay); figures are embedded as base64 images; the outputs of
    :func:`groupstats.reports.notebook.record` (machine-readable results) are left out.
    """
    from groupstats.reports.notebook import RECORD_MIME

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if RECORD_MIME not in o.get("data", {})]
    body, _ = _exporter(show_code).from_notebook_node(nb, resources={"metadata": {"name": title}})
    if not embed_font:
        return body
    from groupstats.reports.webfont import embed_cjk_font

    return embed_cjk_font(body)


def _embed_batch_font(batch: ReportBatch) -> None:
    """Embed one CJK font subset (the characters of every page of the batch) into each page."""
    from groupstats.reports.webfont import embed_cjk_font, page_characters

    pages = [Path(o.html) for o in batch.outcomes if o.html and Path(o.html).is_file()] + [batch.index_path]
    texts = {p: p.read_text(encoding="utf-8") for p in pages}
    chars = "".join(sorted(set("".join(page_characters(text) for text in texts.values()))))
    for p, text in texts.items():
        p.write_text(embed_cjk_font(text, characters=chars), encoding="utf-8")
